//! SQL of messages: insert, fetch, list, redact, delete, transitions, events and notes,
//! restart recovery, purge.
//!
//! What a message costs (issue 15): its row (with the indexes by account, recipient and sender),
//! one row of the event log per create and status change (`message_events`, no index but its
//! row id), and a key in `unfinished` while it moves. Its events are lines of its own
//! `history` column, appended by the UPDATE that changes the status, and that UPDATE sets only
//! the columns the change carries, so a plain status change rewrites no index entry.

use super::rows::{self, from_row, get_message, insert_event, message_if, split_sid, Page, COLUMNS, M_COLUMNS};
use super::{callbacks, SqliteStore};
use crate::store::messages::{Conditional, MessageEvent, MessageFilter, MessageStore, NextFilter};
use crate::store::{history, MessageChange};
use crate::store::{Applied, Cursor, StoreResult, Transition};
use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, ToSql};
use switchboard_domain::message::Message;
use switchboard_domain::sid;
use switchboard_domain::status::Status;

#[async_trait]
impl MessageStore for SqliteStore {
    async fn insert_message(&self, m: Message) -> StoreResult<()> {
        let options = serde_json::to_string(&m.options)?;
        self.write_publishing(move |c| {
            let id = insert_with_event(c, &m, &options)?;
            Ok(((), vec![MessageChange::new(id, m)]))
        })
        .await
    }

    async fn insert_messages(&self, messages: Vec<Message>) -> StoreResult<()> {
        let encoded = messages.iter().map(|m| serde_json::to_string(&m.options)).collect::<Result<Vec<_>, _>>()?;
        self.write_publishing(move |c| {
            let mut changes = Vec::with_capacity(messages.len());
            for (m, options) in messages.into_iter().zip(&encoded) {
                let id = insert_with_event(c, &m, options)?;
                changes.push(MessageChange::new(id, m));
            }
            Ok(((), changes))
        })
        .await
    }

    async fn message(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Message>> {
        let Some((prefix, key)) = split_sid(sid) else { return Ok(None) };
        let account = account_sid.to_string();
        self.read(move |c| get_message(c, &account, &prefix, &key)).await
    }

    async fn list_messages(
        &self,
        account_sid: &str,
        filter: &MessageFilter,
        cursor: &Cursor,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        let (account, filter, cursor) = (account_sid.to_string(), filter.clone(), cursor.clone());
        self.read(move |c| list_messages(c, &account, &filter, &cursor, limit)).await
    }

    async fn redact_message(&self, account_sid: &str, sid: &str, now_ms: i64) -> StoreResult<Conditional<Message>> {
        let Some((prefix, key)) = split_sid(sid) else { return Ok(Conditional::NotFound) };
        let account = account_sid.to_string();
        self.write(move |c| {
            let m = match message_if(c, &account, &prefix, &key, |m| m.status.can_be_redacted())? {
                Ok(m) => m,
                Err(answer) => return Ok(answer),
            };
            c.execute("UPDATE messages SET body = '', date_updated = ?2 WHERE key = ?1", params![key, now_ms])?;
            Ok(Conditional::Done(Message { body: String::new(), date_updated: now_ms, ..m }))
        })
        .await
    }

    async fn delete_message(
        &self,
        account_sid: &str,
        sid: &str,
        receipt_cutoff_ms: i64,
    ) -> StoreResult<Conditional<()>> {
        let Some((prefix, key)) = split_sid(sid) else { return Ok(Conditional::NotFound) };
        let account = account_sid.to_string();
        self.write(move |c| {
            if let Err(answer) = message_if::<()>(c, &account, &prefix, &key, |m| m.is_done_with(receipt_cutoff_ms))? {
                return Ok(answer);
            }
            // Callbacks not yet sent stay in the outbox, so the sender still delivers them.
            delete_with_history(c, &key, Callbacks::KeepPending)?;
            Ok(Conditional::Done(()))
        })
        .await
    }

    async fn apply_transitions(&self, transitions: Vec<Transition>) -> StoreResult<Vec<Applied>> {
        self.write_publishing(move |c| {
            let mut applied = Vec::with_capacity(transitions.len());
            let mut changes = Vec::new();
            for t in &transitions {
                let (a, change) = apply_transition(c, t)?;
                applied.push(a);
                changes.extend(change);
            }
            Ok((applied, changes))
        })
        .await
    }

    async fn message_by_carrier_id(&self, carrier_id: &str) -> StoreResult<Option<Message>> {
        let id = carrier_id.to_string();
        self.read(move |c| message_by_carrier_id(c, &id)).await
    }

    async fn unfinished_outbound(&self) -> StoreResult<Vec<Message>> {
        self.read(unfinished_outbound).await
    }

    async fn receiving_inbound(&self) -> StoreResult<Vec<Message>> {
        self.read(|c| unfinished(c, "m.status = 'receiving'")).await
    }

    async fn purge_messages_before(&self, cutoff_ms: i64, receipt_cutoff_ms: i64, limit: usize) -> StoreResult<usize> {
        let bound = sid::min_key_at(cutoff_ms);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write(move |c| {
            // Message::is_done_with, in SQL.
            let keys: Vec<String> = c
                .prepare_cached(
                    "SELECT key FROM messages WHERE key < ?1
                     AND (status NOT IN ('queued', 'sending', 'sent', 'accepted', 'scheduled', 'receiving')
                          OR (status = 'sent' AND COALESCE(date_sent, date_updated) < ?3))
                     ORDER BY key LIMIT ?2",
                )?
                .query_map(params![bound, limit, receipt_cutoff_ms], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for key in &keys {
                delete_with_history(c, key, Callbacks::All)?;
            }
            trim_log(c, cutoff_ms, limit.saturating_mul(LOG_ROWS_PER_MESSAGE))?;
            Ok(keys.len())
        })
        .await
    }

    async fn has_inbound_since(&self, account_sid: &str, from: &str, since_ms: i64) -> StoreResult<bool> {
        let (account, from, bound) = (account_sid.to_string(), from.to_string(), sid::min_key_at(since_ms));
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT 1 FROM messages WHERE account_sid = ?1 AND from_addr = ?2 AND key >= ?3
                 AND direction = 'inbound' LIMIT 1",
            )?
            .exists(params![account, from, bound])?)
        })
        .await
    }

    async fn add_message_note(
        &self,
        key: &str,
        at_ms: i64,
        status: Status,
        error_code: Option<u32>,
        detail: String,
    ) -> StoreResult<()> {
        let key = key.to_string();
        self.write(move |c| add_note(c, &key, at_ms, status, error_code, &detail)).await
    }

    async fn message_events(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Vec<MessageEvent>>> {
        self.read_about_message(account_sid, sid, events).await
    }

    fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<std::sync::Arc<crate::store::ChangeBatch>> {
        self.hub.subscribe()
    }

    async fn message_changes_after(
        &self,
        account_sid: &str,
        after_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<MessageChange>> {
        let account = account_sid.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| changes_after(c, &account, after_id, limit)).await
    }

    async fn next_message(&self, account_sid: &str, filter: &NextFilter) -> StoreResult<Option<Message>> {
        let (account, filter) = (account_sid.to_string(), filter.clone());
        self.read(move |c| next_message(c, &account, &filter)).await
    }
}

/// Replays stream events: creates and status changes, oldest first, by event id; rows of
/// deleted messages join to nothing. (Notes are no longer logged; the filter skips those a
/// database logged before migration 13.)
fn changes_after(c: &Connection, account: &str, after_id: i64, limit: i64) -> anyhow::Result<Vec<MessageChange>> {
    let columns = &*M_COLUMNS;
    let sql = format!(
        "SELECT {columns}, e.id, e.to_status, e.at FROM message_events e JOIN messages m ON m.key = e.key
         WHERE e.id > ?1 AND m.account_sid = ?2 AND (e.from_status IS NULL OR e.from_status != e.to_status)
         ORDER BY e.id LIMIT ?3"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params![after_id, account, limit], |r| {
        let mut message = from_row(r)?;
        let status: String = r.get(21)?;
        if let Some(s) = Status::parse(&status) {
            message.status = s;
        }
        message.date_updated = r.get(22)?;
        Ok(MessageChange::new(r.get(20)?, message))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The wait API's query: by the account's key index, oldest match after the cursor or the
/// newest match.
fn next_message(c: &Connection, account: &str, f: &NextFilter) -> anyhow::Result<Option<Message>> {
    let mut sql = format!("SELECT {COLUMNS} FROM messages WHERE account_sid = ?");
    let mut args: Vec<Value> = vec![Value::Text(account.to_string())];
    let mut eq = |col: &str, v: Option<&str>| {
        if let Some(v) = v {
            sql.push_str(&format!(" AND {col} = ?"));
            args.push(Value::Text(v.to_string()));
        }
    };
    eq("to_addr", f.to.as_deref());
    eq("from_addr", f.from.as_deref());
    eq("direction", f.direction.map(|d| d.as_str()));
    eq("status", f.status.map(|s| s.as_str()));
    if let Some(body) = &f.body_contains {
        sql.push_str(" AND instr(body, ?) > 0");
        args.push(Value::Text(body.clone()));
    }
    match &f.after_key {
        Some(key) => {
            sql.push_str(" AND key > ? ORDER BY key ASC LIMIT 1");
            args.push(Value::Text(key.clone()));
        }
        None => sql.push_str(" ORDER BY key DESC LIMIT 1"),
    }
    Ok(c.prepare_cached(&sql)?.query_row(rusqlite::params_from_iter(&args), from_row).optional()?)
}

/// A new message with its first event (in its history and the log) and, while it moves, its
/// key in `unfinished`; returns the event's id.
fn insert_with_event(c: &Connection, m: &Message, options: &str) -> anyhow::Result<i64> {
    let first = history::line(m.date_created, None, m.status, m.error_code, None);
    rows::insert_message(c, m, options, &first)?;
    if !m.status.is_final() {
        c.prepare_cached("INSERT INTO unfinished (key) VALUES (?1)")?.execute([m.key()])?;
    }
    insert_event(c, m.key(), m.date_created, None, m.status, m.error_code)
}

/// Which callbacks go with a deleted message.
enum Callbacks {
    /// Every callback.
    All,
    /// Those already sent or given up on.
    KeepPending,
}

/// Deletes a message with its history, feedback, media, callback attempts and callbacks. Its
/// rows in the event log stay (the log has no index by message); they join to nothing, and
/// [`trim_log`] removes them with age.
fn delete_with_history(c: &Connection, key: &str, callbacks: Callbacks) -> anyhow::Result<()> {
    c.prepare_cached("DELETE FROM callback_attempts WHERE callback_id IN (SELECT id FROM callbacks WHERE key = ?1)")?
        .execute([key])?;
    let callbacks = match callbacks {
        Callbacks::All => "DELETE FROM callbacks WHERE key = ?1",
        Callbacks::KeepPending => "DELETE FROM callbacks WHERE key = ?1 AND state != 'pending'",
    };
    c.prepare_cached(callbacks)?.execute([key])?;
    c.prepare_cached("DELETE FROM unfinished WHERE key = ?1")?.execute([key])?;
    c.prepare_cached("DELETE FROM message_feedback WHERE key = ?1")?.execute([key])?;
    c.prepare_cached("DELETE FROM media WHERE message_key = ?1")?.execute([key])?;
    c.prepare_cached("DELETE FROM messages WHERE key = ?1")?.execute([key])?;
    Ok(())
}

/// Log rows trimmed per purge call, per message the call may delete: a message logs about four
/// (created, sending, sent, delivered), so the log keeps up with the messages purged.
const LOG_ROWS_PER_MESSAGE: i64 = 8;

/// Deletes event-log rows older than `cutoff_ms` among the `limit` oldest (by id): each call
/// reads at most `limit` rows from the start of the log, never the whole table. Events come in
/// roughly time order, so the oldest rows are the ones to go.
fn trim_log(c: &Connection, cutoff_ms: i64, limit: i64) -> anyhow::Result<usize> {
    Ok(c.prepare_cached(
        "DELETE FROM message_events WHERE id IN
             (SELECT id FROM (SELECT id, at FROM message_events ORDER BY id LIMIT ?2) WHERE at < ?1)",
    )?
    .execute(params![cutoff_ms, limit])?)
}

fn list_messages(
    c: &Connection,
    account: &str,
    f: &MessageFilter,
    cursor: &Cursor,
    limit: usize,
) -> anyhow::Result<Vec<Message>> {
    list_sql(account, f, cursor, limit).fetch(c, from_row)
}

/// Writes SQLite's query plan for a list into `out` (tests check that indexes serve it).
#[cfg(test)]
fn explain_list(
    c: &Connection,
    account: &str,
    f: &MessageFilter,
    cursor: &Cursor,
    limit: usize,
    out: &mut String,
) -> anyhow::Result<()> {
    let page = list_sql(account, f, cursor, limit);
    let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {}", page.sql))?;
    let rows = st.query_map(rusqlite::params_from_iter(&page.args), |r| r.get::<_, String>(3))?;
    for row in rows {
        out.push_str(&row?);
        out.push('\n');
    }
    Ok(())
}

/// The list query: newest first, except a page before a cursor, which is read oldest first.
fn list_sql(account: &str, f: &MessageFilter, cursor: &Cursor, limit: usize) -> Page {
    let mut sql = format!("SELECT {COLUMNS} FROM messages WHERE account_sid = ?");
    let mut args: Vec<Value> = vec![Value::Text(account.to_string())];
    if let Some(to) = &f.to {
        sql.push_str(" AND to_addr = ?");
        args.push(Value::Text(to.clone()));
    }
    if let Some(from) = &f.from {
        sql.push_str(" AND from_addr = ?");
        args.push(Value::Text(from.clone()));
    }
    if let Some(status) = f.status {
        sql.push_str(" AND status = ?");
        args.push(Value::Text(status.as_str().to_string()));
    }
    if let Some(direction) = f.direction {
        sql.push_str(" AND direction = ?");
        args.push(Value::Text(direction.as_str().to_string()));
    }
    for word in &f.body_contains {
        sql.push_str(" AND instr(body, ?) > 0");
        args.push(Value::Text(word.clone()));
    }
    // Unsent messages are dated by their creation (see docs/compatibility.md).
    if let Some(start) = f.sent_from_ms {
        sql.push_str(" AND COALESCE(date_sent, date_created) >= ?");
        args.push(Value::Integer(start));
    }
    if let Some(end) = f.sent_until_ms {
        // A message is created before it is sent, so its key bounds the index range too.
        sql.push_str(" AND COALESCE(date_sent, date_created) < ? AND key < ?");
        args.push(Value::Integer(end));
        args.push(Value::Text(sid::min_key_at(end)));
    }
    let ascending = match cursor {
        Cursor::Start => false,
        Cursor::After(key) => {
            sql.push_str(" AND key < ?");
            args.push(Value::Text(key.clone()));
            false
        }
        Cursor::Before(key) => {
            sql.push_str(" AND key > ?");
            args.push(Value::Text(key.clone()));
            true
        }
    };
    sql.push_str(if ascending { " ORDER BY key ASC LIMIT ?" } else { " ORDER BY key DESC LIMIT ?" });
    args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    Page { sql, args, reverse: ascending }
}

/// The columns a transition may set besides status, date and history, in the order of
/// [`carried`].
const SET_COLUMNS: [&str; 9] =
    ["error_code", "error_message", "date_sent", "price", "carrier_id", "from_addr", "num_segments", "body", "to_addr"];

/// The values of [`SET_COLUMNS`] that `t` carries (`None`: the column is left as stored). Which
/// of them are present is the transition's shape, one bit each.
fn carried(t: &Transition) -> [Option<&dyn ToSql>; 9] {
    fn some<T: ToSql>(v: &Option<T>) -> Option<&dyn ToSql> {
        v.as_ref().map(|v| v as &dyn ToSql)
    }
    let error = t.error.as_ref();
    [
        error.map(|e| &e.code as &dyn ToSql),
        error.map(|e| &e.message as &dyn ToSql),
        some(&t.date_sent),
        some(&t.price),
        some(&t.carrier_id),
        some(&t.from_addr),
        some(&t.num_segments),
        some(&t.body),
        some(&t.to_addr),
    ]
}

/// The UPDATE of a transition of `shape`: status, date and history always, the optional
/// columns only when carried. SQLite rewrites an index's entry whenever its UPDATE sets a column
/// of that index, changed or not, so setting only what changes keeps a plain status change
/// off every index. Made once per shape.
fn transition_sql(shape: usize) -> &'static str {
    static SHAPES: [std::sync::OnceLock<String>; 1 << SET_COLUMNS.len()] =
        [const { std::sync::OnceLock::new() }; 1 << SET_COLUMNS.len()];
    SHAPES[shape % SHAPES.len()].get_or_init(|| {
        let mut sql = String::from("UPDATE messages SET status = ?3, date_updated = ?4, history = history || ?5");
        let mut n = 5;
        for (bit, col) in SET_COLUMNS.iter().enumerate() {
            if shape & (1 << bit) != 0 {
                n += 1;
                sql.push_str(&format!(", {col} = ?{n}"));
            }
        }
        sql.push_str(&format!(" WHERE key = ?1 AND status = ?2 RETURNING {COLUMNS}"));
        sql
    })
}

/// Applies one transition; when it applies, also the change to publish (the updated row comes
/// back from the UPDATE itself, so publishing costs no extra query).
fn apply_transition(c: &Connection, t: &Transition) -> anyhow::Result<(Applied, Option<MessageChange>)> {
    let code = t.error.as_ref().map(|e| e.code);
    let line = history::line(t.at_ms, Some(t.from), t.to, code, None);
    let (from, to) = (t.from.as_str(), t.to.as_str());
    let values = carried(t);
    let shape = values.iter().enumerate().fold(0, |bits, (i, v)| bits | (usize::from(v.is_some()) << i));
    let mut args: Vec<&dyn ToSql> = vec![&t.key, &from, &to, &t.at_ms, &line];
    args.extend(values.into_iter().flatten());
    let updated = c.prepare_cached(transition_sql(shape))?.query_row(&args[..], from_row).optional()?;
    let Some(updated) = updated else {
        return Ok((Applied { applied: false, callback_id: None }, None));
    };
    match (t.from.is_final(), t.to.is_final()) {
        (false, true) => c.prepare_cached("DELETE FROM unfinished WHERE key = ?1")?.execute([&t.key])?,
        (true, false) => c.prepare_cached("INSERT OR IGNORE INTO unfinished (key) VALUES (?1)")?.execute([&t.key])?,
        _ => 0,
    };
    let id = insert_event(c, &t.key, t.at_ms, Some(t.from), t.to, code)?;
    let callback_id = match &t.callback {
        Some(cb) => Some(callbacks::insert_callback(c, &t.key, cb, t.at_ms)?),
        None => None,
    };
    Ok((Applied { applied: true, callback_id }, Some(MessageChange::new(id, updated))))
}

fn message_by_carrier_id(c: &Connection, carrier_id: &str) -> anyhow::Result<Option<Message>> {
    let sql = format!("SELECT {COLUMNS} FROM messages WHERE carrier_id = ?1");
    Ok(c.prepare_cached(&sql)?.query_row([carrier_id], from_row).optional()?)
}

fn unfinished_outbound(c: &Connection) -> anyhow::Result<Vec<Message>> {
    unfinished(c, "m.status IN ('queued', 'sending', 'sent', 'accepted', 'scheduled') AND m.direction != 'inbound'")
}

/// The messages of `unfinished` that match `condition` (on `m`, the message row), oldest first.
fn unfinished(c: &Connection, condition: &str) -> anyhow::Result<Vec<Message>> {
    let columns = &*M_COLUMNS;
    let sql =
        format!("SELECT {columns} FROM unfinished u JOIN messages m ON m.key = u.key WHERE {condition} ORDER BY u.key");
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A message's events, from its history.
fn events(c: &Connection, key: &str) -> anyhow::Result<Vec<MessageEvent>> {
    let packed: Option<String> =
        c.prepare_cached("SELECT history FROM messages WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()?;
    history::parse(&packed.unwrap_or_default())
}

/// Appends a note (an event that keeps the status) to the message's history; the note is not
/// logged, as it is no change for the event stream.
fn add_note(
    c: &Connection,
    key: &str,
    at: i64,
    status: Status,
    error_code: Option<u32>,
    detail: &str,
) -> anyhow::Result<()> {
    let line = history::line(at, Some(status), status, error_code, Some(detail));
    c.prepare_cached("UPDATE messages SET history = history || ?2 WHERE key = ?1")?.execute(params![key, line])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every list shape is served by an index in key order: no table scan, no sort step, so a
    /// deep page costs what the first one does.
    #[test]
    fn every_list_filter_uses_an_index_in_paging_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_blocking(dir.path().join("t.db").to_str().unwrap(), Default::default()).unwrap();
        drop(store);
        let conn = Connection::open(dir.path().join("t.db")).unwrap();
        let filters = [
            MessageFilter::default(),
            MessageFilter { to: Some("+1".into()), ..Default::default() },
            MessageFilter { from: Some("+1".into()), ..Default::default() },
            MessageFilter { sent_until_ms: Some(5), ..Default::default() },
            MessageFilter { sent_from_ms: Some(5), to: Some("+1".into()), ..Default::default() },
            MessageFilter {
                status: Some(Status::Delivered),
                direction: Some(switchboard_domain::status::Direction::Inbound),
                body_contains: vec!["code".into()],
                ..Default::default()
            },
        ];
        for f in &filters {
            for cursor in [Cursor::Start, Cursor::After("a".into()), Cursor::Before("a".into())] {
                let mut plan = String::new();
                explain_list(&conn, "AC1", f, &cursor, 51, &mut plan).unwrap();
                assert!(
                    plan.contains("USING INDEX") || plan.contains("USING COVERING INDEX"),
                    "{f:?} {cursor:?}: {plan}"
                );
                assert!(!plan.contains("TEMP B-TREE"), "{f:?} {cursor:?} sorts: {plan}");
            }
        }
    }

    /// The log has no index by message: deleting a message leaves its log rows (they join to
    /// nothing), and the purge trims the log by age from its oldest row, a bounded number of
    /// rows per call.
    #[tokio::test]
    async fn the_purge_trims_the_event_log_by_age_from_its_oldest_rows() {
        use crate::store::conformance::outbound;
        use crate::store::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        let keys = switchboard_domain::sid::KeyGenerator::new();
        let t0 = 1_700_000_000_000;
        let old: Vec<Message> = (0..20)
            .map(|i| Message { status: Status::Delivered, ..outbound(&keys, "AC1", "+14155552671", t0 + i) })
            .collect();
        store.insert_messages(old.clone()).await.unwrap();
        store.insert_message(outbound(&keys, "AC1", "+14155552671", t0 + 1000)).await.unwrap();
        let log = || -> Vec<i64> {
            let c = Connection::open(&path).unwrap();
            let mut st = c.prepare("SELECT at FROM message_events ORDER BY id").unwrap();
            st.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
        };
        assert_eq!(store.delete_message("AC1", &old[0].sid, t0).await.unwrap(), Conditional::Done(()));
        assert_eq!(log().len(), 21, "a deleted message's log rows stay");

        // One message per call: at most eight log rows go, the oldest.
        assert_eq!(store.purge_messages_before(t0 + 15, t0, 1).await.unwrap(), 1);
        assert_eq!(log(), (8..20).map(|i| t0 + i).chain([t0 + 1000]).collect::<Vec<_>>());
        assert_eq!(store.purge_messages_before(t0 + 15, t0, 100).await.unwrap(), 13);
        assert_eq!(log(), (15..20).map(|i| t0 + i).chain([t0 + 1000]).collect::<Vec<_>>(), "newer rows stay");
    }

    /// WAL frames (pages) written per message through the whole lifecycle (create, sending,
    /// sent with its carrier id and price, delivered), `batch` messages per commit as under
    /// load. A reader holds its snapshot from the start, so no checkpoint resets the WAL and
    /// its size counts every frame. Deterministic: `cargo test --lib wal_per_message -- --ignored --nocapture`.
    #[tokio::test]
    #[ignore = "a measurement for docs/performance.md, not a check"]
    async fn wal_per_message_through_the_lifecycle() {
        use crate::store::prelude::*;
        for batch in [1usize, 100] {
            let n = 20_000usize.min(batch * 500);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.db");
            let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
            let pin = Connection::open(&path).unwrap();
            pin.execute_batch("BEGIN; SELECT count(*) FROM accounts;").unwrap();
            let wal = path.with_extension("db-wal");
            let frames = || (std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0).saturating_sub(32)) / (4096 + 24);
            let keys = switchboard_domain::sid::KeyGenerator::new();
            let t0 = 1_700_000_000_000;
            let before = frames();
            let cpu = writer_cpu_secs();
            let wall = std::time::Instant::now();
            for chunk in 0..n / batch {
                let at = t0 + (chunk * batch) as i64;
                let ms: Vec<Message> = (0..batch)
                    .map(|i| {
                        // Recipients spread over the address index, as real traffic is.
                        let to = format!("+1415555{:04}", (chunk * batch + i) * 7919 % 10_000);
                        crate::store::conformance::outbound(&keys, "AC1", &to, at + i as i64)
                    })
                    .collect();
                store.insert_messages(ms.clone()).await.unwrap();
                let step = |m: &Message, from, to| Transition::new(m.key(), from, to, at + 1);
                store
                    .apply_transitions(ms.iter().map(|m| step(m, Status::Queued, Status::Sending)).collect())
                    .await
                    .unwrap();
                let sent = ms
                    .iter()
                    .enumerate()
                    .map(|(i, m)| Transition {
                        date_sent: Some(at + 2),
                        price: Some("-0.00790".into()),
                        carrier_id: Some(format!("c-{chunk}-{i}")),
                        ..step(m, Status::Sending, Status::Sent)
                    })
                    .collect();
                store.apply_transitions(sent).await.unwrap();
                store
                    .apply_transitions(ms.iter().map(|m| step(m, Status::Sent, Status::Delivered)).collect())
                    .await
                    .unwrap();
            }
            let (cpu, wall) = (writer_cpu_secs() - cpu, wall.elapsed().as_secs_f64());
            let written = frames() - before;
            println!(
                "batch {batch}: {n} messages, {written} WAL frames = {:.2} pages/message ({:.0} bytes); \
                 writer thread CPU {:.1} µs/message, wall {:.1} µs/message",
                written as f64 / n as f64,
                written as f64 * 4120.0 / n as f64,
                cpu * 1e6 / n as f64,
                wall * 1e6 / n as f64
            );
        }
    }

    /// CPU seconds used so far by the threads named `sqlite-writer` (Linux; 0 elsewhere).
    fn writer_cpu_secs() -> f64 {
        let mut ticks = 0u64;
        for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            let Some((_, rest)) = stat.split_once("(sqlite-writer) ") else { continue };
            let fields: Vec<&str> = rest.split(' ').collect();
            // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
            ticks += fields.get(11..13).into_iter().flatten().filter_map(|f| f.parse::<u64>().ok()).sum::<u64>();
        }
        ticks as f64 / 100.0
    }
}

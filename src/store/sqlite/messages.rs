//! SQL of messages: insert, fetch, list, redact, delete, transitions, events and notes,
//! restart recovery, purge.

use super::rows::{self, from_row, get_message, insert_event, message_if, split_sid, Page, COLUMNS};
use super::{callbacks, SqliteStore};
use crate::store::messages::{Conditional, MessageEvent, MessageFilter, MessageStore, NextFilter};
use crate::store::MessageChange;
use crate::store::{Applied, Cursor, StoreResult, Transition};
use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};
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
        self.read(|c| {
            let sql = format!("SELECT {COLUMNS} FROM messages WHERE status = 'receiving' ORDER BY key");
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map([], from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
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

/// Replays stream events: creates and status changes (notes keep their status, so they are
/// left out), oldest first, by event id.
fn changes_after(c: &Connection, account: &str, after_id: i64, limit: i64) -> anyhow::Result<Vec<MessageChange>> {
    let columns = COLUMNS.split(", ").map(|col| format!("m.{col}")).collect::<Vec<_>>().join(", ");
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

/// A new message with its first event; returns the event's id.
fn insert_with_event(c: &Connection, m: &Message, options: &str) -> anyhow::Result<i64> {
    rows::insert_message(c, m, options)?;
    insert_event(c, m.key(), m.date_created, None, m.status, m.error_code)
}

/// Which callbacks go with a deleted message.
enum Callbacks {
    /// Every callback.
    All,
    /// Those already sent or given up on.
    KeepPending,
}

/// Deletes a message with its events, feedback, media, callback attempts and callbacks.
fn delete_with_history(c: &Connection, key: &str, callbacks: Callbacks) -> anyhow::Result<()> {
    c.prepare_cached("DELETE FROM callback_attempts WHERE callback_id IN (SELECT id FROM callbacks WHERE key = ?1)")?
        .execute([key])?;
    let callbacks = match callbacks {
        Callbacks::All => "DELETE FROM callbacks WHERE key = ?1",
        Callbacks::KeepPending => "DELETE FROM callbacks WHERE key = ?1 AND state != 'pending'",
    };
    c.prepare_cached(callbacks)?.execute([key])?;
    c.prepare_cached("DELETE FROM message_events WHERE key = ?1")?.execute([key])?;
    c.prepare_cached("DELETE FROM message_feedback WHERE key = ?1")?.execute([key])?;
    c.prepare_cached("DELETE FROM media WHERE message_key = ?1")?.execute([key])?;
    c.prepare_cached("DELETE FROM messages WHERE key = ?1")?.execute([key])?;
    Ok(())
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

/// Applies one transition; when it applies, also the change to publish (the updated row comes
/// back from the UPDATE itself, so publishing costs no extra query).
fn apply_transition(c: &Connection, t: &Transition) -> anyhow::Result<(Applied, Option<MessageChange>)> {
    let (code, message) = match &t.error {
        Some(e) => (Some(e.code), Some(e.message.as_str())),
        None => (None, None),
    };
    let sql = format!(
        "UPDATE messages SET status = ?3, date_updated = ?4,
             error_code = COALESCE(?5, error_code), error_message = COALESCE(?6, error_message),
             date_sent = COALESCE(?7, date_sent), price = COALESCE(?8, price),
             carrier_id = COALESCE(?9, carrier_id), from_addr = COALESCE(?10, from_addr),
             num_segments = COALESCE(?11, num_segments), body = COALESCE(?12, body),
             to_addr = COALESCE(?13, to_addr)
         WHERE key = ?1 AND status = ?2 RETURNING {COLUMNS}"
    );
    let updated = c
        .prepare_cached(&sql)?
        .query_row(
            params![
                t.key,
                t.from.as_str(),
                t.to.as_str(),
                t.at_ms,
                code,
                message,
                t.date_sent,
                t.price,
                t.carrier_id,
                t.from_addr,
                t.num_segments,
                t.body,
                t.to_addr
            ],
            from_row,
        )
        .optional()?;
    let Some(updated) = updated else {
        return Ok((Applied { applied: false, callback_id: None }, None));
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
    let sql = format!(
        "SELECT {COLUMNS} FROM messages WHERE status IN ('queued', 'sending', 'sent', 'accepted', 'scheduled')
         AND direction != 'inbound' ORDER BY key"
    );
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn events(c: &Connection, key: &str) -> anyhow::Result<Vec<MessageEvent>> {
    let mut st = c.prepare_cached(
        "SELECT at, from_status, to_status, error_code, detail FROM message_events WHERE key = ?1 ORDER BY id",
    )?;
    let rows = st.query_map([key], |r| {
        Ok(MessageEvent { at_ms: r.get(0)?, from: r.get(1)?, to: r.get(2)?, error_code: r.get(3)?, detail: r.get(4)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn add_note(
    c: &Connection,
    key: &str,
    at: i64,
    status: Status,
    error_code: Option<u32>,
    detail: &str,
) -> anyhow::Result<()> {
    c.prepare_cached(
        "INSERT INTO message_events (key, at, from_status, to_status, error_code, detail) VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
    )?
    .execute(params![key, at, status.as_str(), error_code, detail])?;
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
}

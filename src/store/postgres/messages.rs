//! SQL of messages: insert, fetch, list, redact, delete, transitions, events and notes,
//! restart recovery, purge.
//!
//! A message's events are lines of its row's `history` (see `store/history.rs`), appended by the
//! statement that changes its status; `message_events` is only the stream's numbered log of
//! creates and status changes (no per-key index); `unfinished` lists the messages recovery and
//! takeover look at. So a status change touches no index of `messages` (a HOT update) and a
//! message costs a handful of B-tree operations, not dozens (docs/performance.md).

use super::callbacks;
use super::engine::{bind, execute, query, query_opt, Arg, Conn, PgStore};
use super::rows::{
    change_columns, change_from_row, from_row, get_message, m_columns, message_if, messages, split_sid, Page, COLUMNS,
};
use crate::store::messages::{Conditional, MessageEvent, MessageFilter, MessageStore, NextFilter};
use crate::store::MessageChange;
use crate::store::{history, Applied, Cursor, StoreResult, Transition};
use anyhow::anyhow;
use async_trait::async_trait;
use switchboard_domain::message::Message;
use switchboard_domain::sid;
use switchboard_domain::status::Status;

#[async_trait]
impl MessageStore for PgStore {
    async fn insert_message(&self, m: Message) -> StoreResult<()> {
        let options = serde_json::to_string(&m.options)?;
        let owner = self.node.clone();
        // No savepoint: the insert cannot fail on its own (a duplicate is reported, not raised),
        // so concurrent creates share one pipelined round trip and one commit.
        self.write_publishing(false, move |c| {
            Box::pin(async move {
                let id = insert_with_event(c, &m, &options, &owner).await?;
                Ok(((), vec![MessageChange::new(id, m)]))
            })
        })
        .await
    }

    async fn insert_messages(&self, messages: Vec<Message>) -> StoreResult<()> {
        let encoded = messages.iter().map(|m| serde_json::to_string(&m.options)).collect::<Result<Vec<_>, _>>()?;
        let owner = self.node.clone();
        self.write_publishing(true, move |c| {
            Box::pin(async move {
                let mut changes = Vec::with_capacity(messages.len());
                // A statement per chunk rather than per message: seeding a million rows one
                // round trip each would take minutes; arrays keep it one bind per column.
                let mut rest = messages;
                let mut options = encoded.as_slice();
                while !rest.is_empty() {
                    let tail = rest.split_off(rest.len().min(BATCH_ROWS));
                    let (now, later) = options.split_at(rest.len());
                    changes.extend(insert_batch_with_events(c, rest, now, &owner).await?);
                    rest = tail;
                    options = later;
                }
                Ok(((), changes))
            })
        })
        .await
    }

    async fn message(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Message>> {
        let Some((prefix, key)) = split_sid(sid) else { return Ok(None) };
        let account = account_sid.to_string();
        self.read(move |c| Box::pin(async move { get_message(c, &account, &prefix, &key).await })).await
    }

    async fn list_messages(
        &self,
        account_sid: &str,
        filter: &MessageFilter,
        cursor: &Cursor,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        let page = list_sql(account_sid, filter, cursor, limit);
        self.read(move |c| Box::pin(async move { messages(page.fetch(c).await?) })).await
    }

    async fn redact_message(&self, account_sid: &str, sid: &str, now_ms: i64) -> StoreResult<Conditional<Message>> {
        let Some((prefix, key)) = split_sid(sid) else { return Ok(Conditional::NotFound) };
        let account = account_sid.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let m = match message_if(c, &account, &prefix, &key, |m| m.status.can_be_redacted()).await? {
                    Ok(m) => m,
                    Err(answer) => return Ok(answer),
                };
                execute(c, "UPDATE messages SET body = '', date_updated = $2 WHERE key = $1", &[&key, &now_ms]).await?;
                Ok(Conditional::Done(Message { body: String::new(), date_updated: now_ms, ..m }))
            })
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
            Box::pin(async move {
                let allowed = |m: &Message| m.is_done_with(receipt_cutoff_ms);
                if let Err(answer) = message_if::<()>(c, &account, &prefix, &key, allowed).await? {
                    return Ok(answer);
                }
                // Callbacks not yet sent stay in the outbox, so the sender still delivers them.
                delete_with_history(c, vec![key], Callbacks::KeepPending).await?;
                Ok(Conditional::Done(()))
            })
        })
        .await
    }

    async fn apply_transitions(&self, transitions: Vec<Transition>) -> StoreResult<Vec<Applied>> {
        let owner = self.node.clone();
        self.write_publishing(true, move |c| {
            Box::pin(async move {
                // One statement per transition, all sent at once: the connection runs them in
                // the order sent (a later step of the same message sees the earlier one) and
                // the batch costs one round trip instead of one per transition, which bounded
                // the whole writer (and so the create rate) under load.
                let done =
                    futures_util::future::join_all(transitions.iter().map(|t| apply_transition(c, t, &owner))).await;
                let mut applied = Vec::with_capacity(transitions.len());
                let mut changes = Vec::new();
                for result in done {
                    let (a, change) = result?;
                    applied.push(a);
                    changes.extend(change);
                }
                Ok((applied, changes))
            })
        })
        .await
    }

    async fn message_by_carrier_id(&self, carrier_id: &str) -> StoreResult<Option<Message>> {
        let id = carrier_id.to_string();
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!("SELECT {COLUMNS} FROM messages WHERE carrier_id = $1");
                query_opt(c, &sql, &[&id]).await?.as_ref().map(from_row).transpose()
            })
        })
        .await
    }

    async fn unfinished_outbound(&self) -> StoreResult<Vec<Message>> {
        // This node's own: the work of other nodes is theirs until their lease ends.
        let owner = self.node.clone();
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {m} FROM unfinished u JOIN messages m ON m.key = u.key
                     WHERE m.status IN ('queued', 'sending', 'sent', 'accepted', 'scheduled')
                     AND m.direction != 'inbound' AND m.owner = $1 ORDER BY u.key",
                    m = m_columns()
                );
                messages(query(c, &sql, &[&&*owner]).await?)
            })
        })
        .await
    }

    async fn receiving_inbound(&self) -> StoreResult<Vec<Message>> {
        let owner = self.node.clone();
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {m} FROM unfinished u JOIN messages m ON m.key = u.key
                     WHERE m.status = 'receiving' AND m.owner = $1 ORDER BY u.key",
                    m = m_columns()
                );
                messages(query(c, &sql, &[&&*owner]).await?)
            })
        })
        .await
    }

    async fn purge_messages_before(&self, cutoff_ms: i64, receipt_cutoff_ms: i64, limit: usize) -> StoreResult<usize> {
        let bound = sid::min_key_at(cutoff_ms);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write(move |c| {
            Box::pin(async move {
                // Message::is_done_with, in SQL.
                let rows = query(
                    c,
                    "SELECT key FROM messages WHERE key < $1
                     AND (status NOT IN ('queued', 'sending', 'sent', 'accepted', 'scheduled', 'receiving')
                          OR (status = 'sent' AND COALESCE(date_sent, date_updated) < $3))
                     ORDER BY key LIMIT $2",
                    &[&bound, &limit, &receipt_cutoff_ms],
                )
                .await?;
                let keys = rows.iter().map(|r| r.try_get::<_, String>(0)).collect::<Result<Vec<_>, _>>()?;
                let n = keys.len();
                if n > 0 {
                    delete_with_history(c, keys, Callbacks::All).await?;
                }
                trim_log(c, cutoff_ms, limit.saturating_mul(LOG_ROWS_PER_MESSAGE)).await?;
                Ok(n)
            })
        })
        .await
    }

    async fn has_inbound_since(&self, account_sid: &str, from: &str, since_ms: i64) -> StoreResult<bool> {
        let (account, from, bound) = (account_sid.to_string(), from.to_string(), sid::min_key_at(since_ms));
        self.read(move |c| {
            Box::pin(async move {
                Ok(query_opt(
                    c,
                    "SELECT 1 FROM messages WHERE account_sid = $1 AND from_addr = $2 AND key >= $3
                     AND direction = 'inbound' LIMIT 1",
                    &[&account, &from, &bound],
                )
                .await?
                .is_some())
            })
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
        self.write(move |c| {
            Box::pin(async move {
                // A note changes nothing the stream reports: it goes into the history only.
                let line = history::line(at_ms, Some(status), status, error_code, Some(&detail));
                execute(c, "UPDATE messages SET history = history || $2 WHERE key = $1", &[&key, &line]).await?;
                Ok(())
            })
        })
        .await
    }

    async fn message_events(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Vec<MessageEvent>>> {
        let Some((prefix, key)) = split_sid(sid) else { return Ok(None) };
        let account = account_sid.to_string();
        self.read(move |c| {
            Box::pin(async move {
                let row = query_opt(
                    c,
                    "SELECT history FROM messages WHERE key = $1 AND account_sid = $2 AND prefix = $3",
                    &[&key, &account, &prefix],
                )
                .await?;
                match row {
                    Some(r) => Ok(Some(history::parse(r.try_get::<_, &str>(0)?)?)),
                    None => Ok(None),
                }
            })
        })
        .await
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
        self.read(move |c| Box::pin(async move { changes_after(c, &account, after_id, limit).await })).await
    }

    async fn next_message(&self, account_sid: &str, filter: &NextFilter) -> StoreResult<Option<Message>> {
        let page = next_sql(account_sid, filter);
        self.read(move |c| {
            Box::pin(
                async move { query_opt(c, &page.sql, &bind(&page.args)).await?.as_ref().map(from_row).transpose() },
            )
        })
        .await
    }
}

/// Replays stream events: creates and status changes (notes keep their status, so they are
/// left out), oldest first, by event id.
async fn changes_after(c: &Conn, account: &str, after_id: i64, limit: i64) -> anyhow::Result<Vec<MessageChange>> {
    let columns = change_columns();
    let sql = format!(
        "SELECT {columns} FROM message_events e JOIN messages m ON m.key = e.key
         WHERE e.id > $1 AND m.account_sid = $2 AND (e.from_status IS NULL OR e.from_status != e.to_status)
         ORDER BY e.id LIMIT $3"
    );
    let rows = query(c, &sql, &[&after_id, &account, &limit]).await?;
    rows.iter().map(change_from_row).collect()
}

/// The wait API's query: by the account's key index, oldest match after the cursor or the
/// newest match.
fn next_sql(account: &str, f: &NextFilter) -> Page {
    let mut page = Page::new(
        format!("SELECT {COLUMNS} FROM messages WHERE account_sid = $1"),
        vec![Box::new(account.to_string())],
    );
    let eq = |page: &mut Page, col: &str, v: Option<&str>| {
        if let Some(v) = v {
            let p = page.arg(v.to_string());
            page.sql.push_str(&format!(" AND {col} = {p}"));
        }
    };
    eq(&mut page, "to_addr", f.to.as_deref());
    eq(&mut page, "from_addr", f.from.as_deref());
    eq(&mut page, "direction", f.direction.map(|d| d.as_str()));
    eq(&mut page, "status", f.status.map(|s| s.as_str()));
    if let Some(body) = &f.body_contains {
        let p = page.arg(body.clone());
        page.sql.push_str(&format!(" AND strpos(body, {p}) > 0"));
    }
    match &f.after_key {
        Some(key) => {
            let p = page.arg(key.clone());
            page.sql.push_str(&format!(" AND key > {p} ORDER BY key ASC LIMIT 1"));
        }
        None => page.sql.push_str(" ORDER BY key DESC LIMIT 1"),
    }
    page
}

/// True when a message in `status` is listed in `unfinished` (work restart recovery and
/// takeover resume): every status but the final ones, as the SQLite engine keeps it.
fn unfinished(status: Status) -> bool {
    !status.is_final()
}

/// A new message with its first event (in its history and in the log) and, unfinished, its
/// `unfinished` row, in one statement; returns the event's id. A message whose key exists
/// already is refused without disturbing the transaction.
async fn insert_with_event(c: &Conn, m: &Message, options: &str, owner: &str) -> anyhow::Result<i64> {
    let history = history::line(m.date_created, None, m.status, m.error_code, None);
    let rows = query(
        c,
        "WITH m AS (
             INSERT INTO messages (prefix, key, account_sid, messaging_service_sid, from_addr, to_addr, body, status,
                 direction, num_segments, num_media, price, price_unit, error_code, error_message, date_created,
                 date_updated, date_sent, options, carrier_id, owner, history)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
                 $22)
             ON CONFLICT (key) DO NOTHING RETURNING key),
         u AS (INSERT INTO unfinished (key) SELECT key FROM m WHERE $23 ON CONFLICT (key) DO NOTHING)
         INSERT INTO message_events (key, at, from_status, to_status, error_code)
         SELECT key, $16, NULL, $8, $14 FROM m RETURNING id",
        &[
            &&m.sid[..2],
            &m.key(),
            &m.account_sid,
            &m.messaging_service_sid,
            &m.from,
            &m.to,
            &m.body,
            &m.status.as_str(),
            &m.direction.as_str(),
            &i64::from(m.num_segments),
            &i64::from(m.num_media),
            &m.price,
            &m.price_unit,
            &m.error_code.map(i64::from),
            &m.error_message,
            &m.date_created,
            &m.date_updated,
            &m.date_sent,
            &options,
            &m.carrier_id,
            &owner,
            &history,
            &unfinished(m.status),
        ],
    )
    .await?;
    match rows.first() {
        Some(r) => Ok(r.try_get(0)?),
        None => Err(anyhow!("message {} already exists", m.sid)),
    }
}

/// Messages per statement of [`insert_batch_with_events`].
const BATCH_ROWS: usize = 5_000;

/// New messages with their first events in one statement (columns bound as arrays); returns
/// their changes in event order. Any message whose key exists already fails the whole batch.
async fn insert_batch_with_events(
    c: &Conn,
    batch: Vec<Message>,
    options: &[String],
    owner: &str,
) -> anyhow::Result<Vec<MessageChange>> {
    let text = |f: fn(&Message) -> String| batch.iter().map(f).collect::<Vec<String>>();
    let maybe = |f: fn(&Message) -> Option<String>| batch.iter().map(f).collect::<Vec<Option<String>>>();
    let int = |f: fn(&Message) -> i64| batch.iter().map(f).collect::<Vec<i64>>();
    let maybe_int = |f: fn(&Message) -> Option<i64>| batch.iter().map(f).collect::<Vec<Option<i64>>>();
    let prefix = text(|m| m.sid[..2].to_string());
    let key = text(|m| m.key().to_string());
    let account = text(|m| m.account_sid.clone());
    let service = maybe(|m| m.messaging_service_sid.clone());
    let from = maybe(|m| m.from.clone());
    let to = text(|m| m.to.clone());
    let body = text(|m| m.body.clone());
    let status = text(|m| m.status.as_str().to_string());
    let direction = text(|m| m.direction.as_str().to_string());
    let segments = int(|m| i64::from(m.num_segments));
    let media = int(|m| i64::from(m.num_media));
    let price = maybe(|m| m.price.clone());
    let price_unit = text(|m| m.price_unit.clone());
    let error_code = maybe_int(|m| m.error_code.map(i64::from));
    let error_message = maybe(|m| m.error_message.clone());
    let created = int(|m| m.date_created);
    let updated = int(|m| m.date_updated);
    let sent = maybe_int(|m| m.date_sent);
    let carrier = maybe(|m| m.carrier_id.clone());
    let history = text(|m| history::line(m.date_created, None, m.status, m.error_code, None));
    let options = options.to_vec();
    let open: Vec<String> = Status::ALL.iter().filter(|s| unfinished(**s)).map(|s| s.as_str().to_string()).collect();
    let rows = query(
        c,
        "WITH m AS (
             INSERT INTO messages (prefix, key, account_sid, messaging_service_sid, from_addr, to_addr, body, status,
                 direction, num_segments, num_media, price, price_unit, error_code, error_message, date_created,
                 date_updated, date_sent, options, carrier_id, history, owner)
             SELECT *, $20::text FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                 $7::text[], $8::text[], $9::text[], $10::int8[], $11::int8[], $12::text[], $13::text[], $14::int8[],
                 $15::text[], $16::int8[], $17::int8[], $18::int8[], $19::text[], $21::text[], $22::text[])
             ON CONFLICT (key) DO NOTHING RETURNING key, date_created, status, error_code),
         u AS (INSERT INTO unfinished (key) SELECT key FROM m WHERE status = ANY($23) ON CONFLICT (key) DO NOTHING)
         INSERT INTO message_events (key, at, from_status, to_status, error_code)
         SELECT key, date_created, NULL, status, error_code FROM m RETURNING id, key",
        &[
            &prefix,
            &key,
            &account,
            &service,
            &from,
            &to,
            &body,
            &status,
            &direction,
            &segments,
            &media,
            &price,
            &price_unit,
            &error_code,
            &error_message,
            &created,
            &updated,
            &sent,
            &options,
            &owner,
            &carrier,
            &history,
            &open,
        ],
    )
    .await?;
    if rows.len() != batch.len() {
        return Err(anyhow!("{} of {} messages already exist", batch.len() - rows.len(), batch.len()));
    }
    let mut ids = std::collections::HashMap::with_capacity(rows.len());
    for r in &rows {
        ids.insert(r.try_get::<_, String>(1)?, r.try_get::<_, i64>(0)?);
    }
    let mut changes = Vec::with_capacity(batch.len());
    for m in batch {
        let id = *ids.get(m.key()).ok_or_else(|| anyhow!("no event row for message {}", m.sid))?;
        changes.push(MessageChange::new(id, m));
    }
    // The feed is read in event order.
    changes.sort_by_key(|ch| ch.id);
    Ok(changes)
}

/// Which callbacks go with a deleted message.
enum Callbacks {
    /// Every callback.
    All,
    /// Those already sent or given up on.
    KeepPending,
}

/// Deletes messages (their history with them), their `unfinished` rows (a `sent` message past
/// its receipt window), feedback, media, callback attempts and callbacks. Their rows in the
/// log stay until [`trim_log`]: they join to no message, so replay skips them.
async fn delete_with_history(c: &Conn, keys: Vec<String>, callbacks: Callbacks) -> anyhow::Result<()> {
    execute(
        c,
        "DELETE FROM callback_attempts WHERE callback_id IN (SELECT id FROM callbacks WHERE key = ANY($1))",
        &[&keys],
    )
    .await?;
    let callbacks = match callbacks {
        Callbacks::All => "DELETE FROM callbacks WHERE key = ANY($1)",
        Callbacks::KeepPending => "DELETE FROM callbacks WHERE key = ANY($1) AND state != 'pending'",
    };
    execute(c, callbacks, &[&keys]).await?;
    execute(c, "DELETE FROM unfinished WHERE key = ANY($1)", &[&keys]).await?;
    execute(c, "DELETE FROM message_feedback WHERE key = ANY($1)", &[&keys]).await?;
    execute(c, "DELETE FROM media WHERE message_key = ANY($1)", &[&keys]).await?;
    execute(c, "DELETE FROM messages WHERE key = ANY($1)", &[&keys]).await?;
    Ok(())
}

/// Log rows trimmed per purge call, per message the call may delete: a lifecycle writes about
/// four (create, sending, sent, delivered), so the trim keeps up with the deletes.
const LOG_ROWS_PER_MESSAGE: i64 = 8;

/// Deletes up to `limit` of the log's oldest rows that are older than `cutoff_ms` (retention).
/// It reads the first `limit` rows by id (the log's only index) and keeps the newer ones, so a
/// call costs at most `limit` rows read however long the log is.
async fn trim_log(c: &Conn, cutoff_ms: i64, limit: i64) -> anyhow::Result<u64> {
    execute(
        c,
        "DELETE FROM message_events WHERE id IN (SELECT id FROM message_events ORDER BY id LIMIT $2) AND at < $1",
        &[&cutoff_ms, &limit],
    )
    .await
}

/// The list query: newest first, except a page before a cursor, which is read oldest first.
fn list_sql(account: &str, f: &MessageFilter, cursor: &Cursor, limit: usize) -> Page {
    let args: Vec<Arg> = vec![Box::new(account.to_string())];
    let mut page = Page::new(format!("SELECT {COLUMNS} FROM messages WHERE account_sid = $1"), args);
    if let Some(to) = &f.to {
        let p = page.arg(to.clone());
        page.sql.push_str(&format!(" AND to_addr = {p}"));
    }
    if let Some(from) = &f.from {
        let p = page.arg(from.clone());
        page.sql.push_str(&format!(" AND from_addr = {p}"));
    }
    if let Some(status) = f.status {
        let p = page.arg(status.as_str().to_string());
        page.sql.push_str(&format!(" AND status = {p}"));
    }
    if let Some(direction) = f.direction {
        let p = page.arg(direction.as_str().to_string());
        page.sql.push_str(&format!(" AND direction = {p}"));
    }
    for word in &f.body_contains {
        let p = page.arg(word.clone());
        page.sql.push_str(&format!(" AND strpos(body, {p}) > 0"));
    }
    // Unsent messages are dated by their creation (see docs/compatibility.md).
    if let Some(start) = f.sent_from_ms {
        let p = page.arg(start);
        page.sql.push_str(&format!(" AND COALESCE(date_sent, date_created) >= {p}"));
    }
    if let Some(end) = f.sent_until_ms {
        // A message is created before it is sent, so its key bounds the index range too.
        let p = page.arg(end);
        let k = page.arg(sid::min_key_at(end));
        page.sql.push_str(&format!(" AND COALESCE(date_sent, date_created) < {p} AND key < {k}"));
    }
    let ascending = match cursor {
        Cursor::Start => false,
        Cursor::After(key) => {
            let p = page.arg(key.clone());
            page.sql.push_str(&format!(" AND key < {p}"));
            false
        }
        Cursor::Before(key) => {
            let p = page.arg(key.clone());
            page.sql.push_str(&format!(" AND key > {p}"));
            true
        }
    };
    let p = page.arg(i64::try_from(limit).unwrap_or(i64::MAX));
    page.sql.push_str(&format!(" ORDER BY key {} LIMIT {p}", if ascending { "ASC" } else { "DESC" }));
    page.reverse = ascending;
    page
}

/// Applies one transition; when it applies, also the change to publish. The update (with its
/// history line), the updated row, the log's event and the `unfinished` bookkeeping are one
/// statement. The update is HOT as long as no indexed column changes: the COALESCEs keep their
/// columns' values when the transition does not set them (`carrier_id`, set at `sent`, does
/// change an indexed column once).
async fn apply_transition(c: &Conn, t: &Transition, owner: &str) -> anyhow::Result<(Applied, Option<MessageChange>)> {
    let (code, message) = match &t.error {
        Some(e) => (Some(i64::from(e.code)), Some(e.message.as_str())),
        None => (None, None),
    };
    // The status callback is inserted by the same statement (only when the update applied), so
    // that a transition is exactly one statement and pipelined ones keep their order.
    let callback = t.callback.as_ref();
    let params = callback.map(|cb| callbacks::encode_params(&cb.params));
    // `unfinished` is written only when the status enters or leaves its set.
    let bookkeeping = match (unfinished(t.from), unfinished(t.to)) {
        (true, false) => "f AS (DELETE FROM unfinished WHERE key IN (SELECT key FROM u)),",
        (false, true) => "f AS (INSERT INTO unfinished (key) SELECT key FROM u ON CONFLICT (key) DO NOTHING),",
        _ => "",
    };
    let line = history::line(t.at_ms, Some(t.from), t.to, t.error.as_ref().map(|e| e.code), None);
    let sql = format!(
        "WITH u AS (
             UPDATE messages SET status = $3, date_updated = $4, history = history || $20,
                 error_code = COALESCE($5, error_code), error_message = COALESCE($6, error_message),
                 date_sent = COALESCE($7, date_sent), price = COALESCE($8, price),
                 carrier_id = COALESCE($9, carrier_id), from_addr = COALESCE($10, from_addr),
                 num_segments = COALESCE($11, num_segments), body = COALESCE($12, body),
                 to_addr = COALESCE($13, to_addr)
             WHERE key = $1 AND status = $2 RETURNING {COLUMNS}),
         e AS (
             INSERT INTO message_events (key, at, from_status, to_status, error_code)
             SELECT key, $4, $2, $3, $5 FROM u RETURNING id),
         {bookkeeping}
         cb AS (
             INSERT INTO callbacks (key, account_sid, url, method, params, idempotency_token, created_at, owner)
             SELECT key, $14::text, $15::text, $16::text, $17::text, $18::text, $4, $19::text
             FROM u WHERE $14::text IS NOT NULL RETURNING id)
         SELECT u.*, e.id, (SELECT id FROM cb) FROM u, e"
    );
    let row = query_opt(
        c,
        &sql,
        &[
            &t.key,
            &t.from.as_str(),
            &t.to.as_str(),
            &t.at_ms,
            &code,
            &message,
            &t.date_sent,
            &t.price,
            &t.carrier_id,
            &t.from_addr,
            &t.num_segments.map(i64::from),
            &t.body,
            &t.to_addr,
            &callback.map(|cb| cb.account_sid.as_str()),
            &callback.map(|cb| cb.url.as_str()),
            &callback.map(|cb| cb.method.as_str()),
            &params.as_deref(),
            &callback.map(|cb| cb.idempotency_token.as_str()),
            &owner,
            &line,
        ],
    )
    .await?;
    let Some(row) = row else {
        return Ok((Applied { applied: false, callback_id: None }, None));
    };
    let updated = from_row(&row)?;
    let id: i64 = row.try_get(20)?;
    let callback_id: Option<i64> = row.try_get(21)?;
    if callback.is_some() && callback_id.is_none() {
        return Err(anyhow!("the status callback of {} was not stored", t.key));
    }
    Ok((Applied { applied: true, callback_id }, Some(MessageChange::new(id, updated))))
}

#[cfg(test)]
mod tests {
    use crate::store::prelude::*;

    /// The log has no index by message, so a purge does not delete its rows by key: the
    /// retention sweep trims its oldest rows by age instead, a bounded number per call.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_trims_the_logs_rows_older_than_the_cutoff_a_bounded_number_per_call() {
        let Some(url) = crate::store::postgres::testing::fresh_url().await else { return };
        let store = super::PgStore::open(&url).await.unwrap();
        let keys = switchboard_domain::sid::KeyGenerator::new();
        let t0 = 1_700_000_000_000;
        // Ten old messages still queued (kept by the purge) and one recent.
        for i in 0..10 {
            store
                .insert_message(crate::store::conformance::outbound(&keys, "AC1", "+14155552671", t0 + i))
                .await
                .unwrap();
        }
        let recent = crate::store::conformance::outbound(&keys, "AC1", "+14155552671", t0 + 10_000);
        store.insert_message(recent.clone()).await.unwrap();
        let (config, tls) = super::super::engine::connect_config(&url).unwrap();
        let (client, connection) = config.connect(tls).await.unwrap();
        tokio::spawn(connection);
        let log =
            || async { client.query_one("SELECT COUNT(*) FROM message_events", &[]).await.unwrap().get::<_, i64>(0) };
        assert_eq!(log().await, 11);

        assert_eq!(store.purge_messages_before(t0 + 5_000, t0, 1).await.unwrap(), 0);
        assert_eq!(log().await, 11 - super::LOG_ROWS_PER_MESSAGE, "at most 8 rows per message the call may purge");
        store.purge_messages_before(t0 + 5_000, t0, 1).await.unwrap();
        assert_eq!(log().await, 1, "only the recent event is left");
        // The messages and their histories are untouched; the recent event still replays.
        assert_eq!(store.unfinished_outbound().await.unwrap().len(), 11);
        let replayed = store.message_changes_after("AC1", 0, 10).await.unwrap();
        assert_eq!(replayed.iter().map(|c| c.message.sid.as_str()).collect::<Vec<_>>(), [recent.sid.as_str()]);
        assert_eq!(store.message_events("AC1", &recent.sid).await.unwrap().unwrap().len(), 1);
    }
}

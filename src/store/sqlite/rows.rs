//! SQL for messages and events, and the row ↔ [`Message`] mapping.

use crate::store::{
    Applied, AttemptRecord, CallbackRow, CallbackView, Cursor, MessageEvent, MessageFilter, NewCallback, Transition,
};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use switchboard_domain::message::{Message, SendOptions};
use switchboard_domain::sid;
use switchboard_domain::status::{Direction, Status};

pub(super) const COLUMNS: &str = "prefix, key, account_sid, messaging_service_sid, from_addr, to_addr, body, status, \
     direction, num_segments, num_media, price, price_unit, error_code, error_message, date_created, \
     date_updated, date_sent, options, carrier_id";

pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    let prefix: String = r.get(0)?;
    let key: String = r.get(1)?;
    let status: String = r.get(7)?;
    let direction: String = r.get(8)?;
    let options: String = r.get(18)?;
    let bad = |what: &str, v: &str| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, format!("bad {what} {v:?}").into())
    };
    Ok(Message {
        sid: format!("{prefix}{key}"),
        account_sid: r.get(2)?,
        messaging_service_sid: r.get(3)?,
        from: r.get(4)?,
        to: r.get(5)?,
        body: r.get(6)?,
        status: Status::parse(&status).ok_or_else(|| bad("status", &status))?,
        direction: Direction::parse(&direction).ok_or_else(|| bad("direction", &direction))?,
        num_segments: r.get(9)?,
        num_media: r.get(10)?,
        price: r.get(11)?,
        price_unit: r.get(12)?,
        error_code: r.get(13)?,
        error_message: r.get(14)?,
        date_created: r.get(15)?,
        date_updated: r.get(16)?,
        date_sent: r.get(17)?,
        options: serde_json::from_str::<SendOptions>(&options).map_err(|e| bad("options", &e.to_string()))?,
        carrier_id: r.get(19)?,
    })
}

pub(super) fn insert_message(c: &Connection, m: &Message, options: &str) -> anyhow::Result<()> {
    c.prepare_cached(
        "INSERT INTO messages (prefix, key, account_sid, messaging_service_sid, from_addr, to_addr, body, status,
            direction, num_segments, num_media, price, price_unit, error_code, error_message, date_created,
            date_updated, date_sent, options, carrier_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
    )?
    .execute(params![
        &m.sid[..2],
        m.key(),
        m.account_sid,
        m.messaging_service_sid,
        m.from,
        m.to,
        m.body,
        m.status.as_str(),
        m.direction.as_str(),
        m.num_segments,
        m.num_media,
        m.price,
        m.price_unit,
        m.error_code,
        m.error_message,
        m.date_created,
        m.date_updated,
        m.date_sent,
        options,
        m.carrier_id,
    ])?;
    Ok(())
}

pub(super) fn insert_event(
    c: &Connection,
    key: &str,
    at: i64,
    from: Option<Status>,
    to: Status,
    error_code: Option<u32>,
) -> anyhow::Result<()> {
    c.prepare_cached(
        "INSERT INTO message_events (key, at, from_status, to_status, error_code) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![key, at, from.map(Status::as_str), to.as_str(), error_code])?;
    Ok(())
}

pub(super) fn get_message(c: &Connection, account: &str, prefix: &str, key: &str) -> anyhow::Result<Option<Message>> {
    let sql = format!("SELECT {COLUMNS} FROM messages WHERE key = ?1 AND account_sid = ?2 AND prefix = ?3");
    Ok(c.prepare_cached(&sql)?.query_row(params![key, account, prefix], from_row).optional()?)
}

pub(super) fn list_messages(
    c: &Connection,
    account: &str,
    f: &MessageFilter,
    cursor: &Cursor,
    limit: usize,
) -> anyhow::Result<Vec<Message>> {
    let (sql, args, ascending) = list_sql(account, f, cursor, limit);
    let mut st = c.prepare_cached(&sql)?;
    let mut out: Vec<Message> = st.query_map(params_from_iter(args), from_row)?.collect::<Result<_, _>>()?;
    if ascending {
        out.reverse();
    }
    Ok(out)
}

/// Writes SQLite's query plan for a list into `out` (tests check that indexes serve it).
#[cfg(test)]
pub(super) fn explain_list(
    c: &Connection,
    account: &str,
    f: &MessageFilter,
    cursor: &Cursor,
    limit: usize,
    out: &mut String,
) -> anyhow::Result<()> {
    let (sql, args, _) = list_sql(account, f, cursor, limit);
    let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let rows = st.query_map(params_from_iter(args), |r| r.get::<_, String>(3))?;
    for row in rows {
        out.push_str(&row?);
        out.push('\n');
    }
    Ok(())
}

/// The SQL of a list query, its arguments, and whether rows come oldest first.
fn list_sql(account: &str, f: &MessageFilter, cursor: &Cursor, limit: usize) -> (String, Vec<Value>, bool) {
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
    (sql, args, ascending)
}

pub(super) fn apply_transition(c: &Connection, t: &Transition) -> anyhow::Result<Applied> {
    let (code, message) = match &t.error {
        Some((code, msg)) => (Some(*code), Some(msg.as_str())),
        None => (None, None),
    };
    let changed = c
        .prepare_cached(
            "UPDATE messages SET status = ?3, date_updated = ?4,
                 error_code = COALESCE(?5, error_code), error_message = COALESCE(?6, error_message),
                 date_sent = COALESCE(?7, date_sent), price = COALESCE(?8, price),
                 carrier_id = COALESCE(?9, carrier_id), from_addr = COALESCE(?10, from_addr),
                 num_segments = COALESCE(?11, num_segments), body = COALESCE(?12, body),
                 to_addr = COALESCE(?13, to_addr)
             WHERE key = ?1 AND status = ?2",
        )?
        .execute(params![
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
        ])?;
    if changed != 1 {
        return Ok(Applied { applied: false, callback_id: None });
    }
    insert_event(c, &t.key, t.at_ms, Some(t.from), t.to, code)?;
    let callback_id = match &t.callback {
        Some(cb) => Some(insert_callback(c, &t.key, cb, t.at_ms)?),
        None => None,
    };
    Ok(Applied { applied: true, callback_id })
}

fn encode_params(params: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

pub(super) fn insert_callback(c: &Connection, key: &str, cb: &NewCallback, at: i64) -> anyhow::Result<i64> {
    c.prepare_cached(
        "INSERT INTO callbacks (key, account_sid, url, method, params, idempotency_token, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        key,
        cb.account_sid,
        cb.url,
        cb.method,
        encode_params(&cb.params),
        cb.idempotency_token,
        at
    ])?;
    Ok(c.last_insert_rowid())
}

const CALLBACK_COLUMNS: &str = "id, key, account_sid, url, method, params, idempotency_token, attempts, created_at";

fn callback_from_row(r: &Row<'_>) -> rusqlite::Result<CallbackRow> {
    let params: String = r.get(5)?;
    Ok(CallbackRow {
        id: r.get(0)?,
        key: r.get(1)?,
        request: NewCallback {
            account_sid: r.get(2)?,
            url: r.get(3)?,
            method: r.get(4)?,
            params: form_urlencoded::parse(params.as_bytes()).into_owned().collect(),
            idempotency_token: r.get(6)?,
        },
        attempts: r.get(7)?,
        created_at: r.get(8)?,
    })
}

pub(super) fn pending_callbacks(c: &Connection) -> anyhow::Result<Vec<CallbackRow>> {
    let sql = format!("SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE state = 'pending' ORDER BY id");
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map([], callback_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn record_callback_attempt(
    c: &Connection,
    id: i64,
    a: &AttemptRecord,
    final_state: Option<&str>,
) -> anyhow::Result<()> {
    c.prepare_cached(
        "INSERT INTO callback_attempts (callback_id, at, http_status, latency_ms, error) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![id, a.at_ms, a.http_status, i64::try_from(a.latency_ms).unwrap_or(i64::MAX), a.error])?;
    c.prepare_cached("UPDATE callbacks SET attempts = attempts + 1, state = COALESCE(?2, state) WHERE id = ?1")?
        .execute(params![id, final_state])?;
    Ok(())
}

pub(super) fn message_callbacks(c: &Connection, key: &str) -> anyhow::Result<Vec<CallbackView>> {
    let sql = format!("SELECT {CALLBACK_COLUMNS}, state FROM callbacks WHERE key = ?1 ORDER BY id");
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map([key], |r| Ok((callback_from_row(r)?, r.get::<_, String>(9)?)))?;
    let mut out = Vec::new();
    let mut att = c.prepare_cached(
        "SELECT at, http_status, latency_ms, error FROM callback_attempts WHERE callback_id = ?1 ORDER BY id",
    )?;
    for row in rows {
        let (row, state) = row?;
        let attempts = att
            .query_map([row.id], |r| {
                Ok(AttemptRecord {
                    at_ms: r.get(0)?,
                    http_status: r.get(1)?,
                    latency_ms: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    error: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        out.push(CallbackView { row, state, attempts });
    }
    Ok(out)
}

pub(super) fn message_by_carrier_id(c: &Connection, carrier_id: &str) -> anyhow::Result<Option<Message>> {
    let sql = format!("SELECT {COLUMNS} FROM messages WHERE carrier_id = ?1");
    Ok(c.prepare_cached(&sql)?.query_row([carrier_id], from_row).optional()?)
}

pub(super) fn unfinished_outbound(c: &Connection) -> anyhow::Result<Vec<Message>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM messages WHERE status IN ('queued', 'sending', 'sent', 'accepted', 'scheduled')
         AND direction != 'inbound' ORDER BY key"
    );
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn events(c: &Connection, key: &str) -> anyhow::Result<Vec<MessageEvent>> {
    let mut st = c.prepare_cached(
        "SELECT at, from_status, to_status, error_code, detail FROM message_events WHERE key = ?1 ORDER BY id",
    )?;
    let rows = st.query_map([key], |r| {
        Ok(MessageEvent { at_ms: r.get(0)?, from: r.get(1)?, to: r.get(2)?, error_code: r.get(3)?, detail: r.get(4)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn add_note(
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

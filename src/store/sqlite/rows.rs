//! Row mapping shared by the query files: the `messages` row ↔ [`Message`], SID splitting, and
//! keyset pages in SID order.

use super::SqliteStore;
use crate::store::{Cursor, StoreResult};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use switchboard_domain::message::{Message, SendOptions};
use switchboard_domain::sid;
use switchboard_domain::status::{Direction, Status};

pub(super) const COLUMNS: &str = "prefix, key, account_sid, messaging_service_sid, from_addr, to_addr, body, status, \
     direction, num_segments, num_media, price, price_unit, error_code, error_message, date_created, \
     date_updated, date_sent, options, carrier_id";

/// [`COLUMNS`] of the table aliased `m`, for joins.
pub(super) static M_COLUMNS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| COLUMNS.split(", ").map(|col| format!("m.{col}")).collect::<Vec<_>>().join(", "));

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

/// Inserts a message row; `history` is its first event's line (see [`crate::store::history`]).
pub(super) fn insert_message(c: &Connection, m: &Message, options: &str, history: &str) -> anyhow::Result<()> {
    c.prepare_cached(
        "INSERT INTO messages (prefix, key, account_sid, messaging_service_sid, from_addr, to_addr, body, status,
            direction, num_segments, num_media, price, price_unit, error_code, error_message, date_created,
            date_updated, date_sent, options, carrier_id, history)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
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
        history,
    ])?;
    Ok(())
}

/// Appends a create or status change to the event log (`message_events`, which has no index
/// but its row id); returns the event's number.
pub(super) fn insert_event(
    c: &Connection,
    key: &str,
    at: i64,
    from: Option<Status>,
    to: Status,
    error_code: Option<u32>,
) -> anyhow::Result<i64> {
    c.prepare_cached(
        "INSERT INTO message_events (key, at, from_status, to_status, error_code) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![key, at, from.map(Status::as_str), to.as_str(), error_code])?;
    // The event's row id is the change's durable number in the event stream.
    Ok(c.last_insert_rowid())
}

pub(super) fn get_message(c: &Connection, account: &str, prefix: &str, key: &str) -> anyhow::Result<Option<Message>> {
    let sql = format!("SELECT {COLUMNS} FROM messages WHERE key = ?1 AND account_sid = ?2 AND prefix = ?3");
    Ok(c.prepare_cached(&sql)?.query_row(params![key, account, prefix], from_row).optional()?)
}

/// The message of `account` if `allowed` says its state permits a conditional change (redact,
/// delete); otherwise the answer that change gives instead.
pub(super) fn message_if<T>(
    c: &Connection,
    account: &str,
    prefix: &str,
    key: &str,
    allowed: impl FnOnce(&Message) -> bool,
) -> anyhow::Result<Result<Message, crate::store::Conditional<T>>> {
    use crate::store::Conditional;
    Ok(match get_message(c, account, prefix, key)? {
        None => Err(Conditional::NotFound),
        Some(m) if !allowed(&m) => Err(Conditional::WrongStatus(m.status)),
        Some(m) => Ok(m),
    })
}

impl SqliteStore {
    /// Reads what is recorded about message `sid` of `account_sid` (`f` gets its key); `None`
    /// when the account has no such message.
    pub(super) async fn read_about_message<T: Send + 'static>(
        &self,
        account_sid: &str,
        sid: &str,
        f: impl FnOnce(&Connection, &str) -> anyhow::Result<T> + Send + 'static,
    ) -> StoreResult<Option<T>> {
        let Some((prefix, key)) = split_sid(sid) else { return Ok(None) };
        let account = account_sid.to_string();
        self.read(move |c| {
            if get_message(c, &account, &prefix, &key)?.is_none() {
                return Ok(None);
            }
            f(c, &key).map(Some)
        })
        .await
    }
}

/// Splits a SID into (prefix, key) if well-formed.
pub(super) fn split_sid(s: &str) -> Option<(String, String)> {
    let key = sid::key(s)?;
    Some((s[..2].to_string(), key.to_ascii_lowercase()))
}

/// Ends `sql` (a `SELECT … WHERE …` with `args` bound so far) as one keyset page in SID order,
/// oldest first: "after" a cursor means later SIDs, "before" means earlier ones.
pub(super) fn oldest_first_page(mut sql: String, mut args: Vec<Value>, cursor: &Cursor, limit: usize) -> Page {
    let newest_first = match cursor {
        Cursor::Start => false,
        Cursor::After(k) => {
            sql.push_str(" AND substr(sid, 3) > ?");
            args.push(Value::Text(k.clone()));
            false
        }
        Cursor::Before(k) => {
            sql.push_str(" AND substr(sid, 3) < ?");
            args.push(Value::Text(k.clone()));
            true
        }
    };
    sql.push_str(if newest_first { " ORDER BY sid DESC LIMIT ?" } else { " ORDER BY sid ASC LIMIT ?" });
    args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    Page { sql, args, reverse: newest_first }
}

/// A page query: its SQL, its arguments, and whether its rows come in the reverse of the
/// order the caller returns.
pub(super) struct Page {
    pub(super) sql: String,
    pub(super) args: Vec<Value>,
    pub(super) reverse: bool,
}

impl Page {
    /// Runs the query and returns its rows in page order.
    pub(super) fn fetch<T>(
        &self,
        c: &Connection,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> anyhow::Result<Vec<T>> {
        let mut st = c.prepare_cached(&self.sql)?;
        let mut rows = st.query_map(params_from_iter(&self.args), map)?.collect::<Result<Vec<_>, _>>()?;
        if self.reverse {
            rows.reverse();
        }
        Ok(rows)
    }
}

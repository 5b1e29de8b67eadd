//! Row mapping shared by the query files: the `messages` row ↔ [`Message`], SID splitting, and
//! keyset pages in SID order.

use super::engine::{bind, query, query_opt, Arg, Conn};
use crate::store::{Conditional, Cursor, MessageChange};
use anyhow::anyhow;
use switchboard_domain::message::{Message, SendOptions};
use switchboard_domain::sid;
use switchboard_domain::status::{Direction, Status};
use tokio_postgres::Row;

pub(super) const COLUMNS: &str = "prefix, key, account_sid, messaging_service_sid, from_addr, to_addr, body, status, \
     direction, num_segments, num_media, price, price_unit, error_code, error_message, date_created, \
     date_updated, date_sent, options, carrier_id";

/// A stored count or code as the `u32` the record holds (columns are BIGINT).
pub(super) fn to_u32(v: i64) -> anyhow::Result<u32> {
    u32::try_from(v).map_err(|_| anyhow!("stored value {v} is out of range"))
}

/// The message of a row whose first columns are [`COLUMNS`].
pub(super) fn from_row(r: &Row) -> anyhow::Result<Message> {
    let prefix: String = r.try_get(0)?;
    let key: String = r.try_get(1)?;
    let status: String = r.try_get(7)?;
    let direction: String = r.try_get(8)?;
    let options: String = r.try_get(18)?;
    Ok(Message {
        sid: format!("{prefix}{key}"),
        account_sid: r.try_get(2)?,
        messaging_service_sid: r.try_get(3)?,
        from: r.try_get(4)?,
        to: r.try_get(5)?,
        body: r.try_get(6)?,
        status: Status::parse(&status).ok_or_else(|| anyhow!("bad status {status:?}"))?,
        direction: Direction::parse(&direction).ok_or_else(|| anyhow!("bad direction {direction:?}"))?,
        num_segments: to_u32(r.try_get(9)?)?,
        num_media: to_u32(r.try_get(10)?)?,
        price: r.try_get(11)?,
        price_unit: r.try_get(12)?,
        error_code: r.try_get::<_, Option<i64>>(13)?.map(to_u32).transpose()?,
        error_message: r.try_get(14)?,
        date_created: r.try_get(15)?,
        date_updated: r.try_get(16)?,
        date_sent: r.try_get(17)?,
        options: serde_json::from_str::<SendOptions>(&options).map_err(|e| anyhow!("bad options: {e}"))?,
        carrier_id: r.try_get(19)?,
    })
}

/// [`COLUMNS`] of the table aliased `m` (`m.prefix, m.key, …`), for joins.
pub(super) fn m_columns() -> String {
    COLUMNS.split(", ").map(|col| format!("m.{}", col.trim())).collect::<Vec<_>>().join(", ")
}

/// The select list of a stream event query: the message's columns (as `m.…`), then the
/// event's id, status and time, as [`change_from_row`] reads them.
pub(super) fn change_columns() -> String {
    format!("{}, e.id, e.to_status, e.at", m_columns())
}

/// A stream event row ([`change_columns`]): the message as stored now, with the status and
/// `date_updated` of the event.
pub(super) fn change_from_row(r: &Row) -> anyhow::Result<MessageChange> {
    let mut message = from_row(r)?;
    let status: String = r.try_get(21)?;
    if let Some(s) = Status::parse(&status) {
        message.status = s;
    }
    message.date_updated = r.try_get(22)?;
    Ok(MessageChange::new(r.try_get(20)?, message))
}

/// Every row as a message.
pub(super) fn messages(rows: Vec<Row>) -> anyhow::Result<Vec<Message>> {
    rows.iter().map(from_row).collect()
}

pub(super) async fn get_message(c: &Conn, account: &str, prefix: &str, key: &str) -> anyhow::Result<Option<Message>> {
    let sql = format!("SELECT {COLUMNS} FROM messages WHERE key = $1 AND account_sid = $2 AND prefix = $3");
    query_opt(c, &sql, &[&key, &account, &prefix]).await?.as_ref().map(from_row).transpose()
}

/// The message of `account` if `allowed` says its state permits a conditional change (redact,
/// delete); otherwise the answer that change gives instead.
pub(super) async fn message_if<T>(
    c: &Conn,
    account: &str,
    prefix: &str,
    key: &str,
    allowed: impl FnOnce(&Message) -> bool,
) -> anyhow::Result<Result<Message, Conditional<T>>> {
    // FOR UPDATE: the check and the change it allows see the same row.
    let sql = format!("SELECT {COLUMNS} FROM messages WHERE key = $1 AND account_sid = $2 AND prefix = $3 FOR UPDATE");
    let found = query_opt(c, &sql, &[&key, &account, &prefix]).await?.as_ref().map(from_row).transpose()?;
    Ok(match found {
        None => Err(Conditional::NotFound),
        Some(m) if !allowed(&m) => Err(Conditional::WrongStatus(m.status)),
        Some(m) => Ok(m),
    })
}

/// Splits a SID into (prefix, key) if well-formed.
pub(super) fn split_sid(s: &str) -> Option<(String, String)> {
    let key = sid::key(s)?;
    Some((s[..2].to_string(), key.to_ascii_lowercase()))
}

/// A page query: its SQL, its arguments, and whether its rows come in the reverse of the
/// order the caller returns.
pub(super) struct Page {
    pub(super) sql: String,
    pub(super) args: Vec<Arg>,
    pub(super) reverse: bool,
}

impl Page {
    /// A query under construction: `sql` with `args` bound so far (placeholders are numbered
    /// by [`Page::arg`]).
    pub(super) fn new(sql: String, args: Vec<Arg>) -> Self {
        Page { sql, args, reverse: false }
    }

    /// Binds `v` and returns its placeholder (`$n`).
    pub(super) fn arg(&mut self, v: impl tokio_postgres::types::ToSql + Sync + Send + 'static) -> String {
        self.args.push(Box::new(v));
        format!("${}", self.args.len())
    }

    /// Ends the query as one keyset page in SID order, oldest first: "after" a cursor means
    /// later SIDs, "before" means earlier ones (the key compared is the SID without prefix).
    pub(super) fn oldest_first(mut self, cursor: &Cursor, limit: usize) -> Self {
        let newest_first = match cursor {
            Cursor::Start => false,
            Cursor::After(k) => {
                let p = self.arg(k.clone());
                self.sql.push_str(&format!(" AND substr(sid, 3) > {p}"));
                false
            }
            Cursor::Before(k) => {
                let p = self.arg(k.clone());
                self.sql.push_str(&format!(" AND substr(sid, 3) < {p}"));
                true
            }
        };
        let p = self.arg(i64::try_from(limit).unwrap_or(i64::MAX));
        self.sql.push_str(&format!(" ORDER BY sid {} LIMIT {p}", if newest_first { "DESC" } else { "ASC" }));
        self.reverse = newest_first;
        self
    }

    /// Runs the query and returns its rows in page order.
    pub(super) async fn fetch(&self, c: &Conn) -> anyhow::Result<Vec<Row>> {
        let mut rows = query(c, &self.sql, &bind(&self.args)).await?;
        if self.reverse {
            rows.reverse();
        }
        Ok(rows)
    }
}

//! SQL of the status-callback outbox (`callbacks`, `callback_attempts`).

use super::SqliteStore;
use crate::store::callbacks::{AttemptRecord, CallbackRow, CallbackStore, CallbackView, NewCallback};
use crate::store::StoreResult;
use async_trait::async_trait;
use rusqlite::{params, Connection, Row};

#[async_trait]
impl CallbackStore for SqliteStore {
    async fn pending_callbacks(&self) -> StoreResult<Vec<CallbackRow>> {
        self.read(pending_callbacks).await
    }

    async fn record_callback_attempt(
        &self,
        id: i64,
        attempt: AttemptRecord,
        final_state: Option<&'static str>,
    ) -> StoreResult<()> {
        self.write(move |c| record_callback_attempt(c, id, &attempt, final_state)).await
    }

    async fn message_callbacks(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Vec<CallbackView>>> {
        self.read_about_message(account_sid, sid, message_callbacks).await
    }
}

fn encode_params(params: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Queues a callback of message `key`; returns its outbox id.
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

fn pending_callbacks(c: &Connection) -> anyhow::Result<Vec<CallbackRow>> {
    let sql = format!("SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE state = 'pending' ORDER BY id");
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map([], callback_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn record_callback_attempt(
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

fn message_callbacks(c: &Connection, key: &str) -> anyhow::Result<Vec<CallbackView>> {
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

//! SQL of the status-callback outbox (`callbacks`, `callback_attempts`).

use super::engine::{execute, query, Conn, PgStore};
use super::rows::{get_message, split_sid, to_u32};
use crate::store::callbacks::{AttemptRecord, CallbackRow, CallbackStore, CallbackView, NewCallback};
use crate::store::StoreResult;
use async_trait::async_trait;
use tokio_postgres::Row;

#[async_trait]
impl CallbackStore for PgStore {
    async fn pending_callbacks(&self) -> StoreResult<Vec<CallbackRow>> {
        // This node's own: the callbacks of other nodes are theirs until their lease ends.
        let owner = self.node.clone();
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE state = 'pending' AND owner = $1 ORDER BY id"
                );
                query(c, &sql, &[&&*owner]).await?.iter().map(callback_from_row).collect()
            })
        })
        .await
    }

    async fn record_callback_attempt(
        &self,
        id: i64,
        attempt: AttemptRecord,
        final_state: Option<&'static str>,
    ) -> StoreResult<()> {
        // No savepoint: one statement that cannot fail on its own, pipelined with its neighbours.
        self.write_publishing(false, move |c| {
            Box::pin(
                async move { record_callback_attempt(c, id, &attempt, final_state).await.map(|()| ((), Vec::new())) },
            )
        })
        .await
    }

    async fn message_callbacks(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Vec<CallbackView>>> {
        let Some((prefix, key)) = split_sid(sid) else { return Ok(None) };
        let account = account_sid.to_string();
        self.read(move |c| {
            Box::pin(async move {
                if get_message(c, &account, &prefix, &key).await?.is_none() {
                    return Ok(None);
                }
                message_callbacks(c, &key).await.map(Some)
            })
        })
        .await
    }
}

pub(super) fn encode_params(params: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The callbacks of outbox ids `ids`, in outbox order.
pub(super) async fn callbacks_by_id(c: &Conn, ids: &[i64]) -> anyhow::Result<Vec<CallbackRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE id = ANY($1) ORDER BY id");
    query(c, &sql, &[&ids]).await?.iter().map(callback_from_row).collect()
}

const CALLBACK_COLUMNS: &str = "id, key, account_sid, url, method, params, idempotency_token, attempts, created_at";

fn callback_from_row(r: &Row) -> anyhow::Result<CallbackRow> {
    let params: String = r.try_get(5)?;
    Ok(CallbackRow {
        id: r.try_get(0)?,
        key: r.try_get(1)?,
        request: NewCallback {
            account_sid: r.try_get(2)?,
            url: r.try_get(3)?,
            method: r.try_get(4)?,
            params: form_urlencoded::parse(params.as_bytes()).into_owned().collect(),
            idempotency_token: r.try_get(6)?,
        },
        attempts: to_u32(r.try_get(7)?)?,
        created_at: r.try_get(8)?,
    })
}

async fn record_callback_attempt(
    c: &Conn,
    id: i64,
    a: &AttemptRecord,
    final_state: Option<&str>,
) -> anyhow::Result<()> {
    execute(
        c,
        "WITH attempt AS (
             INSERT INTO callback_attempts (callback_id, at, http_status, latency_ms, error)
             VALUES ($1, $2, $3, $4, $5))
         UPDATE callbacks SET attempts = attempts + 1, state = COALESCE($6, state) WHERE id = $1",
        &[
            &id,
            &a.at_ms,
            &a.http_status.map(i64::from),
            &i64::try_from(a.latency_ms).unwrap_or(i64::MAX),
            &a.error,
            &final_state,
        ],
    )
    .await?;
    Ok(())
}

async fn message_callbacks(c: &Conn, key: &str) -> anyhow::Result<Vec<CallbackView>> {
    let sql = format!("SELECT {CALLBACK_COLUMNS}, state FROM callbacks WHERE key = $1 ORDER BY id");
    let rows = query(c, &sql, &[&key]).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let row = callback_from_row(r)?;
        let state: String = r.try_get(9)?;
        let attempts = query(
            c,
            "SELECT at, http_status, latency_ms, error FROM callback_attempts WHERE callback_id = $1 ORDER BY id",
            &[&row.id],
        )
        .await?
        .iter()
        .map(|a| {
            Ok(AttemptRecord {
                at_ms: a.try_get(0)?,
                http_status: a.try_get::<_, Option<i64>>(1)?.and_then(|s| u16::try_from(s).ok()),
                latency_ms: u64::try_from(a.try_get::<_, i64>(2)?).unwrap_or(0),
                error: a.try_get(3)?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
        out.push(CallbackView { row, state, attempts });
    }
    Ok(out)
}

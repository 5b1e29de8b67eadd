//! SQL of MessageFeedback (`message_feedback`, one row per message).

use super::rows::{get_message, split_sid};
use super::SqliteStore;
use crate::store::feedback::{Feedback, FeedbackStore};
use crate::store::StoreResult;
use async_trait::async_trait;
use rusqlite::params;

#[async_trait]
impl FeedbackStore for SqliteStore {
    async fn set_feedback(
        &self,
        account_sid: &str,
        sid: &str,
        outcome: &str,
        now_ms: i64,
        keep_existing: bool,
    ) -> StoreResult<Option<Feedback>> {
        let Some((prefix, key)) = split_sid(sid) else { return Ok(None) };
        let (account, outcome) = (account_sid.to_string(), outcome.to_string());
        self.write(move |c| {
            if get_message(c, &account, &prefix, &key)?.is_none() {
                return Ok(None);
            }
            let sql = if keep_existing {
                "INSERT INTO message_feedback (key, account_sid, outcome, date_created, date_updated)
                 VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (key) DO NOTHING"
            } else {
                "INSERT INTO message_feedback (key, account_sid, outcome, date_created, date_updated)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (key) DO UPDATE SET outcome = excluded.outcome, date_updated = excluded.date_updated"
            };
            c.prepare_cached(sql)?.execute(params![key, account, outcome, now_ms])?;
            let fb = c
                .prepare_cached("SELECT outcome, date_created, date_updated FROM message_feedback WHERE key = ?1")?
                .query_row([&key], |r| {
                    Ok(Feedback {
                        message_sid: format!("{prefix}{key}"),
                        outcome: r.get(0)?,
                        date_created: r.get(1)?,
                        date_updated: r.get(2)?,
                    })
                })?;
            Ok(Some(fb))
        })
        .await
    }
}

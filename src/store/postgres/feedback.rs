//! SQL of MessageFeedback (`message_feedback`, one row per message).

use super::engine::{execute, query_one, PgStore};
use super::rows::{get_message, split_sid};
use crate::store::feedback::{Feedback, FeedbackStore};
use crate::store::StoreResult;
use async_trait::async_trait;

#[async_trait]
impl FeedbackStore for PgStore {
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
            Box::pin(async move {
                if get_message(c, &account, &prefix, &key).await?.is_none() {
                    return Ok(None);
                }
                let sql = if keep_existing {
                    "INSERT INTO message_feedback (key, account_sid, outcome, date_created, date_updated)
                     VALUES ($1, $2, $3, $4, $4) ON CONFLICT (key) DO NOTHING"
                } else {
                    "INSERT INTO message_feedback (key, account_sid, outcome, date_created, date_updated)
                     VALUES ($1, $2, $3, $4, $4)
                     ON CONFLICT (key) DO UPDATE SET outcome = excluded.outcome, date_updated = excluded.date_updated"
                };
                execute(c, sql, &[&key, &account, &outcome, &now_ms]).await?;
                let r = query_one(
                    c,
                    "SELECT outcome, date_created, date_updated FROM message_feedback WHERE key = $1",
                    &[&key],
                )
                .await?;
                Ok(Some(Feedback {
                    message_sid: format!("{prefix}{key}"),
                    outcome: r.try_get(0)?,
                    date_created: r.try_get(1)?,
                    date_updated: r.try_get(2)?,
                }))
            })
        })
        .await
    }
}

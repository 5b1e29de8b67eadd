//! MessageFeedback: whether a message's recipient acted on it.

use super::StoreResult;
use async_trait::async_trait;

/// A message's feedback (the MessageFeedback sub-resource).
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    /// The message.
    pub message_sid: String,
    /// `confirmed` or `unconfirmed`.
    pub outcome: String,
    /// When the feedback was first recorded, ms.
    pub date_created: i64,
    /// When the outcome last changed, ms.
    pub date_updated: i64,
}

/// Feedback storage.
#[async_trait]
pub trait FeedbackStore: Send + Sync {
    /// Sets a message's feedback outcome (or, with `keep_existing`, only creates it); `None`
    /// when the account has no such message.
    async fn set_feedback(
        &self,
        account_sid: &str,
        sid: &str,
        outcome: &str,
        now_ms: i64,
        keep_existing: bool,
    ) -> StoreResult<Option<Feedback>>;
}

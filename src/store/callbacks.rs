//! The status-callback outbox: callbacks stored with the transition they report, and every
//! attempt to send them.

use super::StoreResult;
use async_trait::async_trait;

/// A status callback to store in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCallback {
    /// Owning account (its token signs the request).
    pub account_sid: String,
    /// Target URL as given (fragment overrides included).
    pub url: String,
    /// `POST` or `GET`.
    pub method: String,
    /// Form parameters.
    pub params: Vec<(String, String)>,
    /// Stable across retries (`I-Twilio-Idempotency-Token`).
    pub idempotency_token: String,
}

/// A stored callback.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackRow {
    /// Outbox id (order of sending within a message).
    pub id: i64,
    /// Message key.
    pub key: String,
    /// The request.
    pub request: NewCallback,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it was queued, ms.
    pub created_at: i64,
}

/// Outcome of one callback attempt, as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AttemptRecord {
    /// When, ms.
    pub at_ms: i64,
    /// HTTP status, if a response arrived.
    pub http_status: Option<u16>,
    /// Time to the outcome.
    pub latency_ms: u64,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// A callback with its attempts, for the `/_switchboard/` endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackView {
    /// The stored callback.
    pub row: CallbackRow,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptRecord>,
}

/// Outbox storage (callbacks are queued by [`MessageStore::apply_transitions`]).
///
/// [`MessageStore::apply_transitions`]: super::messages::MessageStore::apply_transitions
#[async_trait]
pub trait CallbackStore: Send + Sync {
    /// Every callback still to be sent, in outbox order (to resume after a restart).
    async fn pending_callbacks(&self) -> StoreResult<Vec<CallbackRow>>;
    /// Records an attempt; `final_state` (`delivered` or `failed`) closes the callback.
    async fn record_callback_attempt(
        &self,
        id: i64,
        attempt: AttemptRecord,
        final_state: Option<&'static str>,
    ) -> StoreResult<()>;
    /// The callbacks of a message, with their attempts.
    async fn message_callbacks(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Vec<CallbackView>>>;
}

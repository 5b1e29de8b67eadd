//! Sticky senders: a Messaging Service keeps writing to a recipient from the same sender.

use super::StoreResult;
use async_trait::async_trait;

/// Sticky-sender storage.
#[async_trait]
pub trait StickySenderStore: Send + Sync {
    /// The sender a Messaging Service last used for a recipient.
    async fn sticky_sender(&self, service_sid: &str, to: &str) -> StoreResult<Option<String>>;
    /// Records `sender` as the recipient's sticky sender unless one is already recorded (or the
    /// recorded one is `stale`, i.e. left the pool); returns the sender now recorded.
    async fn claim_sticky_sender(
        &self,
        service_sid: &str,
        to: &str,
        sender: &str,
        stale: Option<&str>,
    ) -> StoreResult<String>;
}

//! Opt-outs (STOP and friends): who may no longer be messaged from where.

use super::StoreResult;
use async_trait::async_trait;

/// Opt-out storage.
#[async_trait]
pub trait OptOutStore: Send + Sync {
    /// Records (`true`) or lifts (`false`) an opt-out of `number` from `scope` (a sender
    /// address or a Messaging Service SID).
    async fn set_opt_out(
        &self,
        account_sid: &str,
        scope: &str,
        number: &str,
        opted_out: bool,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// True when `number` opted out of any of `scopes`.
    async fn opted_out(&self, account_sid: &str, scopes: Vec<String>, number: &str) -> StoreResult<bool>;
}

//! Accounts: the API's principals.

use super::StoreResult;
use async_trait::async_trait;

/// An API account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `AC…`
    pub sid: String,
    /// The auth token (HTTP Basic password, webhook signing key).
    pub auth_token: String,
}

/// Account storage.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates the account or replaces its token.
    async fn upsert_account(&self, account: Account) -> StoreResult<()>;
    /// Creates the account unless it exists; returns the stored one either way.
    async fn insert_account_if_absent(&self, account: Account) -> StoreResult<Account>;
    /// Every account.
    async fn accounts(&self) -> StoreResult<Vec<Account>>;
    /// One account.
    async fn account(&self, sid: &str) -> StoreResult<Option<Account>>;
}

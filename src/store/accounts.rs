//! Accounts: the API's principals. A main account owns itself; a subaccount is owned by the
//! main account that created it. Each has a primary auth token and, during a rotation, a
//! secondary one.

use super::StoreResult;
use async_trait::async_trait;

/// An account's SID and primary auth token: the credentials configured at start and the key
/// that signs its webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `AC…`
    pub sid: String,
    /// The primary auth token (HTTP Basic password, webhook signing key).
    pub auth_token: String,
}

/// Whether an account may work (Twilio's `active`, `suspended`, `closed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    /// Works normally.
    Active,
    /// Authenticates and reads, but creates no traffic; reversible.
    Suspended,
    /// Permanent: its credentials stop working.
    Closed,
}

impl AccountStatus {
    /// Twilio's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Suspended => "suspended",
            AccountStatus::Closed => "closed",
        }
    }

    /// Parses Twilio's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(AccountStatus::Active),
            "suspended" => Some(AccountStatus::Suspended),
            "closed" => Some(AccountStatus::Closed),
            _ => None,
        }
    }
}

/// Everything stored about an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// `AC…`
    pub sid: String,
    /// The parent's SID; its own SID for a main account.
    pub owner_account_sid: String,
    /// Display name.
    pub friendly_name: String,
    /// `active`, `suspended` or `closed`.
    pub status: AccountStatus,
    /// The primary auth token.
    pub auth_token: String,
    /// The secondary auth token, while a rotation is under way.
    pub secondary_token: Option<String>,
    /// When the secondary token was created, ms.
    pub secondary_date_created: Option<i64>,
    /// Creation time, ms.
    pub date_created: i64,
    /// Last change, ms.
    pub date_updated: i64,
}

impl AccountRecord {
    /// True for a subaccount (owned by another account).
    pub fn is_subaccount(&self) -> bool {
        self.owner_account_sid != self.sid
    }

    /// The SID and primary token.
    pub fn account(&self) -> Account {
        Account { sid: self.sid.clone(), auth_token: self.auth_token.clone() }
    }
}

/// A change to an account (`None` leaves a field as it is).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountEdit {
    /// New display name.
    pub friendly_name: Option<String>,
    /// New status.
    pub status: Option<AccountStatus>,
    /// `Some(Some(t))` sets the secondary token, `Some(None)` removes it.
    pub secondary_token: Option<Option<String>>,
    /// Makes the secondary token the primary one (nothing happens without a secondary).
    pub promote: bool,
}

/// Account storage.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates the (main) account or replaces its primary token.
    async fn upsert_account(&self, account: Account) -> StoreResult<()>;
    /// Creates the (main) account unless it exists; returns the stored one either way.
    async fn insert_account_if_absent(&self, account: Account) -> StoreResult<Account>;
    /// Every account.
    async fn accounts(&self) -> StoreResult<Vec<Account>>;
    /// One account.
    async fn account(&self, sid: &str) -> StoreResult<Option<Account>>;
    /// Everything about one account.
    async fn account_record(&self, sid: &str) -> StoreResult<Option<AccountRecord>>;
    /// Creates a subaccount; false (nothing stored) when its owner already has `limit`
    /// subaccounts that are not closed.
    async fn insert_subaccount(&self, record: AccountRecord, limit: usize) -> StoreResult<bool>;
    /// An account and the accounts it owns, by SID.
    async fn account_family(&self, owner_sid: &str) -> StoreResult<Vec<AccountRecord>>;
    /// Applies `edit`; `None` when the account does not exist.
    async fn update_account(&self, sid: &str, edit: AccountEdit, now: i64) -> StoreResult<Option<AccountRecord>>;
    /// A number that every change to an existing account or key advances (in the change's own
    /// transaction): caches compare it to know when to drop what they hold.
    async fn credentials_seq(&self) -> StoreResult<i64>;
}

//! Content templates (Twilio's Content API).

use super::{Cursor, StoreResult};
use async_trait::async_trait;

/// A content template.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// `HX…`
    pub sid: String,
    /// The account the template belongs to.
    pub account_sid: String,
    /// Name given at creation, shown in lists.
    pub friendly_name: String,
    /// Language code.
    pub language: String,
    /// Default variable values, a JSON object.
    pub variables: String,
    /// The `types` object as JSON (`twilio/text`, `twilio/media`, …).
    pub types: String,
    /// Creation time, ms.
    pub date_created: i64,
    /// Last change, ms.
    pub date_updated: i64,
}

/// Template storage.
#[async_trait]
pub trait ContentStore: Send + Sync {
    /// Stores a content template.
    async fn insert_content(&self, content: Content) -> StoreResult<()>;
    /// A content template of the account.
    async fn content(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Content>>;
    /// The account's templates, oldest first, keyset-paged by SID.
    async fn list_contents(&self, account_sid: &str, cursor: &Cursor, limit: usize) -> StoreResult<Vec<Content>>;
    /// Deletes a template; false when the account has none by that SID.
    async fn delete_content(&self, account_sid: &str, sid: &str) -> StoreResult<bool>;
}

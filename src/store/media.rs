//! Media of MMS messages, metadata and bytes.

use super::{Cursor, StoreResult};
use async_trait::async_trait;

/// A media item (`ME…`) of an MMS message; its bytes are stored beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    /// `ME…`
    pub sid: String,
    /// The message (`MM…`/`SM…`).
    pub message_sid: String,
    /// The message's account.
    pub account_sid: String,
    /// MIME type, as the media server answered it.
    pub content_type: String,
    /// Bytes.
    pub size: usize,
    /// Creation time, ms.
    pub date_created: i64,
    /// Last change, ms.
    pub date_updated: i64,
}

/// Media storage.
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Stores fetched media of a message, with their bytes, in one transaction.
    async fn insert_media(&self, media: Vec<(Media, Vec<u8>)>) -> StoreResult<()>;
    /// A message's media in attachment order (oldest SID first), keyset-paged by media SID and
    /// narrowed to `date_created` in `[from_ms, until_ms)` when given.
    async fn list_media(
        &self,
        account_sid: &str,
        message_sid: &str,
        created: (Option<i64>, Option<i64>),
        cursor: &Cursor,
        limit: usize,
    ) -> StoreResult<Vec<Media>>;
    /// One media item of a message (metadata only).
    async fn media(&self, account_sid: &str, message_sid: &str, sid: &str) -> StoreResult<Option<Media>>;
    /// One media item with its bytes.
    async fn media_content(
        &self,
        account_sid: &str,
        message_sid: &str,
        sid: &str,
    ) -> StoreResult<Option<(Media, Vec<u8>)>>;
    /// Deletes one media item; false when there was none.
    async fn delete_media(&self, account_sid: &str, message_sid: &str, sid: &str) -> StoreResult<bool>;
}

//! Storage of shortened links (`ShortenUrls=true`).

use super::StoreResult;
use async_trait::async_trait;

/// One shortened link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortLink {
    /// The ten-character code after the shortening domain.
    pub code: String,
    /// Owning account.
    pub account_sid: String,
    /// The message whose body carried the link.
    pub message_sid: String,
    /// The original URL.
    pub link: String,
    /// The short URL that replaced it.
    pub shortened: String,
    /// Created, ms.
    pub date_created: i64,
    /// Times opened.
    pub clicks: u64,
}

/// Shortened-link storage.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Stores new links.
    async fn insert_links(&self, links: Vec<ShortLink>) -> StoreResult<()>;
    /// Counts a click and returns the link (with the count before this click), if it exists.
    async fn click_link(&self, code: &str) -> StoreResult<Option<ShortLink>>;
}

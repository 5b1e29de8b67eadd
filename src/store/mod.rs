//! Storage: one narrow trait per concern, one implementation per engine.
//!
//! Handlers and the delivery engine only see [`Store`], which is every concern's trait at once;
//! `sqlite/` is the embedded engine and `postgres/` the server one, each with one file per concern. To add an engine, implement
//! each trait of [`prelude`] in a sibling folder, run `conformance::suite!` in its tests, and
//! add its URL scheme to [`open`].

pub mod accounts;
pub mod callbacks;
pub mod cluster;
#[cfg(test)]
pub(crate) mod conformance;
pub mod content;
pub mod feedback;
pub mod history;
pub mod keys;
pub mod links;
pub mod media;
pub mod messages;
pub mod opt_outs;
pub mod postgres;
pub mod retention;
pub mod senders;
pub mod smpp;
pub mod sqlite;
pub mod sticky;
pub mod stream;
pub mod tokens;

use std::sync::Arc;
use switchboard_domain::status::Status;

pub use accounts::{Account, AccountEdit, AccountRecord, AccountStatus};
pub use callbacks::{AttemptRecord, CallbackRow, CallbackView, NewCallback};
pub use content::Content;
pub use feedback::Feedback;
pub use keys::{ApiKey, KeyType};
pub use media::Media;
pub use messages::{Conditional, MessageEvent, MessageFilter, NextFilter};
pub use stream::{ChangeBatch, MessageChange, MessageHub};

/// Every storage trait, for code that calls store methods on a concrete engine or a generic one
/// (on `dyn Store` the methods resolve without imports).
pub mod prelude {
    pub use super::accounts::AccountStore;
    pub use super::callbacks::CallbackStore;
    pub use super::cluster::ClusterStore;
    pub use super::content::ContentStore;
    pub use super::feedback::FeedbackStore;
    pub use super::keys::KeyStore;
    pub use super::links::LinkStore;
    pub use super::media::MediaStore;
    pub use super::messages::MessageStore;
    pub use super::opt_outs::OptOutStore;
    pub use super::senders::SenderStore;
    pub use super::smpp::SmppStore;
    pub use super::sticky::StickySenderStore;
    pub use super::Store;
}

/// Where a page starts, relative to a message key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// The newest messages.
    Start,
    /// Messages older than this key (the next page).
    After(String),
    /// Messages newer than this key (the previous page).
    Before(String),
}

/// A status change to apply, with the event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Message key (SID without prefix).
    pub key: String,
    /// Status the change requires the message to be in (compare-and-set).
    pub from: Status,
    /// New status.
    pub to: Status,
    /// When it happened, ms.
    pub at_ms: i64,
    /// The error a failed/undelivered message records (its code and message are stored).
    pub error: Option<switchboard_domain::TwilioError>,
    /// Set `date_sent` (on `sent`).
    pub date_sent: Option<i64>,
    /// Set `price` (on `sent`).
    pub price: Option<String>,
    /// Set `carrier_id` (on `sent`).
    pub carrier_id: Option<String>,
    /// Set `from` (a Messaging Service chose the sender).
    pub from_addr: Option<String>,
    /// Set `num_segments` (known once the sender is chosen).
    pub num_segments: Option<u32>,
    /// Replace `body` (`ContentRetention=discard` empties it once final).
    pub body: Option<String>,
    /// Replace `to` (`AddressRetention=obfuscate` masks it once final).
    pub to_addr: Option<String>,
    /// The status callback reporting this change, stored in the same transaction.
    pub callback: Option<NewCallback>,
}

impl Transition {
    /// A bare transition of `key` from one status to another at `at_ms`.
    pub fn new(key: &str, from: Status, to: Status, at_ms: i64) -> Self {
        Transition {
            key: key.to_string(),
            from,
            to,
            at_ms,
            error: None,
            date_sent: None,
            price: None,
            carrier_id: None,
            from_addr: None,
            num_segments: None,
            body: None,
            to_addr: None,
            callback: None,
        }
    }
}

/// What applying a transition did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// False when the message was no longer in the expected status (or is gone).
    pub applied: bool,
    /// The stored callback's id, when one was queued.
    pub callback_id: Option<i64>,
}

/// Storage errors are internal: they become a logged 500, never a detail shown to clients.
pub type StoreResult<T> = Result<T, anyhow::Error>;

/// Everything the server persists: an engine implements each concern's trait, then this one
/// (an empty impl).
pub trait Store:
    prelude::AccountStore
    + prelude::MessageStore
    + prelude::CallbackStore
    + prelude::ClusterStore
    + prelude::FeedbackStore
    + prelude::KeyStore
    + prelude::ContentStore
    + prelude::MediaStore
    + prelude::LinkStore
    + prelude::OptOutStore
    + prelude::StickySenderStore
    + prelude::SenderStore
    + prelude::SmppStore
    + Send
    + Sync
    + 'static
{
}

/// The database cannot take writes now (disk full, I/O error, read-only): the caller should
/// answer "retry later" (503), and background work retries by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the database cannot be written: {}", self.0)
    }
}

impl std::error::Error for Unavailable {}

/// The engine's writer has fallen behind (its queue or its wait exceeds the configured bound):
/// the write was refused **without being made**, and the caller should answer "retry later"
/// (503 with `Retry-After`). Only writes inside [`admission::scope`] are ever refused so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overloaded(pub String);

impl std::fmt::Display for Overloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the database writer is overloaded: {}", self.0)
    }
}

impl std::error::Error for Overloaded {}

/// Which writes an engine may shed under load: those bringing new work (an API request), and
/// only a request's first write, so a refused request has changed nothing and work already
/// accepted (delivery, callbacks, a request's later writes) is always completed.
pub mod admission {
    use std::cell::Cell;

    tokio::task_local! {
        /// Set while a request runs: whether its next write may still be shed.
        static SHEDDABLE: Cell<bool>;
    }

    /// Runs `f` (an API request) with its first write sheddable.
    pub async fn scope<F: std::future::Future>(f: F) -> F::Output {
        SHEDDABLE.scope(Cell::new(true), f).await
    }

    /// Whether the write about to be queued may be shed; later writes of the same request may
    /// not (the answer is consumed).
    pub fn take_sheddable() -> bool {
        SHEDDABLE.try_with(|c| c.replace(false)).unwrap_or(false)
    }
}

/// Options for [`open_with`].
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Test only: a file holding a page limit the SQLite writer applies while running.
    pub page_limit_file: Option<std::path::PathBuf>,
    /// Load shedding: a sheddable write is refused with [`Overloaded`] when this many writes
    /// already wait for the writer (`None`: no bound).
    pub max_write_queue: Option<usize>,
    /// Load shedding: a sheddable write that waited this long for the writer is refused,
    /// unmade, with [`Overloaded`] (`None`: no bound).
    pub max_write_wait: Option<std::time::Duration>,
    /// Test only: the writer sleeps this long before each group commit (a slow disk).
    pub test_writer_delay: Option<std::time::Duration>,
    /// Several nodes: how long a node's lease lasts without renewal, so how soon its peers
    /// take its work over after a crash (`None`: [`cluster::DEFAULT_LEASE`]; SQLite: unused).
    pub node_lease: Option<std::time::Duration>,
    /// Several nodes: this node's stable id across restarts (`None`: a random one; SQLite:
    /// unused). A second live store with the same id on one database is refused.
    pub node_id: Option<String>,
}

/// Opens the store named by `db`: a file path (SQLite) or a `postgres://` URL (PostgreSQL).
pub async fn open(db: &str) -> anyhow::Result<Arc<dyn Store>> {
    open_with(db, OpenOptions::default()).await
}

/// True when `db` names a PostgreSQL database (`postgres://…` or `postgresql://…`).
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// [`open`] with options.
pub async fn open_with(db: &str, options: OpenOptions) -> anyhow::Result<Arc<dyn Store>> {
    if is_postgres_url(db) {
        return Ok(Arc::new(postgres::PgStore::open_with(db, options).await?));
    }
    let path = db.strip_prefix("sqlite://").unwrap_or(db);
    Ok(Arc::new(sqlite::SqliteStore::open_with(path, options).await?))
}

//! Storage: one trait, one implementation per engine.
//!
//! Handlers and the delivery engine only see [`Store`]; `sqlite/` is the embedded engine.
//! To add an engine, implement [`Store`] in a sibling folder and add its URL scheme to
//! [`open`].

pub mod links;
pub mod retention;
pub mod senders;
pub mod sqlite;

use async_trait::async_trait;
use std::sync::Arc;
use switchboard_domain::message::Message;
use switchboard_domain::status::Status;

/// An API account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `AC…`
    pub sid: String,
    /// The auth token (HTTP Basic password, webhook signing key).
    pub auth_token: String,
}

/// Filters of a message list, already parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageFilter {
    /// Exact `to`.
    pub to: Option<String>,
    /// Exact `from`.
    pub from: Option<String>,
    /// Send date (or creation date while unsent) at or after this instant, ms.
    pub sent_from_ms: Option<i64>,
    /// Send date (or creation date while unsent) before this instant, ms.
    pub sent_until_ms: Option<i64>,
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
    /// Error code and message for failed/undelivered.
    pub error: Option<(u32, String)>,
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

/// A recorded status change of a message.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MessageEvent {
    /// When, ms.
    pub at_ms: i64,
    /// Previous status (`None` for the initial one).
    pub from: Option<String>,
    /// New status.
    pub to: String,
    /// Error code, if any.
    pub error_code: Option<u32>,
    /// What happened, for events that are not plain status changes.
    pub detail: Option<String>,
}

/// A message's feedback (the MessageFeedback sub-resource).
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    /// The message.
    pub message_sid: String,
    /// `confirmed` or `unconfirmed`.
    pub outcome: String,
    /// Created, ms.
    pub date_created: i64,
    /// Updated, ms.
    pub date_updated: i64,
}

/// A content template (Twilio's Content API).
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// `HX…`
    pub sid: String,
    /// Owner.
    pub account_sid: String,
    /// Label.
    pub friendly_name: String,
    /// Language code.
    pub language: String,
    /// Default variable values, a JSON object.
    pub variables: String,
    /// The `types` object as JSON (`twilio/text`, `twilio/media`, …).
    pub types: String,
    /// Created, ms.
    pub date_created: i64,
    /// Updated, ms.
    pub date_updated: i64,
}

/// Result of a conditional change (redact, delete, cancel).
#[derive(Debug, Clone, PartialEq)]
pub enum Conditional<T> {
    /// No such message in this account.
    NotFound,
    /// The message exists but its status forbids the change.
    WrongStatus(Status),
    /// Done.
    Done(T),
}

/// A media item (`ME…`) of an MMS message; its bytes are stored beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    /// `ME…`
    pub sid: String,
    /// The message (`MM…`/`SM…`).
    pub message_sid: String,
    /// Owner.
    pub account_sid: String,
    /// MIME type, as the media server answered it.
    pub content_type: String,
    /// Bytes.
    pub size: usize,
    /// Created, ms.
    pub date_created: i64,
    /// Updated, ms.
    pub date_updated: i64,
}

/// Storage errors are internal: they become a logged 500, never a detail shown to clients.
pub type StoreResult<T> = Result<T, anyhow::Error>;

/// Everything the server persists.
#[async_trait]
pub trait Store: senders::SenderStore + links::LinkStore + Send + Sync + 'static {
    /// Creates the account or replaces its token.
    async fn upsert_account(&self, account: Account) -> StoreResult<()>;
    /// Creates the account unless it exists; returns the stored one either way.
    async fn insert_account_if_absent(&self, account: Account) -> StoreResult<Account>;
    /// Every account.
    async fn accounts(&self) -> StoreResult<Vec<Account>>;
    /// One account.
    async fn account(&self, sid: &str) -> StoreResult<Option<Account>>;

    /// Persists a new message durably (group-committed with concurrent inserts).
    async fn insert_message(&self, message: Message) -> StoreResult<()>;
    /// Persists many messages in one transaction (imports, benchmark seeding).
    async fn insert_messages(&self, messages: Vec<Message>) -> StoreResult<()>;
    /// A message of an account by SID.
    async fn message(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Message>>;
    /// Up to `limit` messages newest first (relative to the cursor).
    async fn list_messages(
        &self,
        account_sid: &str,
        filter: &MessageFilter,
        cursor: &Cursor,
        limit: usize,
    ) -> StoreResult<Vec<Message>>;
    /// Empties the body of a message in a final state.
    async fn redact_message(&self, account_sid: &str, sid: &str, now_ms: i64) -> StoreResult<Conditional<Message>>;
    /// Deletes a message in a final state, with its events.
    async fn delete_message(&self, account_sid: &str, sid: &str) -> StoreResult<Conditional<()>>;

    /// Applies status transitions (each only if the message is still in `from`), storing
    /// their callbacks in the same transaction.
    async fn apply_transitions(&self, transitions: Vec<Transition>) -> StoreResult<Vec<Applied>>;
    /// The message a carrier knows by `carrier_id`.
    async fn message_by_carrier_id(&self, carrier_id: &str) -> StoreResult<Option<Message>>;

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
    /// Outbound messages not yet handed to the carrier or awaiting a receipt, oldest first
    /// (to resume after a restart).
    async fn unfinished_outbound(&self) -> StoreResult<Vec<Message>>;
    /// Deletes up to `limit` messages created before `cutoff_ms` that are done with (final or
    /// `sent`), with their events and callbacks; returns how many went.
    async fn purge_messages_before(&self, cutoff_ms: i64, limit: usize) -> StoreResult<usize>;
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
    /// True when `from` (a handset address) sent the account a message since `since_ms`.
    async fn has_inbound_since(&self, account_sid: &str, from: &str, since_ms: i64) -> StoreResult<bool>;
    /// Stores a content template.
    async fn insert_content(&self, content: Content) -> StoreResult<()>;
    /// A content template of the account.
    async fn content(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Content>>;
    /// The account's templates, oldest first, keyset-paged by SID.
    async fn list_contents(&self, account_sid: &str, cursor: &Cursor, limit: usize) -> StoreResult<Vec<Content>>;
    /// Deletes a template; false when the account has none by that SID.
    async fn delete_content(&self, account_sid: &str, sid: &str) -> StoreResult<bool>;
    /// Inbound messages whose processing a restart interrupted, oldest first.
    async fn receiving_inbound(&self) -> StoreResult<Vec<Message>>;
    /// Records a note in a message's history (a webhook failure, invalid TwiML) without
    /// changing its status.
    async fn add_message_note(
        &self,
        key: &str,
        at_ms: i64,
        status: Status,
        error_code: Option<u32>,
        detail: String,
    ) -> StoreResult<()>;
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
    /// The status history of a message.
    async fn message_events(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Vec<MessageEvent>>>;
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

/// Opens the store named by `db`: a file path (SQLite) or, later, a `postgres://` URL.
pub async fn open(db: &str) -> anyhow::Result<Arc<dyn Store>> {
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        anyhow::bail!("the PostgreSQL engine is not available in this build yet; use a SQLite file path for --db");
    }
    let path = db.strip_prefix("sqlite://").unwrap_or(db);
    Ok(Arc::new(sqlite::SqliteStore::open(path).await?))
}

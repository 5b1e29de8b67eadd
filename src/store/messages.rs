//! Messages and their status history.

use super::{Applied, Cursor, MessageChange, StoreResult, Transition};
use async_trait::async_trait;
use switchboard_domain::message::Message;
use switchboard_domain::status::{Direction, Status};

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
    /// Current status (the inbox's `status:`).
    pub status: Option<Status>,
    /// Direction (the inbox's `direction:`).
    pub direction: Option<Direction>,
    /// Substrings the body must all contain (the inbox's `body:` and plain words).
    pub body_contains: Vec<String>,
}

/// What the wait API (`Messages/Next.json`) waits for, already parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NextFilter {
    /// Exact `to`.
    pub to: Option<String>,
    /// Exact `from`.
    pub from: Option<String>,
    /// Direction.
    pub direction: Option<Direction>,
    /// The status the message must have reached (be in now).
    pub status: Option<Status>,
    /// A substring of the body (case-sensitive).
    pub body_contains: Option<String>,
    /// Only messages created after this message key count.
    pub after_key: Option<String>,
}

impl NextFilter {
    /// Whether `m` (a message of the right account) answers the wait.
    pub fn matches(&self, m: &Message) -> bool {
        self.to.as_ref().is_none_or(|v| *v == m.to)
            && self.from.as_ref().is_none_or(|v| m.from.as_deref() == Some(v.as_str()))
            && self.direction.is_none_or(|d| d == m.direction)
            && self.status.is_none_or(|s| s == m.status)
            && self.body_contains.as_ref().is_none_or(|b| m.body.contains(b.as_str()))
            && self.after_key.as_ref().is_none_or(|k| m.key() > k.as_str())
    }
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

/// Message storage: the records, their lifecycle and their history.
#[async_trait]
pub trait MessageStore: Send + Sync {
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
    /// Empties the body of a message that has left the queue (`Status::can_be_redacted`).
    async fn redact_message(&self, account_sid: &str, sid: &str, now_ms: i64) -> StoreResult<Conditional<Message>>;
    /// Deletes a message that is done with (`Message::is_done_with(receipt_cutoff_ms)`: final,
    /// or `sent` before the cut-off), with its events.
    async fn delete_message(
        &self,
        account_sid: &str,
        sid: &str,
        receipt_cutoff_ms: i64,
    ) -> StoreResult<Conditional<()>>;

    /// Applies status transitions (each only if the message is still in `from`), storing
    /// their callbacks in the same transaction.
    async fn apply_transitions(&self, transitions: Vec<Transition>) -> StoreResult<Vec<Applied>>;
    /// The message a carrier knows by `carrier_id`.
    async fn message_by_carrier_id(&self, carrier_id: &str) -> StoreResult<Option<Message>>;
    /// Outbound messages not yet handed to the carrier or awaiting a receipt, oldest first
    /// (to resume after a restart).
    async fn unfinished_outbound(&self) -> StoreResult<Vec<Message>>;
    /// Inbound messages whose processing a restart interrupted, oldest first.
    async fn receiving_inbound(&self) -> StoreResult<Vec<Message>>;
    /// Deletes up to `limit` messages created before `cutoff_ms` that are done with (final, or
    /// `sent` before `receipt_cutoff_ms`), with their events and callbacks; returns how many went.
    async fn purge_messages_before(&self, cutoff_ms: i64, receipt_cutoff_ms: i64, limit: usize) -> StoreResult<usize>;
    /// True when `from` (a handset address) sent the account a message since `since_ms`.
    async fn has_inbound_since(&self, account_sid: &str, from: &str, since_ms: i64) -> StoreResult<bool>;

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
    /// The status history of a message.
    async fn message_events(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Vec<MessageEvent>>>;

    /// Every commit's message changes from now on (creates and status changes of all accounts).
    fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<std::sync::Arc<super::ChangeBatch>>;
    /// Up to `limit` changes of the account's messages after event `after_id`, oldest first
    /// (to replay a stream): each carries the message as stored now, with the status and
    /// `date_updated` of that event.
    async fn message_changes_after(
        &self,
        account_sid: &str,
        after_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<MessageChange>>;
    /// The message of the account that answers `filter`: with a cursor the oldest match
    /// created after it, without one the newest match.
    async fn next_message(&self, account_sid: &str, filter: &NextFilter) -> StoreResult<Option<Message>>;
}

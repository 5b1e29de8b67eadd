//! The live feed of message changes: every create and status change, numbered by its row in
//! `message_events`, published by the engine right after the commit that made it durable.
//!
//! A `tokio::sync::broadcast` channel of one item per commit: publishing never waits, so a slow
//! subscriber never slows the writer; a subscriber that falls behind by more than [`CAPACITY`]
//! commits sees `Lagged` and must resync from the store (`MessageStore::message_changes_after`).

use std::sync::Arc;
use switchboard_domain::message::Message;
use tokio::sync::broadcast;

/// Commits a subscriber may fall behind by before it must resync from the store.
pub const CAPACITY: usize = 4096;

/// One change of a message: the durable event number and the message as it is after it.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageChange {
    /// The event's row id in `message_events`: durable and increasing.
    pub id: i64,
    /// The message after the change.
    pub message: Message,
    /// The change as its readers present it, made once by the first of them: with many
    /// subscribers, each change is rendered once, not once per subscriber.
    pub rendered: std::sync::OnceLock<bytes::Bytes>,
}

impl MessageChange {
    /// A change not yet rendered.
    pub fn new(id: i64, message: Message) -> Self {
        MessageChange { id, message, rendered: std::sync::OnceLock::new() }
    }
}

/// The changes of one commit, in order. A commit carries many changes under load, so
/// subscribers wake once per commit rather than once per change.
#[derive(Debug)]
pub struct ChangeBatch {
    /// The changes, by increasing id.
    pub changes: Vec<MessageChange>,
    /// The account of every change when they all belong to one (the usual case), found once
    /// here: a subscriber then keeps or skips the whole batch with one comparison instead of
    /// one per change.
    pub account: Option<String>,
    /// The whole batch as its readers present it, made once by the first of them (the
    /// common case of one account's stream reading every change of the batch).
    pub rendered: std::sync::OnceLock<bytes::Bytes>,
}

/// The broadcast side of the feed; cheap to clone.
#[derive(Clone)]
pub struct MessageHub {
    tx: broadcast::Sender<Arc<ChangeBatch>>,
}

impl Default for MessageHub {
    fn default() -> Self {
        Self::new(CAPACITY)
    }
}

impl MessageHub {
    /// A hub whose subscribers may fall `capacity` events behind.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self { tx }
    }

    /// A receiver of every commit's changes published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeBatch>> {
        self.tx.subscribe()
    }

    /// Whether anyone listens now (a peer's changes need not be loaded otherwise).
    pub fn has_subscribers(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Publishes one commit's changes (no subscriber is fine).
    pub fn publish(&self, changes: Vec<MessageChange>) {
        if changes.is_empty() || self.tx.receiver_count() == 0 {
            return;
        }
        let first = &changes[0].message.account_sid;
        let account = changes.iter().all(|c| c.message.account_sid == *first).then(|| first.clone());
        let _ = self.tx.send(Arc::new(ChangeBatch { changes, account, rendered: std::sync::OnceLock::new() }));
    }
}

//! Several nodes on one database: who owns which unfinished work, the node leases that say
//! who is alive, global per-sender send rates, singleton jobs, and the wake-ups peers send.
//!
//! The design, in one paragraph (docs/operations.md has the long version): every node holds a
//! lease (`nodes` row with an expiry it renews every third of the lease time). Work is owned
//! by the node that made it — a message by the node that accepted it, a status callback by
//! the node that applied its change — and that node processes it from memory, as a single
//! node does. When a node's lease expires (it crashed, or lost the database for longer than
//! the lease) or it leaves (shutdown), the first peer to look claims its unfinished messages and
//! unsent callbacks in one transaction (row locks make the claim exclusive) and resumes them.
//! Per-sender rates are global: each send of a paced sender reserves the next slot of one row
//! per sender, updated atomically in the database, so the sum over nodes stays at the rate.
//!
//! SQLite is one node: its lease never expires, nothing is ever orphaned, and its send slots and
//! singleton leases live in memory. The trait is the same for both engines.

use super::{CallbackRow, StoreResult};
use async_trait::async_trait;
use std::time::Duration;
use switchboard_domain::message::Message;

/// The default lease time: a crashed node's work is taken over within this (plus one renewal
/// period, a third of it).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

/// A wake-up from a peer (PostgreSQL `NOTIFY`); SQLite sends none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A node left (shut down): its work is orphaned now, take it over without waiting.
    NodeLeft,
    /// An account or an API key changed on some node: drop what is cached about credentials.
    Credentials,
    /// A simulator rule was added or removed on some node: reload the stored rules.
    SimulatorRules,
}

/// Unfinished work claimed from nodes that are gone.
#[derive(Debug, Default)]
pub struct Orphans {
    /// Outbound messages not yet final (queued, scheduled, sending, sent awaiting a receipt…).
    pub outbound: Vec<Message>,
    /// Inbound messages whose webhook had not finished.
    pub inbound: Vec<Message>,
    /// Status callbacks not yet sent, in outbox order.
    pub callbacks: Vec<CallbackRow>,
}

impl Orphans {
    /// True when nothing was claimed.
    pub fn is_empty(&self) -> bool {
        self.outbound.is_empty() && self.inbound.is_empty() && self.callbacks.is_empty()
    }
}

/// Cluster coordination through the database.
#[async_trait]
pub trait ClusterStore: Send + Sync {
    /// This node's id (its lease's name; the owner of the work it makes).
    fn node_id(&self) -> &str;
    /// How long this node's lease lasts without renewal; `None` when the engine is single-node
    /// (then there is nothing to renew or take over).
    fn lease_time(&self) -> Option<Duration>;
    /// Renews this node's lease (re-creating it if a peer thought the node gone).
    async fn renew_lease(&self) -> StoreResult<()>;
    /// Ends this node's lease now (at shutdown) and tells the peers, who take its unfinished
    /// work over at once.
    async fn release_lease(&self) -> StoreResult<()>;
    /// Claims the unfinished work of every node whose lease expired or ended (and of none: rows
    /// from before several nodes, or copied by `copy-db`), for this node.
    async fn take_over_orphans(&self) -> StoreResult<Orphans>;
    /// Reserves the next send slot of `sender`, whose sends are `interval` apart across all
    /// nodes; returns how long to wait before sending (zero when the sender was idle).
    async fn reserve_send_slot(&self, sender: &str, interval: Duration) -> StoreResult<Duration>;
    /// Takes or keeps the singleton lease `name` (a job one node at a time runs, such as the
    /// retention sweep) for `ttl`; true when this node holds it.
    async fn hold_singleton(&self, name: &str, ttl: Duration) -> StoreResult<bool>;
    /// Tells every node (this one included) that `signal` happened.
    async fn signal(&self, signal: Signal) -> StoreResult<()>;
    /// Wake-ups from peers, from now on.
    fn subscribe_signals(&self) -> tokio::sync::broadcast::Receiver<Signal>;

    /// The simulator's runtime rules (JSON, as the simulator wrote them), in the order added;
    /// shared by every node on the database (SQLite: this process's, kept in memory as before).
    async fn simulator_rules(&self) -> StoreResult<Vec<String>>;
    /// Adds a runtime simulator rule of `account_sid` after the others.
    async fn add_simulator_rule(&self, account_sid: &str, rule_json: String) -> StoreResult<()>;
    /// Removes the account's `nth` runtime rule (0 = its first), or all of them (`None`);
    /// false when there was no such rule.
    async fn remove_simulator_rules(&self, account_sid: &str, nth: Option<usize>) -> StoreResult<bool>;
}

/// A GCRA slot reservation in memory (the single-node engine's send slots): the sender's
/// next free instant moves by `interval` per send; returns the wait for this send.
pub fn reserve_in_memory(
    slots: &std::sync::Mutex<std::collections::HashMap<String, tokio::time::Instant>>,
    sender: &str,
    interval: Duration,
) -> Duration {
    let now = tokio::time::Instant::now();
    let Ok(mut slots) = slots.lock() else { return Duration::ZERO };
    let next = slots.entry(sender.to_string()).or_insert(now);
    let slot = (*next).max(now);
    *next = slot + interval;
    // Forget idle senders now and then, so the map holds only senders sending lately.
    if slots.len() > 10_000 {
        slots.retain(|_, at| *at > now);
    }
    slot - now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn in_memory_slots_space_sends_by_their_interval_and_an_idle_sender_starts_at_once() {
        let slots = std::sync::Mutex::default();
        let i = Duration::from_millis(100);
        assert_eq!(reserve_in_memory(&slots, "a", i), Duration::ZERO);
        assert_eq!(reserve_in_memory(&slots, "a", i), i);
        assert_eq!(reserve_in_memory(&slots, "a", i), 2 * i);
        assert_eq!(reserve_in_memory(&slots, "b", i), Duration::ZERO, "senders are independent");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(reserve_in_memory(&slots, "a", i), Duration::ZERO, "idle long enough: no wait");
    }
}

//! The node's part in a cluster of nodes on one database (see `store/cluster.rs` for the
//! design): renews this node's lease, takes over the work of nodes that are gone (at once when
//! a peer says it left, otherwise when its lease lapses), and applies what peers signal (a
//! changed credential drops the cache, changed simulator rules are reloaded). On SQLite (one
//! node) only the signals apply.

use crate::delivery::simulator::Simulator;
use crate::delivery::Dispatcher;
use crate::inbound::Inbound;
use crate::store::cluster::Signal;
use crate::store::tokens::AccountTokens;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// What the service drives.
pub struct Cluster {
    /// The shared store.
    pub store: Arc<dyn Store>,
    /// Outbound delivery and callbacks of this node.
    pub dispatcher: Dispatcher,
    /// Inbound processing of this node.
    pub inbound: Arc<Inbound>,
    /// The credentials cache, dropped when a peer changes an account or a key.
    pub tokens: Arc<AccountTokens>,
    /// The carrier simulator, whose runtime rules are reloaded when a peer changes them.
    pub simulator: Arc<Simulator>,
}

impl Cluster {
    /// Takes over the work of nodes that are gone (and of none); returns how many messages and
    /// callbacks it adopted.
    pub async fn take_over(&self) -> anyhow::Result<usize> {
        let orphans = self.store.take_over_orphans().await?;
        if orphans.is_empty() {
            return Ok(0);
        }
        let inbound = orphans.inbound.len();
        let (messages, callbacks) = self.dispatcher.adopt(orphans.callbacks, orphans.outbound);
        self.inbound.adopt(orphans.inbound).await?;
        tracing::info!(messages, callbacks, inbound, "took over the work of nodes that are gone");
        crate::metrics::work_taken_over(messages + callbacks + inbound);
        Ok(messages + callbacks + inbound)
    }

    /// Runs until the process ends: every third of the lease, renew it and look for orphaned
    /// work; on a peer's signal, act at once.
    pub fn start(self) -> tokio::task::JoinHandle<()> {
        let mut signals = self.store.subscribe_signals();
        tokio::spawn(async move {
            let every = self.store.lease_time().map(|lease| lease / 3);
            let mut tick = tokio::time::interval(every.unwrap_or(Duration::from_secs(3600)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if every.is_some() {
                            self.renew_and_look().await;
                        }
                    }
                    signal = signals.recv() => match signal {
                        Ok(Signal::Credentials) => self.tokens.forget_all(),
                        Ok(Signal::NodeLeft) => self.look().await,
                        Ok(Signal::SimulatorRules) => self.reload_rules().await,
                        // Missed some: act on all of them.
                        Err(RecvError::Lagged(_)) => {
                            self.tokens.forget_all();
                            self.reload_rules().await;
                            self.look().await;
                        }
                        Err(RecvError::Closed) => return,
                    }
                }
            }
        })
    }

    async fn renew_and_look(&self) {
        if let Err(e) = self.store.renew_lease().await {
            tracing::warn!(error = %format!("{e:#}"), "node lease not renewed");
            return;
        }
        self.look().await;
    }

    async fn reload_rules(&self) {
        if let Err(e) = self.simulator.reload_rules(self.store.as_ref()).await {
            tracing::warn!(error = %format!("{e:#}"), "reloading the simulator rules failed");
        }
    }

    async fn look(&self) {
        if let Err(e) = self.take_over().await {
            tracing::warn!(error = %format!("{e:#}"), "looking for orphaned work failed; will retry");
        }
    }
}

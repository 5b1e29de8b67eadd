//! Cluster coordination on SQLite: one node per database file, so the lease never expires,
//! nothing is ever orphaned (a restart resumes everything), and send slots, singleton leases
//! and signals stay in this process.

use super::SqliteStore;
use crate::store::cluster::{reserve_in_memory, ClusterStore, Orphans, Signal};
use crate::store::StoreResult;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

/// The one node's coordination state.
pub(crate) struct Local {
    slots: Mutex<HashMap<String, Instant>>,
    signals: broadcast::Sender<Signal>,
    /// The simulator's runtime rules: (account, JSON), in the order added (not persisted, as
    /// before several nodes existed).
    rules: Mutex<Vec<(String, String)>>,
}

impl Default for Local {
    fn default() -> Self {
        Local { slots: Mutex::default(), signals: broadcast::channel(64).0, rules: Mutex::default() }
    }
}

#[async_trait]
impl ClusterStore for SqliteStore {
    fn node_id(&self) -> &str {
        "sqlite"
    }

    fn lease_time(&self) -> Option<Duration> {
        None
    }

    async fn renew_lease(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn release_lease(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn take_over_orphans(&self) -> StoreResult<Orphans> {
        Ok(Orphans::default())
    }

    async fn reserve_send_slot(&self, sender: &str, interval: Duration) -> StoreResult<Duration> {
        Ok(reserve_in_memory(&self.cluster.slots, sender, interval))
    }

    async fn hold_singleton(&self, _name: &str, _ttl: Duration) -> StoreResult<bool> {
        Ok(true)
    }

    async fn signal(&self, signal: Signal) -> StoreResult<()> {
        let _ = self.cluster.signals.send(signal);
        Ok(())
    }

    fn subscribe_signals(&self) -> broadcast::Receiver<Signal> {
        self.cluster.signals.subscribe()
    }

    async fn simulator_rules(&self) -> StoreResult<Vec<String>> {
        let rules = self.cluster.rules.lock().map_err(|_| anyhow::anyhow!("simulator rules lock poisoned"))?;
        Ok(rules.iter().map(|(_, json)| json.clone()).collect())
    }

    async fn add_simulator_rule(&self, account_sid: &str, rule_json: String) -> StoreResult<()> {
        let mut rules = self.cluster.rules.lock().map_err(|_| anyhow::anyhow!("simulator rules lock poisoned"))?;
        rules.push((account_sid.to_string(), rule_json));
        Ok(())
    }

    async fn remove_simulator_rules(&self, account_sid: &str, nth: Option<usize>) -> StoreResult<bool> {
        let mut rules = self.cluster.rules.lock().map_err(|_| anyhow::anyhow!("simulator rules lock poisoned"))?;
        let before = rules.len();
        match nth {
            None => rules.retain(|(account, _)| account != account_sid),
            Some(n) => {
                let at = rules.iter().enumerate().filter(|(_, (a, _))| a == account_sid).nth(n).map(|(i, _)| i);
                if let Some(i) = at {
                    rules.remove(i);
                }
            }
        }
        Ok(rules.len() < before)
    }
}

//! Several nodes on one PostgreSQL database (see `store/cluster.rs` for the design): node
//! leases in `nodes`, claims of orphaned work, send slots in `send_slots`, singleton leases, and
//! the `LISTEN`/`NOTIFY` channel the nodes wake each other on.
//!
//! Lease statements run on a pooled connection, outside the group commit: a writer backlog
//! must not delay a renewal long enough for peers to think this node gone. Times are the
//! database's (`now()`, `clock_timestamp()`), so clock skew between nodes does not matter.
//!
//! The channel (`switchboard_<schema>`) carries short text payloads:
//! - `credentials`: an account or key changed (sent by a trigger at the change's commit);
//! - `rules`: a simulator rule was added or removed (`simulator_rules`);
//! - `left <node>`: a node ended its lease (shutdown), its work can be taken over now;
//! - `m <node> <ids>`: the message events a commit of `<node>` made (id ranges `a-b,c`); the
//!   other nodes load them and publish them to their own feed (event stream, wait API).

use super::engine::{execute, query, query_one, Conn, PgStore};
use super::rows::{change_columns, change_from_row, m_columns, messages};
use crate::store::cluster::{ClusterStore, Orphans, Signal};
use crate::store::{MessageChange, MessageHub, StoreResult};
use async_trait::async_trait;
use deadpool_postgres::Pool;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_postgres::AsyncMessage;

/// Longest payload PostgreSQL accepts is 8000 bytes; stay well under it.
const MAX_PAYLOAD: usize = 7000;

/// The `NOTIFY` statements announcing a commit's message events, for the simple query that
/// commits it (delivered to listeners at the commit, in commit order). Empty without events.
pub(super) fn notify_changes(channel: &str, node: &str, changes: &[MessageChange]) -> String {
    let mut ids: Vec<i64> = changes.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut statements = String::new();
    let mut payload = String::new();
    let mut i = 0;
    while i < ids.len() {
        let start = ids[i];
        let mut end = start;
        while i + 1 < ids.len() && ids[i + 1] == end + 1 {
            i += 1;
            end = ids[i];
        }
        i += 1;
        let range = if start == end { start.to_string() } else { format!("{start}-{end}") };
        if payload.len() + range.len() > MAX_PAYLOAD {
            // Channel and node are our own identifier-safe text; the payload is digits.
            statements.push_str(&format!("NOTIFY \"{channel}\", 'm {node} {payload}'; "));
            payload.clear();
        }
        if !payload.is_empty() {
            payload.push(',');
        }
        payload.push_str(&range);
    }
    if !payload.is_empty() {
        statements.push_str(&format!("NOTIFY \"{channel}\", 'm {node} {payload}'; "));
    }
    statements
}

/// The event ids of a `m` payload's ranges (at most a few thousand: one commit's).
fn parse_ranges(text: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    for part in text.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<i64>(), b.parse::<i64>()) {
            if b >= a && b - a < 100_000 {
                ids.extend(a..=b);
            }
        }
    }
    ids
}

/// What the listener needs.
pub(super) struct Listener {
    pub(super) config: tokio_postgres::Config,
    pub(super) tls: tokio_postgres_rustls::MakeRustlsConnect,
    pub(super) channel: Arc<str>,
    pub(super) node: Arc<str>,
    pub(super) pool: Pool,
    pub(super) hub: MessageHub,
    pub(super) signals: broadcast::Sender<Signal>,
}

impl Listener {
    /// Listens on the channel for as long as the process runs, reconnecting with backoff. After
    /// a reconnect, notifications may have been missed: the caches are dropped and a takeover
    /// look is made, as if both had been signalled.
    pub(super) async fn run(self) {
        let mut backoff = crate::backoff::Backoff::exponential(Duration::from_millis(100), Duration::from_secs(5));
        let mut first = true;
        loop {
            match self.listen_once(&mut first).await {
                Ok(()) => tracing::warn!("the PostgreSQL notification connection closed; reconnecting"),
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "PostgreSQL notifications unavailable; retrying"),
            }
            backoff.wait().await;
        }
    }

    async fn listen_once(&self, first: &mut bool) -> anyhow::Result<()> {
        let (client, mut connection) = self.config.connect(self.tls.clone()).await?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        if tx.send(n.payload().to_string()).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "PostgreSQL notification connection ended");
                        return;
                    }
                }
            }
        });
        client.batch_execute(&format!("LISTEN \"{}\"", self.channel)).await?;
        if !std::mem::replace(first, false) {
            let _ = self.signals.send(Signal::Credentials);
            let _ = self.signals.send(Signal::SimulatorRules);
            let _ = self.signals.send(Signal::NodeLeft);
        }
        while let Some(payload) = rx.recv().await {
            self.on_notification(&payload).await;
        }
        drop(client);
        driver.abort();
        Ok(())
    }

    async fn on_notification(&self, payload: &str) {
        let mut words = payload.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("credentials"), _, _) => {
                let _ = self.signals.send(Signal::Credentials);
            }
            (Some("rules"), _, _) => {
                let _ = self.signals.send(Signal::SimulatorRules);
            }
            (Some("left"), Some(node), _) if node != &*self.node => {
                let _ = self.signals.send(Signal::NodeLeft);
            }
            (Some("m"), Some(node), Some(ranges)) if node != &*self.node => {
                // Nobody on this node watches the feed: nothing to load.
                if !self.hub.has_subscribers() {
                    return;
                }
                let ids = parse_ranges(ranges);
                match self.load(ids).await {
                    Ok(changes) => self.hub.publish(changes),
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "loading a peer's message changes"),
                }
            }
            _ => {}
        }
    }

    /// The message changes of events `ids`, as the feed carries them.
    async fn load(&self, ids: Vec<i64>) -> anyhow::Result<Vec<MessageChange>> {
        let conn = self.pool.get().await?;
        changes_by_id(&conn, &ids).await
    }
}

/// The changes of events `ids` (creates and status changes), by id: the message as stored now,
/// with the status and `date_updated` of the event.
async fn changes_by_id(c: &Conn, ids: &[i64]) -> anyhow::Result<Vec<MessageChange>> {
    let columns = change_columns();
    let sql = format!(
        "SELECT {columns} FROM message_events e JOIN messages m ON m.key = e.key
         WHERE e.id = ANY($1) AND (e.from_status IS NULL OR e.from_status != e.to_status) ORDER BY e.id"
    );
    query(c, &sql, &[&ids]).await?.iter().map(change_from_row).collect()
}

/// Creates or renews `node`'s lease; true when the row was missing (a peer deemed the node
/// gone and took its work over, or this is the first renewal).
pub(super) async fn renew(c: &Conn, node: &str, lease: Duration) -> anyhow::Result<bool> {
    let secs = lease.as_secs_f64();
    let row = query_one(
        c,
        "INSERT INTO nodes (node_id, expires_at) VALUES ($1, now() + $2::float8 * interval '1 second')
         ON CONFLICT (node_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
         RETURNING (xmax = 0)",
        &[&node, &secs],
    )
    .await?;
    Ok(row.try_get(0)?)
}

/// Claims, for `node`, the unfinished work of nodes without a live lease (deleting the expired
/// leases first). `SKIP LOCKED`: two peers claiming at once never wait on each other, and a row
/// the other already claimed is left to it.
async fn claim(c: &Conn, node: &str) -> anyhow::Result<Orphans> {
    execute(c, "DELETE FROM nodes WHERE expires_at < now()", &[]).await?;
    let orphaned = "(owner IS NULL OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.node_id = owner))";
    let columns = m_columns();
    // Unfinished messages are the rows of `unfinished` (no index names `status`); the status
    // is checked again on the locked row.
    let claim_where = |statuses: &str| {
        format!(
            "WITH claim AS (
                 SELECT m.key FROM unfinished u JOIN messages m ON m.key = u.key
                 WHERE m.status IN ({statuses}) AND {orphaned}
                 FOR UPDATE OF m SKIP LOCKED)
             UPDATE messages m SET owner = $1 FROM claim WHERE m.key = claim.key RETURNING {columns}"
        )
    };
    let outbound = query(c, &claim_where("'queued', 'sending', 'sent', 'accepted', 'scheduled'"), &[&node]).await?;
    let inbound = query(c, &claim_where("'receiving'"), &[&node]).await?;
    let callback_ids: Vec<i64> = query(
        c,
        &format!(
            "WITH claim AS (
                 SELECT id FROM callbacks WHERE state = 'pending' AND {orphaned} FOR UPDATE SKIP LOCKED)
             UPDATE callbacks cb SET owner = $1 FROM claim WHERE cb.id = claim.id RETURNING cb.id"
        ),
        &[&node],
    )
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    let mut outbound = messages(outbound)?;
    outbound.retain(|m| m.direction != switchboard_domain::status::Direction::Inbound);
    outbound.sort_by(|a, b| a.sid[2..].cmp(&b.sid[2..]));
    let mut inbound = messages(inbound)?;
    inbound.sort_by(|a, b| a.sid[2..].cmp(&b.sid[2..]));
    let callbacks = super::callbacks::callbacks_by_id(c, &callback_ids).await?;
    Ok(Orphans { outbound, inbound, callbacks })
}

#[async_trait]
impl ClusterStore for PgStore {
    fn node_id(&self) -> &str {
        &self.node
    }

    fn lease_time(&self) -> Option<Duration> {
        Some(self.lease)
    }

    async fn renew_lease(&self) -> StoreResult<()> {
        let (node, lease) = (self.node.clone(), self.lease);
        let missing = self.read(move |c| Box::pin(async move { renew(c, &node, lease).await })).await?;
        if missing {
            tracing::warn!(
                node = %self.node,
                "this node's lease had expired: peers may have taken its work over (it may be done twice)"
            );
        }
        Ok(())
    }

    async fn release_lease(&self) -> StoreResult<()> {
        let (node, channel) = (self.node.clone(), self.channel.clone());
        self.read(move |c| {
            Box::pin(async move {
                execute(c, "DELETE FROM nodes WHERE node_id = $1", &[&&*node]).await?;
                execute(c, "SELECT pg_notify($1, $2)", &[&&*channel, &format!("left {node}")]).await?;
                Ok(())
            })
        })
        .await
    }

    async fn take_over_orphans(&self) -> StoreResult<Orphans> {
        let node = self.node.clone();
        self.read(move |c| Box::pin(async move { claim(c, &node).await })).await
    }

    async fn reserve_send_slot(&self, sender: &str, interval: Duration) -> StoreResult<Duration> {
        let sender = sender.to_string();
        let us = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX);
        let wait_us: i64 = self
            .read(move |c| {
                Box::pin(async move {
                    // GCRA: the slot is the later of the sender's next free instant and now; the
                    // next free instant moves one interval past it. One atomic upsert.
                    let row = query_one(
                        c,
                        "WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT AS t)
                         INSERT INTO send_slots AS s (sender, next_us) SELECT $1, t + $2 FROM now
                         ON CONFLICT (sender) DO UPDATE
                             SET next_us = GREATEST(s.next_us, (SELECT t FROM now)) + $2
                         RETURNING next_us - $2 - (SELECT t FROM now)",
                        &[&sender, &us],
                    )
                    .await?;
                    Ok(row.try_get(0)?)
                })
            })
            .await?;
        Ok(Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)))
    }

    async fn hold_singleton(&self, name: &str, ttl: Duration) -> StoreResult<bool> {
        let (name, node) = (name.to_string(), self.node.clone());
        let secs = ttl.as_secs_f64();
        self.read(move |c| {
            Box::pin(async move {
                let held = query(
                    c,
                    "INSERT INTO singleton_leases AS l (name, node_id, expires_at)
                     VALUES ($1, $2, now() + $3::float8 * interval '1 second')
                     ON CONFLICT (name) DO UPDATE SET node_id = EXCLUDED.node_id, expires_at = EXCLUDED.expires_at
                         WHERE l.node_id = EXCLUDED.node_id OR l.expires_at < now()
                     RETURNING node_id",
                    &[&name, &&*node, &secs],
                )
                .await?;
                Ok(!held.is_empty())
            })
        })
        .await
    }

    async fn signal(&self, signal: Signal) -> StoreResult<()> {
        let payload = match signal {
            Signal::Credentials => "credentials".to_string(),
            Signal::SimulatorRules => "rules".to_string(),
            Signal::NodeLeft => format!("left {}", self.node),
        };
        // This node hears it at once; the peers through the channel.
        let _ = self.signals.send(signal);
        let channel = self.channel.clone();
        self.read(move |c| {
            Box::pin(async move {
                execute(c, "SELECT pg_notify($1, $2)", &[&&*channel, &payload]).await?;
                Ok(())
            })
        })
        .await
    }

    fn subscribe_signals(&self) -> broadcast::Receiver<Signal> {
        self.signals.subscribe()
    }

    async fn simulator_rules(&self) -> StoreResult<Vec<String>> {
        self.read(|c| {
            Box::pin(async move {
                let rows = query(c, "SELECT rule FROM simulator_rules ORDER BY id", &[]).await?;
                rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
            })
        })
        .await
    }

    async fn add_simulator_rule(&self, account_sid: &str, rule_json: String) -> StoreResult<()> {
        let account = account_sid.to_string();
        self.write(move |c| {
            Box::pin(async move {
                execute(c, "INSERT INTO simulator_rules (account_sid, rule) VALUES ($1, $2)", &[&account, &rule_json])
                    .await?;
                Ok(())
            })
        })
        .await
    }

    async fn remove_simulator_rules(&self, account_sid: &str, nth: Option<usize>) -> StoreResult<bool> {
        let account = account_sid.to_string();
        let nth = nth.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        self.write(move |c| {
            Box::pin(async move {
                let removed = match nth {
                    None => execute(c, "DELETE FROM simulator_rules WHERE account_sid = $1", &[&account]).await?,
                    Some(n) => {
                        execute(
                            c,
                            "DELETE FROM simulator_rules WHERE id = (
                                 SELECT id FROM simulator_rules WHERE account_sid = $1 ORDER BY id OFFSET $2 LIMIT 1)",
                            &[&account, &n],
                        )
                        .await?
                    }
                };
                Ok(removed > 0)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commits_event_ids_travel_as_ranges_and_come_back_whole() {
        let keys = switchboard_domain::sid::KeyGenerator::new();
        let m = crate::store::conformance::outbound(&keys, "AC1", "+14155552671", 1);
        let changes: Vec<_> = [5, 6, 7, 9, 12, 13].iter().map(|id| MessageChange::new(*id, m.clone())).collect();
        let sql = notify_changes("switchboard_public", "n1", &changes);
        assert_eq!(sql, "NOTIFY \"switchboard_public\", 'm n1 5-7,9,12-13'; ");
        assert_eq!(parse_ranges("5-7,9,12-13"), [5, 6, 7, 9, 12, 13]);
        assert!(notify_changes("c", "n", &[]).is_empty());
    }

    #[test]
    fn a_commit_with_many_scattered_events_is_announced_in_payloads_postgresql_accepts() {
        let keys = switchboard_domain::sid::KeyGenerator::new();
        let m = crate::store::conformance::outbound(&keys, "AC1", "+14155552671", 1);
        let changes: Vec<_> = (0..3000).map(|i| MessageChange::new(1_000_000_000 + 2 * i, m.clone())).collect();
        let sql = notify_changes("switchboard_public", "n1", &changes);
        let statements: Vec<&str> = sql.split("; ").filter(|s| !s.is_empty()).collect();
        assert!(statements.len() > 1);
        let mut back = Vec::new();
        for s in statements {
            let payload = s.split('\'').nth(1).unwrap();
            assert!(payload.len() < 8000);
            back.extend(parse_ranges(payload.trim_start_matches("m n1 ")));
        }
        assert_eq!(back.len(), 3000);
        assert!(parse_ranges("x,3-1,1-99999999").is_empty(), "junk and huge ranges are ignored");
    }

    /// Two stores on one schema: two nodes.
    async fn two_nodes(lease: Duration) -> Option<(PgStore, PgStore)> {
        let url = crate::store::postgres::testing::fresh_url().await?;
        let options = crate::store::OpenOptions { node_lease: Some(lease), ..Default::default() };
        let a = PgStore::open_with(&url, options.clone()).await.unwrap();
        let b = PgStore::open_with(&url, options).await.unwrap();
        Some((a, b))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_nodes_work_is_its_own_until_its_lease_lapses_then_exactly_one_peer_claims_it() {
        use crate::store::prelude::*;
        let Some((a, b)) = two_nodes(Duration::from_millis(600)).await else { return };
        let keys = switchboard_domain::sid::KeyGenerator::new();
        let m = crate::store::conformance::outbound(&keys, "AC1", "+14155552671", 1_700_000_000_000);
        a.insert_message(m.clone()).await.unwrap();
        assert_eq!(a.unfinished_outbound().await.unwrap().len(), 1);
        assert!(b.unfinished_outbound().await.unwrap().is_empty(), "another node's work is not resumed");
        assert!(b.take_over_orphans().await.unwrap().is_empty(), "a live node's work is not claimed");
        // Node A stops renewing: once its lease lapses, one peer gets its work.
        tokio::time::sleep(Duration::from_millis(800)).await;
        b.renew_lease().await.unwrap();
        let (first, second) = tokio::join!(b.take_over_orphans(), b.take_over_orphans());
        let claimed = first.unwrap().outbound.len() + second.unwrap().outbound.len();
        assert_eq!(claimed, 1, "claimed once");
        assert_eq!(b.unfinished_outbound().await.unwrap()[0].sid, m.sid);
        assert!(a.unfinished_outbound().await.unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn send_slots_are_shared_by_every_node_and_singletons_held_by_one() {
        let Some((a, b)) = two_nodes(Duration::from_secs(15)).await else { return };
        let i = Duration::from_millis(200);
        let waits = [
            a.reserve_send_slot("+1", i).await.unwrap(),
            b.reserve_send_slot("+1", i).await.unwrap(),
            a.reserve_send_slot("+1", i).await.unwrap(),
            b.reserve_send_slot("+1", i).await.unwrap(),
        ];
        for (n, wait) in waits.iter().enumerate() {
            let expected = i * u32::try_from(n).unwrap();
            assert!(*wait <= expected && expected - *wait < Duration::from_millis(100), "{waits:?}");
        }
        assert!(a.hold_singleton("job", Duration::from_secs(5)).await.unwrap());
        assert!(!b.hold_singleton("job", Duration::from_secs(5)).await.unwrap());
        assert!(a.hold_singleton("job", Duration::from_secs(5)).await.unwrap(), "the holder keeps it");
        a.release_lease().await.unwrap();
        assert!(a.hold_singleton("short", Duration::from_millis(100)).await.unwrap());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(b.hold_singleton("short", Duration::from_secs(5)).await.unwrap(), "a lapsed singleton moves");
    }
}

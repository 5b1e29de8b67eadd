//! The engine: connecting (URL, `sslmode`, the pool), migrations on start, the writer task with
//! its group commit, and reads from the pool.
//!
//! Driver: `tokio-postgres` with a `deadpool-postgres` pool, TLS by rustls. Chosen over sqlx
//! because the group commit below hands every write job the same connection inside one open
//! transaction, which is a plain `&Client` here (sqlx's executor generics make a boxed job over
//! a borrowed transaction awkward), and because tokio-postgres pipelines the statements of
//! concurrent futures on one connection, which is how a batch of creates costs one round trip.
//!
//! Group commit, as on SQLite: one writer task takes every write job waiting (up to
//! [`MAX_BATCH`]), runs them in one transaction and commits once; only then are the callers
//! answered (a 201 follows the commit) and their message changes published. A job that can fail
//! on its own runs inside a savepoint, so its failure undoes only itself; jobs that cannot fail
//! on their own (a create: a duplicate key is detected with `ON CONFLICT DO NOTHING`) are run
//! side by side without savepoints, their statements pipelined in one round trip.
//!
//! Load shedding, as on SQLite: an API request's first write (see [`crate::store::admission`])
//! is refused with [`Overloaded`], unmade, when `max_write_queue` writes already wait or when it
//! waited `max_write_wait` before the writer took it.

use super::migrate;
use crate::store::{admission, MessageChange, MessageHub, OpenOptions, Overloaded, StoreResult, Unavailable};
use anyhow::{anyhow, Context};
use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

/// Most write jobs committed in one transaction.
const MAX_BATCH: usize = 512;
/// Pooled connections (reads, and the writer's one).
const POOL_SIZE: usize = 8;
/// How long a request waits for a connection (or for one to be made) before it is answered
/// "unavailable" instead of hanging while the database is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection as the queries see it (statements prepared once per connection).
pub(super) type Conn = ClientWrapper;
/// A boxed future borrowing a connection.
pub(super) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// A query argument.
pub(super) type Arg = Box<dyn ToSql + Sync + Send>;

type Reply = Box<dyn FnOnce(Result<(), Arc<anyhow::Error>>) + Send>;

/// What a job is given.
enum Input<'a> {
    /// Run on the writer's connection, inside the batch transaction.
    Run(&'a Conn),
    /// Answer without running: the batch failed before its turn.
    NotStarted,
    /// Answer without running: it waited longer than `max_write_wait`.
    Shed,
}

/// A write job: runs (or not, see [`Input`]), says whether it succeeded, and hands back the
/// reply to send once the commit is known and the message changes to publish once committed.
type JobFn = Box<dyn for<'a> FnOnce(Input<'a>) -> BoxFut<'a, (bool, Reply, Vec<MessageChange>)> + Send>;

struct Job {
    run: JobFn,
    /// Runs inside its own savepoint (it may fail alone); otherwise pipelined beside the other
    /// plain jobs around it.
    savepoint: bool,
    /// When it was queued.
    at: Instant,
    /// An API request's first write: it may be shed.
    sheddable: bool,
}

/// Load shedding bounds and the queue they watch.
struct Shedding {
    /// Writes queued and not yet taken by the writer.
    queued: AtomicUsize,
    max_queue: Option<usize>,
    max_wait: Option<Duration>,
}

/// PostgreSQL behind the store traits (one file of this folder per trait).
pub struct PgStore {
    pool: Pool,
    writer: mpsc::UnboundedSender<Job>,
    commits: Arc<AtomicU64>,
    shedding: Arc<Shedding>,
    /// Where committed message changes are published (the event stream, the wait API).
    pub(super) hub: MessageHub,
    /// This node's id: the name of its lease and the owner of the work it makes.
    pub(super) node: Arc<str>,
    /// How long this node's lease lasts without renewal.
    pub(super) lease: Duration,
    /// The `LISTEN`/`NOTIFY` channel of this schema.
    pub(super) channel: Arc<str>,
    /// Wake-ups from peers (and this node's own signals).
    pub(super) signals: tokio::sync::broadcast::Sender<crate::store::cluster::Signal>,
    /// With a stable node id: the connection holding the id's session lock (never queried;
    /// dropping it releases the id).
    _identity: Option<tokio_postgres::Client>,
}

impl PgStore {
    /// Connects to the database of `url` (`postgres://user:pass@host:port/db?sslmode=…`),
    /// creating or migrating its schema first.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        Self::open_with(url, OpenOptions::default()).await
    }

    /// [`Self::open`] with options (the load-shedding bounds; the SQLite test hooks do not
    /// apply here).
    pub async fn open_with(url: &str, options: OpenOptions) -> anyhow::Result<Self> {
        let (config, tls) = connect_config(url)?;
        let mut migrator = connect(&config, tls.clone()).await.context("connecting to PostgreSQL")?;
        migrate::migrate(&mut migrator).await.context("migrating the PostgreSQL schema")?;
        let schema: String = migrator.query_one("SELECT current_schema()", &[]).await?.try_get(0)?;
        let lease = options.node_lease.unwrap_or(crate::store::cluster::DEFAULT_LEASE);
        // A stable id is held with a session lock on the migration connection, kept open for
        // the life of the store: a second live process with the same id is refused, while a
        // restart after kill -9 finds the lock gone with the dead process's connection.
        let (node, identity): (Arc<str>, _) = match options.node_id.as_deref() {
            Some(id) => {
                hold_node_id(&migrator, &schema, id, lease * 2).await?;
                (id.into(), Some(migrator))
            }
            None => {
                drop(migrator);
                (switchboard_domain::sid::random_hex32().into(), None)
            }
        };
        // Identifier-safe: the schema name is kept to its letters, digits and underscores.
        let channel: Arc<str> = format!(
            "switchboard_{}",
            schema.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(40).collect::<String>()
        )
        .into();

        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .context("building the PostgreSQL pool")?;
        let (tx, rx) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        let hub = MessageHub::default();
        let shedding = Arc::new(Shedding {
            queued: AtomicUsize::new(0),
            max_queue: options.max_write_queue,
            max_wait: options.max_write_wait,
        });
        let announce = Announce { channel: channel.clone(), node: node.clone() };
        tokio::spawn(writer_loop(pool.clone(), rx, commits.clone(), hub.clone(), shedding.clone(), announce));
        let (signals, _) = tokio::sync::broadcast::channel(64);
        tokio::spawn(
            super::cluster::Listener {
                config,
                tls,
                channel: channel.clone(),
                node: node.clone(),
                pool: pool.clone(),
                hub: hub.clone(),
                signals: signals.clone(),
            }
            .run(),
        );
        let store =
            Self { pool, writer: tx, commits, shedding, hub, node, lease, channel, signals, _identity: identity };
        // The lease exists before this node makes any work it owns.
        let (node, lease) = (store.node.clone(), store.lease);
        store.read(move |c| Box::pin(async move { super::cluster::renew(c, &node, lease).await })).await?;
        Ok(store)
    }

    /// How many transactions the writer has committed (group commit makes this far smaller
    /// than the number of writes under load).
    pub fn commit_count(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `f` in the next group commit, inside a savepoint; resolves after the commit.
    pub(super) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a Conn) -> BoxFut<'a, anyhow::Result<T>> + Send + 'static,
    {
        self.submit(true, move |c| {
            Box::pin(async move { f(c).await.map(|v| (v, Vec::new())) })
                as BoxFut<'_, anyhow::Result<(T, Vec<MessageChange>)>>
        })
        .await
    }

    /// Like [`Self::write`], for writes that change messages: the changes `f` returns are
    /// published once committed, one broadcast per commit, in commit order. `savepoint: false`
    /// is for jobs whose statements cannot fail on their own (they then share a round trip).
    pub(super) async fn write_publishing<T, F>(&self, savepoint: bool, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a Conn) -> BoxFut<'a, anyhow::Result<(T, Vec<MessageChange>)>> + Send + 'static,
    {
        self.submit(savepoint, f).await
    }

    async fn submit<T, F>(&self, savepoint: bool, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a Conn) -> BoxFut<'a, anyhow::Result<(T, Vec<MessageChange>)>> + Send + 'static,
    {
        let sheddable = admission::take_sheddable();
        let queued = self.shedding.queued.load(Ordering::Relaxed);
        if sheddable && self.shedding.max_queue.is_some_and(|max| queued >= max) {
            crate::metrics::write_shed("queue");
            return Err(anyhow::Error::new(Overloaded(format!("{queued} writes are waiting"))));
        }
        let (tx, rx) = oneshot::channel::<StoreResult<T>>();
        let run: JobFn = Box::new(move |input: Input<'_>| {
            Box::pin(async move {
                let (result, changes) = match input {
                    Input::Run(c) => match f(c).await {
                        Ok((v, changes)) => (Ok(v), changes),
                        Err(e) => (Err(unavailable_or(e)), Vec::new()),
                    },
                    Input::NotStarted => (
                        Err(anyhow::Error::new(Unavailable("the transaction could not be started".into()))),
                        Vec::new(),
                    ),
                    Input::Shed => {
                        (Err(anyhow::Error::new(Overloaded("the write waited too long".into()))), Vec::new())
                    }
                };
                let ok = result.is_ok();
                let reply: Reply = Box::new(move |commit| {
                    let outcome = match (result, commit) {
                        (Ok(v), Ok(())) => Ok(v),
                        (Err(e), _) => Err(e),
                        (Ok(_), Err(e)) => match unavailable(&e) {
                            Some(u) => Err(anyhow::Error::new(u)),
                            None => Err(anyhow!("commit failed: {e:#}")),
                        },
                    };
                    let _ = tx.send(outcome);
                });
                (ok, reply, changes)
            }) as BoxFut<'_, (bool, Reply, Vec<MessageChange>)>
        });
        self.shedding.queued.fetch_add(1, Ordering::Relaxed);
        if self.writer.send(Job { run, savepoint, at: Instant::now(), sheddable }).is_err() {
            self.shedding.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(anyhow!("the PostgreSQL writer has stopped"));
        }
        rx.await.map_err(|_| anyhow!("the PostgreSQL writer dropped a job"))?
    }

    /// Runs `f` on a pooled connection (outside the writer's transaction).
    pub(super) async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a Conn) -> BoxFut<'a, anyhow::Result<T>> + Send,
    {
        let conn = self.pool.get().await.map_err(|e| anyhow::Error::new(Unavailable(e.to_string())))?;
        f(&conn).await.map_err(unavailable_or)
    }
}

/// The driver's configuration and TLS connector for `url`. `sslmode` is honoured as libpq does:
/// `disable` (plain), `prefer` (TLS when the server offers it, the default), `require` (TLS or
/// no connection; the certificate is not checked), `verify-ca`/`verify-full` (TLS with the
/// certificate checked against the system's roots and `sslrootcert`, when given).
pub(super) fn connect_config(
    url: &str,
) -> anyhow::Result<(tokio_postgres::Config, tokio_postgres_rustls::MakeRustlsConnect)> {
    let mut parsed = url::Url::parse(url).context("the --db URL is not a valid postgres:// URL")?;
    let mut mode = "prefer".to_string();
    let mut root_cert: Option<String> = None;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter_map(|(k, v)| match k.as_ref() {
            "sslmode" => {
                mode = v.into_owned();
                None
            }
            "sslrootcert" => {
                root_cert = Some(v.into_owned());
                None
            }
            _ => Some((k.into_owned(), v.into_owned())),
        })
        .collect();
    parsed.set_query(None);
    if !kept.is_empty() {
        parsed.query_pairs_mut().extend_pairs(kept);
    }
    let mut config: tokio_postgres::Config =
        parsed.as_str().parse().map_err(|e| anyhow!("the --db URL is not a valid PostgreSQL URL: {e}"))?;
    let verify = match mode.as_str() {
        "disable" => {
            config.ssl_mode(SslMode::Disable);
            false
        }
        "allow" | "prefer" => {
            config.ssl_mode(SslMode::Prefer);
            false
        }
        "require" => {
            config.ssl_mode(SslMode::Require);
            false
        }
        "verify-ca" | "verify-full" => {
            config.ssl_mode(SslMode::Require);
            true
        }
        other => {
            anyhow::bail!("sslmode={other} is not supported: use disable, prefer, require, verify-ca or verify-full")
        }
    };
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("switchboard");
    }
    Ok((config, super::tls::connector(verify, root_cert.as_deref())?))
}

/// One connection outside the pool (migrations hold their advisory lock on it).
async fn connect(
    config: &tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "PostgreSQL connection closed");
        }
    });
    Ok(client)
}

/// Takes the session lock of node id `id` in `schema` on `client`, retrying for up to `wait`:
/// the connection of a node that died with its machine (no FIN) lingers until the database's
/// TCP keepalives, set short on this connection, find it gone. Fails when another live process
/// holds the id.
async fn hold_node_id(client: &tokio_postgres::Client, schema: &str, id: &str, wait: Duration) -> anyhow::Result<()> {
    // Session settings of this connection only: its backend notices a dead peer in ~11 s.
    client
        .batch_execute("SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3")
        .await?;
    let key = format!("switchboard node {schema} {id}");
    let deadline = Instant::now() + wait;
    loop {
        let row = client.query_one("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", &[&key]).await?;
        if row.try_get::<_, bool>(0)? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "node id {id:?} is held by a running Switchboard on this database: give each node its own --node-id"
            );
        }
        tracing::warn!(node = id, "node id in use by another connection; waiting for it to go");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Binds `args` as the driver wants them.
pub(super) fn bind(args: &[Arg]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|a| a.as_ref() as &(dyn ToSql + Sync)).collect()
}

/// Runs a statement (prepared once per connection); returns the rows it changed.
pub(super) async fn execute(c: &Conn, sql: &str, args: &[&(dyn ToSql + Sync)]) -> anyhow::Result<u64> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.execute(&st, args).await?)
}

/// Every row of a query.
pub(super) async fn query(c: &Conn, sql: &str, args: &[&(dyn ToSql + Sync)]) -> anyhow::Result<Vec<Row>> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query(&st, args).await?)
}

/// The row of a query that returns at most one.
pub(super) async fn query_opt(c: &Conn, sql: &str, args: &[&(dyn ToSql + Sync)]) -> anyhow::Result<Option<Row>> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&st, args).await?)
}

/// The row of a query that returns exactly one.
pub(super) async fn query_one(c: &Conn, sql: &str, args: &[&(dyn ToSql + Sync)]) -> anyhow::Result<Row> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_one(&st, args).await?)
}

/// The errors that mean "the database cannot be written or reached now" rather than a bug: no
/// connection (refused, closed, timed out), the server shutting down or out of resources
/// (disk full), a read-only server (a standby).
fn unavailable(e: &anyhow::Error) -> Option<Unavailable> {
    e.chain().find_map(|cause| {
        if let Some(u) = cause.downcast_ref::<Unavailable>() {
            return Some(u.clone());
        }
        if let Some(p) = cause.downcast_ref::<deadpool_postgres::PoolError>() {
            return Some(Unavailable(p.to_string()));
        }
        let pg = cause.downcast_ref::<tokio_postgres::Error>()?;
        match pg.code() {
            None => Some(Unavailable(pg.to_string())),
            Some(code) => {
                let c = code.code();
                (c.starts_with("08") || c.starts_with("53") || c.starts_with("57") || c == "25006" || c == "58030")
                    .then(|| Unavailable(pg.to_string()))
            }
        }
    })
}

/// `e`, or [`Unavailable`] when that is what it means.
fn unavailable_or(e: anyhow::Error) -> anyhow::Error {
    match unavailable(&e) {
        Some(u) => anyhow::Error::new(u),
        None => e,
    }
}

/// Where and as whom the writer announces each commit's message events to the peers.
struct Announce {
    channel: Arc<str>,
    node: Arc<str>,
}

/// The group-commit loop; ends when every sender is dropped (the store is dropped), after
/// committing what was queued.
async fn writer_loop(
    pool: Pool,
    mut rx: mpsc::UnboundedReceiver<Job>,
    commits: Arc<AtomicU64>,
    hub: MessageHub,
    shedding: Arc<Shedding>,
    announce: Announce,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut replies: Vec<Reply> = Vec::with_capacity(MAX_BATCH);
    let mut changes: Vec<MessageChange> = Vec::new();
    // Takes a job into the batch, or sheds it (answered with the batch's replies) when it
    // waited too long.
    async fn take(job: Job, shedding: &Shedding, batch: &mut Vec<Job>, replies: &mut Vec<Reply>) {
        shedding.queued.fetch_sub(1, Ordering::Relaxed);
        if job.sheddable && shedding.max_wait.is_some_and(|max| job.at.elapsed() > max) {
            crate::metrics::write_shed("wait");
            replies.push((job.run)(Input::Shed).await.1);
        } else {
            batch.push(job);
        }
    }
    while let Some(first) = rx.recv().await {
        take(first, &shedding, &mut batch, &mut replies).await;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => take(job, &shedding, &mut batch, &mut replies).await,
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            for reply in replies.drain(..) {
                reply(Ok(()));
            }
            continue;
        }
        let outcome = match pool.get().await {
            Ok(conn) => run_batch(&conn, &mut batch, &mut replies, &mut changes, &announce).await,
            Err(e) => {
                for job in batch.drain(..) {
                    replies.push((job.run)(Input::NotStarted).await.1);
                }
                Err(anyhow::Error::new(Unavailable(e.to_string())))
            }
        }
        .map_err(Arc::new);
        commits.fetch_add(1, Ordering::Relaxed);
        match &outcome {
            // Published before the replies: whoever hears "committed" can already see it.
            Ok(()) => hub.publish(std::mem::take(&mut changes)),
            Err(e) => {
                changes.clear();
                tracing::error!(error = %e, "PostgreSQL group commit failed");
            }
        }
        for reply in replies.drain(..) {
            reply(outcome.clone());
        }
    }
    tracing::debug!("PostgreSQL writer stopped");
}

/// Runs the batch in one transaction. Every job is answered whatever happens: when a
/// transaction statement fails, the jobs already run are answered with the error and the rest
/// with [`Unavailable`], unrun.
///
/// Round trips: the transaction statements around a job (`BEGIN`, `SAVEPOINT`, `RELEASE`,
/// `COMMIT`) travel in one simple query pipelined ahead of the job's own statements, so a job
/// costs the round trips of its own statements and no more.
async fn run_batch(
    c: &Conn,
    batch: &mut Vec<Job>,
    replies: &mut Vec<Reply>,
    changes: &mut Vec<MessageChange>,
    announce: &Announce,
) -> anyhow::Result<()> {
    async fn fail_rest(jobs: impl Iterator<Item = Job>, replies: &mut Vec<Reply>) {
        for job in jobs {
            replies.push((job.run)(Input::NotStarted).await.1);
        }
    }
    // Transaction statements not yet sent; they go out ahead of the next job.
    let mut pending = String::from("BEGIN");
    let mut jobs = batch.drain(..).peekable();
    while let Some(job) = jobs.next() {
        if !job.savepoint {
            // This job and the plain ones right after it: polled together, so their statements
            // go out in one pipeline, executed by the server in the order sent.
            let mut group = vec![job];
            while let Some(next) = jobs.next_if(|j| !j.savepoint) {
                group.push(next);
            }
            let ahead = std::mem::take(&mut pending);
            let (sent, done) = tokio::join!(
                c.batch_execute(&ahead),
                futures_util::future::join_all(group.into_iter().map(|j| (j.run)(Input::Run(c))))
            );
            let mut all_ok = true;
            for (ok, reply, job_changes) in done {
                replies.push(reply);
                all_ok &= ok;
                if ok {
                    changes.extend(job_changes);
                }
            }
            // A plain job reports an expected refusal (a duplicate key) without touching the
            // transaction; anything else aborted it, and then nothing of the batch may commit
            // (PostgreSQL would answer COMMIT on an aborted transaction with a silent rollback).
            let probe = match (sent, all_ok) {
                (Err(e), _) => Err(e),
                (Ok(()), true) => Ok(()),
                (Ok(()), false) => c.batch_execute("SELECT 1").await,
            };
            if let Err(e) = probe {
                fail_rest(jobs, replies).await;
                let _ = c.batch_execute("ROLLBACK").await;
                return Err(unavailable_or(e.into()));
            }
            continue;
        }
        let ahead = if pending.is_empty() { "SAVEPOINT job".to_string() } else { format!("{pending}; SAVEPOINT job") };
        let (sent, (ok, reply, job_changes)) = tokio::join!(c.batch_execute(&ahead), (job.run)(Input::Run(c)));
        replies.push(reply);
        if let Err(e) = sent {
            fail_rest(jobs, replies).await;
            let _ = c.batch_execute("ROLLBACK").await;
            return Err(unavailable_or(e.into()));
        }
        if ok {
            changes.extend(job_changes);
        }
        pending = String::from(if ok { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" });
    }
    // The peers hear of this commit's message events at the commit, in commit order.
    let notify = super::cluster::notify_changes(&announce.channel, &announce.node, changes);
    let end = if pending.is_empty() { format!("{notify}COMMIT") } else { format!("{pending}; {notify}COMMIT") };
    if let Err(e) = c.batch_execute(&end).await {
        let _ = c.batch_execute("ROLLBACK").await;
        return Err(unavailable_or(e.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::outbound;
    use crate::store::postgres::testing;
    use crate::store::prelude::*;
    use crate::store::{Cursor, MessageFilter};
    use switchboard_domain::message::Message;
    use switchboard_domain::sid::KeyGenerator;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_inserts_share_commits() {
        let Some(url) = testing::fresh_url().await else { return };
        let store = Arc::new(PgStore::open(&url).await.unwrap());
        let keys = Arc::new(KeyGenerator::new());
        let before = store.commit_count();
        let mut tasks = Vec::new();
        for _ in 0..400 {
            let (store, keys) = (store.clone(), keys.clone());
            tasks.push(tokio::spawn(async move {
                store.insert_message(outbound(&keys, "AC1", "+14155552671", 1_700_000_000_000)).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let commits = store.commit_count() - before;
        assert!(commits < 400, "400 inserts took {commits} commits: no grouping");
        let all = store.list_messages("AC1", &MessageFilter::default(), &Cursor::Start, 1000).await.unwrap();
        assert_eq!(all.len(), 400);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_duplicate_among_pipelined_creates_fails_alone_and_an_aborting_error_fails_its_batch_only() {
        let Some(url) = testing::fresh_url().await else { return };
        let store = Arc::new(PgStore::open(&url).await.unwrap());
        let keys = KeyGenerator::new();
        let first = outbound(&keys, "AC1", "+14155552671", 1_700_000_000_000);
        store.insert_message(first.clone()).await.unwrap();
        let others: Vec<_> = (0..20).map(|i| outbound(&keys, "AC1", "+14155552671", 1_700_000_000_001 + i)).collect();
        let mut jobs = vec![store.insert_message(first.clone())];
        jobs.extend(others.iter().cloned().map(|m| store.insert_message(m)));
        let results = futures_util::future::join_all(jobs).await;
        assert!(results[0].is_err(), "the duplicate must be refused");
        assert!(results[1..].iter().all(Result::is_ok), "{results:?}");
        // A statement error that aborts the transaction (a NUL byte PostgreSQL cannot store)
        // fails the creates of its batch, and no later one.
        let bad = Message { body: "nul \0 byte".into(), ..outbound(&keys, "AC1", "+14155552671", 1_700_000_000_100) };
        assert!(store.insert_message(bad).await.is_err());
        let after = outbound(&keys, "AC1", "+14155552671", 1_700_000_000_200);
        store.insert_message(after).await.unwrap();
        let all = store.list_messages("AC1", &MessageFilter::default(), &Cursor::Start, 100).await.unwrap();
        assert_eq!(all.len(), 22);
    }

    #[tokio::test]
    async fn an_api_requests_first_write_is_shed_unmade_when_the_queue_is_full_and_accepted_work_never() {
        let Some(url) = testing::fresh_url().await else { return };
        let options = OpenOptions { max_write_queue: Some(0), ..Default::default() };
        let store = PgStore::open_with(&url, options).await.unwrap();
        let m = outbound(&KeyGenerator::new(), "AC1", "+14155552671", 1_700_000_000_000);
        let refused = admission::scope(store.insert_message(m.clone())).await.unwrap_err();
        assert!(refused.downcast_ref::<Overloaded>().is_some(), "{refused:#}");
        assert!(store.message("AC1", &m.sid).await.unwrap().is_none(), "a shed write is unmade");
        // Outside a request (delivery, callbacks) nothing is shed.
        store.insert_message(m.clone()).await.unwrap();
        assert!(store.message("AC1", &m.sid).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_request_write_that_waited_longer_than_the_bound_is_shed_unmade() {
        let Some(url) = testing::fresh_url().await else { return };
        let options = OpenOptions { max_write_wait: Some(Duration::ZERO), ..Default::default() };
        let store = PgStore::open_with(&url, options).await.unwrap();
        let m = outbound(&KeyGenerator::new(), "AC1", "+14155552671", 1_700_000_000_000);
        let refused = admission::scope(store.insert_message(m.clone())).await.unwrap_err();
        assert!(refused.downcast_ref::<Overloaded>().is_some(), "{refused:#}");
        assert!(store.message("AC1", &m.sid).await.unwrap().is_none());
        store.insert_message(m).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stores_opening_together_migrate_the_schema_once() {
        let Some(url) = testing::fresh_url().await else { return };
        let opens = (0..4).map(|_| PgStore::open(&url));
        for store in futures_util::future::join_all(opens).await {
            store.unwrap();
        }
        let (config, tls) = connect_config(&url).unwrap();
        let client = connect(&config, tls).await.unwrap();
        let versions: i64 = client.query_one("SELECT COUNT(*) FROM schema_migrations", &[]).await.unwrap().get(0);
        assert_eq!(versions, i64::try_from(migrate::count()).unwrap());
    }

    /// Whether the session of a connection made with `url` is encrypted.
    async fn encrypted(url: &str) -> anyhow::Result<bool> {
        let (config, tls) = connect_config(url)?;
        let client = connect(&config, tls).await?;
        let row = client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await?;
        Ok(row.get(0))
    }

    #[tokio::test]
    async fn sslmode_in_the_url_decides_whether_the_connection_is_encrypted_and_checked() {
        let Some(base) = testing::url() else { return };
        let Ok(ca) = std::env::var("SWITCHBOARD_TEST_PG_CA") else {
            eprintln!("!!! SKIPPED: the test cluster has no TLS (SWITCHBOARD_TEST_PG_CA unset)");
            return;
        };
        let with = |mode: &str| {
            let mut u = url::Url::parse(&base).unwrap();
            u.query_pairs_mut().append_pair("sslmode", mode);
            u.to_string()
        };
        assert!(!encrypted(&with("disable")).await.unwrap());
        assert!(encrypted(&with("prefer")).await.unwrap());
        assert!(encrypted(&with("require")).await.unwrap());
        // Checked: the test cluster's self-signed certificate is trusted only when named.
        assert!(encrypted(&with("verify-full")).await.is_err(), "an unknown certificate must be refused");
        let mut trusted = url::Url::parse(&with("verify-full")).unwrap();
        trusted.query_pairs_mut().append_pair("sslrootcert", &ca);
        assert!(encrypted(trusted.as_str()).await.unwrap());
        assert!(connect_config(&with("sometimes")).is_err());
    }
}

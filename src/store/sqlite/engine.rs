//! The engine: opening (pragmas, migrations), the writer thread with its group commit, and the
//! pool of read-only connections.
//!
//! One writer thread owns the only writable connection and **group-commits**: it takes every
//! write job waiting in its queue (up to [`MAX_BATCH`]), runs each inside its own savepoint,
//! commits once, and only then answers the callers. Under load many API requests share one
//! fsync; an idle server still commits each request at once. Reads go to a small pool of
//! read-only connections on the blocking thread pool (WAL lets them run beside the writer).
//!
//! **Load shedding.** The writer's queue is bounded for new work: an API request's first write
//! (see [`crate::store::admission`]) is refused with [`Overloaded`], unmade, when
//! `max_write_queue` writes already wait or when it waited `max_write_wait` before the writer
//! reached it. Background writes (delivery, callbacks) finish accepted work and always queue.

use super::{migrate, opt_outs};
use crate::store::{admission, MessageChange, MessageHub, OpenOptions, Overloaded, StoreResult, Unavailable};
use anyhow::{anyhow, Context};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Most write jobs committed in one transaction.
const MAX_BATCH: usize = 512;
/// Read-only connections in the pool.
const READERS: usize = 4;
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 128;

/// A write job: runs inside the batch transaction, says whether it succeeded (so its savepoint
/// is kept or rolled back), and hands back the reply to send once the commit is known and the
/// message changes to publish once committed. Called with [`Input::NotStarted`] when the batch
/// failed before the job could run, [`Input::Shed`] when it is refused unrun.
type Run = Box<dyn FnOnce(Input<'_>) -> (bool, Reply, Vec<MessageChange>) + Send>;
type Reply = Box<dyn FnOnce(Result<(), Arc<anyhow::Error>>) + Send>;

/// What the writer does with a job.
enum Input<'a> {
    /// Run it on the writer's connection, inside the batch transaction.
    Run(&'a Connection),
    /// The batch failed before it ran.
    NotStarted,
    /// Refused unrun: it waited longer than the bound.
    Shed,
}

/// A queued write.
struct Job {
    run: Run,
    /// When it was queued.
    at: Instant,
    /// Whether it may be shed (an API request's first write).
    sheddable: bool,
}

/// The writer's load-shedding bounds and the queue they watch.
struct Shedding {
    /// Writes queued and not yet taken by the writer.
    queued: AtomicUsize,
    max_queue: Option<usize>,
    max_wait: Option<Duration>,
}

/// SQLite behind the store traits (one file of this folder per trait).
pub struct SqliteStore {
    writer: mpsc::UnboundedSender<Job>,
    shedding: Arc<Shedding>,
    commits: Arc<AtomicU64>,
    /// Every opt-out, mirrored in memory: every create checks them, and this process is the
    /// only writer of this file, so the mirror is exact and the check costs no query.
    pub(super) opt_outs: opt_outs::Mirror,
    readers: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
    /// Where committed message changes are published (the event stream, the wait API).
    pub(super) hub: MessageHub,
    /// Send slots, singleton leases and signals of the one node this engine serves.
    pub(super) cluster: super::cluster::Local,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and migrates it.
    pub async fn open(path: &str) -> anyhow::Result<Self> {
        Self::open_with(path, OpenOptions::default()).await
    }

    /// [`Self::open`] with options.
    pub async fn open_with(path: &str, options: OpenOptions) -> anyhow::Result<Self> {
        let path = path.to_string();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path, options)).await?
    }

    pub(super) fn open_blocking(path: &str, options: OpenOptions) -> anyhow::Result<Self> {
        if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut conn = Connection::open(path).with_context(|| format!("opening SQLite database {path}"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: each group commit is fsynced, so a 201 survives power loss, not just kill -9.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Each job of a group commit runs in a savepoint; keep that journal in memory rather
        // than letting SQLite spill it to a temporary file on every large batch.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // The writer runs more distinct statements than rusqlite's default cache of 16 holds
        // (one UPDATE per shape of transition among them); an evicted one is parsed again.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        migrate::migrate(&mut conn)?;

        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r =
                Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
            r.busy_timeout(std::time::Duration::from_secs(5))?;
            r.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            readers.push(r);
        }

        let (tx, rx) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        let hub = MessageHub::default();
        let publisher = hub.clone();
        let shedding = Arc::new(Shedding {
            queued: AtomicUsize::new(0),
            max_queue: options.max_write_queue,
            max_wait: options.max_write_wait,
        });
        let writer = Writer {
            commits: counter,
            limit: PageLimit::new(options.page_limit_file),
            hub: publisher,
            shedding: shedding.clone(),
            delay: options.test_writer_delay,
        };
        std::thread::Builder::new().name("sqlite-writer".into()).spawn(move || writer.run(conn, rx))?;
        let opt_outs = opt_outs::load(readers.first().ok_or_else(|| anyhow!("no reader connection"))?)?;
        Ok(Self {
            writer: tx,
            shedding,
            commits,
            opt_outs: Arc::new(RwLock::new(opt_outs)),
            readers: Arc::new(Mutex::new(readers)),
            permits: Arc::new(Semaphore::new(READERS)),
            hub,
            cluster: super::cluster::Local::default(),
        })
    }

    /// How many transactions the writer has committed (group commit makes this far smaller
    /// than the number of writes under load).
    pub fn commit_count(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `f` on the writer inside the next group commit; resolves after the commit.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.write_publishing(move |c| f(c).map(|v| (v, Vec::new()))).await
    }

    /// Like [`Self::write`], for writes that change messages: the changes `f` returns are
    /// published once committed, from the writer thread, one broadcast per commit, so
    /// subscribers see them in commit order (and never before they are durable).
    pub(super) async fn write_publishing<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> anyhow::Result<(T, Vec<MessageChange>)> + Send + 'static,
    ) -> StoreResult<T> {
        let sheddable = admission::take_sheddable();
        let queued = self.shedding.queued.load(Ordering::Relaxed);
        if sheddable && self.shedding.max_queue.is_some_and(|max| queued >= max) {
            crate::metrics::write_shed("queue");
            return Err(anyhow::Error::new(Overloaded(format!("{queued} writes are waiting"))));
        }
        let (tx, rx) = oneshot::channel::<StoreResult<T>>();
        let run: Run = Box::new(move |input| {
            let (result, changes) = match input {
                Input::Run(conn) => match f(conn) {
                    Ok((v, changes)) => (Ok(v), changes),
                    Err(e) => (Err(unavailable_or(e)), Vec::new()),
                },
                Input::NotStarted => {
                    (Err(anyhow::Error::new(Unavailable("the transaction could not be started".into()))), Vec::new())
                }
                Input::Shed => (Err(anyhow::Error::new(Overloaded("the write waited too long".into()))), Vec::new()),
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
        });
        self.shedding.queued.fetch_add(1, Ordering::Relaxed);
        let job = Job { run, at: Instant::now(), sheddable };
        if self.writer.send(job).is_err() {
            self.shedding.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(anyhow!("the SQLite writer has stopped"));
        }
        rx.await.map_err(|_| anyhow!("the SQLite writer dropped a job"))?
    }

    /// Runs `f` on a pooled read-only connection, off the async threads.
    pub(super) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> StoreResult<T> {
        let permit = self.permits.clone().acquire_owned().await?;
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.lock().map_err(|_| anyhow!("reader pool poisoned"))?.pop();
            let conn = conn.ok_or_else(|| anyhow!("reader pool empty"))?;
            let result = f(&conn);
            if let Ok(mut pool) = readers.lock() {
                pool.push(conn);
            }
            drop(permit);
            result
        })
        .await?
    }
}

/// The errors that mean "the database cannot be written now" rather than a bug: a full disk
/// (or page limit), an I/O error, a read-only or locked file.
fn unavailable(e: &anyhow::Error) -> Option<Unavailable> {
    use rusqlite::ErrorCode::*;
    e.chain().find_map(|cause| {
        if let Some(u) = cause.downcast_ref::<Unavailable>() {
            return Some(u.clone());
        }
        match cause.downcast_ref::<rusqlite::Error>()? {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(f.code, DiskFull | SystemIoFailure | ReadOnly | DatabaseBusy | DatabaseLocked) =>
            {
                Some(Unavailable(f.to_string()))
            }
            _ => None,
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

/// Test only: the page limit read from a file (`--test-page-limit-file`), applied to the
/// writer between batches, so a test can fill the "disk" and free it again.
struct PageLimit {
    file: Option<std::path::PathBuf>,
    applied: u64,
    checked: std::time::Instant,
}

impl PageLimit {
    fn new(file: Option<std::path::PathBuf>) -> Self {
        PageLimit { file, applied: 0, checked: std::time::Instant::now() }
    }

    /// Re-reads the file at most every 50 ms; 0, garbage or no file lift the limit.
    fn apply(&mut self, conn: &Connection) {
        let Some(file) = &self.file else { return };
        if self.checked.elapsed() < std::time::Duration::from_millis(50) {
            return;
        }
        self.checked = std::time::Instant::now();
        let wanted = std::fs::read_to_string(file).ok().and_then(|t| t.trim().parse::<u64>().ok()).unwrap_or(0);
        if wanted != self.applied {
            // SQLite's own ceiling stands for "no limit".
            let pages = if wanted == 0 { 4_294_967_294 } else { wanted };
            match conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| r.get::<_, i64>(0)) {
                Ok(now) => tracing::warn!(pages = now, "test page limit applied"),
                Err(e) => tracing::error!(error = %e, "test page limit not applied"),
            }
            self.applied = wanted;
        }
    }
}

/// The writer thread's state.
struct Writer {
    commits: Arc<AtomicU64>,
    limit: PageLimit,
    hub: MessageHub,
    shedding: Arc<Shedding>,
    /// Test only: a pause before each batch (`--test-writer-delay-ms`).
    delay: Option<Duration>,
}

impl Writer {
    /// The group-commit loop; ends when every sender is dropped (server shutdown), after
    /// committing what was queued.
    fn run(mut self, conn: Connection, mut rx: mpsc::UnboundedReceiver<Job>) {
        let mut batch: Vec<Run> = Vec::with_capacity(MAX_BATCH);
        let mut replies: Vec<Reply> = Vec::with_capacity(MAX_BATCH);
        let mut changes: Vec<MessageChange> = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            self.limit.apply(&conn);
            self.take(first, &mut batch, &mut replies);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => self.take(job, &mut batch, &mut replies),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                // Every job taken was shed: answer them, commit nothing.
                for reply in replies.drain(..) {
                    reply(Ok(()));
                }
                continue;
            }
            if let Some(delay) = self.delay {
                // A slow disk: writes arriving meanwhile wait, as behind a slow fsync.
                std::thread::sleep(delay);
            }
            let outcome = run_batch(&conn, &mut batch, &mut replies, &mut changes).map_err(Arc::new);
            self.commits.fetch_add(1, Ordering::Relaxed);
            match &outcome {
                // Published before the replies: whoever hears "committed" can already see it.
                Ok(()) => self.hub.publish(std::mem::take(&mut changes)),
                Err(e) => {
                    changes.clear();
                    tracing::error!(error = %e, "SQLite group commit failed");
                }
            }
            for reply in replies.drain(..) {
                reply(outcome.clone());
            }
        }
        tracing::debug!("SQLite writer stopped");
    }

    /// Takes a job off the queue into the batch, or sheds it (its reply, an [`Overloaded`]
    /// error whatever the commit does, goes with the batch's) when it waited too long.
    fn take(&self, job: Job, batch: &mut Vec<Run>, replies: &mut Vec<Reply>) {
        self.shedding.queued.fetch_sub(1, Ordering::Relaxed);
        if job.sheddable && self.shedding.max_wait.is_some_and(|max| job.at.elapsed() > max) {
            crate::metrics::write_shed("wait");
            replies.push((job.run)(Input::Shed).1);
        } else {
            batch.push(job.run);
        }
    }
}

/// Runs the batch in one transaction. Every job is answered whatever happens: when SQLite
/// rolls the whole transaction back by itself (it does on a full disk or an I/O error), or a
/// transaction statement fails, the jobs already run are answered with the error and the
/// rest with [`Unavailable`], unrun.
fn run_batch(
    conn: &Connection,
    batch: &mut Vec<Run>,
    replies: &mut Vec<Reply>,
    changes: &mut Vec<MessageChange>,
) -> anyhow::Result<()> {
    let exec = |sql: &str| conn.prepare_cached(sql).and_then(|mut st| st.execute([])).map(|_| ());
    let mut jobs = batch.drain(..);
    let fail_rest = |jobs: std::vec::Drain<'_, Run>, replies: &mut Vec<Reply>| {
        for job in jobs {
            replies.push(job(Input::NotStarted).1);
        }
    };
    if let Err(e) = exec("BEGIN IMMEDIATE") {
        fail_rest(jobs, replies);
        return Err(unavailable_or(e.into()));
    }
    while let Some(job) = jobs.next() {
        if let Err(e) = exec("SAVEPOINT job") {
            replies.push(job(Input::NotStarted).1);
            fail_rest(jobs, replies);
            let _ = conn.execute_batch("ROLLBACK");
            return Err(unavailable_or(e.into()));
        }
        let (ok, reply, job_changes) = job(Input::Run(conn));
        replies.push(reply);
        if ok {
            changes.extend(job_changes);
        }
        if conn.is_autocommit() {
            // SQLite ended the transaction itself: everything in it so far is undone.
            fail_rest(jobs, replies);
            return Err(anyhow::Error::new(Unavailable("the transaction was rolled back".into())));
        }
        let undone = if ok { Ok(()) } else { exec("ROLLBACK TO job") };
        if let Err(e) = undone.and_then(|()| exec("RELEASE job")) {
            fail_rest(jobs, replies);
            let _ = conn.execute_batch("ROLLBACK");
            return Err(unavailable_or(e.into()));
        }
    }
    // Transaction-control statements are prepared once and reused, like the others.
    if let Err(e) = exec("COMMIT") {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(unavailable_or(e.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::outbound;
    use crate::store::prelude::*;
    use crate::store::{Cursor, MessageFilter};
    use switchboard_domain::sid::KeyGenerator;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_inserts_share_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path().join("t.db").to_str().unwrap()).await.unwrap());
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

    /// Inserts `n` messages at once, each as an API request's first write (sheddable) or not;
    /// returns how many succeeded and how many were refused as overloaded.
    async fn insert_many(store: &Arc<SqliteStore>, n: usize, sheddable: bool) -> (usize, usize) {
        let keys = Arc::new(KeyGenerator::new());
        let mut tasks = Vec::new();
        for i in 0..n {
            let (store, keys) = (store.clone(), keys.clone());
            let insert = async move {
                // In waves of 20, 10 ms apart, so some arrive while the writer is busy.
                tokio::time::sleep(Duration::from_millis(10 * (i as u64 / 20))).await;
                store.insert_message(outbound(&keys, "AC1", "+14155552671", 1_700_000_000_000 + i as i64)).await
            };
            tasks.push(tokio::spawn(async move {
                if sheddable {
                    admission::scope(insert).await
                } else {
                    insert.await
                }
            }));
        }
        let (mut ok, mut shed) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(e) if e.downcast_ref::<Overloaded>().is_some() => shed += 1,
                Err(e) => panic!("unexpected error: {e:#}"),
            }
        }
        (ok, shed)
    }

    async fn slow_store(dir: &tempfile::TempDir, options: OpenOptions) -> Arc<SqliteStore> {
        let options = OpenOptions { test_writer_delay: Some(Duration::from_millis(30)), ..options };
        Arc::new(SqliteStore::open_with(dir.path().join("t.db").to_str().unwrap(), options).await.unwrap())
    }

    async fn stored(store: &SqliteStore) -> usize {
        store.list_messages("AC1", &MessageFilter::default(), &Cursor::Start, 10_000).await.unwrap().len()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_write_queue_sheds_request_writes_unmade_but_never_background_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = slow_store(&dir, OpenOptions { max_write_queue: Some(4), ..Default::default() }).await;
        let (ok, shed) = insert_many(&store, 200, true).await;
        assert_eq!(ok + shed, 200);
        assert!(shed > 0 && ok > 0, "{ok} written, {shed} shed");
        assert_eq!(stored(&store).await, ok, "a shed write must not be made");
        let (ok_bg, shed_bg) = insert_many(&store, 200, false).await;
        assert_eq!((ok_bg, shed_bg), (200, 0), "background writes are never shed");
        assert_eq!(stored(&store).await, ok + 200);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_waited_too_long_is_shed_unmade() {
        let dir = tempfile::tempdir().unwrap();
        let options = OpenOptions { max_write_wait: Some(Duration::from_millis(15)), ..Default::default() };
        let store = slow_store(&dir, options).await;
        let (ok, shed) = insert_many(&store, 200, true).await;
        assert!(shed > 0 && ok > 0, "{ok} written, {shed} shed");
        assert_eq!(stored(&store).await, ok, "a shed write must not be made");
    }

    #[tokio::test]
    async fn only_the_first_write_of_a_request_may_be_shed() {
        admission::scope(async {
            assert!(admission::take_sheddable());
            assert!(!admission::take_sheddable());
        })
        .await;
        assert!(!admission::take_sheddable(), "outside a request nothing is sheddable");
    }

    #[tokio::test]
    async fn a_failing_job_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("t.db").to_str().unwrap()).await.unwrap();
        let keys = KeyGenerator::new();
        let m = outbound(&keys, "AC1", "+14155552671", 1_700_000_000_000);
        store.insert_message(m.clone()).await.unwrap();
        assert!(store.insert_message(m.clone()).await.is_err(), "duplicate key must fail");
        let other = outbound(&keys, "AC1", "+14155552671", 1_700_000_000_001);
        store.insert_message(other).await.unwrap();
        let all = store.list_messages("AC1", &MessageFilter::default(), &Cursor::Start, 10).await.unwrap();
        assert_eq!(all.len(), 2);
    }
}

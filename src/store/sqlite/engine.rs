//! The engine: opening (pragmas, migrations), the writer thread with its group commit, and the
//! pool of read-only connections.
//!
//! One writer thread owns the only writable connection and **group-commits**: it takes every
//! write job waiting in its queue (up to [`MAX_BATCH`]), runs each inside its own savepoint,
//! commits once, and only then answers the callers. Under load many API requests share one
//! fsync; an idle server still commits each request at once. Reads go to a small pool of
//! read-only connections on the blocking thread pool (WAL lets them run beside the writer).

use super::{migrate, opt_outs};
use crate::store::{MessageChange, MessageHub, OpenOptions, StoreResult, Unavailable};
use anyhow::{anyhow, Context};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Most write jobs committed in one transaction.
const MAX_BATCH: usize = 512;
/// Read-only connections in the pool.
const READERS: usize = 4;

/// A write job: runs inside the batch transaction, says whether it succeeded (so its savepoint
/// is kept or rolled back), and hands back the reply to send once the commit is known and the
/// message changes to publish once committed. Called with `None` when the batch failed before
/// the job could run.
type Job = Box<dyn FnOnce(Option<&Connection>) -> (bool, Reply, Vec<MessageChange>) + Send>;
type Reply = Box<dyn FnOnce(Result<(), Arc<anyhow::Error>>) + Send>;

/// SQLite behind the store traits (one file of this folder per trait).
pub struct SqliteStore {
    writer: mpsc::UnboundedSender<Job>,
    commits: Arc<AtomicU64>,
    /// Every opt-out, mirrored in memory: every create checks them, and this process is the
    /// only writer of this file, so the mirror is exact and the check costs no query.
    pub(super) opt_outs: opt_outs::Mirror,
    readers: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
    /// Where committed message changes are published (the event stream, the wait API).
    pub(super) hub: MessageHub,
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
        migrate::migrate(&mut conn)?;

        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r =
                Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
            r.busy_timeout(std::time::Duration::from_secs(5))?;
            readers.push(r);
        }

        let (tx, rx) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        let hub = MessageHub::default();
        let publisher = hub.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, &counter, PageLimit::new(options.page_limit_file), &publisher))?;
        let opt_outs = opt_outs::load(readers.first().ok_or_else(|| anyhow!("no reader connection"))?)?;
        Ok(Self {
            writer: tx,
            commits,
            opt_outs: Arc::new(RwLock::new(opt_outs)),
            readers: Arc::new(Mutex::new(readers)),
            permits: Arc::new(Semaphore::new(READERS)),
            hub,
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
        let (tx, rx) = oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |conn| {
            let (result, changes) = match conn.map(f) {
                Some(Ok((v, changes))) => (Ok(v), changes),
                Some(Err(e)) => (Err(unavailable_or(e)), Vec::new()),
                None => {
                    (Err(anyhow::Error::new(Unavailable("the transaction could not be started".into()))), Vec::new())
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
        });
        self.writer.send(job).map_err(|_| anyhow!("the SQLite writer has stopped"))?;
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

/// The group-commit loop; ends when every sender is dropped (server shutdown), after
/// committing what was queued.
fn writer_loop(
    conn: Connection,
    mut rx: mpsc::UnboundedReceiver<Job>,
    commits: &AtomicU64,
    mut limit: PageLimit,
    hub: &MessageHub,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut replies: Vec<Reply> = Vec::with_capacity(MAX_BATCH);
    let mut changes: Vec<MessageChange> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        limit.apply(&conn);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = run_batch(&conn, &mut batch, &mut replies, &mut changes).map_err(Arc::new);
        commits.fetch_add(1, Ordering::Relaxed);
        match &outcome {
            // Published before the replies: whoever hears "committed" can already see it.
            Ok(()) => hub.publish(std::mem::take(&mut changes)),
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

/// Runs the batch in one transaction. Every job is answered whatever happens: when SQLite
/// rolls the whole transaction back by itself (it does on a full disk or an I/O error), or a
/// transaction statement fails, the jobs already run are answered with the error and the
/// rest with [`Unavailable`], unrun.
fn run_batch(
    conn: &Connection,
    batch: &mut Vec<Job>,
    replies: &mut Vec<Reply>,
    changes: &mut Vec<MessageChange>,
) -> anyhow::Result<()> {
    let exec = |sql: &str| conn.prepare_cached(sql).and_then(|mut st| st.execute([])).map(|_| ());
    let mut jobs = batch.drain(..);
    let fail_rest = |jobs: std::vec::Drain<'_, Job>, replies: &mut Vec<Reply>| {
        for job in jobs {
            replies.push(job(None).1);
        }
    };
    if let Err(e) = exec("BEGIN IMMEDIATE") {
        fail_rest(jobs, replies);
        return Err(unavailable_or(e.into()));
    }
    while let Some(job) = jobs.next() {
        if let Err(e) = exec("SAVEPOINT job") {
            replies.push(job(None).1);
            fail_rest(jobs, replies);
            let _ = conn.execute_batch("ROLLBACK");
            return Err(unavailable_or(e.into()));
        }
        let (ok, reply, job_changes) = job(Some(conn));
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

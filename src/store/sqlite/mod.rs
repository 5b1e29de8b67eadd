//! The embedded SQLite engine.
//!
//! One writer thread owns the only writable connection and **group-commits**: it takes every
//! write job waiting in its queue (up to [`MAX_BATCH`]), runs each inside its own savepoint,
//! commits once, and only then answers the callers. Under load many API requests share one
//! fsync; an idle server still commits each request at once. Reads go to a small pool of
//! read-only connections on the blocking thread pool (WAL lets them run beside the writer).

mod links;
mod media;
mod rows;
mod senders;

use super::{
    Account, Applied, AttemptRecord, CallbackRow, CallbackView, Conditional, Content, Cursor, Feedback, MessageEvent,
    MessageFilter, Store, StoreResult, Transition,
};
use anyhow::{anyhow, Context};
use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use switchboard_domain::message::Message;
use switchboard_domain::sid;
use switchboard_domain::status::Status;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Most write jobs committed in one transaction.
const MAX_BATCH: usize = 512;
/// Read-only connections in the pool.
const READERS: usize = 4;

/// Migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_init.sql"),
    include_str!("../../../migrations/sqlite/0002_delivery.sql"),
    include_str!("../../../migrations/sqlite/0003_senders.sql"),
    include_str!("../../../migrations/sqlite/0004_routing.sql"),
    include_str!("../../../migrations/sqlite/0005_receiving.sql"),
    include_str!("../../../migrations/sqlite/0006_feedback.sql"),
    include_str!("../../../migrations/sqlite/0007_content.sql"),
    include_str!("../../../migrations/sqlite/0008_media.sql"),
    include_str!("../../../migrations/sqlite/0009_links.sql"),
];

/// A write job: runs inside the batch transaction, says whether it succeeded (so its savepoint
/// is kept or rolled back), and hands back the reply to send once the commit is known.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;
type Reply = Box<dyn FnOnce(Result<(), Arc<anyhow::Error>>) + Send>;

/// SQLite behind the [`Store`] trait.
pub struct SqliteStore {
    writer: mpsc::UnboundedSender<Job>,
    commits: Arc<AtomicU64>,
    /// Every opt-out, mirrored in memory: every create checks them, and this process is the
    /// only writer of this file, so the mirror is exact and the check costs no query.
    opt_outs: Arc<std::sync::RwLock<std::collections::HashSet<(String, String, String)>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and migrates it.
    pub async fn open(path: &str) -> anyhow::Result<Self> {
        let path = path.to_string();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path)).await?
    }

    fn open_blocking(path: &str) -> anyhow::Result<Self> {
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
        migrate(&mut conn)?;

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
        std::thread::Builder::new().name("sqlite-writer".into()).spawn(move || writer_loop(conn, rx, &counter))?;
        let opt_outs = {
            let reader = readers.first().ok_or_else(|| anyhow!("no reader connection"))?;
            let mut st = reader.prepare("SELECT account_sid, scope, number FROM opt_outs")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<Result<std::collections::HashSet<_>, _>>()?
        };
        Ok(Self {
            writer: tx,
            commits,
            opt_outs: Arc::new(std::sync::RwLock::new(opt_outs)),
            readers: Arc::new(Mutex::new(readers)),
            permits: Arc::new(Semaphore::new(READERS)),
        })
    }

    /// How many transactions the writer has committed (group commit makes this far smaller
    /// than the number of writes under load).
    pub fn commit_count(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `f` on the writer inside the next group commit; resolves after the commit.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (tx, rx) = oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit| {
                let outcome = match (result, commit) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(anyhow!("commit failed: {e:#}")),
                };
                let _ = tx.send(outcome);
            });
            (ok, reply)
        });
        self.writer.send(job).map_err(|_| anyhow!("the SQLite writer has stopped"))?;
        rx.await.map_err(|_| anyhow!("the SQLite writer dropped a job"))?
    }

    /// Runs `f` on a pooled read-only connection, off the async threads.
    async fn read<T: Send + 'static>(
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

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        anyhow::bail!(
            "the database schema is version {version}, newer than this binary knows ({}); upgrade Switchboard",
            MIGRATIONS.len()
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql).with_context(|| format!("migration {}", i + 1))?;
        tx.pragma_update(None, "user_version", i64::try_from(i + 1)?)?;
        tx.commit()?;
    }
    Ok(())
}

/// The group-commit loop; ends when every sender is dropped (server shutdown), after
/// committing what was queued.
fn writer_loop(conn: Connection, mut rx: mpsc::UnboundedReceiver<Job>, commits: &AtomicU64) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut replies: Vec<Reply> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = run_batch(&conn, &mut batch, &mut replies).map_err(Arc::new);
        commits.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "SQLite group commit failed");
        }
        for reply in replies.drain(..) {
            reply(outcome.clone());
        }
    }
    tracing::debug!("SQLite writer stopped");
}

fn run_batch(conn: &Connection, batch: &mut Vec<Job>, replies: &mut Vec<Reply>) -> anyhow::Result<()> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    for job in batch.drain(..) {
        conn.prepare_cached("SAVEPOINT job")?.execute([])?;
        let (ok, reply) = job(conn);
        if !ok {
            conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
        }
        conn.prepare_cached("RELEASE job")?.execute([])?;
        replies.push(reply);
    }
    // Transaction-control statements are prepared once and reused, like the others.
    if let Err(e) = conn.prepare_cached("COMMIT").and_then(|mut st| st.execute([])) {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e.into());
    }
    Ok(())
}

const CONTENT_COLUMNS: &str = "sid, account_sid, friendly_name, language, variables, types, date_created, date_updated";

fn content_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Content> {
    Ok(Content {
        sid: r.get(0)?,
        account_sid: r.get(1)?,
        friendly_name: r.get(2)?,
        language: r.get(3)?,
        variables: r.get(4)?,
        types: r.get(5)?,
        date_created: r.get(6)?,
        date_updated: r.get(7)?,
    })
}

/// Splits a SID into (prefix, key) if well-formed.
fn split_sid(s: &str) -> Option<(String, String)> {
    let key = sid::key(s)?;
    Some((s[..2].to_string(), key.to_ascii_lowercase()))
}

#[async_trait]
impl Store for SqliteStore {
    async fn upsert_account(&self, account: Account) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO accounts (sid, auth_token, date_created) VALUES (?1, ?2, ?3)
                 ON CONFLICT (sid) DO UPDATE SET auth_token = excluded.auth_token",
                params![account.sid, account.auth_token, crate::clock::now_ms()],
            )?;
            Ok(())
        })
        .await
    }

    async fn insert_account_if_absent(&self, account: Account) -> StoreResult<Account> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO accounts (sid, auth_token, date_created) VALUES (?1, ?2, ?3) ON CONFLICT (sid) DO NOTHING",
                params![account.sid, account.auth_token, crate::clock::now_ms()],
            )?;
            let token: String =
                c.query_row("SELECT auth_token FROM accounts WHERE sid = ?1", [&account.sid], |r| r.get(0))?;
            Ok(Account { sid: account.sid, auth_token: token })
        })
        .await
    }

    async fn accounts(&self) -> StoreResult<Vec<Account>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT sid, auth_token FROM accounts ORDER BY date_created, sid")?;
            let rows = st.query_map([], |r| Ok(Account { sid: r.get(0)?, auth_token: r.get(1)? }))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn account(&self, sid: &str) -> StoreResult<Option<Account>> {
        let sid = sid.to_string();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT sid, auth_token FROM accounts WHERE sid = ?1")?
                .query_row([&sid], |r| Ok(Account { sid: r.get(0)?, auth_token: r.get(1)? }))
                .optional()?)
        })
        .await
    }

    async fn insert_message(&self, m: Message) -> StoreResult<()> {
        let options = serde_json::to_string(&m.options)?;
        self.write(move |c| {
            rows::insert_message(c, &m, &options)?;
            rows::insert_event(c, m.key(), m.date_created, None, m.status, m.error_code)?;
            Ok(())
        })
        .await
    }

    async fn insert_messages(&self, messages: Vec<Message>) -> StoreResult<()> {
        let encoded = messages.iter().map(|m| serde_json::to_string(&m.options)).collect::<Result<Vec<_>, _>>()?;
        self.write(move |c| {
            for (m, options) in messages.iter().zip(&encoded) {
                rows::insert_message(c, m, options)?;
                rows::insert_event(c, m.key(), m.date_created, None, m.status, m.error_code)?;
            }
            Ok(())
        })
        .await
    }

    async fn message(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Message>> {
        let Some((prefix, key)) = split_sid(sid) else { return Ok(None) };
        let account = account_sid.to_string();
        self.read(move |c| rows::get_message(c, &account, &prefix, &key)).await
    }

    async fn list_messages(
        &self,
        account_sid: &str,
        filter: &MessageFilter,
        cursor: &Cursor,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        let (account, filter, cursor) = (account_sid.to_string(), filter.clone(), cursor.clone());
        self.read(move |c| rows::list_messages(c, &account, &filter, &cursor, limit)).await
    }

    async fn redact_message(&self, account_sid: &str, sid: &str, now_ms: i64) -> StoreResult<Conditional<Message>> {
        let Some((prefix, key)) = split_sid(sid) else { return Ok(Conditional::NotFound) };
        let account = account_sid.to_string();
        self.write(move |c| {
            let Some(m) = rows::get_message(c, &account, &prefix, &key)? else { return Ok(Conditional::NotFound) };
            if !m.status.is_final() {
                return Ok(Conditional::WrongStatus(m.status));
            }
            c.execute("UPDATE messages SET body = '', date_updated = ?2 WHERE key = ?1", params![key, now_ms])?;
            Ok(Conditional::Done(Message { body: String::new(), date_updated: now_ms, ..m }))
        })
        .await
    }

    async fn delete_message(&self, account_sid: &str, sid: &str) -> StoreResult<Conditional<()>> {
        let Some((prefix, key)) = split_sid(sid) else { return Ok(Conditional::NotFound) };
        let account = account_sid.to_string();
        self.write(move |c| {
            let Some(m) = rows::get_message(c, &account, &prefix, &key)? else { return Ok(Conditional::NotFound) };
            if !m.status.is_final() {
                return Ok(Conditional::WrongStatus(m.status));
            }
            c.execute("DELETE FROM messages WHERE key = ?1", [&key])?;
            c.execute("DELETE FROM message_events WHERE key = ?1", [&key])?;
            c.execute("DELETE FROM message_feedback WHERE key = ?1", [&key])?;
            c.execute("DELETE FROM media WHERE message_key = ?1", [&key])?;
            c.execute(
                "DELETE FROM callback_attempts WHERE callback_id IN (SELECT id FROM callbacks WHERE key = ?1)",
                [&key],
            )?;
            c.execute("DELETE FROM callbacks WHERE key = ?1 AND state != 'pending'", [&key])?;
            Ok(Conditional::Done(()))
        })
        .await
    }

    async fn apply_transitions(&self, transitions: Vec<Transition>) -> StoreResult<Vec<Applied>> {
        self.write(move |c| transitions.iter().map(|t| rows::apply_transition(c, t)).collect()).await
    }

    async fn message_by_carrier_id(&self, carrier_id: &str) -> StoreResult<Option<Message>> {
        let id = carrier_id.to_string();
        self.read(move |c| rows::message_by_carrier_id(c, &id)).await
    }

    async fn pending_callbacks(&self) -> StoreResult<Vec<CallbackRow>> {
        self.read(rows::pending_callbacks).await
    }

    async fn record_callback_attempt(
        &self,
        id: i64,
        attempt: AttemptRecord,
        final_state: Option<&'static str>,
    ) -> StoreResult<()> {
        self.write(move |c| rows::record_callback_attempt(c, id, &attempt, final_state)).await
    }

    async fn message_callbacks(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Vec<CallbackView>>> {
        let Some((prefix, key)) = split_sid(sid) else { return Ok(None) };
        let account = account_sid.to_string();
        self.read(move |c| {
            if rows::get_message(c, &account, &prefix, &key)?.is_none() {
                return Ok(None);
            }
            rows::message_callbacks(c, &key).map(Some)
        })
        .await
    }

    async fn unfinished_outbound(&self) -> StoreResult<Vec<Message>> {
        self.read(rows::unfinished_outbound).await
    }

    async fn purge_messages_before(&self, cutoff_ms: i64, limit: usize) -> StoreResult<usize> {
        let bound = sid::min_key_at(cutoff_ms);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write(move |c| {
            let keys: Vec<String> = c
                .prepare_cached(
                    "SELECT key FROM messages WHERE key < ?1
                     AND status NOT IN ('queued', 'sending', 'accepted', 'scheduled', 'receiving')
                     ORDER BY key LIMIT ?2",
                )?
                .query_map(params![bound, limit], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for key in &keys {
                c.prepare_cached(
                    "DELETE FROM callback_attempts WHERE callback_id IN (SELECT id FROM callbacks WHERE key = ?1)",
                )?
                .execute([key])?;
                c.prepare_cached("DELETE FROM callbacks WHERE key = ?1")?.execute([key])?;
                c.prepare_cached("DELETE FROM message_events WHERE key = ?1")?.execute([key])?;
                c.prepare_cached("DELETE FROM message_feedback WHERE key = ?1")?.execute([key])?;
                c.prepare_cached("DELETE FROM media WHERE message_key = ?1")?.execute([key])?;
                c.prepare_cached("DELETE FROM messages WHERE key = ?1")?.execute([key])?;
            }
            Ok(keys.len())
        })
        .await
    }

    async fn set_feedback(
        &self,
        account_sid: &str,
        sid: &str,
        outcome: &str,
        now_ms: i64,
        keep_existing: bool,
    ) -> StoreResult<Option<Feedback>> {
        let Some((prefix, key)) = split_sid(sid) else { return Ok(None) };
        let (account, outcome) = (account_sid.to_string(), outcome.to_string());
        self.write(move |c| {
            if rows::get_message(c, &account, &prefix, &key)?.is_none() {
                return Ok(None);
            }
            let sql = if keep_existing {
                "INSERT INTO message_feedback (key, account_sid, outcome, date_created, date_updated)
                 VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (key) DO NOTHING"
            } else {
                "INSERT INTO message_feedback (key, account_sid, outcome, date_created, date_updated)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (key) DO UPDATE SET outcome = excluded.outcome, date_updated = excluded.date_updated"
            };
            c.prepare_cached(sql)?.execute(params![key, account, outcome, now_ms])?;
            let fb = c
                .prepare_cached("SELECT outcome, date_created, date_updated FROM message_feedback WHERE key = ?1")?
                .query_row([&key], |r| {
                    Ok(Feedback {
                        message_sid: format!("{prefix}{key}"),
                        outcome: r.get(0)?,
                        date_created: r.get(1)?,
                        date_updated: r.get(2)?,
                    })
                })?;
            Ok(Some(fb))
        })
        .await
    }

    async fn has_inbound_since(&self, account_sid: &str, from: &str, since_ms: i64) -> StoreResult<bool> {
        let (account, from, bound) = (account_sid.to_string(), from.to_string(), sid::min_key_at(since_ms));
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT 1 FROM messages WHERE account_sid = ?1 AND from_addr = ?2 AND key >= ?3
                 AND direction = 'inbound' LIMIT 1",
            )?
            .exists(params![account, from, bound])?)
        })
        .await
    }

    async fn insert_content(&self, content: Content) -> StoreResult<()> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO contents (sid, account_sid, friendly_name, language, variables, types, date_created,
                 date_updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                content.sid,
                content.account_sid,
                content.friendly_name,
                content.language,
                content.variables,
                content.types,
                content.date_created,
                content.date_updated
            ])?;
            Ok(())
        })
        .await
    }

    async fn content(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Content>> {
        let (account, sid) = (account_sid.to_string(), sid.to_string());
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {CONTENT_COLUMNS} FROM contents WHERE sid = ?1 AND account_sid = ?2"
            ))?
            .query_row(params![sid, account], content_from_row)
            .optional()?)
        })
        .await
    }

    async fn list_contents(&self, account_sid: &str, cursor: &Cursor, limit: usize) -> StoreResult<Vec<Content>> {
        let (account, cursor) = (account_sid.to_string(), cursor.clone());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            // Oldest first: "after" a token means later SIDs, "before" means earlier ones.
            let (cond, order, bound) = match &cursor {
                Cursor::Start => ("", "ASC", String::new()),
                Cursor::After(k) => ("AND substr(sid, 3) > ?3", "ASC", k.clone()),
                Cursor::Before(k) => ("AND substr(sid, 3) < ?3", "DESC", k.clone()),
            };
            let sql = format!(
                "SELECT {CONTENT_COLUMNS} FROM contents WHERE account_sid = ?1 {cond} ORDER BY sid {order} LIMIT ?2"
            );
            let mut st = c.prepare_cached(&sql)?;
            let rows = if bound.is_empty() {
                st.query_map(params![account, limit], content_from_row)?.collect::<Result<Vec<_>, _>>()?
            } else {
                st.query_map(params![account, limit, bound], content_from_row)?.collect::<Result<Vec<_>, _>>()?
            };
            let mut rows = rows;
            if order == "DESC" {
                rows.reverse();
            }
            Ok(rows)
        })
        .await
    }

    async fn delete_content(&self, account_sid: &str, sid: &str) -> StoreResult<bool> {
        let (account, sid) = (account_sid.to_string(), sid.to_string());
        self.write(move |c| {
            Ok(c.execute("DELETE FROM contents WHERE sid = ?1 AND account_sid = ?2", params![sid, account])? == 1)
        })
        .await
    }

    async fn receiving_inbound(&self) -> StoreResult<Vec<Message>> {
        self.read(|c| {
            let sql = format!("SELECT {} FROM messages WHERE status = 'receiving' ORDER BY key", rows::COLUMNS);
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map([], rows::from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn add_message_note(
        &self,
        key: &str,
        at_ms: i64,
        status: Status,
        error_code: Option<u32>,
        detail: String,
    ) -> StoreResult<()> {
        let key = key.to_string();
        self.write(move |c| rows::add_note(c, &key, at_ms, status, error_code, &detail)).await
    }

    async fn sticky_sender(&self, service_sid: &str, to: &str) -> StoreResult<Option<String>> {
        let (service, to) = (service_sid.to_string(), to.to_string());
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT sender FROM sticky_senders WHERE service_sid = ?1 AND to_addr = ?2")?
                .query_row(params![service, to], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn claim_sticky_sender(
        &self,
        service_sid: &str,
        to: &str,
        sender: &str,
        stale: Option<&str>,
    ) -> StoreResult<String> {
        let (service, to, sender) = (service_sid.to_string(), to.to_string(), sender.to_string());
        let stale = stale.map(str::to_string);
        self.write(move |c| {
            let current: Option<String> = c
                .prepare_cached("SELECT sender FROM sticky_senders WHERE service_sid = ?1 AND to_addr = ?2")?
                .query_row(params![service, to], |r| r.get(0))
                .optional()?;
            match current {
                Some(cur) if Some(&cur) != stale.as_ref() => Ok(cur),
                _ => {
                    c.prepare_cached(
                        "INSERT INTO sticky_senders (service_sid, to_addr, sender) VALUES (?1, ?2, ?3)
                         ON CONFLICT (service_sid, to_addr) DO UPDATE SET sender = excluded.sender",
                    )?
                    .execute(params![service, to, sender])?;
                    Ok(sender)
                }
            }
        })
        .await
    }

    async fn set_opt_out(
        &self,
        account_sid: &str,
        scope: &str,
        number: &str,
        opted_out: bool,
        now_ms: i64,
    ) -> StoreResult<()> {
        let (account, scope, number) = (account_sid.to_string(), scope.to_string(), number.to_string());
        let entry = (account.clone(), scope.clone(), number.clone());
        self.write(move |c| {
            if opted_out {
                c.execute(
                    "INSERT INTO opt_outs (account_sid, scope, number, date_created) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO NOTHING",
                    params![account, scope, number, now_ms],
                )?;
            } else {
                c.execute(
                    "DELETE FROM opt_outs WHERE account_sid = ?1 AND scope = ?2 AND number = ?3",
                    params![account, scope, number],
                )?;
            }
            Ok(())
        })
        .await?;
        if let Ok(mut mirror) = self.opt_outs.write() {
            if opted_out {
                mirror.insert(entry);
            } else {
                mirror.remove(&entry);
            }
        }
        Ok(())
    }

    async fn opted_out(&self, account_sid: &str, scopes: Vec<String>, number: &str) -> StoreResult<bool> {
        let mirror = self.opt_outs.read().map_err(|_| anyhow!("opt-out mirror poisoned"))?;
        if mirror.is_empty() {
            return Ok(false);
        }
        Ok(scopes.into_iter().any(|scope| mirror.contains(&(account_sid.to_string(), scope, number.to_string()))))
    }

    async fn insert_media(&self, media: Vec<(super::Media, Vec<u8>)>) -> StoreResult<()> {
        self.insert_media_rows(media).await
    }

    async fn list_media(
        &self,
        account_sid: &str,
        message_sid: &str,
        created: (Option<i64>, Option<i64>),
        cursor: &Cursor,
        limit: usize,
    ) -> StoreResult<Vec<super::Media>> {
        self.list_media_rows(account_sid, message_sid, created, cursor, limit).await
    }

    async fn media(&self, account_sid: &str, message_sid: &str, sid: &str) -> StoreResult<Option<super::Media>> {
        self.media_row(account_sid, message_sid, sid).await
    }

    async fn media_content(
        &self,
        account_sid: &str,
        message_sid: &str,
        sid: &str,
    ) -> StoreResult<Option<(super::Media, Vec<u8>)>> {
        self.media_bytes(account_sid, message_sid, sid).await
    }

    async fn delete_media(&self, account_sid: &str, message_sid: &str, sid: &str) -> StoreResult<bool> {
        self.delete_media_row(account_sid, message_sid, sid).await
    }

    async fn message_events(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Vec<MessageEvent>>> {
        let Some((prefix, key)) = split_sid(sid) else { return Ok(None) };
        let account = account_sid.to_string();
        self.read(move |c| {
            if rows::get_message(c, &account, &prefix, &key)?.is_none() {
                return Ok(None);
            }
            rows::events(c, &key).map(Some)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_domain::message::SendOptions;
    use switchboard_domain::sid::KeyGenerator;
    use switchboard_domain::status::Direction;

    fn message(keys: &KeyGenerator, account: &str, to: &str, at: i64) -> Message {
        Message {
            sid: format!("SM{}", keys.next(at)),
            account_sid: account.into(),
            messaging_service_sid: None,
            from: Some("+14155550100".into()),
            to: to.into(),
            body: "hi".into(),
            status: Status::Queued,
            direction: Direction::OutboundApi,
            num_segments: 1,
            num_media: 0,
            price: None,
            price_unit: "USD".into(),
            error_code: None,
            error_message: None,
            date_created: at,
            date_updated: at,
            date_sent: None,
            carrier_id: None,
            options: SendOptions::default(),
        }
    }

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
                store.insert_message(message(&keys, "AC1", "+14155552671", 1_700_000_000_000)).await
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
        let m = message(&keys, "AC1", "+14155552671", 1_700_000_000_000);
        store.insert_message(m.clone()).await.unwrap();
        assert!(store.insert_message(m.clone()).await.is_err(), "duplicate key must fail");
        let other = message(&keys, "AC1", "+14155552671", 1_700_000_000_001);
        store.insert_message(other).await.unwrap();
        let all = store.list_messages("AC1", &MessageFilter::default(), &Cursor::Start, 10).await.unwrap();
        assert_eq!(all.len(), 2);
    }

    /// Every list shape is served by an index in key order: no table scan, no sort step, so a
    /// deep page costs what the first one does.
    #[test]
    fn every_list_filter_uses_an_index_in_paging_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_blocking(dir.path().join("t.db").to_str().unwrap()).unwrap();
        drop(store);
        let conn = Connection::open(dir.path().join("t.db")).unwrap();
        let filters = [
            MessageFilter::default(),
            MessageFilter { to: Some("+1".into()), ..Default::default() },
            MessageFilter { from: Some("+1".into()), ..Default::default() },
            MessageFilter { sent_until_ms: Some(5), ..Default::default() },
            MessageFilter { sent_from_ms: Some(5), to: Some("+1".into()), ..Default::default() },
        ];
        for f in &filters {
            for cursor in [Cursor::Start, Cursor::After("a".into()), Cursor::Before("a".into())] {
                let mut plan = String::new();
                rows::explain_list(&conn, "AC1", f, &cursor, 51, &mut plan).unwrap();
                assert!(
                    plan.contains("USING INDEX") || plan.contains("USING COVERING INDEX"),
                    "{f:?} {cursor:?}: {plan}"
                );
                assert!(!plan.contains("TEMP B-TREE"), "{f:?} {cursor:?} sorts: {plan}");
            }
        }
    }
}

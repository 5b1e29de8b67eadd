//! Online backup: a consistent copy of a live database, taken with SQLite's backup API from
//! another process while the server keeps writing.

use anyhow::{bail, Context};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Pages copied per step: small enough for a smooth progress display, large enough that the
/// step overhead does not matter.
const PAGES_PER_STEP: i32 = 1024;

/// What a finished backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupReport {
    /// Database pages copied.
    pub pages: u64,
    /// Messages in the copy.
    pub messages: u64,
}

/// Copies the database at `src` into the new file `dest` (refused if it exists), calling
/// `progress(copied, total)` pages after each step. The copy is one snapshot: a read
/// transaction held for the whole backup pins it, so the server's commits during the backup
/// neither restart it nor appear half in it. The copy is written beside `dest`, checked,
/// fsynced, then renamed, so `dest` only ever names a complete database.
pub fn backup(src: &str, dest: &Path, mut progress: impl FnMut(u64, u64)) -> anyhow::Result<BackupReport> {
    let src = src.strip_prefix("sqlite://").unwrap_or(src);
    if !Path::new(src).is_file() {
        bail!("no database at {src}");
    }
    if dest.exists() {
        bail!("{} already exists; choose a new file (a backup never overwrites)", dest.display());
    }
    let mut partial = dest.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    let result = copy(src, &partial, &mut progress);
    match result {
        Ok(report) => {
            std::fs::rename(&partial, dest)
                .with_context(|| format!("renaming {} to {}", partial.display(), dest.display()))?;
            if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
                // The rename itself must survive a power loss.
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

fn copy(src: &str, dest: &Path, progress: &mut impl FnMut(u64, u64)) -> anyhow::Result<BackupReport> {
    let source = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .with_context(|| format!("opening {src}"))?;
    source.busy_timeout(Duration::from_secs(5))?;
    // The snapshot: a deferred transaction starts reading at its first statement.
    source.execute_batch("BEGIN")?;
    let _: i64 = source.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    let mut target = Connection::open(dest).with_context(|| format!("creating {}", dest.display()))?;
    let pages = {
        let backup = Backup::new(&source, &mut target)?;
        loop {
            match backup.step(PAGES_PER_STEP)? {
                StepResult::Done => break,
                StepResult::More => {}
                // Busy or locked (or a future variant): the writer holds a lock briefly.
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
            let p = backup.progress();
            let total = u64::try_from(p.pagecount).unwrap_or(0);
            progress(total.saturating_sub(u64::try_from(p.remaining).unwrap_or(0)), total);
        }
        let p = backup.progress();
        u64::try_from(p.pagecount).unwrap_or(0)
    };
    progress(pages, pages);
    source.execute_batch("COMMIT")?;
    drop(source);
    let check: String = target.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        bail!("the copy failed its integrity check: {check}");
    }
    let messages: i64 = target.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?;
    // Closing checkpoints the copy's WAL into the file; then the file is made durable.
    target.close().map_err(|(_, e)| e)?;
    std::fs::File::open(dest)?.sync_all()?;
    Ok(BackupReport { pages, messages: u64::try_from(messages).unwrap_or(0) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::outbound;
    use crate::store::prelude::*;
    use switchboard_domain::sid::KeyGenerator;

    #[tokio::test]
    async fn a_backup_holds_every_committed_message_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("src.db");
        let store = super::super::SqliteStore::open(db.to_str().unwrap()).await.unwrap();
        let keys = KeyGenerator::new();
        for i in 0..50 {
            store.insert_message(outbound(&keys, "AC1", "+14155552671", 1_700_000_000_000 + i)).await.unwrap();
        }
        let dest = dir.path().join("copy.db");
        let mut calls = 0;
        let report = backup(db.to_str().unwrap(), &dest, |_, _| calls += 1).unwrap();
        assert_eq!(report.messages, 50);
        assert!(calls >= 1);
        assert!(backup(db.to_str().unwrap(), &dest, |_, _| {}).is_err(), "an existing file is never overwritten");
    }
}

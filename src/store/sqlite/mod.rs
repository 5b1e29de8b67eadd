//! The embedded SQLite engine: `engine.rs` (opening, the writer thread with its group commit,
//! the readers), `migrate.rs` (schema versions), `rows.rs` (row mapping), `backup.rs` (online
//! backup), and one file of SQL per storage concern, each implementing that concern's trait.

mod accounts;
mod backup;
mod callbacks;
mod cluster;
mod content;
mod engine;
mod feedback;
mod links;
mod media;
mod messages;
mod migrate;
mod opt_outs;
mod rows;
mod senders;
mod smpp;
mod sticky;

pub use backup::{backup, BackupReport};
pub use engine::SqliteStore;

impl crate::store::Store for SqliteStore {}

#[cfg(test)]
mod tests {
    use super::SqliteStore;
    use crate::store::Store;
    use std::sync::Arc;

    /// A store on a fresh file; the directory lives as long as the test.
    async fn open_temp() -> (Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("conformance.db").to_str().unwrap()).await.unwrap();
        (Arc::new(store), dir)
    }

    crate::store::conformance::suite!(open_temp());
}

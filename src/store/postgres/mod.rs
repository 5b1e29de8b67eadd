//! The PostgreSQL engine, for `--db postgres://…`: `engine.rs` (connecting, the pool, the writer
//! task with its group commit, reads), `migrate.rs` (schema versions under an advisory lock),
//! `tls.rs` (`sslmode`), `rows.rs` (row mapping), `copy.rs` (`switchboard copy-db` from SQLite),
//! and one file of SQL per storage concern, each
//! implementing that concern's trait. The schema mirrors SQLite's table for table.

mod accounts;
mod callbacks;
mod cluster;
mod content;
pub mod copy;
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
mod tls;

pub use engine::PgStore;

impl crate::store::Store for PgStore {}

/// Test support: a fresh schema on the throwaway cluster named by `SWITCHBOARD_TEST_PG`.
#[cfg(test)]
pub(crate) mod testing {
    use super::PgStore;
    use crate::store::Store;
    use std::sync::Arc;

    /// The variable `scripts/test.sh` (through `scripts/pg.sh`) sets to its cluster's URL.
    pub(crate) const VAR: &str = "SWITCHBOARD_TEST_PG";

    /// The cluster's URL. Without one the PostgreSQL tests are skipped, loudly, except in CI
    /// (`CI` or `SWITCHBOARD_REQUIRE_PG` set), where a missing cluster fails them.
    pub(crate) fn url() -> Option<String> {
        match std::env::var(VAR) {
            Ok(url) if !url.is_empty() => Some(url),
            _ if std::env::var_os("CI").is_some() || std::env::var_os("SWITCHBOARD_REQUIRE_PG").is_some() => {
                panic!("{VAR} is not set: scripts/test.sh must start the PostgreSQL cluster")
            }
            _ => {
                eprintln!(
                    "!!! SKIPPED: PostgreSQL test without a cluster. Set {VAR}=postgres://… or run \
                     `eval \"$(bash scripts/pg.sh start)\"` first (scripts/test.sh does)."
                );
                None
            }
        }
    }

    /// A URL of the cluster whose connections work in a new, empty schema of their own.
    pub(crate) async fn fresh_url() -> Option<String> {
        let base = url()?;
        let schema = format!("t_{}", switchboard_domain::sid::random_hex32());
        let (config, tls) = super::engine::connect_config(&base).unwrap();
        let (client, connection) = config.connect(tls).await.unwrap();
        tokio::spawn(connection);
        client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
        let mut url = url::Url::parse(&base).unwrap();
        url.query_pairs_mut().append_pair("options", &format!("-csearch_path={schema}"));
        Some(url.to_string())
    }

    /// A store on a fresh schema.
    pub(crate) async fn open_fresh() -> Option<(Arc<dyn Store>, ())> {
        let url = fresh_url().await?;
        Some((Arc::new(PgStore::open(&url).await.unwrap()), ()))
    }
}

#[cfg(test)]
mod tests {
    crate::store::conformance::suite!(optional super::testing::open_fresh());
}

//! Schema migrations: the files of `migrations/postgres/`, applied in order under a
//! session-level advisory lock, so that nodes starting together on one database migrate it once
//! (the others wait for the lock, then find nothing left to do).

use anyhow::Context;

/// Migrations, applied in order; `schema_migrations` records which ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_init.sql"),
    include_str!("../../../migrations/postgres/0002_nodes.sql"),
    include_str!("../../../migrations/postgres/0003_simulator_rules.sql"),
    include_str!("../../../migrations/postgres/0004_smpp_segments.sql"),
    include_str!("../../../migrations/postgres/0005_smpp_inbound_parts.sql"),
    include_str!("../../../migrations/postgres/0006_history_unfinished.sql"),
];

/// The advisory lock's key: any constant; this one spells "swbd-mig" in ASCII.
const LOCK_KEY: i64 = 0x7377_6264_2d6d_6967;

/// Brings the schema (of the connection's `search_path`) to the newest version; refuses a
/// database newer than this binary.
pub(super) async fn migrate(client: &mut tokio_postgres::Client) -> anyhow::Result<()> {
    client.execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY]).await.context("taking the migration lock")?;
    let result = migrate_locked(client).await;
    // The lock also goes with the connection, which the caller drops.
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY]).await;
    result
}

async fn migrate_locked(client: &mut tokio_postgres::Client) -> anyhow::Result<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await?;
    let version: i64 = client.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await?.get(0);
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        anyhow::bail!(
            "the database schema is version {version}, newer than this binary knows ({}); upgrade Switchboard",
            MIGRATIONS.len()
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let number = i64::try_from(i + 1)?;
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await.with_context(|| format!("migration {number}"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&number, &crate::clock::now_ms()],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version = number, "PostgreSQL schema migrated");
    }
    Ok(())
}

/// How many migrations this binary knows.
#[cfg(test)]
pub(super) fn count() -> usize {
    MIGRATIONS.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::prelude::*;
    use crate::store::MessageEvent;

    /// Migration 6 packs each message's events from the log into `history` (notes, error
    /// codes and odd characters included) and lists the unfinished messages in `unfinished`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upgrading_a_database_moves_each_history_into_its_row_and_lists_the_unfinished() {
        let Some(url) = crate::store::postgres::testing::fresh_url().await else { return };
        let (config, tls) = super::super::engine::connect_config(&url).unwrap();
        let (client, connection) = config.connect(tls).await.unwrap();
        tokio::spawn(connection);
        // A database at version 5, with a `sent` message and a delivered one.
        client
            .batch_execute(
                "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL);
                 INSERT INTO schema_migrations SELECT v, 0 FROM generate_series(1, 5) v",
            )
            .await
            .unwrap();
        for sql in &MIGRATIONS[..5] {
            client.batch_execute(sql).await.unwrap();
        }
        let keys = switchboard_domain::sid::KeyGenerator::new();
        let sent = crate::store::conformance::outbound(&keys, "AC1", "+14155552671", 1_000);
        let done = crate::store::conformance::outbound(&keys, "AC1", "+14155552671", 2_000);
        let options = serde_json::to_string(&sent.options).unwrap();
        for (m, status) in [(&sent, "sent"), (&done, "delivered")] {
            client
                .execute(
                    "INSERT INTO messages (prefix, key, account_sid, from_addr, to_addr, body, status, direction,
                         num_segments, num_media, price_unit, date_created, date_updated, options)
                     VALUES ('SM', $1, 'AC1', $2, $3, 'hi', $4, 'outbound-api', 1, 0, 'USD', $5, $5, $6)",
                    &[&m.key(), &m.from, &m.to, &status, &m.date_created, &options],
                )
                .await
                .unwrap();
        }
        client
            .execute(
                "INSERT INTO message_events (key, at, from_status, to_status, error_code, detail) VALUES
                     ($1, 1000, NULL, 'queued', NULL, NULL),
                     ($2, 2000, NULL, 'queued', NULL, NULL),
                     ($1, 1001, 'queued', 'sending', NULL, NULL),
                     ($1, 1002, 'sending', 'sending', 11200, 'webhook \"failed\"\nline 2'),
                     ($1, 1003, 'sending', 'sent', NULL, NULL),
                     ($2, 2001, 'queued', 'failed', 30003, NULL)",
                &[&sent.key(), &done.key()],
            )
            .await
            .unwrap();

        let store = crate::store::postgres::PgStore::open(&url).await.unwrap();
        let event = |at_ms, from: Option<&str>, to: &str, error_code, detail: Option<&str>| MessageEvent {
            at_ms,
            from: from.map(str::to_string),
            to: to.to_string(),
            error_code,
            detail: detail.map(str::to_string),
        };
        assert_eq!(
            store.message_events("AC1", &sent.sid).await.unwrap().unwrap(),
            [
                event(1000, None, "queued", None, None),
                event(1001, Some("queued"), "sending", None, None),
                event(1002, Some("sending"), "sending", Some(11200), Some("webhook \"failed\"\nline 2")),
                event(1003, Some("sending"), "sent", None, None),
            ]
        );
        assert_eq!(
            store.message_events("AC1", &done.sid).await.unwrap().unwrap(),
            [event(2000, None, "queued", None, None), event(2001, Some("queued"), "failed", Some(30003), None)]
        );
        let unfinished: Vec<String> =
            client.query("SELECT key FROM unfinished", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
        assert_eq!(unfinished, [sent.key()]);
    }

    /// HOT updates need every column a status change writes to be outside every index (and
    /// every index predicate), and free room on the page: guards against an index that would
    /// silently make each transition write into every index again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_index_of_messages_names_a_column_a_status_change_writes() {
        let Some(url) = crate::store::postgres::testing::fresh_url().await else { return };
        drop(crate::store::postgres::PgStore::open(&url).await.unwrap());
        let (config, tls) = super::super::engine::connect_config(&url).unwrap();
        let (client, connection) = config.connect(tls).await.unwrap();
        tokio::spawn(connection);
        let rows = client
            .query(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'messages' AND schemaname = current_schema()",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 5, "key, account, to, from, carrier id");
        for r in rows {
            let def: String = r.get(0);
            for column in ["status", "date_updated", "history", "owner", "error_code", "price", "date_sent"] {
                assert!(!def.contains(column), "{def} names {column}");
            }
        }
        let options: Vec<String> = client
            .query_one("SELECT reloptions FROM pg_class WHERE oid = 'messages'::regclass", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(options, ["fillfactor=50"]);
    }
}

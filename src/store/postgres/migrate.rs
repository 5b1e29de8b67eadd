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

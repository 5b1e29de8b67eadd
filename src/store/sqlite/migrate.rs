//! Schema migrations: the files of `migrations/sqlite/`, applied in order.

use anyhow::Context;
use rusqlite::Connection;

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

/// Brings the schema to the newest version; refuses a database newer than this binary.
pub(super) fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
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

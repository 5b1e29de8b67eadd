//! `switchboard copy-db`: moves a SQLite installation into an empty PostgreSQL database, every
//! table, in one transaction on each side (a consistent snapshot read, an all-or-nothing
//! write), with progress reports and the row counts of both sides compared at the end.
//!
//! The two schemas have the same tables and column names, so the columns to copy are read from
//! the PostgreSQL table itself and the values converted to its column types (SQLite's integer
//! flags become booleans). Rows go through `COPY … FROM STDIN BINARY`; the identity sequences
//! are moved past the copied ids so new rows continue the numbering.

use super::engine::connect_config;
use anyhow::{anyhow, bail, Context};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

/// Every table, parents first. `credential_changes` (one row, made by the migration) is
/// carried over by value instead.
pub const TABLES: &[&str] = &[
    "accounts",
    "api_keys",
    "phone_numbers",
    "short_codes",
    "services",
    "pool_senders",
    "sticky_senders",
    "opt_outs",
    "contents",
    "messages",
    "unfinished",
    "message_events",
    "message_feedback",
    "callbacks",
    "callback_attempts",
    "media",
    "short_links",
    "smpp_segments",
    "smpp_inbound_parts",
];

/// Tables whose `id` is an identity column.
const IDENTITIES: &[&str] = &["message_events", "callbacks", "callback_attempts"];

/// SQLite expressions for columns an old row may have left empty that PostgreSQL requires.
fn source_expression(table: &str, column: &str) -> String {
    match (table, column) {
        ("accounts", "owner_account_sid") => "COALESCE(owner_account_sid, sid)".into(),
        ("accounts", "friendly_name") => "COALESCE(friendly_name, sid)".into(),
        ("accounts", "date_updated") => "COALESCE(date_updated, date_created)".into(),
        // PostgreSQL only (several nodes): copied work has no owner; the first node claims it.
        ("messages" | "callbacks", "owner") => "NULL".into(),
        _ => format!("\"{column}\""),
    }
}

/// How far a copy has got, for the progress display.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Rows copied so far.
    pub done: u64,
    /// Rows to copy in all.
    pub total: u64,
    /// Since the copy started.
    pub elapsed: Duration,
    /// True on the report that ends a table.
    pub table_done: bool,
}

impl Progress {
    /// Rows per second so far.
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(0.001)
    }

    /// The time left at the rate so far.
    pub fn left(&self) -> Duration {
        let rate = self.rate();
        if rate <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.total.saturating_sub(self.done) as f64 / rate)
    }
}

/// What was copied: rows per table (equal on both sides, checked).
#[derive(Debug, Clone)]
pub struct CopyReport {
    /// Table name and rows, in copy order.
    pub tables: Vec<(String, u64)>,
    /// Rows in all.
    pub rows: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// A SQLite value on its way to PostgreSQL.
enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

enum Item {
    Counts(Vec<u64>),
    Row(Vec<Value>),
    TableEnd,
}

/// Copies the SQLite database at `from` into the (empty) PostgreSQL database `to`, creating or
/// migrating both schemas first; `progress` is called as rows go in. Refuses a target that
/// already holds rows.
pub async fn copy_sqlite_to_postgres(
    from: &str,
    to: &str,
    mut progress: impl FnMut(&str, Progress) + Send,
) -> anyhow::Result<CopyReport> {
    if !std::path::Path::new(from).is_file() {
        bail!("{from} is not a SQLite database file");
    }
    // Both schemas at this binary's newest version.
    drop(crate::store::sqlite::SqliteStore::open(from).await.with_context(|| format!("opening {from}"))?);
    drop(super::PgStore::open(to).await.context("opening the PostgreSQL database")?);

    let (config, tls) = connect_config(to)?;
    let (mut client, connection) = config.connect(tls).await.context("connecting to PostgreSQL")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "PostgreSQL connection closed");
        }
    });
    let tx = client.transaction().await?;
    let mut columns: Vec<(Vec<String>, Vec<Type>)> = Vec::new();
    for table in TABLES {
        let rows: i64 = tx.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[]).await?.get(0);
        if rows > 0 {
            bail!("the PostgreSQL database already holds {rows} rows in {table}: copy-db fills an empty database only");
        }
        let st = tx.prepare(&format!("SELECT * FROM {table} LIMIT 0")).await?;
        columns.push((
            st.columns().iter().map(|c| c.name().to_string()).collect(),
            st.columns().iter().map(|c| c.type_().clone()).collect(),
        ));
    }

    // The reader: one read transaction (a consistent snapshot), on a thread of its own.
    let (items, mut rx) = mpsc::channel::<Item>(4096);
    let selects: Vec<String> = TABLES
        .iter()
        .zip(&columns)
        .map(|(table, (names, _))| {
            let exprs: Vec<String> = names.iter().map(|c| source_expression(table, c)).collect();
            format!("SELECT {} FROM {table}", exprs.join(", "))
        })
        .collect();
    let path = from.to_string();
    let reader = tokio::task::spawn_blocking(move || read_sqlite(&path, &selects, &items));

    let started = Instant::now();
    let Some(Item::Counts(counts)) = rx.recv().await else {
        return Err(reader.await?.err().unwrap_or_else(|| anyhow!("the SQLite reader stopped")));
    };
    let total: u64 = counts.iter().sum();
    let mut done = 0u64;
    let mut last_report = Instant::now();
    for (table, (names, types)) in TABLES.iter().zip(&columns) {
        let quoted: Vec<String> = names.iter().map(|c| format!("\"{c}\"")).collect();
        let sink = tx.copy_in(&format!("COPY {table} ({}) FROM STDIN BINARY", quoted.join(", "))).await?;
        let writer = BinaryCopyInWriter::new(sink, types);
        tokio::pin!(writer);
        loop {
            match rx.recv().await {
                Some(Item::Row(values)) => {
                    let typed = values
                        .into_iter()
                        .zip(types)
                        .zip(names)
                        .map(|((v, ty), name)| convert(v, ty).with_context(|| format!("{table}.{name}")))
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    let refs: Vec<&(dyn ToSql + Sync)> =
                        typed.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)).collect();
                    writer.as_mut().write(&refs).await.with_context(|| format!("copying {table}"))?;
                    done += 1;
                    if last_report.elapsed() >= Duration::from_millis(250) {
                        last_report = Instant::now();
                        progress(table, Progress { done, total, elapsed: started.elapsed(), table_done: false });
                    }
                }
                Some(Item::TableEnd) => break,
                Some(Item::Counts(_)) | None => {
                    return Err(reader.await?.err().unwrap_or_else(|| anyhow!("the SQLite reader stopped early")));
                }
            }
        }
        writer.finish().await.with_context(|| format!("copying {table}"))?;
        progress(table, Progress { done, total, elapsed: started.elapsed(), table_done: true });
    }
    reader.await??;
    for table in IDENTITIES {
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 1),
                               (SELECT MAX(id) FROM {table}) IS NOT NULL)"
            ),
            &[],
        )
        .await?;
    }
    // Caches keyed on the credentials sequence start again from the copied value or beyond.
    let seq = read_credentials_seq(from)?;
    tx.execute("UPDATE credential_changes SET seq = GREATEST(seq, $1) WHERE id = 1", &[&seq]).await?;

    // Verified inside the transaction, so a mismatch leaves the target empty.
    let mut tables = Vec::with_capacity(TABLES.len());
    for (table, expected) in TABLES.iter().zip(&counts) {
        let got: i64 = tx.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[]).await?.get(0);
        let got = u64::try_from(got).unwrap_or(0);
        if got != *expected {
            bail!("{table}: {expected} rows in SQLite, {got} in PostgreSQL; nothing was committed");
        }
        tables.push((table.to_string(), got));
    }
    tx.commit().await.context("committing the copy")?;
    Ok(CopyReport { tables, rows: total, elapsed: started.elapsed() })
}

/// Reads every table in one read transaction, sending the counts first, then the rows.
fn read_sqlite(path: &str, selects: &[String], items: &mpsc::Sender<Item>) -> anyhow::Result<()> {
    let mut conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let tx = conn.transaction()?;
    let mut counts = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let n: i64 = tx.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
        counts.push(u64::try_from(n).unwrap_or(0));
    }
    let send = |item: Item| items.blocking_send(item).map_err(|_| anyhow!("the copy stopped"));
    send(Item::Counts(counts))?;
    for sql in selects {
        let mut st = tx.prepare(sql)?;
        let width = st.column_count();
        let mut rows = st.query([])?;
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                use rusqlite::types::ValueRef;
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Real(v),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            send(Item::Row(values))?;
        }
        send(Item::TableEnd)?;
    }
    Ok(())
}

fn read_credentials_seq(path: &str) -> anyhow::Result<i64> {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(conn.query_row("SELECT seq FROM credential_changes WHERE id = 1", [], |r| r.get(0))?)
}

/// A SQLite value as the PostgreSQL column type wants it.
fn convert(v: Value, ty: &Type) -> anyhow::Result<Box<dyn ToSql + Sync + Send>> {
    Ok(match *ty {
        Type::INT8 => Box::new(match v {
            Value::Null => None,
            Value::Int(i) => Some(i),
            Value::Real(f) => Some(f as i64),
            Value::Text(t) => Some(t.trim().parse::<i64>().map_err(|_| anyhow!("{t:?} is not an integer"))?),
            Value::Blob(_) => bail!("a blob where an integer belongs"),
        }),
        Type::BOOL => Box::new(match v {
            Value::Null => None,
            Value::Int(i) => Some(i != 0),
            Value::Real(f) => Some(f != 0.0),
            Value::Text(t) => Some(matches!(t.as_str(), "1" | "true" | "t")),
            Value::Blob(_) => bail!("a blob where a flag belongs"),
        }),
        Type::TEXT => Box::new(match v {
            Value::Null => None,
            Value::Int(i) => Some(i.to_string()),
            Value::Real(f) => Some(f.to_string()),
            Value::Text(t) => Some(t),
            Value::Blob(b) => Some(String::from_utf8(b).map_err(|_| anyhow!("bytes that are not text"))?),
        }),
        Type::BYTEA => Box::new(match v {
            Value::Null => None,
            Value::Blob(b) => Some(b),
            Value::Text(t) => Some(t.into_bytes()),
            Value::Int(_) | Value::Real(_) => bail!("a number where bytes belong"),
        }),
        ref other => bail!("column type {other} is not one copy-db knows"),
    })
}

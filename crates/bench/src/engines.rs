//! The engines a run measures create, list and end to end on: SQLite (a file per scenario, as
//! always) and PostgreSQL (a new database per scenario on the server named by `--pg-url` or
//! `SWITCHBOARD_TEST_PG`), with one Switchboard node or two on the same database.

use anyhow::{bail, Context};
use std::sync::Mutex;

/// An engine and a node count (`--engines`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Variant {
    /// One server on a SQLite file (the reference every other variant is compared with).
    Sqlite,
    /// One server on a PostgreSQL database.
    Postgres,
    /// Two servers on one PostgreSQL database, the load spread over both.
    #[value(name = "postgres-2nodes")]
    Postgres2Nodes,
}

impl Variant {
    /// Server processes started on the scenario's database.
    pub fn nodes(self) -> usize {
        match self {
            Variant::Sqlite | Variant::Postgres => 1,
            Variant::Postgres2Nodes => 2,
        }
    }

    /// Whether it needs the PostgreSQL server.
    pub fn is_postgres(self) -> bool {
        self != Variant::Sqlite
    }

    /// `sqlite` or `postgres` (the engine, whatever the node count).
    pub fn engine(self) -> &'static str {
        if self.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        }
    }

    /// Its name in the table and the failures.
    pub fn label(self) -> &'static str {
        match self {
            Variant::Sqlite => "SQLite",
            Variant::Postgres => "PostgreSQL",
            Variant::Postgres2Nodes => "PostgreSQL, 2 nodes",
        }
    }

    /// Its name in file, log and database names.
    pub fn slug(self) -> &'static str {
        match self {
            Variant::Sqlite => "sqlite",
            Variant::Postgres => "pg",
            Variant::Postgres2Nodes => "pg2",
        }
    }
}

/// The variants to run, in the order given without repeats (SQLite alone when none is given),
/// and the PostgreSQL URL when one of them needs it: `--pg-url`, else `env_url`
/// (`SWITCHBOARD_TEST_PG`). Refused before anything starts when a PostgreSQL variant has no URL.
pub fn resolve(
    engines: &[Variant],
    pg_url: Option<String>,
    env_url: Option<String>,
) -> anyhow::Result<(Vec<Variant>, Option<String>)> {
    let mut variants = Vec::new();
    for &v in engines {
        if !variants.contains(&v) {
            variants.push(v);
        }
    }
    if variants.is_empty() {
        variants.push(Variant::Sqlite);
    }
    if !variants.iter().any(|v| v.is_postgres()) {
        return Ok((variants, None));
    }
    let url = pg_url.or(env_url.filter(|u| !u.is_empty())).context(
        "a PostgreSQL engine needs a server: --pg-url postgres://… or SWITCHBOARD_TEST_PG \
         (`eval \"$(bash scripts/pg.sh start)\"` starts a throwaway one)",
    )?;
    if !switchboard::store::is_postgres_url(&url) {
        bail!("--pg-url must be a postgres:// URL, not {url:?}");
    }
    Ok((variants, Some(url)))
}

/// `base` with its database replaced by `name` (user, host, port and parameters kept).
pub fn database_url(base: &str, name: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(base).with_context(|| format!("parsing the PostgreSQL URL {base:?}"))?;
    url.set_path(name);
    Ok(url.to_string())
}

/// The PostgreSQL server of the run: makes a database per scenario and drops them at the end.
pub struct Pg {
    base: String,
    created: Mutex<Vec<String>>,
}

impl Pg {
    /// The server at `base` (a database URL of it; that database is used only to connect).
    pub fn new(base: String) -> Pg {
        Pg { base, created: Mutex::new(Vec::new()) }
    }

    /// An administrative connection, without TLS (the bench runs against a local server).
    async fn admin(&self, url: &str) -> anyhow::Result<tokio_postgres::Client> {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .with_context(|| format!("connecting to {url} (without TLS)"))?;
        tokio::spawn(async move {
            // Ends when the client is dropped.
            let _ = connection.await;
        });
        Ok(client)
    }

    /// A new, empty database `bench_{scenario}_{random}`; returns its URL.
    pub async fn create_database(&self, scenario: &str) -> anyhow::Result<String> {
        // An unquoted identifier: letters, digits and underscores only.
        let scenario: String = scenario.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let name = format!("bench_{scenario}_{}", &switchboard_domain::sid::random_hex32()[..12]);
        self.admin(&self.base).await?.batch_execute(&format!("CREATE DATABASE {name}")).await?;
        self.created.lock().unwrap_or_else(|p| p.into_inner()).push(name.clone());
        database_url(&self.base, &name)
    }

    /// Brings the planner's statistics and the visibility map of a freshly seeded database up
    /// to date, as autovacuum would within a minute or so of the load: without it the list
    /// figures would depend on whether autovacuum had run yet.
    pub async fn vacuum_analyze(&self, url: &str) -> anyhow::Result<()> {
        self.admin(url).await?.batch_execute("VACUUM (ANALYZE) messages, message_events").await?;
        Ok(())
    }

    /// The server's version and the settings that decide what a commit costs.
    pub async fn describe(&self) -> anyhow::Result<String> {
        let client = self.admin(&self.base).await?;
        let mut parts = Vec::new();
        for setting in ["server_version", "fsync", "synchronous_commit", "shared_buffers"] {
            let row = client.query_one(&format!("SHOW {setting}"), &[]).await?;
            parts.push(format!("{setting}={}", row.try_get::<_, String>(0)?));
        }
        Ok(parts.join(", "))
    }

    /// Drops the databases made by [`Pg::create_database`] (their servers have stopped).
    pub async fn drop_all(&self) -> anyhow::Result<()> {
        let names = std::mem::take(&mut *self.created.lock().unwrap_or_else(|p| p.into_inner()));
        if names.is_empty() {
            return Ok(());
        }
        let client = self.admin(&self.base).await?;
        for name in names {
            client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_engines_only_sqlite_runs_and_no_server_is_needed() {
        let (variants, url) = resolve(&[], None, None).unwrap();
        assert_eq!(variants, [Variant::Sqlite]);
        assert_eq!(url, None);
        // A cluster in the environment does not turn PostgreSQL on by itself.
        let (_, url) = resolve(&[], None, Some("postgres://x@h/db".into())).unwrap();
        assert_eq!(url, None);
    }

    #[test]
    fn postgres_variants_take_the_flag_then_the_environment() {
        let all = [Variant::Sqlite, Variant::Postgres, Variant::Postgres2Nodes, Variant::Postgres];
        let (variants, url) =
            resolve(&all, Some("postgres://a@h/one".into()), Some("postgres://b@h/two".into())).unwrap();
        assert_eq!(variants, [Variant::Sqlite, Variant::Postgres, Variant::Postgres2Nodes]);
        assert_eq!(url.as_deref(), Some("postgres://a@h/one"));
        let (_, url) = resolve(&all, None, Some("postgres://b@h/two".into())).unwrap();
        assert_eq!(url.as_deref(), Some("postgres://b@h/two"));
    }

    #[test]
    fn a_postgres_variant_without_a_server_is_refused_before_the_run() {
        let e = resolve(&[Variant::Postgres2Nodes], None, Some(String::new())).unwrap_err();
        assert!(format!("{e:#}").contains("--pg-url"), "{e:#}");
        assert!(resolve(&[Variant::Postgres], Some("./file.db".into()), None).is_err());
    }

    #[test]
    fn a_scenario_database_keeps_the_servers_address_and_parameters() {
        let url = database_url("postgres://sb:pw@127.0.0.1:5433/switchboard?sslmode=disable", "bench_list_1").unwrap();
        assert_eq!(url, "postgres://sb:pw@127.0.0.1:5433/bench_list_1?sslmode=disable");
    }

    #[test]
    fn two_nodes_is_the_only_variant_with_more_than_one_server() {
        assert_eq!([Variant::Sqlite, Variant::Postgres, Variant::Postgres2Nodes].map(Variant::nodes), [1, 1, 2]);
        assert_eq!(Variant::Postgres2Nodes.engine(), "postgres");
    }
}

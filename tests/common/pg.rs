//! The throwaway PostgreSQL cluster that `scripts/test.sh` starts (`scripts/pg.sh`,
//! `SWITCHBOARD_TEST_PG`), for the tests that run on it.

/// The cluster's URL, or `None` (skip, loudly) when none is configured outside CI; under `CI` or
/// `SWITCHBOARD_REQUIRE_PG` a missing cluster fails the test.
pub fn cluster() -> Option<String> {
    match std::env::var("SWITCHBOARD_TEST_PG") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() || std::env::var_os("SWITCHBOARD_REQUIRE_PG").is_some() => {
            panic!("SWITCHBOARD_TEST_PG is not set: scripts/test.sh must start the PostgreSQL cluster")
        }
        _ => {
            eprintln!(
                "!!! SKIPPED: PostgreSQL test without a cluster; run `eval \"$(bash scripts/pg.sh start)\"` first"
            );
            None
        }
    }
}

/// A new, empty database on the cluster, named `{prefix}_{random}`; returns its URL.
pub async fn fresh_database(base: &str, prefix: &str) -> String {
    let (client, connection) = tokio_postgres::connect(base, tokio_postgres::NoTls).await.expect("connect to cluster");
    tokio::spawn(connection);
    let name = format!("{prefix}_{}", switchboard_domain::sid::random_hex32());
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let mut url = url::Url::parse(base).unwrap();
    url.set_path(&name);
    url.to_string()
}

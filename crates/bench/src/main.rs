//! `switchboard-bench`: Switchboard's reproducible benchmark.
//!
//! ```sh
//! cargo run --release -p switchboard-bench -- [--quick] [--json PATH]
//! ```
//!
//! Builds the release server, starts it on temporary databases, and measures: create
//! throughput and latency at several connection counts next to an HTTP ceiling and a peer
//! (Prism serving Twilio's OpenAPI description) measured in the same run; filtered and deep
//! list pages over a seeded database; create-to-last-callback throughput, through the simulator
//! and through an SMPP connector to an in-process SMSC; the server's peak memory. With
//! `--engines sqlite,postgres,postgres-2nodes` (and `--pg-url` or `SWITCHBOARD_TEST_PG`) create,
//! list and end to end also run on PostgreSQL, with one node and with two on one database, in the
//! same run. Progress goes to stderr, the summary table to stdout, everything to JSON
//! (`target/bench/results.json` by default). The exit status is non-zero when a scenario
//! failed outright (error responses, missing callbacks), never for a missed target.
//! `docs/performance.md` explains the method and the figures.

mod ceiling;
mod engines;
mod load;
mod peer;
mod process;
mod report;
mod scenarios;
mod seed;
mod smpp;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use report::{Machine, MemoryReport, Report};
use scenarios::{Ctx, Plan};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;
use switchboard::store::Account;
use switchboard_domain::sid;

#[derive(Parser)]
#[command(name = "switchboard-bench", about = "Benchmarks Switchboard against an HTTP ceiling and a peer, in one run")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args)]
struct RunArgs {
    /// Short run (1 s per level, 20,000 listed messages, 500 end-to-end messages) for CI.
    #[arg(long)]
    quick: bool,
    /// Where to write the results [default: target/bench/results.json].
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Use target/release/switchboard as it is instead of building it first.
    #[arg(long)]
    no_build: bool,
    /// Benchmark this server binary instead of target/release/switchboard (implies --no-build;
    /// for before/after comparisons in one invocation's conditions).
    #[arg(long, value_name = "PATH")]
    server_bin: Option<PathBuf>,
    /// Do not install or run the peer (Prism).
    #[arg(long)]
    no_peer: bool,
    /// Run only these scenarios (comma-separated: create, list, e2e, streams, smpp) [default: all].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    only: Vec<Scenario>,
    /// Measured seconds per create level (overrides the plan).
    #[arg(long, value_name = "SECS")]
    window_secs: Option<f64>,
    /// Messages to seed for the list scenario (overrides the plan).
    #[arg(long, value_name = "N")]
    list_messages: Option<u64>,
    /// Messages of the end-to-end scenario (overrides the plan).
    #[arg(long, value_name = "N")]
    e2e_messages: Option<u64>,
    /// Worker threads of the load generator.
    #[arg(long, value_name = "N", default_value_t = 2)]
    client_threads: usize,
    /// Engines to run create, list and end to end on (comma-separated: sqlite, postgres,
    /// postgres-2nodes) [default: sqlite]. The ceiling, the peer, key auth, memory and the
    /// streams scenario are measured on SQLite only.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    engines: Vec<engines::Variant>,
    /// PostgreSQL server of the postgres engines; each scenario gets a new database on it
    /// (CREATE DATABASE, dropped at the end) [default: $SWITCHBOARD_TEST_PG].
    #[arg(long, value_name = "URL")]
    pg_url: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
enum Scenario {
    Create,
    List,
    E2e,
    Streams,
    Smpp,
}

#[derive(Subcommand)]
enum Sub {
    /// The HTTP ceiling server (started by the bench itself).
    #[command(hide = true)]
    Ceiling {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Size of the fixed JSON answer, bytes.
        #[arg(long)]
        response_bytes: usize,
    },
    /// Drives create load at a running server for a while (to profile it under load).
    #[command(hide = true)]
    Load {
        /// Server address, e.g. 127.0.0.1:8080.
        #[arg(long)]
        addr: std::net::SocketAddr,
        /// `ACxxx:token`.
        #[arg(long)]
        account: String,
        /// Keep-alive connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Seconds of load.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Sub::Ceiling { listen, response_bytes }) => {
            // Like Switchboard's `#[tokio::main]`: one worker per core.
            let rt = tokio::runtime::Runtime::new();
            match rt.map_err(anyhow::Error::from).and_then(|rt| rt.block_on(ceiling::serve(&listen, response_bytes))) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("ceiling: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Sub::Load { addr, account, connections, secs }) => match runtime(2)
            .and_then(|rt| rt.block_on(load_only(addr, &account, connections, Duration::from_secs_f64(secs))))
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("switchboard-bench load: {e:#}");
                ExitCode::FAILURE
            }
        },
        None => match runtime(cli.run.client_threads).and_then(|rt| rt.block_on(run(cli.run))) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("switchboard-bench: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(threads.max(1)).enable_all().build()?)
}

/// The repository root (this crate lives in `crates/bench`).
fn repo_root() -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().with_context(|| format!("finding the repository root from {}", root.display()))
}

/// Cargo's target directory, as the build will use it.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// Variables `cargo run` sets for the program it runs (besides `CARGO_PKG_*`).
const CARGO_RUN_VARS: &[&str] = &[
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// `cargo build --release --bin switchboard` from the repository root; cargo's output goes to
/// stderr so stdout stays the summary.
fn build_server(root: &Path) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("==> cargo build --release --bin switchboard (in {})", root.display());
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--release", "--bin", "switchboard"]).current_dir(root);
    // `cargo run` hands its child the variables of the bench package (CARGO_PKG_NAME,
    // CARGO_MANIFEST_DIR, …). Build scripts that watch them would see a change and rebuild
    // half the tree on every run, so the inner build gets the environment of a plain shell.
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if key_text.starts_with("CARGO_PKG_") || CARGO_RUN_VARS.contains(&key_text.as_ref()) {
            cmd.env_remove(&key);
        }
    }
    let status = cmd
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .status()
        .with_context(|| format!("running {}", Path::new(&cargo).display()))?;
    if !status.success() {
        bail!("building the server failed ({status})");
    }
    Ok(())
}

/// The whole benchmark; `Ok(false)` when a scenario failed outright.
async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let root = repo_root()?;
    let target = target_dir(&root);
    let (variants, pg_url) =
        engines::resolve(&args.engines, args.pg_url.clone(), std::env::var("SWITCHBOARD_TEST_PG").ok())?;
    let plan = plan_of(&args);
    if !args.no_build && args.server_bin.is_none() {
        build_server(&root)?;
    }
    let server_bin = args.server_bin.clone().unwrap_or_else(|| target.join("release/switchboard"));
    if !server_bin.exists() {
        bail!("{} does not exist (run without --no-build)", server_bin.display());
    }
    let bench_dir = target.join("bench");
    let logs = bench_dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    // Databases live under target/ (not /tmp, which may be a small tmpfs) and go away at the end.
    let work = tempfile::Builder::new().prefix("run-").tempdir_in(&bench_dir)?;
    let ctx = Ctx {
        plan: plan.clone(),
        server_bin,
        self_exe: std::env::current_exe().context("locating the bench executable")?,
        work: work.path().to_path_buf(),
        logs: logs.clone(),
        tools: target.join("bench-tools/npm"),
        peer: !args.no_peer,
        account: Account { sid: format!("AC{}", sid::random_hex32()), auth_token: sid::random_hex32() },
        pg: pg_url.map(|url| Arc::new(engines::Pg::new(url))),
    };
    let mut report = Report {
        schema: 1,
        mode: plan.mode,
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        machine: Machine::detect(),
        create: None,
        list: None,
        end_to_end: None,
        streams: None,
        engines: Vec::new(),
        smpp: None,
        memory: MemoryReport::default(),
        targets: Vec::new(),
        failures: Vec::new(),
        notes: Vec::new(),
    };
    if report.machine.busy_cores_at_start > 0.2 {
        report.notes.push(format!(
            "the machine was not idle at the start ({:.2} of {} cores busy elsewhere): the figures are lower than this \
             machine can do",
            report.machine.busy_cores_at_start, report.machine.nproc
        ));
    }
    eprintln!(
        "==> {} run: {} × {}; children's logs in {}",
        plan.mode,
        report.machine.nproc,
        report.machine.cpu_model,
        logs.display()
    );

    let wants = |s: Scenario| args.only.is_empty() || args.only.contains(&s);
    let sqlite = variants.contains(&engines::Variant::Sqlite);
    // A scenario that cannot even run (server does not start, …) is a failure; the others
    // still run so one problem does not hide the rest.
    if sqlite && wants(Scenario::Create) {
        if let Err(e) = scenarios::create(&ctx, &mut report).await {
            report.failures.push(format!("create: {e:#}"));
        }
    }
    if sqlite && wants(Scenario::List) {
        if let Err(e) = scenarios::list(&ctx, &mut report).await {
            report.failures.push(format!("list: {e:#}"));
        }
    }
    if sqlite && wants(Scenario::E2e) {
        if let Err(e) = scenarios::end_to_end(&ctx, &mut report).await {
            report.failures.push(format!("end to end: {e:#}"));
        }
    }
    for &variant in variants.iter().filter(|v| v.is_postgres()) {
        let wants_named = |name: &str| match name {
            "create" => wants(Scenario::Create),
            "list" => wants(Scenario::List),
            _ => wants(Scenario::E2e),
        };
        let run = scenarios::engine_run(&ctx, variant, wants_named, &mut report).await;
        report.engines.push(run);
    }
    if let Some(pg) = &ctx.pg {
        if let Err(e) = pg.drop_all().await {
            report.notes.push(format!("could not drop the bench's PostgreSQL databases: {e:#}"));
        }
    }
    if wants(Scenario::Streams) {
        if let Err(e) = scenarios::streams(&ctx, &mut report).await {
            report.failures.push(format!("event streams: {e:#}"));
        }
    }
    if wants(Scenario::Smpp) {
        if let Err(e) = smpp::smpp(&ctx, &mut report).await {
            report.failures.push(format!("smpp: {e:#}"));
        }
    }
    report.evaluate_targets();

    let json_path = args.json.unwrap_or_else(|| bench_dir.join("results.json"));
    if let Some(dir) = json_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    print!("{}", report.summary());
    eprintln!("==> results written to {}", json_path.display());
    Ok(report.failures.is_empty())
}

/// The plan of a run: quick or full, with the sizes given on the command line.
fn plan_of(args: &RunArgs) -> Plan {
    let mut plan = Plan::new(args.quick);
    if let Some(secs) = args.window_secs {
        plan.window = Duration::from_secs_f64(secs);
    }
    if let Some(n) = args.list_messages {
        plan.list_messages = n;
    }
    if let Some(n) = args.e2e_messages {
        plan.e2e_messages = n;
    }
    plan
}

/// The hidden `load` subcommand: create load at a server someone else started.
async fn load_only(
    addr: std::net::SocketAddr,
    account: &str,
    connections: usize,
    secs: Duration,
) -> anyhow::Result<()> {
    let (sid, token) = account.split_once(':').context("--account must be SID:TOKEN")?;
    let path = format!("/2010-04-01/Accounts/{sid}/Messages.json");
    let spec = load::RequestSpec::new(
        addr,
        hyper::Method::POST,
        &path,
        Some((sid, token)),
        Some(scenarios::CREATE_FORM.to_string()),
    )?;
    let outcome = load::run_timed(Arc::new(spec), connections, Duration::ZERO, secs).await?;
    let level = report::Level::from(&outcome);
    println!("{}", serde_json::to_string_pretty(&level)?);
    if level.errors > 0 {
        bail!("{} errors; first: {}", level.errors, level.first_error.unwrap_or_default());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use engines::Variant;

    fn parse(args: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from(std::iter::once("switchboard-bench").chain(args.iter().copied())).unwrap();
        assert!(cli.command.is_none());
        cli.run
    }

    #[test]
    fn the_ci_smoke_run_stays_on_sqlite_alone() {
        let args = parse(&["--quick", "--no-build", "--no-peer"]);
        let (variants, url) = engines::resolve(&args.engines, args.pg_url.clone(), None).unwrap();
        assert_eq!(variants, [Variant::Sqlite]);
        assert_eq!(url, None);
        assert_eq!(plan_of(&args).list_messages, 20_000);
    }

    #[test]
    fn engines_and_a_server_url_select_postgres_beside_sqlite_at_full_scale() {
        let args = parse(&[
            "--engines",
            "sqlite,postgres,postgres-2nodes",
            "--pg-url",
            "postgres://sb@127.0.0.1:5432/switchboard",
            "--only",
            "create,list,e2e",
        ]);
        let (variants, url) = engines::resolve(&args.engines, args.pg_url.clone(), None).unwrap();
        assert_eq!(variants, [Variant::Sqlite, Variant::Postgres, Variant::Postgres2Nodes]);
        assert_eq!(url.as_deref(), Some("postgres://sb@127.0.0.1:5432/switchboard"));
        assert_eq!(args.only, [Scenario::Create, Scenario::List, Scenario::E2e]);
        let plan = plan_of(&args);
        assert_eq!((plan.list_messages, plan.e2e_messages), (1_000_000, 20_000));
        // The quick plan keeps its small sizes on every engine.
        let quick = parse(&["--quick", "--engines", "postgres", "--pg-url", "postgres://h/db"]);
        assert_eq!(plan_of(&quick).list_messages, 20_000);
    }

    #[test]
    fn an_unknown_engine_is_a_usage_error() {
        let cli = Cli::try_parse_from(["switchboard-bench", "--engines", "mysql"]);
        assert!(cli.is_err());
    }
}

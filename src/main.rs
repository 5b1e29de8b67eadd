//! The `switchboard` binary.

use clap::Parser;
use std::io::Write;
use switchboard::config::{BackupArgs, Cli, Command, Config, CopyDbArgs, EnvArgs, KeysCommand, RunArgs};
use switchboard::server;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's allocator: request handling allocates many small, short-lived
/// buffers on several threads, where glibc's arenas cost a fifth of the server's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("SWITCHBOARD_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Env(args) => print_env(args),
        Command::Run(args) => match run(args) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        Command::Keys(cmd) => keys(cmd).await,
        Command::Backup(args) => backup(args),
        Command::CopyDb(args) => copy_db(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `switchboard env`: the variables, in the format asked for, on stdout.
fn print_env(args: EnvArgs) -> anyhow::Result<()> {
    let config = Config::resolve(args.serve)?;
    let vars = server::client_environment(&config)?;
    let mut out = std::io::stdout().lock();
    out.write_all(switchboard::proxy::env::render(&vars, args.format).as_bytes())?;
    out.flush()?;
    Ok(())
}

/// `switchboard run -- CMD…`: runs the command with the variables set; its exit code (128 + the
/// signal's number if a signal ended it) becomes ours.
fn run(args: RunArgs) -> anyhow::Result<std::process::ExitCode> {
    let config = Config::resolve(args.serve)?;
    let mut vars = server::client_environment(&config)?;
    // Options the user already gives the JVM are kept, ours added after them.
    if let (Ok(theirs), Some((_, ours))) =
        (std::env::var("JAVA_TOOL_OPTIONS"), vars.iter_mut().find(|(k, _)| k == "JAVA_TOOL_OPTIONS"))
    {
        if !theirs.trim().is_empty() {
            *ours = format!("{theirs} {ours}");
        }
    }
    let (program, rest) = args.command.split_first().ok_or_else(|| anyhow::anyhow!("no command given after --"))?;
    let status = std::process::Command::new(program)
        .args(rest)
        .envs(vars)
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run {program}: {e}"))?;
    let code = match status.code() {
        Some(c) => c,
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                128 + status.signal().unwrap_or(0)
            }
            #[cfg(not(unix))]
            1
        }
    };
    Ok(std::process::ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1)))
}

async fn serve(args: switchboard::config::ServeArgs) -> anyhow::Result<()> {
    let config = Config::resolve(args)?;
    let signal = server::shutdown_signal()?;
    // One signal stops both the API and the proxy.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        signal.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    let url = match &config.public_url {
        Some(u) => u.clone(),
        None => format!("{scheme}://{}", listener.local_addr()?),
    };
    let prepared = server::prepare(&config, &url).await?;
    let proxy =
        server::start_proxy(&config, prepared.router.clone(), listener.local_addr()?, stopped(stop_rx.clone())).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "Switchboard {} listening on {scheme}://{}", env!("CARGO_PKG_VERSION"), listener.local_addr()?)?;
        writeln!(out, "  API base URL: {url}")?;
        writeln!(out, "  Database:     {}", config.db)?;
        for (account, show_token) in &prepared.announce {
            if *show_token {
                writeln!(out, "  Account SID:  {}   Auth Token: {}", account.sid, account.auth_token)?;
            } else {
                writeln!(out, "  Account SID:  {}   (token as configured)", account.sid)?;
            }
        }
        if let Some(address) = proxy {
            writeln!(out, "  Proxy:        http://{address} for *.twilio.com (CA in {})", config.ca_dir.display())?;
            writeln!(
                out,
                "                eval \"$(switchboard env)\" or `switchboard run -- CMD` sends an unchanged app here"
            )?;
        }
        if config.accept_any_credentials {
            writeln!(out, "  Any well-formed AC… SID and token is accepted (--accept-any-credentials)")?;
        }
        out.flush()?;
    }
    let result = server::serve(prepared, listener, stopped(stop_rx)).await;
    if let Some(address) = proxy {
        server::forget_proxy_address(&config, address);
    }
    result
}

/// `switchboard backup`: an online copy, with a progress line when stdout is a terminal.
fn backup(args: BackupArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let started = std::time::Instant::now();
    let terminal = std::io::stdout().is_terminal();
    if switchboard::store::is_postgres_url(&args.db) {
        anyhow::bail!(
            "backup copies a SQLite file; back a PostgreSQL database up with its own tools (pg_dump, base backups)"
        );
    }
    let mut out = std::io::stdout().lock();
    let report = switchboard::store::sqlite::backup(&args.db, &args.to, |done, total| {
        if terminal && total > 0 {
            let _ = write!(out, "\r  backing up: {:>3}% ({done}/{total} pages)", done * 100 / total);
            let _ = out.flush();
        }
    })?;
    let mut out = std::io::stdout().lock();
    if terminal {
        writeln!(out)?;
    }
    writeln!(
        out,
        "Backed up {} to {}: {} messages, {} pages in {} ms",
        args.db,
        args.to.display(),
        report.messages,
        report.pages,
        started.elapsed().as_millis()
    )?;
    Ok(())
}

/// `switchboard copy-db`: SQLite to PostgreSQL, with progress (a line that updates itself on a
/// terminal, a line per table otherwise) and the verified counts.
async fn copy_db(args: CopyDbArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    use switchboard::store::postgres::copy;
    if !switchboard::store::is_postgres_url(&args.to) {
        anyhow::bail!("--to must be a postgres:// URL");
    }
    let terminal = std::io::stdout().is_terminal();
    // Not on a terminal (a log): a line per table and one every 5 s within a large one.
    let mut logged = std::time::Instant::now();
    let report = copy::copy_sqlite_to_postgres(&args.from, &args.to, |table, p| {
        let mut out = std::io::stdout().lock();
        let line = format!(
            "{table}: {}/{} rows copied, {:.0} rows/s, {:.0} s left",
            p.done,
            p.total,
            p.rate(),
            p.left().as_secs_f64()
        );
        if terminal {
            let _ = write!(out, "\r  {line:<78}");
        } else if p.table_done || logged.elapsed() >= std::time::Duration::from_secs(5) {
            logged = std::time::Instant::now();
            let _ = writeln!(out, "  {line}");
        }
        let _ = out.flush();
    })
    .await?;
    let mut out = std::io::stdout().lock();
    if terminal {
        writeln!(out)?;
    }
    for (table, rows) in &report.tables {
        writeln!(out, "  {table:<18} {rows:>10} rows (same count on both sides)")?;
    }
    writeln!(
        out,
        "Copied {} rows from {} in {} ms; counts verified. Start the server with --db on the PostgreSQL URL.",
        report.rows,
        args.from,
        report.elapsed.as_millis()
    )?;
    Ok(())
}

/// `switchboard keys create|list`: works on the database directly, so a script can bootstrap
/// credentials before (or while) the server runs.
async fn keys(cmd: KeysCommand) -> anyhow::Result<()> {
    use switchboard::store::{ApiKey, KeyType};
    let mut out = std::io::stdout().lock();
    match cmd {
        KeysCommand::Create(a) => {
            let store = switchboard::store::open(&a.db).await?;
            if store.account_record(&a.account).await?.is_none() {
                anyhow::bail!("no account {} in {}", a.account, a.db);
            }
            let key_type = if a.main { KeyType::Main } else { KeyType::Standard };
            let now = switchboard::clock::now_ms();
            let (key, secret) = ApiKey::generate(&a.account, &a.friendly_name, key_type, None, now);
            store.insert_key(key.clone()).await?;
            writeln!(out, "{} {}", key.sid, secret)?;
        }
        KeysCommand::List(a) => {
            let store = switchboard::store::open(&a.db).await?;
            for k in store.keys_of(&a.account).await? {
                writeln!(out, "{} {} {}", k.sid, k.key_type.as_str(), k.friendly_name)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

//! The `switchboard` binary.

use clap::Parser;
use std::io::Write;
use switchboard::config::{Cli, Command, Config};
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
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: switchboard::config::ServeArgs) -> anyhow::Result<()> {
    let config = Config::resolve(args)?;
    let shutdown = server::shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let url = match &config.public_url {
        Some(u) => u.clone(),
        None => format!("http://{}", listener.local_addr()?),
    };
    let prepared = server::prepare(&config, &url).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "Switchboard {} listening on http://{}", env!("CARGO_PKG_VERSION"), listener.local_addr()?)?;
        writeln!(out, "  API base URL: {url}")?;
        writeln!(out, "  Database:     {}", config.db)?;
        for (account, show_token) in &prepared.announce {
            if *show_token {
                writeln!(out, "  Account SID:  {}   Auth Token: {}", account.sid, account.auth_token)?;
            } else {
                writeln!(out, "  Account SID:  {}   (token as configured)", account.sid)?;
            }
        }
        if config.accept_any_credentials {
            writeln!(out, "  Any well-formed AC… SID and token is accepted (--accept-any-credentials)")?;
        }
        out.flush()?;
    }
    server::serve(prepared, listener, shutdown).await
}

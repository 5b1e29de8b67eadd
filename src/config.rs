//! Configuration: command-line flags, each also settable as `SWITCHBOARD_<FLAG>` and in an
//! optional TOML file (`--config`). Precedence: flag, then environment, then file, then default.

use crate::store::Account;
use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use std::path::PathBuf;
use switchboard_domain::sid;

/// Default listen address: loopback only, so a fresh install exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default SQLite file, in the working directory.
pub const DEFAULT_DB: &str = "switchboard.db";
/// Default delay of each simulated carrier step, in milliseconds.
pub const DEFAULT_SIMULATOR_DELAY_MS: u64 = 200;

/// Switchboard: a self-hosted, Twilio-compatible Programmable Messaging server.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Twilio-compatible API.
    Serve(ServeArgs),
}

/// Flags of `switchboard serve`.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (keys in snake_case, e.g. `listen`, `accounts`).
    #[arg(long, env = "SWITCHBOARD_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:8080]. Port 0 picks a free port.
    #[arg(long, env = "SWITCHBOARD_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,

    /// SQLite database file, created with its schema on first start [default: ./switchboard.db].
    #[arg(long, env = "SWITCHBOARD_DB", value_name = "PATH")]
    pub db: Option<String>,

    /// Account to create or update at start, as `ACxxxxxxxx…:authtoken`. Repeatable; in the
    /// environment, separate several with commas.
    #[arg(long = "account", env = "SWITCHBOARD_ACCOUNT", value_name = "SID:TOKEN", value_delimiter = ',')]
    pub accounts: Vec<String>,

    /// Accept any well-formed `AC…` SID with any token, creating the account on first use
    /// (later requests must present the same token). For local development only.
    #[arg(long, env = "SWITCHBOARD_ACCEPT_ANY_CREDENTIALS", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub accept_any_credentials: Option<bool>,

    /// External base URL (e.g. `https://sms.example.com`), for absolute URLs the server makes.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Delay of each step of the built-in carrier simulator, in ms (0 allowed) [default: 200].
    #[arg(long, env = "SWITCHBOARD_SIMULATOR_DELAY_MS", value_name = "MS")]
    pub simulator_delay_ms: Option<u64>,
}

/// The TOML file's shape; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    db: Option<String>,
    #[serde(default)]
    accounts: Vec<String>,
    accept_any_credentials: Option<bool>,
    public_url: Option<String>,
    simulator_delay_ms: Option<u64>,
}

/// Fully resolved settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: String,
    /// Database location.
    pub db: String,
    /// Accounts to upsert at start.
    pub accounts: Vec<Account>,
    /// See [`ServeArgs::accept_any_credentials`].
    pub accept_any_credentials: bool,
    /// External base URL, without a trailing slash.
    pub public_url: Option<String>,
    /// Simulator step delay.
    pub simulator_delay_ms: u64,
}

impl Config {
    /// Resolves flags/environment against the optional file and the defaults.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<FileConfig>(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let accounts_raw = if args.accounts.is_empty() { file.accounts } else { args.accounts };
        let accounts = accounts_raw.iter().map(|a| parse_account(a)).collect::<anyhow::Result<Vec<_>>>()?;
        let public_url = args.public_url.or(file.public_url).map(|u| u.trim_end_matches('/').to_string());
        if let Some(u) = &public_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                bail!("--public-url must start with http:// or https://, got {u}");
            }
        }
        Ok(Config {
            listen: args.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_string()),
            db: args.db.or(file.db).unwrap_or_else(|| DEFAULT_DB.to_string()),
            accounts,
            accept_any_credentials: args.accept_any_credentials.or(file.accept_any_credentials).unwrap_or(false),
            public_url,
            simulator_delay_ms: args
                .simulator_delay_ms
                .or(file.simulator_delay_ms)
                .unwrap_or(DEFAULT_SIMULATOR_DELAY_MS),
        })
    }
}

/// Parses `SID:TOKEN`.
pub fn parse_account(s: &str) -> anyhow::Result<Account> {
    let Some((sid_part, token)) = s.trim().split_once(':') else {
        bail!("account {s:?} must be written SID:TOKEN");
    };
    if !sid::is_valid(sid_part, "AC") {
        bail!("account SID {sid_part:?} must be AC followed by 32 hex digits");
    }
    if token.is_empty() {
        bail!("account {sid_part} has an empty auth token");
    }
    Ok(Account { sid: sid_part.to_string(), auth_token: token.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sb.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9999\"\ndb = \"from-file.db\"\naccept_any_credentials = true\n")
            .unwrap();
        let args = ServeArgs { config: Some(path), db: Some("flag.db".into()), ..Default::default() };
        let c = Config::resolve(args).unwrap();
        assert_eq!(c.listen, "127.0.0.1:9999");
        assert_eq!(c.db, "flag.db");
        assert!(c.accept_any_credentials);
        assert_eq!(c.simulator_delay_ms, DEFAULT_SIMULATOR_DELAY_MS);
    }

    #[test]
    fn accounts_must_be_sid_colon_token() {
        let sid = format!("AC{}", "a".repeat(32));
        assert_eq!(parse_account(&format!("{sid}:tok")).unwrap().auth_token, "tok");
        assert!(parse_account(&sid).is_err());
        assert!(parse_account("AC123:tok").is_err());
        assert!(parse_account(&format!("{sid}:")).is_err());
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sb.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        assert!(Config::resolve(ServeArgs { config: Some(path), ..Default::default() }).is_err());
    }
}

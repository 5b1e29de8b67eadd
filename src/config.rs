//! Configuration: command-line flags, each also settable as `SWITCHBOARD_<FLAG>` and in an
//! optional TOML file (`--config`). Precedence: flag, then environment, then file, then default.

use crate::delivery::pricing::PriceTable;
use crate::delivery::rates::RateTable;
use crate::delivery::simulator::{Delays, Rule};
use crate::delivery::DeliveryConfig;
use crate::store::Account;
use crate::webhooks::callbacks::CallbackSettings;
use crate::webhooks::client::RequestSettings;
use crate::webhooks::policy::AddressPolicy;
use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
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

    /// Simulator delay from `sending` to the carrier's answer, ms [default: --simulator-delay-ms].
    #[arg(long, env = "SWITCHBOARD_SIMULATOR_SUBMIT_DELAY_MS", value_name = "MS")]
    pub simulator_submit_delay_ms: Option<u64>,

    /// Simulator delay from `sent` to the delivery receipt, ms [default: --simulator-delay-ms].
    #[arg(long, env = "SWITCHBOARD_SIMULATOR_RECEIPT_DELAY_MS", value_name = "MS")]
    pub simulator_receipt_delay_ms: Option<u64>,

    /// Limit every sender to Twilio's published rate for its class (long code 1, toll-free 3,
    /// short code 100, alphanumeric 10, channel 80 segments/s). Off: senders are unlimited.
    #[arg(long, env = "SWITCHBOARD_TWILIO_RATES", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub twilio_rates: Option<bool>,

    /// Rate of a sender class (`long-code`, `toll-free`, `short-code`, `alphanumeric`,
    /// `channel`) or of one sender, as `KEY=MPS`. Repeatable; comma-separated in the environment.
    #[arg(long = "sender-rate", env = "SWITCHBOARD_SENDER_RATE", value_name = "KEY=MPS", value_delimiter = ',')]
    pub sender_rates: Vec<String>,

    /// A sender's queue holds at most this many seconds of segments at its rate; more is 21611
    /// [default: 36000].
    #[arg(long, env = "SWITCHBOARD_QUEUE_LIMIT_SECS", value_name = "SECS")]
    pub queue_limit_secs: Option<u64>,

    /// Price of one outbound segment to a country, `CC=USD` (or `default=USD`). Repeatable.
    #[arg(long = "price", env = "SWITCHBOARD_PRICE", value_name = "CC=USD", value_delimiter = ',')]
    pub prices: Vec<String>,

    /// Connect timeout of status callbacks, ms [default: 5000].
    #[arg(long, env = "SWITCHBOARD_CALLBACK_CONNECT_TIMEOUT_MS", value_name = "MS")]
    pub callback_connect_timeout_ms: Option<u64>,

    /// Read timeout of status callbacks (until the response is in), ms [default: 15000].
    #[arg(long, env = "SWITCHBOARD_CALLBACK_READ_TIMEOUT_MS", value_name = "MS")]
    pub callback_read_timeout_ms: Option<u64>,

    /// Attempts per status callback, the first included [default: 5].
    #[arg(long, env = "SWITCHBOARD_CALLBACK_MAX_ATTEMPTS", value_name = "N")]
    pub callback_max_attempts: Option<u32>,

    /// Wait before the first callback retry, ms; doubles per retry up to 60 s [default: 1000].
    #[arg(long, env = "SWITCHBOARD_CALLBACK_RETRY_BASE_MS", value_name = "MS")]
    pub callback_retry_base_ms: Option<u64>,

    /// Which addresses webhooks may reach: `allow-all`, `no-private` (loopback and public),
    /// `public-only` or `loopback-only` [default: allow-all, since local development calls
    /// loopback receivers].
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_ADDRESS_POLICY", value_name = "POLICY")]
    pub webhook_address_policy: Option<String>,

    /// Largest webhook response body read, bytes [default: 65536].
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_MAX_RESPONSE_BYTES", value_name = "BYTES")]
    pub webhook_max_response_bytes: Option<usize>,

    /// `From` must be a phone number, short code or alphanumeric sender of the account (else
    /// 21606) [default: false: any valid `From` is accepted, as a local stand-in needs].
    #[arg(long, env = "SWITCHBOARD_REQUIRE_OWNED_SENDERS", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub require_owned_senders: Option<bool>,

    /// Earliest `SendAt`, in seconds from now (Twilio: 300; 0 allowed for tests) [default: 300].
    #[arg(long, env = "SWITCHBOARD_MIN_SCHEDULE_LEAD", value_name = "SECONDS")]
    pub min_schedule_lead: Option<i64>,

    /// Prefix of short links made for `ShortenUrls=true`; it must route to this server's `/l/`
    /// [default: <public URL>/l].
    #[arg(long, env = "SWITCHBOARD_LINK_SHORTENING_DOMAIN", value_name = "URL")]
    pub link_shortening_domain: Option<String>,

    /// URL that receives a JSON event for every click on a short link [default: none].
    #[arg(long, env = "SWITCHBOARD_LINK_CLICK_CALLBACK", value_name = "URL")]
    pub link_click_callback: Option<String>,

    /// Delete messages (with their events and callbacks) created more than this many days ago,
    /// in the background [default: keep everything].
    #[arg(long, env = "SWITCHBOARD_RETENTION_DAYS", value_name = "DAYS")]
    pub retention_days: Option<u32>,

    /// Automatic reply to STOP (empty: none) [default: Twilio's text].
    #[arg(long, env = "SWITCHBOARD_OPT_OUT_STOP_REPLY", value_name = "TEXT")]
    pub opt_out_stop_reply: Option<String>,

    /// Automatic reply to START (empty: none) [default: Twilio's text].
    #[arg(long, env = "SWITCHBOARD_OPT_OUT_START_REPLY", value_name = "TEXT")]
    pub opt_out_start_reply: Option<String>,

    /// Automatic reply to HELP (empty: none) [default: Twilio's text].
    #[arg(long, env = "SWITCHBOARD_OPT_OUT_HELP_REPLY", value_name = "TEXT")]
    pub opt_out_help_reply: Option<String>,
}

/// Twilio's default reply to STOP.
pub const DEFAULT_STOP_REPLY: &str = "You have successfully been unsubscribed. You will not receive any more messages from this number. Reply START to resubscribe.";
/// Twilio's default reply to START.
pub const DEFAULT_START_REPLY: &str = "You have successfully been re-subscribed to messages from this number. Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.";
/// Twilio's default reply to HELP.
pub const DEFAULT_HELP_REPLY: &str = "Reply STOP to unsubscribe. Msg&Data Rates May Apply.";

/// Automatic replies to opt-out keywords; `None` sends nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOutReplies {
    /// Reply to STOP.
    pub stop: Option<String>,
    /// Reply to START.
    pub start: Option<String>,
    /// Reply to HELP.
    pub help: Option<String>,
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
    simulator_submit_delay_ms: Option<u64>,
    simulator_receipt_delay_ms: Option<u64>,
    #[serde(default)]
    simulator_rules: Vec<Rule>,
    twilio_rates: Option<bool>,
    #[serde(default)]
    sender_rates: Vec<String>,
    queue_limit_secs: Option<u64>,
    #[serde(default)]
    prices: Vec<String>,
    callback_connect_timeout_ms: Option<u64>,
    callback_read_timeout_ms: Option<u64>,
    callback_max_attempts: Option<u32>,
    callback_retry_base_ms: Option<u64>,
    webhook_address_policy: Option<String>,
    webhook_max_response_bytes: Option<usize>,
    require_owned_senders: Option<bool>,
    min_schedule_lead: Option<i64>,
    retention_days: Option<u32>,
    link_shortening_domain: Option<String>,
    link_click_callback: Option<String>,
    opt_out_stop_reply: Option<String>,
    opt_out_start_reply: Option<String>,
    opt_out_help_reply: Option<String>,
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
    /// Simulator step delays.
    pub simulator_delays: Delays,
    /// Simulator rules from the file.
    pub simulator_rules: Vec<Rule>,
    /// Rates, queue limit, prices.
    pub delivery: DeliveryConfig,
    /// Status-callback timing.
    pub callbacks: CallbackSettings,
    /// Which addresses webhooks may reach.
    pub webhook_address_policy: AddressPolicy,
    /// Largest webhook response read.
    pub webhook_max_response_bytes: usize,
    /// See `--require-owned-senders`.
    pub require_owned_senders: bool,
    /// Earliest `SendAt`, seconds from now.
    pub min_schedule_lead_secs: i64,
    /// Opt-out keyword replies.
    pub opt_out_replies: OptOutReplies,
    /// Messages older than this many days are deleted (`None`: kept).
    pub retention_days: Option<u32>,
    /// Short-link prefix (`None`: the public URL + `/l`).
    pub link_shortening_domain: Option<String>,
    /// Click events go here.
    pub link_click_callback: Option<String>,
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
        let mut rates =
            RateTable { twilio_rates: args.twilio_rates.or(file.twilio_rates).unwrap_or(false), ..Default::default() };
        for spec in if args.sender_rates.is_empty() { &file.sender_rates } else { &args.sender_rates } {
            rates.set(spec).map_err(anyhow::Error::msg)?;
        }
        let mut prices = PriceTable::default();
        for spec in if args.prices.is_empty() { &file.prices } else { &args.prices } {
            prices.set(spec).map_err(anyhow::Error::msg)?;
        }
        let delivery = DeliveryConfig {
            rates,
            queue_limit_secs: args.queue_limit_secs.or(file.queue_limit_secs).unwrap_or(36_000),
            prices,
        };
        let ms = Duration::from_millis;
        let mut defaults = RequestSettings::default();
        if let Some(v) = args.callback_connect_timeout_ms.or(file.callback_connect_timeout_ms) {
            defaults.connect_timeout = ms(v);
        }
        if let Some(v) = args.callback_read_timeout_ms.or(file.callback_read_timeout_ms) {
            defaults.read_timeout = ms(v);
            defaults.total_timeout = defaults.total_timeout.max(ms(v));
        }
        if let Some(v) = args.callback_max_attempts.or(file.callback_max_attempts) {
            if v == 0 {
                bail!("--callback-max-attempts must be at least 1");
            }
            defaults.max_attempts = v;
        }
        let callbacks = CallbackSettings {
            defaults,
            retry_base: ms(args.callback_retry_base_ms.or(file.callback_retry_base_ms).unwrap_or(1000)),
            retry_max: Duration::from_secs(60),
        };
        let policy_name = args.webhook_address_policy.or(file.webhook_address_policy);
        let webhook_address_policy = match policy_name.as_deref() {
            None => AddressPolicy::default(),
            Some(p) => AddressPolicy::parse(p).with_context(|| {
                format!(
                    "--webhook-address-policy must be allow-all, no-private, public-only or loopback-only, got {p:?}"
                )
            })?,
        };
        for rule in &file.simulator_rules {
            rule.validate().map_err(anyhow::Error::msg)?;
        }
        let reply = |flag: Option<String>, file: Option<String>, default: &str| {
            Some(flag.or(file).unwrap_or_else(|| default.to_string())).filter(|t| !t.is_empty())
        };
        let min_schedule_lead_secs = args.min_schedule_lead.or(file.min_schedule_lead).unwrap_or(300);
        if min_schedule_lead_secs < 0 {
            bail!("--min-schedule-lead must not be negative");
        }
        Ok(Config {
            retention_days: args.retention_days.or(file.retention_days).filter(|d| *d > 0),
            link_shortening_domain: args
                .link_shortening_domain
                .or(file.link_shortening_domain)
                .map(|d| d.trim_end_matches('/').to_string()),
            link_click_callback: args.link_click_callback.or(file.link_click_callback),
            require_owned_senders: args.require_owned_senders.or(file.require_owned_senders).unwrap_or(false),
            min_schedule_lead_secs,
            opt_out_replies: OptOutReplies {
                stop: reply(args.opt_out_stop_reply, file.opt_out_stop_reply, DEFAULT_STOP_REPLY),
                start: reply(args.opt_out_start_reply, file.opt_out_start_reply, DEFAULT_START_REPLY),
                help: reply(args.opt_out_help_reply, file.opt_out_help_reply, DEFAULT_HELP_REPLY),
            },
            simulator_rules: file.simulator_rules,
            delivery,
            callbacks,
            webhook_address_policy,
            webhook_max_response_bytes: args
                .webhook_max_response_bytes
                .or(file.webhook_max_response_bytes)
                .unwrap_or(64 * 1024),
            listen: args.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_string()),
            db: args.db.or(file.db).unwrap_or_else(|| DEFAULT_DB.to_string()),
            accounts,
            accept_any_credentials: args.accept_any_credentials.or(file.accept_any_credentials).unwrap_or(false),
            public_url,
            simulator_delays: {
                let all = args.simulator_delay_ms.or(file.simulator_delay_ms).unwrap_or(DEFAULT_SIMULATOR_DELAY_MS);
                Delays {
                    submit: ms(args.simulator_submit_delay_ms.or(file.simulator_submit_delay_ms).unwrap_or(all)),
                    receipt: ms(args.simulator_receipt_delay_ms.or(file.simulator_receipt_delay_ms).unwrap_or(all)),
                }
            },
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
        assert_eq!(c.simulator_delays.submit, Duration::from_millis(DEFAULT_SIMULATOR_DELAY_MS));
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

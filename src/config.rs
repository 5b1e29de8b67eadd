//! Configuration: command-line flags, each also settable as `SWITCHBOARD_<FLAG>` and in an
//! optional TOML file (`--config`). Precedence: flag, then environment, then file, then default.
//!
//! Every setting is defined once, in [`ServeArgs`]: clap reads it from flags and the
//! environment, serde from the file (same name, in snake_case), and [`Config::resolve`] layers
//! the two and turns them into the typed settings each module takes. Only `server.rs` and
//! `main.rs` read a [`Config`]; every other module receives the values it needs.

use crate::api::limits::LimitSettings;
use crate::callbacks::CallbackSettings;
use crate::delivery::pricing::PriceTable;
use crate::delivery::rates::RateTable;
use crate::delivery::simulator::{Delays, Rule};
use crate::delivery::DeliveryConfig;
use crate::inbound::opt_outs::{OptOutReplies, DEFAULT_HELP_REPLY, DEFAULT_START_REPLY, DEFAULT_STOP_REPLY};
use crate::outbound::client::RequestSettings;
use crate::outbound::policy::AddressPolicy;
use crate::smpp::SmppSettings;
use crate::store::Account;
use crate::tls::{
    HttpLimits, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_HEADER_BYTES,
};
use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;
use switchboard_domain::sid;

/// Default listen address: loopback only, so a fresh install exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default SQLite file, in the working directory.
pub const DEFAULT_DB: &str = "switchboard.db";
/// Default delay of each simulated carrier step, in milliseconds.
pub const DEFAULT_SIMULATOR_DELAY_MS: u64 = 200;
/// Default load-shedding bound on writes waiting for the database writer (a few seconds of a
/// slow disk's group commits; an idle server has none waiting).
pub const DEFAULT_MAX_WRITE_QUEUE: usize = 10_000;
/// Default load-shedding bound on a write's wait for the database writer, ms.
pub const DEFAULT_MAX_WRITE_WAIT_MS: u64 = 10_000;

/// Switchboard: a self-hosted, Twilio-compatible Programmable Messaging server.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
// Parsed once at start: the size of the larger variant costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Twilio-compatible API.
    Serve(ServeArgs),
    /// Print the variables that send unchanged apps' Twilio traffic to Switchboard's proxy
    /// (`eval "$(switchboard env)"`); takes the same settings as `serve`.
    Env(EnvArgs),
    /// Run a command with those variables set (`switchboard run -- npm test`); its exit code is
    /// passed through.
    Run(RunArgs),
    /// Manage API keys in the database directly (for scripts that bootstrap an installation).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Copy the database, consistently, while the server keeps serving (restore: start
    /// `serve --db` on the copy).
    Backup(BackupArgs),
    /// Copy a SQLite installation into an empty PostgreSQL database (every table, verified),
    /// then start `serve --db postgres://…` on it. Stop the server on the SQLite file first.
    CopyDb(CopyDbArgs),
}

/// `switchboard copy-db`.
#[derive(Debug, Args)]
pub struct CopyDbArgs {
    /// The SQLite database file to copy.
    #[arg(long, value_name = "PATH")]
    pub from: String,
    /// The PostgreSQL database to fill (`postgres://…`; created tables, no rows).
    #[arg(long, value_name = "URL")]
    pub to: String,
}

/// `switchboard backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// SQLite database file or `postgres://` URL of the server [default: ./switchboard.db].
    #[arg(long, env = "SWITCHBOARD_DB", value_name = "PATH", default_value = DEFAULT_DB)]
    pub db: String,
    /// The new file to write (never overwritten).
    #[arg(long, value_name = "FILE")]
    pub to: std::path::PathBuf,
}

/// `switchboard env`.
#[derive(Debug, Args, Clone)]
pub struct EnvArgs {
    /// Output format: `posix` (`export NAME='VALUE'`), `dotenv` (`NAME=VALUE`) or `json`.
    #[arg(long, default_value = "posix", value_name = "FORMAT")]
    pub format: crate::proxy::env::Format,
    /// The settings `serve` was started with.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `switchboard run`.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// The settings `serve` was started with.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `switchboard keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key and print `SID SECRET` (the secret is shown only this once).
    Create(KeysCreateArgs),
    /// List an account's API keys (`SID TYPE FRIENDLY_NAME`, one a line).
    List(KeysListArgs),
}

/// `switchboard keys create`.
#[derive(Debug, Args)]
pub struct KeysCreateArgs {
    /// SQLite database file or `postgres://` URL of the server [default: ./switchboard.db].
    #[arg(long, env = "SWITCHBOARD_DB", value_name = "PATH", default_value = DEFAULT_DB)]
    pub db: String,
    /// The account the key belongs to (`AC…`, must exist).
    #[arg(long, value_name = "AC…")]
    pub account: String,
    /// A main key: it may also manage accounts, keys and auth tokens (Twilio creates these
    /// only in its Console).
    #[arg(long, conflicts_with = "standard")]
    pub main: bool,
    /// A standard key (the default): everything except accounts, keys and auth tokens.
    #[arg(long)]
    pub standard: bool,
    /// Display name of the key.
    #[arg(long, value_name = "NAME", default_value = "")]
    pub friendly_name: String,
}

/// `switchboard keys list`.
#[derive(Debug, Args)]
pub struct KeysListArgs {
    /// SQLite database file or `postgres://` URL of the server [default: ./switchboard.db].
    #[arg(long, env = "SWITCHBOARD_DB", value_name = "PATH", default_value = DEFAULT_DB)]
    pub db: String,
    /// The account whose keys to list (`AC…`).
    #[arg(long, value_name = "AC…")]
    pub account: String,
}

/// The settings of `switchboard serve`: flags, environment variables and TOML keys alike.
#[derive(Debug, Args, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (keys in snake_case, e.g. `listen`, `accounts`).
    #[arg(long, env = "SWITCHBOARD_CONFIG", value_name = "PATH")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:8080]. Port 0 picks a free port.
    #[arg(long, env = "SWITCHBOARD_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,

    /// SQLite database file, created with its schema on first start, or a `postgres://` URL
    /// (schema created and migrated on start) [default: ./switchboard.db].
    #[arg(long, env = "SWITCHBOARD_DB", value_name = "PATH")]
    pub db: Option<String>,

    /// Account to create or update at start, as `ACxxxxxxxx…:authtoken`. Repeatable; in the
    /// environment, separate several with commas.
    #[arg(long = "account", env = "SWITCHBOARD_ACCOUNT", value_name = "SID:TOKEN", value_delimiter = ',')]
    #[serde(default)]
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
    #[serde(default)]
    pub sender_rates: Vec<String>,

    /// A sender's queue holds at most this many seconds of segments at its rate; more is 21611
    /// [default: 36000].
    #[arg(long, env = "SWITCHBOARD_QUEUE_LIMIT_SECS", value_name = "SECS")]
    pub queue_limit_secs: Option<u64>,

    /// Price of one outbound segment to a country, `CC=USD` (or `default=USD`). Repeatable.
    #[arg(long = "price", env = "SWITCHBOARD_PRICE", value_name = "CC=USD", value_delimiter = ',')]
    #[serde(default)]
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
    /// `public-only` or `loopback-only` [default: allow-all when `--listen` is a loopback
    /// address, since local development calls loopback receivers; public-only otherwise].
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

    /// How long a `sent` message waits for its delivery receipt: after this many seconds it
    /// counts as final for DELETE and the retention sweep (before, DELETE is 20009) [default: 3600].
    #[arg(long, env = "SWITCHBOARD_RECEIPT_WINDOW_SECS", value_name = "SECS")]
    pub receipt_window_secs: Option<u64>,

    /// Most subaccounts (not closed) a main account may have; one more is 21480 [default: 1000].
    #[arg(long, env = "SWITCHBOARD_SUBACCOUNT_LIMIT", value_name = "N")]
    pub subaccount_limit: Option<usize>,

    /// Test only (hidden): a file holding a SQLite page limit the writer applies while running
    /// (`PRAGMA max_page_count`; 0 or no file: none), to simulate a full disk.
    #[arg(long, env = "SWITCHBOARD_TEST_PAGE_LIMIT_FILE", value_name = "PATH", hide = true)]
    pub test_page_limit_file: Option<PathBuf>,

    /// Load shedding: a request that must write is answered 503 (code 20503, `Retry-After`)
    /// when this many writes already wait for the database writer; 0 turns it off [default:
    /// 10000].
    #[arg(long, env = "SWITCHBOARD_MAX_WRITE_QUEUE", value_name = "N")]
    pub max_write_queue: Option<usize>,

    /// Load shedding: a request's write that waited this many ms for the database writer is
    /// refused, unmade, with 503 (20503, `Retry-After`); 0 turns it off [default: 10000].
    #[arg(long, env = "SWITCHBOARD_MAX_WRITE_WAIT_MS", value_name = "MS")]
    pub max_write_wait_ms: Option<u64>,

    /// Several nodes on one PostgreSQL database: a node's lease lasts this many seconds without
    /// renewal (renewed every third of it); a crashed node's unfinished work is taken over by a
    /// peer within about 4/3 of it. Ignored on SQLite (one node) [default: 15].
    #[arg(long, env = "SWITCHBOARD_NODE_LEASE_SECS", value_name = "SECS")]
    pub node_lease_secs: Option<f64>,

    /// Several nodes on one PostgreSQL database: this node's stable id (1–64 letters, digits,
    /// `.`, `_`, `-`), kept across restarts so that a node restarted after a crash resumes its own
    /// unfinished work at once instead of waiting for its old lease to lapse. Each running node
    /// needs its own: a second process with the id of a running one refuses to start. Ignored on
    /// SQLite [default: a new random id at every start].
    #[arg(long, env = "SWITCHBOARD_NODE_ID", value_name = "ID")]
    pub node_id: Option<String>,

    /// Test only (hidden): the database writer pauses this many ms before each group commit
    /// (a slow disk), so tests can make it fall behind.
    #[arg(long, env = "SWITCHBOARD_TEST_WRITER_DELAY_MS", value_name = "MS", hide = true)]
    pub test_writer_delay_ms: Option<u64>,

    /// Automatic reply to STOP (empty: none) [default: Twilio's text].
    #[arg(long, env = "SWITCHBOARD_OPT_OUT_STOP_REPLY", value_name = "TEXT")]
    pub opt_out_stop_reply: Option<String>,

    /// Automatic reply to START (empty: none) [default: Twilio's text].
    #[arg(long, env = "SWITCHBOARD_OPT_OUT_START_REPLY", value_name = "TEXT")]
    pub opt_out_start_reply: Option<String>,

    /// Automatic reply to HELP (empty: none) [default: Twilio's text].
    #[arg(long, env = "SWITCHBOARD_OPT_OUT_HELP_REPLY", value_name = "TEXT")]
    pub opt_out_help_reply: Option<String>,

    /// Also serve an HTTPS forward proxy for `*.twilio.com` on ADDR, so unchanged apps reach
    /// Switchboard through `switchboard env`'s variables; a bare port binds 127.0.0.1 [default: off].
    #[arg(long, env = "SWITCHBOARD_PROXY_LISTEN", value_name = "ADDR")]
    pub proxy_listen: Option<String>,

    /// Pass hosts other than `*.twilio.com` through the proxy untouched, as a tunnel [default:
    /// false: they get 403].
    #[arg(long, env = "SWITCHBOARD_PROXY_TUNNEL_OTHER_HOSTS", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub proxy_tunnel_other_hosts: Option<bool>,

    /// Directory of the proxy's local certificate authority and the files clients trust
    /// [default: `switchboard-ca` beside the database].
    #[arg(long, env = "SWITCHBOARD_CA_DIR", value_name = "DIR")]
    pub ca_dir: Option<String>,

    /// Serve `--listen` over HTTPS with this certificate chain (PEM; with `--tls-key`). Reloaded
    /// on SIGHUP and when the files change.
    #[arg(long, env = "SWITCHBOARD_TLS_CERT", value_name = "PATH")]
    pub tls_cert: Option<String>,

    /// Private key (PEM) of `--tls-cert`.
    #[arg(long, env = "SWITCHBOARD_TLS_KEY", value_name = "PATH")]
    pub tls_key: Option<String>,

    /// A client must send each request's head (request line and headers) within this many
    /// seconds, else its connection is closed [default: 30].
    #[arg(long, env = "SWITCHBOARD_HEADER_READ_TIMEOUT_SECS", value_name = "SECS")]
    pub header_read_timeout_secs: Option<u64>,

    /// A request's body must arrive within this many seconds once it is read [default: 60].
    #[arg(long, env = "SWITCHBOARD_BODY_READ_TIMEOUT_SECS", value_name = "SECS")]
    pub body_read_timeout_secs: Option<u64>,

    /// Largest request head (request line and headers), bytes; larger gets 431 [default: 32768].
    #[arg(long, env = "SWITCHBOARD_MAX_HEADER_BYTES", value_name = "BYTES")]
    pub max_header_bytes: Option<usize>,

    /// Connections served at once per listener; more wait to be accepted [default: 1024].
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// API requests per second per account (bursts of one second's worth); more get 429 with
    /// code 20429 and `Retry-After` [default: 0, unlimited].
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_REQUEST_RATE", value_name = "PER_SEC")]
    pub account_request_rate: Option<f64>,

    /// API requests of one account in progress at once; more get 429 (20429) [default: 0,
    /// unlimited].
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_MAX_CONCURRENT", value_name = "N")]
    pub account_max_concurrent: Option<usize>,

    /// Failed authentications from one address before it is locked out (429, 20429) for 1 s,
    /// doubling per further failure up to 5 min; 0 turns it off [default: 10, or 0 when
    /// `--listen` is a loopback address].
    #[arg(long, env = "SWITCHBOARD_AUTH_FAILURE_LIMIT", value_name = "N")]
    pub auth_failure_limit: Option<u32>,

    /// SMPP connector to an SMSC, as `smpp://SYSTEM_ID:PASSWORD@host:port?name=…&window=…&mps=…`
    /// (`smpps://` for TLS; settings in docs/smpp.md). Repeatable; SMS go to the first bound one
    /// that routes them, or are shared by `weight` among connectors of one `priority`; channel
    /// addresses stay with the simulator. In the file: `[[smpp]]` tables with `url` and the same
    /// keys. Without one, the built-in simulator delivers everything.
    #[arg(long = "smpp", env = "SWITCHBOARD_SMPP", value_name = "URL", value_parser = SmppSettings::parse_url)]
    #[serde(default)]
    pub smpp: Vec<SmppSettings>,

    /// Fault-injection rules of the simulator for every account (`[[simulator_rules]]`; the
    /// file only: at run time, `/_switchboard/…/Simulator/Rules.json`).
    #[arg(skip)]
    #[serde(default)]
    pub simulator_rules: Vec<Rule>,
}

impl ServeArgs {
    /// These settings over `lower`: each one given here (a flag or an environment variable)
    /// wins, the rest come from `lower` (the file).
    fn over(&self, lower: ServeArgs) -> anyhow::Result<ServeArgs> {
        let mut merged = serde_json::to_value(lower)?;
        if let (Some(out), serde_json::Value::Object(top)) = (merged.as_object_mut(), serde_json::to_value(self)?) {
            for (key, value) in top {
                let unset = value.is_null() || value.as_array().is_some_and(Vec::is_empty);
                if !unset {
                    out.insert(key, value);
                }
            }
        }
        let mut merged: ServeArgs = serde_json::from_value(merged)?;
        merged.config = self.config.clone();
        Ok(merged)
    }
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
    /// SMPP connectors, named (`smpp1`, `smpp2` … unless named in their URL).
    pub smpp: Vec<SmppSettings>,
    /// The configuration file whose `smpp` connectors SIGHUP reloads; `None` when there is no
    /// file or `--smpp` / `SWITCHBOARD_SMPP` gave the connectors (those are not reloaded).
    pub smpp_file: Option<PathBuf>,
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
    /// How long after it was sent a `sent` message without a receipt counts as final for deletion.
    pub receipt_window: Duration,
    /// Most subaccounts a main account may have.
    pub subaccount_limit: usize,
    /// Test only: the file the database writer reads its page limit from (disk-full tests).
    pub test_page_limit_file: Option<PathBuf>,
    /// Load shedding: most writes waiting for the writer (`None`: no bound).
    pub max_write_queue: Option<usize>,
    /// Load shedding: longest wait of a write for the writer (`None`: no bound).
    pub max_write_wait: Option<Duration>,
    /// Test only: the writer's pause before each group commit.
    pub test_writer_delay: Option<Duration>,
    /// How long a node's lease lasts (several nodes on PostgreSQL).
    pub node_lease: Duration,
    /// This node's stable id (`--node-id`), or `None` for a random one per start.
    pub node_id: Option<String>,
    /// Short-link prefix (`None`: the public URL + `/l`).
    pub link_shortening_domain: Option<String>,
    /// Click events go here.
    pub link_click_callback: Option<String>,
    /// Proxy listen address (`None`: no proxy).
    pub proxy_listen: Option<String>,
    /// See `--proxy-tunnel-other-hosts`.
    pub proxy_tunnel_other_hosts: bool,
    /// The local CA's directory.
    pub ca_dir: PathBuf,
    /// Certificate chain and key files for HTTPS serving (`None`: plain HTTP).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Timeouts, head size and connection count of every listener.
    pub http_limits: HttpLimits,
    /// Per-account request limits and the authentication-failure lockout.
    pub request_limits: LimitSettings,
}

/// Whether a listen address (`host:port`) is on loopback only: the defaults of the webhook
/// address policy and the authentication lockout follow it.
pub fn is_loopback_listen(listen: &str) -> bool {
    let host = listen.rsplit_once(':').map_or(listen, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Names the connectors without one (`smpp1`, `smpp2` … by position), gives those without a
/// priority their position (failover in configuration order), and refuses a repeated name.
fn name_connectors(mut smpp: Vec<SmppSettings>) -> anyhow::Result<Vec<SmppSettings>> {
    for (i, connector) in smpp.iter_mut().enumerate() {
        if connector.name.is_empty() {
            connector.name = format!("smpp{}", i + 1);
        }
        // Without a priority, connectors fail over in configuration order.
        if connector.priority == 0 {
            connector.priority = u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
    }
    let mut names: Vec<&str> = smpp.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        bail!("two smpp connectors are named {:?}: give each its own ?name=", w[0]);
    }
    Ok(smpp)
}

/// The `smpp` connectors of the configuration file at `path`, named and checked as at start
/// (for a reload on SIGHUP; the rest of the file is checked to parse but not applied).
pub fn reload_smpp(path: &std::path::Path) -> anyhow::Result<Vec<SmppSettings>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file = toml::from_str::<ServeArgs>(&text).with_context(|| format!("parsing {}", path.display()))?;
    name_connectors(file.smpp)
}

impl Config {
    /// Resolves flags/environment against the optional file and the defaults.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Config> {
        let smpp_file = args.config.clone().filter(|_| args.smpp.is_empty());
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<ServeArgs>(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => ServeArgs::default(),
        };
        let s = args.over(file)?;
        let accounts = s.accounts.iter().map(|a| parse_account(a)).collect::<anyhow::Result<Vec<_>>>()?;
        let public_url = s.public_url.map(|u| u.trim_end_matches('/').to_string());
        if let Some(u) = &public_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                bail!("--public-url must start with http:// or https://, got {u}");
            }
        }
        let mut rates = RateTable { twilio_rates: s.twilio_rates.unwrap_or(false), ..Default::default() };
        for spec in &s.sender_rates {
            rates.set(spec).map_err(anyhow::Error::msg)?;
        }
        let mut prices = PriceTable::default();
        for spec in &s.prices {
            prices.set(spec).map_err(anyhow::Error::msg)?;
        }
        let delivery = DeliveryConfig { rates, queue_limit_secs: s.queue_limit_secs.unwrap_or(36_000), prices };
        let ms = Duration::from_millis;
        let mut defaults = RequestSettings::default();
        if let Some(v) = s.callback_connect_timeout_ms {
            defaults.connect_timeout = ms(v);
        }
        if let Some(v) = s.callback_read_timeout_ms {
            defaults.read_timeout = ms(v);
            defaults.total_timeout = defaults.total_timeout.max(ms(v));
        }
        if let Some(v) = s.callback_max_attempts {
            if v == 0 {
                bail!("--callback-max-attempts must be at least 1");
            }
            defaults.max_attempts = v;
        }
        let callbacks = CallbackSettings {
            defaults,
            retry_base: ms(s.callback_retry_base_ms.unwrap_or(1000)),
            retry_max: Duration::from_secs(60),
        };
        let listen = s.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let loopback = is_loopback_listen(&listen);
        let webhook_address_policy = match s.webhook_address_policy.as_deref() {
            // Reachable from other machines: callers must not make it call its own network.
            None if !loopback => AddressPolicy::PublicOnly,
            None => AddressPolicy::AllowAll,
            Some(p) => AddressPolicy::parse(p).with_context(|| {
                format!(
                    "--webhook-address-policy must be allow-all, no-private, public-only or loopback-only, got {p:?}"
                )
            })?,
        };
        for rule in &s.simulator_rules {
            rule.validate().map_err(anyhow::Error::msg)?;
        }
        let smpp = name_connectors(s.smpp)?;
        let reply = |text: Option<String>, default: &str| {
            Some(text.unwrap_or_else(|| default.to_string())).filter(|t| !t.is_empty())
        };
        let min_schedule_lead_secs = s.min_schedule_lead.unwrap_or(300);
        if min_schedule_lead_secs < 0 {
            bail!("--min-schedule-lead must not be negative");
        }
        let all = s.simulator_delay_ms.unwrap_or(DEFAULT_SIMULATOR_DELAY_MS);
        let db = s.db.unwrap_or_else(|| DEFAULT_DB.to_string());
        let ca_dir = match s.ca_dir {
            Some(d) => PathBuf::from(d),
            // A PostgreSQL URL has no folder to be beside: the working directory then.
            None if crate::store::is_postgres_url(&db) => PathBuf::from("switchboard-ca"),
            None => std::path::Path::new(&db).parent().unwrap_or(std::path::Path::new("")).join("switchboard-ca"),
        };
        let tls = match (s.tls_cert, s.tls_key) {
            (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
            (None, None) => None,
            _ => bail!("--tls-cert and --tls-key go together"),
        };
        let proxy_listen = s.proxy_listen.map(|a| proxy_address(&a)).transpose()?;
        let secs = Duration::from_secs;
        let http_limits = HttpLimits {
            header_read_timeout: s.header_read_timeout_secs.map_or(DEFAULT_HEADER_READ_TIMEOUT, secs),
            body_read_timeout: s.body_read_timeout_secs.map_or(DEFAULT_BODY_READ_TIMEOUT, secs),
            max_header_bytes: s.max_header_bytes.unwrap_or(DEFAULT_MAX_HEADER_BYTES),
            max_connections: s.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
        };
        if http_limits.header_read_timeout.is_zero() || http_limits.body_read_timeout.is_zero() {
            bail!("--header-read-timeout-secs and --body-read-timeout-secs must be at least 1");
        }
        if http_limits.max_header_bytes < 1024 {
            bail!("--max-header-bytes must be at least 1024");
        }
        if http_limits.max_connections == 0 {
            bail!("--max-connections must be at least 1");
        }
        if s.account_request_rate.is_some_and(|r| !r.is_finite() || r < 0.0) {
            bail!("--account-request-rate must be a number of requests per second, 0 for unlimited");
        }
        let node_lease = match s.node_lease_secs {
            None => crate::store::cluster::DEFAULT_LEASE,
            Some(secs) if secs.is_finite() && (0.5..=3600.0).contains(&secs) => Duration::from_secs_f64(secs),
            Some(_) => bail!("--node-lease-secs must be a number of seconds between 0.5 and 3600"),
        };
        if let Some(id) = &s.node_id {
            let valid = (1..=64).contains(&id.len())
                && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !valid {
                bail!("--node-id must be 1 to 64 letters, digits, '.', '_' or '-', got {id:?}");
            }
        }
        let request_limits = LimitSettings {
            account_rate: s.account_request_rate.filter(|r| *r > 0.0),
            account_concurrency: s.account_max_concurrent.filter(|n| *n > 0),
            auth_failures: Some(s.auth_failure_limit.unwrap_or(if loopback { 0 } else { 10 })).filter(|n| *n > 0),
        };
        Ok(Config {
            http_limits,
            request_limits,
            proxy_listen,
            proxy_tunnel_other_hosts: s.proxy_tunnel_other_hosts.unwrap_or(false),
            ca_dir,
            tls,
            retention_days: s.retention_days.filter(|d| *d > 0),
            receipt_window: Duration::from_secs(s.receipt_window_secs.unwrap_or(3600)),
            subaccount_limit: s.subaccount_limit.unwrap_or(1000),
            test_page_limit_file: s.test_page_limit_file,
            max_write_queue: Some(s.max_write_queue.unwrap_or(DEFAULT_MAX_WRITE_QUEUE)).filter(|n| *n > 0),
            max_write_wait: Some(s.max_write_wait_ms.unwrap_or(DEFAULT_MAX_WRITE_WAIT_MS))
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis),
            test_writer_delay: s.test_writer_delay_ms.filter(|ms| *ms > 0).map(Duration::from_millis),
            node_lease,
            node_id: s.node_id.clone(),
            link_shortening_domain: s.link_shortening_domain.map(|d| d.trim_end_matches('/').to_string()),
            link_click_callback: s.link_click_callback,
            require_owned_senders: s.require_owned_senders.unwrap_or(false),
            min_schedule_lead_secs,
            opt_out_replies: OptOutReplies {
                stop: reply(s.opt_out_stop_reply, DEFAULT_STOP_REPLY),
                start: reply(s.opt_out_start_reply, DEFAULT_START_REPLY),
                help: reply(s.opt_out_help_reply, DEFAULT_HELP_REPLY),
            },
            simulator_rules: s.simulator_rules,
            smpp,
            smpp_file,
            delivery,
            callbacks,
            webhook_address_policy,
            webhook_max_response_bytes: s.webhook_max_response_bytes.unwrap_or(64 * 1024),
            listen,
            db,
            accounts,
            accept_any_credentials: s.accept_any_credentials.unwrap_or(false),
            public_url,
            simulator_delays: Delays {
                submit: ms(s.simulator_submit_delay_ms.unwrap_or(all)),
                receipt: ms(s.simulator_receipt_delay_ms.unwrap_or(all)),
            },
        })
    }
}

/// A proxy address: a bare port means loopback; anything else must be `host:port`.
fn proxy_address(a: &str) -> anyhow::Result<String> {
    let a = a.trim();
    if let Ok(port) = a.parse::<u16>() {
        return Ok(format!("127.0.0.1:{port}"));
    }
    match a.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(a.to_string()),
        _ => bail!("--proxy-listen must be a port or host:port, got {a:?}"),
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
    fn the_receipt_window_defaults_to_an_hour_and_is_read_from_the_file_or_a_flag() {
        assert_eq!(Config::resolve(ServeArgs::default()).unwrap().receipt_window, Duration::from_secs(3600));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sb.toml");
        std::fs::write(&path, "receipt_window_secs = 60\n").unwrap();
        let from_file = ServeArgs { config: Some(path.clone()), ..Default::default() };
        assert_eq!(Config::resolve(from_file).unwrap().receipt_window, Duration::from_secs(60));
        let flag = ServeArgs { config: Some(path), receipt_window_secs: Some(1), ..Default::default() };
        assert_eq!(Config::resolve(flag).unwrap().receipt_window, Duration::from_secs(1));
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
    fn file_lists_and_rules_apply_unless_flags_give_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sb.toml");
        std::fs::write(
            &path,
            "prices = [\"US=0.0079\"]\nsender_rates = [\"long-code=2\"]\n\
             [[simulator_rules]]\nto = \"+1555*\"\noutcome = \"failed\"\n",
        )
        .unwrap();
        let from_file = Config::resolve(ServeArgs { config: Some(path.clone()), ..Default::default() }).unwrap();
        assert_eq!(from_file.simulator_rules.len(), 1);
        assert_eq!(from_file.delivery.rates.rate_for("+14155550100"), Some(2.0));
        let flags = ServeArgs { config: Some(path), sender_rates: vec!["long-code=5".into()], ..Default::default() };
        assert_eq!(Config::resolve(flags).unwrap().delivery.rates.rate_for("+14155550100"), Some(5.0));
    }

    #[test]
    fn smpp_connectors_come_from_flags_or_file_tables_and_get_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[[smpp]]\nurl = \"smpp://a:b@h1:2775\"\nwindow = 4\n[[smpp]]\nurl = \"smpp://c:d@h2\"\n",
        )
        .unwrap();
        let c = Config::resolve(ServeArgs { config: Some(path.clone()), ..Default::default() }).unwrap();
        let names: Vec<_> = c.smpp.iter().map(|s| (s.name.as_str(), s.host.as_str(), s.window)).collect();
        assert_eq!(names, [("smpp1", "h1", 4), ("smpp2", "h2", 10)]);
        assert_eq!(c.smpp.iter().map(|s| s.priority).collect::<Vec<_>>(), [1, 2], "failover in order by default");
        assert_eq!(c.smpp_file.as_ref(), Some(&path), "SIGHUP reloads the file's connectors");
        assert_eq!(super::reload_smpp(&path).unwrap(), c.smpp, "a reload reads them as the start did");
        let flag = SmppSettings::parse_url("smpp://x:y@h3?name=eu").unwrap();
        let c = Config::resolve(ServeArgs { config: Some(path), smpp: vec![flag], ..Default::default() }).unwrap();
        assert_eq!(c.smpp.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["eu"], "flags replace the file's list");
        assert_eq!(c.smpp_file, None, "connectors from flags are not reloaded");
        assert!(Config::resolve(ServeArgs::default()).unwrap().smpp.is_empty(), "no connector: the simulator");
        let twice = vec![flag_named("a"), flag_named("a")];
        assert!(Config::resolve(ServeArgs { smpp: twice, ..Default::default() }).is_err());
    }

    fn flag_named(name: &str) -> SmppSettings {
        SmppSettings::parse_url(&format!("smpp://x:y@h?name={name}")).unwrap()
    }

    #[test]
    fn every_flag_is_also_a_file_key() {
        // The file and the flags are one definition: a flag's long name, in snake_case, is a key.
        use clap::CommandFactory;
        let cmd = Cli::command();
        let serve = cmd.find_subcommand("serve").unwrap();
        let dir = tempfile::tempdir().unwrap();
        for arg in serve.get_arguments().filter_map(|a| a.get_long()) {
            if matches!(arg, "config" | "help" | "version") {
                continue;
            }
            let key = arg.replace('-', "_");
            let key = match key.as_str() {
                "account" => "accounts".to_string(),
                "sender_rate" => "sender_rates".to_string(),
                "price" => "prices".to_string(),
                _ => key,
            };
            let path = dir.path().join("k.toml");
            std::fs::write(&path, format!("{key} = \"x\"\n")).unwrap();
            let err = toml::from_str::<ServeArgs>(&std::fs::read_to_string(&path).unwrap()).err();
            // A known key may fail on its value's type, never as an unknown field.
            assert!(!err.is_some_and(|e| e.to_string().contains("unknown field")), "--{arg} has no file key");
        }
    }

    #[test]
    fn the_proxy_binds_loopback_for_a_bare_port_and_the_ca_sits_beside_the_database() {
        let c = Config::resolve(ServeArgs {
            proxy_listen: Some("8081".into()),
            db: Some("/var/lib/sb/sb.db".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.proxy_listen.as_deref(), Some("127.0.0.1:8081"));
        assert_eq!(c.ca_dir, PathBuf::from("/var/lib/sb/switchboard-ca"));
        assert!(Config::resolve(ServeArgs::default()).unwrap().proxy_listen.is_none());
        assert!(Config::resolve(ServeArgs { proxy_listen: Some("nope".into()), ..Default::default() }).is_err());
    }

    #[test]
    fn a_tls_certificate_needs_its_key() {
        assert!(Config::resolve(ServeArgs { tls_cert: Some("c.pem".into()), ..Default::default() }).is_err());
        let both = ServeArgs { tls_cert: Some("c.pem".into()), tls_key: Some("k.pem".into()), ..Default::default() };
        assert_eq!(Config::resolve(both).unwrap().tls, Some((PathBuf::from("c.pem"), PathBuf::from("k.pem"))));
    }

    #[test]
    fn the_webhook_policy_and_the_auth_lockout_follow_the_listen_address_unless_set() {
        let at =
            |listen: &str| Config::resolve(ServeArgs { listen: Some(listen.into()), ..Default::default() }).unwrap();
        for local in ["127.0.0.1:8080", "[::1]:0", "localhost:9"] {
            assert_eq!(at(local).webhook_address_policy, AddressPolicy::AllowAll, "{local}");
            assert_eq!(at(local).request_limits.auth_failures, None, "{local}");
        }
        for exposed in ["0.0.0.0:8080", "[::]:8080", "192.0.2.7:80", "sms.example.com:80"] {
            assert_eq!(at(exposed).webhook_address_policy, AddressPolicy::PublicOnly, "{exposed}");
            assert_eq!(at(exposed).request_limits.auth_failures, Some(10), "{exposed}");
        }
        let explicit = ServeArgs {
            listen: Some("0.0.0.0:8080".into()),
            webhook_address_policy: Some("allow-all".into()),
            auth_failure_limit: Some(0),
            ..Default::default()
        };
        let c = Config::resolve(explicit).unwrap();
        assert_eq!(c.webhook_address_policy, AddressPolicy::AllowAll);
        assert_eq!(c.request_limits.auth_failures, None);
    }

    #[test]
    fn load_shedding_is_on_with_generous_bounds_and_0_turns_each_off() {
        let c = Config::resolve(ServeArgs::default()).unwrap();
        assert_eq!(c.max_write_queue, Some(10_000));
        assert_eq!(c.max_write_wait, Some(Duration::from_secs(10)));
        assert_eq!(c.test_writer_delay, None);
        let off = ServeArgs { max_write_queue: Some(0), max_write_wait_ms: Some(0), ..Default::default() };
        let c = Config::resolve(off).unwrap();
        assert_eq!((c.max_write_queue, c.max_write_wait), (None, None));
    }

    #[test]
    fn http_limits_have_documented_defaults_and_refuse_nonsense() {
        let c = Config::resolve(ServeArgs::default()).unwrap();
        assert_eq!(c.http_limits, HttpLimits::default());
        assert_eq!(c.http_limits.max_connections, 1024);
        assert_eq!(c.request_limits, LimitSettings::default());
        assert!(Config::resolve(ServeArgs { max_header_bytes: Some(10), ..Default::default() }).is_err());
        assert!(Config::resolve(ServeArgs { max_connections: Some(0), ..Default::default() }).is_err());
        assert!(Config::resolve(ServeArgs { account_request_rate: Some(-1.0), ..Default::default() }).is_err());
    }

    #[test]
    fn a_node_id_is_kept_as_given_and_refused_when_it_is_not_a_plain_name() {
        assert_eq!(Config::resolve(ServeArgs::default()).unwrap().node_id, None);
        let given = ServeArgs { node_id: Some("gw-1.eu_west".into()), ..Default::default() };
        assert_eq!(Config::resolve(given).unwrap().node_id.as_deref(), Some("gw-1.eu_west"));
        for bad in ["", "a b", "x'y", &"n".repeat(65)] {
            let args = ServeArgs { node_id: Some(bad.to_string()), ..Default::default() };
            assert!(Config::resolve(args).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sb.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        assert!(Config::resolve(ServeArgs { config: Some(path), ..Default::default() }).is_err());
    }
}

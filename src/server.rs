//! Wiring: opens the store, ensures accounts, starts delivery, and serves HTTP until shutdown.

use crate::api::{self, AppState};
use crate::callbacks::Callbacks;
use crate::config::Config;
use crate::delivery::carrier::Carrier;
use crate::delivery::simulator::Simulator;
use crate::delivery::Dispatcher;
use crate::inbound::{Inbound, InboundSms};
use crate::outbound::client::{RequestSettings, WebhookClient};
use crate::proxy::ca::{LocalCa, PROXY_ADDR_FILE};
use crate::proxy::{env, ProxySettings};
use crate::smpp::{Connector, MoOutcome, MobileOriginated, Routing};
use crate::store::tokens::AccountTokens;
use crate::store::{self, Account};
use crate::tls::ReloadingCert;
use axum::response::IntoResponse;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use switchboard_domain::sid::{self, KeyGenerator};
use tokio::net::TcpListener;

/// How often the credentials cache checks the database for changes made elsewhere.
const CREDENTIALS_WATCH: std::time::Duration = std::time::Duration::from_millis(500);

/// The longest a shutdown waits for clients to stop sending before it closes connections.
const DRAIN_MAX: std::time::Duration = std::time::Duration::from_secs(3);
/// A shutdown closes connections once no request has arrived for this long.
const DRAIN_QUIET_MS: i64 = 200;

/// Shutdown in two steps, so no client sees a connection closed under a request it just sent:
/// once the signal arrives every new request is refused with a 503 and `Connection: close`
/// (its client learns to go elsewhere and closes), and only when requests have stopped
/// arriving does the server stop accepting and close what is left.
#[derive(Clone, Default)]
pub struct Drain {
    draining: Arc<AtomicBool>,
    last_request_ms: Arc<AtomicI64>,
}

impl Drain {
    /// Starts refusing, then resolves once no request arrived for [`DRAIN_QUIET_MS`] (or after
    /// [`DRAIN_MAX`]).
    async fn refuse_until_quiet(&self) {
        self.draining.store(true, Ordering::SeqCst);
        let started = std::time::Instant::now();
        while started.elapsed() < DRAIN_MAX
            && crate::clock::now_ms() - self.last_request_ms.load(Ordering::SeqCst) < DRAIN_QUIET_MS
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Middleware: a request that arrives while draining gets Twilio's 20503 and `Connection: close`.
async fn refuse_while_draining(
    axum::extract::State(drain): axum::extract::State<Drain>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    drain.last_request_ms.store(crate::clock::now_ms(), Ordering::SeqCst);
    if !drain.draining.load(Ordering::SeqCst) {
        return next.run(req).await;
    }
    let e = switchboard_domain::TwilioError::unavailable("The server is shutting down; retry shortly");
    let mut resp = api::error::ApiError(e).into_response();
    resp.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    resp
}

/// A ready-to-serve application.
pub struct Prepared {
    /// Refuses requests between the shutdown signal and the closing of connections.
    pub drain: Drain,
    /// The HTTP application.
    pub router: axum::Router,
    /// Accounts to announce at start, with whether to show their token.
    pub announce: Vec<(Account, bool)>,
    /// The HTTPS certificate (`--tls-cert`), if the API is served over TLS.
    pub tls: Option<Arc<ReloadingCert>>,
    /// Reloads that certificate (SIGHUP, file changes) until serving ends.
    tls_watcher: Option<tokio::task::JoinHandle<()>>,
    /// Timeouts, sizes and connection count every connection is served with.
    pub limits: crate::tls::HttpLimits,
    /// SMPP connectors (and the simulator), unbound once serving ends.
    routing: Arc<Routing>,
    /// The store, whose node lease ends once serving ends (peers then take over at once).
    store: Arc<dyn store::Store>,
}

/// Opens the store, upserts configured accounts (creating a random one in an empty database
/// when none is configured), resumes unfinished deliveries and builds the router.
/// `base_url` is the server's external URL (for absolute URLs in v1 resources and webhooks).
pub async fn prepare(config: &Config, base_url: &str) -> anyhow::Result<Prepared> {
    // A bad certificate should stop the start, before anything else is opened.
    let tls = match &config.tls {
        Some((cert, key)) => Some(ReloadingCert::load(cert, key)?),
        None => None,
    };
    // Watching starts now, before the start banner: a SIGHUP sent once the server announces
    // itself must reload, never take the default action (exit).
    let tls_watcher = tls.as_ref().map(|cert| cert.watch(crate::tls::RELOAD_POLL)).transpose()?;
    // Phone-number metadata loads on first use (over a second in a debug build): load it now,
    // so the first request, whose dates are already set, does not pay for it.
    tokio::task::spawn_blocking(|| switchboard_domain::address::parse_phone("+14155550100")).await?;
    let options = store::OpenOptions {
        page_limit_file: config.test_page_limit_file.clone(),
        max_write_queue: config.max_write_queue,
        max_write_wait: config.max_write_wait,
        test_writer_delay: config.test_writer_delay,
        node_lease: Some(config.node_lease),
        node_id: config.node_id.clone(),
    };
    let store = store::open_with(&config.db, options).await?;
    for account in &config.accounts {
        store.upsert_account(account.clone()).await?;
    }
    let mut accounts = store.accounts().await?;
    if accounts.is_empty() && !config.accept_any_credentials {
        let account = Account { sid: format!("AC{}", sid::random_hex32()), auth_token: sid::random_hex32() };
        store.upsert_account(account.clone()).await?;
        accounts.push(account);
    }
    // Tokens given on the command line are the operator's; tokens we generated or kept from an
    // earlier run are shown so a developer can copy them.
    let announce = accounts.iter().map(|a| (a.clone(), config.accounts.is_empty())).collect();

    let metrics = crate::metrics::install();
    let client = WebhookClient::new(config.webhook_address_policy.clone(), config.webhook_max_response_bytes)?;
    let tokens = AccountTokens::new(store.clone());
    for a in &accounts {
        tokens.remember(a);
    }
    // Changes made by another server sharing the database (or by `switchboard keys`).
    tokens.watch(CREDENTIALS_WATCH);
    let callbacks = Callbacks::start(store.clone(), tokens.clone(), client.clone(), config.callbacks.clone());
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let simulator = Simulator::new(config.simulator_delays, config.simulator_rules.clone(), events_tx.clone());
    // SMPP connectors bind in the background: one that cannot bind never holds up the start.
    let (smpp_inbound_tx, smpp_inbound_rx) = tokio::sync::mpsc::channel(256);
    let start_connector = {
        let (events_tx, smpp_inbound_tx, store) = (events_tx.clone(), smpp_inbound_tx.clone(), store.clone());
        move |settings: crate::smpp::SmppSettings| {
            Connector::start(settings, events_tx.clone(), smpp_inbound_tx.clone(), store.clone())
        }
    };
    let connectors: Vec<_> = config.smpp.iter().map(|settings| start_connector(settings.clone())).collect();
    // Routing even without connectors (everything then goes to the simulator): a reload may
    // add some.
    let routing = Arc::new(Routing::new(simulator.clone(), connectors));
    if let Some(path) = config.smpp_file.clone() {
        watch_smpp_reloads(routing.clone(), path, start_connector)?;
    }
    let carrier: Arc<dyn Carrier> = routing.clone();
    let keys = Arc::new(KeyGenerator::new());
    // Media bodies are larger than webhook answers: a dedicated client reads up to 5 MiB.
    let media = crate::media::MediaFetcher {
        client: WebhookClient::new(config.webhook_address_policy.clone(), crate::media::MAX_IMAGE_BYTES)?,
        keys: keys.clone(),
    };
    let dispatcher = Dispatcher::start(
        store.clone(),
        carrier,
        callbacks,
        config.delivery.clone(),
        media.clone(),
        tokens.clone(),
        events_rx,
    );
    let (messages, callbacks) = dispatcher.resume().await?;
    if messages + callbacks > 0 {
        tracing::info!(messages, callbacks, "resumed unfinished deliveries and callbacks");
    }

    let inbound = Arc::new(Inbound {
        store: store.clone(),
        tokens: tokens.clone(),
        dispatcher: dispatcher.clone(),
        client,
        keys: keys.clone(),
        replies: config.opt_out_replies.clone(),
        settings: RequestSettings { max_attempts: 1, ..config.callbacks.defaults.clone() },
        media,
        base_url: base_url.trim_end_matches('/').to_string(),
    });
    if let Some(days) = config.retention_days {
        tokio::spawn(crate::store::retention::run(store.clone(), days, config.receipt_window));
    }
    tokio::spawn(receive_from_smsc(inbound.clone(), smpp_inbound_rx));
    let resumed_inbound = inbound.resume().await?;
    if resumed_inbound > 0 {
        tracing::info!(resumed_inbound, "resumed processing of inbound messages");
    }
    // Several nodes on PostgreSQL: this node's lease, and the work of nodes that are gone
    // (claimed now, before serving, then whenever one goes).
    let cluster = crate::cluster::Cluster {
        store: store.clone(),
        dispatcher: dispatcher.clone(),
        inbound: inbound.clone(),
        tokens: tokens.clone(),
        simulator: simulator.clone(),
    };
    // The runtime simulator rules other nodes stored (none on SQLite, where they live in memory).
    simulator.reload_rules(store.as_ref()).await?;
    cluster.take_over().await?;
    cluster.start();
    let state = Arc::new(AppState {
        store: store.clone(),
        tokens,
        accept_any_credentials: config.accept_any_credentials,
        keys,
        inbound,
        dispatcher,
        simulator,
        connectors: routing.clone(),
        metrics,
        base_url: base_url.trim_end_matches('/').to_string(),
        links: crate::api::links::LinkSettings {
            prefix: config
                .link_shortening_domain
                .clone()
                .unwrap_or_else(|| format!("{}/l", base_url.trim_end_matches('/'))),
            click_callback: config.link_click_callback.clone(),
        },
        require_owned_senders: config.require_owned_senders,
        min_schedule_lead_secs: config.min_schedule_lead_secs,
        receipt_window: config.receipt_window,
        subaccount_limit: config.subaccount_limit,
        limits: crate::api::limits::Limits::new(config.request_limits.clone()),
        sessions: crate::inbox::session::new_sessions(),
    });
    let drain = Drain::default();
    let router = api::router(state).layer(axum::middleware::from_fn_with_state(drain.clone(), refuse_while_draining));
    Ok(Prepared { router, announce, tls, tls_watcher, limits: config.http_limits.clone(), drain, routing, store })
}

/// On SIGHUP, re-reads the configuration file's `smpp` connectors and applies them: unchanged
/// connectors stay bound, new or changed ones (re)bind, removed ones drain and unbind. A file
/// that does not parse changes nothing (the error is logged). The handler is in place when
/// this returns, so a SIGHUP never takes its default action (exit).
fn watch_smpp_reloads(
    routing: Arc<Routing>,
    path: std::path::PathBuf,
    start: impl Fn(crate::smpp::SmppSettings) -> Arc<Connector> + Send + 'static,
) -> anyhow::Result<()> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match crate::config::reload_smpp(&path) {
                Ok(settings) => {
                    let done = routing.reload(settings, &start);
                    tracing::info!(kept = ?done.kept, started = ?done.started, stopped = ?done.stopped, "smpp connectors reloaded");
                }
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %format!("{e:#}"), "smpp connectors not reloaded")
                }
            }
        }
    });
    Ok(())
}

/// Inbound messages from SMSCs take the path of `/_switchboard/…/Inbound.json`: the account
/// that owns the `To` number gets the message, its webhook and its replies.
async fn receive_from_smsc(inbound: Arc<Inbound>, mut from_smsc: tokio::sync::mpsc::Receiver<MobileOriginated>) {
    while let Some(mo) = from_smsc.recv().await {
        let inbound = inbound.clone();
        tokio::spawn(async move {
            let outcome = store_from_smsc(&inbound, &mo).await;
            let _ = mo.stored.send(outcome);
        });
    }
}

async fn store_from_smsc(inbound: &Arc<Inbound>, mo: &MobileOriginated) -> MoOutcome {
    let Ok(accounts) = inbound.store.accounts().await else { return MoOutcome::Retry };
    let mut owner = None;
    for account in accounts {
        match inbound.store.phone_number_by_address(&account.sid, &mo.to).await {
            Ok(Some(_)) => {
                owner = Some(account.sid);
                break;
            }
            Ok(None) => {}
            Err(_) => return MoOutcome::Retry,
        }
    }
    let Some(account_sid) = owner else {
        tracing::warn!(connector = %mo.connector, to = %mo.to, "inbound SMS for a number no account has; dropped");
        return MoOutcome::Unknown;
    };
    let sms = InboundSms {
        account_sid,
        from: mo.from.clone(),
        to: mo.to.clone(),
        body: mo.body.clone(),
        media_urls: Vec::new(),
        address_retention: None,
        content_retention: None,
        error_code: mo.error_code,
    };
    match inbound.receive(sms).await {
        Ok(_) => MoOutcome::Stored,
        Err(e) if e.status >= 500 => MoOutcome::Retry,
        Err(e) => {
            tracing::warn!(connector = %mo.connector, error = %e, "inbound SMS refused; dropped");
            MoOutcome::Unknown
        }
    }
}

/// Serves until `shutdown` resolves, then drains (see [`Drain`]); in-flight requests finish.
pub async fn serve(
    prepared: Prepared,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let drain = prepared.drain.clone();
    let shutdown = async move {
        shutdown.await;
        drain.refuse_until_quiet().await;
    };
    let tls = prepared.tls.as_ref().map(|cert| cert.server_config()).transpose()?;
    let result = crate::tls::serve(listener, prepared.router, tls, prepared.limits, shutdown).await;
    if let Some(watcher) = prepared.tls_watcher {
        watcher.abort();
    }
    for connector in prepared.routing.connectors().iter() {
        connector.shutdown().await;
    }
    if let Err(e) = prepared.store.release_lease().await {
        tracing::warn!(error = %format!("{e:#}"), "node lease not released; peers take over when it lapses");
    }
    result
}

/// Starts the zero-code-change proxy (`--proxy-listen`), if configured: makes or loads the
/// local CA, writes the files clients trust and the proxy's address (for `switchboard env`),
/// and serves `router` through it until `shutdown`. Returns the bound address.
pub async fn start_proxy(
    config: &Config,
    router: axum::Router,
    api_address: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Option<SocketAddr>> {
    let Some(listen) = &config.proxy_listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let address = listener.local_addr()?;
    if !address.ip().is_loopback() {
        tracing::warn!(%address, "the proxy listens beyond loopback: anyone who reaches it can use it");
    }
    let dir = config.ca_dir.clone();
    let ca = tokio::task::spawn_blocking(move || -> anyhow::Result<LocalCa> {
        let ca = LocalCa::load_or_create(&dir)?;
        ca.write_client_files()?;
        Ok(ca)
    })
    .await??;
    std::fs::write(ca.dir().join(PROXY_ADDR_FILE), format!("{}\n", client_address(address)))?;
    let mut own = vec![(api_address.ip().to_string(), api_address.port())];
    if api_address.ip().is_loopback() || api_address.ip().is_unspecified() {
        own.push(("localhost".to_string(), api_address.port()));
        own.push(("127.0.0.1".to_string(), api_address.port()));
    }
    let settings = ProxySettings {
        tunnel_other_hosts: config.proxy_tunnel_other_hosts,
        own_addresses: own,
        limits: config.http_limits.clone(),
    };
    let ca = Arc::new(ca);
    tokio::spawn(async move {
        if let Err(e) = crate::proxy::serve(listener, router, ca, settings, shutdown).await {
            tracing::error!("proxy stopped: {e:#}");
        }
    });
    Ok(Some(address))
}

/// Removes the address a stopping proxy wrote for `switchboard env`, unless another server has
/// written its own since.
pub fn forget_proxy_address(config: &Config, address: SocketAddr) {
    let path = config.ca_dir.join(PROXY_ADDR_FILE);
    if std::fs::read_to_string(&path).is_ok_and(|text| text.trim() == client_address(address)) {
        let _ = std::fs::remove_file(path);
    }
}

/// How clients reach a listener: an unspecified address (0.0.0.0) through loopback.
fn client_address(address: SocketAddr) -> String {
    match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => format!("127.0.0.1:{}", address.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => format!("[::1]:{}", address.port()),
        _ => address.to_string(),
    }
}

/// The variables `switchboard env` prints (and `switchboard run` sets): makes the CA and its
/// client files if missing. The proxy address is `--proxy-listen` when it names a port, else
/// the one a running `serve` wrote into the CA directory.
pub fn client_environment(config: &Config) -> anyhow::Result<Vec<(String, String)>> {
    let ca = LocalCa::load_or_create(&config.ca_dir)?;
    let files = ca.write_client_files()?;
    // A configured port is used as is (the unspecified address through loopback); port 0 is
    // only known to the running server, which wrote it down.
    let configured = config.proxy_listen.as_deref().and_then(|a| {
        let (host, port) = a.rsplit_once(':')?;
        let port = port.parse::<u16>().ok().filter(|p| *p != 0)?;
        Some(match host {
            "0.0.0.0" => format!("127.0.0.1:{port}"),
            "[::]" => format!("[::1]:{port}"),
            _ => a.to_string(),
        })
    });
    let proxy = match configured {
        Some(a) => a,
        None => {
            let path = ca.dir().join(PROXY_ADDR_FILE);
            match std::fs::read_to_string(&path) {
                Ok(text) if !text.trim().is_empty() => text.trim().to_string(),
                _ => anyhow::bail!(
                    "no proxy address: start `switchboard serve --proxy-listen 127.0.0.1:8081` with the same \
                     --db/--ca-dir, or give `switchboard env` the same --proxy-listen (or SWITCHBOARD_PROXY_LISTEN)"
                ),
            }
        }
    };
    let local_hosts: Vec<String> = config
        .listen
        .rsplit_once(':')
        .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']').to_string())
        .filter(|h| !h.is_empty() && h != "0.0.0.0" && h != "::")
        .into_iter()
        .collect();
    Ok(env::variables(&proxy, &files, &local_hosts))
}

/// Registers SIGINT/SIGTERM handlers now (so a signal that arrives right after start-up is
/// not lost to the default action) and returns a future that resolves on either.
#[cfg(unix)]
pub fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::info!("shutting down: finishing in-flight requests");
    })
}

/// Resolves on Ctrl-C (non-Unix platforms).
#[cfg(not(unix))]
pub fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing in-flight requests");
    })
}

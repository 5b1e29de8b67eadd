//! Wiring: opens the store, ensures accounts, starts delivery, and serves HTTP until shutdown.

use crate::api::{self, AppState};
use crate::callbacks::Callbacks;
use crate::config::Config;
use crate::delivery::simulator::Simulator;
use crate::delivery::Dispatcher;
use crate::inbound::Inbound;
use crate::outbound::client::{RequestSettings, WebhookClient};
use crate::store::tokens::AccountTokens;
use crate::store::{self, Account};
use std::future::Future;
use std::sync::Arc;
use switchboard_domain::sid::{self, KeyGenerator};
use tokio::net::TcpListener;

/// A ready-to-serve application.
pub struct Prepared {
    /// The HTTP application.
    pub router: axum::Router,
    /// Accounts to announce at start, with whether to show their token.
    pub announce: Vec<(Account, bool)>,
}

/// Opens the store, upserts configured accounts (creating a random one in an empty database
/// when none is configured), resumes unfinished deliveries and builds the router.
/// `base_url` is the server's external URL (for absolute URLs in v1 resources and webhooks).
pub async fn prepare(config: &Config, base_url: &str) -> anyhow::Result<Prepared> {
    // Phone-number metadata loads on first use (over a second in a debug build): load it now,
    // so the first request, whose dates are already set, does not pay for it.
    tokio::task::spawn_blocking(|| switchboard_domain::address::parse_phone("+14155550100")).await?;
    let store = store::open(&config.db).await?;
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
    let callbacks = Callbacks::start(store.clone(), tokens.clone(), client.clone(), config.callbacks.clone());
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let simulator = Simulator::new(config.simulator_delays, config.simulator_rules.clone(), events_tx);
    let keys = Arc::new(KeyGenerator::new());
    // Media bodies are larger than webhook answers: a dedicated client reads up to 5 MiB.
    let media = crate::media::MediaFetcher {
        client: WebhookClient::new(config.webhook_address_policy.clone(), crate::media::MAX_IMAGE_BYTES)?,
        keys: keys.clone(),
    };
    let dispatcher = Dispatcher::start(
        store.clone(),
        simulator.clone(),
        callbacks,
        config.delivery.clone(),
        media.clone(),
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
    let resumed_inbound = inbound.resume().await?;
    if resumed_inbound > 0 {
        tracing::info!(resumed_inbound, "resumed processing of inbound messages");
    }
    let state = Arc::new(AppState {
        store,
        tokens,
        accept_any_credentials: config.accept_any_credentials,
        keys,
        inbound,
        dispatcher,
        simulator,
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
    });
    Ok(Prepared { router: api::router(state), announce })
}

/// Serves until `shutdown` resolves; in-flight requests finish first.
pub async fn serve(
    prepared: Prepared,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, prepared.router).with_graceful_shutdown(shutdown).await?;
    Ok(())
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

//! The HTTP surface: routes, shared state, and the Twilio-shaped fallbacks.
//!
//! One file per resource (`messages.rs`); handlers parse, call the domain and the store, and
//! render, nothing more. To add a Twilio resource: add its file, its routes in [`router`], its
//! JSON in `render.rs`.

pub mod accounts;
pub mod auth;
pub mod auth_tokens;
pub mod content;
pub mod error;
pub mod form;
pub mod keys;
pub mod limits;
pub mod links;
pub mod media;
pub mod messages;
pub mod numbers;
pub mod paging;
pub mod params;
pub mod render;
pub mod services;
pub mod short_codes;
pub mod stream;
pub mod switchboard;

use crate::delivery::simulator::Simulator;
use crate::delivery::Dispatcher;
use crate::store::Store;
use axum::extract::Request;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use switchboard_domain::sid::KeyGenerator;
use switchboard_domain::TwilioError;

/// Largest request body accepted (a create with ten long media URLs is a few KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Everything handlers share.
pub struct AppState {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Account tokens, cached (shared with status callbacks and inbound webhooks).
    pub tokens: Arc<crate::store::tokens::AccountTokens>,
    /// See `--accept-any-credentials`.
    pub accept_any_credentials: bool,
    /// Time-ordered message keys.
    pub keys: Arc<KeyGenerator>,
    /// Inbound message processing (webhooks, TwiML replies, opt-outs).
    pub inbound: Arc<crate::inbound::Inbound>,
    /// Hands accepted messages to delivery.
    pub dispatcher: Dispatcher,
    /// The built-in carrier simulator (its runtime rules are set through `/_switchboard/`).
    pub simulator: Arc<Simulator>,
    /// SMPP connectors (`GET /_switchboard/Connectors.json`).
    pub connectors: Arc<crate::smpp::Routing>,
    /// Link shortening settings.
    pub links: links::LinkSettings,
    /// External base URL, without a trailing slash (`--public-url`, else `http://<listen>`).
    pub base_url: String,
    /// Prometheus registry, if installed.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// `From` must be a sender of the account (`--require-owned-senders`).
    pub require_owned_senders: bool,
    /// Minimum `SendAt` lead, seconds.
    pub min_schedule_lead_secs: i64,
    /// A `sent` message may be deleted this long after it was sent (`--receipt-window-secs`).
    pub receipt_window: std::time::Duration,
    /// Most subaccounts a main account may have (`--subaccount-limit`).
    pub subaccount_limit: usize,
    /// Per-account rate and concurrency limits, per-address authentication lockout.
    pub limits: Arc<limits::Limits>,
    /// The inbox's signed-in sessions (in memory).
    pub sessions: Arc<crate::inbox::session::Sessions>,
}

/// Shared state handle.
pub type SharedState = Arc<AppState>;

/// Builds the whole HTTP application.
pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/2010-04-01/Accounts/{account}/Messages.json", get(messages::list).post(messages::create))
        .route(
            "/2010-04-01/Accounts/{account}/Messages/{file}",
            get(messages::fetch).post(messages::update).delete(messages::delete),
        )
        .route("/2010-04-01/Accounts/{account}/Messages/{sid}/Feedback.json", axum::routing::post(messages::feedback))
        .route("/_switchboard/Connectors.json", get(switchboard::connectors))
        .route("/_switchboard/Accounts/{account}/Messages/{sid}/Events.json", get(switchboard::events))
        .route("/_switchboard/Accounts/{account}/Messages/{sid}/Callbacks.json", get(switchboard::callbacks))
        .route("/_switchboard/Accounts/{account}/Stream", get(stream::stream))
        .route("/_switchboard/Accounts/{account}/Messages/Next.json", get(stream::next))
        .route("/_switchboard/Accounts/{account}/Inbound.json", axum::routing::post(switchboard::inbound))
        .route(
            "/_switchboard/Accounts/{account}/Simulator/Rules.json",
            get(switchboard::list_rules).post(switchboard::add_rule).delete(switchboard::clear_rules),
        )
        .merge(accounts::routes())
        .merge(keys::routes())
        .merge(auth_tokens::routes())
        .merge(numbers::routes())
        .merge(short_codes::routes())
        .merge(services::routes())
        .merge(content::routes())
        .merge(links::routes())
        .merge(media::routes())
        .merge(crate::inbox::routes())
        .route("/healthz", get(switchboard::healthz))
        .route("/readyz", get(switchboard::readyz))
        .route("/metrics", get(switchboard::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(limits::hold))
        .layer(axum::middleware::from_fn(sheddable))
        .layer(axum::middleware::map_response(twilio_shaped_errors))
        .layer(axum::middleware::from_fn(close_after_unread_body))
        .layer(axum::middleware::from_fn(record_http_metrics))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

/// A request refused before its body was read (bad credentials, say) leaves that body on the
/// connection: hyper then closes it, racing a client that already reuses it for its next
/// request. Saying `Connection: close` on such answers makes the client open a new one.
async fn close_after_unread_body(req: Request, next: axum::middleware::Next) -> Response {
    use axum::http::{header, HeaderValue};
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() != "0");
    let mut resp = next.run(req).await;
    if has_body && (resp.status().is_client_error() || resp.status().is_server_error()) {
        resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// A request brings new work: its first write may be shed when the store's writer falls behind
/// (answered 503 by [`error::ApiError`]); see [`crate::store::admission`].
async fn sheddable(req: Request, next: axum::middleware::Next) -> Response {
    crate::store::admission::scope(next.run(req)).await
}

/// Latency and count of every request, by route template (not raw path: bounded labels).
async fn record_http_metrics(req: Request, next: axum::middleware::Next) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    crate::metrics::http_request(&route, method.as_str(), resp.status().as_u16(), started.elapsed());
    resp
}

/// Rejections produced outside our handlers (a path that is not UTF-8, say) arrive as plain
/// text; give them Twilio's shape like every other error.
async fn twilio_shaped_errors(resp: Response) -> Response {
    let status = resp.status();
    // JSON errors are ours already; HTML ones are the inbox's pages (a form with its error).
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html"));
    if !status.is_client_error() && !status.is_server_error() || is_json {
        return resp;
    }
    let e = match status.as_u16() {
        404 => TwilioError::new(20404, 404, "The requested resource was not found"),
        405 => TwilioError::method_not_allowed("this"),
        413 => TwilioError::payload_too_large(MAX_BODY_BYTES),
        s if s >= 500 => TwilioError::internal(),
        s => TwilioError::new(20001, s, status.canonical_reason().unwrap_or("Bad request").to_string()),
    };
    error::ApiError(e).into_response()
}

/// A panic in a handler is a bug: log it, answer a Twilio-shaped 500, keep serving.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    error::ApiError(TwilioError::internal()).into_response()
}

/// Unknown routes: Twilio's 20404.
async fn not_found(req: Request) -> Response {
    error::ApiError(TwilioError::not_found(req.uri().path())).into_response()
}

/// Known routes, wrong method: Twilio's 20004.
async fn method_not_allowed(method: Method) -> Response {
    error::ApiError(TwilioError::method_not_allowed(method.as_str())).into_response()
}

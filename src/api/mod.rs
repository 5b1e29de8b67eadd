//! The HTTP surface: routes, shared state, and the Twilio-shaped fallbacks.
//!
//! One file per resource (`messages.rs`); handlers parse, call the domain and the store, and
//! render, nothing more. To add a Twilio resource: add its file, its routes in [`router`], its
//! JSON in `render.rs`.

pub mod auth;
pub mod error;
pub mod form;
pub mod messages;
pub mod render;
pub mod switchboard;

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
    /// Account tokens, cached.
    pub accounts: auth::AccountCache,
    /// See `--accept-any-credentials`.
    pub accept_any_credentials: bool,
    /// Time-ordered message keys.
    pub keys: KeyGenerator,
    /// Hands accepted messages to delivery.
    pub dispatcher: Dispatcher,
    /// Minimum `SendAt` lead, seconds.
    pub min_schedule_lead_secs: i64,
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
        .route("/_switchboard/Accounts/{account}/Messages/{sid}/Events.json", get(switchboard::events))
        .route("/healthz", get(switchboard::healthz))
        .route("/readyz", get(switchboard::readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Unknown routes: Twilio's 20404.
async fn not_found(req: Request) -> Response {
    error::ApiError(TwilioError::not_found(req.uri().path())).into_response()
}

/// Known routes, wrong method: Twilio's 20004.
async fn method_not_allowed(method: Method) -> Response {
    error::ApiError(TwilioError::method_not_allowed(method.as_str())).into_response()
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

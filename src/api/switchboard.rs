//! Switchboard's own endpoints (not Twilio's): health, readiness, message events.

use super::auth;
use super::error::ApiResult;
use super::SharedState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use switchboard_domain::TwilioError;

/// Liveness: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the store answers.
pub async fn readyz(State(state): State<SharedState>) -> ApiResult<&'static str> {
    state.store.account("AC00000000000000000000000000000000").await?;
    Ok("ready")
}

/// GET /_switchboard/Accounts/{AccountSid}/Messages/{Sid}/Events.json: the status history.
pub async fn events(
    State(state): State<SharedState>,
    Path((account, sid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let account = auth::require(&state, &headers, &account, uri.path()).await?;
    let events =
        state.store.message_events(&account.sid, &sid).await?.ok_or_else(|| TwilioError::not_found(uri.path()))?;
    let events: Vec<_> = events
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "date": super::render::rfc2822(e.at_ms),
                "from_status": e.from,
                "status": e.to,
                "error_code": e.error_code,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "message_sid": sid, "events": events })).into_response())
}

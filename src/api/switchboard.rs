//! Switchboard's own endpoints (not Twilio's): health, readiness, message events.

use super::auth::Authenticated;
use super::error::ApiResult;
use super::{AppState, SharedState};
use crate::delivery::simulator::Rule;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::Json;
use switchboard_domain::message::parse_enum;
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

/// `GET /_switchboard/Connectors.json`: the SMPP connectors, their settings (no password) and
/// what each bind is doing. Read-only; any account's credentials.
pub async fn connectors(
    Authenticated(_account): Authenticated,
    State(state): State<SharedState>,
) -> ApiResult<Json<serde_json::Value>> {
    let connectors: Vec<crate::smpp::ConnectorStatus> =
        state.connectors.connectors().iter().map(|c| c.status()).collect();
    Ok(Json(serde_json::json!({ "connectors": connectors })))
}

/// GET /_switchboard/Accounts/{AccountSid}/Messages/{Sid}/Events.json: the status history.
pub async fn events(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    Path((_, sid)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
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
                "detail": e.detail,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "message_sid": sid, "events": events })).into_response())
}

/// GET /_switchboard/Accounts/{AccountSid}/Messages/{Sid}/Callbacks.json: every status
/// callback of a message with each delivery attempt.
pub async fn callbacks(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    Path((_, sid)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let views =
        state.store.message_callbacks(&account.sid, &sid).await?.ok_or_else(|| TwilioError::not_found(uri.path()))?;
    let callbacks: Vec<_> = views
        .into_iter()
        .map(|v| {
            let params: serde_json::Map<String, serde_json::Value> =
                v.row.request.params.iter().map(|(k, val)| (k.clone(), serde_json::Value::from(val.clone()))).collect();
            serde_json::json!({
                "url": v.row.request.url,
                "method": v.row.request.method,
                "params": params,
                "idempotency_token": v.row.request.idempotency_token,
                "date_created": super::render::rfc2822(v.row.created_at),
                "state": v.state,
                "attempts": v.attempts.iter().map(|a| serde_json::json!({
                    "date": super::render::rfc2822(a.at_ms),
                    "http_status": a.http_status,
                    "latency_ms": a.latency_ms,
                    "error": a.error,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "message_sid": sid, "callbacks": callbacks })).into_response())
}

/// GET …/Simulator/Rules.json: the simulator rules that apply to this account.
pub async fn list_rules(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
) -> ApiResult<Response> {
    // As stored now: a rule another node added a moment ago is listed too.
    state.simulator.reload_rules(state.store.as_ref()).await?;
    Ok(Json(serde_json::json!({ "rules": state.simulator.rules_for(&account.sid) })).into_response())
}

/// POST …/Simulator/Rules.json: adds a rule for this account's messages. Form parameters
/// `To`, `From` (patterns with `*`), `Outcome` (`delivered`, `sent`, `failed`, `undelivered`),
/// `ErrorCode`, `DelayMs`, `Probability`.
pub async fn add_rule(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let pairs = super::form::read_form(body).await?;
    let rule = rule_from_form(&account.sid, &pairs)?;
    store_rule(&state, &account.sid, &rule).await?;
    Ok((axum::http::StatusCode::CREATED, Json(rule)).into_response())
}

/// Adds a runtime rule of `account_sid`: stored (shared by every node on the database), then in
/// effect on this node before the answer and on the others once they hear of it.
pub async fn store_rule(state: &AppState, account_sid: &str, rule: &Rule) -> ApiResult<()> {
    let json = serde_json::to_string(rule).map_err(|e| anyhow::anyhow!("encoding a simulator rule: {e}"))?;
    state.store.add_simulator_rule(account_sid, json).await?;
    rules_changed(state).await
}

/// Removes the account's `index`-th rule (of those that apply to it), or all its runtime rules
/// (`None`); false when that is not one of its runtime rules.
pub async fn remove_rules(state: &AppState, account_sid: &str, index: Option<usize>) -> ApiResult<bool> {
    let nth = match index {
        None => None,
        Some(i) => match state.simulator.runtime_position(account_sid, i) {
            Some(n) => Some(n),
            None => return Ok(false),
        },
    };
    let removed = state.store.remove_simulator_rules(account_sid, nth).await?;
    rules_changed(state).await?;
    Ok(removed)
}

/// Reloads this node's rules from the store and tells the other nodes to.
async fn rules_changed(state: &AppState) -> ApiResult<()> {
    state.simulator.reload_rules(state.store.as_ref()).await?;
    state.store.signal(crate::store::cluster::Signal::SimulatorRules).await?;
    Ok(())
}

/// A simulator rule of `account_sid` from form parameters `To`, `From`, `Outcome`,
/// `ErrorCode`, `DelayMs`, `Probability` (also the inbox's form).
pub fn rule_from_form(account_sid: &str, pairs: &super::form::Pairs) -> Result<Rule, TwilioError> {
    let get = |name: &str| super::form::last(pairs, name).filter(|v| !v.is_empty()).map(str::to_string);
    let number = |name: &str| -> Result<Option<f64>, TwilioError> {
        get(name)
            .map(|v| v.parse::<f64>().map_err(|_| TwilioError::invalid_parameter(format!("{name} must be a number"))))
            .transpose()
    };
    let rule = Rule {
        account_sid: Some(account_sid.to_string()),
        to: get("To"),
        from: get("From"),
        outcome: get("Outcome").ok_or_else(|| TwilioError::invalid_parameter("Outcome is required"))?,
        error_code: number("ErrorCode")?.map(|v| v as u32),
        delay_ms: number("DelayMs")?.map_or(0, |v| v.max(0.0) as u64),
        probability: number("Probability")?.unwrap_or(1.0),
    };
    rule.validate().map_err(TwilioError::invalid_parameter)?;
    Ok(rule)
}

/// DELETE …/Simulator/Rules.json: removes this account's rules.
pub async fn clear_rules(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
) -> ApiResult<Response> {
    remove_rules(&state, &account.sid, None).await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// GET /metrics: Prometheus text format.
pub async fn metrics(State(state): State<SharedState>) -> Response {
    crate::metrics::queue_depths(&state.dispatcher.queue_depths());
    let body = state.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// POST /_switchboard/Accounts/{AccountSid}/Inbound.json: simulates a handset texting one of
/// the account's numbers (`From` the handset, `To` the number, `Body`, repeated `MediaUrl`,
/// optional `AddressRetention`/`ContentRetention` standing for the account's redaction setting).
/// Answers 201 with the inbound Message; the webhook runs in the background.
pub async fn inbound(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let pairs = super::form::read_form(body).await?;
    let get = |name: &str| super::form::last(&pairs, name).unwrap_or("").to_string();
    let from = get("From");
    let to = get("To");
    if from.is_empty() {
        return Err(TwilioError::bad_request(21603, "A 'From' phone number (the handset) is required.").into());
    }
    if to.is_empty() {
        return Err(TwilioError::to_required().into());
    }
    let media_urls: Vec<String> = pairs.iter().filter(|(k, _)| k == "MediaUrl").map(|(_, v)| v.clone()).collect();
    if let Some(bad) = media_urls.iter().find(|u| !switchboard_domain::message::is_callback_url(u)) {
        return Err(TwilioError::invalid_media_url(bad).into());
    }
    let param = |name: &str| super::form::last(&pairs, name).map(str::to_string);
    let sms = crate::inbound::InboundSms {
        account_sid: account.sid,
        from,
        to,
        body: get("Body"),
        media_urls,
        address_retention: parse_enum("AddressRetention", &param("AddressRetention"), &["retain", "obfuscate"])?,
        content_retention: parse_enum("ContentRetention", &param("ContentRetention"), &["retain", "discard"])?,
        error_code: None,
    };
    let message = state.inbound.receive(sms).await?;
    Ok((axum::http::StatusCode::CREATED, Json(super::render::message(&message, true))).into_response())
}

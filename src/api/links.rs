//! Link shortening: `ShortenUrls=true` replaces the URLs of a Messaging Service message with
//! short links served here (`GET /l/{code}` → 302 to the original), counting clicks and
//! reporting each one to the click callback in the shape of Twilio's "link clicked" event.

use super::error::ApiError;
use super::SharedState;
use crate::store::links::ShortLink;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rand::Rng;
use switchboard_domain::{links, TwilioError};

/// Where short links point and who hears about clicks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSettings {
    /// Short links are `{prefix}/{code}`; the prefix must reach this server's `/l/`.
    pub prefix: String,
    /// Each click is POSTed here as a JSON event.
    pub click_callback: Option<String>,
}

/// The routes of this resource.
pub fn routes() -> Router<SharedState> {
    Router::new().route("/l/{code}", get(open))
}

/// Ten alphanumeric characters, as Twilio's short links have.
fn new_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..10).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// Rewrites `body` with short links for message `message_sid`; returns the new body and the
/// links to store. Without URLs the body is returned unchanged.
pub fn shorten(
    state: &SharedState,
    account_sid: &str,
    message_sid: &str,
    body: &str,
    now: i64,
) -> (String, Vec<ShortLink>) {
    let ranges = links::find_urls(body);
    if ranges.is_empty() {
        return (body.to_string(), Vec::new());
    }
    let made: Vec<ShortLink> = ranges
        .iter()
        .map(|r| {
            let code = new_code();
            ShortLink {
                shortened: format!("{}/{code}", state.links.prefix),
                code,
                account_sid: account_sid.to_string(),
                message_sid: message_sid.to_string(),
                link: body[r.clone()].to_string(),
                date_created: now,
                clicks: 0,
            }
        })
        .collect();
    let replacements: Vec<String> = made.iter().map(|l| l.shortened.clone()).collect();
    (links::replace(body, &ranges, &replacements), made)
}

/// 21000-family check done at create: Twilio only shortens for Messaging Services.
pub fn require_service(has_service: bool) -> Result<(), ApiError> {
    if has_service {
        Ok(())
    } else {
        Err(TwilioError::invalid_parameter("ShortenUrls=true requires a MessagingServiceSid").into())
    }
}

/// GET /l/{code}: redirect to the original link and report the click. Public: the recipient
/// opening the link has no credentials.
async fn open(State(state): State<SharedState>, Path(code): Path<String>, headers: HeaderMap) -> Response {
    let link = match state.store.click_link(&code).await {
        Ok(Some(l)) => l,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such link").into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Some(url) = state.links.click_callback.clone() {
        let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let state = state.clone();
        let link = link.clone();
        tokio::spawn(async move { report_click(&state, &url, &link, &user_agent).await });
    }
    (StatusCode::FOUND, [(header::LOCATION, link.link)]).into_response()
}

fn iso(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// POSTs a CloudEvent shaped like Twilio's `com.twilio.daptbt.link-shortening.link-clicked`.
async fn report_click(state: &SharedState, url: &str, link: &ShortLink, user_agent: &str) {
    let message = state.store.message(&link.account_sid, &link.message_sid).await.ok().flatten();
    let now = crate::clock::now_ms();
    let event = serde_json::json!({
        "specversion": "1.0",
        "type": "com.twilio.daptbt.link-shortening.link-clicked",
        "source": format!("/_switchboard/Accounts/{}/Links", link.account_sid),
        "id": switchboard_domain::sid::random("NO"),
        "time": iso(now),
        "datacontenttype": "application/json",
        "data": {
            "message_sid": link.message_sid,
            "account_sid": link.account_sid,
            "messaging_service_sid": message.as_ref().and_then(|m| m.messaging_service_sid.clone()),
            "to": message.as_ref().map(|m| m.to.clone()),
            "from": message.as_ref().and_then(|m| m.from.clone()),
            "link": link.link,
            "shortened_link": link.shortened,
            "link_create_time": iso(link.date_created),
            "click_time": iso(now),
            "user_agent": user_agent,
        }
    });
    let attempt = state
        .inbound
        .client
        .send_json(url, &event.to_string(), &crate::outbound::client::RequestSettings::default())
        .await;
    if !attempt.ok() {
        tracing::warn!(url, status = ?attempt.status, error = ?attempt.error, "link click callback failed");
    }
}

//! A minimal Twilio Content API (`/v1/Content`): text and media templates whose `ContentSid`
//! messages are rendered from, with `ContentVariables` filling `{{variables}}`.

use super::auth::Authenticated;
use super::error::{ApiError, ApiResult};
use super::form;
use super::paging::{PageRequest, V1Page};
use super::params::{OneResource, SidKind};
use super::SharedState;
use crate::clock::now_ms;
use crate::store::Content;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use switchboard_domain::content::{self as template, Variables};
use switchboard_domain::TwilioError;

/// Content types this server renders.
pub const SUPPORTED_TYPES: [&str; 2] = ["twilio/text", "twilio/media"];

/// The routes of this resource.
pub fn routes() -> Router<SharedState> {
    Router::new().route("/v1/Content", get(list).post(create)).route("/v1/Content/{sid}", get(fetch).delete(delete))
}

/// The JSON body of a create.
#[derive(Deserialize)]
struct CreateContent {
    friendly_name: Option<String>,
    language: Option<String>,
    #[serde(default)]
    variables: Map<String, Value>,
    types: Option<Map<String, Value>>,
}

/// Content templates, as a path names them (`HX…`).
pub struct Contents;

impl SidKind for Contents {
    const PREFIXES: &'static [&'static str] = &["HX"];
    const JSON: bool = false;
}

fn render(state: &SharedState, c: &Content) -> Value {
    let url = format!("{}/v1/Content/{}", state.base_url, c.sid);
    json!({
        "account_sid": c.account_sid,
        "date_created": super::render::iso8601(c.date_created),
        "date_updated": super::render::iso8601(c.date_updated),
        "friendly_name": c.friendly_name,
        "language": c.language,
        "links": {
            "approval_create": format!("{url}/ApprovalRequests/whatsapp"),
            "approval_fetch": format!("{url}/ApprovalRequests"),
        },
        "sid": c.sid,
        "types": serde_json::from_str::<Value>(&c.types).unwrap_or(Value::Null),
        "url": url,
        "variables": serde_json::from_str::<Value>(&c.variables).unwrap_or(Value::Null),
    })
}

/// A create's JSON body, checked: what a template stores.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTemplate {
    /// `friendly_name` (empty when absent).
    pub friendly_name: String,
    /// `language`.
    pub language: String,
    /// `variables` (default values), as a JSON object of strings.
    pub variables: String,
    /// `types`, as a JSON object of supported types.
    pub types: String,
}

/// Reads and checks the JSON body of `POST /v1/Content`: Twilio's 400 (21201 shape) for
/// anything that is not a template of the supported types (also what the fuzz target drives).
pub fn parse_create(bytes: &[u8]) -> Result<NewTemplate, TwilioError> {
    let req: CreateContent = serde_json::from_slice(bytes).map_err(|e| {
        TwilioError::invalid_parameter(format!("The request body must be a JSON content template: {e}"))
    })?;
    let language =
        req.language.filter(|l| !l.is_empty()).ok_or_else(|| TwilioError::invalid_parameter("language is required"))?;
    let types =
        req.types.filter(|t| !t.is_empty()).ok_or_else(|| TwilioError::invalid_parameter("types is required"))?;
    if let Some(unknown) = types.keys().find(|k| !SUPPORTED_TYPES.contains(&k.as_str())) {
        return Err(TwilioError::invalid_parameter(format!(
            "content type '{unknown}' is not supported here (supported: {})",
            SUPPORTED_TYPES.join(", ")
        )));
    }
    for (name, t) in &types {
        let body_ok = t.get("body").is_none_or(Value::is_string);
        let media_ok = t.get("media").is_none_or(|m| m.as_array().is_some_and(|a| a.iter().all(Value::is_string)));
        if !(t.is_object() && body_ok && media_ok) || (name == "twilio/media" && t.get("media").is_none()) {
            return Err(TwilioError::invalid_parameter(format!("types.{name} is not a valid {name} template")));
        }
    }
    if req.variables.values().any(|v| !v.is_string()) {
        return Err(TwilioError::invalid_parameter("variables must map names to strings"));
    }
    Ok(NewTemplate {
        friendly_name: req.friendly_name.unwrap_or_default(),
        language,
        variables: Value::Object(req.variables).to_string(),
        types: Value::Object(types).to_string(),
    })
}

/// POST /v1/Content (JSON, as Twilio's Content API takes it).
async fn create(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    body: Body,
) -> ApiResult<Response> {
    let bytes = axum::body::to_bytes(body, super::MAX_BODY_BYTES).await.map_err(super::form::body_error)?;
    let t = parse_create(&bytes)?;
    let now = now_ms();
    let content = Content {
        sid: format!("HX{}", state.keys.next(now)),
        account_sid: account.sid,
        friendly_name: t.friendly_name,
        language: t.language,
        variables: t.variables,
        types: t.types,
        date_created: now,
        date_updated: now,
    };
    state.store.insert_content(content.clone()).await?;
    Ok((StatusCode::CREATED, Json(render(&state, &content))).into_response())
}

async fn fetch(State(state): State<SharedState>, resource: OneResource<Contents>) -> ApiResult<Response> {
    let c = state.store.content(&resource.account.sid, &resource.sid).await?.ok_or_else(|| resource.not_found())?;
    Ok(Json(render(&state, &c)).into_response())
}

async fn delete(State(state): State<SharedState>, resource: OneResource<Contents>) -> ApiResult<Response> {
    if !state.store.delete_content(&resource.account.sid, &resource.sid).await? {
        return Err(resource.not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    uri: Uri,
) -> ApiResult<Response> {
    let q = form::decode(uri.query().unwrap_or("").as_bytes());
    let req = PageRequest::parse(&q, &["HX"])?;
    let rows = state.store.list_contents(&account.sid, &req.cursor, req.limit()).await?;
    let window = req.window(rows, |c| c.sid.as_str());
    let items: Vec<Value> = window.rows.iter().map(|c| render(&state, c)).collect();
    let url = format!("{}/v1/Content", state.base_url);
    Ok(Json(V1Page::new("contents", &req, &window, &url, &[], items)).into_response())
}

/// A message's body and media rendered from its template: 21655 for an unknown template,
/// 21656 for `ContentVariables` that are not a JSON object of strings.
pub async fn render_message(
    state: &SharedState,
    account_sid: &str,
    content_sid: &str,
    variables: Option<&str>,
) -> Result<(String, Vec<String>), ApiError> {
    let content = state.store.content(account_sid, content_sid).await?.ok_or_else(|| {
        TwilioError::bad_request(21655, format!("The ContentSid {content_sid} is invalid: no such template"))
    })?;
    let values = match variables.filter(|v| !v.trim().is_empty()) {
        None => Variables::new(),
        Some(v) => template::parse_variables(v).ok_or_else(|| {
            TwilioError::bad_request(21656, "The ContentVariables parameter is invalid: it must be a JSON object")
        })?,
    };
    Ok(render_template(&content.types, &content.variables, &values))
}

/// A stored template's body and media with `values` (over its default `variables`) filled in.
pub fn render_template(types: &str, variables: &str, values: &Variables) -> (String, Vec<String>) {
    let defaults = template::parse_variables(variables).unwrap_or_default();
    let types: Value = serde_json::from_str(types).unwrap_or(Value::Null);
    let chosen = types.get("twilio/media").or_else(|| types.get("twilio/text")).cloned().unwrap_or(Value::Null);
    let body =
        chosen.get("body").and_then(Value::as_str).map(|b| template::render(b, &defaults, values)).unwrap_or_default();
    let media = chosen
        .get("media")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(|m| template::render(m, &defaults, values)).collect())
        .unwrap_or_default();
    (body, media)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_body_is_checked_and_its_template_renders_with_defaults_and_values() {
        let body = br#"{"friendly_name":"otp","language":"en","variables":{"1":"friend"},
            "types":{"twilio/text":{"body":"Hi {{1}}, code {{2}}"}}}"#;
        let t = parse_create(body).unwrap();
        assert_eq!((t.friendly_name.as_str(), t.language.as_str()), ("otp", "en"));
        let values = template::parse_variables(r#"{"2":"1234"}"#).unwrap();
        assert_eq!(render_template(&t.types, &t.variables, &values).0, "Hi friend, code 1234");
    }

    #[test]
    fn bad_create_bodies_get_a_400_that_says_why() {
        for (body, why) in [
            (&br#"not json"#[..], "JSON"),
            (br#"{"types":{"twilio/text":{"body":"x"}}}"#, "language"),
            (br#"{"language":"en","types":{}}"#, "types"),
            (br#"{"language":"en","types":{"twilio/card":{}}}"#, "not supported"),
            (br#"{"language":"en","types":{"twilio/media":{"body":"x"}}}"#, "twilio/media"),
            (br#"{"language":"en","types":{"twilio/text":{"body":1}}}"#, "twilio/text"),
            (br#"{"language":"en","variables":{"1":2},"types":{"twilio/text":{"body":"x"}}}"#, "variables"),
        ] {
            let e = parse_create(body).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(why), "{}: {}", String::from_utf8_lossy(body), e.message);
        }
    }
}

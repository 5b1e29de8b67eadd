//! API keys: v2010 `/2010-04-01/Accounts/{AccountSid}/Keys.json` (standard keys) and IAM v1
//! `/v1/Keys` (standard and restricted keys, with a policy). The secret is answered once, at
//! creation; only its salted hash is stored. Only auth tokens and main keys reach these routes
//! ([`Caller`]); deleting a key or changing its policy takes effect on the next request.

use super::accounts::page_rows;
use super::auth::{Caller, Principal};
use super::error::{ApiError, ApiResult};
use super::form::{self, Pairs};
use super::paging::{PageRequest, V1Page, V2010Page};
use super::params::{json_sid, path_sid, Params};
use super::render::{self, IamKeyView};
use super::{AppState, SharedState};
use crate::clock::now_ms;
use crate::store::{AccountRecord, ApiKey, KeyType};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;
use switchboard_domain::TwilioError;

/// Most permissions a restricted key's policy may list (Twilio's limit).
const MAX_PERMISSIONS: usize = 100;

/// The routes of this resource.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/2010-04-01/Accounts/{account}/Keys.json", get(list).post(create))
        .route("/2010-04-01/Accounts/{account}/Keys/{file}", get(fetch).post(update).delete(delete))
        .route("/v1/Keys", get(iam_list).post(iam_create))
        .route("/v1/Keys/{sid}", get(iam_fetch).post(iam_update).delete(iam_delete))
}

/// A new key of `account`, stored; returns it with its secret.
pub async fn create_key(
    state: &AppState,
    account_sid: &str,
    friendly_name: &str,
    key_type: KeyType,
    policy: Option<String>,
) -> ApiResult<(ApiKey, String)> {
    let (key, secret) = ApiKey::generate(account_sid, friendly_name, key_type, policy, now_ms());
    state.store.insert_key(key.clone()).await?;
    Ok((key, secret))
}

/// GET …/Keys.json: the account's keys.
async fn list(
    State(state): State<SharedState>,
    Caller(p): Caller,
    Path(account): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let account = p.reach(&state, &account, uri.path(), true).await?;
    let q = form::decode(uri.query().unwrap_or("").as_bytes());
    let req = PageRequest::parse(&q, &["SK"])?;
    let rows = page_rows(state.store.keys_of(&account.sid).await?, &req, |k| k.sid.as_str());
    let window = req.window(rows, |k| k.sid.as_str());
    let items = window.rows.iter().map(|k| render::key(k, None)).collect();
    Ok(Json(V2010Page::new("keys", &req, &window, uri.path(), &[], items)).into_response())
}

/// POST …/Keys.json: a new standard key (`FriendlyName`); 201 with its secret.
async fn create(
    State(state): State<SharedState>,
    Caller(p): Caller,
    Path(account): Path<String>,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    let account = p.reach(&state, &account, uri.path(), true).await?;
    let pairs = form::read_form(body).await?;
    let name = Params(&pairs).friendly_name()?.unwrap_or_default();
    let (key, secret) = create_key(&state, &account.sid, &name, KeyType::Standard, None).await?;
    Ok((StatusCode::CREATED, Json(render::key(&key, Some(&secret)))).into_response())
}

/// The key named by `…/Keys/{Sid}.json` in a reachable account.
async fn one(state: &AppState, p: &Principal, account: &str, file: &str, uri: &Uri) -> ApiResult<Arc<ApiKey>> {
    let account = p.reach(state, account, uri.path(), true).await?;
    let sid = json_sid(file, &["SK"], uri)?;
    match state.tokens.key(sid).await? {
        Some(k) if k.account_sid == account.sid => Ok(k),
        _ => Err(TwilioError::not_found(uri.path()).into()),
    }
}

/// GET …/Keys/{Sid}.json.
async fn fetch(
    State(state): State<SharedState>,
    Caller(p): Caller,
    Path((account, file)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let key = one(&state, &p, &account, &file, &uri).await?;
    Ok(Json(render::key(&key, None)).into_response())
}

/// POST …/Keys/{Sid}.json: `FriendlyName`.
async fn update(
    State(state): State<SharedState>,
    Caller(p): Caller,
    Path((account, file)): Path<(String, String)>,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    let key = one(&state, &p, &account, &file, &uri).await?;
    let pairs = form::read_form(body).await?;
    let name = Params(&pairs).friendly_name()?;
    let updated = state
        .store
        .update_key(&key.account_sid, &key.sid, name, None, now_ms())
        .await?
        .ok_or_else(|| TwilioError::not_found(uri.path()))?;
    state.tokens.forget_key(&key.sid);
    Ok(Json(render::key(&updated, None)).into_response())
}

/// DELETE …/Keys/{Sid}.json: revokes the key at once; 204.
async fn delete(
    State(state): State<SharedState>,
    Caller(p): Caller,
    Path((account, file)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let key = one(&state, &p, &account, &file, &uri).await?;
    revoke(&state, &key).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Deletes a key and drops it from the cache, so its next request is refused.
async fn revoke(state: &AppState, key: &ApiKey) -> ApiResult<()> {
    state.store.delete_key(&key.account_sid, &key.sid).await?;
    state.tokens.forget_key(&key.sid);
    Ok(())
}

/// The account named by IAM's `AccountSid` parameter (required).
async fn iam_account(state: &AppState, p: &Principal, pairs: &Pairs, path: &str) -> ApiResult<Arc<AccountRecord>> {
    let sid = match form::last(pairs, "AccountSid").map(str::trim) {
        Some(s) if !s.is_empty() => s,
        _ => return Err(TwilioError::invalid_parameter("Missing required parameter AccountSid").into()),
    };
    p.reach(state, sid, path, true).await
}

/// A policy as Twilio takes it: a JSON object whose `allow` lists permission strings.
fn parse_policy(raw: &str) -> Result<String, ApiError> {
    let invalid =
        |why: &str| -> ApiError { TwilioError::invalid_parameter(format!("Policy is invalid: {why}")).into() };
    let v: serde_json::Value = serde_json::from_str(raw).map_err(|_| invalid("not JSON"))?;
    let allow = v.get("allow").and_then(|a| a.as_array()).ok_or_else(|| invalid("it needs an \"allow\" list"))?;
    if allow.is_empty() || allow.len() > MAX_PERMISSIONS {
        return Err(invalid(&format!("\"allow\" lists 1 to {MAX_PERMISSIONS} permissions")));
    }
    if !allow.iter().all(|p| p.as_str().is_some_and(|s| s.starts_with('/'))) {
        return Err(invalid("permissions are strings such as /twilio/messaging/messages/read"));
    }
    Ok(v.to_string())
}

/// GET /v1/Keys?AccountSid=…: the account's keys, in the v1 `meta` envelope.
async fn iam_list(State(state): State<SharedState>, Caller(p): Caller, uri: Uri) -> ApiResult<Response> {
    let q = form::decode(uri.query().unwrap_or("").as_bytes());
    let account = iam_account(&state, &p, &q, uri.path()).await?;
    let req = PageRequest::parse(&q, &["SK"])?;
    let rows = page_rows(state.store.keys_of(&account.sid).await?, &req, |k| k.sid.as_str());
    let window = req.window(rows, |k| k.sid.as_str());
    let items = window.rows.iter().map(|k| render::iam_key(k, IamKeyView::Listed)).collect();
    let url = format!("{}/v1/Keys", state.base_url);
    let filters = [("AccountSid", account.sid.clone())];
    Ok(Json(V1Page::new("keys", &req, &window, &url, &filters, items)).into_response())
}

/// POST /v1/Keys: `AccountSid`, `FriendlyName`, `KeyType` (`restricted`, or absent for a
/// standard key) and `Policy` (required for a restricted key); 201 with the secret.
async fn iam_create(State(state): State<SharedState>, Caller(p): Caller, uri: Uri, body: Body) -> ApiResult<Response> {
    let pairs = form::read_form(body).await?;
    let account = iam_account(&state, &p, &pairs, uri.path()).await?;
    let params = Params(&pairs);
    let name = params.friendly_name()?.unwrap_or_default();
    let key_type = match params.raw("KeyType").map(str::trim) {
        None | Some("") | Some("standard") => KeyType::Standard,
        Some("restricted") => KeyType::Restricted,
        Some(other) => {
            return Err(TwilioError::invalid_parameter(format!(
                "KeyType must be 'restricted' (or absent for a standard key), got '{other}'"
            ))
            .into())
        }
    };
    let policy = match (key_type, params.raw("Policy").filter(|s| !s.trim().is_empty())) {
        (KeyType::Restricted, Some(raw)) => Some(parse_policy(raw)?),
        (KeyType::Restricted, None) => {
            return Err(TwilioError::invalid_parameter("Missing required parameter Policy for a restricted key").into())
        }
        (_, Some(_)) => {
            return Err(TwilioError::invalid_parameter("Policy applies only to KeyType=restricted").into());
        }
        (_, None) => None,
    };
    let (key, secret) = create_key(&state, &account.sid, &name, key_type, policy).await?;
    Ok((StatusCode::CREATED, Json(render::iam_key(&key, IamKeyView::Created(&secret)))).into_response())
}

/// The key named by `/v1/Keys/{Sid}`, if the caller may manage its account; any other key
/// answers like one that does not exist.
async fn iam_one(state: &AppState, p: &Principal, sid: &str, uri: &Uri) -> ApiResult<Arc<ApiKey>> {
    let sid = path_sid(sid, &["SK"], uri)?;
    let key = state.tokens.key(sid).await?.ok_or_else(|| TwilioError::not_found(uri.path()))?;
    p.reach(state, &key.account_sid, uri.path(), true)
        .await
        .map_err(|_| ApiError(TwilioError::not_found(uri.path())))?;
    Ok(key)
}

/// GET /v1/Keys/{Sid}.
async fn iam_fetch(
    State(state): State<SharedState>,
    Caller(p): Caller,
    Path(sid): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let key = iam_one(&state, &p, &sid, &uri).await?;
    Ok(Json(render::iam_key(&key, IamKeyView::One)).into_response())
}

/// POST /v1/Keys/{Sid}: `FriendlyName`, and `Policy` of a restricted key.
async fn iam_update(
    State(state): State<SharedState>,
    Caller(p): Caller,
    Path(sid): Path<String>,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    let key = iam_one(&state, &p, &sid, &uri).await?;
    let pairs = form::read_form(body).await?;
    let params = Params(&pairs);
    let name = params.friendly_name()?;
    let policy = match params.raw("Policy").filter(|s| !s.trim().is_empty()) {
        Some(raw) if key.key_type == KeyType::Restricted => Some(parse_policy(raw)?),
        Some(_) => return Err(TwilioError::invalid_parameter("Policy applies only to restricted keys").into()),
        None => None,
    };
    let updated = state
        .store
        .update_key(&key.account_sid, &key.sid, name, policy, now_ms())
        .await?
        .ok_or_else(|| TwilioError::not_found(uri.path()))?;
    state.tokens.forget_key(&key.sid);
    Ok(Json(render::iam_key(&updated, IamKeyView::One)).into_response())
}

/// DELETE /v1/Keys/{Sid}: 204.
async fn iam_delete(
    State(state): State<SharedState>,
    Caller(p): Caller,
    Path(sid): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let key = iam_one(&state, &p, &sid, &uri).await?;
    revoke(&state, &key).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

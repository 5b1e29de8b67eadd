//! Auth-token rotation (accounts v1): `POST /v1/AuthTokens/Secondary` (201, a new secondary
//! token; both tokens authenticate from then on), `DELETE /v1/AuthTokens/Secondary` (204) and
//! `POST /v1/AuthTokens/Promote` (the secondary becomes the primary; the old primary stops
//! working at once). The account is the caller's; webhooks stay signed with the primary.

use super::auth::Caller;
use super::error::ApiResult;
use super::form;
use super::render;
use super::SharedState;
use crate::clock::now_ms;
use crate::store::AccountEdit;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use switchboard_domain::{sid, TwilioError};

/// The routes of this resource.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/AuthTokens/Secondary", post(create_secondary).delete(delete_secondary))
        .route("/v1/AuthTokens/Promote", post(promote))
}

/// POST /v1/AuthTokens/Secondary: a new secondary token (replacing any earlier one); 201.
/// `SuppressEmailNotification` (sent by newer SDKs) is accepted and has nothing to suppress.
async fn create_secondary(
    State(state): State<SharedState>,
    Caller(p): Caller,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    form::read_form(body).await?;
    let edit = AccountEdit { secondary_token: Some(Some(sid::random_hex32())), ..Default::default() };
    let updated = state
        .store
        .update_account(&p.account.sid, edit, now_ms())
        .await?
        .ok_or_else(|| TwilioError::not_found(uri.path()))?;
    state.tokens.forget_account(&p.account.sid);
    Ok((StatusCode::CREATED, Json(render::secondary_auth_token(&updated, &state.base_url))).into_response())
}

/// DELETE /v1/AuthTokens/Secondary: 204; 20404 when there is none.
async fn delete_secondary(State(state): State<SharedState>, Caller(p): Caller, uri: Uri) -> ApiResult<Response> {
    if p.account.secondary_token.is_none() {
        return Err(TwilioError::not_found(uri.path()).into());
    }
    let edit = AccountEdit { secondary_token: Some(None), ..Default::default() };
    state.store.update_account(&p.account.sid, edit, now_ms()).await?;
    state.tokens.forget_account(&p.account.sid);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// POST /v1/AuthTokens/Promote: the secondary token becomes the primary one; 20404 when there
/// is no secondary.
async fn promote(State(state): State<SharedState>, Caller(p): Caller, uri: Uri, body: Body) -> ApiResult<Response> {
    form::read_form(body).await?;
    if p.account.secondary_token.is_none() {
        return Err(TwilioError::not_found(uri.path()).into());
    }
    let edit = AccountEdit { promote: true, ..Default::default() };
    let updated = state
        .store
        .update_account(&p.account.sid, edit, now_ms())
        .await?
        .ok_or_else(|| TwilioError::not_found(uri.path()))?;
    state.tokens.forget_account(&p.account.sid);
    Ok(Json(render::auth_token_promotion(&updated, &state.base_url)).into_response())
}

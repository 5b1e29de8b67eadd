//! HTTP Basic authentication with `AccountSid:AuthToken`, and the account scoping rule: a
//! request may only touch the account it authenticated as, and asking for any other account
//! answers exactly like asking for one that does not exist.

use super::error::{ApiError, ApiResult};
use super::{AppState, SharedState};
use crate::store::Account;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use base64::Engine;
use subtle::ConstantTimeEq;
use switchboard_domain::{sid, TwilioError};

/// Splits an `Authorization: Basic …` header into user and password.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// The account a request authenticated as (HTTP Basic), already checked against the
/// `{account}` of its path when the path names one (v2010, `/_switchboard/`); on paths that name
/// none (messaging v1, Content) it is the Basic user's account. Every API handler takes it as
/// its first extractor, so no route can forget to authenticate.
pub struct Authenticated(pub Account);

impl FromRequestParts<SharedState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let (user, pass) = basic_credentials(&parts.headers).ok_or_else(TwilioError::authenticate)?;
        let account = authenticate(state, &user, &pass).await?;
        // A path whose parameters cannot be decoded names no resource of this account.
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError(TwilioError::not_found(parts.uri.path())))?;
        let path_account = params.iter().find(|(k, _)| *k == "account").map(|(_, v)| v);
        // Another account's resources answer exactly like resources that do not exist.
        if path_account.is_some_and(|sid| sid != account.sid) {
            return Err(TwilioError::not_found(parts.uri.path()).into());
        }
        Ok(Authenticated(account))
    }
}

async fn authenticate(state: &AppState, user: &str, pass: &str) -> ApiResult<Account> {
    let known = state.tokens.token(user).await?;
    let token = match known {
        Some(t) => t,
        None if state.accept_any_credentials && sid::is_valid(user, "AC") && !pass.is_empty() => {
            let stored = state
                .store
                .insert_account_if_absent(Account { sid: user.to_string(), auth_token: pass.to_string() })
                .await?;
            state.tokens.remember(&stored);
            tracing::info!(account = %user, "account created on first use (--accept-any-credentials)");
            stored.auth_token
        }
        None => {
            // Spend comparable time on unknown accounts, so timing does not reveal which exist.
            let _ = pass.as_bytes().ct_eq(user.as_bytes());
            return Err(TwilioError::authenticate().into());
        }
    };
    if bool::from(token.as_bytes().ct_eq(pass.as_bytes())) {
        Ok(Account { sid: user.to_string(), auth_token: token })
    } else {
        Err(TwilioError::authenticate().into())
    }
}

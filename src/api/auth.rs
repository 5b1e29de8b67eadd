//! HTTP Basic authentication with `AccountSid:AuthToken`, and the account scoping rule: a
//! request may only touch the account it authenticated as, and asking for any other account
//! answers exactly like asking for one that does not exist.

use super::error::ApiResult;
use super::AppState;
use crate::store::Account;
use axum::http::{header, HeaderMap};
use base64::Engine;
use std::collections::HashMap;
use std::sync::RwLock;
use subtle::ConstantTimeEq;
use switchboard_domain::{sid, TwilioError};

/// Accounts by SID, cached in memory: every request authenticates, accounts rarely change.
#[derive(Debug, Default)]
pub struct AccountCache {
    tokens: RwLock<HashMap<String, String>>,
}

impl AccountCache {
    /// Remembers (or updates) an account.
    pub fn put(&self, account: &Account) {
        if let Ok(mut map) = self.tokens.write() {
            map.insert(account.sid.clone(), account.auth_token.clone());
        }
    }

    fn token(&self, sid: &str) -> Option<String> {
        self.tokens.read().ok().and_then(|m| m.get(sid).cloned())
    }
}

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

/// Authenticates the request and checks it may act on `path_account`; `path` is echoed in the
/// 404 for a foreign account.
pub async fn require(state: &AppState, headers: &HeaderMap, path_account: &str, path: &str) -> ApiResult<Account> {
    let (user, pass) = basic_credentials(headers).ok_or_else(TwilioError::authenticate)?;
    let account = authenticate(state, &user, &pass).await?;
    if account.sid != path_account {
        return Err(TwilioError::not_found(path).into());
    }
    Ok(account)
}

/// Authenticates a request on a path that names no account (messaging v1): the account is the
/// HTTP Basic user, checked exactly as [`require`] checks a v2010 path's account.
pub async fn require_any(state: &AppState, headers: &HeaderMap) -> ApiResult<Account> {
    let (user, pass) = basic_credentials(headers).ok_or_else(TwilioError::authenticate)?;
    authenticate(state, &user, &pass).await
}

async fn authenticate(state: &AppState, user: &str, pass: &str) -> ApiResult<Account> {
    let known = match state.accounts.token(user) {
        Some(t) => Some(t),
        None => state.store.account(user).await?.map(|a| {
            state.accounts.put(&a);
            a.auth_token
        }),
    };
    let token = match known {
        Some(t) => t,
        None if state.accept_any_credentials && sid::is_valid(user, "AC") && !pass.is_empty() => {
            let stored = state
                .store
                .insert_account_if_absent(Account { sid: user.to_string(), auth_token: pass.to_string() })
                .await?;
            state.accounts.put(&stored);
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

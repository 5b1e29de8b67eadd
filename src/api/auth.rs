//! Authentication and authorization of every API request: HTTP Basic with `AccountSid:AuthToken`
//! (primary or secondary token) or `SK…:secret` (an API key), then the rules that decide which
//! account the request may act on.
//!
//! - A main account's auth token acts on its own resources and on those of its subaccounts
//!   (the subaccount's SID in the URL); on any other account's path it answers exactly like
//!   a path that does not exist (404 20404).
//! - A subaccount's credentials and every API key reach only their own account: any other
//!   account in the URL is 401 20003, revealing nothing about it.
//! - Standard and restricted keys cannot manage accounts, keys or tokens ([`Caller`]); a
//!   restricted key only does what its policy allows (70051 otherwise).
//! - A closed account's credentials are refused (401 20003); a suspended account (or one whose
//!   parent is suspended) authenticates but creates nothing (403 20403).

use super::error::{ApiError, ApiResult};
use super::{AppState, SharedState};
use crate::store::{Account, AccountRecord, AccountStatus, ApiKey, KeyType};
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use base64::Engine;
use std::sync::Arc;
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

/// The account a request acts on, authenticated (HTTP Basic) and authorized: the `{account}`
/// of its path when the path names one (v2010, `/_switchboard/`), else the credential's
/// account (messaging v1, Content). Every API handler of an account's resources takes it as
/// its first extractor, so no route can forget to authenticate.
pub struct Authenticated(pub Account);

/// How a request authenticated.
#[derive(Debug, Clone)]
pub enum Credential {
    /// The account's primary or secondary auth token.
    AuthToken,
    /// An API key of the account.
    Key(Arc<ApiKey>),
}

/// Who is calling: the credential's account and how it authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The account the credentials belong to.
    pub account: Arc<AccountRecord>,
    /// Token or key.
    pub credential: Credential,
}

impl Principal {
    /// True for an auth token or a main key: the credentials that manage accounts, keys and
    /// tokens.
    pub fn is_full(&self) -> bool {
        match &self.credential {
            Credential::AuthToken => true,
            Credential::Key(k) => k.key_type == KeyType::Main,
        }
    }

    /// The account named `sid` when this caller may manage it (itself, or a subaccount it
    /// owns); otherwise the error to answer (401 20003 for subaccounts and keys, 404 20404
    /// naming `path` for a main account's token). `all_credentials` also lets a parent's main
    /// key reach its subaccounts (accounts and keys management, as Twilio allows).
    pub async fn reach(
        &self,
        state: &AppState,
        sid: &str,
        path: &str,
        all_credentials: bool,
    ) -> ApiResult<Arc<AccountRecord>> {
        if sid == self.account.sid {
            return Ok(self.account.clone());
        }
        let key = matches!(self.credential, Credential::Key(_));
        if self.account.is_subaccount() || (key && !all_credentials) {
            return Err(TwilioError::authenticate().into());
        }
        match state.tokens.record(sid).await? {
            Some(r) if r.owner_account_sid == self.account.sid => Ok(r),
            _ if key => Err(TwilioError::authenticate().into()),
            _ => Err(TwilioError::not_found(path).into()),
        }
    }
}

/// The authenticated caller of an account-management route (Accounts, Keys, auth tokens):
/// auth tokens and main keys only; standard and restricted keys get 401 20003, as Twilio
/// answers them.
pub struct Caller(pub Principal);

impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let principal = basic_principal(parts, state).await?;
        if !principal.is_full() {
            return Err(TwilioError::authenticate().into());
        }
        Ok(Caller(principal))
    }
}

impl FromRequestParts<SharedState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let principal = basic_principal(parts, state).await?;
        // A path whose parameters cannot be decoded names no resource of this account.
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError(TwilioError::not_found(parts.uri.path())))?;
        let path_account = params.iter().find(|(k, _)| *k == "account").map(|(_, v)| v.to_string());
        authorize(parts, state, &principal, path_account.as_deref()).await
    }
}

/// The caller of a request by its HTTP Basic credentials, under the address lockout and the
/// account's rate and concurrency limits (the one path every credential check takes).
pub async fn basic_principal(parts: &Parts, state: &SharedState) -> ApiResult<Principal> {
    let (user, pass) = basic_credentials(&parts.headers).ok_or_else(TwilioError::authenticate)?;
    let principal = super::limits::authenticate(parts, state, authenticate(state, &user, &pass)).await?;
    super::limits::admit(parts, state, &principal.account.sid)?;
    Ok(principal)
}

/// True when the request carries an `Authorization` header (of any scheme).
pub fn has_authorization(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION)
}

/// Authorizes `principal` on `account` (its own when `None`): the reach rule of [`Principal::reach`],
/// a restricted key's policy, and no creation by an inactive account.
pub async fn authorize(
    parts: &Parts,
    state: &SharedState,
    principal: &Principal,
    account: Option<&str>,
) -> ApiResult<Authenticated> {
    let target = match account {
        None => principal.account.clone(),
        Some(sid) => principal.reach(state, sid, parts.uri.path(), false).await?,
    };
    let route = parts.extensions.get::<MatchedPath>().map_or("", |p| p.as_str());
    if let Credential::Key(key) = &principal.credential {
        if key.key_type == KeyType::Restricted && !policy_allows(key, &parts.method, route) {
            return Err(TwilioError::new(
                70051,
                403,
                "Authorization Failed: the API key's policy does not allow this request",
            )
            .into());
        }
    }
    if is_create(&parts.method, route) && !may_create(state, &target).await? {
        return Err(TwilioError::new(
            20403,
            403,
            format!("The account {} is not active: it lacks permission to access the Twilio API", target.sid),
        )
        .into());
    }
    Ok(Authenticated(target.account()))
}

/// A POST to a collection (the route's last segment names no SID): it creates something.
fn is_create(method: &Method, route: &str) -> bool {
    method == Method::POST && !route.rsplit('/').next().unwrap_or("").contains('{')
}

/// Whether `account` may create: it and its parent are active.
async fn may_create(state: &AppState, account: &AccountRecord) -> ApiResult<bool> {
    if account.status != AccountStatus::Active {
        return Ok(false);
    }
    if account.is_subaccount() {
        let parent = state.tokens.record(&account.owner_account_sid).await?;
        return Ok(parent.is_some_and(|p| p.status == AccountStatus::Active));
    }
    Ok(true)
}

/// The permission a request needs, in Twilio's policy vocabulary
/// (`/twilio/messaging/messages/read`); `None` for resources no policy can grant.
pub fn permission(method: &Method, route: &str) -> Option<String> {
    let family = if route.starts_with("/2010-04-01/Accounts/{account}/Messages") {
        "/twilio/messaging/messages"
    } else if route.starts_with("/v1/Services") {
        "/twilio/messaging/services"
    } else {
        return None;
    };
    let action = match *method {
        Method::GET | Method::HEAD => "read",
        Method::POST if is_create(method, route) => "create",
        Method::POST => "update",
        Method::DELETE => "delete",
        _ => return None,
    };
    Some(format!("{family}/{action}"))
}

/// True when a restricted key's policy (`{"allow": [permission, …]}`) grants the request.
fn policy_allows(key: &ApiKey, method: &Method, route: &str) -> bool {
    let Some(needed) = permission(method, route) else { return false };
    let Some(policy) = key.policy.as_deref().and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok()) else {
        return false;
    };
    policy["allow"].as_array().is_some_and(|allowed| allowed.iter().any(|p| p.as_str() == Some(needed.as_str())))
}

/// Checks Basic credentials: `AC…` with the primary or secondary token, or `SK…` with its
/// secret. Every failure is the same 401 20003.
pub async fn authenticate(state: &AppState, user: &str, pass: &str) -> ApiResult<Principal> {
    // Several nodes: a key deleted or an account changed on another node counts at once.
    state.tokens.refresh().await?;
    if user.starts_with("SK") {
        let key = match state.tokens.key(user).await? {
            Some(key) if key.verify(pass) => key,
            _ => return Err(TwilioError::authenticate().into()),
        };
        let account = state.tokens.record(&key.account_sid).await?.ok_or_else(TwilioError::authenticate)?;
        if account.status == AccountStatus::Closed {
            return Err(TwilioError::authenticate().into());
        }
        return Ok(Principal { account, credential: Credential::Key(key) });
    }
    let account = match state.tokens.record(user).await? {
        Some(a) => a,
        None if state.accept_any_credentials && sid::is_valid(user, "AC") && !pass.is_empty() => {
            let stored = state
                .store
                .insert_account_if_absent(Account { sid: user.to_string(), auth_token: pass.to_string() })
                .await?;
            state.tokens.remember(&stored);
            tracing::info!(account = %user, "account created on first use (--accept-any-credentials)");
            state.tokens.record(user).await?.ok_or_else(TwilioError::authenticate)?
        }
        None => {
            // Spend comparable time on unknown accounts, so timing does not reveal which exist.
            let _ = pass.as_bytes().ct_eq(user.as_bytes());
            return Err(TwilioError::authenticate().into());
        }
    };
    let primary = bool::from(account.auth_token.as_bytes().ct_eq(pass.as_bytes()));
    let secondary = account.secondary_token.as_ref().is_some_and(|t| bool::from(t.as_bytes().ct_eq(pass.as_bytes())));
    if (primary || secondary) && account.status != AccountStatus::Closed {
        Ok(Principal { account, credential: Credential::AuthToken })
    } else {
        Err(TwilioError::authenticate().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_follow_the_route_and_method() {
        let msgs = "/2010-04-01/Accounts/{account}/Messages.json";
        let one = "/2010-04-01/Accounts/{account}/Messages/{file}";
        assert_eq!(permission(&Method::POST, msgs).as_deref(), Some("/twilio/messaging/messages/create"));
        assert_eq!(permission(&Method::GET, msgs).as_deref(), Some("/twilio/messaging/messages/read"));
        assert_eq!(permission(&Method::POST, one).as_deref(), Some("/twilio/messaging/messages/update"));
        assert_eq!(permission(&Method::DELETE, one).as_deref(), Some("/twilio/messaging/messages/delete"));
        assert_eq!(
            permission(&Method::GET, "/v1/Services/{service}").as_deref(),
            Some("/twilio/messaging/services/read")
        );
        assert_eq!(permission(&Method::GET, "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json"), None);
    }

    #[test]
    fn a_restricted_policy_allows_only_what_it_lists() {
        let (mut key, _) = ApiKey::generate("AC1", "r", KeyType::Restricted, None, 0);
        let msgs = "/2010-04-01/Accounts/{account}/Messages.json";
        assert!(!policy_allows(&key, &Method::GET, msgs), "no policy, no access");
        key.policy = Some(r#"{"allow":["/twilio/messaging/messages/read"]}"#.into());
        assert!(policy_allows(&key, &Method::GET, msgs));
        assert!(!policy_allows(&key, &Method::POST, msgs));
        key.policy = Some("not json".into());
        assert!(!policy_allows(&key, &Method::GET, msgs));
    }
}

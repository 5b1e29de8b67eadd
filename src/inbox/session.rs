//! Inbox sessions: the sign-in form (`/signin`, `/signout`), the session cookie it sets, the
//! account switcher of a parent account (`/account`), and [`Viewer`], the extractor of every
//! inbox page, which accepts the session cookie or HTTP Basic.
//!
//! Sessions live in memory only: a random 256-bit id per sign-in, ended by sign-out, by 12 hours
//! without use, by a rotated token or a deleted key, and by a restart of the server. The cookie
//! is never read outside the inbox's own routes, so it never authenticates the REST API.

use crate::api::auth::{
    authenticate, authorize, basic_principal, has_authorization, Authenticated, Credential, Principal,
};
use crate::api::error::{ApiError, ApiResult};
use crate::api::SharedState;
use crate::store::{AccountStatus, KeyType};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, DOCTYPE};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use switchboard_domain::TwilioError;

/// The session cookie's name.
pub const COOKIE: &str = "sb_session";
/// The cookie naming which account (own or a subaccount) the inbox shows; checked every request.
pub const ACCOUNT_COOKIE: &str = "sb_inbox_account";
/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; beyond, the least recently used is dropped.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser: who signed in, a digest of the secret it used, when it was last seen.
struct Session {
    user: String,
    secret_digest: [u8; 32],
    last_seen: Instant,
}

/// The in-memory session table (lost on restart, by design: sign in again).
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl Sessions {
    /// Starts a session for `user` (an account or key SID) who proved `secret`; answers its id.
    fn start(&self, user: &str, secret: &str) -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let id = hex::encode(bytes);
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, s| now.duration_since(s.last_seen) < IDLE);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| k.clone()) {
                map.remove(&oldest);
            }
        }
        map.insert(id.clone(), Session { user: user.to_string(), secret_digest: digest(secret), last_seen: now });
        id
    }

    /// The user and secret digest of a live session, touching it.
    fn touch(&self, id: &str) -> Option<(String, [u8; 32])> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let live = map.get(id).is_some_and(|s| now.duration_since(s.last_seen) < IDLE);
        if !live {
            map.remove(id);
            return None;
        }
        let s = map.get_mut(id)?;
        s.last_seen = now;
        Some((s.user.clone(), s.secret_digest))
    }

    /// Ends a session.
    fn end(&self, id: &str) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The principal of a session cookie, re-checked against the store on every use: the account is
/// not closed, and the token it signed in with is still one of its tokens (or the key still exists).
async fn session_principal(state: &SharedState, headers: &HeaderMap) -> ApiResult<Option<Principal>> {
    let Some(id) = cookie(headers, COOKIE) else { return Ok(None) };
    let Some((user, secret)) = state.sessions.touch(id) else { return Ok(None) };
    let principal = if user.starts_with("SK") {
        let Some(key) = state.tokens.key(&user).await? else { return Ok(None) };
        let Some(account) = state.tokens.record(&key.account_sid).await? else { return Ok(None) };
        Principal { account, credential: Credential::Key(key) }
    } else {
        let Some(account) = state.tokens.record(&user).await? else { return Ok(None) };
        let primary = bool::from(digest(&account.auth_token).ct_eq(&secret));
        let secondary = account.secondary_token.as_deref().is_some_and(|t| bool::from(digest(t).ct_eq(&secret)));
        if !(primary || secondary) {
            return Ok(None);
        }
        Principal { account, credential: Credential::AuthToken }
    };
    if principal.account.status == AccountStatus::Closed {
        return Ok(None);
    }
    Ok(Some(principal))
}

/// Whether the request is authenticated by the session cookie rather than HTTP Basic.
pub fn cookie_authenticated(headers: &HeaderMap) -> bool {
    !has_authorization(headers) && cookie(headers, COOKIE).is_some()
}

/// The caller of an inbox route and the account it views: HTTP Basic when the request carries
/// `Authorization`, else the session cookie. Dereferences to the [`Authenticated`] account shown.
pub struct Viewer {
    /// The account the page shows (the caller's own, or a subaccount it picked).
    pub auth: Authenticated,
    /// The account the credentials belong to.
    pub own: String,
    /// The accounts the caller may switch between (own first), when more than one.
    pub choices: Vec<String>,
    /// Signed in with the form (shows "Sign out").
    pub by_cookie: bool,
}

impl std::ops::Deref for Viewer {
    type Target = Authenticated;
    fn deref(&self) -> &Authenticated {
        &self.auth
    }
}

/// The caller by Basic or by session; an unauthenticated request gets 401 with a Basic
/// challenge, whose body for a browser is the sign-in form (cancel the prompt, sign in there).
async fn principal(parts: &Parts, state: &SharedState) -> Result<(Principal, bool), Response> {
    if !has_authorization(&parts.headers) {
        match session_principal(state, &parts.headers).await {
            Ok(Some(p)) => {
                crate::api::limits::admit(parts, state, &p.account.sid).map_err(IntoResponse::into_response)?;
                return Ok((p, true));
            }
            Ok(None) => {}
            Err(e) => return Err(e.into_response()),
        }
        let html =
            parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
        if html {
            let mut resp = signin_page(StatusCode::UNAUTHORIZED, None);
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"Twilio API\""));
            return Err(resp);
        }
    }
    basic_principal(parts, state).await.map(|p| (p, false)).map_err(IntoResponse::into_response)
}

/// The accounts `p` may view in the inbox: its own, and a full main account's subaccounts.
async fn choices(state: &SharedState, p: &Principal) -> ApiResult<Vec<String>> {
    let mut out = vec![p.account.sid.clone()];
    let main_key = matches!(&p.credential, Credential::Key(k) if k.key_type == KeyType::Main);
    if !p.account.is_subaccount() && (matches!(p.credential, Credential::AuthToken) || main_key) {
        for a in state.store.account_family(&p.account.sid).await? {
            if a.sid != p.account.sid {
                out.push(a.sid);
            }
        }
    }
    Ok(out)
}

impl FromRequestParts<SharedState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Response> {
        let (p, by_cookie) = principal(parts, state).await?;
        // The picked account goes through the API's own reach rule; one this caller may not
        // reach (a stale or forged cookie) shows the caller's own account instead.
        let picked = cookie(&parts.headers, ACCOUNT_COOKIE).filter(|s| *s != p.account.sid).map(str::to_string);
        let target = match picked {
            Some(sid) if p.reach(state, &sid, parts.uri.path(), false).await.is_ok() => Some(sid),
            _ => None,
        };
        let auth = authorize(parts, state, &p, target.as_deref()).await.map_err(IntoResponse::into_response)?;
        let choices = if p.account.is_subaccount() {
            Vec::new()
        } else {
            choices(state, &p).await.map_err(IntoResponse::into_response)?
        };
        Ok(Viewer { auth, own: p.account.sid.clone(), choices, by_cookie })
    }
}

/// The sign-in page: labelled fields for an account SID and auth token (or key SID and secret).
fn signin_page(status: StatusCode, error: Option<&str>) -> Response {
    let assets = super::assets_path();
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { "Sign in · Switchboard" }
                link rel="stylesheet" href={ (assets) "/app.css" };
            }
            body {
                header.top { span.brand { "Switchboard" } }
                main #main {
                    h1 { "Sign in" }
                    @if let Some(e) = error { p.error role="alert" data-testid="signin-error" { (e) } }
                    form method="post" action="/signin" {
                        label for="user" { "Account SID or API key SID" }
                        input #user name="user" type="text" autocomplete="username" required spellcheck="false";
                        label for="secret" { "Auth token or API key secret" }
                        input #secret name="secret" type="password" autocomplete="current-password" required;
                        button type="submit" { "Sign in" }
                    }
                }
            }
        }
    };
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response()
}

/// GET /signin: the form.
pub async fn signin_form() -> Response {
    signin_page(StatusCode::OK, None)
}

/// Whether the request came over HTTPS (the server's TLS, or a proxy's `X-Forwarded-Proto`).
fn secure(state: &SharedState, headers: &HeaderMap) -> bool {
    state.base_url.starts_with("https://")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value with the attributes every inbox cookie has.
fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("sb_session=; Max-Age=0"))
}

fn see_other(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

/// POST /signin: checks the credentials exactly as HTTP Basic does (same function, same address
/// lockout), then sets the session cookie and goes to the inbox.
pub async fn signin(State(state): State<SharedState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024).await else {
        return signin_page(StatusCode::BAD_REQUEST, Some("The form could not be read."));
    };
    let pairs = crate::api::form::decode(&bytes);
    let field = |k: &str| crate::api::form::last(&pairs, k).unwrap_or("").trim().to_string();
    let (user, secret) = (field("user"), field("secret"));
    let outcome = crate::api::limits::authenticate(&parts, &state, authenticate(&state, &user, &secret)).await;
    match outcome {
        Ok(p) => {
            let id = state.sessions.start(&user, &secret);
            tracing::info!(account = %p.account.sid, "inbox sign-in");
            let secure = secure(&state, &parts.headers);
            let mut resp = see_other("/");
            resp.headers_mut().append(header::SET_COOKIE, set_cookie(COOKIE, &id, IDLE.as_secs(), secure));
            resp.headers_mut().append(header::SET_COOKIE, set_cookie(ACCOUNT_COOKIE, "", 0, secure));
            resp
        }
        Err(ApiError(e)) if e.status == 429 => signin_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed sign-ins from this address; try again later."),
        ),
        Err(_) => signin_page(StatusCode::UNAUTHORIZED, Some("Those credentials are not valid.")),
    }
}

/// POST /signout: ends the session and clears the cookies.
pub async fn signout(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, COOKIE) {
        state.sessions.end(id);
    }
    let secure = secure(&state, &headers);
    let mut resp = see_other("/signin");
    resp.headers_mut().append(header::SET_COOKIE, set_cookie(COOKIE, "", 0, secure));
    resp.headers_mut().append(header::SET_COOKIE, set_cookie(ACCOUNT_COOKIE, "", 0, secure));
    resp
}

/// POST /account: switches the inbox to `account` (the caller's own or one of its
/// subaccounts, by the API's reach rule); any other account is 404.
pub async fn switch(State(state): State<SharedState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let (p, _) = match principal(&parts, &state).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024).await else {
        return ApiError(TwilioError::invalid_parameter("The form could not be read.")).into_response();
    };
    let pairs = crate::api::form::decode(&bytes);
    let sid = crate::api::form::last(&pairs, "account").unwrap_or("").to_string();
    if p.reach(&state, &sid, parts.uri.path(), false).await.is_err() {
        return ApiError(TwilioError::not_found(parts.uri.path())).into_response();
    }
    let mut resp = see_other("/");
    resp.headers_mut()
        .append(header::SET_COOKIE, set_cookie(ACCOUNT_COOKIE, &sid, IDLE.as_secs(), secure(&state, &parts.headers)));
    resp
}

/// Non-GET requests authenticated by the cookie must prove they come from our pages: the
/// browser's `Sec-Fetch-Site: same-origin`, or an `Origin` or `Referer` of this host.
pub fn proven_same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return site == "same-origin";
    }
    let Some(host) = text("host") else { return false };
    let host_of = |url: &str| url.split_once("://").map(|(_, rest)| rest.split('/').next().unwrap_or("").to_string());
    match (text("origin"), text("referer")) {
        (Some(o), _) => host_of(o).as_deref() == Some(host),
        (None, Some(r)) => host_of(r).as_deref() == Some(host),
        (None, None) => false,
    }
}

/// The shared session table (one per server).
pub fn new_sessions() -> Arc<Sessions> {
    Arc::new(Sessions::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_until_it_ends() {
        let s = Sessions::default();
        let id = s.start("AC1", "tok");
        assert_eq!(id.len(), 64, "256 random bits, hex");
        assert_eq!(s.touch(&id).map(|(u, d)| (u, d == digest("tok"))), Some(("AC1".into(), true)));
        assert!(s.touch("nope").is_none());
        s.end(&id);
        assert!(s.touch(&id).is_none());
    }

    #[test]
    fn cookie_posts_need_positive_proof_of_origin() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        assert!(proven_same_origin(&h(&[("sec-fetch-site", "same-origin")])));
        assert!(!proven_same_origin(&h(&[("sec-fetch-site", "none")])));
        assert!(!proven_same_origin(&h(&[("host", "a:1")])));
        assert!(proven_same_origin(&h(&[("host", "a:1"), ("origin", "http://a:1")])));
        assert!(proven_same_origin(&h(&[("host", "a:1"), ("referer", "http://a:1/compose")])));
        assert!(!proven_same_origin(&h(&[("host", "a:1"), ("referer", "http://evil/a:1")])));
        assert!(!proven_same_origin(&h(&[("host", "a:1"), ("origin", "http://evil")])));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; sb_session=xyz; b=2"));
        assert_eq!(cookie(&h, COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
    }
}

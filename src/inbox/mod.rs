//! The web inbox at `/`: server-rendered pages (maud, compiled in) over the same store and
//! credentials as the API, plus one small ES module that keeps them live from the event stream.
//!
//! Every page, form and the inbox's event stream (`/events`) is authenticated by [`session::Viewer`]:
//! HTTP Basic exactly as the API checks it, or the session cookie of the sign-in form (which
//! authenticates nothing outside these routes). A parent account may switch to its subaccounts. Pages send a strict
//! Content-Security-Policy (no inline script or style); maud escapes every value it renders.
//! Assets are embedded and served under a path versioned by their content, cacheable forever.

pub mod search;
pub mod session;
mod views;

use crate::api::SharedState;
use axum::extract::{Path, Request};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use session::Viewer;
use std::sync::OnceLock;

const APP_JS: &[u8] = include_bytes!("assets/app.js");
const APP_CSS: &[u8] = include_bytes!("assets/app.css");

/// The policy of every inbox page: scripts and styles only from our own versioned files.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// FNV-1a, at compile time: the assets' version changes whenever their bytes do.
const fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x100_0000_01b3);
        i += 1;
    }
    hash
}

const ASSETS_HASH: u64 = fnv1a(fnv1a(0xcbf2_9ce4_8422_2325, APP_JS), APP_CSS);

/// The versioned folder of the embedded assets, e.g. `/static/3f2a…/`.
pub fn assets_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| format!("/static/{ASSETS_HASH:016x}"))
}

/// The inbox's routes (merged into the API router, which adds the Twilio-shaped fallbacks).
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/", get(views::conversations))
        .route("/thread", get(views::thread))
        .route("/messages", get(views::messages))
        .route("/messages/{sid}", get(views::detail))
        .route("/messages/{sid}/media/{media}", get(views::media))
        .route("/compose", get(views::compose).post(views::compose_send))
        .route("/simulator", get(views::simulator))
        .route("/simulator/rules", post(views::add_rule))
        .route("/simulator/rules/{n}/delete", post(views::remove_rule))
        .route("/events", get(views::events))
        .route("/signin", get(session::signin_form).post(session::signin))
        .route("/signout", post(session::signout))
        .route("/account", post(session::switch))
        .route("/static/{version}/{file}", get(asset))
        .layer(axum::middleware::from_fn(guard))
}

/// Security headers on every inbox response, and no cross-site form posts: browsers send the
/// cached Basic credentials with any request, so a POST must come from our own pages. A POST
/// the session cookie authenticates must prove its origin (`Sec-Fetch-Site`, `Origin` or
/// `Referer`), on top of the cookie's `SameSite=Strict`.
async fn guard(req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let h = req.headers();
        if !same_origin(h) || (session::cookie_authenticated(h) && !session::proven_same_origin(h)) {
            return (StatusCode::FORBIDDEN, "cross-site form posts are refused").into_response();
        }
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    // A handler may have set a stricter policy (media: `sandbox`).
    h.entry("content-security-policy").or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// `Sec-Fetch-Site`, which browsers send, must say same-origin (or `none`: typed by the user);
/// without it, an `Origin` must name this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    match (text("origin"), text("host")) {
        (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(_, h)| h == host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// GET /static/{version}/{file}: the embedded assets, immutable under their version.
async fn asset(Path((version, file)): Path<(String, String)>) -> Response {
    if format!("/static/{version}") != assets_path() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let (body, content_type) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")], body)
        .into_response()
}

/// Which tab of the navigation a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Conversations,
    Messages,
    Compose,
    Simulator,
}

/// The page shell: navigation, live-connection indicator, content.
fn page(account: &Viewer, tab: Tab, title: &str, content: Markup) -> Response {
    let assets = assets_path();
    let nav = [
        (Tab::Conversations, "/", "Conversations"),
        (Tab::Messages, "/messages", "Messages"),
        (Tab::Compose, "/compose", "Compose"),
        (Tab::Simulator, "/simulator", "Simulator"),
    ];
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · Switchboard" }
                link rel="stylesheet" href={ (assets) "/app.css" };
                script type="module" src={ (assets) "/app.js" } {}
            }
            body data-account=(account.0.sid) {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "Switchboard" }
                    nav aria-label="Inbox" {
                        @for (t, href, label) in nav {
                            a href=(href) aria-current=[(t == tab).then_some("page")] { (label) }
                        }
                    }
                    span.live #live role="status" aria-live="polite" data-testid="live-status" { "offline" }
                    @if account.choices.len() > 1 {
                        form.switch method="post" action="/account" {
                            label for="account-switch" { "Account" }
                            select #account-switch name="account" data-testid="account-switch" {
                                @for sid in &account.choices {
                                    option value=(sid) selected[*sid == account.0.sid] {
                                        (sid) @if *sid == account.own { " (own)" }
                                    }
                                }
                            }
                            button type="submit" { "Switch" }
                        }
                    } @else {
                        span.account title="Signed in as" { (account.0.sid) }
                    }
                    @if account.by_cookie {
                        form.signout method="post" action="/signout" { button type="submit" { "Sign out" } }
                    }
                }
                main #main tabindex="-1" { (content) }
                footer.keys { "Keys: " kbd { "j" } "/" kbd { "k" } " move · " kbd { "Enter" } " open · "
                    kbd { "/" } " search · " kbd { "c" } " compose · " kbd { "Esc" } " back" }
            }
        }
    };
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_posts_must_come_from_our_own_origin() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            h
        };
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")])));
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(!same_origin(&headers(&[("host", "127.0.0.1:8080"), ("origin", "http://evil.example")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin"), ("origin", "null")])));
        assert!(!same_origin(&headers(&[("host", "a:1"), ("origin", "null")])));
    }

    #[test]
    fn the_asset_version_is_a_fixed_width_hash() {
        assert_eq!(assets_path().len(), "/static/".len() + 16);
    }
}

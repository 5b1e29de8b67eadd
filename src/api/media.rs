//! `/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json` (list) and
//! `/Media/{Sid}.json` (fetch, delete), plus `/Media/{Sid}` without `.json`: the stored bytes
//! with their content type, behind the same Basic auth (Twilio redirects to a storage URL; the
//! bytes are served directly here).

use super::auth::Authenticated;
use super::error::{ApiError, ApiResult};
use super::form::{self, Pairs};
use super::messages::MESSAGE_PREFIXES;
use super::paging::{PageRequest, V2010Page};
use super::params::path_sid;
use super::render::{self, MediaJson};
use super::SharedState;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use switchboard_domain::{datefilter, TwilioError};

/// The routes of this resource (depth 6 and 7 under the account; `{file}` is `ME….json` or
/// `ME…`, as axum cannot match a literal suffix after a parameter).
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json", get(list))
        .route("/2010-04-01/Accounts/{account}/Messages/{sid}/Media/{file}", get(fetch).delete(delete))
}

fn not_found(uri: &Uri) -> ApiError {
    ApiError(TwilioError::not_found(uri.path()))
}

/// `ME….json` → (`ME…`, true); `ME…` → (`ME…`, false).
fn media_sid<'a>(file: &'a str, uri: &Uri) -> Result<(&'a str, bool), ApiError> {
    let (s, json) = file.strip_suffix(".json").map_or((file, false), |s| (s, true));
    Ok((path_sid(s, &["ME"], uri)?, json))
}

/// A `[from, until)` range of creation times, ms.
type Range = (Option<i64>, Option<i64>);
/// Filter parameters as given.
type Echo = Vec<(&'static str, String)>;

/// `DateCreated`, `DateCreated<` and `DateCreated>` as a `[from, until)` range, ms, and the
/// parameters as given (echoed in page links).
fn parse_filters(q: &Pairs) -> Result<(Range, Echo), ApiError> {
    let (mut from, mut until): (Option<i64>, Option<i64>) = (None, None);
    let mut echo = Vec::new();
    for (name, canonical) in [
        ("DateCreated", "DateCreated"),
        ("DateCreated<", "DateCreated<"),
        ("DateCreatedBefore", "DateCreated<"),
        ("DateCreated>", "DateCreated>"),
        ("DateCreatedAfter", "DateCreated>"),
    ] {
        let Some(value) = form::last(q, name).filter(|s| !s.is_empty()) else { continue };
        let p = datefilter::parse(value).ok_or_else(TwilioError::invalid_date)?;
        let (f, u) = match canonical {
            "DateCreated" => (Some(p.start.timestamp_millis()), Some(p.end.timestamp_millis())),
            "DateCreated<" => (None, Some(p.end.timestamp_millis())),
            _ => (Some(p.start.timestamp_millis()), None),
        };
        if let Some(f) = f {
            from = Some(from.map_or(f, |x| x.max(f)));
        }
        if let Some(u) = u {
            until = Some(until.map_or(u, |x| x.min(u)));
        }
        echo.push((canonical, value.to_string()));
    }
    Ok(((from, until), echo))
}

/// GET …/Messages/{MessageSid}/Media.json: attachment order, keyset pages.
async fn list(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    Path((_, msid)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let msid = path_sid(&msid, MESSAGE_PREFIXES, &uri)?;
    if state.store.message(&account.sid, msid).await?.is_none() {
        return Err(not_found(&uri));
    }
    let q = form::decode(uri.query().unwrap_or("").as_bytes());
    let (created, echo) = parse_filters(&q)?;
    let req = PageRequest::parse(&q, &["ME"])?;
    let rows = state.store.list_media(&account.sid, msid, created, &req.cursor, req.limit()).await?;
    let window = req.window(rows, |m| m.sid.as_str());
    let items: Vec<MediaJson<'_>> = window.rows.iter().map(render::media).collect();
    Ok(Json(V2010Page::new("media_list", &req, &window, uri.path(), &echo, items)).into_response())
}

/// GET …/Media/{Sid}.json (the resource) or …/Media/{Sid} (its bytes).
async fn fetch(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    Path((_, msid, file)): Path<(String, String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let msid = path_sid(&msid, MESSAGE_PREFIXES, &uri)?;
    let (me, json) = media_sid(&file, &uri)?;
    if json {
        let m = state.store.media(&account.sid, msid, me).await?.ok_or_else(|| not_found(&uri))?;
        return Ok(Json(render::media(&m)).into_response());
    }
    let (m, bytes) = state.store.media_content(&account.sid, msid, me).await?.ok_or_else(|| not_found(&uri))?;
    let content_type =
        HeaderValue::from_str(&m.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok(([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, HeaderValue::from_static("private"))], bytes)
        .into_response())
}

/// DELETE …/Media/{Sid}.json: 204.
async fn delete(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    Path((_, msid, file)): Path<(String, String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let msid = path_sid(&msid, MESSAGE_PREFIXES, &uri)?;
    let (me, json) = media_sid(&file, &uri)?;
    if !json || !state.store.delete_media(&account.sid, msid, me).await? {
        return Err(not_found(&uri));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

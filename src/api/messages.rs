//! `/2010-04-01/Accounts/{AccountSid}/Messages.json` and `/Messages/{Sid}.json`.

use super::auth;
use super::error::{ApiError, ApiResult};
use super::form::{self, Pairs};
use super::render::{self, MessagePage};
use super::{now_ms, SharedState};
use crate::store::{Conditional, Cursor, MessageFilter};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use switchboard_domain::address;
use switchboard_domain::datefilter;
use switchboard_domain::message::{validate_create, CreateParams, Message};
use switchboard_domain::status::Direction;
use switchboard_domain::{sid, TwilioError};

/// Default and largest `PageSize`.
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;

/// POST …/Messages.json: validate, persist durably, answer 201, hand to delivery.
pub async fn create(
    State(state): State<SharedState>,
    Path(account): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let account = auth::require(&state, &headers, &account, uri.path()).await?;
    let pairs = form::read_form(body).await?;
    let now = now_ms();
    let valid = validate_create(&CreateParams::from_pairs(pairs), now, state.min_schedule_lead_secs)?;
    if let Some(mss) = &valid.messaging_service_sid {
        // Messaging Services are not served yet, so no MG SID can belong to this account.
        return Err(TwilioError::bad_request(21701, format!("The Messaging Service {mss} does not exist")).into());
    }
    if let Some(from) = &valid.from {
        state.dispatcher.check_capacity(&from.text, valid.num_segments)?;
    }
    let key = state.keys.next(now);
    let message = Message {
        sid: format!("{}{key}", valid.sid_prefix()),
        account_sid: account.sid,
        messaging_service_sid: valid.messaging_service_sid.clone(),
        from: valid.from.as_ref().map(|a| a.text.clone()),
        to: valid.to.text.clone(),
        status: valid.initial_status(),
        direction: Direction::OutboundApi,
        num_segments: valid.num_segments,
        num_media: valid.options.media_urls.len() as u32,
        price: None,
        price_unit: "USD".to_string(),
        error_code: None,
        error_message: None,
        date_created: now,
        date_updated: now,
        date_sent: None,
        carrier_id: None,
        body: valid.body,
        options: valid.options,
    };
    state.store.insert_message(message.clone()).await?;
    crate::metrics::status_changed(message.status);
    let response = (StatusCode::CREATED, Json(render::message(&message, false))).into_response();
    state.dispatcher.submit(message);
    Ok(response)
}

/// GET …/Messages/{Sid}.json
pub async fn fetch(
    State(state): State<SharedState>,
    Path((account, file)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let account = auth::require(&state, &headers, &account, uri.path()).await?;
    let sid = message_sid(&file, &uri)?;
    let m = state.store.message(&account.sid, sid).await?.ok_or_else(|| TwilioError::not_found(uri.path()))?;
    Ok(Json(render::message(&m, true)).into_response())
}

/// POST …/Messages/{Sid}.json: `Body=""` redacts a final message; `Status=canceled` cancels a
/// scheduled one.
pub async fn update(
    State(state): State<SharedState>,
    Path((account, file)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let account = auth::require(&state, &headers, &account, uri.path()).await?;
    let sid = message_sid(&file, &uri)?;
    let pairs = form::read_form(body).await?;
    let not_found = || ApiError(TwilioError::not_found(uri.path()));
    let outcome = match (form::last(&pairs, "Status"), form::last(&pairs, "Body")) {
        (Some("canceled"), _) => match state.store.cancel_message(&account.sid, sid, now_ms()).await? {
            Conditional::WrongStatus(_) => return Err(TwilioError::cannot_cancel().into()),
            other => other,
        },
        (Some(other), _) => {
            return Err(TwilioError::invalid_parameter(format!(
                "Status can only be updated to 'canceled', got '{other}'"
            ))
            .into())
        }
        (None, Some("")) => match state.store.redact_message(&account.sid, sid, now_ms()).await? {
            Conditional::WrongStatus(st) => return Err(TwilioError::not_complete("redact", st.as_str()).into()),
            other => other,
        },
        (None, Some(_)) => {
            return Err(TwilioError::invalid_parameter(
                "Body can only be updated to the empty string, which redacts the message",
            )
            .into())
        }
        (None, None) => {
            // Nothing to change: answer with the resource, after checking it exists.
            let m = state.store.message(&account.sid, sid).await?.ok_or_else(not_found)?;
            return Ok(Json(render::message(&m, true)).into_response());
        }
    };
    match outcome {
        Conditional::Done(m) => Ok(Json(render::message(&m, true)).into_response()),
        Conditional::NotFound | Conditional::WrongStatus(_) => Err(not_found()),
    }
}

/// DELETE …/Messages/{Sid}.json: 204 for a message in a final state.
pub async fn delete(
    State(state): State<SharedState>,
    Path((account, file)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let account = auth::require(&state, &headers, &account, uri.path()).await?;
    let sid = message_sid(&file, &uri)?;
    match state.store.delete_message(&account.sid, sid).await? {
        Conditional::Done(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Conditional::WrongStatus(st) => Err(TwilioError::not_complete("delete", st.as_str()).into()),
        Conditional::NotFound => Err(TwilioError::not_found(uri.path()).into()),
    }
}

/// `SM….json` → `SM…`; anything else is not a resource we have.
fn message_sid<'a>(file: &'a str, uri: &Uri) -> Result<&'a str, ApiError> {
    file.strip_suffix(".json")
        .filter(|s| sid::is_valid(s, "SM") || sid::is_valid(s, "MM"))
        .ok_or_else(|| ApiError(TwilioError::not_found(uri.path())))
}

/// GET …/Messages.json: filters, newest first, keyset pages.
pub async fn list(
    State(state): State<SharedState>,
    Path(account): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let account = auth::require(&state, &headers, &account, uri.path()).await?;
    let q = form::decode(uri.query().unwrap_or("").as_bytes());
    let query = ListQuery::parse(&q)?;

    let limit = query.page_size + 1;
    let mut rows = state.store.list_messages(&account.sid, &query.filter, &query.cursor, limit).await?;
    let more = rows.len() > query.page_size;
    let (has_next, has_prev) = match &query.cursor {
        Cursor::Before(_) => {
            if more {
                rows.remove(0); // the extra row is the newest, beyond the previous page
            }
            (true, more || query.page > 0)
        }
        _ => {
            rows.truncate(query.page_size);
            (more, query.page > 0)
        }
    };

    let path = uri.path();
    let link = |page: u64, token: Option<String>| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &query.echo {
            s.append_pair(k, v);
        }
        s.append_pair("PageSize", &query.page_size.to_string());
        s.append_pair("Page", &page.to_string());
        if let Some(t) = token {
            s.append_pair("PageToken", &t);
        }
        format!("{path}?{}", s.finish())
    };
    let next_page_uri = match rows.last() {
        Some(last) if has_next => Some(link(query.page + 1, Some(format!("PA{}", last.sid)))),
        _ => None,
    };
    let previous_page_uri = match rows.first() {
        Some(first) if has_prev && query.page > 0 => Some(link(query.page - 1, Some(format!("PB{}", first.sid)))),
        _ => None,
    };
    let start = (query.page as usize).saturating_mul(query.page_size);
    let page = MessagePage {
        end: start + rows.len().saturating_sub(1),
        first_page_uri: link(0, None),
        next_page_uri,
        page: query.page,
        page_size: query.page_size,
        previous_page_uri,
        start,
        uri: link(query.page, query.token.clone()),
        messages: rows.iter().map(|m| render::message(m, true)).collect(),
    };
    Ok(Json(page).into_response())
}

/// The parsed query of a list request.
struct ListQuery {
    filter: MessageFilter,
    /// Filter parameters as given, echoed in the page URIs.
    echo: Vec<(&'static str, String)>,
    page_size: usize,
    page: u64,
    token: Option<String>,
    cursor: Cursor,
}

impl ListQuery {
    fn parse(q: &Pairs) -> Result<ListQuery, ApiError> {
        let mut filter = MessageFilter::default();
        let mut echo = Vec::new();
        if let Some(to) = form::last(q, "To").filter(|s| !s.is_empty()) {
            filter.to = Some(address::parse_to(to).map(|a| a.text).unwrap_or_else(|| to.to_string()));
            echo.push(("To", to.to_string()));
        }
        if let Some(from) = form::last(q, "From").filter(|s| !s.is_empty()) {
            filter.from = Some(address::parse_from(from).map(|a| a.text).unwrap_or_else(|| from.to_string()));
            echo.push(("From", from.to_string()));
        }
        let mut narrow = |from_ms: Option<i64>, until_ms: Option<i64>| {
            if let Some(f) = from_ms {
                filter.sent_from_ms = Some(filter.sent_from_ms.map_or(f, |x| x.max(f)));
            }
            if let Some(u) = until_ms {
                filter.sent_until_ms = Some(filter.sent_until_ms.map_or(u, |x| x.min(u)));
            }
        };
        for (name, canonical) in [
            ("DateSent", "DateSent"),
            ("DateSent<", "DateSent<"),
            ("DateSentBefore", "DateSent<"),
            ("DateSent>", "DateSent>"),
            ("DateSentAfter", "DateSent>"),
        ] {
            let Some(value) = form::last(q, name).filter(|s| !s.is_empty()) else { continue };
            let p = datefilter::parse(value).ok_or_else(TwilioError::invalid_date)?;
            match canonical {
                // `DateSent=` names a day, even when a time of day is given.
                "DateSent" if p.has_time => {
                    let day = p.start.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
                    let start = day.timestamp_millis();
                    narrow(Some(start), Some(start + 86_400_000));
                }
                "DateSent" => narrow(Some(p.start.timestamp_millis()), Some(p.end.timestamp_millis())),
                "DateSent<" => narrow(None, Some(p.end.timestamp_millis())),
                _ => narrow(Some(p.start.timestamp_millis()), None),
            }
            echo.push((canonical, value.to_string()));
        }

        let page_size = match form::last(q, "PageSize") {
            None | Some("") => DEFAULT_PAGE_SIZE,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(MAX_PAGE_SIZE).min(MAX_PAGE_SIZE),
                _ => {
                    return Err(TwilioError::invalid_parameter(format!(
                        "PageSize must be an integer between 1 and {MAX_PAGE_SIZE}, got '{v}'"
                    ))
                    .into())
                }
            },
        };
        let page = match form::last(q, "Page") {
            None | Some("") => 0,
            Some(v) => v.trim().parse::<u64>().map_err(|_| {
                TwilioError::invalid_parameter(format!("Page must be a non-negative integer, got '{v}'"))
            })?,
        };
        let token = form::last(q, "PageToken").filter(|s| !s.is_empty()).map(str::to_string);
        let cursor = match token.as_deref() {
            None if page > 0 => return Err(TwilioError::page_token_required().into()),
            None => Cursor::Start,
            Some(t) => parse_token(t).ok_or_else(TwilioError::invalid_page_token)?,
        };
        Ok(ListQuery { filter, echo, page_size, page, token, cursor })
    }
}

/// `PA<sid>` pages after (older than) that message, `PB<sid>` before (newer than) it.
fn parse_token(t: &str) -> Option<Cursor> {
    let (kind, rest) = (t.get(..2)?, t.get(2..)?);
    if !(sid::is_valid(rest, "SM") || sid::is_valid(rest, "MM")) {
        return None;
    }
    let key = rest[2..].to_ascii_lowercase();
    match kind {
        "PA" => Some(Cursor::After(key)),
        "PB" => Some(Cursor::Before(key)),
        _ => None,
    }
}

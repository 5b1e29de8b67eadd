//! `/2010-04-01/Accounts/{AccountSid}/Messages.json` and `/Messages/{Sid}.json`.

use super::auth::Authenticated;
use super::error::{ApiError, ApiResult};
use super::form::{self, Pairs};
use super::paging::{PageRequest, V2010Page};
use super::params::{OneResource, SidKind};
use super::render;
use super::SharedState;
use crate::clock::now_ms;
use crate::store::{Conditional, MessageFilter};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use switchboard_domain::address;
use switchboard_domain::datefilter;
use switchboard_domain::message::{validate_create, CreateParams, Message};
use switchboard_domain::status::{Direction, Status};
use switchboard_domain::TwilioError;

/// The SID prefixes of messages: SMS and MMS.
pub(super) const MESSAGE_PREFIXES: &[&str] = &["SM", "MM"];

/// Messages, as a path names them (`SM….json` or `MM….json`).
pub struct Messages;

impl SidKind for Messages {
    const PREFIXES: &'static [&'static str] = MESSAGE_PREFIXES;
    const JSON: bool = true;
}

/// POST …/Messages.json: validate, persist durably, answer 201, hand to delivery.
pub async fn create(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    body: Body,
) -> ApiResult<Response> {
    let pairs = form::read_form(body).await?;
    let now = now_ms();
    let mut valid = validate_create(&CreateParams::from_pairs(pairs), now, state.min_schedule_lead_secs)?;
    if let Some(content_sid) = valid.options.content_sid.clone() {
        // A template decides the body and media; the message keeps its ContentSid.
        let (body, media) = super::content::render_message(
            &state,
            &account.sid,
            &content_sid,
            valid.options.content_variables.as_deref(),
        )
        .await?;
        if body.chars().count() > switchboard_domain::message::MAX_BODY_CHARS {
            return Err(TwilioError::body_too_long().into());
        }
        if !media.is_empty() {
            valid.options.media_urls = media;
        }
        valid.body = body;
        let is_mms = !valid.options.media_urls.is_empty() || valid.options.send_as_mms == Some(true);
        valid.num_segments = switchboard_domain::message::num_segments(&valid.to.text, &valid.body, is_mms);
    }
    let service =
        match &valid.messaging_service_sid {
            Some(mss) => Some(state.store.service(&account.sid, mss).await?.ok_or_else(|| {
                TwilioError::bad_request(21701, format!("The Messaging Service {mss} does not exist"))
            })?),
            None => None,
        };
    let mut scopes = Vec::new();
    if let Some(service) = &service {
        let pool = state.store.pool(&service.sid).await?;
        if pool.is_empty() {
            return Err(TwilioError::bad_request(
                21704,
                format!("The Messaging Service {} contains no senders: add a phone number, short code or alphanumeric sender to its pool", service.sid),
            )
            .into());
        }
        if let Some(from) = &valid.from {
            let bare = from.text.rsplit(':').next().unwrap_or(&from.text);
            if !pool.iter().any(|p| p.address == bare) {
                return Err(TwilioError::bad_request(
                    21606,
                    format!("The From {} is not in the sender pool of Messaging Service {}", from.text, service.sid),
                )
                .into());
            }
        }
        // The service's defaults fill what the request left out.
        if valid.options.status_callback.is_none() {
            valid.options.status_callback = service.status_callback.clone();
        }
        if valid.options.validity_period.is_none() {
            valid.options.validity_period = Some(service.validity_period);
        }
        if service.smart_encoding && valid.options.smart_encoded.is_none() {
            valid.body = switchboard_domain::encoding::smart_encode(&valid.body).into_owned();
        }
        scopes.push(service.sid.clone());
    } else if let Some(from) = &valid.from {
        if state.require_owned_senders && !state.store.owns_sender(&account.sid, &from.text).await? {
            return Err(TwilioError::from_not_owned(&from.text).into());
        }
    }
    if let Some(from) = &valid.from {
        scopes.push(from.text.rsplit(':').next().unwrap_or(&from.text).to_string());
    }
    let to_bare = valid.to.text.rsplit(':').next().unwrap_or(&valid.to.text).to_string();
    if !scopes.is_empty() && state.store.opted_out(&account.sid, scopes, &to_bare).await? {
        return Err(TwilioError::unsubscribed(&valid.to.text).into());
    }
    if let (Some(from), None) = (&valid.from, &service) {
        state.dispatcher.check_capacity(&from.text, valid.num_segments)?;
    }
    // A Messaging Service chooses the sender (and so the segment count) after acceptance.
    let (from, num_segments) = match &service {
        Some(_) => (None, 0),
        None => (valid.from.as_ref().map(|a| a.text.clone()), valid.num_segments),
    };
    if let (Some(_), Some(f)) = (&service, &valid.from) {
        // An explicit pool sender is kept for the selection step.
        valid.options.requested_from = Some(f.text.clone());
    }
    let key = state.keys.next(now);
    if valid.options.shorten_urls == Some(true) {
        super::links::require_service(service.is_some())?;
        let sid = format!("{}{key}", valid.sid_prefix());
        let (body, made) = super::links::shorten(&state, &account.sid, &sid, &valid.body, now);
        if !made.is_empty() {
            state.store.insert_links(made).await?;
            valid.body = body;
        }
    }
    let message = Message::builder(format!("{}{key}", valid.sid_prefix()), account.sid, valid.to.text.clone(), now)
        .messaging_service_sid(valid.messaging_service_sid.clone())
        .from(from)
        .status(valid.initial_status())
        .direction(Direction::OutboundApi)
        .num_segments(num_segments)
        .body(valid.body)
        .options(valid.options)
        .build();
    state.store.insert_message(message.clone()).await?;
    crate::metrics::status_changed(message.status);
    if message.options.provide_feedback == Some(true) {
        // Feedback starts `unconfirmed` until the application confirms the message arrived.
        state.store.set_feedback(&message.account_sid, &message.sid, "unconfirmed", now, true).await?;
    }
    let response = render::json(StatusCode::CREATED, &render::message(&message, false));
    state.dispatcher.submit(message);
    Ok(response)
}

/// GET …/Messages/{Sid}.json
pub async fn fetch(State(state): State<SharedState>, resource: OneResource<Messages>) -> ApiResult<Response> {
    let m = state.store.message(&resource.account.sid, &resource.sid).await?.ok_or_else(|| resource.not_found())?;
    Ok(Json(render::message(&m, true)).into_response())
}

/// POST …/Messages/{Sid}.json: `Body=""` redacts a message that has left the queue (`sent` or
/// final; 20009 before); `Status=canceled` cancels a scheduled one.
pub async fn update(
    State(state): State<SharedState>,
    resource: OneResource<Messages>,
    body: Body,
) -> ApiResult<Response> {
    let pairs = form::read_form(body).await?;
    let not_found = || resource.not_found();
    let outcome = match (form::last(&pairs, "Status"), form::last(&pairs, "Body")) {
        (Some("canceled"), _) => {
            let m = state.store.message(&resource.account.sid, &resource.sid).await?.ok_or_else(not_found)?;
            if m.status != Status::Scheduled || !crate::delivery::cancel(&state.dispatcher, &m).await {
                return Err(TwilioError::cannot_cancel().into());
            }
            let m = state.store.message(&resource.account.sid, &resource.sid).await?.ok_or_else(not_found)?;
            Conditional::Done(m)
        }
        (Some(other), _) => {
            return Err(TwilioError::invalid_parameter(format!(
                "Status can only be updated to 'canceled', got '{other}'"
            ))
            .into())
        }
        (None, Some("")) => match state.store.redact_message(&resource.account.sid, &resource.sid, now_ms()).await? {
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
            let m = state.store.message(&resource.account.sid, &resource.sid).await?.ok_or_else(not_found)?;
            return Ok(Json(render::message(&m, true)).into_response());
        }
    };
    match outcome {
        Conditional::Done(m) => Ok(Json(render::message(&m, true)).into_response()),
        Conditional::NotFound | Conditional::WrongStatus(_) => Err(not_found()),
    }
}

/// DELETE …/Messages/{Sid}.json: 204 for a message in a final state, or `sent` longer ago than
/// the receipt window (no receipt will come); 20009 otherwise.
pub async fn delete(State(state): State<SharedState>, resource: OneResource<Messages>) -> ApiResult<Response> {
    let receipt_cutoff = Message::receipt_cutoff(now_ms(), state.receipt_window);
    match state.store.delete_message(&resource.account.sid, &resource.sid, receipt_cutoff).await? {
        Conditional::Done(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Conditional::WrongStatus(st) => Err(TwilioError::not_complete("delete", st.as_str()).into()),
        Conditional::NotFound => Err(resource.not_found()),
    }
}

/// POST …/Messages/{MessageSid}/Feedback.json: records whether the recipient acted on the
/// message (`Outcome` `confirmed`, the default, or `unconfirmed`). Answers 200 with the
/// MessageFeedback resource, as Twilio's current specification says.
pub async fn feedback(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    Path((_, sid)): Path<(String, String)>,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    let pairs = form::read_form(body).await?;
    let outcome = match form::last(&pairs, "Outcome") {
        None | Some("") => "confirmed",
        Some(o @ ("confirmed" | "unconfirmed")) => o,
        Some(other) => {
            return Err(TwilioError::invalid_parameter(format!(
                "Outcome must be one of confirmed, unconfirmed, got '{other}'"
            ))
            .into())
        }
    };
    let f = state
        .store
        .set_feedback(&account.sid, &sid, outcome, now_ms(), false)
        .await?
        .ok_or_else(|| TwilioError::not_found(uri.path()))?;
    Ok(Json(render::feedback(&account.sid, &f)).into_response())
}

/// GET …/Messages.json: filters, newest first, keyset pages.
pub async fn list(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    uri: Uri,
) -> ApiResult<Response> {
    let q = form::decode(uri.query().unwrap_or("").as_bytes());
    let (filter, echo) = parse_filters(&q)?;
    let req = PageRequest::parse(&q, MESSAGE_PREFIXES)?;
    let rows = state.store.list_messages(&account.sid, &filter, &req.cursor, req.limit()).await?;
    let window = req.window(rows, |m| m.sid.as_str());
    let items = window.rows.iter().map(|m| render::message(m, true)).collect();
    Ok(Json(V2010Page::new("messages", &req, &window, uri.path(), &echo, items)).into_response())
}

/// List filter parameters as given, echoed in the page links.
type Echo = Vec<(&'static str, String)>;

/// The list filters, and the same parameters as given.
fn parse_filters(q: &Pairs) -> Result<(MessageFilter, Echo), ApiError> {
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
    Ok((filter, echo))
}

//! The inbox pages: Conversations, a thread, Messages (search, keyset pages), a message's
//! detail, Compose as handset, Simulator rules. Regions marked `data-live` are re-rendered by
//! `app.js` when the event stream reports a change.

use super::session::Viewer;
use super::{page, search, Tab};
use crate::api::auth::Authenticated;
use crate::api::error::ApiResult;
use crate::api::{form, render, stream, SharedState};
use crate::store::{Cursor, MessageFilter};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use switchboard_domain::encoding::{self, Encoding};
use switchboard_domain::message::Message;
use switchboard_domain::status::Direction;
use switchboard_domain::{sid, TwilioError};

/// Rows of a Messages page.
const PAGE_SIZE: usize = 50;
/// Newest messages the Conversations view groups into threads.
const THREAD_SCAN: usize = 1000;
/// Messages shown in a thread (the newest).
const THREAD_SIZE: usize = 200;

/// `2026-12-02 10:04:05 UTC`.
fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// Our address and the other party's in a message (a thread is one such pair).
fn pair(m: &Message) -> (String, String) {
    let from = m.from.clone().or_else(|| m.messaging_service_sid.clone()).unwrap_or_default();
    if m.direction == Direction::Inbound {
        (m.to.clone(), from)
    } else {
        (from, m.to.clone())
    }
}

fn query_of(uri: &Uri) -> form::Pairs {
    form::decode(uri.query().unwrap_or("").as_bytes())
}

fn param<'a>(q: &'a form::Pairs, name: &str) -> &'a str {
    form::last(q, name).unwrap_or("").trim()
}

fn thread_href(ours: &str, theirs: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("ours", ours)
        .append_pair("theirs", theirs)
        .finish();
    format!("/thread?{query}")
}

fn status_badge(m: &Message) -> Markup {
    html! { span class={ "status s-" (m.status.as_str()) } data-testid="status" { (m.status.as_str()) } }
}

/// GET /: one row per pair of addresses among the newest messages, newest thread first.
pub async fn conversations(State(state): State<SharedState>, auth: Viewer) -> ApiResult<Response> {
    let rows = state.store.list_messages(&auth.0.sid, &MessageFilter::default(), &Cursor::Start, THREAD_SCAN).await?;
    let mut threads: Vec<((String, String), &Message, usize)> = Vec::new();
    for m in &rows {
        let key = pair(m);
        match threads.iter_mut().find(|(k, _, _)| *k == key) {
            Some(t) => t.2 += 1,
            None => threads.push((key, m, 1)),
        }
    }
    let content = html! {
        h1 { "Conversations" }
        p.hint { "Threads among the newest " (THREAD_SCAN) " messages. Text a number as a handset from "
            a href="/compose" { "Compose" } "." }
        section data-live="threads" #threads aria-label="Threads" {
            @if threads.is_empty() {
                p.empty { "No messages yet. Send one through the API and it appears here." }
            }
            ul.threads role="list" {
                @for ((ours, theirs), last, count) in &threads {
                    li data-row data-testid="thread-row" {
                        a href=(thread_href(ours, theirs)) {
                            span.who { (theirs) span.via { " ↔ " (ours) } }
                            span.snippet { (snippet(&last.body, 80)) }
                            span.meta { (when(last.date_created)) " · " (count) " msg · " (status_badge(last)) }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&auth, Tab::Conversations, "Conversations", content))
}

fn snippet(body: &str, n: usize) -> String {
    let mut s: String = body.chars().take(n).collect();
    if body.chars().nth(n).is_some() {
        s.push('…');
    }
    s
}

/// GET /thread?ours=…&theirs=…: the messages between two addresses as bubbles, and a composer
/// that texts `ours` as the handset `theirs`.
pub async fn thread(State(state): State<SharedState>, auth: Viewer, uri: Uri) -> ApiResult<Response> {
    let q = query_of(&uri);
    let (ours, theirs) = (param(&q, "ours").to_string(), param(&q, "theirs").to_string());
    if ours.is_empty() || theirs.is_empty() {
        return Err(TwilioError::invalid_parameter("ours and theirs are required").into());
    }
    let filter = |from: &str, to: &str| MessageFilter {
        from: Some(from.to_string()),
        to: Some(to.to_string()),
        ..MessageFilter::default()
    };
    let mut all = state.store.list_messages(&auth.0.sid, &filter(&ours, &theirs), &Cursor::Start, THREAD_SIZE).await?;
    all.extend(state.store.list_messages(&auth.0.sid, &filter(&theirs, &ours), &Cursor::Start, THREAD_SIZE).await?);
    all.sort_by(|a, b| a.key().cmp(b.key()));
    let skip = all.len().saturating_sub(THREAD_SIZE);
    let content = html! {
        h1 { (theirs) span.via { " ↔ " (ours) } }
        section data-live="bubbles" #bubbles aria-label="Messages in this thread" {
            @if all.is_empty() { p.empty { "No messages between these addresses yet." } }
            ol.bubbles role="list" {
                @for m in &all[skip..] {
                    @let side = if m.direction == Direction::Inbound { "in" } else { "out" };
                    li class={ "bubble " (side) } data-row data-testid="bubble" data-sid=(m.sid) data-direction=(m.direction.as_str()) {
                        p.text { (m.body) }
                        @if m.num_media > 0 { p.media { "📎 " (m.num_media) " media" } }
                        span.meta {
                            (when(m.date_created)) " · " (status_badge(m)) " · "
                            a href={ "/messages/" (m.sid) } { "details" }
                        }
                    }
                }
            }
        }
        form.composer method="post" action="/compose" aria-label="Reply as the handset" {
            input type="hidden" name="From" value=(theirs);
            input type="hidden" name="To" value=(ours);
            input type="hidden" name="Return" value="thread";
            label for="reply-body" { "Text " (ours) " as " (theirs) }
            div.row {
                input #reply-body name="Body" type="text" required autocomplete="off" data-testid="reply-body";
                button type="submit" data-testid="reply-send" { "Send" }
            }
        }
    };
    Ok(page(&auth, Tab::Conversations, &format!("Thread with {theirs}"), content))
}

/// GET /messages?q=…: newest first, 50 a page, keyset pages (`older=`/`newer=` a message key).
pub async fn messages(State(state): State<SharedState>, auth: Viewer, uri: Uri) -> ApiResult<Response> {
    let q = query_of(&uri);
    let query = param(&q, "q").to_string();
    let parsed = search::parse(&query);
    let key_of = |name: &str| Some(param(&q, name)).filter(|k| !k.is_empty() && k.len() <= 40).map(str::to_string);
    let cursor = match (key_of("older"), key_of("newer")) {
        (Some(k), _) => Cursor::After(k),
        (None, Some(k)) => Cursor::Before(k),
        _ => Cursor::Start,
    };
    let mut rows = match &parsed {
        Ok(filter) => state.store.list_messages(&auth.0.sid, filter, &cursor, PAGE_SIZE + 1).await?,
        Err(_) => Vec::new(),
    };
    let more = rows.len() > PAGE_SIZE;
    let (has_newer, has_older) = match cursor {
        Cursor::Start => (false, more),
        Cursor::After(_) => (true, more),
        Cursor::Before(_) => (more, true),
    };
    if more {
        match cursor {
            Cursor::Before(_) => drop(rows.remove(0)),
            _ => rows.truncate(PAGE_SIZE),
        }
    }
    let link = |name: &str, key: &str| {
        let query =
            form_urlencoded::Serializer::new(String::new()).append_pair("q", &query).append_pair(name, key).finish();
        format!("/messages?{query}")
    };
    let content = html! {
        h1 { "Messages" }
        form.search role="search" method="get" action="/messages" {
            label for="q" { "Search" }
            div.row {
                input #q name="q" type="search" value=(query) data-testid="search"
                    placeholder="to:+1415… from: status:delivered direction:inbound body:\"code\" after:2026-12-01 before: date:"
                    aria-describedby="search-help";
                button type="submit" { "Search" }
            }
            p #search-help .hint { "Fields: " code { "to: from: status: direction: body: after: before: date:" }
                "; other words must all be in the body; quote to keep spaces." }
        }
        @if let Err(why) = &parsed { p.error role="alert" { (why) } }
        section data-live="message-list" #message-list aria-label="Messages" {
            @if rows.is_empty() && parsed.is_ok() { p.empty { "No messages match." } }
            @if !rows.is_empty() {
                div.table-wrap {
                    table {
                        thead { tr { th scope="col" { "Created" } th scope="col" { "Dir." } th scope="col" { "From" }
                            th scope="col" { "To" } th scope="col" { "Status" } th scope="col" { "Body" } } }
                        tbody {
                            @for m in &rows {
                                tr data-testid="message-row" data-sid=(m.sid) {
                                    td { a data-row href={ "/messages/" (m.sid) } { (when(m.date_created)) } }
                                    td { (m.direction.as_str()) }
                                    td { (m.from.as_deref().unwrap_or("")) }
                                    td { (m.to) }
                                    td { (status_badge(m)) }
                                    td.body { (snippet(&m.body, 60)) }
                                }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if has_newer { @if let Some(first) = rows.first() { a rel="prev" href=(link("newer", first.key())) { "← Newer" } } }
                @if has_older { @if let Some(last) = rows.last() { a rel="next" href=(link("older", last.key())) { "Older →" } } }
            }
        }
    };
    Ok(page(&auth, Tab::Messages, "Messages", content))
}

/// GET /messages/{sid}: everything about one message.
pub async fn detail(
    State(state): State<SharedState>,
    auth: Viewer,
    Path(msid): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    if !(sid::is_valid(&msid, "SM") || sid::is_valid(&msid, "MM")) {
        return Err(TwilioError::not_found(uri.path()).into());
    }
    let not_found = || TwilioError::not_found(uri.path());
    let m = state.store.message(&auth.0.sid, &msid).await?.ok_or_else(not_found)?;
    let events = state.store.message_events(&auth.0.sid, &msid).await?.unwrap_or_default();
    let callbacks = state.store.message_callbacks(&auth.0.sid, &msid).await?.unwrap_or_default();
    let media = state.store.list_media(&auth.0.sid, &m.sid, (None, None), &Cursor::Start, MEDIA_SHOWN).await?;
    let json = serde_json::to_value(render::message(&m, true)).unwrap_or_default();
    let raw = serde_json::to_string_pretty(&json).unwrap_or_default();
    let (ours, theirs) = pair(&m);
    let content = html! {
        p.crumbs { a href=(thread_href(&ours, &theirs)) { "← Thread " (theirs) " ↔ " (ours) } }
        h1 { "Message " code data-testid="detail-sid" { (m.sid) } }
        section data-live="summary" #summary aria-label="Summary" {
            p.summary { (m.direction.as_str()) " · " (m.from.as_deref().unwrap_or("(service picks)")) " → " (m.to)
                " · " (status_badge(&m)) }
            @if let Some(code) = m.error_code {
                div.error-box role="note" data-testid="error" {
                    h2 { "Error " (code) }
                    p { (m.error_message.as_deref().unwrap_or("")) }
                    p { a href={ "https://www.twilio.com/docs/errors/" (code) } rel="noreferrer" { "Twilio's page for " (code) } }
                    @for e in events.iter().filter(|e| e.error_code == Some(code)) {
                        p.hint { "Recorded " (when(e.at_ms)) ": " (e.from.as_deref().unwrap_or("—")) " → " (e.to)
                            @if let Some(d) = &e.detail { " — " (d) } }
                    }
                }
            }
        }
        section aria-labelledby="h-body" {
            h2 #h-body { "Body and segments" }
            (segment_inspector(&m))
        }
        @if !media.is_empty() || !m.options.media_urls.is_empty() {
            section #media aria-labelledby="h-media" {
                h2 #h-media { "Media" }
                @for item in &media {
                    @let href = format!("/messages/{}/media/{}", m.sid, item.sid);
                    @if previewable(&item.content_type) {
                        figure.media {
                            img src=(href) alt={ "Media " (item.sid) " (" (item.content_type) ")" } loading="lazy"
                                data-testid="media-preview";
                            figcaption { a href=(href) { (item.sid) } " · " (item.content_type) " · " (item.size) " bytes" }
                        }
                    } @else {
                        p.media { a href=(href) download data-testid="media-link" { (item.sid) } " · "
                            (item.content_type) " · " (item.size) " bytes (download; not previewed)" }
                    }
                }
                @if media.is_empty() {
                    p.empty { "Not stored (yet): the media URLs the message names:" }
                    ul { @for u in &m.options.media_urls { li { a href=(u) rel="noreferrer noopener" data-testid="media-url" { (u) } } } }
                }
            }
        }
        section data-live="timeline" #timeline aria-labelledby="h-timeline" {
            h2 #h-timeline { "Status timeline" }
            ol.timeline data-testid="timeline" {
                @for e in &events {
                    li { time { (when(e.at_ms)) } " "
                        @if e.from.as_deref() == Some(e.to.as_str()) { "note (" (e.to) ")" }
                        @else { (e.from.as_deref().unwrap_or("created")) " → " strong { (e.to) } }
                        @if let Some(c) = e.error_code { " · error " (c) }
                        @if let Some(d) = &e.detail { pre.detail { (d) } }
                    }
                }
            }
        }
        @if m.direction == Direction::Inbound {
            section data-live="webhook" #webhook aria-labelledby="h-webhook" {
                h2 #h-webhook { "Inbound webhook" }
                @let exchanges: Vec<_> = events.iter().filter(|e| e.from.as_deref() == Some(e.to.as_str()) && e.detail.is_some()).collect();
                @if exchanges.is_empty() { p.empty { "No webhook exchange recorded (no SmsUrl on the number, or not called yet)." } }
                @for e in exchanges {
                    article.callback data-testid="webhook-exchange" {
                        p.meta { (when(e.at_ms)) @if let Some(c) = e.error_code { " · error " (c) } }
                        pre.detail { (e.detail.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
        section data-live="callbacks" #callbacks aria-labelledby="h-callbacks" {
            h2 #h-callbacks { "Status callbacks" }
            @if callbacks.is_empty() { p.empty { "No status callbacks (no StatusCallback URL)." } }
            @for cb in &callbacks {
                @let signature = crate::outbound::signature::sign(&auth.0.auth_token, &cb.row.request.url, &cb.row.request.params);
                article.callback data-testid="callback" {
                    h3 { (cb.row.request.method) " " (cb.row.request.url) }
                    p.meta { "Queued " (when(cb.row.created_at)) " · state " strong data-testid="callback-state" { (cb.state) }
                        " · X-Twilio-Signature " code { (signature) } }
                    details { summary { "Parameters (" (cb.row.request.params.len()) ")" }
                        table.params { @for (k, v) in &cb.row.request.params { tr { th scope="row" { (k) } td { (v) } } } } }
                    ol.attempts {
                        @for (i, a) in cb.attempts.iter().enumerate() {
                            li data-testid="callback-attempt" {
                                "Attempt " (i + 1) " · " (when(a.at_ms)) " · "
                                @match a.http_status { Some(s) => { "HTTP " (s) }, None => { "no answer" } }
                                " · " (a.latency_ms) " ms"
                                @if let Some(e) = &a.error { " · " (e) }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="h-fields" {
            h2 #h-fields { "Fields" }
            div.table-wrap { table.fields data-testid="fields" {
                @if let Some(obj) = json.as_object() {
                    @for (k, v) in obj {
                        tr { th scope="row" { (k) } td { @match v { serde_json::Value::String(s) => { (s) }, other => { (other.to_string()) } } } }
                    }
                }
            } }
        }
        section aria-labelledby="h-raw" {
            h2 #h-raw { "Raw JSON" }
            pre.raw data-testid="raw-json" { (raw) }
        }
    };
    Ok(page(&auth, Tab::Messages, &m.sid, content))
}

/// Media items listed on a message's page (Twilio allows 10 per message).
const MEDIA_SHOWN: usize = 10;

/// Raster image types a browser shows in `<img>` and nothing else can run from: previewed.
/// Everything else (SVG, which can hold script, audio, video, PDF, vCard) is a download.
fn previewable(content_type: &str) -> bool {
    matches!(content_type, "image/jpeg" | "image/jpg" | "image/png" | "image/gif" | "image/webp")
}

/// GET /messages/{sid}/media/{MediaSid}: the stored bytes of one media item of the signed-in
/// account's message, for the preview. Images go out as themselves; anything else as an
/// `application/octet-stream` attachment, so no stored file is ever rendered as a page of
/// this origin; each answer forbids everything but being shown (`sandbox`).
pub async fn media(
    State(state): State<SharedState>,
    auth: Viewer,
    Path((msid, me)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let not_found = || TwilioError::not_found(uri.path());
    if !(sid::is_valid(&msid, "SM") || sid::is_valid(&msid, "MM")) || !sid::is_valid(&me, "ME") {
        return Err(not_found().into());
    }
    let (item, bytes) = state.store.media_content(&auth.0.sid, &msid, &me).await?.ok_or_else(not_found)?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    if previewable(&item.content_type) {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(&item.content_type).map_err(|_| not_found())?);
    } else {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        let disposition = format!("attachment; filename=\"{me}\"");
        h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).map_err(|_| not_found())?);
    }
    h.insert("content-security-policy", HeaderValue::from_static("default-src 'none'; sandbox"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    Ok(resp)
}

/// The body, character by character: what forces UCS-2, extension characters, where segments
/// split, and what smart encoding would change.
fn segment_inspector(m: &Message) -> Markup {
    let (summary, chars) = encoding::inspect(&m.body);
    let encoding_name = match summary.encoding {
        Encoding::Gsm7 => "GSM-7",
        Encoding::Ucs2 => "UCS-2",
    };
    let forcing: String = chars.iter().filter(|c| c.forces_ucs2).map(|c| c.ch).collect();
    let smart = encoding::smart_encode(&m.body);
    let unit = if summary.encoding == Encoding::Gsm7 { "septets" } else { "UTF-16 units" };
    html! {
        p.summary data-testid="segments" {
            strong data-testid="encoding" { (encoding_name) } " · " (summary.count) " segment"
            @if summary.count != 1 { "s" } " · " (summary.units) " " (unit)
            @if !forcing.is_empty() { " · UCS-2 because of: " span.forces { (forcing) } }
        }
        div.inspector aria-label="Body by segment" {
            @for (i, c) in chars.iter().enumerate() {
                @if i == 0 || chars[i - 1].segment != c.segment {
                    span.split aria-hidden="true" { "segment " (c.segment + 1) }
                }
                @let class = if c.forces_ucs2 && summary.encoding == Encoding::Ucs2 { "ch ucs2" } else if c.extension { "ch ext" } else { "ch" };
                @let title = if c.forces_ucs2 { Some("no GSM-7 form: forces UCS-2") } else if c.extension { Some("GSM-7 extension: 2 septets") } else { None };
                span class=(class) title=[title] { (c.ch) }
            }
        }
        @if smart.as_ref() != m.body {
            p.hint { "With SmartEncoded=true: " span.smart { (smart.as_ref()) } " ("
                (encoding::segments(&smart).count) " segment(s))" }
        }
    }
}

/// GET /compose: text one of the account's numbers as a handset.
pub async fn compose(State(state): State<SharedState>, auth: Viewer, uri: Uri) -> ApiResult<Response> {
    let q = query_of(&uri);
    Ok(compose_page(&state, &auth, param(&q, "From"), param(&q, "To"), "", None).await?.into_response())
}

async fn compose_page(
    state: &SharedState,
    auth: &Viewer,
    from: &str,
    to: &str,
    body: &str,
    error: Option<String>,
) -> ApiResult<Response> {
    let numbers: Vec<crate::store::senders::IncomingNumber> =
        state.store.list_numbers(&auth.0.sid, &Default::default(), &Cursor::Start, 200).await?;
    let from = if from.is_empty() { "+15555550100" } else { from };
    let to = if to.is_empty() { numbers.first().map_or("", |n| n.number.phone_number.as_str()) } else { to };
    let content = html! {
        h1 { "Compose as handset" }
        p.hint { "Sends an inbound message exactly as " code { "POST /_switchboard/Accounts/…/Inbound.json" }
            " does: your number's webhook is called, signed, and its TwiML replies show up in the thread." }
        @if let Some(e) = &error { p.error role="alert" data-testid="compose-error" { (e) } }
        form.compose method="post" action="/compose" {
            div.field { label for="from" { "From (the handset)" }
                input #from name="From" type="tel" value=(from) required autocomplete="off"; }
            div.field { label for="to" { "To (one of your numbers)" }
                input #to name="To" type="tel" value=(to) required list="numbers" autocomplete="off" data-testid="compose-to"; }
            datalist #numbers { @for n in &numbers { option value=(n.number.phone_number) { (n.number.friendly_name) } } }
            div.field { label for="body" { "Body" }
                textarea #body name="Body" rows="3" data-testid="compose-body" { (body) } }
            div.field { label for="media" { "Media URL (optional)" }
                input #media name="MediaUrl" type="url" autocomplete="off"; }
            div.row {
                button type="submit" data-testid="compose-send" { "Send" }
                span.hint { "or one click:" }
                @for k in ["STOP", "START", "HELP"] {
                    button type="submit" name="Keyword" value=(k) data-testid={ "keyword-" (k) } { (k) }
                }
            }
        }
    };
    Ok(page(auth, Tab::Compose, "Compose", content))
}

/// POST /compose: the inbound message (through `Inbound::receive`, like `Inbound.json`), then
/// its thread.
pub async fn compose_send(
    State(state): State<SharedState>,
    auth: Viewer,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let pairs = form::read_form(body).await?;
    let get = |name: &str| form::last(&pairs, name).unwrap_or("").trim().to_string();
    let (from, to) = (get("From"), get("To"));
    let keyword = get("Keyword");
    let text = if keyword.is_empty() { form::last(&pairs, "Body").unwrap_or("").to_string() } else { keyword };
    let media_urls: Vec<String> =
        pairs.iter().filter(|(k, v)| k == "MediaUrl" && !v.is_empty()).map(|(_, v)| v.clone()).collect();
    let problem = if from.is_empty() || to.is_empty() {
        Some("From and To are required.".to_string())
    } else {
        media_urls
            .iter()
            .find(|u| !switchboard_domain::message::is_callback_url(u))
            .map(|bad| format!("Media URL {bad} is not an http(s) URL."))
    };
    if let Some(why) = problem {
        let resp = compose_page(&state, &auth, &from, &to, &text, Some(why)).await?;
        return Ok((StatusCode::BAD_REQUEST, resp).into_response());
    }
    let sms = crate::inbound::InboundSms {
        account_sid: auth.0.sid.clone(),
        from: from.clone(),
        to: to.clone(),
        body: text.clone(),
        media_urls,
        address_retention: None,
        content_retention: None,
        error_code: None,
    };
    match state.inbound.receive(sms).await {
        Ok(m) => {
            let (ours, theirs) = pair(&m);
            Ok(Redirect::to(&thread_href(&ours, &theirs)).into_response())
        }
        Err(e) if e.status < 500 => {
            let resp =
                compose_page(&state, &auth, &from, &to, &text, Some(format!("{} (error {})", e.message, e.code)))
                    .await?;
            Ok((StatusCode::BAD_REQUEST, resp).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// GET /simulator: the fault-injection rules that apply to the account, with their match counts.
pub async fn simulator(State(state): State<SharedState>, auth: Viewer) -> ApiResult<Response> {
    Ok(simulator_page(&state, &auth, None))
}

fn simulator_page(state: &SharedState, auth: &Viewer, error: Option<String>) -> Response {
    let rules = state.simulator.rules_with_hits(&auth.0.sid);
    let content = html! {
        h1 { "Simulator rules" }
        p.hint { "The first matching rule decides a message's fate; otherwise the built-in magic numbers do. "
            "Rules from the configuration file apply to every account and cannot be removed here." }
        @if let Some(e) = &error { p.error role="alert" { (e) } }
        section data-live="rules" #rules aria-label="Rules" {
            @if rules.is_empty() { p.empty { "No rules." } }
            @if !rules.is_empty() {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "To" } th scope="col" { "From" } th scope="col" { "Outcome" }
                        th scope="col" { "Error" } th scope="col" { "Delay" } th scope="col" { "Probability" }
                        th scope="col" { "Matched" } th scope="col" { span.sr { "Actions" } } } }
                    tbody { @for (i, (r, hits)) in rules.iter().enumerate() {
                        tr data-testid="rule-row" {
                            td { (r.to.as_deref().unwrap_or("*")) } td { (r.from.as_deref().unwrap_or("*")) }
                            td { (r.outcome) } td { (r.error_code.map(|c| c.to_string()).unwrap_or_default()) }
                            td { (r.delay_ms) " ms" } td { (r.probability) } td data-testid="rule-hits" { (hits) }
                            td { @if r.account_sid.is_some() {
                                form method="post" action={ "/simulator/rules/" (i) "/delete" } {
                                    button type="submit" aria-label={ "Remove rule " (i + 1) } { "Remove" } }
                            } @else { span.hint { "config" } } }
                        }
                    } }
                } }
            }
        }
        h2 { "Add a rule" }
        form.rule method="post" action="/simulator/rules" {
            div.field { label for="r-to" { "To pattern (" code { "*" } " wildcards)" } input #r-to name="To" placeholder="+1555*"; }
            div.field { label for="r-from" { "From pattern" } input #r-from name="From"; }
            div.field { label for="r-outcome" { "Outcome" }
                select #r-outcome name="Outcome" { @for o in ["delivered", "read", "sent", "failed", "undelivered", "no-rcs"] { option value=(o) { (o) } } } }
            div.field { label for="r-code" { "Error code" } input #r-code name="ErrorCode" inputmode="numeric" placeholder="30008"; }
            div.field { label for="r-delay" { "Delay (ms)" } input #r-delay name="DelayMs" inputmode="numeric" value="0"; }
            div.field { label for="r-prob" { "Probability (0–1)" } input #r-prob name="Probability" inputmode="decimal" value="1"; }
            button type="submit" { "Add rule" }
        }
    };
    page(auth, Tab::Simulator, "Simulator rules", content)
}

/// POST /simulator/rules: adds a rule (the form of `Simulator/Rules.json`).
pub async fn add_rule(State(state): State<SharedState>, auth: Viewer, body: axum::body::Body) -> ApiResult<Response> {
    let pairs = form::read_form(body).await?;
    match crate::api::switchboard::rule_from_form(&auth.0.sid, &pairs) {
        Ok(rule) => {
            crate::api::switchboard::store_rule(&state, &auth.0.sid, &rule).await?;
            Ok(Redirect::to("/simulator").into_response())
        }
        Err(e) => Ok((StatusCode::BAD_REQUEST, simulator_page(&state, &auth, Some(e.message))).into_response()),
    }
}

/// POST /simulator/rules/{n}/delete: removes the account's n-th rule.
pub async fn remove_rule(State(state): State<SharedState>, auth: Viewer, Path(n): Path<usize>) -> ApiResult<Response> {
    if crate::api::switchboard::remove_rules(&state, &auth.0.sid, Some(n)).await? {
        Ok(Redirect::to("/simulator").into_response())
    } else {
        Ok((StatusCode::NOT_FOUND, simulator_page(&state, &auth, Some("No such rule of this account.".into())))
            .into_response())
    }
}

/// GET /events: the viewed account's changes as a summary stream (one small `changes` event per
/// coalesced wakeup: the page re-reads itself, so it needs to know that something changed, not
/// what), for the inbox's live updates; here, so the session cookie reaches it without ever
/// reaching the API's own routes.
pub async fn events(
    State(state): State<SharedState>,
    auth: Viewer,
    headers: axum::http::HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    let Authenticated(account) = auth.auth;
    stream::serve(state, account.sid, &headers, &uri, stream::Mode::Summary).await
}

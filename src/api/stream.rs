//! The event stream (`/_switchboard/Accounts/{AccountSid}/Stream`, Server-Sent Events) and the
//! wait API (`…/Messages/Next.json`): both read the store's feed of committed message changes
//! (`store::stream`), so neither polls and a slow client never slows a write.

use super::auth::Authenticated;
use super::error::ApiResult;
use super::{form, render, SharedState};
use crate::store::{ChangeBatch, MessageChange, NextFilter, Store};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderName};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::address;
use switchboard_domain::status::{Direction, Status};
use switchboard_domain::{sid, TwilioError};
use tokio::sync::broadcast;

/// Idle time after which a stream sends a comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// A live stream gathers the commits of this long into one write: under load, each stream
/// then wakes and writes about 10 times a second instead of once per commit (hundreds), while
/// a change still reaches the browser well within a second.
const COALESCE: Duration = Duration::from_millis(100);
/// Events replayed from the store per query while a stream catches up.
const REPLAY_PAGE: usize = 500;
/// `Timeout` of the wait API when none is given, and the most it accepts, seconds.
pub const DEFAULT_WAIT_SECS: f64 = 10.0;
/// See [`DEFAULT_WAIT_SECS`].
pub const MAX_WAIT_SECS: f64 = 60.0;
/// The error code of a wait that timed out (Switchboard's own; see docs/compatibility.md).
pub const WAIT_TIMEOUT_CODE: u32 = 20408;

/// GET /_switchboard/Accounts/{AccountSid}/Stream: `text/event-stream` of the account's message
/// changes. Each is an event `message` whose `id:` is the durable event number and whose data
/// is the Message resource; `Last-Event-ID` replays what came after that event first.
pub async fn stream(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    serve(state, account.sid, &headers, &uri, Mode::Resources).await
}

/// What a stream sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One event `message` per change, its data the Message resource exactly as the API
    /// renders it (`/_switchboard/…/Stream`).
    Resources,
    /// One event `changes` per coalesced wakeup, its data `{"changes":N}` (how many of the
    /// account's changes it stands for) and its id the last of them: the web inbox re-reads its
    /// pages itself, so it needs to know *that* something changed, not what. Its cost per
    /// stream does not grow with the write rate. It starts live (the page re-reads itself
    /// whenever it (re)connects, so there is nothing to replay), and a stream that falls
    /// behind just sends `changes` and carries on.
    Summary,
}

/// The stream of `account`'s message changes in `mode`; a `Resources` stream first replays
/// what came after the `Last-Event-ID` header (or `LastEventId` query parameter).
pub async fn serve(
    state: SharedState,
    account: String,
    headers: &HeaderMap,
    uri: &Uri,
    mode: Mode,
) -> ApiResult<Response> {
    let from_query = form::decode(uri.query().unwrap_or("").as_bytes());
    let last_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| form::last(&from_query, "LastEventId").map(str::to_string))
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.trim().parse::<i64>())
        .transpose()
        .map_err(|_| TwilioError::invalid_parameter("Last-Event-ID must be an event number"))?;
    // Subscribe before replaying: whatever commits during the replay is then in the feed.
    let feed = state.store.subscribe_changes();
    let phase = if last_id.is_some() && mode == Mode::Resources { Phase::Replay } else { Phase::Live };
    let start = Feed {
        store: state.store.clone(),
        account,
        last: last_id.unwrap_or(0),
        floor: last_id.unwrap_or(0),
        feed,
        phase,
        mode,
        // Reconnect quickly: resuming costs one replay query.
        pending: VecDeque::from([Bytes::from_static(b": switchboard\nretry: 1000\n\n")]),
        unsent: 0,
    };
    let body = futures_util::stream::unfold(start, |mut f| async move {
        let event = f.next_event().await?;
        Some((Ok::<_, Infallible>(event), f))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            // Proxies (nginx) must not buffer the stream.
            (HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// The SSE frame of one change, built once and shared by every stream that sends it (a
/// `Bytes` clone is a reference count): the data is the JSON on one line.
fn message_event(c: &MessageChange) -> Bytes {
    c.rendered
        .get_or_init(|| {
            let mut out = Vec::with_capacity(1024);
            write_message_event(&mut out, c);
            out.into()
        })
        .clone()
}

/// Appends the SSE frame of one change to `out`: the JSON is serialised in place, no
/// intermediate string.
fn write_message_event(out: &mut Vec<u8>, c: &MessageChange) {
    use std::io::Write as _;
    let _ = write!(out, "event: message\nid: {}\ndata: ", c.id);
    // Serialising derived structs of strings and numbers into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &render::message(&c.message, true));
    out.extend_from_slice(b"\n\n");
}

/// Where a stream is: replaying from the store, following the live feed, or done.
enum Phase {
    Replay,
    Live,
    Done,
}

/// One stream's state. It runs inside the response body (no task of its own): the
/// connection polls it, so a client that stops reading stops costing anything but its place
/// in the broadcast, and a client that falls [`crate::store::stream::CAPACITY`] events behind
/// gets `resync` and the end of the stream (its reconnect replays from the store).
struct Feed {
    store: Arc<dyn Store>,
    account: String,
    /// The highest event id sent.
    last: i64,
    /// Live events at or below this id were sent by the replay (or named by `Last-Event-ID`).
    /// Not `last`: with several nodes on one database a peer's change can arrive after a
    /// higher-numbered local one, and must still be sent.
    floor: i64,
    feed: broadcast::Receiver<Arc<ChangeBatch>>,
    phase: Phase,
    mode: Mode,
    pending: VecDeque<Bytes>,
    /// Changes a `Summary` stream has counted and not yet announced.
    unsent: usize,
}

impl Feed {
    /// This stream's part of one commit, as one chunk: when every change is this account's
    /// (the usual case) the chunk is rendered once, straight into one buffer, and shared by
    /// every such stream. A `Summary` stream only counts the changes (and returns none).
    fn take(&mut self, batch: &ChangeBatch) -> Option<Bytes> {
        let last = batch.changes.last()?.id;
        let first = batch.changes.first()?.id;
        // The usual batch is one account's: kept or skipped whole, with one comparison.
        let whole = match &batch.account {
            Some(a) if *a != self.account => return None,
            Some(_) => first > self.floor,
            None => false,
        };
        let mine = |c: &MessageChange| c.message.account_sid == self.account && c.id > self.floor;
        if self.mode == Mode::Summary {
            self.unsent += if whole { batch.changes.len() } else { batch.changes.iter().filter(|c| mine(c)).count() };
            self.last = self.last.max(last);
            return None;
        }
        let chunk = if whole {
            batch
                .rendered
                .get_or_init(|| {
                    let mut out = Vec::with_capacity(batch.changes.len() * 1024);
                    for c in &batch.changes {
                        write_message_event(&mut out, c);
                    }
                    out.into()
                })
                .clone()
        } else {
            let frames: Vec<Bytes> = batch.changes.iter().filter(|c| mine(c)).map(message_event).collect();
            if frames.is_empty() {
                return None;
            }
            frames.concat().into()
        };
        self.last = self.last.max(last);
        Some(chunk)
    }

    /// Takes the commits already waiting in the feed (no wait) into `pending`.
    fn drain_ready(&mut self) {
        loop {
            match self.feed.try_recv() {
                Ok(batch) => {
                    if let Some(chunk) = self.take(&batch) {
                        self.pending.push_back(chunk);
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    if self.mode == Mode::Summary {
                        // It re-reads its page anyway: count what it missed and carry on.
                        self.unsent += usize::try_from(n).unwrap_or(usize::MAX).max(1);
                        continue;
                    }
                    let resync = self.resync();
                    self.pending.push_back(resync);
                    return;
                }
                Err(_) => return,
            }
        }
    }

    /// The `changes` event of a `Summary` stream for what it counted since the last one.
    fn summary(&mut self) -> Option<Bytes> {
        if self.unsent == 0 {
            return None;
        }
        let n = std::mem::take(&mut self.unsent);
        Some(Bytes::from(format!("event: changes\nid: {}\ndata: {{\"changes\":{n}}}\n\n", self.last)))
    }

    /// The `resync` event of a stream that fell too far behind; the stream ends after it.
    fn resync(&mut self) -> Bytes {
        self.phase = Phase::Done;
        let data = serde_json::json!({ "last_event_id": self.last });
        Bytes::from(format!("event: resync\ndata: {data}\n\n"))
    }

    async fn next_event(&mut self) -> Option<Bytes> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            match self.phase {
                Phase::Done => return None,
                Phase::Replay => {
                    let page = match self.store.message_changes_after(&self.account, self.last, REPLAY_PAGE).await {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::error!(error = %e, "event stream replay failed");
                            return None;
                        }
                    };
                    if page.len() < REPLAY_PAGE {
                        self.phase = Phase::Live;
                    }
                    for c in &page {
                        self.pending.push_back(message_event(c));
                        self.last = c.id;
                    }
                    self.floor = self.last;
                }
                Phase::Live => match tokio::time::timeout(KEEP_ALIVE, self.feed.recv()).await {
                    // A comment now and then keeps proxies from closing an idle stream.
                    Err(_) => return Some(Bytes::from_static(b": keep-alive\n\n")),
                    Ok(Ok(batch)) => {
                        if let Some(chunk) = self.take(&batch) {
                            self.pending.push_back(chunk);
                        }
                        if !self.pending.is_empty() || self.unsent > 0 {
                            // Asleep, this stream is not woken by the commits that follow;
                            // it takes them all at once afterwards (shared `Bytes`, no copy:
                            // hyper writes the queued chunks together).
                            tokio::time::sleep(COALESCE).await;
                            self.drain_ready();
                            if let Some(summary) = self.summary() {
                                self.pending.push_back(summary);
                            }
                        }
                    }
                    Ok(Err(broadcast::error::RecvError::Lagged(n))) if self.mode == Mode::Summary => {
                        self.unsent += usize::try_from(n).unwrap_or(usize::MAX).max(1);
                        if let Some(summary) = self.summary() {
                            return Some(summary);
                        }
                    }
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => return Some(self.resync()),
                    Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                },
            }
        }
    }
}

/// GET /_switchboard/Accounts/{AccountSid}/Messages/Next.json: the first message matching the
/// filters (`To`, `From`, `Direction`, `Status`, `BodyContains`) created after `After`, or
/// without `After` the newest existing match; waits up to `Timeout` seconds for one, then 408.
pub async fn next(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    uri: Uri,
) -> ApiResult<Response> {
    let q = form::decode(uri.query().unwrap_or("").as_bytes());
    let get = |name: &str| form::last(&q, name).map(str::trim).filter(|v| !v.is_empty());
    let mut filter = NextFilter {
        to: get("To").map(|v| address::parse_to(v).map(|a| a.text).unwrap_or_else(|| v.to_string())),
        from: get("From").map(|v| address::parse_from(v).map(|a| a.text).unwrap_or_else(|| v.to_string())),
        body_contains: form::last(&q, "BodyContains").filter(|v| !v.is_empty()).map(str::to_string),
        ..NextFilter::default()
    };
    if let Some(d) = get("Direction") {
        filter.direction = Some(Direction::parse(d).ok_or_else(|| {
            TwilioError::invalid_parameter(format!(
                "Direction must be one of inbound, outbound-api, outbound-reply, outbound-call, got '{d}'"
            ))
        })?);
    }
    if let Some(s) = get("Status") {
        filter.status =
            Some(Status::parse(s).ok_or_else(|| TwilioError::invalid_parameter(format!("Unknown Status '{s}'")))?);
    }
    if let Some(after) = get("After") {
        if !(sid::is_valid(after, "SM") || sid::is_valid(after, "MM")) {
            return Err(TwilioError::invalid_parameter(format!("After must be a Message SID, got '{after}'")).into());
        }
        filter.after_key = Some(after[2..].to_string());
    }
    let timeout = match get("Timeout") {
        None => DEFAULT_WAIT_SECS,
        Some(t) => t
            .parse::<f64>()
            .ok()
            .filter(|t| t.is_finite() && *t >= 0.0)
            .ok_or_else(|| TwilioError::invalid_parameter(format!("Timeout must be a number of seconds, got '{t}'")))?
            .min(MAX_WAIT_SECS),
    };
    let found = wait_for(state.store.as_ref(), &account.sid, &filter, Duration::from_secs_f64(timeout)).await?;
    match found {
        Some(m) => Ok(Json(render::message(&m, true)).into_response()),
        None => Err(TwilioError::new(
            WAIT_TIMEOUT_CODE,
            StatusCode::REQUEST_TIMEOUT.as_u16(),
            format!("No message matching the filters arrived within {timeout} seconds"),
        )
        .into()),
    }
}

/// The wait: subscribe, look in the store, then sleep on the feed until a change of the
/// account matches or the deadline passes (no polling; a lagged feed means one more look).
async fn wait_for(
    store: &dyn Store,
    account: &str,
    filter: &NextFilter,
    timeout: Duration,
) -> anyhow::Result<Option<switchboard_domain::message::Message>> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut feed = store.subscribe_changes();
    if let Some(m) = store.next_message(account, filter).await? {
        return Ok(Some(m));
    }
    loop {
        let received = tokio::select! {
            r = feed.recv() => r,
            () = tokio::time::sleep_until(deadline) => return Ok(None),
        };
        match received {
            Ok(batch) => {
                if let Some(c) =
                    batch.changes.iter().find(|c| c.message.account_sid == account && filter.matches(&c.message))
                {
                    return Ok(Some(c.message.clone()));
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                if let Some(m) = store.next_message(account, filter).await? {
                    return Ok(Some(m));
                }
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_domain::message::Message;

    const ACCOUNT: &str = "AC00000000000000000000000000000001";

    fn change(id: i64) -> MessageChange {
        let sid = format!("SM{id:032x}");
        MessageChange::new(id, Message::builder(sid, ACCOUNT, "+14155552671", 1_700_000_000_000).body("hi").build())
    }

    fn batch(ids: &[i64]) -> ChangeBatch {
        ChangeBatch {
            changes: ids.iter().map(|&id| change(id)).collect(),
            account: Some(ACCOUNT.to_string()),
            rendered: std::sync::OnceLock::new(),
        }
    }

    async fn feed(last_event_id: Option<i64>) -> (Feed, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open(dir.path().join("t.db").to_str().unwrap()).await.unwrap();
        let feed = store.subscribe_changes();
        let f = Feed {
            store,
            account: ACCOUNT.to_string(),
            last: last_event_id.unwrap_or(0),
            floor: last_event_id.unwrap_or(0),
            feed,
            phase: Phase::Live,
            mode: Mode::Resources,
            pending: VecDeque::new(),
            unsent: 0,
        };
        (f, dir)
    }

    #[tokio::test]
    async fn a_peer_nodes_lower_numbered_change_arriving_late_is_still_sent() {
        let (mut f, _dir) = feed(None).await;
        assert!(f.take(&batch(&[10, 11])).is_some());
        // Node B committed event 7 before node A's 10 and 11, but its NOTIFY came later.
        let late = f.take(&batch(&[7])).expect("a peer's earlier-numbered change is sent");
        assert!(std::str::from_utf8(&late).unwrap().contains("id: 7\n"));
        assert_eq!(f.last, 11, "the highest id sent stays the stream's position");
    }

    #[tokio::test]
    async fn changes_named_by_last_event_id_are_not_sent_again() {
        let (mut f, _dir) = feed(Some(20)).await;
        assert!(f.take(&batch(&[19, 20])).is_none());
        let chunk = f.take(&batch(&[20, 21])).expect("21 is new");
        let text = std::str::from_utf8(&chunk).unwrap();
        assert!(text.contains("id: 21\n") && !text.contains("id: 20\n"));
    }
}

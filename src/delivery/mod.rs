//! Delivery: per-sender queues drained at each sender's rate, handing messages to a
//! [`Carrier`] and walking them through Twilio's lifecycle
//! (`queued → sending → sent → delivered | undelivered`, or `failed`).
//!
//! Every step is a compare-and-set [`Transition`] in the store, written with its status
//! callback in the same transaction, so a restart resumes each unfinished message from the
//! status it had ([`Dispatcher::resume`]) and no step applies twice.
//!
//! Queues are per sender (`From`): a slow sender never delays another one. A sender's rate
//! comes from the [`rates::RateTable`]; with no rate its messages go out as fast as the carrier
//! takes them.

pub mod carrier;
pub mod media;
pub mod pricing;
pub mod rates;
pub mod simulator;

use crate::store::senders::PoolKind;
use crate::store::{Applied, CallbackRow, Store, Transition};
use crate::webhooks::callbacks::{self, Callbacks};
use carrier::{Carrier, CarrierEvent, Submission, SubmitOutcome};
use pricing::PriceTable;
use rates::RateTable;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_domain::message::{num_segments, Message};
use switchboard_domain::routing::{select_sender, Candidate, CandidateKind};
use switchboard_domain::status::{Direction, Status};
use switchboard_domain::TwilioError;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Default `ValidityPeriod`, seconds.
const DEFAULT_VALIDITY_SECS: i64 = 36_000;
/// How long a receipt for a not-yet-recorded submission is retried.
const RECEIPT_PATIENCE: Duration = Duration::from_secs(10);

/// Delivery settings.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Sending rates.
    pub rates: RateTable,
    /// A sender's queue may hold at most this many seconds of segments at its rate (21611).
    pub queue_limit_secs: u64,
    /// Prices.
    pub prices: PriceTable,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig { rates: RateTable::default(), queue_limit_secs: 36_000, prices: PriceTable::default() }
    }
}

/// One sender's queue.
#[derive(Default)]
struct Lane {
    queue: VecDeque<Message>,
    queued_segments: u64,
    running: bool,
}

/// Collects the status changes that become due together into one store call: under load the
/// writer then commits hundreds of them as one job instead of one job each.
struct Batcher {
    tx: mpsc::UnboundedSender<(Transition, tokio::sync::oneshot::Sender<anyhow::Result<Applied>>)>,
}

impl Batcher {
    /// Most transitions per store call.
    const MAX: usize = 512;

    /// Applies changes in batches; the callbacks of applied changes are queued in commit order
    /// before anyone hears back, so one message's callbacks can never overtake each other.
    fn start(store: Arc<dyn Store>, callbacks: Callbacks) -> Batcher {
        type Pending = (Transition, tokio::sync::oneshot::Sender<anyhow::Result<Applied>>);
        let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
        tokio::spawn(async move {
            let mut batch: Vec<Pending> = Vec::with_capacity(Self::MAX);
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < Self::MAX {
                    match rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                let (transitions, replies): (Vec<Transition>, Vec<_>) = batch.drain(..).unzip();
                match store.apply_transitions(transitions.clone()).await {
                    Ok(applied) => {
                        for ((t, reply), a) in transitions.into_iter().zip(replies).zip(applied) {
                            if a.applied {
                                crate::metrics::status_changed(t.to);
                            }
                            if let (Some(id), Some(request)) = (a.callback_id, t.callback) {
                                callbacks.enqueue(CallbackRow {
                                    id,
                                    key: t.key,
                                    request,
                                    attempts: 0,
                                    created_at: t.at_ms,
                                });
                            }
                            let _ = reply.send(Ok(a));
                        }
                    }
                    Err(e) => {
                        let e = std::sync::Arc::new(e);
                        for reply in replies {
                            let _ = reply.send(Err(anyhow::anyhow!("{e:#}")));
                        }
                    }
                }
            }
        });
        Batcher { tx }
    }

    async fn apply(&self, t: Transition) -> anyhow::Result<Applied> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx.send((t, tx)).map_err(|_| anyhow::anyhow!("transition batcher stopped"))?;
        rx.await.map_err(|_| anyhow::anyhow!("transition batcher dropped a change"))?
    }
}

/// Most accepted messages remembered while awaiting their receipt (beyond it, receipts look
/// the message up in the store).
const MAX_AWAITING_RECEIPT: usize = 200_000;

struct Inner {
    /// Status changes, batched.
    batcher: Batcher,
    /// Messages accepted by the carrier, by carrier id, until their receipt arrives.
    awaiting_receipt: Mutex<HashMap<String, Message>>,
    /// Round-robin counter for spreading messages across a pool.
    spread: std::sync::atomic::AtomicUsize,
    store: Arc<dyn Store>,
    carrier: Arc<dyn Carrier>,
    callbacks: Callbacks,
    config: DeliveryConfig,
    lanes: Mutex<HashMap<String, Lane>>,
    /// Fetches and stores MMS media before submission.
    media: media::MediaFetcher,
}

/// Hands messages to delivery. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl Dispatcher {
    /// Starts delivery; `events` is the channel the carrier reports receipts on.
    pub fn start(
        store: Arc<dyn Store>,
        carrier: Arc<dyn Carrier>,
        callbacks: Callbacks,
        config: DeliveryConfig,
        media: media::MediaFetcher,
        mut events: mpsc::UnboundedReceiver<CarrierEvent>,
    ) -> Dispatcher {
        let inner = Arc::new(Inner {
            batcher: Batcher::start(store.clone(), callbacks.clone()),
            awaiting_receipt: Mutex::new(HashMap::new()),
            spread: std::sync::atomic::AtomicUsize::new(0),
            store,
            carrier,
            callbacks,
            config,
            lanes: Mutex::new(HashMap::new()),
            media,
        });
        let for_events = inner.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                tokio::spawn(on_carrier_event(for_events.clone(), event));
            }
        });
        Dispatcher { inner }
    }

    /// 21611 when `from`'s queue already holds more than `queue_limit_secs` of segments at
    /// its rate. Unlimited senders never overflow.
    pub fn check_capacity(&self, from: &str, segments: u32) -> Result<(), TwilioError> {
        let Some(rate) = self.inner.config.rates.rate_for(from) else { return Ok(()) };
        let limit = rate * self.inner.config.queue_limit_secs as f64;
        let queued = self.inner.lanes.lock().map_or(0, |l| l.get(from).map_or(0, |lane| lane.queued_segments));
        if (queued + u64::from(segments)) as f64 > limit {
            return Err(TwilioError::queue_full(from));
        }
        Ok(())
    }

    /// Segments waiting per sender (for metrics).
    pub fn queue_depths(&self) -> Vec<(String, u64)> {
        self.inner
            .lanes
            .lock()
            .map_or_else(|_| Vec::new(), |l| l.iter().map(|(k, lane)| (k.clone(), lane.queued_segments)).collect())
    }

    /// Takes over a stored message at whatever point of the lifecycle it is.
    pub fn submit(&self, message: Message) {
        if message.direction == Direction::Inbound {
            return;
        }
        match message.status {
            Status::Queued => self.enqueue(message),
            Status::Accepted => {
                tokio::spawn(assign_sender(self.clone(), message));
            }
            Status::Scheduled => {
                let this = self.clone();
                tokio::spawn(async move {
                    let wait = message.options.send_at.unwrap_or(0) - crate::clock::now_ms();
                    if wait > 0 {
                        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
                    }
                    assign_sender(this, message).await;
                });
            }
            // Interrupted between "sending" and the carrier's answer: hand it over again.
            Status::Sending => {
                tokio::spawn(hand_to_carrier(self.inner.clone(), message));
            }
            Status::Sent => {
                tokio::spawn(recover_sent(self.inner.clone(), message));
            }
            _ => {}
        }
    }

    fn enqueue(&self, message: Message) {
        let sender = message.from.clone().unwrap_or_default();
        let segments = u64::from(message.num_segments.max(1));
        let start = {
            let Ok(mut lanes) = self.inner.lanes.lock() else { return };
            let lane = lanes.entry(sender.clone()).or_default();
            lane.queue.push_back(message);
            lane.queued_segments += segments;
            !std::mem::replace(&mut lane.running, true)
        };
        if start {
            tokio::spawn(run_lane(self.inner.clone(), sender));
        }
    }

    /// Resubmits every unfinished outbound message and every unsent callback (after a restart).
    pub async fn resume(&self) -> anyhow::Result<(usize, usize)> {
        let pending = self.inner.store.unfinished_outbound().await?;
        let n = pending.len();
        for m in pending {
            self.submit(m);
        }
        let callbacks = self.inner.store.pending_callbacks().await?;
        let c = callbacks.len();
        for cb in callbacks {
            self.inner.callbacks.enqueue(cb);
        }
        Ok((n, c))
    }
}

/// A Messaging Service message (`accepted`, or `scheduled` once its time came): choose its
/// sender, then queue it like any other message.
async fn assign_sender(dispatcher: Dispatcher, mut m: Message) {
    let inner = &dispatcher.inner;
    let now = crate::clock::now_ms();
    let fail = |code: u32, text: &str| {
        let mut t = Transition::new(m.key(), m.status, Status::Failed, now);
        t.error = Some((code, text.to_string()));
        t
    };
    let Some(mss) = m.messaging_service_sid.clone() else { return };
    let service = match inner.store.service(&m.account_sid, &mss).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            let t = fail(21701, "The Messaging Service does not exist");
            transition(inner, &m, t, None).await;
            return;
        }
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), message = %m.sid, "sender selection postponed");
            return;
        }
    };
    let to_bare = m.to.rsplit(':').next().unwrap_or(&m.to).to_string();
    // A sticky sender that left the pool may be replaced.
    let mut stale_sticky = None;
    let sender = match &m.options.requested_from {
        Some(f) => Some(f.rsplit(':').next().unwrap_or(f).to_string()),
        None => {
            let pool = inner.store.pool(&mss).await.unwrap_or_default();
            let sticky = if service.sticky_sender {
                inner.store.sticky_sender(&mss, &to_bare).await.ok().flatten()
            } else {
                None
            };
            if let Some(s) = &sticky {
                if !pool.iter().any(|p| &p.address == s) {
                    stale_sticky = Some(s.clone());
                }
            }
            let candidates: Vec<Candidate<'_>> = pool
                .iter()
                .map(|p| Candidate {
                    address: &p.address,
                    kind: match p.kind {
                        PoolKind::PhoneNumber => CandidateKind::Phone,
                        PoolKind::ShortCode => CandidateKind::ShortCode,
                        PoolKind::AlphaSender => CandidateKind::Alpha,
                    },
                    country: p.country_code.as_deref(),
                })
                .collect();
            let spread = inner.spread.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            select_sender(&candidates, &m.to, sticky.as_deref(), service.area_code_geomatch, spread)
                .map(|i| pool[i].address.clone())
        }
    };
    let Some(sender) = sender else {
        let t = fail(21704, "No sender in the Messaging Service's pool can reach this recipient");
        transition(inner, &m, t, None).await;
        return;
    };
    match inner.store.opted_out(&m.account_sid, vec![sender.clone(), mss.clone()], &to_bare).await {
        Ok(true) => {
            let t = fail(21610, "Attempt to send to unsubscribed recipient");
            transition(inner, &m, t, None).await;
            return;
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "opt-out check failed; sending anyway"),
    }
    // Concurrent sends to one recipient race here: the first claim wins and every other send
    // adopts its sender.
    let sender = if service.sticky_sender && m.options.requested_from.is_none() {
        match inner.store.claim_sticky_sender(&mss, &to_bare, &sender, stale_sticky.as_deref()).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "sticky sender not stored");
                sender
            }
        }
    } else {
        sender
    };
    // A channel recipient is reached from the same channel of the chosen number.
    let from = match m.to.split_once(':') {
        Some((channel, _)) if sender.starts_with('+') => format!("{channel}:{sender}"),
        _ => sender,
    };
    let segments = num_segments(&m.to, &m.body, m.num_media > 0 || m.options.send_as_mms == Some(true));
    let mut t = Transition::new(m.key(), m.status, Status::Queued, crate::clock::now_ms());
    t.from_addr = Some(from.clone());
    t.num_segments = Some(segments);
    m.from = Some(from);
    m.num_segments = segments;
    if transition(inner, &m, t, None).await {
        m.status = Status::Queued;
        dispatcher.enqueue(m);
    }
}

/// Cancels a scheduled message, with its `canceled` callback; false when it is no longer
/// scheduled.
pub async fn cancel(dispatcher: &Dispatcher, m: &Message) -> bool {
    let t = Transition::new(m.key(), Status::Scheduled, Status::Canceled, crate::clock::now_ms());
    transition(&dispatcher.inner, m, t, None).await
}

/// Drains one sender's queue at its rate; ends when the queue is empty.
async fn run_lane(inner: Arc<Inner>, sender: String) {
    let rate = inner.config.rates.rate_for(&sender);
    let mut next_at = Instant::now();
    loop {
        if rate.is_some() {
            tokio::time::sleep_until(next_at).await;
        }
        let message = {
            let Ok(mut lanes) = inner.lanes.lock() else { return };
            let Some(lane) = lanes.get_mut(&sender) else { return };
            match lane.queue.pop_front() {
                Some(m) => {
                    lane.queued_segments = lane.queued_segments.saturating_sub(u64::from(m.num_segments.max(1)));
                    m
                }
                None => {
                    lanes.remove(&sender);
                    return;
                }
            }
        };
        if let Some(mps) = rate {
            let cost = Duration::from_secs_f64(f64::from(message.num_segments.max(1)) / mps);
            next_at = next_at.max(Instant::now()) + cost;
        }
        tokio::spawn(send_one(inner.clone(), message));
    }
}

/// Takes a queued message out: expires it, or marks it sending and submits it.
async fn send_one(inner: Arc<Inner>, message: Message) {
    let now = crate::clock::now_ms();
    let validity_secs = message.options.validity_period.map_or(DEFAULT_VALIDITY_SECS, i64::from);
    // A scheduled message's validity runs from its send time, not its creation.
    let queued_since = message.date_created.max(message.options.send_at.unwrap_or(0));
    if now > queued_since + validity_secs * 1000 {
        let mut t = Transition::new(message.key(), Status::Queued, Status::Failed, now);
        t.error = Some((30036, error_text(30036).to_string()));
        transition(&inner, &message, t, None).await;
        return;
    }
    let t = Transition::new(message.key(), Status::Queued, Status::Sending, now);
    if transition(&inner, &message, t, None).await {
        hand_to_carrier(inner, message).await;
    }
}

/// WhatsApp's customer-service window: a freeform message (no template) may only go to a user
/// who wrote to the account within the last 24 hours.
const WHATSAPP_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// Submits a `sending` message to the carrier and records its answer.
async fn hand_to_carrier(inner: Arc<Inner>, message: Message) {
    let mut message = message;
    let mut fallback = false;
    if message.to.starts_with("rcs:") && !inner.carrier.rcs_capable(&message.account_sid, &message.to) {
        match sms_fallback(&inner, &message).await {
            Some(sms) => {
                let detail = format!(
                    "{} does not take RCS: sent by SMS to {} from {}",
                    message.to,
                    sms.to,
                    sms.from.as_deref().unwrap_or("")
                );
                let _ = inner
                    .store
                    .add_message_note(message.key(), crate::clock::now_ms(), Status::Sending, None, detail)
                    .await;
                message = sms;
                fallback = true;
            }
            None => {
                let mut t = Transition::new(message.key(), Status::Sending, Status::Failed, crate::clock::now_ms());
                t.error = Some((21612, "The recipient does not take RCS and no SMS sender can reach it".to_string()));
                transition(&inner, &message, t, None).await;
                return;
            }
        }
    }
    if message.to.starts_with("whatsapp:") && message.options.content_sid.is_none() {
        let since = crate::clock::now_ms() - WHATSAPP_WINDOW_MS;
        let in_window = inner.store.has_inbound_since(&message.account_sid, &message.to, since).await.unwrap_or(true);
        if !in_window {
            let mut t = Transition::new(message.key(), Status::Sending, Status::Failed, crate::clock::now_ms());
            t.error = Some((63016, error_text(63016).to_string()));
            transition(&inner, &message, t, None).await;
            return;
        }
    }
    let mut drop_body = false;
    if !message.options.media_urls.is_empty() {
        match inner.media.ensure_stored(inner.store.as_ref(), &message).await {
            Err((code, text)) => {
                tracing::info!(message = %message.sid, code, %text, "media fetch failed");
                let mut t = Transition::new(message.key(), Status::Sending, Status::Failed, crate::clock::now_ms());
                t.error = Some((code, text));
                transition(&inner, &message, t, None).await;
                return;
            }
            Ok(stored) => {
                let uncaptioned = stored.iter().find(|m| !whatsapp_caption_allowed(&m.content_type));
                if let (true, Some(media), false) =
                    (message.to.starts_with("whatsapp:"), uncaptioned, message.body.is_empty())
                {
                    drop_body = true;
                    let detail = format!("body dropped: WhatsApp shows no text with {} media", media.content_type);
                    let _ = inner
                        .store
                        .add_message_note(message.key(), crate::clock::now_ms(), Status::Sending, None, detail)
                        .await;
                }
            }
        }
    }
    let mut submission = submission_of(&message);
    if drop_body {
        submission.body.clear();
    }
    let mut backoff = Duration::from_millis(200);
    let outcome = loop {
        match inner.carrier.submit(&submission).await {
            Ok(outcome) => break outcome,
            Err(e) => {
                tracing::warn!(message = %message.sid, error = %e, "carrier unavailable; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    };
    let now = crate::clock::now_ms();
    let t = match outcome {
        SubmitOutcome::Accepted { carrier_id } => {
            if let Ok(mut waiting) = inner.awaiting_receipt.lock() {
                if waiting.len() < MAX_AWAITING_RECEIPT {
                    let sent =
                        Message { status: Status::Sent, carrier_id: Some(carrier_id.clone()), ..message.clone() };
                    waiting.insert(carrier_id.clone(), sent);
                }
            }
            let mut t = Transition::new(message.key(), Status::Sending, Status::Sent, now);
            if fallback {
                t.to_addr = Some(message.to.clone());
                t.from_addr = message.from.clone();
                t.num_segments = Some(message.num_segments);
            }
            if drop_body {
                t.body = Some(String::new());
            }
            t.date_sent = Some(now);
            t.price = Some(inner.config.prices.price(&message.to, message.num_segments));
            t.carrier_id = Some(carrier_id);
            t
        }
        SubmitOutcome::Rejected { code } => {
            let mut t = Transition::new(message.key(), Status::Sending, Status::Failed, now);
            t.error = Some((code, error_text(code).to_string()));
            t
        }
    };
    transition(&inner, &message, t, None).await;
}

/// The SMS form of an RCS message whose recipient's device does not take RCS: the bare phone
/// number, from an SMS sender of its Messaging Service (or the phone number behind an
/// `rcs:+1…` sender). `None` when no SMS sender can reach the recipient.
async fn sms_fallback(inner: &Inner, m: &Message) -> Option<Message> {
    let to = m.to.strip_prefix("rcs:")?;
    switchboard_domain::address::parse_phone(to)?;
    let from = match &m.messaging_service_sid {
        Some(mss) => {
            let pool = inner.store.pool(mss).await.ok()?;
            let candidates: Vec<Candidate<'_>> = pool
                .iter()
                .map(|p| Candidate {
                    address: &p.address,
                    kind: match p.kind {
                        PoolKind::PhoneNumber => CandidateKind::Phone,
                        PoolKind::ShortCode => CandidateKind::ShortCode,
                        PoolKind::AlphaSender => CandidateKind::Alpha,
                    },
                    country: p.country_code.as_deref(),
                })
                .collect();
            let spread = inner.spread.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let i = select_sender(&candidates, to, None, true, spread)?;
            pool[i].address.clone()
        }
        None => {
            let sender = m.from.as_deref()?.strip_prefix("rcs:")?;
            switchboard_domain::address::parse_phone(sender)?
        }
    };
    let segments = num_segments(to, &m.body, m.num_media > 0);
    Some(Message { to: to.to_string(), from: Some(from), num_segments: segments, ..m.clone() })
}

/// WhatsApp shows a message's text with images and video only: Twilio's accepted-types table
/// lists JPEG and PNG images as combinable with text on WhatsApp, and documents (PDF, vCard, …)
/// and audio carry no caption there, so their message goes without its body.
fn whatsapp_caption_allowed(content_type: &str) -> bool {
    let t = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(t.as_str(), "image/jpeg" | "image/jpg" | "image/png") || t.starts_with("video/")
}

/// After a restart, a `sent` message waits for its receipt: let the carrier replay it.
async fn recover_sent(inner: Arc<Inner>, message: Message) {
    if let Some(carrier_id) = &message.carrier_id {
        inner.carrier.recover(carrier_id, &submission_of(&message)).await;
    }
}

fn submission_of(m: &Message) -> Submission {
    Submission {
        key: m.key().to_string(),
        account_sid: m.account_sid.clone(),
        from: m.from.clone().unwrap_or_default(),
        to: m.to.clone(),
        body: m.body.clone(),
        media_urls: m.options.media_urls.clone(),
        segments: m.num_segments,
    }
}

/// Applies a delivery receipt to the message it names.
async fn on_carrier_event(inner: Arc<Inner>, event: CarrierEvent) {
    let (carrier_id, result, done_at_ms) = match event {
        CarrierEvent::Receipt { carrier_id, result, done_at_ms } => (carrier_id, result, done_at_ms),
        CarrierEvent::Read { carrier_id } => return on_read(inner, carrier_id).await,
    };
    let started = Instant::now();
    loop {
        // The message is usually still in memory; after a restart it is read from the store.
        let remembered = inner.awaiting_receipt.lock().ok().and_then(|w| w.get(&carrier_id).cloned());
        let message = match remembered {
            Some(m) => Some(m),
            None => inner.store.message_by_carrier_id(&carrier_id).await.ok().flatten(),
        };
        match message {
            Some(m) if m.status.is_final() => break, // a duplicate receipt
            Some(m) if m.status == Status::Sent => {
                let now = crate::clock::now_ms();
                let t = match result {
                    Ok(()) => Transition::new(m.key(), Status::Sent, Status::Delivered, now),
                    Err(code) => {
                        let mut t = Transition::new(m.key(), Status::Sent, Status::Undelivered, now);
                        t.error = Some((code, error_text(code).to_string()));
                        t
                    }
                };
                if transition(&inner, &m, t, Some(done_at_ms)).await {
                    break;
                }
            }
            _ => {}
        }
        // The receipt can overtake the recording of the submission: wait for it.
        if started.elapsed() > RECEIPT_PATIENCE {
            tracing::warn!(carrier_id, "receipt for an unknown or unsent message dropped");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Ok(mut waiting) = inner.awaiting_receipt.lock() {
        waiting.remove(&carrier_id);
    }
}

/// A read receipt moves a delivered message to `read` (with an `EventType=READ` callback).
async fn on_read(inner: Arc<Inner>, carrier_id: String) {
    let started = Instant::now();
    loop {
        if let Ok(Some(m)) = inner.store.message_by_carrier_id(&carrier_id).await {
            if m.status == Status::Delivered {
                let t = Transition::new(m.key(), Status::Delivered, Status::Read, crate::clock::now_ms());
                if transition(&inner, &m, t, None).await {
                    return;
                }
            }
            if m.status == Status::Read {
                return;
            }
        }
        if started.elapsed() > RECEIPT_PATIENCE {
            tracing::warn!(carrier_id, "read receipt for an undelivered message dropped");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Applies one transition with its status callback; true if it applied. Store errors are
/// retried: a status change must not be lost.
async fn transition(inner: &Inner, m: &Message, mut t: Transition, raw_dlr_done_ms: Option<i64>) -> bool {
    t.callback = callbacks::status_callback(m, t.to, t.error.as_ref().map(|e| e.0), raw_dlr_done_ms);
    if t.to.is_final() {
        // Privacy options take effect once nothing more will happen to the message.
        if m.options.content_retention.as_deref() == Some("discard") {
            t.body = Some(String::new());
        }
        if m.options.address_retention.as_deref() == Some("obfuscate") {
            t.to_addr = Some(switchboard_domain::address::obfuscate(&m.to));
            let from = t.from_addr.clone().or_else(|| m.from.clone());
            t.from_addr = from.map(|f| switchboard_domain::address::obfuscate(&f));
        }
    }
    let mut delay = Duration::from_millis(100);
    loop {
        match inner.batcher.apply(t.clone()).await {
            Ok(a) => return a.applied,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), message = %m.sid, "status change not stored; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Twilio's short description of a delivery error code.
pub fn error_text(code: u32) -> &'static str {
    match code {
        30001 => "Queue overflow",
        30002 => "Account suspended",
        30003 => "Unreachable destination handset",
        30004 => "Message blocked",
        30005 => "Unknown destination handset",
        30006 => "Landline or unreachable carrier",
        30007 => "Message filtered",
        30008 => "Unknown error",
        30036 => "Validity period expired",
        63016 => "Failed to send freeform message because you are outside the allowed window. Please use a Template.",
        _ => "Unknown error",
    }
}

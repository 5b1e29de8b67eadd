//! SMPP 3.4 carrier connectors (ESME side): Switchboard's messages go to an operator's SMSC as
//! `submit_sm`, its `deliver_sm` come back as delivery receipts and inbound messages.
//!
//! A [`Connector`] is one SMSC account: `sessions` sessions, each a transceiver bind or a
//! transmitter + receiver pair. It implements the delivery layer's [`Carrier`]: `submit` splits
//! the body where Switchboard counts segments and sends one `submit_sm` per segment through
//! the next bound session's window of outstanding requests and a connector-wide
//! segments-per-second pace; the SMSC's answers become `sent` / `failed`, its receipts (on any
//! session) [`CarrierEvent::Receipt`]s. A supervisor task per bind keeps it up: connect, bind,
//! read, and on any loss reconnect with exponential backoff and jitter; nothing waits for it
//! at start-up, and while no session is bound `submit` answers "unavailable" so messages wait
//! in their queue.
//!
//! [`Routing`] puts connectors and the simulator behind one carrier: an SMS goes to the bound
//! connectors of the lowest priority that route it, shared by weight (smooth weighted
//! round-robin); channel addresses (`whatsapp:`, `rcs:` …) stay with the simulator.
//!
//! By job: `settings` parses `--smpp` URLs and `[[smpp]]` tables, `wire` turns addresses and
//! bodies into PDU fields and back, `receipts` maps SMSC answers to Twilio statuses and codes,
//! `reassembly` puts concatenated inbound messages back together (their parts in the store).

mod reassembly;
pub mod receipts;
pub mod settings;
pub mod wire;

use crate::backoff::Backoff;
use crate::delivery::carrier::{Carrier, CarrierEvent, CarrierUnavailable, Submission, SubmitOutcome};
use crate::delivery::simulator::Simulator;
use crate::store::smpp::{InboundKey, SegmentTally};
use crate::store::Store;
use async_trait::async_trait;
use futures_util::StreamExt;
use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
use receipts::{Receipt, SubmitError, Verdict};
use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter, DeliverSm, DeliverSmResp, SubmitSm};
use rusmpp::tlvs::{MessageSubmissionRequestTlvValue, TlvValue};
use rusmpp::types::{AnyOctetString, COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, InterfaceVersion, MessagePayload, Npi, RegisteredDelivery, ServiceType, Ton,
};
use rusmpp::{CommandId, CommandStatus, Pdu};
use rusmppc::{Client, ConnectionBuilder, Event};
pub use settings::{BindMode, DlrIdMode, SmppSettings};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

/// How long `submit` waits for a bind before answering "unavailable" (the message then waits
/// in its queue and is tried again).
const WAIT_FOR_BIND: Duration = Duration::from_secs(2);
/// How long a receipt whose `submit_sm_resp` has not been handled yet is held.
const RECEIPT_HOLD: Duration = Duration::from_secs(5);
/// Throttling answers to one segment before the message fails with 30001.
const MAX_THROTTLED: u32 = 20;
/// Submissions of one message left unanswered before it fails with 30008.
const MAX_TIMEOUTS: u32 = 2;
/// Most segment ids remembered while awaiting their receipt (beyond it, receipts go to the
/// store: the segments of multipart messages, then the messages' carrier ids).
const MAX_TRACKED: usize = 500_000;
/// How long the segments of a multipart message wait for their receipts in the store.
const SEGMENTS_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long an inbound message may take to be stored before the SMSC is told to retry.
const MO_STORE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bind failures with these statuses (bad system id, password, system type, or bind refused)
/// are not retried quickly: hammering a carrier with wrong credentials gets accounts locked.
const AUTH_STATUSES: [u32; 4] = [0x0D, 0x0E, 0x0F, 0x53];
const AUTH_RETRY: Duration = Duration::from_secs(300);

/// An SMS that arrived from an SMSC, for the server to store and process like one posted to
/// `/_switchboard/…/Inbound.json`. `stored` is answered once it is (or cannot be) stored: the
/// `deliver_sm_resp` waits for it.
#[derive(Debug)]
pub struct MobileOriginated {
    /// The connector it came through.
    pub connector: String,
    /// Sender (`+digits`, or alphanumeric).
    pub from: String,
    /// The account's number it was sent to.
    pub to: String,
    /// Text.
    pub body: String,
    /// 30009 when parts of a concatenated message never came (the body has those that did).
    pub error_code: Option<u32>,
    /// Where to answer.
    pub stored: oneshot::Sender<MoOutcome>,
}

/// What became of a [`MobileOriginated`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoOutcome {
    /// Stored: acknowledged with `ESME_ROK`.
    Stored,
    /// No account has the number: acknowledged (so the SMSC does not redeliver) and dropped.
    Unknown,
    /// Could not be stored now: `ESME_RX_T_APPN`, so the SMSC delivers it again later.
    Retry,
}

/// What a receipt for one segment id settles.
#[derive(Debug, Clone)]
struct Tracked {
    /// The message's carrier id (its first segment's key).
    carrier_id: String,
    /// One of several segments: the store tallies their receipts.
    multipart: bool,
    /// When its `submit_sm_resp` came (the receipt latency metric's start).
    accepted: Instant,
}

/// What one bind of a session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Transceiver,
    Transmitter,
    Receiver,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Transceiver => "trx",
            Role::Transmitter => "tx",
            Role::Receiver => "rx",
        }
    }
}

/// One session to the SMSC: a transceiver bind, or a transmitter and a receiver bind.
struct Session {
    /// The bound client that takes submits (transceiver or transmitter), when there is one.
    link: watch::Sender<Option<Client>>,
    /// The receiver bind's client (transmitter + receiver mode), kept to unbind it at shutdown.
    receiver: watch::Sender<Option<Client>>,
    /// This session's outstanding `submit_sm`.
    window: Semaphore,
    /// What each bind is doing ([`BIND_STATES`]): the submitting one (transceiver or
    /// transmitter), then the receiver.
    states: [AtomicU8; 2],
}

/// A bind's states, as `GET /_switchboard/Connectors.json` shows them.
const BIND_STATES: [&str; 5] = ["connecting", "bound", "backing_off", "auth_failed", "stopped"];
const CONNECTING: u8 = 0;
const BOUND: u8 = 1;
const BACKING_OFF: u8 = 2;
const AUTH_FAILED: u8 = 3;
const STOPPED: u8 = 4;

/// One connector: supervised sessions to one SMSC account.
pub struct Connector {
    settings: SmppSettings,
    sessions: Vec<Session>,
    /// How many sessions can take submits now.
    bound: watch::Sender<usize>,
    /// Where the round-robin over sessions starts next.
    next_session: AtomicUsize,
    /// When the next `submit_sm` may go (the `mps` pace and throttling pauses).
    next_slot: tokio::sync::Mutex<Instant>,
    /// Segment key → message, until its receipt.
    tracked: Mutex<HashMap<String, Tracked>>,
    events: mpsc::UnboundedSender<CarrierEvent>,
    inbound: mpsc::Sender<MobileOriginated>,
    /// Where multipart messages' segments wait for their receipts (across restarts).
    store: Arc<dyn Store>,
    /// Concatenation reference of the next multipart message.
    reference: AtomicU16,
    /// Messages between their first `submit_sm` and the recording of every segment's id: only
    /// while there are any can a receipt be early.
    in_flight: AtomicUsize,
    /// Messages (by key) whose last submission got no response in time.
    timed_out: Mutex<HashMap<String, u32>>,
    /// Shutting down: no new submissions, no reconnection.
    stopping: AtomicBool,
    /// The series every message touches, looked up once.
    metrics: Metrics,
}

/// `result` labels of `switchboard_smpp_submits_total`.
const SUBMIT_RESULTS: [&str; 5] = ["ok", "rejected", "timeout", "error", "throttled"];
/// `state` labels of `switchboard_smpp_receipts_total`.
const RECEIPT_STATES: [&str; 4] = ["intermediate", "delivered", "undelivered", "unmatched"];

/// A connector's per-message series, each looked up on first use and kept: `counter!` with
/// labels otherwise allocates the connector's name and finds the series on every call, several
/// times per message. (First use, not start: an unused series stays out of `/metrics`.)
#[derive(Default)]
struct Metrics {
    window_in_use: OnceLock<Gauge>,
    submit_seconds: OnceLock<Histogram>,
    receipt_seconds: OnceLock<Histogram>,
    submits: [OnceLock<Counter>; SUBMIT_RESULTS.len()],
    receipts: [OnceLock<Counter>; RECEIPT_STATES.len()],
}

enum SegmentError {
    Unavailable(String),
    /// No response within `response_timeout_secs`: the SMSC may or may not have the segment.
    TimedOut(String),
    Rejected(u32),
}

impl Connector {
    /// Starts a connector: it binds (and re-binds) in the background; receipts go to `events`,
    /// inbound messages to `inbound`; `store` keeps multipart messages' segment ids.
    pub fn start(
        settings: SmppSettings,
        events: mpsc::UnboundedSender<CarrierEvent>,
        inbound: mpsc::Sender<MobileOriginated>,
        store: Arc<dyn Store>,
    ) -> Arc<Connector> {
        let sessions = (0..settings.sessions)
            .map(|_| Session {
                link: watch::Sender::new(None),
                receiver: watch::Sender::new(None),
                window: Semaphore::new(settings.window),
                states: [AtomicU8::new(CONNECTING), AtomicU8::new(CONNECTING)],
            })
            .collect();
        let roles: &[Role] = match settings.bind {
            BindMode::Transceiver => &[Role::Transceiver],
            BindMode::TransmitterReceiver => &[Role::Transmitter, Role::Receiver],
        };
        let connector = Arc::new(Connector {
            sessions,
            bound: watch::Sender::new(0),
            next_session: AtomicUsize::new(0),
            next_slot: tokio::sync::Mutex::new(Instant::now()),
            tracked: Mutex::new(HashMap::new()),
            events,
            inbound,
            store,
            reference: AtomicU16::new(rand::random()),
            timed_out: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            metrics: Metrics::default(),
            settings,
        });
        gauge!("switchboard_smpp_bound", "connector" => connector.name()).set(0.0);
        connector.window_gauge().set(0.0);
        for session in 0..connector.sessions.len() {
            for &role in roles {
                tokio::spawn(connector.clone().supervise(session, role));
            }
        }
        tokio::spawn(connector.clone().sweep_incomplete());
        connector
    }

    /// Hands on concatenated inbound messages whose missing parts never came (30009); now and
    /// then forgets segments whose receipts never came.
    async fn sweep_incomplete(self: Arc<Self>) {
        let patience = Duration::from_secs(self.settings.parts_timeout_secs);
        let mut pruned: Option<Instant> = None;
        loop {
            tokio::time::sleep(reassembly::sweep_every(patience)).await;
            if self.stopping.load(Ordering::Acquire) {
                return;
            }
            if pruned.is_none_or(|at| at.elapsed() > Duration::from_secs(3600)) {
                pruned = Some(Instant::now());
                let before = crate::clock::now_ms() - SEGMENTS_KEPT.as_millis() as i64;
                if let Err(e) = self.store.prune_segments(before).await {
                    tracing::warn!(connector = %self.settings.name, error = %format!("{e:#}"), "old segments not pruned");
                }
            }
            let before = crate::clock::now_ms() - patience.as_millis() as i64;
            let stale = match self.store.stale_inbound(&self.settings.name, before).await {
                Ok(stale) => stale,
                Err(e) => {
                    tracing::warn!(connector = %self.settings.name, error = %format!("{e:#}"), "inbound parts not read");
                    continue;
                }
            };
            for (key, parts) in stale {
                let (body, missing) = reassembly::whole(&key, &parts);
                let error_code = missing.then_some(reassembly::MISSING_SEGMENT);
                tracing::warn!(connector = %self.settings.name, from = %key.from, parts = parts.len(), total = key.total, "inbound message incomplete; handed on with the parts that came");
                let outcome = self.hand_on(key.from.clone(), key.to.clone(), body, error_code).await;
                // Not stored now: tried again at the next sweep.
                if outcome != MoOutcome::Retry {
                    self.forget_parts(&key).await;
                }
            }
        }
    }

    async fn forget_parts(&self, key: &InboundKey) {
        if let Err(e) = self.store.forget_inbound(key).await {
            tracing::warn!(connector = %self.settings.name, error = %format!("{e:#}"), "handed-on inbound parts not forgotten");
        }
    }

    /// The connector's name.
    pub fn name(&self) -> String {
        self.settings.name.clone()
    }

    fn window_gauge(&self) -> &Gauge {
        self.metrics.window_in_use.get_or_init(|| gauge!("switchboard_smpp_window_in_use", "connector" => self.name()))
    }

    /// `switchboard_smpp_submits_total` for one of [`SUBMIT_RESULTS`].
    fn count_submit(&self, result: &'static str) {
        debug_assert!(SUBMIT_RESULTS.contains(&result), "unknown label {result}");
        let i = SUBMIT_RESULTS.iter().position(|r| *r == result).unwrap_or(SUBMIT_RESULTS.len() - 1);
        self.metrics.submits[i]
            .get_or_init(|| counter!("switchboard_smpp_submits_total", "connector" => self.name(), "result" => result))
            .increment(1);
    }

    /// `switchboard_smpp_receipts_total` for one of [`RECEIPT_STATES`].
    fn count_receipt(&self, state: &'static str) {
        debug_assert!(RECEIPT_STATES.contains(&state), "unknown label {state}");
        let i = RECEIPT_STATES.iter().position(|r| *r == state).unwrap_or(RECEIPT_STATES.len() - 1);
        self.metrics.receipts[i]
            .get_or_init(|| counter!("switchboard_smpp_receipts_total", "connector" => self.name(), "state" => state))
            .increment(1);
    }

    /// Whether a session can take submits now.
    pub fn is_bound(&self) -> bool {
        *self.bound.borrow() > 0
    }

    /// The connector's failover tier (lower first).
    pub fn priority(&self) -> u32 {
        self.settings.priority
    }

    /// Its settings and what its sessions are doing now (no password).
    pub fn status(&self) -> ConnectorStatus {
        let s = &self.settings;
        let roles: &[Role] = match s.bind {
            BindMode::Transceiver => &[Role::Transceiver],
            BindMode::TransmitterReceiver => &[Role::Transmitter, Role::Receiver],
        };
        let sessions = self
            .sessions
            .iter()
            .enumerate()
            .map(|(i, session)| SessionStatus {
                session: i + 1,
                binds: roles
                    .iter()
                    .map(|&role| {
                        let state = session.states[usize::from(role == Role::Receiver)].load(Ordering::Relaxed);
                        BindStatus {
                            bind: role.as_str(),
                            state: BIND_STATES.get(usize::from(state)).copied().unwrap_or("connecting"),
                        }
                    })
                    .collect(),
                window_in_use: s.window.saturating_sub(session.window.available_permits()),
            })
            .collect();
        ConnectorStatus {
            name: s.name.clone(),
            smsc: s.address(),
            system_id: s.system_id.clone(),
            bind: if s.bind == BindMode::Transceiver { "trx" } else { "tx+rx" },
            bound_sessions: *self.bound.borrow(),
            stopping: self.stopping.load(Ordering::Acquire),
            priority: s.priority,
            weight: s.weight,
            window: s.window,
            window_in_use: self.window_in_use(),
            mps: s.mps,
            to_prefixes: s.to_prefixes.clone(),
            from_prefixes: s.from_prefixes.clone(),
            to_pattern: s.to_pattern.as_ref().map(|p| p.text.clone()),
            from_pattern: s.from_pattern.as_ref().map(|p| p.text.clone()),
            accounts: s.accounts.clone(),
            sessions,
        }
    }

    /// Records a bind's client (or its loss) and updates the bound gauges.
    fn set_link(&self, session: usize, role: Role, client: Option<Client>) -> Option<Client> {
        let s = self.sessions.get(session)?;
        if self.stopping.load(Ordering::Acquire) {
            // Stopped (shutdown, or replaced by a reload under the same name, whose gauges
            // these are now): the links go without touching the gauges.
            if let Some(s) = self.sessions.get(session) {
                s.states[usize::from(role == Role::Receiver)].store(STOPPED, Ordering::Relaxed);
            }
            return if role == Role::Receiver { s.receiver.send_replace(client) } else { s.link.send_replace(client) };
        }
        let up = if client.is_some() { 1.0 } else { 0.0 };
        gauge!("switchboard_smpp_session_bound", "connector" => self.name(), "session" => (session + 1).to_string(), "bind" => role.as_str())
            .set(up);
        if role == Role::Receiver {
            return s.receiver.send_replace(client);
        }
        let old = s.link.send_replace(client);
        // Counted and published under the `bound` channel's lock: when two sessions bind at
        // once, the count made before the other's link was set must not be the last one written.
        self.bound.send_modify(|bound| {
            *bound = self.sessions.iter().filter(|s| s.link.borrow().is_some()).count();
            gauge!("switchboard_smpp_bound", "connector" => self.name()).set(*bound as f64);
        });
        old
    }

    /// `submit_sm` awaiting their response, over all sessions.
    fn window_in_use(&self) -> usize {
        self.sessions.iter().map(|s| self.settings.window.saturating_sub(s.window.available_permits())).sum()
    }

    /// Graceful shutdown: stops taking submissions, waits (up to 5 s) for the windows to drain,
    /// then unbinds every bind (an SMSC that closes the socket instead of answering counts as
    /// done).
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        let all = u32::try_from(self.settings.window).unwrap_or(u32::MAX);
        let drain = futures_util::future::join_all(self.sessions.iter().map(|s| s.window.acquire_many(all)));
        let drained = tokio::time::timeout(Duration::from_secs(5), drain).await;
        let mut clients = Vec::new();
        for i in 0..self.sessions.len() {
            if self.settings.bind == BindMode::Transceiver {
                clients.extend(self.set_link(i, Role::Transceiver, None));
            } else {
                clients.extend(self.set_link(i, Role::Transmitter, None));
                clients.extend(self.set_link(i, Role::Receiver, None));
            }
        }
        let unbound = clients.len();
        futures_util::future::join_all(clients.into_iter().map(|client| async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), client.unbind()).await;
            let _ = client.close().await;
        }))
        .await;
        tracing::info!(connector = %self.settings.name, drained = drained.is_ok(), binds = unbound, "smpp unbound");
    }

    /// Connect, bind, serve the link until it ends; again after a backoff, until shutdown.
    async fn supervise(self: Arc<Self>, session: usize, role: Role) {
        let max = Duration::from_secs(self.settings.reconnect_max_secs);
        let mut backoff = Backoff::exponential(Duration::from_secs(1), max).with_jitter();
        let state = |value: u8| {
            if let Some(s) = self.sessions.get(session) {
                s.states[usize::from(role == Role::Receiver)].store(value, Ordering::Relaxed);
            }
        };
        loop {
            if self.stopping.load(Ordering::Acquire) {
                state(STOPPED);
                return;
            }
            let n = session + 1;
            let bind = role.as_str();
            state(CONNECTING);
            match self.bind(role).await {
                Ok((client, _)) if self.stopping.load(Ordering::Acquire) => {
                    let _ = client.close().await;
                    state(STOPPED);
                    return;
                }
                Ok((client, events)) => {
                    state(BOUND);
                    tracing::info!(connector = %self.settings.name, session = n, bind, smsc = %self.settings.address(), "smpp bound");
                    counter!("switchboard_smpp_binds_total", "connector" => self.name(), "result" => "ok").increment(1);
                    self.set_link(session, role, Some(client.clone()));
                    self.serve(client.clone(), events).await;
                    self.set_link(session, role, None);
                    let _ = client.close().await;
                    if self.stopping.load(Ordering::Acquire) {
                        state(STOPPED);
                        return;
                    }
                    state(BACKING_OFF);
                    tracing::warn!(connector = %self.settings.name, session = n, bind, "smpp link lost; reconnecting");
                    backoff = Backoff::exponential(Duration::from_secs(1), max).with_jitter();
                }
                Err((e, status)) => {
                    counter!("switchboard_smpp_binds_total", "connector" => self.name(), "result" => "failed")
                        .increment(1);
                    if status.is_some_and(|s| AUTH_STATUSES.contains(&s)) {
                        tracing::error!(connector = %self.settings.name, session = n, bind, error = %e, "smpp bind refused (credentials?); next try in 5 min");
                        state(AUTH_FAILED);
                        tokio::time::sleep(AUTH_RETRY).await;
                        continue;
                    }
                    tracing::warn!(connector = %self.settings.name, session = n, bind, error = %e, "smpp bind failed");
                    state(BACKING_OFF);
                }
            }
            backoff.wait().await;
        }
    }

    /// Connects and binds in `role` (SMPP 3.4).
    async fn bind(
        &self,
        role: Role,
    ) -> Result<(Client, impl futures_util::Stream<Item = Event> + Unpin), (String, Option<u32>)> {
        let s = &self.settings;
        let timeout = Duration::from_secs(s.response_timeout_secs);
        let mut builder = ConnectionBuilder::new();
        if s.tls {
            if let Some(path) = &s.ca_file {
                builder = builder.rustls_config(tls_config(path).map_err(|e| (e, None))?);
            }
        }
        let connect = builder
            // rusmppc speaks SMPP v5 and refuses a 3.4 bind unless told otherwise.
            .disable_interface_version_check()
            .enquire_link_interval(Duration::from_secs(s.enquire_link_secs))
            .enquire_link_response_timeout(Duration::from_secs(10))
            .response_timeout(timeout)
            // Carriers may send `message_payload` up to 64 KB.
            .max_command_length(70_000)
            .connect(s.address());
        let (client, events) = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| ("connect timed out".to_string(), None))?
            .map_err(|e| (e.to_string(), None))?;
        fn text<const N: usize>(v: &str) -> Result<COctetString<1, N>, (String, Option<u32>)> {
            COctetString::from_str(v).map_err(|e| (format!("{e}"), None))
        }
        let (system_id, password, system_type) = (text(&s.system_id)?, text(&s.password)?, text(&s.system_type)?);
        // The three bind PDUs have the same fields.
        macro_rules! pdu {
            ($pdu:ident) => {
                $pdu::builder()
                    .system_id(system_id)
                    .password(password)
                    .system_type(system_type)
                    .interface_version(InterfaceVersion::Smpp3_4)
                    .addr_ton(Ton::Unknown)
                    .addr_npi(Npi::Unknown)
                    .address_range(COctetString::empty())
                    .build()
            };
        }
        let bound = match role {
            Role::Transceiver => client.bind_transceiver(pdu!(BindTransceiver)).await.map(drop),
            Role::Transmitter => client.bind_transmitter(pdu!(BindTransmitter)).await.map(drop),
            Role::Receiver => client.bind_receiver(pdu!(BindReceiver)).await.map(drop),
        };
        match bound {
            Ok(()) => Ok((client, events)),
            Err(rusmppc::error::Error::UnexpectedResponse { response }) => {
                let status = u32::from(response.status());
                let _ = client.close().await;
                Err((format!("bind ({}) response status 0x{status:02X}", role.as_str()), Some(status)))
            }
            Err(e) => {
                let _ = client.close().await;
                Err((e.to_string(), None))
            }
        }
    }

    /// Reads the link until it ends: answers `deliver_sm` (receipts and inbound messages),
    /// `unbind`, and unknown requests.
    async fn serve(self: &Arc<Self>, client: Client, mut events: impl futures_util::Stream<Item = Event> + Unpin) {
        while let Some(event) = events.next().await {
            match event {
                Event::Incoming(command) => {
                    let seq = command.sequence_number();
                    match command.id() {
                        CommandId::DeliverSm => {
                            if let Some(Pdu::DeliverSm(d)) = command.pdu() {
                                tokio::spawn(self.clone().on_deliver_sm(client.clone(), seq, d.clone()));
                            }
                        }
                        CommandId::Unbind => {
                            let _ = client.unbind_resp(seq).await;
                            break;
                        }
                        CommandId::SubmitSmResp | CommandId::GenericNack | CommandId::EnquireLinkResp => {
                            // A response after its request timed out: that submission is being
                            // retried already.
                            tracing::debug!(connector = %self.settings.name, id = ?command.id(), seq, "late response");
                        }
                        other => {
                            tracing::info!(connector = %self.settings.name, id = ?other, "unsupported smpp request");
                            let _ = client.status(CommandStatus::EsmeRinvcmdid).generic_nack(seq).await;
                        }
                    }
                }
                Event::Error(e) => tracing::warn!(connector = %self.settings.name, error = %e, "smpp link error"),
            }
        }
    }

    /// A `deliver_sm`: a receipt is acknowledged and applied; an inbound message is stored,
    /// then acknowledged.
    async fn on_deliver_sm(self: Arc<Self>, client: Client, seq: u32, d: DeliverSm) {
        let (from, to, mut text, part) = match read_deliver_sm_as(&d, self.settings.charset) {
            Delivered::Receipt(r) => {
                let _ = client.deliver_sm_resp(seq, DeliverSmResp::default()).await;
                self.on_receipt(r).await;
                return;
            }
            Delivered::Message { from, to, text, part } => (from, to, text, part),
        };
        let mut reassembled = None;
        if let Some(part) = part {
            let key = InboundKey {
                connector: self.name(),
                from: from.clone(),
                to: to.clone(),
                reference: part.reference,
                total: part.total,
            };
            // The part is stored before it is acknowledged: a restart loses nothing.
            match reassembly::add(self.store.as_ref(), &key, part.seq, &text).await {
                Ok(Some(whole)) => {
                    text = whole;
                    reassembled = Some(key);
                }
                Ok(None) => {
                    counter!("switchboard_smpp_inbound_total", "connector" => self.name(), "result" => "part")
                        .increment(1);
                    let _ = client.deliver_sm_resp(seq, DeliverSmResp::default()).await;
                    return;
                }
                Err(e) => {
                    tracing::warn!(connector = %self.settings.name, error = %format!("{e:#}"), "inbound part not stored; the SMSC is asked to send it again");
                    counter!("switchboard_smpp_inbound_total", "connector" => self.name(), "result" => "retry")
                        .increment(1);
                    let _ =
                        client.status(CommandStatus::EsmeRxTAppn).deliver_sm_resp(seq, DeliverSmResp::default()).await;
                    return;
                }
            }
        }
        let outcome = self.hand_on(from, to, text, None).await;
        if let Some(key) = reassembled.filter(|_| outcome != MoOutcome::Retry) {
            self.forget_parts(&key).await;
        }
        let status = if outcome == MoOutcome::Retry { CommandStatus::EsmeRxTAppn } else { CommandStatus::EsmeRok };
        let _ = client.status(status).deliver_sm_resp(seq, DeliverSmResp::default()).await;
    }

    /// Hands an inbound message to the server and waits until it is stored (or not).
    async fn hand_on(&self, from: String, to: String, body: String, error_code: Option<u32>) -> MoOutcome {
        let (stored, answer) = oneshot::channel();
        let mo = MobileOriginated { connector: self.name(), from, to, body, error_code, stored };
        let outcome = match self.inbound.send(mo).await {
            Ok(()) => tokio::time::timeout(MO_STORE_TIMEOUT, answer).await.ok().and_then(Result::ok),
            Err(_) => None,
        }
        .unwrap_or(MoOutcome::Retry);
        let result = match outcome {
            MoOutcome::Stored => "stored",
            MoOutcome::Unknown => "unknown_number",
            MoOutcome::Retry => "retry",
        };
        counter!("switchboard_smpp_inbound_total", "connector" => self.name(), "result" => result).increment(1);
        outcome
    }

    fn key(&self, canonical: &str) -> String {
        format!("{}:{canonical}", self.settings.name)
    }

    fn find_tracked(&self, keys: &[String]) -> Option<(String, Tracked)> {
        let tracked = self.tracked.lock().ok()?;
        keys.iter().find_map(|k| tracked.get(k).map(|t| (k.clone(), t.clone())))
    }

    /// Applies a receipt: a final one settles its segment, and its message once every segment
    /// is settled.
    async fn on_receipt(&self, r: Receipt) {
        let verdict = r.verdict();
        let state = match verdict {
            Verdict::Intermediate => "intermediate",
            Verdict::Final(Ok(())) => "delivered",
            Verdict::Final(Err(_)) => "undelivered",
        };
        self.count_receipt(state);
        let Verdict::Final(result) = verdict else { return };
        if r.id.is_empty() {
            self.count_receipt("unmatched");
            return;
        }
        let keys: Vec<String> =
            receipts::receipt_keys(self.settings.dlr_id, &r.id).iter().map(|k| self.key(k)).collect();
        // Only a done date the receipt carries is passed on (a TLV-only receipt has none).
        let done_at_ms = r.done_date.as_deref().and_then(receipts::done_date_ms);
        // The receipt may overtake the handling of its submit_sm_resp: hold it a moment (only
        // while submissions are in flight; after a restart, receipts go straight on).
        let started = Instant::now();
        let found = loop {
            if let Some(found) = self.find_tracked(&keys) {
                break Some(found);
            }
            if started.elapsed() > RECEIPT_HOLD || self.in_flight.load(Ordering::Acquire) == 0 {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let Some((key, tracked)) = found else {
            // Not submitted in this run (a restart), or not remembered: a segment of a
            // multipart message is in the store; otherwise the delivery layer finds the message
            // by its stored carrier id.
            for k in &keys {
                if let Ok(Some(tally)) = self.store.settle_segment(k, result, done_at_ms).await {
                    self.settle(tally, result).await;
                    return;
                }
            }
            let carrier_id = keys[0].clone();
            let _ = self.events.send(CarrierEvent::Receipt { carrier_id, result, done_at_ms });
            return;
        };
        if let Ok(mut t) = self.tracked.lock() {
            t.remove(&key);
        }
        self.metrics
            .receipt_seconds
            .get_or_init(|| histogram!("switchboard_smpp_receipt_seconds", "connector" => self.name()))
            .record(tracked.accepted.elapsed().as_secs_f64());
        if tracked.multipart {
            match self.store.settle_segment(&key, result, done_at_ms).await {
                Ok(Some(tally)) => return self.settle(tally, result).await,
                // Its segments could not be recorded (or read): this receipt settles it.
                Ok(None) => tracing::warn!(connector = %self.settings.name, %key, "segment not in the store"),
                Err(e) => {
                    tracing::warn!(connector = %self.settings.name, %key, error = %format!("{e:#}"), "segment receipt not stored")
                }
            }
        }
        let _ = self.events.send(CarrierEvent::Receipt { carrier_id: tracked.carrier_id, result, done_at_ms });
    }

    /// A multipart message after one more segment's final receipt: `undelivered` as soon as
    /// one segment is not delivered (with its code), `delivered` once every segment is.
    async fn settle(&self, tally: SegmentTally, result: Result<(), u32>) {
        if tally.settled >= tally.segments {
            if let Err(e) = self.store.forget_segments(&tally.carrier_id).await {
                tracing::warn!(connector = %self.settings.name, error = %format!("{e:#}"), "settled segments not forgotten");
            }
        }
        let Some(settled) = multipart_outcome(&tally, result) else { return };
        let receipt =
            CarrierEvent::Receipt { carrier_id: tally.carrier_id, result: settled, done_at_ms: tally.done_at_ms };
        let _ = self.events.send(receipt);
    }

    /// The next bound session (round-robin) and its client, waiting up to [`WAIT_FOR_BIND`]
    /// for one.
    async fn client(&self) -> Option<(&Session, Client)> {
        let mut rx = self.bound.subscribe();
        let _ = tokio::time::timeout(WAIT_FOR_BIND, rx.wait_for(|n| *n > 0)).await;
        let n = self.sessions.len();
        let start = self.next_session.fetch_add(1, Ordering::Relaxed);
        (0..n).map(|k| &self.sessions[(start + k) % n]).find_map(|s| s.link.borrow().clone().map(|c| (s, c)))
    }

    /// Waits for the next send slot: `mps` spaces them, a throttling answer pushes it back.
    async fn pace(&self) {
        let mut next = self.next_slot.lock().await;
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep_until((*next).into()).await;
        }
        if self.settings.mps > 0.0 {
            *next = Instant::now().max(*next) + Duration::from_secs_f64(1.0 / self.settings.mps);
        }
    }

    async fn pause(&self, d: Duration) {
        let mut next = self.next_slot.lock().await;
        *next = (*next).max(Instant::now() + d);
    }

    /// Sends one segment until it is answered: its SMSC id, or why not.
    async fn submit_segment(&self, session: &Session, client: &Client, pdu: SubmitSm) -> Result<String, SegmentError> {
        let mut throttled = 0;
        loop {
            self.pace().await;
            let permit = session.window.acquire().await.map_err(|e| SegmentError::Unavailable(e.to_string()))?;
            self.window_gauge().set(self.window_in_use() as f64);
            let sent = Instant::now();
            let answer = client.submit_sm(pdu.clone()).await;
            self.metrics
                .submit_seconds
                .get_or_init(|| histogram!("switchboard_smpp_submit_seconds", "connector" => self.name()))
                .record(sent.elapsed().as_secs_f64());
            drop(permit);
            self.window_gauge().set(self.window_in_use() as f64);
            let result = match answer {
                Ok(resp) => Ok(resp.message_id().as_str().to_string()),
                Err(rusmppc::error::Error::UnexpectedResponse { response }) => {
                    let status = u32::from(response.status());
                    match receipts::submit_error(status) {
                        SubmitError::Retry if throttled < MAX_THROTTLED => {
                            throttled += 1;
                            self.count_submit("throttled");
                            // 1 s, doubling to 30 s: the SMSC asked us to slow down.
                            let wait = Duration::from_secs(1 << (throttled - 1).min(5)).min(Duration::from_secs(30));
                            tracing::info!(connector = %self.settings.name, status, ?wait, "smpp throttled; sending again");
                            self.pause(wait).await;
                            continue;
                        }
                        SubmitError::Retry => Err(SegmentError::Rejected(30001)),
                        SubmitError::Fail(code) => {
                            tracing::info!(connector = %self.settings.name, status, code, "smpp submit refused");
                            Err(SegmentError::Rejected(code))
                        }
                    }
                }
                Err(e @ rusmppc::error::Error::ResponseTimeout { .. }) => Err(SegmentError::TimedOut(e.to_string())),
                Err(e) => Err(SegmentError::Unavailable(e.to_string())),
            };
            let label = match &result {
                Ok(_) => "ok",
                Err(SegmentError::Rejected(_)) => "rejected",
                Err(SegmentError::TimedOut(_)) => "timeout",
                Err(SegmentError::Unavailable(_)) => "error",
            };
            self.count_submit(label);
            return result;
        }
    }

    /// Builds the `submit_sm` of each segment; `Err` with a Twilio code for an address the PDU
    /// cannot carry.
    fn pdus(&self, s: &Submission) -> Result<Vec<SubmitSm>, u32> {
        let short_code = (self.settings.short_code_ton, self.settings.short_code_npi);
        let from = wire::address(&s.from, short_code);
        let to = wire::address(&s.to, short_code);
        let source = COctetString::from_str(&from.text).map_err(|_| 30008u32)?;
        let destination = COctetString::from_str(&to.text).map_err(|_| 30005u32)?;
        let reference = self.reference.fetch_add(1, Ordering::Relaxed);
        wire::split(&s.body, self.settings.long_messages, self.settings.charset, reference)
            .into_iter()
            .map(|seg| {
                let mut tlvs: Vec<MessageSubmissionRequestTlvValue> = Vec::new();
                let short_message = if seg.payload {
                    tlvs.push(MessageSubmissionRequestTlvValue::MessagePayload(MessagePayload::new(
                        AnyOctetString::from_vec(seg.short_message),
                    )));
                    OctetString::empty()
                } else {
                    OctetString::from_vec(seg.short_message).map_err(|_| 30500u32)?
                };
                if let Some((reference, total, seq)) = seg.sar {
                    tlvs.extend([
                        MessageSubmissionRequestTlvValue::SarMsgRefNum(reference),
                        MessageSubmissionRequestTlvValue::SarTotalSegments(total),
                        MessageSubmissionRequestTlvValue::SarSegmentSeqnum(seq),
                    ]);
                }
                Ok(SubmitSm::builder()
                    .service_type(ServiceType::default())
                    .source_addr_ton(Ton::from(from.ton))
                    .source_addr_npi(Npi::from(from.npi))
                    .source_addr(source.clone())
                    .dest_addr_ton(Ton::from(to.ton))
                    .dest_addr_npi(Npi::from(to.npi))
                    .destination_addr(destination.clone())
                    .esm_class(EsmClass::from(seg.esm_class))
                    .schedule_delivery_time(EmptyOrFullCOctetString::empty())
                    .validity_period(EmptyOrFullCOctetString::empty())
                    // 1: a receipt on final success or failure (not the 0x1D of "request all",
                    // which some SMSCs refuse).
                    .registered_delivery(RegisteredDelivery::from(1u8))
                    .data_coding(DataCoding::from(seg.data_coding))
                    .short_message(short_message)
                    .tlvs(tlvs)
                    .build())
            })
            .collect()
    }
}

#[async_trait]
impl Carrier for Connector {
    async fn submit(&self, s: &Submission) -> Result<SubmitOutcome, CarrierUnavailable> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(CarrierUnavailable(format!("smpp connector {} is shutting down", self.settings.name)));
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let outcome = self.submit_message(s).await;
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        outcome
    }
}

impl Connector {
    /// [`Carrier::submit`]: every segment, then the ids remembered for the receipts.
    async fn submit_message(&self, s: &Submission) -> Result<SubmitOutcome, CarrierUnavailable> {
        let pdus = match self.pdus(s) {
            Ok(p) => p,
            Err(code) => return Ok(SubmitOutcome::Rejected { code }),
        };
        let (session, client) = self
            .client()
            .await
            .ok_or_else(|| CarrierUnavailable(format!("smpp connector {} is not bound", self.settings.name)))?;
        let mut keys = Vec::with_capacity(pdus.len());
        for pdu in pdus {
            match self.submit_segment(session, &client, pdu).await {
                Ok(id) => keys.push(self.key(&receipts::resp_key(self.settings.dlr_id, &id))),
                Err(SegmentError::Rejected(code)) => {
                    if let Ok(mut timed_out) = self.timed_out.lock() {
                        timed_out.remove(&s.key);
                    }
                    return Ok(SubmitOutcome::Rejected { code });
                }
                // The whole message is sent again once the link is back (at least once: the
                // segments already accepted may arrive twice).
                Err(SegmentError::Unavailable(e)) => return Err(CarrierUnavailable(e)),
                // Ambiguous: sent again once, then given up (30008) rather than risking a flood
                // of duplicates to an SMSC that takes submissions but never answers.
                Err(SegmentError::TimedOut(e)) => {
                    let Ok(mut timed_out) = self.timed_out.lock() else { return Err(CarrierUnavailable(e)) };
                    let n = timed_out.entry(s.key.clone()).or_insert(0);
                    *n += 1;
                    if *n >= MAX_TIMEOUTS {
                        timed_out.remove(&s.key);
                        tracing::warn!(connector = %self.settings.name, key = %s.key, "no submit_sm_resp twice; failed");
                        return Ok(SubmitOutcome::Rejected { code: 30008 });
                    }
                    return Err(CarrierUnavailable(e));
                }
            }
        }
        if let Ok(mut timed_out) = self.timed_out.lock() {
            timed_out.remove(&s.key);
        }
        let carrier_id = keys[0].clone();
        let multipart = keys.len() > 1;
        // Every segment's id is stored before the message counts as sent, so that receipts
        // after a restart still find it (and it is delivered only once every segment is).
        if multipart {
            if let Err(e) = self.store.record_segments(&carrier_id, &keys, crate::clock::now_ms()).await {
                tracing::warn!(connector = %self.settings.name, key = %s.key, error = %format!("{e:#}"), "segment ids not stored; the first receipt will settle the message");
            }
        }
        if let Ok(mut tracked) = self.tracked.lock() {
            if tracked.len() + keys.len() <= MAX_TRACKED {
                let accepted = Instant::now();
                for k in &keys {
                    tracked.insert(k.clone(), Tracked { carrier_id: carrier_id.clone(), multipart, accepted });
                }
            }
        }
        tracing::debug!(connector = %self.settings.name, key = %s.key, %carrier_id, segments = keys.len(), "smpp accepted");
        Ok(SubmitOutcome::Accepted { carrier_id })
    }
}

/// What a multipart message's tally, after one more segment's final receipt (`result`), says
/// of the message: `undelivered` with that segment's code as soon as one is not delivered,
/// `delivered` once every segment is, else nothing yet.
fn multipart_outcome(tally: &SegmentTally, result: Result<(), u32>) -> Option<Result<(), u32>> {
    match result {
        Err(code) => Some(Err(code)),
        Ok(()) => (tally.delivered >= tally.segments).then_some(Ok(())),
    }
}

/// A connector as `GET /_switchboard/Connectors.json` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectorStatus {
    /// Its name.
    pub name: String,
    /// `smpp://host:port` (or `smpps://`).
    pub smsc: String,
    /// The bind's `system_id` (the password is never shown).
    pub system_id: String,
    /// `trx` or `tx+rx`.
    pub bind: &'static str,
    /// Sessions that can take submits now.
    pub bound_sessions: usize,
    /// Shutting down, or replaced by a reload and draining.
    pub stopping: bool,
    /// Failover tier.
    pub priority: u32,
    /// Share of its tier.
    pub weight: u32,
    /// `submit_sm` awaiting their response at once, per session.
    pub window: usize,
    /// `submit_sm` awaiting their response now, over all sessions.
    pub window_in_use: usize,
    /// Segments per second (0: unlimited).
    pub mps: f64,
    /// Route: destination prefixes.
    pub to_prefixes: Vec<String>,
    /// Route: sender prefixes.
    pub from_prefixes: Vec<String>,
    /// Route: destination pattern.
    pub to_pattern: Option<String>,
    /// Route: sender pattern.
    pub from_pattern: Option<String>,
    /// Route: accounts.
    pub accounts: Vec<String>,
    /// Each session's binds.
    pub sessions: Vec<SessionStatus>,
}

/// One session of a [`ConnectorStatus`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionStatus {
    /// 1, 2, …
    pub session: usize,
    /// Its binds: one transceiver, or a transmitter and a receiver.
    pub binds: Vec<BindStatus>,
    /// Its `submit_sm` awaiting their response.
    pub window_in_use: usize,
}

/// One bind of a [`SessionStatus`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct BindStatus {
    /// `trx`, `tx` or `rx`.
    pub bind: &'static str,
    /// `connecting`, `bound`, `backing_off`, `auth_failed` or `stopped`.
    pub state: &'static str,
}

/// What a `deliver_sm` carries, read without I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// A delivery receipt (TLVs and text merged, TLVs win).
    Receipt(Receipt),
    /// A message from a handset; `part` when it is one part of a concatenated message.
    Message {
        /// E.164 (or alphanumeric) sender.
        from: String,
        /// Our number, E.164.
        to: String,
        /// The decoded text of this PDU (of this part only).
        text: String,
        /// Where this part belongs (UDH or SAR TLVs), when it is a valid part of several.
        part: Option<wire::Part>,
    },
}

/// Reads a `deliver_sm`: a receipt (by esm_class, by its text, or by both receipt TLVs) or an
/// inbound message with its concatenation part. Pure, so the fuzz target `smpp_pdu` drives it
/// with whatever a peer could send.
pub fn read_deliver_sm(d: &DeliverSm) -> Delivered {
    read_deliver_sm_as(d, settings::Charset::Gsm)
}

/// [`read_deliver_sm`] with `data_coding` 0 read in the connector's `charset`.
pub fn read_deliver_sm_as(d: &DeliverSm, charset: settings::Charset) -> Delivered {
    let esm = u8::from(d.esm_class);
    let data_coding = u8::from(d.data_coding);
    let mut body: Vec<u8> = d.short_message().to_vec();
    let mut tlv_receipt = Receipt::default();
    let mut sar = (None, None, None);
    for tlv in d.tlvs() {
        match tlv.value() {
            Some(TlvValue::ReceiptedMessageId(id)) => tlv_receipt.id = id.as_str().to_string(),
            Some(TlvValue::MessageState(state)) => tlv_receipt.message_state = Some(u8::from(*state)),
            Some(TlvValue::NetworkErrorCode(n)) => {
                tlv_receipt.network_error = Some((u8::from(n.network_type), n.error_code));
            }
            Some(TlvValue::MessagePayload(p)) if body.is_empty() => body = p.value.to_vec(),
            Some(TlvValue::SarMsgRefNum(r)) => sar.0 = Some(*r),
            Some(TlvValue::SarTotalSegments(t)) => sar.1 = Some(*t),
            Some(TlvValue::SarSegmentSeqnum(n)) => sar.2 = Some(*n),
            _ => {}
        }
    }
    let text_receipt = receipts::parse_text(&String::from_utf8_lossy(&body));
    let has_tlvs = !tlv_receipt.id.is_empty() && tlv_receipt.message_state.is_some();
    // esm_class bits 5–2 say "receipt"; with none set, only the receipt text or both receipt
    // TLVs do (one stray TLV on a plain message does not).
    if esm & 0x3C != 0 || text_receipt.is_some() || has_tlvs {
        let mut r = text_receipt.unwrap_or_default();
        if !tlv_receipt.id.is_empty() {
            r.id = tlv_receipt.id;
        }
        r.message_state = tlv_receipt.message_state.or(r.message_state);
        r.network_error = tlv_receipt.network_error;
        return Delivered::Receipt(r);
    }
    let part = wire::udh_part(esm, &body)
        .or(match sar {
            (Some(reference), Some(total), Some(seq)) => Some(wire::Part { reference, total, seq }),
            _ => None,
        })
        .filter(|p| p.total > 1 && p.seq >= 1 && p.seq <= p.total);
    Delivered::Message {
        from: wire::inbound_from(u8::from(d.source_addr_ton), d.source_addr.as_str()),
        to: wire::inbound_to(d.destination_addr.as_str()),
        text: wire::decode_text_as(charset, data_coding, esm, &body),
        part,
    }
}

/// TLS settings for `smpps://` with `ca_file`: the system's roots plus the file's certificates
/// (rustls with ring, like the rest of the binary).
fn tls_config(ca_file: &str) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let pem = std::fs::read(ca_file).map_err(|e| format!("reading smpp ca_file {ca_file}: {e}"))?;
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
        let cert: rustls::pki_types::CertificateDer<'static> =
            cert.map_err(|e| format!("parsing smpp ca_file {ca_file}: {e}"))?;
        roots.add(cert).map_err(|e| format!("adding smpp ca_file {ca_file}: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS protocol versions: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The carrier the dispatcher uses when connectors are configured. An SMS (or an MMS, as text)
/// goes to the connectors whose routes (destination and sender prefixes, accounts) take it;
/// among those bound when it is sent, to the lowest priority, shared by weight. A connector
/// that is down is skipped (failover); while every one is down the message waits in its queue.
/// Channel addresses stay with the simulator. With no connector, everything goes to the
/// simulator; the connectors can be replaced while serving ([`Routing::reload`]).
pub struct Routing {
    /// The simulator: channels, and the rules the API manages.
    pub simulator: Arc<Simulator>,
    /// Connectors, in configuration order (replaced whole on a reload).
    connectors: std::sync::RwLock<Arc<Vec<Arc<Connector>>>>,
    /// Smooth weighted round-robin state, one counter per connector.
    turns: Mutex<Vec<i64>>,
}

/// What a [`Routing::reload`] did, by connector name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// Same settings: left as they were (still bound).
    pub kept: Vec<String>,
    /// New or changed: started (binding).
    pub started: Vec<String>,
    /// Gone or changed: drained and unbound.
    pub stopped: Vec<String>,
}

impl Routing {
    /// Routing over `connectors` (in configuration order), the simulator for the rest.
    pub fn new(simulator: Arc<Simulator>, connectors: Vec<Arc<Connector>>) -> Routing {
        let turns = Mutex::new(vec![0; connectors.len()]);
        Routing { simulator, connectors: std::sync::RwLock::new(Arc::new(connectors)), turns }
    }

    /// The connectors now, in configuration order.
    pub fn connectors(&self) -> Arc<Vec<Arc<Connector>>> {
        self.connectors.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// Applies a new list of connector settings: a connector whose settings did not change is
    /// kept as it is (its binds untouched); a new or changed one is started; a removed or
    /// changed one stops taking messages, drains its windows and unbinds (in the background).
    /// Receipts of messages sent through a replaced connector are matched on the new one by
    /// their stored ids.
    pub fn reload(&self, settings: Vec<SmppSettings>, start: impl Fn(SmppSettings) -> Arc<Connector>) -> Reloaded {
        let old = self.connectors();
        let mut done = Reloaded::default();
        let mut next = Vec::with_capacity(settings.len());
        for s in settings {
            match old.iter().find(|c| c.settings == s) {
                Some(same) => {
                    done.kept.push(s.name.clone());
                    next.push(same.clone());
                }
                None => {
                    done.started.push(s.name.clone());
                    next.push(start(s));
                }
            }
        }
        let gone: Vec<Arc<Connector>> =
            old.iter().filter(|c| !next.iter().any(|n| Arc::ptr_eq(n, c))).cloned().collect();
        if let (Ok(mut list), Ok(mut turns)) = (self.connectors.write(), self.turns.lock()) {
            *turns = vec![0; next.len()];
            *list = Arc::new(next);
        }
        for connector in gone {
            done.stopped.push(connector.name());
            tokio::spawn(async move { connector.shutdown().await });
        }
        done
    }

    /// Among `routed` (indexes of connectors that take the message), a bound one of the lowest
    /// priority, by smooth weighted round-robin (nginx's: each candidate gains its weight, the
    /// richest is chosen and pays the total, so 3:1 goes a a b a a a b a…, evenly spread).
    fn choose(&self, connectors: &[Arc<Connector>], routed: &[usize]) -> Option<usize> {
        let bound: Vec<usize> = routed.iter().copied().filter(|&i| connectors[i].is_bound()).collect();
        let tier = bound.iter().map(|&i| connectors[i].priority()).min()?;
        let candidates: Vec<usize> = bound.into_iter().filter(|&i| connectors[i].priority() == tier).collect();
        if let [only] = candidates[..] {
            return Some(only);
        }
        let weighted: Vec<(usize, u32)> = candidates.iter().map(|&i| (i, connectors[i].settings.weight)).collect();
        let mut turns = self.turns.lock().ok()?;
        weighted_pick(&mut turns, &weighted)
    }
}

/// One step of smooth weighted round-robin over `candidates` (index into `turns`, weight).
fn weighted_pick(turns: &mut [i64], candidates: &[(usize, u32)]) -> Option<usize> {
    let total: i64 = candidates.iter().map(|&(_, w)| i64::from(w)).sum();
    let mut best: Option<usize> = None;
    for &(i, w) in candidates {
        let turn = turns.get_mut(i)?;
        *turn += i64::from(w);
        let turn = *turn;
        if best.is_none_or(|b| turn > turns[b]) {
            best = Some(i);
        }
    }
    let b = best?;
    turns[b] -= total;
    Some(b)
}

#[async_trait]
impl Carrier for Routing {
    async fn submit(&self, s: &Submission) -> Result<SubmitOutcome, CarrierUnavailable> {
        let connectors = self.connectors();
        if s.to.contains(':') || connectors.is_empty() {
            return self.simulator.submit(s).await;
        }
        let routed: Vec<usize> =
            (0..connectors.len()).filter(|&i| connectors[i].settings.routes(&s.account_sid, &s.from, &s.to)).collect();
        if routed.is_empty() {
            tracing::warn!(key = %s.key, to = %s.to, "no smpp connector routes this message");
            return Ok(SubmitOutcome::Rejected { code: 30008 });
        }
        // The choice is made now, not when the message was accepted: a message waiting for a
        // dead connector goes to the next one that is up. With none up, wait a little for one.
        let started = Instant::now();
        loop {
            if let Some(i) = self.choose(&connectors, &routed) {
                return connectors[i].submit(s).await;
            }
            if started.elapsed() >= WAIT_FOR_BIND {
                return Err(CarrierUnavailable("no bound smpp connector routes this message".into()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn recover(&self, carrier_id: &str, s: &Submission) {
        // A connector's receipts arrive from the SMSC; only the simulator replays its own.
        if carrier_id.starts_with("sim-") {
            self.simulator.recover(carrier_id, s).await;
        }
    }

    fn rcs_capable(&self, account_sid: &str, to: &str) -> bool {
        self.simulator.rcs_capable(account_sid, to)
    }
}

#[cfg(test)]
mod tests {
    use super::{multipart_outcome, weighted_pick};
    use crate::store::smpp::SegmentTally;

    #[test]
    fn a_multipart_message_is_delivered_by_its_last_segment_and_undelivered_by_its_first_failure() {
        let tally = |delivered, settled| SegmentTally {
            carrier_id: "c:1".into(),
            segments: 3,
            delivered,
            settled,
            done_at_ms: None,
        };
        assert_eq!(multipart_outcome(&tally(1, 1), Ok(())), None, "1 of 3 delivered: still sent");
        assert_eq!(multipart_outcome(&tally(2, 2), Ok(())), None);
        assert_eq!(multipart_outcome(&tally(3, 3), Ok(())), Some(Ok(())));
        assert_eq!(multipart_outcome(&tally(0, 1), Err(30003)), Some(Err(30003)), "the first failure settles it");
        assert_eq!(multipart_outcome(&tally(2, 3), Ok(())), None, "one failed: never delivered");
    }

    #[test]
    fn weighted_round_robin_spreads_by_weight_and_interleaves() {
        let mut turns = vec![0; 3];
        let picks: Vec<usize> = (0..8).filter_map(|_| weighted_pick(&mut turns, &[(0, 3), (2, 1)])).collect();
        assert_eq!(picks, [0, 0, 2, 0, 0, 0, 2, 0], "3:1, the lighter one not starved to the end");
        let mut turns = vec![0; 2];
        let even: Vec<usize> = (0..4).filter_map(|_| weighted_pick(&mut turns, &[(0, 1), (1, 1)])).collect();
        assert_eq!(even, [0, 1, 0, 1]);
        assert_eq!(weighted_pick(&mut turns, &[]), None);
    }
}

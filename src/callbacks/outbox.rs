//! The sender of status callbacks: delivers the rows of the durable outbox, signed, retrying
//! with backoff, recording every attempt.
//!
//! Ordering: callbacks of one message go out one at a time, in outbox order; a callback being
//! retried holds back the later ones of the same message (never those of other messages).
//! Isolation: each callback runs in its own task, with at most [`PER_HOST_IN_FLIGHT`] requests
//! per host at once, so a slow or dead endpoint only slows its own callbacks.

use crate::backoff::Backoff;
use crate::outbound::client::{Attempt, RequestSettings, WebhookClient};
use crate::outbound::overrides::split_overrides;
use crate::outbound::{signature, target_and_body, Method};
use crate::store::tokens::AccountTokens;
use crate::store::{AttemptRecord, CallbackRow, Store};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};

/// Concurrent requests to one host.
pub const PER_HOST_IN_FLIGHT: usize = 32;

/// Wait between tries to store an attempt record.
const RECORD_RETRY_EVERY: Duration = Duration::from_millis(200);
/// How long to keep trying to store an attempt record.
const RECORD_GIVE_UP_AFTER: Duration = Duration::from_secs(30);

/// Retry timing and request defaults for callbacks.
#[derive(Debug, Clone)]
pub struct CallbackSettings {
    /// Timeouts, attempts and retry policy unless the URL's fragment overrides them.
    pub defaults: RequestSettings,
    /// Wait before the first retry; doubles each time.
    pub retry_base: Duration,
    /// Longest wait between retries.
    pub retry_max: Duration,
}

enum Cmd {
    New(CallbackRow),
    Done(String),
}

/// Sends callbacks from the outbox. Cheap to clone.
#[derive(Clone)]
pub struct Callbacks {
    tx: mpsc::UnboundedSender<Cmd>,
}

/// What every callback task shares: the store, the client, the token cache and the per-host
/// permits.
struct Courier {
    store: Arc<dyn Store>,
    client: WebhookClient,
    settings: CallbackSettings,
    tokens: Arc<AccountTokens>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    done: mpsc::UnboundedSender<Cmd>,
}

impl Callbacks {
    /// Starts the sender.
    pub fn start(
        store: Arc<dyn Store>,
        tokens: Arc<AccountTokens>,
        client: WebhookClient,
        settings: CallbackSettings,
    ) -> Callbacks {
        let (tx, mut rx) = mpsc::unbounded_channel::<Cmd>();
        let courier =
            Arc::new(Courier { store, client, settings, tokens, hosts: Mutex::new(HashMap::new()), done: tx.clone() });
        tokio::spawn(async move {
            // Messages with a callback in flight, and what waits behind it.
            let mut waiting: HashMap<String, VecDeque<CallbackRow>> = HashMap::new();
            while let Some(cmd) = rx.recv().await {
                match cmd {
                    Cmd::New(row) => match waiting.get_mut(&row.key) {
                        // Outbox order (row id) is the order of the status changes.
                        Some(queue) => {
                            let at = queue.partition_point(|r| r.id < row.id);
                            queue.insert(at, row);
                        }
                        None => {
                            waiting.insert(row.key.clone(), VecDeque::new());
                            tokio::spawn(courier.clone().deliver(row));
                        }
                    },
                    Cmd::Done(key) => {
                        let next = waiting.get_mut(&key).and_then(VecDeque::pop_front);
                        match next {
                            Some(row) => {
                                tokio::spawn(courier.clone().deliver(row));
                            }
                            None => {
                                waiting.remove(&key);
                            }
                        }
                    }
                }
            }
        });
        Callbacks { tx }
    }

    /// Queues a stored callback for sending.
    pub fn enqueue(&self, row: CallbackRow) {
        let _ = self.tx.send(Cmd::New(row));
    }
}

impl Courier {
    fn host_permits(&self, url: &str) -> Arc<Semaphore> {
        let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
        let Ok(mut hosts) = self.hosts.lock() else { return Arc::new(Semaphore::new(PER_HOST_IN_FLIGHT)) };
        hosts.entry(host).or_insert_with(|| Arc::new(Semaphore::new(PER_HOST_IN_FLIGHT))).clone()
    }

    /// Delivers one callback, retrying as its settings allow, recording every attempt.
    async fn deliver(self: Arc<Self>, row: CallbackRow) {
        let (url, settings) = split_overrides(&row.request.url, &self.settings.defaults);
        // A stored method other than GET or POST makes every attempt a refusal.
        // One callback, one host: its permits are looked up once, not per attempt.
        let request = Method::parse(&row.request.method).map(|method| {
            let (target, body) = target_and_body(method, &url, &row.request.params);
            let permits = self.host_permits(&target);
            (method, target, body, permits)
        });
        let mut attempts = row.attempts;
        // Attempts made before a restart count: the waits go on growing from where they were.
        let mut backoff = Backoff::exponential(self.settings.retry_base, self.settings.retry_max)
            .with_jitter()
            .continuing_after(attempts);
        while attempts < settings.max_attempts {
            let Ok(Some(token)) = self.tokens.token(&row.request.account_sid).await else {
                tracing::warn!(callback = row.id, "account of a callback is gone; dropping it");
                break;
            };
            let attempt = match &request {
                Ok((method, target, body, permits)) => {
                    let signature = signature::sign(&token, target, body);
                    let headers = [
                        ("X-Twilio-Signature", signature),
                        ("I-Twilio-Idempotency-Token", row.request.idempotency_token.clone()),
                    ];
                    let _permit = permits.acquire().await;
                    self.client.send(*method, target, body, &headers, &settings).await
                }
                Err(refusal) => Attempt::unsupported_method(refusal),
            };
            attempts += 1;
            let ok = attempt.ok();
            let retry = !ok && attempt.retryable(&settings.retry_on) && attempts < settings.max_attempts;
            crate::metrics::callback_attempt(ok, attempt.latency);
            let final_state = match (ok, retry) {
                (true, _) => Some("delivered"),
                (false, false) => Some("failed"),
                (false, true) => None,
            };
            let record = AttemptRecord {
                at_ms: crate::clock::now_ms(),
                http_status: attempt.status,
                latency_ms: u64::try_from(attempt.latency.as_millis()).unwrap_or(u64::MAX),
                error: attempt.error.clone(),
            };
            self.record(row.id, record, final_state).await;
            if !retry {
                break;
            }
            backoff.wait().await;
        }
        let _ = self.done.send(Cmd::Done(row.key));
    }

    /// Stores an attempt, insisting a little: losing the record would resend the callback.
    async fn record(&self, id: i64, record: AttemptRecord, final_state: Option<&'static str>) {
        let mut backoff = Backoff::fixed(RECORD_RETRY_EVERY).give_up_after(RECORD_GIVE_UP_AFTER);
        while let Err(e) = self.store.record_callback_attempt(id, record.clone(), final_state).await {
            tracing::warn!(error = %format!("{e:#}"), callback = id, "callback attempt not recorded; retrying");
            if !backoff.wait().await {
                return;
            }
        }
    }
}

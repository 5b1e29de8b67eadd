//! Status callbacks: what Twilio POSTs to a message's `StatusCallback` on every status change
//! after the first, and the sender that delivers them from the durable outbox.
//!
//! Ordering: callbacks of one message go out one at a time, in outbox order; a callback being
//! retried holds back the later ones of the same message (never those of other messages).
//! Isolation: each callback runs in its own task, with at most [`PER_HOST_IN_FLIGHT`] requests
//! per host at once, so a slow or dead endpoint only slows its own callbacks.

use crate::outbound::client::{RequestSettings, WebhookClient};
use crate::outbound::signature;
use crate::store::{AttemptRecord, CallbackRow, NewCallback, Store};
use rand::Rng;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_domain::message::{Message, API_VERSION};
use switchboard_domain::sid;
use switchboard_domain::status::Status;
use tokio::sync::{mpsc, Semaphore};

/// Concurrent requests to one host.
pub const PER_HOST_IN_FLIGHT: usize = 32;

/// The status callback for `m` entering `status`, if it has a callback URL.
pub fn status_callback(
    m: &Message,
    status: Status,
    error_code: Option<u32>,
    raw_dlr_done_ms: Option<i64>,
) -> Option<NewCallback> {
    let url = m.options.status_callback.clone()?;
    let mut params = vec![
        ("AccountSid".to_string(), m.account_sid.clone()),
        ("ApiVersion".to_string(), API_VERSION.to_string()),
        ("From".to_string(), m.from.clone().unwrap_or_default()),
        ("MessageSid".to_string(), m.sid.clone()),
        ("MessageStatus".to_string(), status.as_str().to_string()),
        ("SmsSid".to_string(), m.sid.clone()),
        ("SmsStatus".to_string(), status.as_str().to_string()),
        ("To".to_string(), m.to.clone()),
    ];
    if matches!(status, Status::Failed | Status::Undelivered) {
        params.push(("ErrorCode".to_string(), error_code.unwrap_or(30008).to_string()));
    }
    if let Some(mss) = &m.messaging_service_sid {
        params.push(("MessagingServiceSid".to_string(), mss.clone()));
    }
    if status == Status::Read {
        params.push(("EventType".to_string(), "READ".to_string()));
    }
    let is_sms = !m.to.contains(':');
    if let (true, true, Some(done)) =
        (is_sms, matches!(status, Status::Delivered | Status::Undelivered), raw_dlr_done_ms)
    {
        let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(done).unwrap_or_default();
        params.push(("RawDlrDoneDate".to_string(), at.format("%y%m%d%H%M").to_string()));
    }
    params.sort();
    Some(NewCallback {
        account_sid: m.account_sid.clone(),
        url,
        method: m.options.status_callback_method.clone().unwrap_or_else(|| "POST".to_string()),
        params,
        idempotency_token: sid::random_hex32(),
    })
}

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

struct Sender {
    store: Arc<dyn Store>,
    client: WebhookClient,
    settings: CallbackSettings,
    tokens: Mutex<HashMap<String, String>>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    done: mpsc::UnboundedSender<Cmd>,
}

impl Callbacks {
    /// Starts the sender.
    pub fn start(store: Arc<dyn Store>, client: WebhookClient, settings: CallbackSettings) -> Callbacks {
        let (tx, mut rx) = mpsc::unbounded_channel::<Cmd>();
        let sender = Arc::new(Sender {
            store,
            client,
            settings,
            tokens: Mutex::new(HashMap::new()),
            hosts: Mutex::new(HashMap::new()),
            done: tx.clone(),
        });
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
                            tokio::spawn(sender.clone().deliver(row));
                        }
                    },
                    Cmd::Done(key) => {
                        let next = waiting.get_mut(&key).and_then(VecDeque::pop_front);
                        match next {
                            Some(row) => {
                                tokio::spawn(sender.clone().deliver(row));
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

impl Sender {
    async fn token(&self, account_sid: &str) -> Option<String> {
        if let Some(t) = self.tokens.lock().ok().and_then(|m| m.get(account_sid).cloned()) {
            return Some(t);
        }
        let account = self.store.account(account_sid).await.ok().flatten()?;
        if let Ok(mut m) = self.tokens.lock() {
            m.insert(account.sid, account.auth_token.clone());
        }
        Some(account.auth_token)
    }

    fn host_permits(&self, url: &str) -> Arc<Semaphore> {
        let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
        let Ok(mut hosts) = self.hosts.lock() else { return Arc::new(Semaphore::new(PER_HOST_IN_FLIGHT)) };
        hosts.entry(host).or_insert_with(|| Arc::new(Semaphore::new(PER_HOST_IN_FLIGHT))).clone()
    }

    /// Delivers one callback, retrying as its settings allow, recording every attempt.
    async fn deliver(self: Arc<Self>, row: CallbackRow) {
        let (url, settings) = crate::outbound::client::split_overrides(&row.request.url, &self.settings.defaults);
        let method = row.request.method.to_ascii_uppercase();
        let (target, body_params) = crate::outbound::target_and_body(&method, &url, &row.request.params);
        let mut attempts = row.attempts;
        while attempts < settings.max_attempts {
            let Some(token) = self.token(&row.request.account_sid).await else {
                tracing::warn!(callback = row.id, "account of a callback is gone; dropping it");
                break;
            };
            let signature = signature::sign(&token, &target, &body_params);
            let headers = [
                ("X-Twilio-Signature", signature),
                ("I-Twilio-Idempotency-Token", row.request.idempotency_token.clone()),
            ];
            let permits = self.host_permits(&target);
            let attempt = {
                let _permit = permits.acquire().await;
                self.client.send(&method, &target, &body_params, &headers, &settings).await
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
            tokio::time::sleep(self.backoff(attempts)).await;
        }
        let _ = self.done.send(Cmd::Done(row.key));
    }

    /// Stores an attempt, insisting a little: losing the record would resend the callback.
    async fn record(&self, id: i64, record: AttemptRecord, final_state: Option<&'static str>) {
        let started = Instant::now();
        while let Err(e) = self.store.record_callback_attempt(id, record.clone(), final_state).await {
            tracing::warn!(error = %format!("{e:#}"), callback = id, "callback attempt not recorded; retrying");
            if started.elapsed() > Duration::from_secs(30) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Exponential backoff with ±20 % jitter.
    fn backoff(&self, attempts: u32) -> Duration {
        let exp = self.settings.retry_base.saturating_mul(1u32 << attempts.saturating_sub(1).min(16));
        let capped = exp.min(self.settings.retry_max);
        capped.mul_f64(rand::rng().random_range(0.8..1.2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_domain::message::SendOptions;
    use switchboard_domain::status::Direction;

    fn message(to: &str, callback: Option<&str>) -> Message {
        Message {
            sid: "SM1342fe1b2c904d1ab04f0fc7a58abca9".into(),
            account_sid: "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
            messaging_service_sid: None,
            from: Some("+15017250604".into()),
            to: to.into(),
            body: "hi".into(),
            status: Status::Queued,
            direction: Direction::OutboundApi,
            num_segments: 1,
            num_media: 0,
            price: None,
            price_unit: "USD".into(),
            error_code: None,
            error_message: None,
            date_created: 0,
            date_updated: 0,
            date_sent: None,
            carrier_id: None,
            options: SendOptions { status_callback: callback.map(str::to_string), ..Default::default() },
        }
    }

    fn names(cb: &NewCallback) -> Vec<&str> {
        cb.params.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn no_url_no_callback() {
        assert!(status_callback(&message("+15558675310", None), Status::Sent, None, None).is_none());
    }

    #[test]
    fn sent_callback_carries_twilios_parameters_and_signs_like_the_reference_vector() {
        let cb =
            status_callback(&message("+15558675310", Some("https://example.com/status?x=1")), Status::Sent, None, None)
                .unwrap();
        assert_eq!(
            names(&cb),
            ["AccountSid", "ApiVersion", "From", "MessageSid", "MessageStatus", "SmsSid", "SmsStatus", "To"]
        );
        // The signing vector of notes §4 (computed with twilio-python's RequestValidator).
        assert_eq!(signature::sign("12345", &cb.url, &cb.params), "4YwzPjpcPcZRK0eQ6qnWbvIk9CU=");
    }

    #[test]
    fn failures_carry_error_code_and_receipts_raw_dlr_done_date() {
        let m = message("+15558675310", Some("https://example.com/s"));
        let cb = status_callback(&m, Status::Undelivered, Some(30003), Some(1_783_000_000_000)).unwrap();
        assert!(cb.params.contains(&("ErrorCode".into(), "30003".into())));
        let done = cb.params.iter().find(|(k, _)| k == "RawDlrDoneDate").unwrap();
        assert_eq!(done.1.len(), 10);
        let cb = status_callback(&m, Status::Delivered, None, Some(0)).unwrap();
        assert!(cb.params.contains(&("RawDlrDoneDate".into(), "7001010000".into())));
        assert!(!names(&cb).contains(&"ErrorCode"));
        let wa = message("whatsapp:+15558675310", Some("https://example.com/s"));
        let cb = status_callback(&wa, Status::Delivered, None, Some(0)).unwrap();
        assert!(!names(&cb).contains(&"RawDlrDoneDate"));
    }
}

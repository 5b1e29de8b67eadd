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
//!
//! By job: `lanes` queues and paces, `assign` chooses a Messaging Service's sender,
//! `lifecycle` takes a queued message to the carrier, `channels` holds the RCS and WhatsApp
//! rules, `receipts` applies the carrier's receipts, and `batcher` groups status changes into
//! store calls.

mod assign;
mod batcher;
pub mod carrier;
mod channels;
mod lanes;
mod lifecycle;
pub mod pricing;
pub mod rates;
mod receipts;
pub mod simulator;

use crate::backoff::Backoff;
use crate::callbacks::{self, Callbacks};
use crate::media;
use crate::store::{CallbackRow, Store, Transition};
use batcher::Batcher;
use carrier::{Carrier, CarrierEvent};
use lanes::Lanes;
use pricing::PriceTable;
use rates::RateTable;
use receipts::AwaitingReceipt;
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::message::Message;
use switchboard_domain::status::{Direction, Status};
use switchboard_domain::TwilioError;
use tokio::sync::mpsc;

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

struct Inner {
    /// Status changes, batched.
    batcher: Batcher,
    /// Messages accepted by the carrier, until their receipt arrives.
    awaiting_receipt: AwaitingReceipt,
    /// Round-robin counter for spreading messages across a pool.
    spread: std::sync::atomic::AtomicUsize,
    store: Arc<dyn Store>,
    carrier: Arc<dyn Carrier>,
    callbacks: Callbacks,
    prices: PriceTable,
    lanes: Lanes,
    /// Fetches and stores MMS media before submission.
    media: media::MediaFetcher,
    /// Accounts, cached: a message of a suspended or closed account fails with 30002.
    accounts: Arc<crate::store::tokens::AccountTokens>,
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
        accounts: Arc<crate::store::tokens::AccountTokens>,
        mut events: mpsc::UnboundedReceiver<CarrierEvent>,
    ) -> Dispatcher {
        let DeliveryConfig { rates, queue_limit_secs, prices } = config;
        let inner = Arc::new(Inner {
            batcher: Batcher::start(store.clone(), callbacks.clone()),
            awaiting_receipt: AwaitingReceipt::default(),
            spread: std::sync::atomic::AtomicUsize::new(0),
            store,
            carrier,
            callbacks,
            prices,
            lanes: Lanes::new(rates, queue_limit_secs),
            media,
            accounts,
        });
        let for_events = inner.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                tokio::spawn(receipts::on_carrier_event(for_events.clone(), event));
            }
        });
        Dispatcher { inner }
    }

    /// 21611 when `from`'s queue already holds more than `queue_limit_secs` of segments at
    /// its rate. Unlimited senders never overflow.
    pub fn check_capacity(&self, from: &str, segments: u32) -> Result<(), TwilioError> {
        self.inner.lanes.check_capacity(from, segments)
    }

    /// Segments waiting per sender (for metrics).
    pub fn queue_depths(&self) -> Vec<(String, u64)> {
        self.inner.lanes.depths()
    }

    /// Takes over a stored message at whatever point of the lifecycle it is.
    pub fn submit(&self, message: Message) {
        if message.direction == Direction::Inbound {
            return;
        }
        match message.status {
            Status::Queued => lanes::enqueue(&self.inner, message),
            Status::Accepted => {
                tokio::spawn(assign::assign_sender(self.inner.clone(), message));
            }
            Status::Scheduled => {
                let inner = self.inner.clone();
                tokio::spawn(async move {
                    let wait = message.options.send_at.unwrap_or(0) - crate::clock::now_ms();
                    if wait > 0 {
                        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
                    }
                    assign::assign_sender(inner, message).await;
                });
            }
            // Interrupted between "sending" and the carrier's answer: hand it over again.
            Status::Sending => {
                tokio::spawn(lifecycle::hand_to_carrier(self.inner.clone(), message));
            }
            Status::Sent => {
                tokio::spawn(receipts::recover_sent(self.inner.clone(), message));
            }
            _ => {}
        }
    }

    /// Resubmits every unfinished outbound message and every unsent callback of this node
    /// (after a restart).
    pub async fn resume(&self) -> anyhow::Result<(usize, usize)> {
        let callbacks = self.inner.store.pending_callbacks().await?;
        let pending = self.inner.store.unfinished_outbound().await?;
        Ok(self.adopt(callbacks, pending))
    }

    /// Takes over stored work: unsent callbacks and unfinished outbound messages (after a
    /// restart, or claimed from a node that is gone); returns how many of each.
    pub fn adopt(&self, callbacks: Vec<CallbackRow>, messages: Vec<Message>) -> (usize, usize) {
        // Stored callbacks first: a resumed message's next status change queues its callback
        // behind them, so one message's callbacks still go out in the order of its changes.
        let c = callbacks.len();
        for cb in callbacks {
            self.inner.callbacks.enqueue(cb);
        }
        let n = messages.len();
        for m in messages {
            self.submit(m);
        }
        (n, c)
    }
}

/// Cancels a scheduled message, with its `canceled` callback; false when it is no longer
/// scheduled.
pub async fn cancel(dispatcher: &Dispatcher, m: &Message) -> bool {
    let t = Transition::new(m.key(), Status::Scheduled, Status::Canceled, crate::clock::now_ms());
    transition(&dispatcher.inner, m, t, None).await
}

/// Fails `m` (from status `from`) with `error`; true if it applied.
async fn fail(inner: &Inner, m: &Message, from: Status, error: TwilioError) -> bool {
    let mut t = Transition::new(m.key(), from, Status::Failed, crate::clock::now_ms());
    t.error = Some(error);
    transition(inner, m, t, None).await
}

/// Applies one transition with its status callback; true if it applied. Store errors are
/// retried: a status change must not be lost.
async fn transition(inner: &Inner, m: &Message, mut t: Transition, raw_dlr_done_ms: Option<i64>) -> bool {
    // Privacy options take effect once nothing more will happen to the message; the callback
    // of that change already shows the message as kept (Twilio sends the obfuscated `To`).
    let kept = t.to.is_final().then(|| m.retained());
    if let Some(kept) = &kept {
        if kept.body != m.body {
            t.body = Some(kept.body.clone());
        }
        if kept.to != m.to {
            t.to_addr = Some(kept.to.clone());
        }
    }
    let shown = kept.as_ref().unwrap_or(m);
    t.callback = callbacks::status_callback(shown, t.to, t.error.as_ref().map(|e| e.code), raw_dlr_done_ms);
    let mut backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        // The batcher hands the change back with a store error, so no copy is made up front.
        match inner.batcher.apply(t).await {
            Ok(a) => return a.applied,
            Err((e, Some(back))) => {
                tracing::warn!(error = %format!("{e:#}"), message = %m.sid, "status change not stored; retrying");
                t = back;
                backoff.wait().await;
            }
            // Only a batcher that panicked mid-batch drops a change; no later one would be stored.
            Err((e, None)) => {
                tracing::error!(error = %format!("{e:#}"), message = %m.sid, "status change lost");
                return false;
            }
        }
    }
}

/// A queued one-segment outbound message, for unit tests.
#[cfg(test)]
fn test_message(from: &str, to: &str) -> Message {
    Message::builder("SM0123456789abcdef0123456789abcdef", "AC00000000000000000000000000000000", to, 0)
        .from(Some(from.into()))
        .body("hello")
        .build()
}

//! Delivery: walks accepted messages through Twilio's lifecycle
//! (`queued → sending → sent → delivered | undelivered`, or `failed`).
//!
//! The [`Dispatcher`] receives each message after it is durably stored and drives it through
//! the carrier — for now the built-in [`simulator`]. Every step is a compare-and-set
//! transition in the store, so a restart resumes each unfinished message from the status it
//! had ([`Dispatcher::resume`]), and a step never applies twice.

pub mod simulator;

use crate::store::{Store, Transition};
use simulator::{Outcome, Simulator};
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::message::Message;
use switchboard_domain::status::{Direction, Status};
use tokio::sync::mpsc;

/// Twilio's text for 30036.
const VALIDITY_EXPIRED: &str = "Validity period expired";
/// Default `ValidityPeriod`, seconds.
const DEFAULT_VALIDITY_SECS: i64 = 36_000;

/// Hands messages to delivery. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    tx: mpsc::UnboundedSender<Message>,
}

impl Dispatcher {
    /// Starts the delivery task.
    pub fn start(store: Arc<dyn Store>, simulator: Simulator) -> Dispatcher {
        let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                tokio::spawn(drive(store.clone(), simulator.clone(), message));
            }
        });
        Dispatcher { tx }
    }

    /// Queues a stored message for delivery.
    pub fn submit(&self, message: Message) {
        let outbound = message.direction != Direction::Inbound;
        if outbound && matches!(message.status, Status::Queued | Status::Sending | Status::Sent) {
            let _ = self.tx.send(message);
        }
    }

    /// Resubmits every unfinished outbound message (after a restart).
    pub async fn resume(&self, store: &dyn Store) -> anyhow::Result<usize> {
        let pending = store.unfinished_outbound().await?;
        let n = pending.len();
        for m in pending {
            self.submit(m);
        }
        Ok(n)
    }
}

/// One message's walk through the lifecycle.
async fn drive(store: Arc<dyn Store>, simulator: Simulator, message: Message) {
    let outcome = simulator.outcome(&message.to);
    let key = message.key().to_string();
    let validity_ms = i64::from(message.options.validity_period.unwrap_or(0)).max(0) * 1000;
    let validity_ms = if validity_ms == 0 { DEFAULT_VALIDITY_SECS * 1000 } else { validity_ms };
    let mut status = message.status;
    loop {
        simulator.step_delay().await;
        let now = crate::api::now_ms();
        let mut t = Transition {
            key: key.clone(),
            from: status,
            to: status,
            at_ms: now,
            error: None,
            date_sent: None,
            price: None,
        };
        match (status, outcome) {
            (Status::Queued, _) if now > message.date_created + validity_ms => {
                t.to = Status::Failed;
                t.error = Some((30036, VALIDITY_EXPIRED.to_string()));
            }
            (Status::Queued, _) => t.to = Status::Sending,
            (Status::Sending, Outcome::Failed(code)) => {
                t.to = Status::Failed;
                t.error = Some((code, simulator::error_message(code).to_string()));
            }
            (Status::Sending, _) => {
                t.to = Status::Sent;
                t.date_sent = Some(now);
                t.price = Some(simulator.price(&message));
            }
            (Status::Sent, Outcome::Delivered) => t.to = Status::Delivered,
            (Status::Sent, Outcome::Undelivered(code)) => {
                t.to = Status::Undelivered;
                t.error = Some((code, simulator::error_message(code).to_string()));
            }
            _ => return, // final, or a message that stays `sent` (no receipt)
        }
        match store.apply_transitions(vec![t.clone()]).await {
            Ok(applied) if applied.first() == Some(&true) => status = t.to,
            Ok(_) => return, // changed elsewhere (deleted, canceled): stop driving it
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), message = %message.sid, "status change not stored; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

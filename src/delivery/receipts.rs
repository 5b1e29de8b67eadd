//! The carrier's receipts: delivery receipts move a `sent` message to `delivered` or
//! `undelivered`, read receipts move a `delivered` one to `read`. A receipt can overtake the
//! recording of its submission, so each is retried for a while.

use super::carrier::CarrierEvent;
use super::lifecycle::submission_of;
use super::{transition, Inner};
use crate::backoff::Backoff;
use crate::store::Transition;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_domain::message::Message;
use switchboard_domain::status::Status;
use switchboard_domain::TwilioError;

/// How long a receipt for a not-yet-recorded submission is retried.
const RECEIPT_PATIENCE: Duration = Duration::from_secs(10);
/// How often such a receipt is retried.
const RECEIPT_RETRY_EVERY: Duration = Duration::from_millis(20);

/// Most accepted messages remembered while awaiting their receipt (beyond it, receipts look
/// the message up in the store).
const MAX_AWAITING_RECEIPT: usize = 200_000;

/// Messages accepted by the carrier, by carrier id, until their receipt arrives: spares the
/// receipt a store read.
#[derive(Default)]
pub(super) struct AwaitingReceipt(Mutex<HashMap<String, Message>>);

impl AwaitingReceipt {
    /// Remembers a `sent` message, unless [`MAX_AWAITING_RECEIPT`] are remembered already.
    pub(super) fn remember(&self, carrier_id: &str, sent: Message) {
        if let Ok(mut waiting) = self.0.lock() {
            if waiting.len() < MAX_AWAITING_RECEIPT {
                waiting.insert(carrier_id.to_string(), sent);
            }
        }
    }

    /// Takes the message out: its receipt holds it from here on (no copy per receipt).
    fn take(&self, carrier_id: &str) -> Option<Message> {
        self.0.lock().ok().and_then(|mut w| w.remove(carrier_id))
    }
}

/// The change a delivery receipt makes to a `sent` message: `delivered`, or `undelivered` with
/// the carrier's error code.
fn receipt_transition(m: &Message, result: Result<(), u32>, now_ms: i64) -> Transition {
    match result {
        Ok(()) => Transition::new(m.key(), Status::Sent, Status::Delivered, now_ms),
        Err(code) => {
            let mut t = Transition::new(m.key(), Status::Sent, Status::Undelivered, now_ms);
            t.error = Some(TwilioError::delivery(code));
            t
        }
    }
}

/// Applies a delivery receipt to the message it names.
pub(super) async fn on_carrier_event(inner: Arc<Inner>, event: CarrierEvent) {
    let (carrier_id, result, done_at_ms) = match event {
        CarrierEvent::Receipt { carrier_id, result, done_at_ms } => (carrier_id, result, done_at_ms),
        CarrierEvent::Read { carrier_id } => return on_read(inner, carrier_id).await,
    };
    let mut patience = Backoff::fixed(RECEIPT_RETRY_EVERY).give_up_after(RECEIPT_PATIENCE);
    // The message is usually still in memory (as sent); after a restart it is read from the store.
    let held = inner.awaiting_receipt.take(&carrier_id);
    loop {
        let read;
        let message = match &held {
            Some(m) => Some(m),
            None => {
                read = inner.store.message_by_carrier_id(&carrier_id).await.ok().flatten();
                read.as_ref()
            }
        };
        match message {
            Some(m) if m.status.is_final() => break, // a duplicate receipt
            Some(m) if m.status == Status::Sent => {
                let t = receipt_transition(m, result, crate::clock::now_ms());
                if transition(&inner, m, t, done_at_ms).await {
                    break;
                }
            }
            _ => {}
        }
        // The receipt can overtake the recording of the submission: wait for it.
        if !patience.wait().await {
            tracing::warn!(carrier_id, "receipt for an unknown or unsent message dropped");
            break;
        }
    }
}

/// A read receipt moves a delivered message to `read` (with an `EventType=READ` callback).
async fn on_read(inner: Arc<Inner>, carrier_id: String) {
    let mut patience = Backoff::fixed(RECEIPT_RETRY_EVERY).give_up_after(RECEIPT_PATIENCE);
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
        if !patience.wait().await {
            tracing::warn!(carrier_id, "read receipt for an undelivered message dropped");
            return;
        }
    }
}

/// After a restart, a `sent` message waits for its receipt: let the carrier replay it.
pub(super) async fn recover_sent(inner: Arc<Inner>, message: Message) {
    if let Some(carrier_id) = &message.carrier_id {
        inner.carrier.recover(carrier_id, &submission_of(&message)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::test_message;

    fn sent_message() -> Message {
        Message {
            status: Status::Sent,
            date_sent: Some(0),
            carrier_id: Some("c1".into()),
            ..test_message("+14155550100", "+14155550101")
        }
    }

    #[test]
    fn a_positive_receipt_delivers_the_sent_message() {
        let t = receipt_transition(&sent_message(), Ok(()), 5);
        assert_eq!(
            (t.key.as_str(), t.from, t.to, t.at_ms),
            ("0123456789abcdef0123456789abcdef", Status::Sent, Status::Delivered, 5)
        );
        assert_eq!(t.error, None);
    }

    #[test]
    fn a_negative_receipt_makes_it_undelivered_with_twilios_text_for_the_code() {
        let t = receipt_transition(&sent_message(), Err(30003), 5);
        assert_eq!(t.to, Status::Undelivered);
        let e = t.error.expect("an undelivered message carries its error");
        assert_eq!((e.code, e.message.as_str()), (30003, "Unreachable destination handset"));
    }
}

//! A queued message's way to the carrier: `queued → sending` (or `failed` once its validity
//! ran out), the channel rules and media, then the carrier's answer (`sent` or `failed`).

use super::carrier::{Submission, SubmitOutcome};
use super::{channels, fail, transition, Inner};
use crate::backoff::Backoff;
use crate::store::Transition;
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::message::Message;
use switchboard_domain::status::Status;
use switchboard_domain::TwilioError;

/// Default `ValidityPeriod`, seconds.
const DEFAULT_VALIDITY_SECS: i64 = 36_000;

/// When a queued message stops being valid, ms: its `ValidityPeriod` after it was created, or
/// for a scheduled message after its send time.
fn valid_until(date_created: i64, send_at: Option<i64>, validity_period: Option<u32>) -> i64 {
    let validity_secs = validity_period.map_or(DEFAULT_VALIDITY_SECS, i64::from);
    date_created.max(send_at.unwrap_or(0)) + validity_secs * 1000
}

/// Takes a queued message out: expires it, or marks it sending and submits it.
pub(super) async fn send_one(inner: Arc<Inner>, message: Message) {
    let now = crate::clock::now_ms();
    if now > valid_until(message.date_created, message.options.send_at, message.options.validity_period) {
        fail(&inner, &message, Status::Queued, TwilioError::validity_expired()).await;
        return;
    }
    if !account_active(&inner, &message.account_sid).await {
        fail(&inner, &message, Status::Queued, TwilioError::delivery(30002)).await;
        return;
    }
    let t = Transition::new(message.key(), Status::Queued, Status::Sending, now);
    if transition(&inner, &message, t, None).await {
        hand_to_carrier(inner, message).await;
    }
}

/// Whether the message's account (and its parent) may still send. A store error counts as
/// active: an outage must not fail messages that would otherwise go out.
async fn account_active(inner: &Inner, account_sid: &str) -> bool {
    use crate::store::AccountStatus;
    let Ok(Some(account)) = inner.accounts.record(account_sid).await else { return true };
    if account.status != AccountStatus::Active {
        return false;
    }
    if !account.is_subaccount() {
        return true;
    }
    !matches!(inner.accounts.record(&account.owner_account_sid).await, Ok(Some(p)) if p.status != AccountStatus::Active)
}

/// Submits a `sending` message to the carrier and records its answer.
pub(super) async fn hand_to_carrier(inner: Arc<Inner>, message: Message) {
    let mut message = message;
    let fallback = match channels::rcs_fallback(&inner, &message).await {
        Ok(Some(sms)) => {
            message = sms;
            true
        }
        Ok(None) => false,
        Err(e) => {
            fail(&inner, &message, Status::Sending, e).await;
            return;
        }
    };
    if let Err(e) = channels::check_whatsapp_window(&inner, &message).await {
        fail(&inner, &message, Status::Sending, e).await;
        return;
    }
    let mut drop_body = false;
    if !message.options.media_urls.is_empty() {
        match inner.media.ensure_stored(inner.store.as_ref(), &message).await {
            Err((code, text)) => {
                tracing::info!(message = %message.sid, code, %text, "media fetch failed");
                fail(&inner, &message, Status::Sending, TwilioError::message_failed(code, text)).await;
                return;
            }
            Ok(stored) => {
                if let Some(media) = channels::uncaptioned(&message.to, &message.body, &stored) {
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
    let mut backoff = Backoff::exponential(Duration::from_millis(200), Duration::from_secs(30));
    let expires = valid_until(message.date_created, message.options.send_at, message.options.validity_period);
    let outcome = loop {
        match inner.carrier.submit(&submission).await {
            Ok(outcome) => break outcome,
            // A carrier down for longer than the message may wait (an SMSC link that does not
            // come back): its validity period still applies.
            Err(_) if crate::clock::now_ms() > expires => {
                fail(&inner, &message, Status::Sending, TwilioError::validity_expired()).await;
                return;
            }
            Err(e) => {
                tracing::warn!(message = %message.sid, error = %e, "carrier unavailable; retrying");
                backoff.wait().await;
            }
        }
    };
    let now = crate::clock::now_ms();
    let t = match outcome {
        SubmitOutcome::Accepted { carrier_id } => {
            let sent = Message { status: Status::Sent, carrier_id: Some(carrier_id.clone()), ..message.clone() };
            inner.awaiting_receipt.remember(&carrier_id, sent);
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
            t.price = Some(inner.prices.price(&message.to, message.num_segments));
            t.carrier_id = Some(carrier_id);
            t
        }
        SubmitOutcome::Rejected { code } => {
            let mut t = Transition::new(message.key(), Status::Sending, Status::Failed, now);
            t.error = Some(TwilioError::delivery(code));
            t
        }
    };
    transition(&inner, &message, t, None).await;
}

/// What the carrier is handed for a message.
pub(super) fn submission_of(m: &Message) -> Submission {
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

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3600 * 1000;

    #[test]
    fn validity_defaults_to_ten_hours_from_creation() {
        assert_eq!(valid_until(1_000, None, None), 1_000 + 10 * HOUR_MS);
    }

    #[test]
    fn a_validity_period_counts_seconds_from_creation() {
        assert_eq!(valid_until(1_000, None, Some(60)), 61_000);
    }

    #[test]
    fn a_scheduled_messages_validity_runs_from_its_send_time() {
        assert_eq!(valid_until(1_000, Some(5 * HOUR_MS), Some(60)), 5 * HOUR_MS + 60_000);
        assert_eq!(valid_until(HOUR_MS, Some(1_000), Some(60)), HOUR_MS + 60_000, "a send time already past");
    }
}

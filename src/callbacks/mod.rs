//! Status callbacks: what Twilio sends to a message's `StatusCallback` on every status change
//! after the first ([`status_callback`], stored with the change in the outbox), and the
//! [`Callbacks`] service that delivers them from that durable outbox (`outbox.rs`).
//!
//! Callbacks read the store and use the outbound client; delivery, above them, queues them.

mod outbox;

pub use outbox::{CallbackSettings, Callbacks, PER_HOST_IN_FLIGHT};

use crate::store::NewCallback;
use switchboard_domain::message::{Message, API_VERSION};
use switchboard_domain::sid;
use switchboard_domain::status::Status;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::signature;
    use switchboard_domain::message::SendOptions;

    fn message(to: &str, callback: Option<&str>) -> Message {
        Message::builder("SM1342fe1b2c904d1ab04f0fc7a58abca9", "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", to, 0)
            .from(Some("+15017250604".into()))
            .body("hi")
            .options(SendOptions { status_callback: callback.map(str::to_string), ..Default::default() })
            .build()
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

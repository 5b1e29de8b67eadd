//! The carrier abstraction: what the dispatcher needs from anything that delivers SMS.
//!
//! Submission is asynchronous and answers with the carrier's own message id (or a
//! rejection); delivery receipts arrive later as [`CarrierEvent`]s on the channel the carrier
//! was built with, and are matched back to the message by that id. The built-in simulator is
//! one implementation; an SMPP connector is another kind of the same thing.

use async_trait::async_trait;

/// What is handed to a carrier.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    /// Message key (SID without prefix).
    pub key: String,
    /// Owning account.
    pub account_sid: String,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Text.
    pub body: String,
    /// Media to attach.
    pub media_urls: Vec<String>,
    /// SMS segments.
    pub segments: u32,
}

/// How a submission was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Accepted; receipts will name this id.
    Accepted {
        /// The carrier's message id.
        carrier_id: String,
    },
    /// Refused for good, with the Twilio error code that describes why.
    Rejected {
        /// Twilio error code (30001, 30002, …).
        code: u32,
    },
}

/// Something the carrier reports on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CarrierEvent {
    /// A delivery receipt.
    Receipt {
        /// The id from [`SubmitOutcome::Accepted`].
        carrier_id: String,
        /// `Ok` when delivered, else the Twilio error code.
        result: Result<(), u32>,
        /// The receipt's done date, ms (`RawDlrDoneDate`); `None` when the receipt has none.
        done_at_ms: Option<i64>,
    },
    /// A read receipt (WhatsApp, RCS): the recipient opened a delivered message.
    Read {
        /// The id from [`SubmitOutcome::Accepted`].
        carrier_id: String,
    },
}

/// A carrier failure worth retrying (connection lost, throttled).
#[derive(Debug, thiserror::Error)]
#[error("carrier unavailable: {0}")]
pub struct CarrierUnavailable(pub String);

/// Anything that can deliver messages.
#[async_trait]
pub trait Carrier: Send + Sync + 'static {
    /// Hands a message over.
    async fn submit(&self, submission: &Submission) -> Result<SubmitOutcome, CarrierUnavailable>;

    /// After a restart: `submission` was accepted as `carrier_id` but no receipt was recorded.
    /// A carrier that keeps its own state does nothing; the simulator replays the receipt.
    async fn recover(&self, _carrier_id: &str, _submission: &Submission) {}

    /// Whether an `rcs:` recipient's device takes RCS (otherwise the message falls back to SMS).
    fn rcs_capable(&self, _account_sid: &str, _to: &str) -> bool {
        true
    }
}

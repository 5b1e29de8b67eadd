//! What SMPP connectors keep across restarts: the SMSC id of every segment of a multipart
//! message awaiting its receipts (so a receipt after a restart still finds its message, and
//! the message is `delivered` only once every segment is), and the parts of concatenated
//! inbound messages awaiting the others (stored before the SMSC is answered).

use super::StoreResult;
use async_trait::async_trait;

/// The receipts a multipart message has had so far, after one more was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentTally {
    /// The message's carrier id (as stored on the message).
    pub carrier_id: String,
    /// Segments the message was sent as (distinct SMSC ids).
    pub segments: u32,
    /// Segments whose receipt said delivered.
    pub delivered: u32,
    /// Segments with a final receipt, delivered or not.
    pub settled: u32,
    /// The latest done date among the segments' receipts, ms.
    pub done_at_ms: Option<i64>,
}

/// Which concatenated inbound message a part belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InboundKey {
    /// The connector it came through.
    pub connector: String,
    /// Sender as received.
    pub from: String,
    /// Recipient as received.
    pub to: String,
    /// The parts' reference.
    pub reference: u16,
    /// Parts in the message.
    pub total: u8,
}

/// Segment and inbound-part storage of SMPP connectors.
#[async_trait]
pub trait SmppStore: Send + Sync {
    /// Records the segment ids (`<connector>:<normalised SMSC id>`) of a message accepted as
    /// `carrier_id`. An id recorded before (SMSCs reuse ids) now names this message.
    async fn record_segments(&self, carrier_id: &str, segment_ids: &[String], at_ms: i64) -> StoreResult<()>;

    /// Records a segment's final receipt (`Ok` delivered, `Err` the Twilio code; a repeated
    /// receipt replaces the earlier one) and returns its message's tally; `None` when the id
    /// is not a recorded segment.
    async fn settle_segment(
        &self,
        segment_id: &str,
        result: Result<(), u32>,
        done_at_ms: Option<i64>,
    ) -> StoreResult<Option<SegmentTally>>;

    /// Forgets a message's segments (every receipt is in).
    async fn forget_segments(&self, carrier_id: &str) -> StoreResult<()>;

    /// Forgets segments recorded before `before_ms` (receipts that never came); returns how
    /// many.
    async fn prune_segments(&self, before_ms: i64) -> StoreResult<u64>;

    /// Stores part `seq` of a concatenated inbound message (a repeated part replaces its
    /// text) and returns every part stored for it, by `seq`.
    async fn add_inbound_part(
        &self,
        key: &InboundKey,
        seq: u8,
        text: &str,
        at_ms: i64,
    ) -> StoreResult<Vec<(u8, String)>>;

    /// The incomplete inbound messages of `connector` whose first part arrived before
    /// `before_ms`, with their parts by `seq`.
    async fn stale_inbound(&self, connector: &str, before_ms: i64)
        -> StoreResult<Vec<(InboundKey, Vec<(u8, String)>)>>;

    /// Forgets an inbound message's parts (it was handed on).
    async fn forget_inbound(&self, key: &InboundKey) -> StoreResult<()>;
}

//! Message status and direction, and which statuses are final.

/// A Message's `status`, as Twilio spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Accepted by the API, waiting in its sender's queue.
    Queued,
    /// Being handed to the carrier.
    Sending,
    /// The carrier accepted it; waiting for a delivery receipt.
    Sent,
    /// Could not be sent.
    Failed,
    /// The carrier confirmed delivery.
    Delivered,
    /// The carrier reported it was not delivered.
    Undelivered,
    /// Inbound, being processed.
    Receiving,
    /// Inbound, processing complete.
    Received,
    /// Messaging Service message waiting for a sender to be chosen.
    Accepted,
    /// Messaging Service message waiting for its `SendAt`.
    Scheduled,
    /// Read by the recipient (WhatsApp, RCS).
    Read,
    /// Deprecated by Twilio; never produced here.
    PartiallyDelivered,
    /// A scheduled message that was canceled.
    Canceled,
}

impl Status {
    /// Every status, in the spec's order.
    pub const ALL: [Status; 13] = [
        Status::Queued,
        Status::Sending,
        Status::Sent,
        Status::Failed,
        Status::Delivered,
        Status::Undelivered,
        Status::Receiving,
        Status::Received,
        Status::Accepted,
        Status::Scheduled,
        Status::Read,
        Status::PartiallyDelivered,
        Status::Canceled,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Delivered => "delivered",
            Status::Undelivered => "undelivered",
            Status::Receiving => "receiving",
            Status::Received => "received",
            Status::Accepted => "accepted",
            Status::Scheduled => "scheduled",
            Status::Read => "read",
            Status::PartiallyDelivered => "partially_delivered",
            Status::Canceled => "canceled",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True once nothing more will happen to the message, so it may be deleted (a `sent`
    /// message also may, once its receipt window has passed: see `Message::is_done_with`).
    ///
    /// `sent` is not final: a delivery receipt may still arrive. `delivered` is final even
    /// though a WhatsApp/RCS `read` may follow, because Twilio lets such messages be deleted.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Failed
                | Status::Delivered
                | Status::Undelivered
                | Status::Received
                | Status::Read
                | Status::Canceled
                | Status::PartiallyDelivered
        )
    }

    /// True once the message has left the queue, so its body may be redacted: `sent` (Twilio's
    /// own redaction example answers a `sent` message) and every final status. While it is
    /// `queued`, `accepted`, `scheduled`, `sending` or `receiving` the body is still needed.
    pub fn can_be_redacted(self) -> bool {
        self == Status::Sent || self.is_final()
    }
}

/// A Message's `direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received from a handset.
    Inbound,
    /// Created through the REST API.
    OutboundApi,
    /// Created during a voice call.
    OutboundCall,
    /// Created by a TwiML reply to an inbound message.
    OutboundReply,
}

impl Direction {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::OutboundApi => "outbound-api",
            Direction::OutboundCall => "outbound-call",
            Direction::OutboundReply => "outbound-reply",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Direction> {
        [Direction::Inbound, Direction::OutboundApi, Direction::OutboundCall, Direction::OutboundReply]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_wire_spelling() {
        for st in Status::ALL {
            assert_eq!(Status::parse(st.as_str()), Some(st));
        }
        assert_eq!(Status::parse("Queued"), None);
    }

    #[test]
    fn in_flight_statuses_are_not_final() {
        for st in
            [Status::Queued, Status::Sending, Status::Sent, Status::Accepted, Status::Scheduled, Status::Receiving]
        {
            assert!(!st.is_final(), "{st:?}");
        }
        assert!(Status::Delivered.is_final() && Status::Canceled.is_final());
    }

    #[test]
    fn a_message_can_be_redacted_once_it_has_left_the_queue() {
        for st in Status::ALL {
            let waiting = matches!(
                st,
                Status::Queued | Status::Accepted | Status::Scheduled | Status::Sending | Status::Receiving
            );
            assert_eq!(st.can_be_redacted(), !waiting, "{st:?}");
        }
    }
}

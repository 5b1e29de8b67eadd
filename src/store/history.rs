//! A message's status history packed into one text column of its row (`messages.history`),
//! shared by every engine.
//!
//! Each event is one line of JSON appended (`history || line`) by the same UPDATE that changes
//! the status, so recording an event rewrites a row the change rewrites anyway: no row and no
//! index entry per event. The stream's durable event numbers live apart, in the append-only
//! `message_events` log, which has no secondary index.

use super::MessageEvent;
use serde::{Deserialize, Serialize};
use switchboard_domain::status::Status;

/// One event as stored: short keys, absent fields left out (a line is ~40 bytes).
#[derive(Serialize, Deserialize)]
struct Line<'a> {
    /// When, ms.
    t: i64,
    /// Previous status; absent for the first event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    f: Option<&'a str>,
    /// New status.
    s: &'a str,
    /// Error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<u32>,
    /// Detail of a note (an event that is not a status change).
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    d: Option<std::borrow::Cow<'a, str>>,
}

/// The line recording one event, newline included, to append to `history`.
pub fn line(at_ms: i64, from: Option<Status>, to: Status, error_code: Option<u32>, detail: Option<&str>) -> String {
    let l = Line {
        t: at_ms,
        f: from.map(Status::as_str),
        s: to.as_str(),
        e: error_code,
        d: detail.map(std::borrow::Cow::Borrowed),
    };
    // Serializing a struct of strings and integers to a String cannot fail.
    let mut out = serde_json::to_string(&l).unwrap_or_default();
    out.push('\n');
    out
}

/// The events recorded in `history`, oldest first.
pub fn parse(history: &str) -> anyhow::Result<Vec<MessageEvent>> {
    history
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let e: Line<'_> =
                serde_json::from_str(l).map_err(|err| anyhow::anyhow!("bad history line {l:?}: {err}"))?;
            Ok(MessageEvent {
                at_ms: e.t,
                from: e.f.map(str::to_string),
                to: e.s.to_string(),
                error_code: e.e,
                detail: e.d.map(|d| d.into_owned()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_in_order_with_notes_and_escapes() {
        let mut h = line(1, None, Status::Queued, None, None);
        h.push_str(&line(2, Some(Status::Queued), Status::Sending, None, None));
        h.push_str(&line(3, Some(Status::Sending), Status::Sending, Some(11200), Some("webhook \"failed\"\nline 2")));
        h.push_str(&line(4, Some(Status::Sending), Status::Failed, Some(30003), None));
        let events = parse(&h).unwrap();
        assert_eq!(events.len(), 4);
        assert_eq!(
            events[0],
            MessageEvent { at_ms: 1, from: None, to: "queued".into(), error_code: None, detail: None }
        );
        assert_eq!(events[2].detail.as_deref(), Some("webhook \"failed\"\nline 2"));
        assert_eq!(events[2].error_code, Some(11200));
        assert_eq!(events[3].to, "failed");
        assert_eq!(events[3].from.as_deref(), Some("sending"));
    }

    #[test]
    fn an_empty_history_has_no_events_and_a_corrupt_one_is_an_error() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("{\"t\":1}\n").is_err());
    }
}

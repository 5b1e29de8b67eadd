//! Per-sender queues: each sender (`From`) has its own lane, drained at the sender's rate, so
//! a slow sender never delays another one.

use super::rates::RateTable;
use super::{lifecycle, Inner};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_domain::message::Message;
use switchboard_domain::TwilioError;

/// One sender's queue.
#[derive(Default)]
struct Lane {
    queue: VecDeque<Message>,
    queued_segments: u64,
    /// A task is draining this lane.
    running: bool,
}

/// Every sender's lane, with the rates they are drained at.
pub(super) struct Lanes {
    lanes: Mutex<HashMap<String, Lane>>,
    rates: RateTable,
    /// A lane may hold at most this many seconds of segments at its rate (21611).
    queue_limit_secs: u64,
}

/// Segments a message counts for in its lane (at least one, as an empty MMS still goes out).
fn cost(m: &Message) -> u64 {
    u64::from(m.num_segments.max(1))
}

impl Lanes {
    pub(super) fn new(rates: RateTable, queue_limit_secs: u64) -> Self {
        Lanes { lanes: Mutex::new(HashMap::new()), rates, queue_limit_secs }
    }

    /// 21611 when `from`'s lane already holds more than `queue_limit_secs` of segments at its
    /// rate. Unlimited senders never overflow.
    pub(super) fn check_capacity(&self, from: &str, segments: u32) -> Result<(), TwilioError> {
        let Some(rate) = self.rates.rate_for(from) else { return Ok(()) };
        let limit = rate * self.queue_limit_secs as f64;
        let queued = self.lanes.lock().map_or(0, |l| l.get(from).map_or(0, |lane| lane.queued_segments));
        if (queued + u64::from(segments)) as f64 > limit {
            return Err(TwilioError::queue_full(from));
        }
        Ok(())
    }

    /// Segments waiting per sender.
    pub(super) fn depths(&self) -> Vec<(String, u64)> {
        self.lanes
            .lock()
            .map_or_else(|_| Vec::new(), |l| l.iter().map(|(k, lane)| (k.clone(), lane.queued_segments)).collect())
    }

    /// Appends a message to its sender's lane; returns the sender when its lane was idle and
    /// needs a task to drain it.
    fn push(&self, message: Message) -> Option<String> {
        let sender = message.from.clone().unwrap_or_default();
        let Ok(mut lanes) = self.lanes.lock() else { return None };
        let lane = lanes.entry(sender.clone()).or_default();
        lane.queued_segments += cost(&message);
        lane.queue.push_back(message);
        let was_running = std::mem::replace(&mut lane.running, true);
        (!was_running).then_some(sender)
    }

    /// The next message of `sender`'s lane; `None` when the lane is empty, which also removes
    /// it, so the next [`Lanes::push`] starts a new task.
    fn pop(&self, sender: &str) -> Option<Message> {
        let mut lanes = self.lanes.lock().ok()?;
        let lane = lanes.get_mut(sender)?;
        match lane.queue.pop_front() {
            Some(m) => {
                lane.queued_segments = lane.queued_segments.saturating_sub(cost(&m));
                Some(m)
            }
            None => {
                lanes.remove(sender);
                None
            }
        }
    }
}

/// Queues a `queued` message on its sender's lane, starting the lane's task when idle.
pub(super) fn enqueue(inner: &Arc<Inner>, message: Message) {
    if let Some(sender) = inner.lanes.push(message) {
        tokio::spawn(run_lane(inner.clone(), sender));
    }
}

/// Drains one sender's lane at its rate; ends when the lane is empty. Each send of a paced
/// sender reserves its slot in the store, so with several nodes on one database the sender's
/// rate holds across all of them (one node: the same pacing, kept in memory).
async fn run_lane(inner: Arc<Inner>, sender: String) {
    let rate = inner.lanes.rates.rate_for(&sender);
    loop {
        let Some(message) = inner.lanes.pop(&sender) else { return };
        if let Some(mps) = rate {
            let interval = Duration::from_secs_f64(cost(&message) as f64 / mps);
            let wait = match inner.store.reserve_send_slot(&sender, interval).await {
                Ok(wait) => wait,
                // Without the store, pace this node alone: never faster than the rate.
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), %sender, "send slot not reserved; pacing locally");
                    interval
                }
            };
            tokio::time::sleep(wait).await;
        }
        tokio::spawn(lifecycle::send_one(inner.clone(), message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::test_message;

    const SENDER: &str = "+14155550100";

    fn lanes(mps: &str, limit_secs: u64) -> Lanes {
        let mut rates = RateTable::default();
        rates.set(&format!("{SENDER}={mps}")).unwrap();
        Lanes::new(rates, limit_secs)
    }

    fn message(segments: u32) -> Message {
        Message { num_segments: segments, ..test_message(SENDER, "+14155550101") }
    }

    #[test]
    fn a_paced_sender_refuses_segments_beyond_its_queue_limit_with_21611() {
        let lanes = lanes("1", 3);
        lanes.push(message(2));
        assert_eq!(lanes.check_capacity(SENDER, 1), Ok(()));
        let full = lanes.check_capacity(SENDER, 2).unwrap_err();
        assert_eq!(full, TwilioError::queue_full(SENDER));
    }

    #[test]
    fn an_unlimited_sender_never_overflows() {
        let lanes = lanes("1", 0);
        assert_eq!(lanes.check_capacity("+14155550199", 1_000), Ok(()));
    }

    #[test]
    fn only_the_push_into_an_idle_lane_asks_for_a_task() {
        let lanes = lanes("1", 10);
        assert_eq!(lanes.push(message(1)).as_deref(), Some(SENDER));
        assert_eq!(lanes.push(message(1)), None);
    }

    #[test]
    fn a_lane_counts_its_segments_and_an_empty_one_counts_as_one() {
        let lanes = lanes("1", 10);
        lanes.push(message(3));
        lanes.push(message(0));
        assert_eq!(lanes.depths(), [(SENDER.to_string(), 4)]);
        lanes.pop(SENDER);
        assert_eq!(lanes.depths(), [(SENDER.to_string(), 1)]);
    }

    #[test]
    fn draining_a_lane_removes_it_so_the_next_push_starts_a_new_task() {
        let lanes = lanes("1", 10);
        lanes.push(Message { body: "first".into(), ..message(1) });
        lanes.push(Message { body: "second".into(), ..message(1) });
        assert_eq!(lanes.pop(SENDER).map(|m| m.body), Some("first".into()));
        assert_eq!(lanes.pop(SENDER).map(|m| m.body), Some("second".into()));
        assert_eq!(lanes.pop(SENDER), None);
        assert!(lanes.depths().is_empty());
        assert_eq!(lanes.push(message(1)).as_deref(), Some(SENDER));
    }
}

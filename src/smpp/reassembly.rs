//! Concatenated inbound messages: parts (UDH or SAR) are collected in any order and the
//! message is handed on once every part is there. Parts are kept in memory (acknowledged as
//! they arrive, since many SMSCs send the next part only after the previous one's response);
//! an incomplete message is handed on with what arrived after [`PATIENCE`].

use super::wire::Part;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the parts of an incomplete message are kept.
pub const PATIENCE: Duration = Duration::from_secs(300);
/// Most incomplete messages kept at once (the oldest is handed on beyond it).
const MAX_PENDING: usize = 10_000;

/// Who sent a concatenated message to whom, and its reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// Sender as received.
    pub from: String,
    /// Recipient as received.
    pub to: String,
    /// The parts' reference.
    pub reference: u16,
    /// Parts in the message.
    pub total: u8,
}

struct Pending {
    parts: BTreeMap<u8, String>,
    since: Instant,
}

/// Parts awaiting their siblings.
#[derive(Default)]
pub struct Reassembly(Mutex<HashMap<Key, Pending>>);

impl Reassembly {
    /// Adds a part; returns the whole text once every part is there (a repeated part, as
    /// after a lost response, replaces its earlier copy). The parts stay until [`Self::done`]:
    /// if the whole cannot be stored, the SMSC sends the last part again and it completes again.
    pub fn add(&self, key: &Key, part: Part, text: String) -> Option<String> {
        let Ok(mut pending) = self.0.lock() else { return Some(text) };
        let entry =
            pending.entry(key.clone()).or_insert_with(|| Pending { parts: BTreeMap::new(), since: Instant::now() });
        entry.parts.insert(part.seq, text);
        (entry.parts.len() >= usize::from(key.total)).then(|| entry.parts.values().map(String::as_str).collect())
    }

    /// Forgets a message whose whole text was handed on.
    pub fn done(&self, key: &Key) {
        if let Ok(mut pending) = self.0.lock() {
            pending.remove(key);
        }
    }

    /// Messages whose parts waited longer than `patience` (or beyond the cap), with what
    /// arrived, in part order.
    pub fn expired(&self, patience: Duration) -> Vec<(Key, String)> {
        let Ok(mut pending) = self.0.lock() else { return Vec::new() };
        let mut old: Vec<Key> =
            pending.iter().filter(|(_, p)| p.since.elapsed() > patience).map(|(k, _)| k.clone()).collect();
        if pending.len() > MAX_PENDING {
            let mut by_age: Vec<(Instant, Key)> = pending.iter().map(|(k, p)| (p.since, k.clone())).collect();
            by_age.sort_by_key(|(since, _)| *since);
            old.extend(by_age.into_iter().take(pending.len() - MAX_PENDING).map(|(_, k)| k));
        }
        old.into_iter().filter_map(|k| pending.remove(&k).map(|p| (k, p.parts.into_values().collect()))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(reference: u16, total: u8) -> Key {
        Key { from: "+14155550100".into(), to: "+15005550006".into(), reference, total }
    }

    fn part(reference: u16, total: u8, seq: u8) -> Part {
        Part { reference, total, seq }
    }

    #[test]
    fn parts_in_any_order_make_one_message_once_all_are_there() {
        let r = Reassembly::default();
        assert_eq!(r.add(&key(7, 3), part(7, 3, 3), "c".into()), None);
        assert_eq!(r.add(&key(7, 3), part(7, 3, 1), "a".into()), None);
        assert_eq!(r.add(&key(7, 3), part(7, 3, 1), "a".into()), None, "a repeated part counts once");
        assert_eq!(r.add(&key(8, 2), part(8, 2, 1), "other".into()), None, "another reference is another message");
        assert_eq!(r.add(&key(7, 3), part(7, 3, 2), "b".into()), Some("abc".into()));
        assert_eq!(r.add(&key(7, 3), part(7, 3, 2), "b".into()), Some("abc".into()), "not stored: the last part again");
        r.done(&key(7, 3));
        assert!(r.expired(Duration::from_secs(300)).is_empty());
        assert_eq!(r.expired(Duration::ZERO), vec![(key(8, 2), "other".to_string())], "an incomplete one, handed on");
    }
}

//! Concatenated inbound messages: parts (UDH or SAR) are stored as they arrive, before the SMSC
//! is answered (many SMSCs send the next part only after the previous one's response), and the
//! message is handed on once every part is there, in any order and across restarts. A message
//! whose parts do not all come within the connector's `parts_timeout_secs` is handed on with
//! what came, marked with error 30009.

use crate::store::smpp::InboundKey;
use crate::store::{Store, StoreResult};
use std::time::Duration;

/// Twilio's "Missing inbound segment": an inbound message handed on without all of its parts.
pub const MISSING_SEGMENT: u32 = 30009;

/// Stores part `seq` of the message `key`; returns the whole text once every part is there (a
/// repeated part, as after a lost response, replaces its earlier copy). The parts stay until
/// [`Store::forget_inbound`]: if the whole cannot be stored, the SMSC sends the last part again
/// and it completes again.
pub async fn add(store: &dyn Store, key: &InboundKey, seq: u8, text: &str) -> StoreResult<Option<String>> {
    let parts = store.add_inbound_part(key, seq, text, crate::clock::now_ms()).await?;
    Ok((parts.len() >= usize::from(key.total)).then(|| join(&parts)))
}

/// The text of `parts` (by `seq`), and whether a part is missing.
pub fn whole(key: &InboundKey, parts: &[(u8, String)]) -> (String, bool) {
    (join(parts), parts.len() < usize::from(key.total))
}

fn join(parts: &[(u8, String)]) -> String {
    parts.iter().map(|(_, text)| text.as_str()).collect()
}

/// How often a connector looks for messages whose parts waited longer than `patience`: often
/// enough that one is handed on at most a quarter late (every 30 s at most, every second at
/// least).
pub fn sweep_every(patience: Duration) -> Duration {
    (patience / 4).clamp(Duration::from_secs(1), Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_join_in_order_and_a_missing_one_is_told() {
        let key = InboundKey { connector: "c".into(), from: "+1".into(), to: "+2".into(), reference: 7, total: 3 };
        let all = [(1, "a".to_string()), (2, "b".to_string()), (3, "c".to_string())];
        assert_eq!(whole(&key, &all), ("abc".to_string(), false));
        assert_eq!(whole(&key, &[all[0].clone(), all[2].clone()]), ("ac".to_string(), true));
    }

    #[test]
    fn the_sweep_runs_at_a_quarter_of_the_patience_between_1_and_30_seconds() {
        assert_eq!(sweep_every(Duration::from_secs(300)), Duration::from_secs(30));
        assert_eq!(sweep_every(Duration::from_secs(8)), Duration::from_secs(2));
        assert_eq!(sweep_every(Duration::from_secs(2)), Duration::from_secs(1));
    }
}

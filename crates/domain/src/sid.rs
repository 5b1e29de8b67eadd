//! SIDs: a two-letter prefix and 32 lowercase hex digits.
//!
//! Message SIDs are generated time-ordered: the first 12 hex digits are the creation time in
//! milliseconds, the rest random. The 32-digit part (the "key") therefore sorts in creation
//! order, which gives keyset paging for free: a `PageToken` of `PA` + the last SID on a page
//! carries its own position, even if that message is deleted before the next page is read.

use rand::Rng;
use std::sync::Mutex;

/// Length of a SID: 2 prefix letters + 32 hex digits.
pub const SID_LEN: usize = 34;

/// True when `s` is `prefix` followed by exactly 32 hex digits (either case, as Twilio's spec
/// patterns allow).
pub fn is_valid(s: &str, prefix: &str) -> bool {
    s.len() == SID_LEN && s.starts_with(prefix) && s.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit)
}

/// 32 random lowercase hex digits (account SIDs, auth tokens).
pub fn random_hex32() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

/// A new random SID with the given prefix (SIDs that need no ordering).
pub fn random(prefix: &str) -> String {
    format!("{prefix}{}", random_hex32())
}

/// The 32-hex-digit part of a SID; `None` if `sid` is not a well-formed SID.
pub fn key(sid: &str) -> Option<&str> {
    (sid.len() == SID_LEN && sid.is_char_boundary(2) && sid.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit))
        .then(|| &sid[2..])
}

/// The creation time (ms since the epoch) encoded in a time-ordered key.
pub fn key_millis(key: &str) -> Option<i64> {
    key.get(..12).and_then(|h| i64::from_str_radix(h, 16).ok())
}

/// Hands out time-ordered, strictly increasing keys for one process.
///
/// Strictly increasing (not just time-ordered) so that two messages created in the same
/// millisecond still list in creation order.
#[derive(Debug, Default)]
pub struct KeyGenerator {
    last: Mutex<u128>,
}

impl KeyGenerator {
    /// A generator with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next key for a record created at `now_ms` (ms since the epoch).
    pub fn next(&self, now_ms: i64) -> String {
        let rand_bits: u128 = rand::rng().random::<u128>() >> 48; // 80 random bits
        let candidate = ((now_ms.max(0) as u128 & 0xffff_ffff_ffff) << 80) | rand_bits;
        let mut last = match self.last.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let value = if candidate > *last { candidate } else { last.wrapping_add(1) };
        *last = value;
        format!("{value:032x}")
    }
}

/// Smallest key created at or after `ms`.
pub fn min_key_at(ms: i64) -> String {
    format!("{:012x}{}", ms.max(0), "0".repeat(20))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_32_lowercase_hex_and_strictly_increasing() {
        let g = KeyGenerator::new();
        let a = g.next(1_700_000_000_000);
        let b = g.next(1_700_000_000_000);
        let c = g.next(1_699_999_999_999); // clock stepped back: still increasing
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert!(a < b && b < c);
        assert_eq!(key_millis(&a), Some(1_700_000_000_000));
    }

    #[test]
    fn validation_checks_prefix_length_and_hex() {
        let sid = format!("SM{}", random_hex32());
        assert!(is_valid(&sid, "SM"));
        assert!(!is_valid(&sid, "MM"));
        assert!(!is_valid("SM123", "SM"));
        assert!(!is_valid(&format!("SM{}", "g".repeat(32)), "SM"));
        assert!(is_valid(&format!("AC{}", "A".repeat(32)), "AC"));
        assert_eq!(key(&sid).map(str::len), Some(32));
        assert_eq!(key("SMé"), None);
        assert_eq!(key(&format!("S{}", "é".repeat(17))), None);
    }

    #[test]
    fn min_key_sorts_before_every_key_of_that_millisecond() {
        let g = KeyGenerator::new();
        let k = g.next(5_000);
        assert!(min_key_at(5_000) <= k);
        assert!(min_key_at(5_001) > k);
    }
}

//! The built-in carrier simulator: deterministic outcomes by destination, so tests and
//! developers can produce every status on purpose.
//!
//! | destination | outcome |
//! | --- | --- |
//! | `+15005550300` | `sent`, and no receipt ever arrives |
//! | `+1500555030N`, N = 1…8 | error `3000N`: `failed` for 30001/30002, `undelivered` for 30003–30008 |
//! | anything else | `delivered` |

use std::time::Duration;
use switchboard_domain::message::Message;

/// Price of one outbound segment, USD (Twilio's US long-code list price, rounded).
const PRICE_PER_SEGMENT: f64 = 0.0079;

/// How a simulated message ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Delivery receipt: delivered.
    Delivered,
    /// Accepted by the carrier, never receipted.
    StaysSent,
    /// Rejected before the carrier accepted it.
    Failed(u32),
    /// Receipt: not delivered.
    Undelivered(u32),
}

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct Simulator {
    /// Delay before each lifecycle step.
    pub step_delay: Duration,
}

impl Simulator {
    /// The outcome for a destination (channel prefixes are ignored).
    pub fn outcome(&self, to: &str) -> Outcome {
        let number = to.rsplit(':').next().unwrap_or(to);
        match number.strip_prefix("+1500555030") {
            Some("0") => Outcome::StaysSent,
            Some(d) if d.len() == 1 => match d.as_bytes()[0] {
                b'1' => Outcome::Failed(30001),
                b'2' => Outcome::Failed(30002),
                n @ b'3'..=b'8' => Outcome::Undelivered(30000 + u32::from(n - b'0')),
                _ => Outcome::Delivered,
            },
            _ => Outcome::Delivered,
        }
    }

    /// Waits the configured step delay.
    pub async fn step_delay(&self) {
        if !self.step_delay.is_zero() {
            tokio::time::sleep(self.step_delay).await;
        }
    }

    /// The price of a message once sent: a negative decimal string, per segment.
    pub fn price(&self, m: &Message) -> String {
        format!("-{:.5}", PRICE_PER_SEGMENT * f64::from(m.num_segments.max(1)))
    }
}

/// Twilio's short description of a delivery error code.
pub fn error_message(code: u32) -> &'static str {
    match code {
        30001 => "Queue overflow",
        30002 => "Account suspended",
        30003 => "Unreachable destination handset",
        30004 => "Message blocked",
        30005 => "Unknown destination handset",
        30006 => "Landline or unreachable carrier",
        30007 => "Message filtered",
        30008 => "Unknown error",
        30036 => "Validity period expired",
        _ => "Unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_destinations_pick_their_outcome() {
        let s = Simulator { step_delay: Duration::ZERO };
        assert_eq!(s.outcome("+15005550300"), Outcome::StaysSent);
        assert_eq!(s.outcome("+15005550301"), Outcome::Failed(30001));
        assert_eq!(s.outcome("+15005550302"), Outcome::Failed(30002));
        for n in 3..=8 {
            assert_eq!(s.outcome(&format!("+1500555030{n}")), Outcome::Undelivered(30000 + n));
        }
        assert_eq!(s.outcome("+15005550309"), Outcome::Delivered);
        assert_eq!(s.outcome("whatsapp:+15005550304"), Outcome::Undelivered(30004));
        assert_eq!(s.outcome("+14155552671"), Outcome::Delivered);
    }
}

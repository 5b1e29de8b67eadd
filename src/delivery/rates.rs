//! Sender classes and their sending rates, in message segments per second (MPS).

use std::collections::HashMap;

/// What kind of sender a `From` is; Twilio rate-limits by class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SenderClass {
    /// A ten-digit or international phone number.
    LongCode,
    /// A US/Canada toll-free number (+1 800/833/844/855/866/877/888).
    TollFree,
    /// A short code.
    ShortCode,
    /// An alphanumeric sender ID.
    Alphanumeric,
    /// A channel address (`whatsapp:`, `rcs:`, …).
    Channel,
}

impl SenderClass {
    /// Every class.
    pub const ALL: [SenderClass; 5] = [
        SenderClass::LongCode,
        SenderClass::TollFree,
        SenderClass::ShortCode,
        SenderClass::Alphanumeric,
        SenderClass::Channel,
    ];

    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            SenderClass::LongCode => "long-code",
            SenderClass::TollFree => "toll-free",
            SenderClass::ShortCode => "short-code",
            SenderClass::Alphanumeric => "alphanumeric",
            SenderClass::Channel => "channel",
        }
    }

    /// Twilio's published default rate for the class.
    pub fn twilio_mps(self) -> f64 {
        match self {
            SenderClass::LongCode => 1.0,
            SenderClass::TollFree => 3.0,
            SenderClass::ShortCode => 100.0,
            SenderClass::Alphanumeric => 10.0,
            SenderClass::Channel => 80.0,
        }
    }

    /// Classifies a `From`.
    pub fn of(from: &str) -> SenderClass {
        if from.contains(':') {
            SenderClass::Channel
        } else if from.bytes().any(|b| b.is_ascii_alphabetic()) {
            SenderClass::Alphanumeric
        } else if !from.starts_with('+') {
            SenderClass::ShortCode
        } else if ["+1800", "+1833", "+1844", "+1855", "+1866", "+1877", "+1888"].iter().any(|p| from.starts_with(p)) {
            SenderClass::TollFree
        } else {
            SenderClass::LongCode
        }
    }
}

/// Rates per sender and per class; a sender with no rate is not limited.
#[derive(Debug, Clone, Default)]
pub struct RateTable {
    /// Apply Twilio's published class rates where nothing more specific is set.
    pub twilio_rates: bool,
    /// Rates by class.
    pub classes: HashMap<SenderClass, f64>,
    /// Rates by exact sender.
    pub senders: HashMap<String, f64>,
}

impl RateTable {
    /// Parses `KEY=MPS` where KEY is a class name or a sender; returns the table entry.
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (key, value) = spec.rsplit_once('=').ok_or_else(|| format!("sender rate {spec:?} must be KEY=MPS"))?;
        let mps: f64 = value.trim().parse().map_err(|_| format!("sender rate {spec:?}: {value:?} is not a number"))?;
        if !(mps.is_finite() && mps > 0.0) {
            return Err(format!("sender rate {spec:?} must be a positive number"));
        }
        match SenderClass::ALL.into_iter().find(|c| c.as_str() == key.trim()) {
            Some(class) => self.classes.insert(class, mps),
            None => self.senders.insert(key.trim().to_string(), mps),
        };
        Ok(())
    }

    /// The rate for a sender, or `None` for unlimited.
    pub fn rate_for(&self, from: &str) -> Option<f64> {
        if let Some(r) = self.senders.get(from) {
            return Some(*r);
        }
        let class = SenderClass::of(from);
        self.classes.get(&class).copied().or_else(|| self.twilio_rates.then(|| class.twilio_mps()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_are_classified_like_twilio() {
        assert_eq!(SenderClass::of("+14155550100"), SenderClass::LongCode);
        assert_eq!(SenderClass::of("+18005550100"), SenderClass::TollFree);
        assert_eq!(SenderClass::of("12345"), SenderClass::ShortCode);
        assert_eq!(SenderClass::of("MyBrand"), SenderClass::Alphanumeric);
        assert_eq!(SenderClass::of("whatsapp:+14155550100"), SenderClass::Channel);
    }

    #[test]
    fn specific_rates_win_over_class_and_twilio_defaults() {
        let mut t = RateTable::default();
        assert_eq!(t.rate_for("+14155550100"), None);
        t.twilio_rates = true;
        assert_eq!(t.rate_for("+14155550100"), Some(1.0));
        assert_eq!(t.rate_for("+18005550100"), Some(3.0));
        t.set("long-code=5").unwrap();
        assert_eq!(t.rate_for("+14155550100"), Some(5.0));
        t.set("+14155550100=20").unwrap();
        assert_eq!(t.rate_for("+14155550100"), Some(20.0));
        assert!(t.set("long-code=0").is_err());
        assert!(t.set("nonsense").is_err());
    }
}

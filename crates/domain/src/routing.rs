//! Messaging Service sender selection and opt-out keywords.
//!
//! Selection, in order (documented in the README):
//! 1. **sticky sender** — the sender this recipient got before, if it is still in the pool;
//! 2. **short code** of the recipient's country;
//! 3. **alphanumeric sender ID**, outside the US and Canada (where carriers do not accept them);
//! 4. **area-code geomatch** (US/Canada, when the service asks for it): a pool number with the
//!    recipient's area code;
//! 5. **country geomatch**: a pool number of the recipient's country;
//! 6. otherwise any pool number, spread across the pool (round robin).

use crate::address;

/// What kind of sender a pool member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateKind {
    /// Phone number.
    Phone,
    /// Short code.
    ShortCode,
    /// Alphanumeric sender ID.
    Alpha,
}

/// A pool member as selection sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// What goes in `From`.
    pub address: &'a str,
    /// Kind.
    pub kind: CandidateKind,
    /// ISO country (numbers and short codes).
    pub country: Option<&'a str>,
}

/// Picks the sender for `to` from `pool`; `spread` is any ever-increasing counter (round
/// robin among equal candidates). `None` when no member can reach the recipient.
pub fn select_sender(
    pool: &[Candidate<'_>],
    to: &str,
    sticky: Option<&str>,
    area_code_geomatch: bool,
    spread: usize,
) -> Option<usize> {
    if let Some(s) = sticky {
        if let Some(i) = pool.iter().position(|c| c.address == s) {
            return Some(i);
        }
    }
    let number = to.rsplit(':').next().unwrap_or(to);
    let country = address::parse_to(number).and_then(|a| a.country());
    let country = country.as_deref().or_else(|| number.starts_with("+1").then_some("US"));
    let is_channel = to.contains(':');
    let pick = |matches: &dyn Fn(&Candidate<'_>) -> bool| -> Option<usize> {
        let hits: Vec<usize> = pool.iter().enumerate().filter(|(_, c)| matches(c)).map(|(i, _)| i).collect();
        (!hits.is_empty()).then(|| hits[spread % hits.len()])
    };
    if !is_channel {
        if let Some(i) = pick(&|c| c.kind == CandidateKind::ShortCode && country.is_some() && c.country == country) {
            return Some(i);
        }
        let nanp = matches!(country, Some("US" | "CA"));
        if !nanp {
            if let Some(i) = pick(&|c| c.kind == CandidateKind::Alpha) {
                return Some(i);
            }
        }
    }
    if area_code_geomatch && number.starts_with("+1") && number.len() >= 5 {
        let area = &number[2..5];
        if let Some(i) = pick(&|c| {
            c.kind == CandidateKind::Phone && c.address.starts_with("+1") && c.address.get(2..5) == Some(area)
        }) {
            return Some(i);
        }
    }
    if let Some(i) = pick(&|c| c.kind == CandidateKind::Phone && country.is_some() && c.country == country) {
        return Some(i);
    }
    pick(&|c| c.kind == CandidateKind::Phone)
}

/// An opt-out keyword received from a handset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT: no more messages.
    Stop,
    /// START, YES, UNSTOP: messages again.
    Start,
    /// HELP, INFO: send the help text.
    Help,
}

impl Keyword {
    /// Recognises a keyword: the whole body, trimmed, any case (as Twilio's Advanced Opt-Out
    /// does for its defaults).
    pub fn parse(body: &str) -> Option<Keyword> {
        let word = body.trim().trim_end_matches(['.', '!']).to_ascii_uppercase();
        match word.as_str() {
            "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" => Some(Keyword::Stop),
            "START" | "YES" | "UNSTOP" => Some(Keyword::Start),
            "HELP" | "INFO" => Some(Keyword::Help),
            _ => None,
        }
    }

    /// The `OptOutType` webhook parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Stop => "STOP",
            Keyword::Start => "START",
            Keyword::Help => "HELP",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(a: &'static str, country: &'static str) -> Candidate<'static> {
        Candidate { address: a, kind: CandidateKind::Phone, country: Some(country) }
    }

    #[test]
    fn sticky_sender_wins_while_it_is_in_the_pool() {
        let pool = [phone("+14155550100", "US"), phone("+12125550100", "US")];
        assert_eq!(select_sender(&pool, "+14155552671", Some("+12125550100"), true, 0), Some(1));
        assert_eq!(select_sender(&pool, "+14155552671", Some("+19995550100"), true, 0), Some(0));
    }

    #[test]
    fn area_code_then_country_then_any() {
        let pool = [phone("+442079460958", "GB"), phone("+12125550100", "US"), phone("+14155550100", "US")];
        assert_eq!(select_sender(&pool, "+14155552671", None, true, 0), Some(2));
        assert_eq!(select_sender(&pool, "+13105552671", None, true, 0), Some(1)); // same country, spread 0
        assert_eq!(select_sender(&pool, "+13105552671", None, true, 1), Some(2));
        assert_eq!(select_sender(&pool, "+442079460000", None, true, 7), Some(0));
        assert_eq!(select_sender(&pool, "+81312345678", None, true, 0), Some(0));
        assert_eq!(select_sender(&[], "+14155552671", None, true, 0), None);
    }

    #[test]
    fn short_codes_serve_their_country_and_alpha_ids_serve_outside_north_america() {
        let pool = [
            phone("+14155550100", "US"),
            Candidate { address: "12345", kind: CandidateKind::ShortCode, country: Some("US") },
            Candidate { address: "MyBrand", kind: CandidateKind::Alpha, country: None },
        ];
        assert_eq!(select_sender(&pool, "+14155552671", None, true, 0), Some(1));
        assert_eq!(select_sender(&pool, "+442079460958", None, true, 0), Some(2));
        let only_alpha = [Candidate { address: "MyBrand", kind: CandidateKind::Alpha, country: None }];
        assert_eq!(select_sender(&only_alpha, "+14155552671", None, true, 0), None);
    }

    #[test]
    fn keywords_are_whole_bodies_in_any_case() {
        assert_eq!(Keyword::parse(" stop "), Some(Keyword::Stop));
        assert_eq!(Keyword::parse("Unsubscribe."), Some(Keyword::Stop));
        assert_eq!(Keyword::parse("START"), Some(Keyword::Start));
        assert_eq!(Keyword::parse("info"), Some(Keyword::Help));
        assert_eq!(Keyword::parse("please stop"), None);
    }
}

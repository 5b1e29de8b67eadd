//! `To` and `From` addresses: E.164 phone numbers (validated with libphonenumber's metadata),
//! short codes, alphanumeric sender IDs and channel addresses such as `whatsapp:+1…`.

use phonenumber::Mode;

/// Channel prefixes Twilio uses for non-SMS channels; the prefix is kept on the address.
pub const CHANNELS: [&str; 4] = ["whatsapp", "messenger", "rcs", "apple"];

/// What kind of sender or recipient an address is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressKind {
    /// An E.164 phone number (`+14155552671`).
    Phone,
    /// A short code (`12345`), only valid as `From`.
    ShortCode,
    /// An alphanumeric sender ID (`MyBrand`), only valid as `From`.
    Alphanumeric,
    /// A channel address (`whatsapp:+14155552671`); holds the channel name.
    Channel(&'static str),
}

/// A parsed address: its normalised text (what is stored and echoed) and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Normalised form: E.164 for phone numbers, the prefix kept for channels.
    pub text: String,
    /// The kind of address.
    pub kind: AddressKind,
}

impl Address {
    /// The ISO country of a phone (or phone-based channel) address, if known.
    pub fn country(&self) -> Option<String> {
        let number = match &self.kind {
            AddressKind::Phone => self.text.as_str(),
            AddressKind::Channel(ch) => self.text.strip_prefix(ch)?.strip_prefix(':')?,
            _ => return None,
        };
        country_of(number)
    }
}

/// Parses an E.164 number (a leading `+` is optional, as Twilio tolerates) into E.164 text.
///
/// libphonenumber's validation is the most expensive step of a create (its regex cache sits
/// behind a process-wide lock), and applications send to and from the same numbers again and
/// again, so results are remembered in a small per-thread cache.
pub fn parse_phone(s: &str) -> Option<String> {
    const CACHE_ENTRIES: usize = 4096;
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<String, Option<String>>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    if s.len() > 64 {
        return parse_phone_uncached(s);
    }
    if let Some(hit) = CACHE.with(|c| c.borrow().get(s).cloned()) {
        return hit;
    }
    let parsed = parse_phone_uncached(s);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_ENTRIES {
            c.clear(); // crude but bounded; a hit rate this cache cannot keep needs no cache
        }
        c.insert(s.to_string(), parsed.clone());
    });
    parsed
}

fn parse_phone_uncached(s: &str) -> Option<String> {
    let s = s.trim();
    let digits = s.strip_prefix('+').unwrap_or(s);
    // Only digits and the usual punctuation; libphonenumber would otherwise accept letters
    // ("vanity" numbers) and extensions, which Twilio does not send to.
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.')) {
        return None;
    }
    let number = phonenumber::parse(None, format!("+{digits}")).ok()?;
    if !phonenumber::is_valid(&number) && !is_test_number(&number.format().mode(Mode::E164).to_string()) {
        return None;
    }
    Some(number.format().mode(Mode::E164).to_string())
}

/// The ISO country of an E.164 number, if libphonenumber can place it (cached per thread).
pub fn country_of(e164: &str) -> Option<String> {
    const CACHE_ENTRIES: usize = 4096;
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<String, Option<String>>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    if let Some(hit) = CACHE.with(|c| c.borrow().get(e164).cloned()) {
        return hit;
    }
    let country = phonenumber::parse(None, e164).ok().and_then(|p| p.country().id().map(|id| id.as_ref().to_string()));
    if e164.len() <= 64 {
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= CACHE_ENTRIES {
                c.clear();
            }
            c.insert(e164.to_string(), country.clone());
        });
    }
    country
}

/// The form Twilio keeps of the other party's address under `AddressRetention=obfuscate`: its
/// last four digits become `XXXX` (`+14155552671` → `+1415555XXXX`, `whatsapp:+1…` keeps its
/// prefix). An address that does not end in four digits (already obfuscated, an opaque channel
/// ID) is returned as it is, so obfuscating twice changes nothing.
pub fn obfuscate(address: &str) -> String {
    let Some(head) = address.len().checked_sub(4) else { return address.to_string() };
    match address.get(head..) {
        Some(tail) if tail.bytes().all(|b| b.is_ascii_digit()) => format!("{}XXXX", &address[..head]),
        _ => address.to_string(),
    }
}

/// Twilio's test-credential numbers (`+1500555xxxx`) and the docs' fictional `+1555…`
/// numbers must parse, though libphonenumber does not list them as assigned.
fn is_test_number(e164: &str) -> bool {
    e164.len() == 12 && (e164.starts_with("+1500555") || e164.starts_with("+1555"))
}

/// Parses a `To` value: a phone number or a channel address.
pub fn parse_to(s: &str) -> Option<Address> {
    if let Some(addr) = parse_channel(s) {
        return Some(addr);
    }
    parse_phone(s).map(|text| Address { text, kind: AddressKind::Phone })
}

/// Parses a `From` value: a phone number, short code, alphanumeric sender ID or channel address.
pub fn parse_from(s: &str) -> Option<Address> {
    if let Some(addr) = parse_channel(s) {
        return Some(addr);
    }
    let t = s.trim();
    if (3..=8).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Address { text: t.to_string(), kind: AddressKind::ShortCode });
    }
    if is_alphanumeric_sender(t) {
        return Some(Address { text: t.to_string(), kind: AddressKind::Alphanumeric });
    }
    parse_phone(t).map(|text| Address { text, kind: AddressKind::Phone })
}

/// Alphanumeric sender IDs: 1–11 of `A-Z a-z 0-9 space - + _ &`, at least one letter.
fn is_alphanumeric_sender(s: &str) -> bool {
    (1..=11).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'-' | b'+' | b'_' | b'&'))
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

/// `channel:identifier`. WhatsApp and RCS identifiers are phone numbers (RCS may also be an
/// agent ID); Messenger and Apple identifiers are opaque IDs.
fn parse_channel(s: &str) -> Option<Address> {
    let (prefix, rest) = s.trim().split_once(':')?;
    let channel = CHANNELS.into_iter().find(|c| c.eq_ignore_ascii_case(prefix))?;
    let ident = match channel {
        "whatsapp" => parse_phone(rest)?,
        "rcs" => parse_phone(rest).or_else(|| is_opaque_id(rest).then(|| rest.to_string()))?,
        _ => is_opaque_id(rest).then(|| rest.to_string())?,
    };
    Some(Address { text: format!("{channel}:{ident}"), kind: AddressKind::Channel(channel) })
}

fn is_opaque_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_are_validated_and_normalised() {
        assert_eq!(parse_phone("+14155552671").as_deref(), Some("+14155552671"));
        assert_eq!(parse_phone("14155552671").as_deref(), Some("+14155552671"));
        assert_eq!(parse_phone("+44 20 7946 0958").as_deref(), Some("+442079460958"));
        assert_eq!(parse_phone("+1"), None);
        assert_eq!(parse_phone("abc"), None);
        assert_eq!(parse_phone("+1415555ABCD"), None);
        assert_eq!(parse_phone(""), None);
    }

    #[test]
    fn twilio_test_and_documentation_numbers_parse() {
        assert!(parse_phone("+15005550006").is_some());
        assert!(parse_phone("+15558675310").is_some());
    }

    #[test]
    fn from_accepts_short_codes_alphanumerics_and_channels() {
        assert_eq!(parse_from("12345").map(|a| a.kind), Some(AddressKind::ShortCode));
        assert_eq!(parse_from("MyBrand").map(|a| a.kind), Some(AddressKind::Alphanumeric));
        assert_eq!(parse_from("Twelve chars").map(|a| a.kind), None);
        assert_eq!(parse_from("!!bad!!"), None);
        let wa = parse_from("whatsapp:+14155552671").unwrap();
        assert_eq!((wa.text.as_str(), &wa.kind), ("whatsapp:+14155552671", &AddressKind::Channel("whatsapp")));
        assert_eq!(wa.country().as_deref(), Some("US"));
    }

    #[test]
    fn obfuscation_replaces_the_last_four_digits_with_xxxx_and_keeps_any_channel_prefix() {
        assert_eq!(obfuscate("+14155552671"), "+1415555XXXX");
        assert_eq!(obfuscate("whatsapp:+14155552671"), "whatsapp:+1415555XXXX");
        assert_eq!(obfuscate("+442079460958"), "+44207946XXXX");
        assert_eq!(obfuscate("+1415555XXXX"), "+1415555XXXX", "idempotent");
        assert_eq!(obfuscate("messenger:page.name"), "messenger:page.name");
        assert_eq!(obfuscate("123"), "123");
        assert_eq!(obfuscate("+1415555267€"), "+1415555267€", "a multi-byte tail is not split");
    }

    #[test]
    fn to_rejects_short_codes_and_alphanumerics() {
        assert_eq!(parse_to("MyBrand"), None);
        assert!(parse_to("messenger:1234567890").is_some());
        assert!(parse_to("rcs:+14155552671").is_some());
        assert_eq!(parse_to("whatsapp:notanumber"), None);
        assert_eq!(parse_to("fax:+14155552671"), None);
    }
}

//! One SMPP connector's settings: `--smpp smpp://SYSTEM_ID:PASSWORD@host:port?name=…&window=…`
//! or a `[[smpp]]` table in the configuration file (`url = "smpp://…"` plus the same keys).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// How the message ids of submit responses and of receipts are compared (carriers differ: the
/// most frequent cause of unmatched receipts). Every id is also trimmed, upper-cased and
/// stripped of leading zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DlrIdMode {
    /// The same form on both sides.
    #[default]
    AsIs,
    /// Hexadecimal in `submit_sm_resp`, decimal in the receipt (Vonage/Nexmo).
    RespHexDlrDec,
    /// Decimal in `submit_sm_resp`, hexadecimal in the receipt.
    RespDecDlrHex,
    /// Tries as-is, then either conversion, among the ids awaiting a receipt.
    Auto,
}

impl DlrIdMode {
    fn parse(s: &str) -> Result<Self, String> {
        match s {
            "as_is" => Ok(DlrIdMode::AsIs),
            "resp_hex_dlr_dec" => Ok(DlrIdMode::RespHexDlrDec),
            "resp_dec_dlr_hex" => Ok(DlrIdMode::RespDecDlrHex),
            "auto" => Ok(DlrIdMode::Auto),
            _ => Err(format!("dlr_id must be as_is, resp_hex_dlr_dec, resp_dec_dlr_hex or auto, got {s:?}")),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            DlrIdMode::AsIs => "as_is",
            DlrIdMode::RespHexDlrDec => "resp_hex_dlr_dec",
            DlrIdMode::RespDecDlrHex => "resp_dec_dlr_hex",
            DlrIdMode::Auto => "auto",
        }
    }
}

/// Which binds make up one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindMode {
    /// One transceiver bind: submits, receipts and inbound messages on one connection.
    #[default]
    Transceiver,
    /// A transmitter bind for submits and a receiver bind for receipts and inbound messages
    /// (for SMSCs that do not offer transceiver binds).
    TransmitterReceiver,
}

impl BindMode {
    fn parse(s: &str) -> Result<Self, String> {
        // In a URL query `tx+rx` arrives as `tx rx`.
        match s {
            "trx" | "transceiver" => Ok(BindMode::Transceiver),
            "tx+rx" | "tx rx" | "tx_rx" => Ok(BindMode::TransmitterReceiver),
            _ => Err(format!("smpp bind must be trx or tx+rx, got {s:?}")),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            BindMode::Transceiver => "trx",
            BindMode::TransmitterReceiver => "tx_rx",
        }
    }
}

/// How a message longer than one segment is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LongMessages {
    /// One `submit_sm` per part, each behind a UDH with an 8-bit reference (153 septets / 67
    /// UTF-16 units a part, where Switchboard counts segments).
    #[default]
    Udh8,
    /// A UDH with a 16-bit reference: one octet more of header, so 152 / 66 a part.
    Udh16,
    /// One `submit_sm` per part without a UDH, the `sar_*` TLVs saying where it belongs (the
    /// SMSC adds the UDH: 153 / 67 a part).
    Sar,
    /// The whole body in one `submit_sm`'s `message_payload` TLV (the SMSC splits it): one
    /// SMSC id, one receipt.
    Payload,
}

impl LongMessages {
    fn parse(s: &str) -> Result<Self, String> {
        match s {
            "udh8" | "udh" => Ok(LongMessages::Udh8),
            "udh16" => Ok(LongMessages::Udh16),
            "sar" => Ok(LongMessages::Sar),
            "payload" | "message_payload" => Ok(LongMessages::Payload),
            _ => Err(format!("smpp long_messages must be udh8, udh16, sar or payload, got {s:?}")),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            LongMessages::Udh8 => "udh8",
            LongMessages::Udh16 => "udh16",
            LongMessages::Sar => "sar",
            LongMessages::Payload => "payload",
        }
    }
}

/// What the octets of a `data_coding` 0 ("SMSC default alphabet") message are: SMSCs differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Charset {
    /// GSM 03.38, unpacked (one septet per octet, extension characters as `1B xx`).
    #[default]
    Gsm,
    /// ISO 8859-1; a character outside it is sent as `?`.
    Latin1,
    /// US-ASCII; a character outside it is sent as `?`.
    Ascii,
}

impl Charset {
    fn parse(s: &str) -> Result<Self, String> {
        match s {
            "gsm" | "gsm7" => Ok(Charset::Gsm),
            "latin1" | "iso-8859-1" => Ok(Charset::Latin1),
            "ascii" => Ok(Charset::Ascii),
            _ => Err(format!("smpp charset must be gsm, latin1 or ascii, got {s:?}")),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Charset::Gsm => "gsm",
            Charset::Latin1 => "latin1",
            Charset::Ascii => "ascii",
        }
    }
}

/// A connector's settings.
#[derive(Clone, PartialEq)]
pub struct SmppSettings {
    /// Name in logs, metrics and stored carrier ids (default `smpp1`, `smpp2`, … by position).
    pub name: String,
    /// SMSC host.
    pub host: String,
    /// SMSC port (default 2775).
    pub port: u16,
    /// `smpps://`: TLS.
    pub tls: bool,
    /// `system_id` of the bind.
    pub system_id: String,
    /// Password of the bind.
    pub password: String,
    /// `system_type` of the bind (default empty).
    pub system_type: String,
    /// Most `submit_sm` awaiting their response at once (default 10).
    pub window: usize,
    /// Most `submit_sm` (segments) per second; 0 = unlimited (default).
    pub mps: f64,
    /// Seconds between `enquire_link`s (default 30).
    pub enquire_link_secs: u64,
    /// Seconds to wait for a response (default 30).
    pub response_timeout_secs: u64,
    /// Longest wait between reconnection attempts, seconds (default 60).
    pub reconnect_max_secs: u64,
    /// How long the parts of a concatenated inbound message wait for the missing ones before
    /// it is handed on with what came (error 30009), seconds from its first part (default 300).
    pub parts_timeout_secs: u64,
    /// How receipt ids are matched.
    pub dlr_id: DlrIdMode,
    /// TON of short-code (3–8 digit) addresses (default 3, network specific).
    pub short_code_ton: u8,
    /// NPI of short-code addresses (default 0).
    pub short_code_npi: u8,
    /// Only messages to these prefixes (digits, `+` optional); empty: any destination.
    pub to_prefixes: Vec<String>,
    /// Only messages from these sender prefixes; empty: any sender.
    pub from_prefixes: Vec<String>,
    /// Only messages whose destination (without `+`) matches this whole pattern.
    pub to_pattern: Option<Pattern>,
    /// Only messages whose sender (without `+`) matches this whole pattern.
    pub from_pattern: Option<Pattern>,
    /// Only these accounts' messages; empty: every account.
    pub accounts: Vec<String>,
    /// Failover tier: a message goes to the bound connectors with the lowest priority that
    /// route it, shared among them by `weight`. 0 in the settings means "not given": the
    /// configuration then makes it the connector's position (1, 2, …), so connectors fail over
    /// in order unless they are given the same priority.
    pub priority: u32,
    /// Share of its tier's messages (default 1).
    pub weight: u32,
    /// Sessions (binds, or transmitter + receiver pairs) to the SMSC (default 1); each has its
    /// own window.
    pub sessions: usize,
    /// Transceiver (default) or transmitter + receiver binds.
    pub bind: BindMode,
    /// How long messages are sent (default 8-bit UDH).
    pub long_messages: LongMessages,
    /// What `data_coding` 0 octets are, both ways (default GSM 03.38).
    pub charset: Charset,
    /// `smpps://`: a PEM file of CA certificates trusted besides the system's (a carrier's
    /// private CA).
    pub ca_file: Option<String>,
}

impl fmt::Debug for SmppSettings {
    // The password stays out of logs and panics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmppSettings")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("system_id", &self.system_id)
            .field("window", &self.window)
            .field("mps", &self.mps)
            .field("dlr_id", &self.dlr_id)
            .field("priority", &self.priority)
            .field("weight", &self.weight)
            .field("sessions", &self.sessions)
            .field("bind", &self.bind)
            .field("long_messages", &self.long_messages)
            .field("charset", &self.charset)
            .field("to_pattern", &self.to_pattern)
            .field("from_pattern", &self.from_pattern)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl SmppSettings {
    /// `smpp://` or `smpps://` URL of the SMSC, for the client library.
    pub fn address(&self) -> String {
        format!("{}://{}:{}", if self.tls { "smpps" } else { "smpp" }, self.host, self.port)
    }

    /// Applies one `key=value` setting (a URL query parameter or a `[[smpp]]` key).
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        fn number<T: FromStr>(key: &str, value: &str) -> Result<T, String> {
            value.parse().map_err(|_| format!("smpp {key} must be a number, got {value:?}"))
        }
        match key {
            "name" => {
                if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                    return Err(format!("smpp name must be letters, digits, '-' or '_', got {value:?}"));
                }
                self.name = value.to_string();
            }
            "system_type" => self.system_type = value.to_string(),
            "window" => {
                self.window = number(key, value)?;
                if !(1..=1000).contains(&self.window) {
                    return Err(format!("smpp window must be 1 to 1000, got {value}"));
                }
            }
            "mps" => {
                self.mps = number(key, value)?;
                if !self.mps.is_finite() || self.mps < 0.0 {
                    return Err(format!("smpp mps must be 0 (unlimited) or more, got {value}"));
                }
            }
            "enquire_link_secs" => self.enquire_link_secs = number(key, value)?,
            "response_timeout_secs" => self.response_timeout_secs = number(key, value)?,
            "reconnect_max_secs" => self.reconnect_max_secs = number(key, value)?,
            "parts_timeout_secs" => self.parts_timeout_secs = number(key, value)?,
            "dlr_id" => self.dlr_id = DlrIdMode::parse(value)?,
            "short_code_ton" => self.short_code_ton = number(key, value)?,
            "short_code_npi" => self.short_code_npi = number(key, value)?,
            "to_prefixes" => self.to_prefixes = list(value),
            "from_prefixes" => self.from_prefixes = list(value),
            "to_pattern" => self.to_pattern = Pattern::parse(key, value)?,
            "from_pattern" => self.from_pattern = Pattern::parse(key, value)?,
            "accounts" => self.accounts = list(value),
            "priority" => {
                self.priority = number(key, value)?;
                if self.priority == 0 {
                    return Err("smpp priority must be 1 or more (lower is tried first)".into());
                }
            }
            "weight" => {
                self.weight = number(key, value)?;
                if !(1..=1000).contains(&self.weight) {
                    return Err(format!("smpp weight must be 1 to 1000, got {value}"));
                }
            }
            "sessions" => {
                self.sessions = number(key, value)?;
                if !(1..=64).contains(&self.sessions) {
                    return Err(format!("smpp sessions must be 1 to 64, got {value}"));
                }
            }
            "bind" => self.bind = BindMode::parse(value)?,
            "long_messages" => self.long_messages = LongMessages::parse(value)?,
            "charset" => self.charset = Charset::parse(value)?,
            "ca_file" => self.ca_file = Some(value.to_string()).filter(|v| !v.is_empty()),
            _ => return Err(format!("unknown smpp setting {key:?}")),
        }
        if [self.enquire_link_secs, self.response_timeout_secs, self.reconnect_max_secs, self.parts_timeout_secs]
            .contains(&0)
        {
            return Err(format!("smpp {key} must be at least 1"));
        }
        Ok(())
    }

    /// Parses `smpp://SYSTEM_ID:PASSWORD@host[:port][?key=value&…]`.
    pub fn parse_url(text: &str) -> Result<SmppSettings, String> {
        let url =
            url::Url::parse(text).map_err(|e| format!("--smpp must be smpp://SYSTEM_ID:PASSWORD@host:port ({e})"))?;
        let tls = match url.scheme() {
            "smpp" => false,
            "smpps" | "ssmpp" => true,
            other => return Err(format!("--smpp must start with smpp:// or smpps://, got {other}://")),
        };
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or("--smpp needs a host")?;
        let decode = |s: &str| percent_decode(s);
        let system_id = decode(url.username());
        if system_id.is_empty() {
            return Err("--smpp needs a SYSTEM_ID (smpp://SYSTEM_ID:PASSWORD@host)".into());
        }
        if system_id.len() > 15 {
            return Err(format!("smpp system_id is at most 15 characters, got {}", system_id.len()));
        }
        let password = decode(url.password().unwrap_or(""));
        if password.len() > 8 {
            return Err("smpp password is at most 8 characters (SMPP 3.4)".into());
        }
        let mut s = SmppSettings {
            name: String::new(),
            host: host.trim_start_matches('[').trim_end_matches(']').to_string(),
            port: url.port().unwrap_or(2775),
            tls,
            system_id,
            password,
            system_type: String::new(),
            window: 10,
            mps: 0.0,
            enquire_link_secs: 30,
            response_timeout_secs: 30,
            reconnect_max_secs: 60,
            parts_timeout_secs: 300,
            dlr_id: DlrIdMode::AsIs,
            short_code_ton: 3,
            short_code_npi: 0,
            to_prefixes: Vec::new(),
            from_prefixes: Vec::new(),
            to_pattern: None,
            from_pattern: None,
            accounts: Vec::new(),
            priority: 0,
            weight: 1,
            sessions: 1,
            bind: BindMode::Transceiver,
            long_messages: LongMessages::Udh8,
            charset: Charset::Gsm,
            ca_file: None,
        };
        for (k, v) in url.query_pairs() {
            s.set(&k, &v)?;
        }
        Ok(s)
    }

    /// The canonical URL form (every setting in the query), which parses back to `self`.
    pub fn to_url(&self) -> String {
        let mut url = format!(
            "{}://{}:{}@{}:{}?",
            if self.tls { "smpps" } else { "smpp" },
            percent_encode(&self.system_id),
            percent_encode(&self.password),
            if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() },
            self.port
        );
        let mut q = form_urlencoded::Serializer::new(String::new());
        if !self.name.is_empty() {
            q.append_pair("name", &self.name);
        }
        q.append_pair("system_type", &self.system_type)
            .append_pair("window", &self.window.to_string())
            .append_pair("mps", &self.mps.to_string())
            .append_pair("enquire_link_secs", &self.enquire_link_secs.to_string())
            .append_pair("response_timeout_secs", &self.response_timeout_secs.to_string())
            .append_pair("reconnect_max_secs", &self.reconnect_max_secs.to_string())
            .append_pair("parts_timeout_secs", &self.parts_timeout_secs.to_string())
            .append_pair("dlr_id", self.dlr_id.as_str())
            .append_pair("short_code_ton", &self.short_code_ton.to_string())
            .append_pair("short_code_npi", &self.short_code_npi.to_string())
            .append_pair("weight", &self.weight.to_string())
            .append_pair("sessions", &self.sessions.to_string())
            .append_pair("bind", self.bind.as_str())
            .append_pair("long_messages", self.long_messages.as_str())
            .append_pair("charset", self.charset.as_str());
        if let Some(ca_file) = &self.ca_file {
            q.append_pair("ca_file", ca_file);
        }
        if self.priority != 0 {
            q.append_pair("priority", &self.priority.to_string());
        }
        for (key, pattern) in [("to_pattern", &self.to_pattern), ("from_pattern", &self.from_pattern)] {
            if let Some(p) = pattern {
                q.append_pair(key, &p.text);
            }
        }
        for (key, values) in
            [("to_prefixes", &self.to_prefixes), ("from_prefixes", &self.from_prefixes), ("accounts", &self.accounts)]
        {
            if !values.is_empty() {
                q.append_pair(key, &values.join(","));
            }
        }
        url.push_str(&q.finish());
        url
    }
}

/// A comma-separated list; a leading `+` is dropped (in a URL query `+` reads as a space).
fn list(value: &str) -> Vec<String> {
    value.split(',').map(|v| v.trim().trim_start_matches('+').to_string()).filter(|v| !v.is_empty()).collect()
}

/// Whether `address` starts with one of `prefixes` (compared without `+`); an empty list
/// matches everything.
fn starts_with_any(prefixes: &[String], address: &str) -> bool {
    let bare = address.trim_start_matches('+');
    prefixes.is_empty() || prefixes.iter().any(|p| bare.starts_with(p.as_str()))
}

/// A route's regular expression, matched against a whole address (without its `+`).
#[derive(Clone)]
pub struct Pattern {
    /// As written in the settings.
    pub text: String,
    /// `^(?:text)$`.
    regex: regex::Regex,
}

impl Pattern {
    /// `None` for an empty value (no pattern); an error naming `key` for an invalid one.
    fn parse(key: &str, value: &str) -> Result<Option<Pattern>, String> {
        if value.is_empty() {
            return Ok(None);
        }
        let build = |pattern: &str| {
            regex::RegexBuilder::new(pattern)
                // Addresses are short: a small limit refuses runaway patterns at start-up.
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("smpp {key} {value:?} is not a valid regular expression: {e}"))
        };
        // The pattern alone first, so an error points into what the operator wrote.
        build(value)?;
        let regex = build(&format!("^(?:{value})$"))?;
        Ok(Some(Pattern { text: value.to_string(), regex }))
    }

    /// Whether the whole of `address` (without its `+`) matches.
    pub fn matches(&self, address: &str) -> bool {
        self.regex.is_match(address.trim_start_matches('+'))
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

impl SmppSettings {
    /// Whether this connector carries a message of `account_sid` from `from` to `to`: every
    /// route setting given (prefixes, patterns, accounts) must take it.
    pub fn routes(&self, account_sid: &str, from: &str, to: &str) -> bool {
        starts_with_any(&self.to_prefixes, to)
            && starts_with_any(&self.from_prefixes, from)
            && self.to_pattern.as_ref().is_none_or(|p| p.matches(to))
            && self.from_pattern.as_ref().is_none_or(|p| p.matches(from))
            && (self.accounts.is_empty() || self.accounts.iter().any(|a| a == account_sid))
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

fn percent_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl FromStr for SmppSettings {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        SmppSettings::parse_url(s)
    }
}

/// The file forms: a URL string, or a table with `url` and the query keys.
#[derive(Deserialize)]
#[serde(untagged)]
enum FileForm {
    Url(String),
    Table {
        url: String,
        #[serde(flatten)]
        rest: BTreeMap<String, serde_json::Value>,
    },
}

impl<'de> Deserialize<'de> for SmppSettings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let form = FileForm::deserialize(d)
            .map_err(|_| serde::de::Error::custom("an smpp connector is a URL or a table with `url` and settings"))?;
        let (url, rest) = match form {
            FileForm::Url(url) => (url, BTreeMap::new()),
            FileForm::Table { url, rest } => (url, rest),
        };
        let mut s = SmppSettings::parse_url(&url).map_err(serde::de::Error::custom)?;
        for (key, value) in rest {
            let text = match value {
                serde_json::Value::String(t) => t,
                // `to_prefixes = ["44", "33"]`
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            s.set(&key, &text).map_err(serde::de::Error::custom)?;
        }
        Ok(s)
    }
}

impl Serialize for SmppSettings {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_carries_credentials_address_and_settings() {
        let s =
            SmppSettings::parse_url("smpp://sys%40a:p%26w@smsc.example.net:2776?name=eu&window=64&mps=50&dlr_id=auto")
                .unwrap();
        assert_eq!((s.system_id.as_str(), s.password.as_str()), ("sys@a", "p&w"));
        assert_eq!((s.host.as_str(), s.port, s.tls), ("smsc.example.net", 2776, false));
        assert_eq!((s.name.as_str(), s.window, s.mps, s.dlr_id), ("eu", 64, 50.0, DlrIdMode::Auto));
        assert_eq!(s.address(), "smpp://smsc.example.net:2776");
        assert_eq!(SmppSettings::parse_url(&s.to_url()).unwrap(), s, "the canonical URL parses back");
    }

    #[test]
    fn defaults_follow_the_notes() {
        let s = SmppSettings::parse_url("smpps://id:pw@h").unwrap();
        assert_eq!((s.port, s.tls, s.window, s.mps, s.enquire_link_secs), (2775, true, 10, 0.0, 30));
        assert_eq!(s.dlr_id, DlrIdMode::AsIs);
        assert_eq!((s.priority, s.weight, s.sessions, s.bind), (0, 1, 1, BindMode::Transceiver));
    }

    #[test]
    fn sessions_binds_priority_and_weight_parse_and_round_trip() {
        // `+` in a query is a space: `bind=tx+rx` arrives as "tx rx".
        let s = SmppSettings::parse_url("smpp://a:b@h?sessions=4&bind=tx+rx&priority=2&weight=3").unwrap();
        assert_eq!((s.sessions, s.bind, s.priority, s.weight), (4, BindMode::TransmitterReceiver, 2, 3));
        assert_eq!(SmppSettings::parse_url(&s.to_url()).unwrap(), s);
        assert_eq!(SmppSettings::parse_url("smpp://a:b@h?bind=trx").unwrap().bind, BindMode::Transceiver);
        assert_eq!(SmppSettings::parse_url("smpp://a:b@h?bind=tx_rx").unwrap().bind, BindMode::TransmitterReceiver);
        let t = SmppSettings::parse_url("smpps://a:b@h?ca_file=%2Fetc%2Fcarrier-ca.pem").unwrap();
        assert_eq!(t.ca_file.as_deref(), Some("/etc/carrier-ca.pem"));
        assert_eq!(SmppSettings::parse_url(&t.to_url()).unwrap(), t);
        let l = SmppSettings::parse_url("smpp://a:b@h?long_messages=sar&charset=latin1").unwrap();
        assert_eq!((l.long_messages, l.charset), (LongMessages::Sar, Charset::Latin1));
        assert_eq!(SmppSettings::parse_url(&l.to_url()).unwrap(), l);
        for bad in [
            "sessions=0",
            "sessions=65",
            "bind=rx",
            "priority=0",
            "weight=0",
            "weight=1001",
            "long_messages=udh32",
            "charset=utf8",
        ] {
            assert!(SmppSettings::parse_url(&format!("smpp://a:b@h?{bad}")).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn routes_match_destination_and_sender_prefixes_and_accounts() {
        let s = SmppSettings::parse_url("smpp://a:b@h?to_prefixes=44,%2B33&accounts=AC1").unwrap();
        assert_eq!(s.to_prefixes, ["44", "33"]);
        assert!(s.routes("AC1", "+15005550006", "+447700900123"));
        assert!(s.routes("AC1", "+15005550006", "+33612345678"));
        assert!(!s.routes("AC1", "+15005550006", "+14155550100"), "another destination");
        assert!(!s.routes("AC2", "+15005550006", "+447700900123"), "another account");
        let any = SmppSettings::parse_url("smpp://a:b@h?from_prefixes=Brand").unwrap();
        assert!(any.routes("AC9", "BrandX", "+14155550100") && !any.routes("AC9", "+1500", "+1415"));
        assert_eq!(SmppSettings::parse_url(&s.to_url()).unwrap(), s);
    }

    #[test]
    fn bad_urls_are_explained() {
        for bad in [
            "http://id:pw@h",
            "smpp://h:2775",
            "smpp://id:pw@h?window=0",
            "smpp://id:pw@h?mps=-1",
            "smpp://id:pw@h?colour=red",
            "smpp://id:pw@h?dlr_id=hex",
            "smpp://id:123456789@h",
            "smpp://id:pw@h?name=a%20b",
        ] {
            assert!(SmppSettings::parse_url(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn patterns_route_on_the_whole_address_with_prefixes_and_bad_ones_are_refused() {
        let s = SmppSettings::parse_url(
            "smpp://a:b@h?to_pattern=44(7%5B0-9%5D%7B9%7D%7C20%5B0-9%5D%7B8%7D)&to_prefixes=44",
        )
        .unwrap();
        assert_eq!(s.to_pattern.as_ref().map(|p| p.text.as_str()), Some("44(7[0-9]{9}|20[0-9]{8})"));
        assert!(s.routes("AC1", "+15005550006", "+447911123456"), "a UK mobile");
        assert!(s.routes("AC1", "+15005550006", "442012345678"), "a London number, without +");
        assert!(!s.routes("AC1", "+15005550006", "+4479111234567"), "anchored at the end: one digit too many");
        assert!(!s.routes("AC1", "+15005550006", "+3344791112345"), "anchored at the start");
        assert_eq!(SmppSettings::parse_url(&s.to_url()).unwrap(), s, "the canonical URL keeps the pattern");

        let f = SmppSettings::parse_url("smpp://a:b@h?from_pattern=MyBrand|1500%5B0-9%5D%2B").unwrap();
        assert!(f.routes("AC1", "MyBrand", "+15551234567"));
        assert!(f.routes("AC1", "+15005550006", "+15551234567"), "either alternative, anchored as a whole");
        assert!(!f.routes("AC1", "MyBrandX", "+15551234567"));
        assert!(f.to_pattern.is_none());

        let err = SmppSettings::parse_url("smpp://a:b@h?to_pattern=44(7").unwrap_err();
        assert!(err.starts_with("smpp to_pattern \"44(7\" is not a valid regular expression"), "{err}");
    }

    #[test]
    fn the_file_takes_a_url_or_a_table_and_the_password_is_not_in_debug_output() {
        #[derive(Deserialize)]
        struct F {
            smpp: Vec<SmppSettings>,
        }
        let f: F = toml::from_str("smpp = [\"smpp://a:b@h1\"]\n").unwrap();
        assert_eq!(f.smpp[0].host, "h1");
        let f: F = toml::from_str(
            "[[smpp]]\nurl = \"smpp://a:secret@h2:1\"\nname = \"x\"\nwindow = 3\nto_prefixes = [\"+44\", \"33\"]\n",
        )
        .unwrap();
        assert_eq!((f.smpp[0].name.as_str(), f.smpp[0].window, f.smpp[0].port), ("x", 3, 1));
        assert_eq!(f.smpp[0].to_prefixes, ["44", "33"]);
        assert!(!format!("{:?}", f.smpp[0]).contains("secret"));
        assert!(toml::from_str::<F>("[[smpp]]\nurl = \"smpp://a:b@h\"\nwindow = \"many\"\n").is_err());
    }
}

//! Delivery receipts and submit errors → Twilio statuses and error codes (the table in
//! `docs/smpp.md`), and the message-id normalisation that lets receipts find their message.

use super::settings::DlrIdMode;

/// What a receipt says, from its TLVs and its text (TLVs win).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The SMSC's message id (`receipted_message_id`, else `id:`).
    pub id: String,
    /// `stat:` text (`DELIVRD`, `UNDELIV`, …), upper-cased.
    pub stat: Option<String>,
    /// `message_state` TLV.
    pub message_state: Option<u8>,
    /// `network_error_code` TLV: (network type, error code).
    pub network_error: Option<(u8, u16)>,
    /// `done date:` digits, cut to `YYMMDDhhmm`.
    pub done_date: Option<String>,
}

/// The value after `key` in a receipt text, where `key` starts the text or follows a space.
fn field<'a>(text: &'a str, lower: &str, key: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(at) = lower[from..].find(key).map(|i| i + from) {
        if at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace() {
            let rest = &text[at + key.len()..];
            let end = rest.find(|c: char| c.is_ascii_whitespace()).unwrap_or(rest.len());
            return Some(&rest[..end]);
        }
        from = at + key.len();
    }
    None
}

/// Reads the `id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…` form field by
/// field (carriers vary the case, the date length and which fields exist); `None` when it has
/// neither `id:` nor `stat:`.
pub fn parse_text(text: &str) -> Option<Receipt> {
    // Only what comes before `text:` is the receipt; the rest is the message's own text.
    let lower_all = text.to_ascii_lowercase();
    let head_len = field_start(&lower_all, "text:").unwrap_or(text.len());
    let (text, lower) = (&text[..head_len], &lower_all[..head_len]);
    let id = field(text, lower, "id:");
    let stat = field(text, lower, "stat:");
    if id.is_none() || stat.is_none() {
        return None;
    }
    let done_date = field(text, lower, "done date:")
        .filter(|d| d.len() >= 10 && d.bytes().all(|b| b.is_ascii_digit()))
        .map(|d| d[..10].to_string());
    Some(Receipt {
        id: id.unwrap_or_default().to_string(),
        stat: stat.map(str::to_ascii_uppercase),
        message_state: None,
        network_error: None,
        done_date,
    })
}

fn field_start(lower: &str, key: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = lower[from..].find(key).map(|i| i + from) {
        if at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace() {
            return Some(at);
        }
        from = at + key.len();
    }
    None
}

/// A receipt's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not final yet (ENROUTE, ACCEPTD, BUFFRED …): the message stays `sent`.
    Intermediate,
    /// `delivered` (`Ok`) or `undelivered` with the Twilio code.
    Final(Result<(), u32>),
}

/// GSM MAP error (network type 3) → Twilio code.
fn gsm_map_error(code: u16) -> u32 {
    match code {
        1 | 5 => 30005,
        6 | 27 | 31 => 30003,
        9 | 12 | 13 => 30004,
        11 | 21 => 30006,
        _ => 30008,
    }
}

impl Receipt {
    /// Delivered, not delivered (with the code), or not final.
    pub fn verdict(&self) -> Verdict {
        let state = self.message_state.or_else(|| {
            self.stat.as_deref().and_then(|s| match s {
                "SCHEDULED" | "SCHEDUL" => Some(0),
                "ENROUTE" | "ACKED" | "BUFFRED" | "BUFFERD" => Some(1),
                "DELIVRD" | "DELIVERED" => Some(2),
                "EXPIRED" => Some(3),
                "DELETED" => Some(4),
                "UNDELIV" => Some(5),
                "ACCEPTD" => Some(6),
                "UNKNOWN" => Some(7),
                "REJECTD" => Some(8),
                "SKIPPED" => Some(9),
                _ => None,
            })
        });
        let gsm = self.network_error.filter(|(kind, code)| *kind == 3 && *code != 0).map(|(_, c)| gsm_map_error(c));
        match state {
            Some(0 | 1 | 6) => Verdict::Intermediate,
            Some(2) => Verdict::Final(Ok(())),
            Some(3) => Verdict::Final(Err(30003)),
            Some(5) => Verdict::Final(Err(gsm.unwrap_or(30008))),
            Some(8) => Verdict::Final(Err(if gsm == Some(30004) { 30004 } else { 30007 })),
            _ => Verdict::Final(Err(30008)),
        }
    }
}

/// What to do with a non-zero `submit_sm_resp` status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitError {
    /// Throttled or queue full (or a transient SMSC error): wait and send again, without
    /// spending one of the message's attempts.
    Retry,
    /// Refused for good: `failed` with this Twilio code.
    Fail(u32),
}

/// `submit_sm_resp` command status → action.
pub fn submit_error(status: u32) -> SubmitError {
    match status {
        0x58 | 0x14 | 0x08 | 0x64 => SubmitError::Retry,
        0x0B | 0x50 | 0x51 => SubmitError::Fail(30005),
        0x01..=0x03 | 0x43 | 0xC0..=0xC4 => SubmitError::Fail(30500),
        _ => SubmitError::Fail(30008),
    }
}

/// Trimmed (NULs, spaces), upper-cased, leading zeros stripped: `0913121205` and `913121205`,
/// `1101c1` and `1101C1` are the same id.
pub fn canonical(id: &str) -> String {
    let t = id.trim_matches(|c: char| c == '\0' || c.is_whitespace()).to_ascii_uppercase();
    let stripped = t.trim_start_matches('0');
    if stripped.is_empty() && !t.is_empty() {
        "0".to_string()
    } else {
        stripped.to_string()
    }
}

fn hex_to_dec(id: &str) -> Option<String> {
    u128::from_str_radix(id, 16).ok().map(|n| n.to_string())
}

fn dec_to_hex(id: &str) -> Option<String> {
    id.parse::<u128>().ok().map(|n| format!("{n:X}"))
}

/// The key a `submit_sm_resp` id is remembered under.
pub fn resp_key(mode: DlrIdMode, id: &str) -> String {
    let id = canonical(id);
    match mode {
        DlrIdMode::RespHexDlrDec => hex_to_dec(&id).unwrap_or(id),
        _ => id,
    }
}

/// The keys a receipt's id may match, most likely first.
pub fn receipt_keys(mode: DlrIdMode, id: &str) -> Vec<String> {
    let id = canonical(id);
    match mode {
        DlrIdMode::AsIs | DlrIdMode::RespHexDlrDec => vec![id],
        DlrIdMode::RespDecDlrHex => vec![hex_to_dec(&id).unwrap_or(id)],
        DlrIdMode::Auto => {
            let mut keys = vec![id.clone()];
            keys.extend(dec_to_hex(&id));
            keys.extend(hex_to_dec(&id));
            keys.dedup();
            keys
        }
    }
}

/// `YYMMDDhhmm` (no time zone: taken as UTC, so `RawDlrDoneDate` passes it through unchanged)
/// → ms since the epoch.
pub fn done_date_ms(yymmddhhmm: &str) -> Option<i64> {
    let n = |r: std::ops::Range<usize>| yymmddhhmm.get(r).and_then(|s| s.parse::<u32>().ok());
    let date = chrono::NaiveDate::from_ymd_opt(2000 + n(0..2)? as i32, n(2..4)?, n(4..6)?)?;
    let at = date.and_hms_opt(n(6..8)?, n(8..10)?, 0)?;
    Some(at.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPICAL: &str =
        "id:0123456789 sub:001 dlvrd:001 submit date:2612020405 done date:2612020406 stat:DELIVRD err:000 text:Hello stat:UNDELIV";

    #[test]
    fn the_receipt_text_is_read_field_by_field() {
        let r = parse_text(TYPICAL).unwrap();
        assert_eq!(r.id, "0123456789");
        assert_eq!(r.stat.as_deref(), Some("DELIVRD"), "the message text after text: is not read");
        assert_eq!(r.done_date.as_deref(), Some("2612020406"));
        let r = parse_text(
            "ID:ab12 SUB:1 DLVRD:0 SUBMIT DATE:261202040501 DONE DATE:261202040612 STAT:undeliv ERR:0001 Text:x",
        )
        .unwrap();
        assert_eq!(
            (r.id.as_str(), r.stat.as_deref(), r.done_date.as_deref()),
            ("ab12", Some("UNDELIV"), Some("2612020406"))
        );
        assert!(parse_text("id:1 stat:DELIVRD").is_some(), "no dates, no text");
        assert!(parse_text("Hello, your id: is 3").is_none(), "an ordinary message is not a receipt");
        assert!(parse_text("").is_none());
    }

    #[test]
    fn states_map_to_twilio_statuses_and_codes() {
        let stat = |s: &str| Receipt { stat: Some(s.into()), ..Default::default() }.verdict();
        assert_eq!(stat("DELIVRD"), Verdict::Final(Ok(())));
        assert_eq!(stat("ACCEPTD"), Verdict::Intermediate);
        assert_eq!(stat("ENROUTE"), Verdict::Intermediate);
        assert_eq!(stat("EXPIRED"), Verdict::Final(Err(30003)));
        assert_eq!(stat("UNDELIV"), Verdict::Final(Err(30008)));
        assert_eq!(stat("REJECTD"), Verdict::Final(Err(30007)));
        assert_eq!(stat("DELETED"), Verdict::Final(Err(30008)));
        assert_eq!(stat("WHATEVER"), Verdict::Final(Err(30008)));
        let tlv =
            |state, net| Receipt { message_state: Some(state), network_error: net, ..Default::default() }.verdict();
        assert_eq!(tlv(5, Some((3, 1))), Verdict::Final(Err(30005)));
        assert_eq!(tlv(5, Some((3, 27))), Verdict::Final(Err(30003)));
        assert_eq!(tlv(5, Some((3, 13))), Verdict::Final(Err(30004)));
        assert_eq!(tlv(5, Some((3, 11))), Verdict::Final(Err(30006)));
        assert_eq!(tlv(8, Some((3, 13))), Verdict::Final(Err(30004)));
        assert_eq!(tlv(5, Some((8, 1))), Verdict::Final(Err(30008)), "only GSM (type 3) errors refine");
        assert_eq!(tlv(2, None), Verdict::Final(Ok(())));
    }

    #[test]
    fn submit_errors_retry_or_fail_with_the_documented_code() {
        assert_eq!(submit_error(0x58), SubmitError::Retry);
        assert_eq!(submit_error(0x14), SubmitError::Retry);
        assert_eq!(submit_error(0x0B), SubmitError::Fail(30005));
        assert_eq!(submit_error(0x0A), SubmitError::Fail(30008));
        assert_eq!(submit_error(0x45), SubmitError::Fail(30008));
        assert_eq!(submit_error(0x03), SubmitError::Fail(30500));
        assert_eq!(submit_error(0x0400), SubmitError::Fail(30008));
    }

    #[test]
    fn ids_match_across_case_leading_zeros_and_hex_decimal() {
        assert_eq!(canonical(" 0913121205\0"), "913121205");
        assert_eq!(canonical("1101c1-ab"), "1101C1-AB");
        assert_eq!(canonical("000"), "0");
        assert_eq!(resp_key(DlrIdMode::AsIs, "0a1f"), "A1F");
        // Vonage: hex in the response, decimal in the receipt.
        assert_eq!(resp_key(DlrIdMode::RespHexDlrDec, "0A1F"), "2591");
        assert_eq!(receipt_keys(DlrIdMode::RespHexDlrDec, "02591"), ["2591"]);
        assert_eq!(resp_key(DlrIdMode::RespDecDlrHex, "2591"), "2591");
        assert_eq!(receipt_keys(DlrIdMode::RespDecDlrHex, "a1f"), ["2591"]);
        assert_eq!(receipt_keys(DlrIdMode::Auto, "2591"), ["2591", "A1F", "9617"]);
        assert_eq!(receipt_keys(DlrIdMode::Auto, "uuid-1"), ["UUID-1"]);
    }

    #[test]
    fn the_done_date_round_trips_as_raw_dlr_done_date() {
        let ms = done_date_ms("2612020406").unwrap();
        let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms).unwrap();
        assert_eq!(at.format("%y%m%d%H%M").to_string(), "2612020406");
        assert_eq!(done_date_ms("2613020406"), None, "month 13");
    }
}

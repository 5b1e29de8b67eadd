//! What goes into and comes out of `submit_sm` / `deliver_sm` fields: addresses with their
//! TON/NPI, the body split into segments exactly where Switchboard counts them (one function
//! for `NumSegments` and for the wire), GSM 03.38 and UCS-2 text, and 8-bit UDH concatenation.
//! The PDUs themselves are encoded by `rusmpp`.

use super::settings::{Charset, LongMessages};
use switchboard_domain::encoding::{self, Encoding};

/// `data_coding` 0: the SMSC default alphabet, GSM 03.38 sent unpacked (one septet per octet).
pub const DC_GSM7: u8 = 0;
/// `data_coding` 8: UCS-2 (UTF-16BE in practice; surrogate pairs kept whole).
pub const DC_UCS2: u8 = 8;
/// `esm_class` bit: the short message starts with a user data header.
pub const ESM_UDHI: u8 = 0x40;

/// GSM 03.38 basic table, by septet value (0x1B is the escape to the extension table).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1b}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// GSM 03.38 extension table: (septet after the escape, character).
const GSM7_EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];
const ESC: u8 = 0x1B;

/// An address with its type of number and numbering plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// TON.
    pub ton: u8,
    /// NPI.
    pub npi: u8,
    /// Digits (without `+`) or alphanumeric text.
    pub text: String,
}

/// E.164 `+digits` → 1/1 without the `+`; 3–8 digits (a short code) → the connector's
/// short-code TON/NPI; other digits → 1/1; anything else (an alphanumeric sender) → 5/0.
pub fn address(addr: &str, short_code: (u8, u8)) -> Address {
    if let Some(digits) = addr.strip_prefix('+').filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())) {
        return Address { ton: 1, npi: 1, text: digits.to_string() };
    }
    if !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_digit()) {
        let (ton, npi) = if addr.len() <= 8 { short_code } else { (1, 1) };
        return Address { ton, npi, text: addr.to_string() };
    }
    Address { ton: 5, npi: 0, text: addr.to_string() }
}

/// The `From` of an inbound message from a `deliver_sm` source address: international numbers
/// get their `+`, alphanumeric senders and short codes stay as they are.
pub fn inbound_from(ton: u8, text: &str) -> String {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if digits && (ton == 1 || text.len() > 8) {
        format!("+{text}")
    } else {
        text.to_string()
    }
}

/// The `To` of an inbound message: Switchboard's numbers are E.164.
pub fn inbound_to(text: &str) -> String {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if digits && text.len() > 8 {
        format!("+{text}")
    } else {
        text.to_string()
    }
}

/// One `submit_sm`'s worth of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// `data_coding`.
    pub data_coding: u8,
    /// `esm_class` (UDHI when concatenated).
    pub esm_class: u8,
    /// `short_message`: UDH (when concatenated) then the encoded text; with `payload`, the
    /// `message_payload` TLV's value instead (and `short_message` is empty).
    pub short_message: Vec<u8>,
    /// `sar_msg_ref_num`, `sar_total_segments`, `sar_segment_seqnum` TLVs (long messages by SAR).
    pub sar: Option<(u16, u8, u8)>,
    /// The text goes in `message_payload`, not `short_message`.
    pub payload: bool,
}

/// Septets / UTF-16 units a part holds behind a 16-bit-reference UDH (7 octets of header, one
/// more than the 8-bit one, so one septet / unit less than Switchboard's 153 / 67).
const UDH16_GSM7: usize = 152;
const UDH16_UCS2: usize = 66;

fn gsm7_encode(text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        if let Some(i) = GSM7_BASIC.chars().position(|b| b == c).filter(|&i| i != usize::from(ESC)) {
            out.push(i as u8);
        } else if let Some((code, _)) = GSM7_EXTENSION.iter().find(|(_, e)| *e == c) {
            out.extend([ESC, *code]);
        } else {
            // The segment counter only calls a body GSM-7 when every character is in the
            // tables; this keeps the length right should the two ever disagree.
            out.push(b'?');
        }
    }
}

/// Octets of `text` in `data_coding` 0 as the connector's `charset` has it.
fn dc0_encode(text: &str, charset: Charset, out: &mut Vec<u8>) {
    match charset {
        Charset::Gsm => gsm7_encode(text, out),
        Charset::Latin1 => out.extend(text.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))),
        Charset::Ascii => out.extend(text.chars().map(|c| if c.is_ascii() { c as u8 } else { b'?' })),
    }
}

/// Splits `body` into `submit_sm` segments where `encoding::segments` counts them: one
/// segment of up to 160 septets / 70 UTF-16 units, else, by `long`: parts of 153 / 67 behind an
/// 8-bit reference UDH (`05 00 03 ref total seq`) or with SAR TLVs; parts of 152 / 66 behind a
/// 16-bit reference UDH (`06 08 04 refH refL total seq`); or the whole text in one
/// `message_payload`. An escape pair or surrogate pair is never split. GSM-7 bodies go as
/// `data_coding` 0 in `charset`, others as 8 (UTF-16BE).
pub fn split(body: &str, long: LongMessages, charset: Charset, reference: u16) -> Vec<Segment> {
    let (summary, chars) = encoding::inspect(body);
    let (data_coding, udh16_room) = match summary.encoding {
        Encoding::Gsm7 => (DC_GSM7, UDH16_GSM7),
        Encoding::Ucs2 => (DC_UCS2, UDH16_UCS2),
    };
    let encode = |text: &str, out: &mut Vec<u8>| match summary.encoding {
        Encoding::Gsm7 => dc0_encode(text, charset, out),
        Encoding::Ucs2 => out.extend(text.encode_utf16().flat_map(u16::to_be_bytes)),
    };
    let concatenated = summary.count > 1;
    if concatenated && long == LongMessages::Payload {
        let mut payload = Vec::with_capacity(body.len() * 2);
        encode(body, &mut payload);
        return vec![Segment { data_coding, esm_class: 0, short_message: payload, sar: None, payload: true }];
    }
    let mut texts = vec![String::new(); summary.count.max(1) as usize];
    if concatenated && long == LongMessages::Udh16 {
        // The counter's split, but with one unit less room a part (greedy, a character whole).
        texts = vec![String::new()];
        let mut used = 0;
        for c in &chars {
            if used + c.units > udh16_room {
                texts.push(String::new());
                used = 0;
            }
            used += c.units;
            if let Some(last) = texts.last_mut() {
                last.push(c.ch);
            }
        }
    } else {
        let last = texts.len() - 1;
        for c in &chars {
            texts[(c.segment as usize).min(last)].push(c.ch);
        }
    }
    // A concatenated message has at most 255 parts (the UDH / SAR counters are one octet).
    let total = u8::try_from(texts.len()).unwrap_or(u8::MAX);
    texts
        .iter()
        .take(usize::from(total))
        .enumerate()
        .map(|(i, text)| {
            let seq = (i + 1) as u8;
            let mut short_message = Vec::with_capacity(140);
            let mut esm_class = 0;
            let mut sar = None;
            if total > 1 {
                match long {
                    LongMessages::Udh8 | LongMessages::Payload => {
                        short_message.extend([5, 0, 3, reference as u8, total, seq]);
                        esm_class = ESM_UDHI;
                    }
                    LongMessages::Udh16 => {
                        let [hi, lo] = reference.to_be_bytes();
                        short_message.extend([6, 8, 4, hi, lo, total, seq]);
                        esm_class = ESM_UDHI;
                    }
                    LongMessages::Sar => sar = Some((reference, total, seq)),
                }
            }
            encode(text, &mut short_message);
            Segment { data_coding, esm_class, short_message, sar, payload: false }
        })
        .collect()
}

/// Where a part of a concatenated message belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Reference shared by the parts (8- or 16-bit).
    pub reference: u16,
    /// Parts in the message.
    pub total: u8,
    /// This part's number, from 1.
    pub seq: u8,
}

/// The concatenation information element of a UDH (IEI 0x00, 8-bit reference, or 0x08, 16-bit);
/// every element is walked, so other elements before it do no harm.
pub fn udh_part(esm_class: u8, bytes: &[u8]) -> Option<Part> {
    if esm_class & ESM_UDHI == 0 {
        return None;
    }
    let udh = bytes.get(1..1 + usize::from(*bytes.first()?))?;
    let mut i = 0;
    while i + 1 < udh.len() {
        let (iei, len) = (udh[i], usize::from(udh[i + 1]));
        let data = udh.get(i + 2..i + 2 + len)?;
        match (iei, data) {
            (0x00, &[r, total, seq]) => return Some(Part { reference: u16::from(r), total, seq }),
            (0x08, &[hi, lo, total, seq]) => return Some(Part { reference: u16::from_be_bytes([hi, lo]), total, seq }),
            _ => {}
        }
        i += 2 + len;
    }
    None
}

/// Decodes GSM 03.38 unpacked septets.
fn gsm7_decode(bytes: &[u8]) -> String {
    let basic: Vec<char> = GSM7_BASIC.chars().collect();
    let mut out = String::with_capacity(bytes.len());
    let mut it = bytes.iter();
    while let Some(&b) = it.next() {
        if b == ESC {
            match it.next() {
                Some(&e) => match GSM7_EXTENSION.iter().find(|(code, _)| *code == e) {
                    Some((_, c)) => out.push(*c),
                    // An unknown escape shows the basic character (GSM 03.38's fallback).
                    None => out.push(basic.get(usize::from(e & 0x7F)).copied().unwrap_or('?')),
                },
                None => out.push(' '),
            }
        } else {
            out.push(basic.get(usize::from(b & 0x7F)).copied().unwrap_or('?'));
        }
    }
    out
}

/// The text of an inbound `short_message` (or `message_payload`) by its `data_coding`, with
/// `data_coding` 0 in the connector's `charset`; a UDH is skipped when `esm_class` says there
/// is one.
pub fn decode_text_as(charset: Charset, data_coding: u8, esm_class: u8, bytes: &[u8]) -> String {
    let mut bytes = bytes;
    if esm_class & ESM_UDHI != 0 {
        let udh_len = bytes.first().map_or(0, |l| usize::from(*l) + 1);
        bytes = bytes.get(udh_len..).unwrap_or(&[]);
    }
    // GSM DCS groups (0x10–0x1F, 0xF0–0xFF) name the alphabet in bits 2–3.
    let alphabet = match data_coding {
        0x10..=0x1F | 0xF0..=0xFF => match (data_coding >> 2) & 0x03 {
            0 => DC_GSM7,
            2 => DC_UCS2,
            _ => 4,
        },
        other => other,
    };
    match alphabet {
        DC_GSM7 if charset == Charset::Gsm => gsm7_decode(bytes),
        DC_UCS2 => {
            let units: Vec<u16> =
                bytes.chunks(2).map(|p| u16::from_be_bytes([p[0], *p.get(1).unwrap_or(&0)])).collect();
            String::from_utf16_lossy(&units)
        }
        // ASCII, Latin-1 and anything unknown: one octet per character.
        _ => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults: 8-bit UDH, GSM 03.38.
    fn segments(body: &str, reference: u8) -> Vec<Segment> {
        split(body, LongMessages::Udh8, Charset::Gsm, u16::from(reference))
    }

    fn decode_text(data_coding: u8, esm_class: u8, bytes: &[u8]) -> String {
        decode_text_as(Charset::Gsm, data_coding, esm_class, bytes)
    }

    #[test]
    fn addresses_get_their_ton_and_npi() {
        assert_eq!(address("+14155550100", (3, 0)), Address { ton: 1, npi: 1, text: "14155550100".into() });
        assert_eq!(address("MyBrand", (3, 0)), Address { ton: 5, npi: 0, text: "MyBrand".into() });
        assert_eq!(address("12345", (3, 0)), Address { ton: 3, npi: 0, text: "12345".into() });
        assert_eq!(address("+", (3, 0)).ton, 5);
        assert_eq!(inbound_from(1, "14155550100"), "+14155550100");
        assert_eq!(inbound_from(5, "Bank"), "Bank");
        assert_eq!(inbound_from(3, "12345"), "12345");
        assert_eq!(inbound_to("14155550100"), "+14155550100");
    }

    #[test]
    fn the_gsm7_tables_cover_every_character_the_segment_counter_calls_gsm7() {
        assert_eq!(GSM7_BASIC.chars().count(), 128);
        let candidates: String = (0x20u8..0x7f)
            .map(char::from)
            .chain("\n\r\u{0C}¡£¤¥§¿ÄÅÆÇÉÑÖØÜßàäåæèéìñòöøùüΓΔΘΛΞΠΣΦΨΩ€".chars())
            .collect();
        for c in candidates.chars() {
            let (summary, _) = encoding::inspect(&c.to_string());
            if summary.encoding == Encoding::Gsm7 {
                let mut out = Vec::new();
                gsm7_encode(&c.to_string(), &mut out);
                assert_eq!(out.len(), summary.units, "{c:?}");
                assert_eq!(gsm7_decode(&out), c.to_string(), "{c:?} round trip");
            }
        }
    }

    #[test]
    fn a_single_segment_has_no_udh() {
        let s = segments("Hello @ €", 7);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].data_coding, s[0].esm_class), (DC_GSM7, 0));
        assert_eq!(s[0].short_message, [0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x20, 0x00, 0x20, 0x1B, 0x65]);
        assert_eq!(segments(&"a".repeat(160), 1)[0].short_message.len(), 160);
    }

    #[test]
    fn long_gsm7_splits_at_153_septets_with_an_8_bit_udh() {
        let body = "x".repeat(400);
        let s = segments(&body, 0x2A);
        assert_eq!(s.len(), 3);
        for (i, seg) in s.iter().enumerate() {
            assert_eq!(&seg.short_message[..6], &[5, 0, 3, 0x2A, 3, i as u8 + 1]);
            assert_eq!(seg.esm_class, ESM_UDHI);
        }
        assert_eq!(s.iter().map(|x| x.short_message.len() - 6).collect::<Vec<_>>(), [153, 153, 94]);
    }

    #[test]
    fn an_escape_pair_is_never_split() {
        // 152 septets, then `€` (2 septets) would straddle 153: it opens part 2.
        let body = format!("{}€{}", "a".repeat(152), "b".repeat(20));
        let s = segments(&body, 1);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].short_message.len() - 6, 152);
        assert_eq!(&s[1].short_message[6..8], &[0x1B, 0x65]);
    }

    #[test]
    fn ucs2_uses_data_coding_8_and_keeps_surrogate_pairs_whole() {
        let s = segments("Привет 😜", 1);
        assert_eq!((s.len(), s[0].data_coding), (1, DC_UCS2));
        assert_eq!(decode_text(DC_UCS2, 0, &s[0].short_message), "Привет 😜");
        let long = format!("{}😜{}", "ж".repeat(66), "ж".repeat(10));
        let s = segments(&long, 9);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].short_message.len() - 6, 66 * 2, "the emoji does not fit in 67 units after 66");
        assert_eq!(decode_text(DC_UCS2, ESM_UDHI, &s[1].short_message), format!("😜{}", "ж".repeat(10)));
    }

    #[test]
    fn a_16_bit_reference_udh_leaves_152_septets_or_66_units_a_part() {
        let s = split(&"x".repeat(400), LongMessages::Udh16, Charset::Gsm, 0x1234);
        assert_eq!(s.len(), 3);
        for (i, seg) in s.iter().enumerate() {
            assert_eq!(&seg.short_message[..7], &[6, 8, 4, 0x12, 0x34, 3, i as u8 + 1]);
            assert_eq!(
                udh_part(seg.esm_class, &seg.short_message),
                Some(Part { reference: 0x1234, total: 3, seq: i as u8 + 1 })
            );
        }
        assert_eq!(s.iter().map(|x| x.short_message.len() - 7).collect::<Vec<_>>(), [152, 152, 96]);
        let u = split(&"ж".repeat(140), LongMessages::Udh16, Charset::Gsm, 1);
        assert_eq!(u.iter().map(|x| (x.short_message.len() - 7) / 2).collect::<Vec<_>>(), [66, 66, 8]);
        // A surrogate pair is not split at the 66-unit edge either.
        // (With an 8-bit UDH the emoji would still fit in part 1: 65 + 2 = 67 units.)
        let e = split(&format!("{}😜{}", "ж".repeat(65), "ж".repeat(10)), LongMessages::Udh16, Charset::Gsm, 1);
        assert_eq!(e.len(), 2);
        assert_eq!(decode_text(DC_UCS2, ESM_UDHI, &e[0].short_message), "ж".repeat(65));
        assert_eq!(decode_text(DC_UCS2, ESM_UDHI, &e[1].short_message), format!("😜{}", "ж".repeat(10)));
    }

    #[test]
    fn sar_parts_split_where_the_counter_does_without_a_udh() {
        let body = format!("{}€{}", "a".repeat(152), "b".repeat(20));
        let s = split(&body, LongMessages::Sar, Charset::Gsm, 0x0203);
        assert_eq!(
            s.iter().map(|x| (x.esm_class, x.sar, x.short_message.len())).collect::<Vec<_>>(),
            [(0, Some((0x0203, 2, 1)), 152), (0, Some((0x0203, 2, 2)), 22)]
        );
        assert_eq!(split("short", LongMessages::Sar, Charset::Gsm, 1)[0].sar, None, "one segment: no SAR");
    }

    #[test]
    fn message_payload_carries_the_whole_long_body_in_one_pdu() {
        let body = "y".repeat(400);
        let s = split(&body, LongMessages::Payload, Charset::Gsm, 1);
        assert_eq!(s.len(), 1);
        assert!(s[0].payload && s[0].esm_class == 0 && s[0].sar.is_none());
        assert_eq!(s[0].short_message, body.as_bytes());
        let short = split("one", LongMessages::Payload, Charset::Gsm, 1);
        assert!(!short[0].payload, "a single segment stays in short_message");
    }

    #[test]
    fn data_coding_0_follows_the_charset_both_ways() {
        let body = "@ é € {";
        assert_eq!(
            split(body, LongMessages::Udh8, Charset::Gsm, 1)[0].short_message,
            [0, 32, 5, 32, 0x1B, 0x65, 32, 0x1B, 0x28]
        );
        assert_eq!(split(body, LongMessages::Udh8, Charset::Latin1, 1)[0].short_message, b"@ \xE9 ? {".to_vec());
        assert_eq!(split(body, LongMessages::Udh8, Charset::Ascii, 1)[0].short_message, b"@ ? ? {");
        assert_eq!(split(body, LongMessages::Udh8, Charset::Latin1, 1)[0].data_coding, DC_GSM7);
        assert_eq!(decode_text_as(Charset::Latin1, 0, 0, &[0x40, 0xE9]), "@é");
        assert_eq!(decode_text_as(Charset::Gsm, 0, 0, &[0x00, 0x05]), "@é");
        assert_eq!(split("Привет", LongMessages::Udh8, Charset::Ascii, 1)[0].data_coding, DC_UCS2, "UCS-2 is UCS-2");
    }

    #[test]
    fn the_concatenation_element_is_found_among_others() {
        assert_eq!(udh_part(ESM_UDHI, &[5, 0, 3, 7, 2, 1, 0x41]), Some(Part { reference: 7, total: 2, seq: 1 }));
        assert_eq!(
            udh_part(ESM_UDHI, &[6, 8, 4, 1, 2, 3, 2, 0x41]),
            Some(Part { reference: 0x0102, total: 3, seq: 2 })
        );
        // A port-addressing element (0x05) first, then the 8-bit concatenation element.
        assert_eq!(
            udh_part(ESM_UDHI, &[11, 5, 4, 0, 1, 0, 2, 0, 3, 9, 4, 4, 0x41]),
            Some(Part { reference: 9, total: 4, seq: 4 })
        );
        assert_eq!(udh_part(0, &[5, 0, 3, 7, 2, 1]), None, "no UDHI, no UDH");
        assert_eq!(udh_part(ESM_UDHI, &[5, 0, 3]), None, "truncated");
        assert_eq!(udh_part(ESM_UDHI, &[]), None);
    }

    #[test]
    fn inbound_text_decodes_by_data_coding_and_skips_the_udh() {
        assert_eq!(decode_text(0, 0, &[0x00, 0x1B, 0x65, 0x41]), "@€A");
        assert_eq!(decode_text(3, 0, &[0xE9]), "é");
        assert_eq!(decode_text(0, ESM_UDHI, &[5, 0, 3, 1, 2, 1, 0x41]), "A");
        assert_eq!(decode_text(8, 0, &[0x00]), "\u{0}", "odd UCS-2 length is decoded lossily, not refused");
        assert_eq!(decode_text(0xF0, 0, &[0x41]), "A");
        assert_eq!(decode_text(0, ESM_UDHI, &[9]), "", "a UDH longer than the message");
    }
}

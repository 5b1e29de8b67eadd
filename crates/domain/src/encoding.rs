//! GSM-7 / UCS-2 detection, segment counting and Twilio's smart encoding.
//!
//! A segment is 140 octets. A body that fits in one segment uses all of it (160 septets or
//! 70 UTF-16 units); a longer body is split into parts that each lose 6 octets to the
//! concatenation header (153 septets or 67 units). A character is never split across two
//! parts, which is why the part count is computed greedily rather than by division.

use std::borrow::Cow;

/// The character set a body is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GSM 03.38 7-bit default alphabet (with its extension table).
    Gsm7,
    /// UCS-2 / UTF-16, 16 bits per code unit.
    Ucs2,
}

/// How a body splits into SMS segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    /// The encoding the whole body needs.
    pub encoding: Encoding,
    /// Number of SMS segments (at least 1, also for an empty body).
    pub count: u32,
    /// Total septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
}

/// Septets available in a GSM-7 body sent as a single segment.
const GSM7_SINGLE: usize = 160;
/// Septets available per part of a concatenated GSM-7 body.
const GSM7_MULTI: usize = 153;
/// UTF-16 units available in a UCS-2 body sent as a single segment.
const UCS2_SINGLE: usize = 70;
/// UTF-16 units available per part of a concatenated UCS-2 body.
const UCS2_MULTI: usize = 67;

/// Septet cost of every ASCII code point: 0 = not GSM-7, 1 = basic table, 2 = extension
/// table (ESC + code). A table because ASCII is by far the common case on the hot path.
const ASCII_SEPTETS: [u8; 128] = ascii_septets();

const fn ascii_septets() -> [u8; 128] {
    let mut table = [0u8; 128];
    // Printable ASCII is in the basic table, except the grave accent (no GSM-7 glyph) and
    // the characters that only exist in the extension table (fixed up below).
    let mut i = 0x20;
    while i < 0x7f {
        table[i] = 1;
        i += 1;
    }
    table[b'`' as usize] = 0;
    table[b'\n' as usize] = 1;
    table[b'\r' as usize] = 1;
    // Form feed and `^ { } \ [ ~ ] |` cost an escape septet plus their code.
    table[0x0c] = 2;
    let ext = b"^{}\\[~]|";
    let mut j = 0;
    while j < ext.len() {
        table[ext[j] as usize] = 2;
        j += 1;
    }
    table
}

/// Septets `c` costs in GSM-7, or 0 when it has no GSM-7 representation.
fn gsm7_septets(c: char) -> u8 {
    if let Some(&cost) = ASCII_SEPTETS.get(c as usize) {
        return cost;
    }
    match c {
        '¡' | '£' | '¤' | '¥' | '§' | '¿' | 'Ä' | 'Å' | 'Æ' | 'Ç' | 'É' | 'Ñ' | 'Ö' | 'Ø' | 'Ü' | 'ß' | 'à' | 'ä'
        | 'å' | 'æ' | 'è' | 'é' | 'ì' | 'ñ' | 'ò' | 'ö' | 'ø' | 'ù' | 'ü' | 'Γ' | 'Δ' | 'Θ' | 'Λ' | 'Ξ' | 'Π' | 'Σ'
        | 'Φ' | 'Ψ' | 'Ω' => 1,
        '€' => 2,
        _ => 0,
    }
}

/// Running greedy split of a body into concatenated parts of `multi` units each.
struct Split {
    multi: usize,
    total: usize,
    parts: u32,
    used: usize,
}

impl Split {
    fn new(multi: usize) -> Self {
        Split { multi, total: 0, parts: 1, used: 0 }
    }

    fn push(mut self, cost: usize) -> Self {
        self.total += cost;
        // A character that does not fit closes the part; it is never split.
        if self.used + cost > self.multi {
            self.parts = self.parts.saturating_add(1);
            self.used = 0;
        }
        self.used += cost;
        self
    }

    /// The segment count: one if the whole body fits a single (header-less) segment.
    fn finish(self, encoding: Encoding, single: usize) -> Segments {
        let count = if self.total <= single { 1 } else { self.parts };
        Segments { encoding, count, units: self.total }
    }
}

/// Counts the segments of `body` by the GSM-7 / UCS-2 rules.
pub fn segments(body: &str) -> Segments {
    // One pass for GSM-7 bodies; it stops at the first character that forces UCS-2.
    let gsm7 = body.chars().try_fold(Split::new(GSM7_MULTI), |split, c| match gsm7_septets(c) {
        0 => None,
        cost => Some(split.push(usize::from(cost))),
    });
    match gsm7 {
        Some(split) => split.finish(Encoding::Gsm7, GSM7_SINGLE),
        None => body
            .chars()
            .fold(Split::new(UCS2_MULTI), |split, c| split.push(c.len_utf16()))
            .finish(Encoding::Ucs2, UCS2_SINGLE),
    }
}

/// Printable ASCII, so fullwidth forms can borrow a one-character `&'static str` from it.
const PRINTABLE_ASCII: &str =
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

/// The one-character string for printable ASCII code point `code`.
fn ascii_str(code: u32) -> Option<&'static str> {
    let i = usize::try_from(code.checked_sub(0x20)?).ok()?;
    PRINTABLE_ASCII.get(i..i + 1)
}

/// Twilio's smart-encoding replacement for `c`, or `None` when `c` is kept as it is.
///
/// Source: Twilio's smart-encoding character list and the DevEd segment calculator's
/// `SmartEncodingMap.ts`. Every output is GSM-7 and maps to itself, so the function is
/// idempotent.
fn replacement(c: char) -> Option<&'static str> {
    let out = match c {
        // Fullwidth `!`..`_` and `{`..`~`: every one of these is in Twilio's list (fullwidth
        // lowercase letters and the fullwidth grave accent are not), and each maps to the
        // ASCII character 0xFEE0 below it.
        '\u{FF01}'..='\u{FF3F}' | '\u{FF5B}'..='\u{FF5E}' => {
            return ascii_str(u32::from(c) - 0xFEE0);
        }
        '\u{00AB}' | '\u{00BB}' | '\u{201C}' | '\u{201D}' | '\u{02BA}' | '\u{02EE}' | '\u{201F}' | '\u{201E}'
        | '\u{275D}' | '\u{275E}' | '\u{301D}' | '\u{301E}' => "\"",
        '\u{2018}' | '\u{2019}' | '\u{02BB}' | '\u{02C8}' | '\u{02BC}' | '\u{02BD}' | '\u{02B9}' | '\u{201B}'
        | '\u{00B4}' | '\u{02CA}' | '\u{0060}' | '\u{02CB}' | '\u{275B}' | '\u{275C}' | '\u{0313}' | '\u{0314}'
        | '\u{FE10}' | '\u{FE11}' => "'",
        '\u{00F7}' | '\u{29F8}' | '\u{0337}' | '\u{0338}' | '\u{2044}' | '\u{2215}' => "/",
        '\u{00BC}' => "1/4",
        '\u{00BD}' => "1/2",
        '\u{00BE}' => "3/4",
        '\u{29F9}' | '\u{29F5}' | '\u{20E5}' | '\u{FE68}' => "\\",
        // U+2017 DOUBLE LOW LINE: the calculator maps it to `'` (with a comment naming a
        // different character); `_` is the look-alike, as in the notes' list.
        '\u{0332}' | '\u{2017}' => "_",
        '\u{20D2}' | '\u{20D3}' | '\u{2223}' | '\u{23B8}' | '\u{23B9}' | '\u{23D0}' | '\u{239C}' | '\u{239F}' => "|",
        '\u{23BC}' | '\u{23BD}' | '\u{2015}' | '\u{FE63}' | '\u{2010}' | '\u{2043}' | '\u{2014}' | '\u{2013}'
        | '\u{2022}' => "-",
        '\u{FE6B}' => "@",
        '\u{FE69}' => "$",
        '\u{01C3}' | '\u{FE15}' | '\u{FE57}' => "!",
        '\u{FE5F}' => "#",
        '\u{FE6A}' => "%",
        '\u{FE60}' => "&",
        '\u{201A}' | '\u{0326}' | '\u{FE50}' | '\u{FE51}' | '\u{FF64}' | '\u{3001}' => ",",
        '\u{2768}' | '\u{276A}' | '\u{FE59}' | '\u{27EE}' | '\u{2985}' => "(",
        '\u{2769}' | '\u{276B}' | '\u{FE5A}' | '\u{27EF}' | '\u{2986}' => ")",
        '\u{204E}'
        | '\u{2217}'
        | '\u{229B}'
        | '\u{2722}'..='\u{2725}'
        | '\u{2731}'
        | '\u{2732}'
        | '\u{2733}'
        | '\u{273A}'
        | '\u{273B}'
        | '\u{273C}'
        | '\u{273D}'
        | '\u{2743}'
        | '\u{2749}'
        | '\u{274A}'
        | '\u{274B}'
        | '\u{29C6}'
        | '\u{FE61}' => "*",
        '\u{02D6}' | '\u{FE62}' => "+",
        '\u{3002}' | '\u{FE52}' | '\u{FF61}' => ".",
        '\u{02D0}' | '\u{02F8}' | '\u{2982}' | '\u{A789}' | '\u{FE13}' => ":",
        '\u{204F}' | '\u{FE14}' | '\u{FE54}' => ";",
        // The calculator maps U+2039 ‹ to `>` and U+203A › to `<`, which looks swapped;
        // we map each to the bracket it resembles.
        '\u{FE64}' | '\u{2039}' => "<",
        '\u{FE65}' | '\u{203A}' => ">",
        '\u{0347}' | '\u{A78A}' | '\u{FE66}' => "=",
        '\u{FE16}' | '\u{FE56}' => "?",
        // Small capitals (there are none for Q and X in the list).
        '\u{1D00}' => "A",
        '\u{0299}' => "B",
        '\u{1D04}' => "C",
        '\u{1D05}' => "D",
        '\u{1D07}' => "E",
        '\u{A730}' => "F",
        '\u{0262}' => "G",
        '\u{029C}' => "H",
        '\u{026A}' => "I",
        '\u{1D0A}' => "J",
        '\u{1D0B}' => "K",
        '\u{029F}' => "L",
        '\u{1D0D}' => "M",
        '\u{0274}' => "N",
        '\u{1D0F}' => "O",
        '\u{1D18}' => "P",
        '\u{0280}' => "R",
        '\u{A731}' => "S",
        '\u{1D1B}' => "T",
        '\u{1D1C}' => "U",
        '\u{1D20}' => "V",
        '\u{1D21}' => "W",
        '\u{028F}' => "Y",
        '\u{1D22}' => "Z",
        '\u{02C6}' | '\u{0302}' | '\u{1DCD}' => "^",
        '\u{2774}' | '\u{FE5B}' => "{",
        '\u{2775}' | '\u{FE5C}' => "}",
        '\u{02DC}' | '\u{02F7}' | '\u{0303}' | '\u{0330}' | '\u{0334}' | '\u{223C}' => "~",
        // Unicode spaces and the C1 controls the calculator treats as spaces become ONE
        // space; the calculator emits two, which we take to be its own quirk (unverified).
        // TAB has no GSM-7 code at all; the calculator expands it to 7 spaces, we use one.
        '\u{00A0}'
        | '\u{2000}'..='\u{200A}'
        | '\u{202F}'
        | '\u{205F}'
        | '\u{3000}'
        | '\u{0080}'
        | '\u{008D}'
        | '\u{0090}'
        | '\u{009B}'
        | '\u{009F}'
        | '\u{2028}'
        | '\u{2029}'
        | '\t' => " ",
        // Invisible controls and zero-width characters are dropped.
        '\u{0000}'
        | '\u{0003}'
        | '\u{0004}'
        | '\u{0010}'..='\u{0014}'
        | '\u{0017}'
        | '\u{0019}'
        | '\u{200B}'
        | '\u{2060}'
        | '\u{FEFF}' => "",
        '\u{203C}' => "!!",
        '\u{2026}' => "...",
        _ => return None,
    };
    Some(out)
}

/// Applies Twilio's smart-encoding replacements (look-alike Unicode → GSM-7).
pub fn smart_encode(body: &str) -> Cow<'_, str> {
    // Most bodies need no change: find the first replaceable character before allocating.
    let Some((first, _)) = body.char_indices().find(|&(_, c)| replacement(c).is_some()) else {
        return Cow::Borrowed(body);
    };
    let (kept, rest) = body.split_at(first);
    let mut out = String::with_capacity(body.len());
    out.push_str(kept);
    for c in rest.chars() {
        match replacement(c) {
            Some(r) => out.push_str(r),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// One character of a body as the segment inspector shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CharCost {
    /// The character.
    pub ch: char,
    /// Septets (GSM-7) or UTF-16 units (UCS-2) it costs in the body's encoding.
    pub units: usize,
    /// It has no GSM-7 form: this character alone makes the body UCS-2.
    pub forces_ucs2: bool,
    /// A GSM-7 extension-table character (costs an escape septet too).
    pub extension: bool,
    /// The segment (from 0) it is sent in.
    pub segment: u32,
}

/// Every character of `body` with its cost and segment, by the same rules as [`segments`].
pub fn inspect(body: &str) -> (Segments, Vec<CharCost>) {
    let summary = segments(body);
    let (multi, single) = match summary.encoding {
        Encoding::Gsm7 => (GSM7_MULTI, GSM7_SINGLE),
        Encoding::Ucs2 => (UCS2_MULTI, UCS2_SINGLE),
    };
    let concatenated = summary.units > single;
    let mut used = 0;
    let mut segment = 0;
    let chars = body
        .chars()
        .map(|ch| {
            let septets = usize::from(gsm7_septets(ch));
            let units = match summary.encoding {
                Encoding::Gsm7 => septets,
                Encoding::Ucs2 => ch.len_utf16(),
            };
            if concatenated && used + units > multi {
                segment += 1;
                used = 0;
            }
            used += units;
            CharCost { ch, units, forces_ucs2: septets == 0, extension: septets == 2, segment }
        })
        .collect();
    (summary, chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gsm(count: u32, units: usize) -> Segments {
        Segments { encoding: Encoding::Gsm7, count, units }
    }

    fn ucs2(count: u32, units: usize) -> Segments {
        Segments { encoding: Encoding::Ucs2, count, units }
    }

    /// The non-ASCII characters of the GSM-7 basic table.
    const BASIC_NON_ASCII: &str = "¡£¤¥§¿ÄÅÆÇÉÑÖØÜßàäåæèéìñòöøùüΓΔΘΛΞΠΣΦΨΩ";

    #[test]
    fn the_inspector_agrees_with_the_segment_count_and_flags_what_forces_ucs2() {
        for body in ["", "hi", &"a".repeat(161), &"é€".repeat(90), &"😀x".repeat(40), "curly ’quote’"] {
            let (summary, chars) = inspect(body);
            assert_eq!(summary, segments(body));
            assert_eq!(chars.iter().map(|c| c.units).sum::<usize>(), summary.units, "{body}");
            assert_eq!(chars.last().map_or(1, |c| c.segment + 1), summary.count, "{body}");
        }
        let (_, chars) = inspect("a’b");
        assert_eq!(chars.iter().filter(|c| c.forces_ucs2).map(|c| c.ch).collect::<String>(), "’");
        let (_, chars) = inspect("a€");
        assert!(chars[1].extension && !chars[1].forces_ucs2);
    }

    #[test]
    fn empty_body_is_one_gsm_segment() {
        assert_eq!(segments(""), gsm(1, 0));
    }

    #[test]
    fn gsm7_single_segment_limit() {
        assert_eq!(segments(&"a".repeat(160)), gsm(1, 160));
        assert_eq!(segments(&"a".repeat(161)), gsm(2, 161));
    }

    #[test]
    fn gsm7_multi_segment_boundaries() {
        assert_eq!(segments(&"1".repeat(306)), gsm(2, 306));
        assert_eq!(segments(&"1".repeat(307)), gsm(3, 307));
        assert_eq!(segments(&"1".repeat(153 * 3)), gsm(3, 459));
        assert_eq!(segments(&"1".repeat(153 * 3 + 1)), gsm(4, 460));
    }

    #[test]
    fn extension_chars_cost_two_septets() {
        assert_eq!(segments("{}"), gsm(1, 4));
        assert_eq!(segments("€"), gsm(1, 2));
        assert_eq!(segments("\u{0C}^{}\\[~]|€"), gsm(1, 20));
        // 80 extension chars = 160 septets: still one segment; one more septet makes two.
        assert_eq!(segments(&"|".repeat(80)), gsm(1, 160));
        assert_eq!(segments(&format!("{}a", "|".repeat(80))), gsm(2, 161));
    }

    #[test]
    fn extension_char_is_not_split_across_segments() {
        // 152 + 2 + 152 = 306 septets would fit two parts by division, but `€` cannot
        // straddle the boundary: parts are 152, 2 + 151, 1.
        let body = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(segments(&body), gsm(3, 306));
        // With one 'a' less the tail fits exactly.
        let body = format!("{}€{}", "a".repeat(152), "a".repeat(151));
        assert_eq!(segments(&body), gsm(2, 305));
    }

    #[test]
    fn gsm7_table_membership() {
        for c in BASIC_NON_ASCII.chars() {
            assert_eq!(gsm7_septets(c), 1, "{c:?} should be basic GSM-7");
        }
        for c in "@$_\n\r !\"#%&'()*+,-./0123456789:;<=>?AZaz".chars() {
            assert_eq!(gsm7_septets(c), 1, "{c:?} should be basic GSM-7");
        }
        for c in "\u{0C}^{}\\[~]|€".chars() {
            assert_eq!(gsm7_septets(c), 2, "{c:?} should be extension GSM-7");
        }
        for c in "`ç\t\u{0}\u{1B}\u{7F}áÁêÈ°¢©®😜—".chars() {
            assert_eq!(gsm7_septets(c), 0, "{c:?} should not be GSM-7");
        }
        // The basic table has 128 positions, one of which is ESC: 127 characters.
        let basic_ascii = (0u8..128).filter(|&b| gsm7_septets(char::from(b)) == 1).count();
        // 95 printable minus backtick minus 8 extension chars, plus LF and CR.
        assert_eq!(basic_ascii, 95 - 1 - 8 + 2);
        assert_eq!(basic_ascii + BASIC_NON_ASCII.chars().count(), 127);
    }

    #[test]
    fn cedilla_case_decides_encoding() {
        assert_eq!(segments("Ça va").encoding, Encoding::Gsm7);
        assert_eq!(segments("ça va"), ucs2(1, 5));
        assert_eq!(segments("`").encoding, Encoding::Ucs2);
    }

    #[test]
    fn ucs2_single_segment_limit() {
        assert_eq!(segments(&"ç".repeat(70)), ucs2(1, 70));
        assert_eq!(segments(&"ç".repeat(71)), ucs2(2, 71));
        assert_eq!(segments(&"ç".repeat(134)), ucs2(2, 134));
        assert_eq!(segments(&"ç".repeat(135)), ucs2(3, 135));
    }

    #[test]
    fn ucs2_counts_gsm_chars_as_full_units() {
        // One non-GSM character makes every character cost 16 bits.
        let body = format!("{}ç", "a".repeat(69));
        assert_eq!(segments(&body), ucs2(1, 70));
        let body = format!("{}ç", "a".repeat(70));
        assert_eq!(segments(&body), ucs2(2, 71));
        // Extension chars are one unit in UCS-2, not two.
        assert_eq!(segments("€ç"), ucs2(1, 2));
    }

    #[test]
    fn emoji_counts_two_units() {
        assert_eq!(segments("😜"), ucs2(1, 2));
        assert_eq!(segments(&"😜".repeat(35)), ucs2(1, 70));
        assert_eq!(segments(&"😜".repeat(36)), ucs2(2, 72));
    }

    #[test]
    fn emoji_then_digits_calculator_vector() {
        // 2 + 65 | 67 | 1.
        let body = format!("😜{}", "1".repeat(133));
        assert_eq!(segments(&body), ucs2(3, 135));
    }

    #[test]
    fn surrogate_pair_is_not_split_across_segments() {
        // 66 + 2 + 66 = 134 units would be two parts by division, but the emoji moves to the
        // second part: 66 | 2 + 65 | 1.
        let body = format!("{}😜{}", "ç".repeat(66), "ç".repeat(66));
        assert_eq!(segments(&body), ucs2(3, 134));
        let body = format!("{}😜{}", "ç".repeat(65), "ç".repeat(67));
        assert_eq!(segments(&body), ucs2(2, 134));
    }

    #[test]
    fn smart_encode_borrows_when_unchanged() {
        for body in ["", "Hello, world!", "Ça coûte 5€", "emoji 😜 stays", "ç"] {
            assert!(matches!(smart_encode(body), Cow::Borrowed(b) if b == body), "{body:?}");
        }
    }

    #[test]
    fn smart_encode_keeps_unlisted_chars() {
        let out = smart_encode("“Hi” 😜");
        assert_eq!(out, "\"Hi\" 😜");
        assert_eq!(segments(&out).encoding, Encoding::Ucs2);
    }

    #[test]
    fn smart_encode_prefix_and_suffix_are_kept() {
        assert_eq!(smart_encode("It’s fine — really…"), "It's fine - really...");
        assert_eq!(smart_encode("abc\u{200B}"), "abc");
        assert_eq!(smart_encode("\u{FEFF}abc"), "abc");
    }

    #[test]
    fn smart_encode_quotes_and_apostrophes() {
        assert_eq!(smart_encode("«»“”ʺˮ‟„❝❞〝〞＂"), "\"".repeat(13));
        assert_eq!(smart_encode("‘’ʻˈʼʽʹ‛＇´ˊ`ˋ❛❜\u{0313}\u{0314}\u{FE10}\u{FE11}"), "'".repeat(19));
    }

    #[test]
    fn smart_encode_slashes_fractions_and_lines() {
        assert_eq!(smart_encode("÷⧸\u{0337}\u{0338}⁄∕／"), "///////");
        assert_eq!(smart_encode("¼ ½ ¾"), "1/4 1/2 3/4");
        assert_eq!(smart_encode("⧹⧵\u{20E5}﹨＼"), "\\\\\\\\\\");
        assert_eq!(smart_encode("\u{0332}＿‗"), "___");
        assert_eq!(smart_encode("\u{20D2}\u{20D3}∣｜⎸⎹⏐⎜⎟"), "|".repeat(9));
    }

    #[test]
    fn smart_encode_dashes() {
        assert_eq!(smart_encode("⎼⎽―﹣－‐⁃—–•"), "-".repeat(10));
    }

    #[test]
    fn smart_encode_punctuation() {
        assert_eq!(smart_encode("﹫＠﹩＄"), "@@$$");
        assert_eq!(smart_encode("ǃ︕﹗！"), "!!!!");
        assert_eq!(smart_encode("﹟＃﹪％﹠＆"), "##%%&&");
        assert_eq!(smart_encode("‚\u{0326}﹐﹑，､、"), ",".repeat(7));
        assert_eq!(smart_encode("❨❪﹙（⟮⦅"), "((((((");
        assert_eq!(smart_encode("❩❫﹚）⟯⦆"), "))))))");
        assert_eq!(smart_encode("⁎∗⊛✢✣✤✥✱✲✳✺✻✼✽❃❉❊❋⧆﹡＊"), "*".repeat(21));
        assert_eq!(smart_encode("˖﹢＋"), "+++");
        assert_eq!(smart_encode("。﹒．｡"), "....");
        assert_eq!(smart_encode("ː˸⦂꞉︓："), "::::::");
        assert_eq!(smart_encode("⁏︔﹔；"), ";;;;");
        assert_eq!(smart_encode("﹤＜‹"), "<<<");
        assert_eq!(smart_encode("﹥＞›"), ">>>");
        assert_eq!(smart_encode("\u{0347}꞊﹦＝"), "====");
        assert_eq!(smart_encode("︖﹖？"), "???");
        assert_eq!(smart_encode("ˆ\u{0302}＾\u{1DCD}"), "^^^^");
        assert_eq!(smart_encode("❴﹛｛❵﹜｝［］"), "{{{}}}[]");
        assert_eq!(smart_encode("˜˷\u{0303}\u{0330}\u{0334}∼～"), "~".repeat(7));
        assert_eq!(smart_encode("‼"), "!!");
        assert_eq!(smart_encode("…"), "...");
    }

    #[test]
    fn smart_encode_fullwidth_digits_and_letters() {
        assert_eq!(smart_encode("０１２３４５６７８９"), "0123456789");
        assert_eq!(smart_encode("ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ"), "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
        // Fullwidth lowercase is not in Twilio's list.
        assert!(matches!(smart_encode("ａ"), Cow::Borrowed(_)));
    }

    #[test]
    fn smart_encode_small_capitals() {
        assert_eq!(smart_encode("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ"), "ABCDEFGHIJKLMNOPRSTUVWYZ");
    }

    #[test]
    fn smart_encode_spaces_become_one_space() {
        let spaces = "\u{00A0}\u{2000}\u{2001}\u{2002}\u{2003}\u{2004}\u{2005}\u{2006}\u{2007}\
                      \u{2008}\u{2009}\u{200A}\u{202F}\u{205F}\u{3000}\u{2028}\u{2029}";
        assert_eq!(smart_encode(spaces), " ".repeat(17));
        assert_eq!(smart_encode("\u{0080}\u{008D}\u{0090}\u{009B}\u{009F}"), "     ");
        assert_eq!(smart_encode("a\tb"), "a b");
    }

    #[test]
    fn smart_encode_removes_invisible_chars() {
        let removed = "\u{0000}\u{0003}\u{0004}\u{0010}\u{0011}\u{0012}\u{0013}\u{0014}\
                       \u{0017}\u{0019}\u{200B}\u{2060}\u{FEFF}";
        assert_eq!(smart_encode(&format!("a{removed}b")), "ab");
        // Controls not in the list are left alone (and keep the body UCS-2).
        assert!(matches!(smart_encode("\u{0001}"), Cow::Borrowed(_)));
    }

    #[test]
    fn smart_encode_turns_a_ucs2_body_into_gsm7() {
        let body = "“Don’t” — it’s 50% off… ＊today＊";
        assert_eq!(segments(body).encoding, Encoding::Ucs2);
        let out = smart_encode(body);
        assert_eq!(out, "\"Don't\" - it's 50% off... *today*");
        assert_eq!(segments(&out).encoding, Encoding::Gsm7);
    }

    #[test]
    fn every_replacement_is_gsm7_and_idempotent() {
        let mut mapped = 0;
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let Some(r) = replacement(c) else { continue };
            mapped += 1;
            assert!(r.chars().all(|o| gsm7_septets(o) != 0), "{c:?} -> {r:?} is not GSM-7");
            assert!(r.chars().all(|o| replacement(o).is_none()), "{c:?} -> {r:?} not stable");
            let s = c.to_string();
            let once = smart_encode(&s).into_owned();
            assert_eq!(smart_encode(&once), once);
            assert_eq!(segments(&once).encoding, Encoding::Gsm7);
        }
        // The notes list exactly 270 code points; guards against a range drifting.
        assert_eq!(mapped, 270);
    }

    #[test]
    fn smart_encode_is_idempotent_on_mixed_text() {
        let body = "ＨＥＬＬＯ\u{00A0}ᴡᴏʀʟᴅ‼ «¼» \t\u{200B}😜 ç";
        let once = smart_encode(body).into_owned();
        assert_eq!(smart_encode(&once), once);
        assert!(matches!(smart_encode(&once), Cow::Borrowed(_)));
    }
}

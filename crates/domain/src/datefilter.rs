//! Parsing of the date values Twilio accepts in list filters (`DateSent`, `DateSent<`, …).
//!
//! Accepted shapes (surrounding whitespace is ignored):
//! - `YYYY`, `YYYY-MM`, `YYYY-MM-DD` and `MM/DD/YYYY`: the whole year, month or day (UTC);
//! - `YYYY-MM-DD[T or space]HH:MM:SS[.fraction][zone]` where zone is absent (UTC), `Z`,
//!   `±HH:MM`, `±HHMM` or an abbreviation (UTC, GMT, Z, EST/EDT, CST/CDT, MST/MDT, PST/PDT);
//! - `MM/DD/YYYY HH:MM:SS[.fraction] [zone]`;
//! - RFC 2822, e.g. `Wed, 19 Jun 2019 22:04:00 -0000` (via chrono, which checks the weekday).
//!
//! A timestamp names the one-second period starting at it (fractions are truncated), so an
//! exact match and `<`/`>` comparisons use the same `Period`.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};

/// A span of time named by a filter value: `2020` is a year, `2020-12-01` a day, a full
/// timestamp a single second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First instant of the period (inclusive).
    pub start: DateTime<Utc>,
    /// First instant after the period (exclusive).
    pub end: DateTime<Utc>,
    /// True when the value named a time of day (not just a year, month or day).
    pub has_time: bool,
}

/// Real filter values are far shorter; rejecting long input early bounds the work.
const MAX_LEN: usize = 64;

/// Parses a filter value; `None` means Twilio's 20001 "Invalid date value.".
pub fn parse(value: &str) -> Option<Period> {
    let value = value.trim();
    if value.is_empty() || value.len() > MAX_LEN {
        return None;
    }
    parse_iso(value.as_bytes()).or_else(|| parse_us(value.as_bytes())).or_else(|| parse_rfc2822(value))
}

/// A byte cursor; every accepted character is ASCII, so bytes are enough and slicing is safe.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// Consumes `b` if it is next.
    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// Reads between `min` and `max` ASCII digits (greedy) as a number.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let mut n = 0u32;
        let mut len = 0;
        while len < max {
            match self.peek() {
                Some(b @ b'0'..=b'9') => {
                    n = n.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
                    len += 1;
                    self.pos += 1;
                }
                _ => break,
            }
        }
        (len >= min).then_some(n)
    }

    /// Skips a run of ASCII digits (of any length) and says whether there was one.
    fn skip_digits(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// Reads a run of ASCII letters.
    fn letters(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        self.bytes.get(start..self.pos).unwrap_or_default()
    }
}

/// `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or an ISO-like timestamp.
fn parse_iso(bytes: &[u8]) -> Option<Period> {
    let mut c = Cursor::new(bytes);
    let year = i32::try_from(c.digits(4, 4)?).ok()?;
    if c.at_end() {
        return date_period(NaiveDate::from_ymd_opt(year, 1, 1)?, NaiveDate::from_ymd_opt(year + 1, 1, 1)?);
    }
    if !c.eat(b'-') {
        return None;
    }
    let month = c.digits(2, 2)?;
    if c.at_end() {
        let start = NaiveDate::from_ymd_opt(year, month, 1)?;
        let end = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)?
        };
        return date_period(start, end);
    }
    if !c.eat(b'-') {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, month, c.digits(2, 2)?)?;
    if c.at_end() {
        return date_period(date, date.succ_opt()?);
    }
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return None;
    }
    timestamp_period(date, &mut c)
}

/// `MM/DD/YYYY` (month and day may have one digit) or `MM/DD/YYYY HH:MM:SS [zone]`.
fn parse_us(bytes: &[u8]) -> Option<Period> {
    let mut c = Cursor::new(bytes);
    let month = c.digits(1, 2)?;
    if !c.eat(b'/') {
        return None;
    }
    let day = c.digits(1, 2)?;
    if !c.eat(b'/') {
        return None;
    }
    let year = i32::try_from(c.digits(4, 4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    if c.at_end() {
        return date_period(date, date.succ_opt()?);
    }
    if !c.eat(b' ') {
        return None;
    }
    c.skip_spaces();
    timestamp_period(date, &mut c)
}

/// RFC 2822 (`Wed, 19 Jun 2019 22:04:00 -0000`, `… GMT`).
fn parse_rfc2822(value: &str) -> Option<Period> {
    let dt = DateTime::parse_from_rfc2822(value).ok()?;
    second_period(dt.timestamp())
}

/// Reads `HH:MM:SS[.fraction][zone]` up to the end of input and returns its second.
fn timestamp_period(date: NaiveDate, c: &mut Cursor<'_>) -> Option<Period> {
    let hour = c.digits(2, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let minute = c.digits(2, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let second = c.digits(2, 2)?;
    // Fractions are accepted and dropped: the period is the whole second.
    if c.eat(b'.') && !c.skip_digits() {
        return None;
    }
    let time = NaiveTime::from_hms_opt(hour, minute, second)?;
    c.skip_spaces();
    let offset_seconds = if c.at_end() { 0 } else { zone(c)? };
    if !c.at_end() {
        return None;
    }
    let local = date.and_time(time).and_utc().timestamp();
    second_period(local.checked_sub(i64::from(offset_seconds))?)
}

/// Reads a zone: `Z`, `±HH:MM`, `±HHMM` or an abbreviation; returns seconds east of UTC.
fn zone(c: &mut Cursor<'_>) -> Option<i32> {
    let sign = match c.peek()? {
        b'+' => 1,
        b'-' => -1,
        _ => return zone_abbreviation(c.letters()),
    };
    c.pos += 1;
    let hours = i32::try_from(c.digits(2, 2)?).ok()?;
    c.eat(b':');
    let minutes = i32::try_from(c.digits(2, 2)?).ok()?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

/// Fixed offsets (seconds east of UTC) of the zone abbreviations Twilio's examples use.
fn zone_abbreviation(name: &[u8]) -> Option<i32> {
    const HOUR: i32 = 3600;
    let hours = match name.to_ascii_uppercase().as_slice() {
        b"Z" | b"UTC" | b"GMT" => 0,
        b"EDT" => -4,
        b"EST" | b"CDT" => -5,
        b"CST" | b"MDT" => -6,
        b"MST" | b"PDT" => -7,
        b"PST" => -8,
        _ => return None,
    };
    Some(hours * HOUR)
}

/// The whole days from `start` to `end` (UTC midnights).
fn date_period(start: NaiveDate, end: NaiveDate) -> Option<Period> {
    Some(Period {
        start: start.and_time(NaiveTime::MIN).and_utc(),
        end: end.and_time(NaiveTime::MIN).and_utc(),
        has_time: false,
    })
}

/// The one-second period starting at Unix time `seconds`.
fn second_period(seconds: i64) -> Option<Period> {
    let start = DateTime::from_timestamp(seconds, 0)?;
    let end = start.checked_add_signed(TimeDelta::seconds(1))?;
    Some(Period { start, end, has_time: true })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().expect("valid test date")
    }

    fn days(start: (i32, u32, u32), end: (i32, u32, u32)) -> Option<Period> {
        Some(Period {
            start: utc(start.0, start.1, start.2, 0, 0, 0),
            end: utc(end.0, end.1, end.2, 0, 0, 0),
            has_time: false,
        })
    }

    fn second(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<Period> {
        let start = utc(y, mo, d, h, mi, s);
        Some(Period { start, end: start + TimeDelta::seconds(1), has_time: true })
    }

    #[test]
    fn year() {
        assert_eq!(parse("2020"), days((2020, 1, 1), (2021, 1, 1)));
        assert_eq!(parse("  1999 "), days((1999, 1, 1), (2000, 1, 1)));
        assert_eq!(parse("9999"), days((9999, 1, 1), (10000, 1, 1)));
    }

    #[test]
    fn month() {
        assert_eq!(parse("2020-12"), days((2020, 12, 1), (2021, 1, 1)));
        assert_eq!(parse("2020-02"), days((2020, 2, 1), (2020, 3, 1)));
        assert_eq!(parse("2020-01"), days((2020, 1, 1), (2020, 2, 1)));
    }

    #[test]
    fn day() {
        assert_eq!(parse("2020-12-12"), days((2020, 12, 12), (2020, 12, 13)));
        assert_eq!(parse("2008-01-02"), days((2008, 1, 2), (2008, 1, 3)));
        assert_eq!(parse("2020-12-31"), days((2020, 12, 31), (2021, 1, 1)));
        assert_eq!(parse("2020-02-29"), days((2020, 2, 29), (2020, 3, 1)));
        assert_eq!(parse("\t2008-01-02\n"), days((2008, 1, 2), (2008, 1, 3)));
    }

    #[test]
    fn iso_timestamp_utc() {
        assert_eq!(parse("2020-12-12T10:53:43Z"), second(2020, 12, 12, 10, 53, 43));
        assert_eq!(parse("2020-12-12t10:53:43z"), second(2020, 12, 12, 10, 53, 43));
        assert_eq!(parse("2020-12-12T10:53:43+0000"), second(2020, 12, 12, 10, 53, 43));
        assert_eq!(parse("2020-12-12T10:53:43+00:00"), second(2020, 12, 12, 10, 53, 43));
        assert_eq!(parse("2020-12-12T10:53:43-00:00"), second(2020, 12, 12, 10, 53, 43));
    }

    #[test]
    fn iso_timestamp_without_zone_is_utc() {
        assert_eq!(parse("2020-12-12T10:53:43"), second(2020, 12, 12, 10, 53, 43));
        assert_eq!(parse("2020-12-12 10:53:43"), second(2020, 12, 12, 10, 53, 43));
        assert_eq!(parse("2019-06-11 22:05:25.000"), second(2019, 6, 11, 22, 5, 25));
    }

    #[test]
    fn iso_timestamp_with_offset_converts_to_utc() {
        assert_eq!(parse("2020-12-12T10:53:43-08:00"), second(2020, 12, 12, 18, 53, 43));
        assert_eq!(parse("2020-12-12T10:53:43.000-0800"), second(2020, 12, 12, 18, 53, 43));
        assert_eq!(parse("2020-12-12T10:53:43+05:30"), second(2020, 12, 12, 5, 23, 43));
        // Offsets can move the instant into another day or year.
        assert_eq!(parse("2020-12-31T20:00:00-05:00"), second(2021, 1, 1, 1, 0, 0));
        assert_eq!(parse("2021-01-01T01:00:00+02:00"), second(2020, 12, 31, 23, 0, 0));
    }

    #[test]
    fn fractional_seconds_are_truncated() {
        assert_eq!(parse("2020-12-12T10:53:43.999Z"), second(2020, 12, 12, 10, 53, 43));
        assert_eq!(parse("2020-12-12T10:53:43.123456789"), second(2020, 12, 12, 10, 53, 43));
        let many = "2020-12-12T10:53:43.12345678901234567890123456789Z";
        assert_eq!(parse(many), second(2020, 12, 12, 10, 53, 43));
        assert_eq!(parse("2020-12-12T10:53:43.5+01:00"), second(2020, 12, 12, 9, 53, 43));
    }

    #[test]
    fn iso_timestamp_with_abbreviation() {
        assert_eq!(parse("2019-06-11 22:05:25 UTC"), second(2019, 6, 11, 22, 5, 25));
        assert_eq!(parse("2019-06-11 22:05:25 PDT"), second(2019, 6, 12, 5, 5, 25));
    }

    #[test]
    fn rfc2822() {
        assert_eq!(parse("Wed, 19 Jun 2019 22:04:00 -0000"), second(2019, 6, 19, 22, 4, 0));
        assert_eq!(parse("Thu, 24 Aug 2023 05:01:45 +0000"), second(2023, 8, 24, 5, 1, 45));
        assert_eq!(parse("Thu, 24 Aug 2023 05:01:45 GMT"), second(2023, 8, 24, 5, 1, 45));
        assert_eq!(parse("Thu, 24 Aug 2023 05:01:45 -0700"), second(2023, 8, 24, 12, 1, 45));
        assert_eq!(parse("24 Aug 2023 05:01:45 +0000"), second(2023, 8, 24, 5, 1, 45));
        // chrono rejects a weekday that does not match the date.
        assert_eq!(parse("Mon, 24 Aug 2023 05:01:45 +0000"), None);
    }

    #[test]
    fn us_date() {
        assert_eq!(parse("06/11/2019"), days((2019, 6, 11), (2019, 6, 12)));
        assert_eq!(parse("6/1/2019"), days((2019, 6, 1), (2019, 6, 2)));
        assert_eq!(parse("02/30/2019"), None);
        assert_eq!(parse("13/01/2019"), None);
    }

    #[test]
    fn us_timestamp_with_zone() {
        assert_eq!(parse("06/11/2019 22:05:25 MST"), second(2019, 6, 12, 5, 5, 25));
        assert_eq!(parse("06/11/2019 22:05:25 mst"), second(2019, 6, 12, 5, 5, 25));
        assert_eq!(parse("06/11/2019 22:05:25"), second(2019, 6, 11, 22, 5, 25));
        assert_eq!(parse("06/11/2019 22:05:25 -0700"), second(2019, 6, 12, 5, 5, 25));
        assert_eq!(parse("06/11/2019 22:05:25.250 Z"), second(2019, 6, 11, 22, 5, 25));
    }

    #[test]
    fn us_zone_abbreviations() {
        let cases = [
            ("UTC", 0),
            ("GMT", 0),
            ("Z", 0),
            ("EST", 5),
            ("EDT", 4),
            ("CST", 6),
            ("CDT", 5),
            ("MST", 7),
            ("MDT", 6),
            ("PST", 8),
            ("PDT", 7),
        ];
        for (name, hours_behind) in cases {
            let p = parse(&format!("01/15/2020 12:00:00 {name}"));
            assert_eq!(p, second(2020, 1, 15, 12 + hours_behind, 0, 0), "{name}");
        }
        assert_eq!(parse("01/15/2020 12:00:00 XYZ"), None);
        assert_eq!(parse("01/15/2020 12:00:00 CET"), None);
    }

    #[test]
    fn invalid_values() {
        let bad = [
            "",
            "   ",
            "yesterday",
            "2020-13-01",
            "2020-02-30",
            "2019-02-29",
            "2020-00",
            "2020-13",
            "2020-12-00",
            "12345678901234",
            "202",
            "20201",
            "2020-1",
            "2020-12-1",
            "2020/12/12",
            "2020-12-12T",
            "2020-12-12T10",
            "2020-12-12T10:53",
            "2020-12-12T10:53Z",
            "2020-12-12T24:00:00Z",
            "2020-12-12T23:60:00Z",
            "2020-12-12T23:59:60Z",
            "2020-12-12T10:53:43.",
            "2020-12-12T10:53:43+2400",
            "2020-12-12T10:53:43+0060",
            "2020-12-12T10:53:43+08",
            "2020-12-12T10:53:43Zjunk",
            "2020-12-12T10:53:43 junk",
            "2020-12-12X10:53:43",
            "2020-12-12  10:53:43",
            "06/11/19",
            "06/11/2019 22:05",
            "06-11-2019",
            "now",
            "-2020",
            "+2020",
        ];
        for value in bad {
            assert_eq!(parse(value), None, "{value:?}");
        }
    }

    #[test]
    fn odd_input_never_panics() {
        let long_digits = "9".repeat(10_000);
        let long_iso = format!("2020-12-12T10:53:43.{}", "9".repeat(100));
        let odd = [
            "T",
            "-",
            ":",
            "/",
            ".",
            "Z",
            "2020-",
            "2020--",
            "2020-12-",
            "2020-12-12T10:",
            "2020-12-12T10:53:",
            "2020-12-12T10:53:43+",
            "2020-12-12T10:53:43+0",
            "2020-12-12T10:53:43+00:",
            "2020-12-12T10:53:43-",
            "//",
            "1//",
            "06/11/",
            "06/11/2019 ",
            "06/11/2019 22:05:25 ",
            "é",
            "２０２０",
            "2020-12-12T10:53:43€",
            "2020-12-12T10:53:43 Ω",
            "Wed,",
            "Wed, 19 Jun",
            "Wed, 19 Jun 2019 22:04:00",
            "Wed, 19 Jun 2019 22:04:00 +9959",
            "Wed, 99 Jun 99999999 99:99:99 -9999",
            "0000",
            "0000-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-23:59",
            "\u{0}",
            "😜😜😜",
            &long_digits,
            &long_iso,
        ];
        for value in odd {
            let _ = parse(value);
        }
        // Arbitrary byte-ish mixes around every prefix of a valid value.
        let valid = "2020-12-12T10:53:43.000-08:00";
        for i in 0..=valid.len() {
            let _ = parse(&valid[..i]);
            let _ = parse(&valid[i..]);
        }
        assert_eq!(parse(&long_digits), None);
    }

    #[test]
    fn extreme_years_do_not_overflow() {
        assert_eq!(parse("0000"), days((0, 1, 1), (1, 1, 1)));
        assert_eq!(parse("0000-01-01T00:30:00+01:00"), second(-1, 12, 31, 23, 30, 0));
        assert_eq!(parse("9999-12-31T23:59:59-23:59"), second(10000, 1, 1, 23, 58, 59));
    }
}

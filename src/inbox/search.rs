//! The Messages view's search syntax: `to:` `from:` `status:` `direction:` `body:` `after:`
//! `before:` `date:` and plain words (all must be in the body); quotes keep spaces together.

use crate::store::MessageFilter;
use switchboard_domain::status::{Direction, Status};
use switchboard_domain::{address, datefilter};

/// Splits a query into terms; `"…"` (also after `name:`) keeps spaces inside one term.
fn terms(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The store filter a query asks for, or what is wrong with it (shown to the user).
pub fn parse(q: &str) -> Result<MessageFilter, String> {
    let mut f = MessageFilter::default();
    for term in terms(q) {
        let Some((name, value)) = term.split_once(':').filter(|(n, _)| is_field(n)) else {
            f.body_contains.push(term);
            continue;
        };
        if value.is_empty() {
            return Err(format!("{name}: needs a value"));
        }
        match name.to_ascii_lowercase().as_str() {
            "to" => f.to = Some(address::parse_to(value).map(|a| a.text).unwrap_or_else(|| value.to_string())),
            "from" => f.from = Some(address::parse_from(value).map(|a| a.text).unwrap_or_else(|| value.to_string())),
            "status" => {
                f.status = Some(Status::parse(&value.to_ascii_lowercase()).ok_or(format!("unknown status '{value}'"))?)
            }
            "direction" => {
                let d = match value.to_ascii_lowercase().as_str() {
                    "in" | "inbound" => Direction::Inbound,
                    "out" | "outbound" | "outbound-api" => Direction::OutboundApi,
                    other => Direction::parse(other).ok_or(format!("unknown direction '{value}'"))?,
                };
                f.direction = Some(d);
            }
            "body" => f.body_contains.push(value.to_string()),
            date_field => {
                let p = datefilter::parse(value).ok_or(format!("'{value}' is not a date (YYYY-MM-DD)"))?;
                let (start, end) = (p.start.timestamp_millis(), p.end.timestamp_millis());
                match date_field {
                    "after" => f.sent_from_ms = Some(f.sent_from_ms.map_or(start, |x| x.max(start))),
                    "before" => f.sent_until_ms = Some(f.sent_until_ms.map_or(start, |x| x.min(start))),
                    _ => {
                        f.sent_from_ms = Some(f.sent_from_ms.map_or(start, |x| x.max(start)));
                        f.sent_until_ms = Some(f.sent_until_ms.map_or(end, |x| x.min(end)));
                    }
                }
            }
        }
    }
    Ok(f)
}

fn is_field(name: &str) -> bool {
    ["to", "from", "status", "direction", "body", "after", "before", "date"]
        .contains(&name.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_words_and_quotes_become_one_filter() {
        let f = parse(r#"to:+14155552671 status:delivered direction:in body:"your code" otp"#).unwrap();
        assert_eq!(f.to.as_deref(), Some("+14155552671"));
        assert_eq!(f.status, Some(Status::Delivered));
        assert_eq!(f.direction, Some(Direction::Inbound));
        assert_eq!(f.body_contains, ["your code", "otp"]);
    }

    #[test]
    fn date_ranges_bound_the_send_date() {
        let f = parse("after:2026-12-01 before:2026-12-03").unwrap();
        assert_eq!(f.sent_from_ms, Some(1_796_083_200_000));
        assert_eq!(f.sent_until_ms, Some(1_796_256_000_000));
        let day = parse("date:2026-12-01").unwrap();
        assert_eq!(day.sent_until_ms.unwrap() - day.sent_from_ms.unwrap(), 86_400_000);
    }

    #[test]
    fn unknown_values_are_explained_and_a_url_is_just_a_word() {
        assert!(parse("status:lost").unwrap_err().contains("lost"));
        assert!(parse("after:yesterday").is_err());
        assert_eq!(parse("https://x.y").unwrap().body_contains, ["https://x.y"]);
    }
}

//! Link shortening: finding the URLs in a message body and replacing them with short links.

/// Byte ranges of the `http://` and `https://` URLs in `body`, in order. A URL runs to the next
/// whitespace; trailing punctuation that usually ends a sentence is left out.
pub fn find_urls(body: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let rest = &body[i..];
        let Some(pos) = rest.find("http") else { break };
        let start = i + pos;
        let tail = &body[start..];
        let is_url = tail.starts_with("https://") || tail.starts_with("http://");
        let preceded_ok = body[..start].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        if !(is_url && preceded_ok) {
            i = start + 4;
            continue;
        }
        let mut end = start + tail.find(char::is_whitespace).unwrap_or(tail.len());
        while end > start {
            let last = body[..end].chars().next_back().unwrap_or(' ');
            if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | ')' | '"' | '\'') {
                end -= last.len_utf8();
            } else {
                break;
            }
        }
        let scheme_len = if tail.starts_with("https://") { 8 } else { 7 };
        if end > start + scheme_len {
            out.push(start..end);
        }
        i = end.max(start + scheme_len);
    }
    out
}

/// Replaces each range with its replacement (ranges from [`find_urls`], same order).
pub fn replace(body: &str, ranges: &[std::ops::Range<usize>], replacements: &[String]) -> String {
    let mut out = String::with_capacity(body.len());
    let mut at = 0;
    for (r, rep) in ranges.iter().zip(replacements) {
        out.push_str(&body[at..r.start]);
        out.push_str(rep);
        at = r.end;
    }
    out.push_str(&body[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(body: &str) -> Vec<&str> {
        find_urls(body).into_iter().map(|r| &body[r]).collect()
    }

    #[test]
    fn urls_are_found_without_trailing_punctuation() {
        assert_eq!(
            urls("Go to https://e.com/a?b=1, or http://x.org/p. (see https://y.io/z)"),
            ["https://e.com/a?b=1", "http://x.org/p", "https://y.io/z"]
        );
        assert_eq!(urls("no links, just https:// and xhttps://e.com"), Vec::<&str>::new());
        assert_eq!(urls("émoji 😀 https://e.com/ü"), ["https://e.com/ü"]);
    }

    #[test]
    fn replacement_keeps_the_text_around() {
        let body = "a https://e.com/long b https://f.com c";
        let ranges = find_urls(body);
        assert_eq!(replace(body, &ranges, &["S1".into(), "S2".into()]), "a S1 b S2 c");
    }
}

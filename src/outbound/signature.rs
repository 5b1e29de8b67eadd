//! Twilio's `X-Twilio-Signature`: how receivers check that a webhook came from us.
//!
//! The algorithm is the one of Twilio's own validators (twilio-python `RequestValidator`):
//! HMAC-SHA1, keyed with the account's auth token, over the URL followed by every form
//! parameter as `name + value`, names in sorted order and, per name, its distinct values in
//! sorted order. Receivers run those validators unchanged, so every byte has to match.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

/// base64(HMAC-SHA1(key = auth token, data = url + sorted `name + value` pairs)), as Twilio signs webhooks.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    base64::engine::general_purpose::STANDARD.encode(mac(auth_token, url, params))
}

/// Constant-time check of a received signature, accepting the URL with and without its port,
/// as Twilio's validators do.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    // Twilio's back end is inconsistent about writing the port, so its validators try the URL as
    // given, without its port, and with the scheme's default port; so do we.
    let mut valid = subtle::Choice::from(0);
    for candidate in std::iter::once(url.to_string()).chain(port_variants(url)) {
        valid |= sign(auth_token, &candidate, params).as_bytes().ct_eq(signature.as_bytes());
    }
    valid.into()
}

/// The raw MAC over `url` and the sorted, de-duplicated parameters.
fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Vec<u8> {
    // Sorting the pairs orders by name, then by value: exactly "each name in sorted order, each
    // of its values in sorted order". `str` compares by UTF-8 bytes, which is code-point order,
    // the order Python's `sorted` uses.
    let mut pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut data = String::with_capacity(url.len() + pairs.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>());
    data.push_str(url);
    for (name, value) in pairs {
        data.push_str(name);
        data.push_str(value);
    }
    // HMAC accepts keys of any length (longer ones are hashed first), so keying cannot fail; the
    // fallback only exists to avoid a panic path.
    match <HmacSha1 as Mac>::new_from_slice(auth_token.as_bytes()) {
        Ok(mut mac) => {
            mac.update(data.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// The other spellings of `url` Twilio's validators accept: without its port (if it has one) or
/// with the scheme's default port (if it has none). Empty for non-HTTP URLs.
fn port_variants(url: &str) -> Vec<String> {
    // Plain string slicing, not `url::Url`: Url normalizes (drops a default port, lower-cases
    // the host, re-encodes the path), and the signature must be computed on the URL as given.
    let starts = |prefix: &str| url.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix));
    let (default_port, scheme_len) = if starts("https://") {
        (443, "https://".len())
    } else if starts("http://") {
        (80, "http://".len())
    } else {
        return Vec::new();
    };
    let rest = &url[scheme_len..];
    let authority_end = scheme_len + rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &url[scheme_len..authority_end];
    let host_start = scheme_len + authority.rfind('@').map_or(0, |i| i + 1);
    let host_port = &url[host_start..authority_end];
    // The port follows the last ':' unless that ':' is inside an IPv6 literal (`[::1]`).
    match host_port.rfind(':').filter(|&i| !host_port[i..].contains(']')) {
        Some(colon) => vec![format!("{}{}", &url[..host_start + colon], &url[authority_end..])],
        None => vec![format!("{}:{default_port}{}", &url[..authority_end], &url[authority_end..])],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The form parameters of twilio-python's validator tests (notes §4.2).
    fn call_params() -> Vec<(String, String)> {
        params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }

    fn status_callback_params() -> Vec<(String, String)> {
        params(&[
            ("AccountSid", "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            ("ApiVersion", "2010-04-01"),
            ("From", "+15017250604"),
            ("MessageSid", "SM1342fe1b2c904d1ab04f0fc7a58abca9"),
            ("MessageStatus", "sent"),
            ("SmsSid", "SM1342fe1b2c904d1ab04f0fc7a58abca9"),
            ("SmsStatus", "sent"),
            ("To", "+15558675310"),
        ])
    }

    #[test]
    fn signs_twilios_reference_vector() {
        assert_eq!(sign(TOKEN, URL, &call_params()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn signs_the_url_exactly_as_written_including_an_explicit_port() {
        let p = call_params();
        assert_eq!(sign(TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2", &p), "kvajT1Ptam85bY51eRf/AJRuM3w=");
        assert_eq!(sign(TOKEN, "http://mycompany.com:1234/myapp.php?foo=1&bar=2", &p), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=");
        assert_eq!(sign(TOKEN, "http://mycompany.com:80/myapp.php?foo=1&bar=2", &p), "0ZXoZLH/DfblKGATFgpif+LLRf4=");
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let mut p = call_params();
        p.reverse();
        assert_eq!(sign(TOKEN, URL, &p), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn repeated_values_count_once_and_are_sorted() {
        let p = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(sign(TOKEN, URL, &p), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn signs_the_status_callback_vector_with_and_without_port() {
        let p = status_callback_params();
        assert_eq!(sign(TOKEN, "https://example.com/status?x=1", &p), "4YwzPjpcPcZRK0eQ6qnWbvIk9CU=");
        assert_eq!(sign(TOKEN, "https://example.com:443/status?x=1", &p), "vd0ZCgOU6YB7qWKGrxoBN08hf20=");
    }

    #[test]
    fn names_sort_by_code_point_so_uppercase_comes_first() {
        // `Body` < `MediaUrl0` < `To` < `body`, as Python's `sorted` orders them (value computed
        // with the same algorithm in Python).
        let p = params(&[("body", "x"), ("To", "y"), ("Body", "z"), ("MediaUrl0", "w")]);
        assert_eq!(sign(TOKEN, URL, &p), "jXgBSSXT5k4FnEHtyvvmI6p54ig=");
    }

    #[test]
    fn verify_accepts_the_matching_signature() {
        assert!(verify(TOKEN, URL, &call_params(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(verify(
            TOKEN,
            "https://example.com/status?x=1",
            &status_callback_params(),
            "4YwzPjpcPcZRK0eQ6qnWbvIk9CU="
        ));
    }

    #[test]
    fn verify_rejects_wrong_token_params_url_or_signature() {
        let p = call_params();
        let good = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert!(!verify("54321", URL, &p, good));
        assert!(!verify(TOKEN, URL, &p[1..], good));
        assert!(!verify(TOKEN, "https://mycompany.com/myapp.php?foo=1&bar=3", &p, good));
        assert!(!verify(TOKEN, URL, &p, "RSOYDt4T1cUTdK1PDd93/VVr8B8"));
        assert!(!verify(TOKEN, URL, &p, ""));
    }

    #[test]
    fn verify_accepts_signatures_made_over_the_url_with_the_default_port() {
        let p = call_params();
        assert!(verify(TOKEN, URL, &p, "kvajT1Ptam85bY51eRf/AJRuM3w="));
        assert!(verify(TOKEN, "http://mycompany.com/myapp.php?foo=1&bar=2", &p, "0ZXoZLH/DfblKGATFgpif+LLRf4="));
        assert!(verify(
            TOKEN,
            "https://example.com/status?x=1",
            &status_callback_params(),
            "vd0ZCgOU6YB7qWKGrxoBN08hf20="
        ));
    }

    #[test]
    fn verify_accepts_signatures_made_over_the_url_without_its_port() {
        let p = call_params();
        assert!(verify(TOKEN, "https://mycompany.com:1234/myapp.php?foo=1&bar=2", &p, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(verify(TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2", &p, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(verify(TOKEN, "http://mycompany.com:1234/myapp.php?foo=1&bar=2", &p, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="));
    }

    #[test]
    fn port_variants_handle_userinfo_ipv6_and_missing_path() {
        assert_eq!(port_variants("https://u:p@h.com:8443/a"), ["https://u:p@h.com/a"]);
        assert_eq!(port_variants("https://u:p@h.com/a"), ["https://u:p@h.com:443/a"]);
        assert_eq!(port_variants("http://[::1]:8080?x=1"), ["http://[::1]?x=1"]);
        assert_eq!(port_variants("http://[::1]"), ["http://[::1]:80"]);
        assert_eq!(port_variants("HTTPS://h.com"), ["HTTPS://h.com:443"]);
        assert!(port_variants("ftp://h.com/").is_empty());
        assert!(port_variants("").is_empty());
    }
}

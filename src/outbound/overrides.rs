//! Twilio's connection overrides: a fragment on a webhook URL (`#ct=1000&rt=2000&rc=3&rp=4xx,5xx`)
//! that sets the timeouts and retries of requests to that URL. Pure parsing: the client applies
//! the resulting [`RequestSettings`].

use super::client::{RequestSettings, RetryOn};
use std::time::Duration;

/// Bounds of timeouts set by a URL fragment, in milliseconds.
const TIMEOUT_BOUNDS_MS: (u64, u64) = (100, 60_000);
/// Largest retry count (`rc`) a URL fragment may ask for.
const MAX_RETRY_COUNT: u64 = 10;

/// Splits Twilio's connection-override fragment (`#ct=1000&rt=2000&tt=3000&rc=3&rp=4xx,5xx`)
/// off a URL: returns the URL to request and `defaults` with the overrides applied.
///
/// Keys: `ct`/`rt`/`tt` connect/read/total timeout in ms (clamped to 100 ms..60 s), `rc` retry
/// count (clamped to 0..10; attempts = rc + 1), `rp` retry policy, a comma-separated subset of
/// `4xx`, `5xx`, `ct` (connect failure), `rt` (timeout), `all`. Other keys (`e`, `sni`, …) and
/// unparseable values are ignored, keeping the default.
pub fn split_overrides(url: &str, defaults: &RequestSettings) -> (String, RequestSettings) {
    let mut settings = defaults.clone();
    let Some((base, fragment)) = url.split_once('#') else {
        return (url.to_string(), settings);
    };
    for (key, value) in form_urlencoded::parse(fragment.as_bytes()) {
        match key.as_ref() {
            "ct" => set_timeout(&mut settings.connect_timeout, &value),
            "rt" => set_timeout(&mut settings.read_timeout, &value),
            "tt" => set_timeout(&mut settings.total_timeout, &value),
            "rc" => {
                if let Ok(rc) = value.trim().parse::<u64>() {
                    // At most MAX_RETRY_COUNT + 1, which fits u32.
                    settings.max_attempts = u32::try_from(rc.min(MAX_RETRY_COUNT) + 1).unwrap_or(1);
                }
            }
            "rp" => {
                if let Some(retry_on) = parse_retry_policy(&value) {
                    settings.retry_on = retry_on;
                }
            }
            // `e` (edge), `sni`, and whatever Twilio adds later mean nothing here.
            _ => {}
        }
    }
    (base.to_string(), settings)
}

fn set_timeout(target: &mut Duration, value: &str) {
    if let Ok(ms) = value.trim().parse::<u64>() {
        *target = Duration::from_millis(ms.clamp(TIMEOUT_BOUNDS_MS.0, TIMEOUT_BOUNDS_MS.1));
    }
}

/// Parses `rp`; `None` when it names nothing known, so a typo keeps the default policy.
fn parse_retry_policy(value: &str) -> Option<RetryOn> {
    let mut retry_on = RetryOn { connect: false, timeout: false, http_4xx: false, http_5xx: false };
    let mut recognized = false;
    for token in value.split(',') {
        match token.trim().to_ascii_lowercase().as_str() {
            "4xx" => retry_on.http_4xx = true,
            "5xx" => retry_on.http_5xx = true,
            "ct" => retry_on.connect = true,
            "rt" => retry_on.timeout = true,
            "all" => retry_on = RetryOn { connect: true, timeout: true, http_4xx: true, http_5xx: true },
            _ => continue,
        }
        recognized = true;
    }
    recognized.then_some(retry_on)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn split_overrides_strips_the_fragment_and_applies_every_key() {
        let (url, s) =
            split_overrides("https://x.com/a?b=1#ct=1000&rt=2000&tt=3000&rc=3&rp=4xx,5xx", &RequestSettings::default());
        assert_eq!(url, "https://x.com/a?b=1");
        assert_eq!(
            s,
            RequestSettings {
                connect_timeout: Duration::from_millis(1000),
                read_timeout: Duration::from_millis(2000),
                total_timeout: Duration::from_millis(3000),
                max_attempts: 4,
                retry_on: RetryOn { connect: false, timeout: false, http_4xx: true, http_5xx: true },
            }
        );
    }

    #[test]
    fn split_overrides_without_fragment_keeps_url_and_defaults() {
        let defaults = RequestSettings::default();
        assert_eq!(split_overrides("https://x.com/a?b=1", &defaults), ("https://x.com/a?b=1".to_string(), defaults));
    }

    #[test]
    fn split_overrides_strips_a_fragment_even_when_it_overrides_nothing() {
        let defaults = RequestSettings::default();
        assert_eq!(split_overrides("https://x.com/a?b=1#rc=2", &defaults).0, "https://x.com/a?b=1");
        assert_eq!(split_overrides("https://x.com/a#", &defaults), ("https://x.com/a".to_string(), defaults.clone()));
        assert_eq!(
            split_overrides("https://x.com/a#e=ie1&sni=unique&foo", &defaults),
            ("https://x.com/a".to_string(), defaults)
        );
    }

    #[test]
    fn split_overrides_ignores_bad_values() {
        let defaults = RequestSettings::default();
        let (_, s) = split_overrides("https://x.com/#ct=abc&rt=-5&tt=&rc=x&rc=-1&rp=&ct=1.5", &defaults);
        assert_eq!(s, defaults);
        let (_, s) = split_overrides("https://x.com/#rp=bogus,nothing", &defaults);
        assert_eq!(s.retry_on, defaults.retry_on);
        let (_, s) = split_overrides("https://x.com/#ct=99999999999999999999999", &defaults);
        assert_eq!(s.connect_timeout, defaults.connect_timeout);
    }

    #[test]
    fn split_overrides_clamps_to_sane_bounds() {
        let (_, s) = split_overrides("https://x.com/#ct=0&rt=5&tt=3600000&rc=99", &RequestSettings::default());
        assert_eq!(s.connect_timeout, Duration::from_millis(100));
        assert_eq!(s.read_timeout, Duration::from_millis(100));
        assert_eq!(s.total_timeout, Duration::from_secs(60));
        assert_eq!(s.max_attempts, 11);
        let (_, s) = split_overrides("https://x.com/#rc=0", &RequestSettings::default());
        assert_eq!(s.max_attempts, 1);
    }

    #[test]
    fn split_overrides_reads_each_retry_policy_token() {
        let rp = |f: &str| split_overrides(&format!("https://x.com/#rp={f}"), &RequestSettings::default()).1.retry_on;
        let none = RetryOn { connect: false, timeout: false, http_4xx: false, http_5xx: false };
        assert_eq!(rp("ct"), RetryOn { connect: true, ..none });
        assert_eq!(rp("rt"), RetryOn { timeout: true, ..none });
        assert_eq!(rp("4xx"), RetryOn { http_4xx: true, ..none });
        assert_eq!(rp("5XX"), RetryOn { http_5xx: true, ..none });
        assert_eq!(rp("all"), RetryOn { connect: true, timeout: true, http_4xx: true, http_5xx: true });
        // Unknown tokens beside known ones are skipped; percent-encoded commas are commas.
        assert_eq!(rp("ct,bogus,%20rt"), RetryOn { connect: true, timeout: true, ..none });
        assert_eq!(rp("4xx%2C5xx"), RetryOn { http_4xx: true, http_5xx: true, ..none });
    }
}

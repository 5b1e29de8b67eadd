//! Reading request parameters: the optional create/update parameters of the sender resources
//! (URLs, methods, booleans, SIDs, friendly names) with "absent" and "present but empty" kept
//! apart so an update changes only what it names, the filters of number lists, and the SID a
//! path names.

use super::auth::Authenticated;
use super::error::ApiError;
use super::form::{self, Pairs};
use super::SharedState;
use crate::store::senders::{SenderFilter, SmsWebhooks};
use crate::store::Account;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::Uri;
use std::marker::PhantomData;
use switchboard_domain::message::{is_callback_url, parse_bool};
use switchboard_domain::{sid, TwilioError};

/// Longest `FriendlyName` Twilio accepts on numbers, short codes and services.
pub const MAX_FRIENDLY_NAME: usize = 64;

// --- shared parameter reading ----------------------------------------------------------------

/// Reads the optional parameters of a create or update. Every reader answers `None` when the
/// parameter is absent; the URL and SID readers answer `Some(None)` when it is present but empty,
/// which clears the field.
pub struct Params<'a>(pub &'a Pairs);

impl Params<'_> {
    /// The last value of `name`, as given.
    pub fn raw(&self, name: &str) -> Option<&str> {
        form::last(self.0, name)
    }

    /// `GET` or `POST` (any case); empty counts as absent.
    pub fn method(&self, name: &str) -> Result<Option<String>, TwilioError> {
        self.choice(name, &["GET", "POST"], true)
    }

    /// One of `allowed`; empty counts as absent.
    pub fn choice(&self, name: &str, allowed: &[&str], any_case: bool) -> Result<Option<String>, TwilioError> {
        let Some(v) = self.raw(name).map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
        allowed
            .iter()
            .find(|a| if any_case { a.eq_ignore_ascii_case(v) } else { **a == v })
            .map(|a| Some(a.to_string()))
            .ok_or_else(|| {
                TwilioError::invalid_parameter(format!("{name} must be one of {}, got '{v}'", allowed.join(", ")))
            })
    }

    /// A webhook URL (absolute http(s), at most 4000 characters, no `_` in the host). A bad
    /// `StatusCallback` is Twilio's 21609; any other bad URL is 21502 ("Invalid callback url").
    pub fn url(&self, name: &str) -> Result<Option<Option<String>>, TwilioError> {
        match self.raw(name).map(str::trim) {
            None => Ok(None),
            Some("") => Ok(Some(None)),
            Some(v) if is_callback_url(v) => Ok(Some(Some(v.to_string()))),
            Some(v) if name == "StatusCallback" => Err(TwilioError::invalid_status_callback(v)),
            Some(v) => {
                Err(TwilioError::bad_request(21502, format!("Invalid callback url: {name} '{v}' is not a valid URL")))
            }
        }
    }

    /// `true` or `false`, any case.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, TwilioError> {
        parse_bool(name, &self.raw(name).map(str::to_string))
    }

    /// A SID with this prefix, stored as given.
    pub fn sid(&self, name: &str, prefix: &str) -> Result<Option<Option<String>>, TwilioError> {
        match self.raw(name).map(str::trim) {
            None => Ok(None),
            Some("") => Ok(Some(None)),
            Some(v) if sid::is_valid(v, prefix) => Ok(Some(Some(v.to_string()))),
            Some(v) => Err(TwilioError::invalid_parameter(format!(
                "{name} must be a SID starting with {prefix} followed by 32 hex digits, got '{v}'"
            ))),
        }
    }

    /// A `FriendlyName` of at most 64 characters; `Some("")` when given empty.
    pub fn friendly_name(&self) -> Result<Option<String>, TwilioError> {
        match self.raw("FriendlyName") {
            None => Ok(None),
            Some(v) if v.chars().count() > MAX_FRIENDLY_NAME => Err(TwilioError::invalid_parameter(format!(
                "FriendlyName must be at most {MAX_FRIENDLY_NAME} characters long"
            ))),
            Some(v) => Ok(Some(v.trim().to_string())),
        }
    }

    /// `ApiVersion`: `2010-04-01` or `2008-08-01`.
    pub fn api_version(&self) -> Result<Option<String>, TwilioError> {
        self.choice("ApiVersion", &["2010-04-01", "2008-08-01"], false)
    }
}

/// The SMS webhook parameters that numbers and short codes share.
#[derive(Debug, Default)]
pub(super) struct SmsPatch {
    url: Option<Option<String>>,
    method: Option<String>,
    fallback_url: Option<Option<String>>,
    fallback_method: Option<String>,
}

impl SmsPatch {
    /// Reads `SmsUrl`, `SmsMethod`, `SmsFallbackUrl` and `SmsFallbackMethod`.
    pub fn parse(p: &Params<'_>) -> Result<SmsPatch, TwilioError> {
        Ok(SmsPatch {
            url: p.url("SmsUrl")?,
            method: p.method("SmsMethod")?,
            fallback_url: p.url("SmsFallbackUrl")?,
            fallback_method: p.method("SmsFallbackMethod")?,
        })
    }

    /// Changes what was given.
    pub fn apply(self, sms: &mut SmsWebhooks) {
        set(&mut sms.url, self.url);
        set(&mut sms.method, self.method);
        set(&mut sms.fallback_url, self.fallback_url);
        set(&mut sms.fallback_method, self.fallback_method);
    }
}

/// `*field = v` when a value was given.
pub fn set<T>(field: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *field = v;
    }
}

/// The digits-and-`*` pattern of a `PhoneNumber`/`ShortCode` list filter (`+1 (415) 555-****`
/// → `1415555****`). Twilio matches it anywhere in the number, `*` standing for one digit.
pub fn address_pattern(name: &str, v: &str) -> Result<String, TwilioError> {
    let pattern: String = v.chars().filter(|c| c.is_ascii_digit() || *c == '*').collect();
    if pattern.is_empty() {
        return Err(TwilioError::invalid_parameter(format!(
            "{name} must contain digits (and '*' for any one digit), got '{v}'"
        )));
    }
    Ok(pattern)
}

/// Filter parameters as given, echoed in page links.
pub type Echo = Vec<(&'static str, String)>;

/// The filters of a phone number or short code list: `address_param` (digits anywhere in the
/// address, `*` for any one digit) and `FriendlyName` (exact), echoed in the order of `order`.
pub fn sender_filter(
    q: &Pairs,
    address_param: &'static str,
    order: [&'static str; 2],
) -> Result<(SenderFilter, Echo), TwilioError> {
    let mut filter = SenderFilter::default();
    let mut echo: Echo = Vec::new();
    for name in order {
        if name == "FriendlyName" {
            if let Some(v) = form::last(q, name).filter(|v| !v.is_empty()) {
                filter.friendly_name = Some(v.to_string());
                echo.push((name, v.to_string()));
            }
        } else if let Some(v) = form::last(q, address_param).filter(|v| !v.trim().is_empty()) {
            filter.address_contains = Some(address_pattern(address_param, v)?);
            echo.push((address_param, v.to_string()));
        }
    }
    Ok((filter, echo))
}

/// The SID a path segment names, when it is well formed with one of `prefixes`; anything else
/// is a resource we do not have (20404 naming the path).
pub fn path_sid<'a>(segment: &'a str, prefixes: &[&str], uri: &Uri) -> Result<&'a str, ApiError> {
    Some(segment)
        .filter(|s| prefixes.iter().any(|p| sid::is_valid(s, p)))
        .ok_or_else(|| ApiError(TwilioError::not_found(uri.path())))
}

/// A kind of resource that a path names by SID, for [`OneResource`].
pub trait SidKind: Send + Sync + 'static {
    /// The prefixes its SIDs may have.
    const PREFIXES: &'static [&'static str];
    /// The path writes the SID as `SID.json` (v2010) rather than bare (v1).
    const JSON: bool;
}

/// An authenticated request for one resource of kind `K`: the account (see [`Authenticated`])
/// and the SID named by the last path parameter, checked against `K` (20404 naming the path
/// otherwise). The handlers of a single resource take this one extractor.
pub struct OneResource<K> {
    /// The authenticated account.
    pub account: Account,
    /// The resource's SID, well formed.
    pub sid: String,
    /// The request path, for a 20404 that names it.
    pub path: String,
    kind: PhantomData<K>,
}

impl<K> OneResource<K> {
    /// Twilio's 20404 for this path.
    pub fn not_found(&self) -> ApiError {
        ApiError(TwilioError::not_found(&self.path))
    }
}

impl<K: SidKind> FromRequestParts<SharedState> for OneResource<K> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let Authenticated(account) = Authenticated::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError(TwilioError::not_found(parts.uri.path())))?;
        let last = params.iter().last().map_or("", |(_, v)| v);
        let sid =
            if K::JSON { json_sid(last, K::PREFIXES, &parts.uri)? } else { path_sid(last, K::PREFIXES, &parts.uri)? };
        Ok(OneResource { account, sid: sid.to_string(), path: parts.uri.path().to_string(), kind: PhantomData })
    }
}

/// `SID.json` → `SID`, checked as [`path_sid`] checks it.
pub fn json_sid<'a>(file: &'a str, prefixes: &[&str], uri: &Uri) -> Result<&'a str, ApiError> {
    let s = file.strip_suffix(".json").ok_or_else(|| ApiError(TwilioError::not_found(uri.path())))?;
    path_sid(s, prefixes, uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_patterns_keep_digits_and_wildcards_only() {
        assert_eq!(address_pattern("PhoneNumber", "+1 (415) 555-****").unwrap(), "1415555****");
        assert_eq!(address_pattern("PhoneNumber", "abc").unwrap_err().code, 20001);
    }

    #[test]
    fn params_tell_absent_from_empty_and_name_the_twilio_error() {
        let pairs = form::decode(b"SmsUrl=&VoiceUrl=https://ok.example/v&StatusCallback=nope&SmsMethod=get&X=1");
        let p = Params(&pairs);
        assert_eq!(p.url("SmsUrl").unwrap(), Some(None));
        assert_eq!(p.url("SmsFallbackUrl").unwrap(), None);
        assert_eq!(p.url("VoiceUrl").unwrap(), Some(Some("https://ok.example/v".into())));
        assert_eq!(p.url("StatusCallback").unwrap_err().code, 21609);
        assert_eq!(p.method("SmsMethod").unwrap(), Some("GET".into()));
        let bad = form::decode(b"SmsMethod=PUT&SmsUrl=ftp://x");
        assert_eq!(Params(&bad).method("SmsMethod").unwrap_err().code, 20001);
        assert_eq!(Params(&bad).url("SmsUrl").unwrap_err().code, 21502);
    }

    #[test]
    fn json_sids_need_the_suffix_and_a_known_prefix() {
        let uri: Uri = "/x".parse().unwrap();
        let sid = format!("PN{}", "a".repeat(32));
        assert_eq!(json_sid(&format!("{sid}.json"), &["PN"], &uri).unwrap(), sid);
        assert!(json_sid(&sid, &["PN"], &uri).is_err());
        assert!(json_sid(&format!("{sid}.json"), &["SC"], &uri).is_err());
    }
}

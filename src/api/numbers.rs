//! The account's numbers: v2010 IncomingPhoneNumbers (`/IncomingPhoneNumbers.json`,
//! `/IncomingPhoneNumbers/{Sid}.json`), v2010 short codes (`/SMS/ShortCodes.json`,
//! `/SMS/ShortCodes/{Sid}.json`, read and update only, as in Twilio), and Switchboard's own
//! provisioning of short codes (`/_switchboard/Accounts/{AccountSid}/ShortCodes.json`), which
//! Twilio sells by application rather than through an API.
//!
//! Provisioning a phone number only records the claim: any valid E.164 number can be
//! provisioned, once per account. Lists are in creation order.
//!
//! Also here: `Params`, the parameter readers the sender endpoints share (URLs, methods,
//! booleans, SIDs, friendly names), with "absent" and "present but empty" kept apart so an
//! update changes only what it names.

use super::auth::Authenticated;
use super::error::{ApiError, ApiResult};
use super::form::{self, Pairs};
use super::paging::{PageRequest, V2010Page};
use super::render::rfc2822;
use super::SharedState;
use crate::clock::now_ms;
use crate::store::senders::{IncomingNumber, NumberSettings, PhoneNumber, Refused, SenderFilter, ShortCode};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use switchboard_domain::address;
use switchboard_domain::message::{is_callback_url, parse_bool, API_VERSION};
use switchboard_domain::{sid, TwilioError};

/// The routes of this resource.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json", get(list_numbers).post(create_number))
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{file}",
            get(fetch_number).post(update_number).delete(delete_number),
        )
        .route("/2010-04-01/Accounts/{account}/SMS/ShortCodes.json", get(list_short_codes))
        .route("/2010-04-01/Accounts/{account}/SMS/ShortCodes/{file}", get(fetch_short_code).post(update_short_code))
        .route("/_switchboard/Accounts/{account}/ShortCodes.json", post(create_short_code))
        .route("/_switchboard/Accounts/{account}/ShortCodes/{file}", axum::routing::delete(delete_short_code))
}

/// Longest `FriendlyName` Twilio accepts on numbers, short codes and services.
pub(super) const MAX_FRIENDLY_NAME: usize = 64;

// --- shared parameter reading ----------------------------------------------------------------

/// Reads the optional parameters of a create or update. Every reader answers `None` when the
/// parameter is absent; the URL and SID readers answer `Some(None)` when it is present but empty,
/// which clears the field.
pub(super) struct Params<'a>(pub &'a Pairs);

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

/// The digits-and-`*` pattern of a `PhoneNumber`/`ShortCode` list filter (`+1 (415) 555-****`
/// → `1415555****`). Twilio matches it anywhere in the number, `*` standing for one digit.
fn address_pattern(name: &str, v: &str) -> Result<String, TwilioError> {
    let pattern: String = v.chars().filter(|c| c.is_ascii_digit() || *c == '*').collect();
    if pattern.is_empty() {
        return Err(TwilioError::invalid_parameter(format!(
            "{name} must contain digits (and '*' for any one digit), got '{v}'"
        )));
    }
    Ok(pattern)
}

/// The SMS webhook settings numbers and short codes share.
#[derive(Debug, Default)]
struct SmsPatch {
    sms_url: Option<Option<String>>,
    sms_method: Option<String>,
    sms_fallback_url: Option<Option<String>>,
    sms_fallback_method: Option<String>,
}

impl SmsPatch {
    fn parse(p: &Params<'_>) -> Result<SmsPatch, TwilioError> {
        Ok(SmsPatch {
            sms_url: p.url("SmsUrl")?,
            sms_method: p.method("SmsMethod")?,
            sms_fallback_url: p.url("SmsFallbackUrl")?,
            sms_fallback_method: p.method("SmsFallbackMethod")?,
        })
    }

    fn apply(
        self,
        url: &mut Option<String>,
        method: &mut String,
        fallback_url: &mut Option<String>,
        fallback_method: &mut String,
    ) {
        set(url, self.sms_url);
        set(method, self.sms_method);
        set(fallback_url, self.sms_fallback_url);
        set(fallback_method, self.sms_fallback_method);
    }
}

/// `*field = v` when a value was given.
pub(super) fn set<T>(field: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *field = v;
    }
}

/// `Name.json` → `Name` when it is a well-formed SID with `prefix`; anything else is a resource
/// we do not have.
fn file_sid<'a>(file: &'a str, prefix: &str, uri: &Uri) -> Result<&'a str, ApiError> {
    file.strip_suffix(".json")
        .filter(|s| sid::is_valid(s, prefix))
        .ok_or_else(|| ApiError(TwilioError::not_found(uri.path())))
}

// --- IncomingPhoneNumbers ----------------------------------------------------------------------

/// Every settable parameter of an IncomingPhoneNumber create or update.
#[derive(Debug)]
struct NumberPatch {
    friendly_name: Option<String>,
    sms: SmsPatch,
    api_version: Option<String>,
    sms_application_sid: Option<Option<String>>,
    status_callback: Option<Option<String>>,
    status_callback_method: Option<String>,
    voice_url: Option<Option<String>>,
    voice_method: Option<String>,
    voice_fallback_url: Option<Option<String>>,
    voice_fallback_method: Option<String>,
    voice_caller_id_lookup: Option<bool>,
    voice_application_sid: Option<Option<String>>,
    voice_receive_mode: Option<String>,
    trunk_sid: Option<Option<String>>,
    identity_sid: Option<Option<String>>,
    address_sid: Option<Option<String>>,
    emergency_status: Option<String>,
    emergency_address_sid: Option<Option<String>>,
    bundle_sid: Option<Option<String>>,
}

impl NumberPatch {
    fn parse(pairs: &Pairs) -> Result<NumberPatch, TwilioError> {
        let p = Params(pairs);
        Ok(NumberPatch {
            friendly_name: p.friendly_name()?,
            sms: SmsPatch::parse(&p)?,
            api_version: p.api_version()?,
            sms_application_sid: p.sid("SmsApplicationSid", "AP")?,
            status_callback: p.url("StatusCallback")?,
            status_callback_method: p.method("StatusCallbackMethod")?,
            voice_url: p.url("VoiceUrl")?,
            voice_method: p.method("VoiceMethod")?,
            voice_fallback_url: p.url("VoiceFallbackUrl")?,
            voice_fallback_method: p.method("VoiceFallbackMethod")?,
            voice_caller_id_lookup: p.bool("VoiceCallerIdLookup")?,
            voice_application_sid: p.sid("VoiceApplicationSid", "AP")?,
            voice_receive_mode: p.choice("VoiceReceiveMode", &["voice", "fax"], false)?,
            trunk_sid: p.sid("TrunkSid", "TK")?,
            identity_sid: p.sid("IdentitySid", "RI")?,
            address_sid: p.sid("AddressSid", "AD")?,
            emergency_status: p.choice("EmergencyStatus", &["Active", "Inactive"], false)?,
            emergency_address_sid: p.sid("EmergencyAddressSid", "AD")?,
            bundle_sid: p.sid("BundleSid", "BU")?,
        })
    }

    /// Applies the patch; an empty `FriendlyName` restores the default (the formatted number).
    fn apply(self, n: &mut IncomingNumber, now: i64) {
        let (num, s) = (&mut n.number, &mut n.settings);
        if let Some(name) = self.friendly_name {
            num.friendly_name = if name.is_empty() { default_friendly_name(&num.phone_number) } else { name };
        }
        self.sms.apply(&mut num.sms_url, &mut num.sms_method, &mut num.sms_fallback_url, &mut num.sms_fallback_method);
        num.date_updated = now;
        set(&mut s.api_version, self.api_version);
        set(&mut s.sms_application_sid, self.sms_application_sid);
        set(&mut s.status_callback, self.status_callback);
        set(&mut s.status_callback_method, self.status_callback_method);
        set(&mut s.voice_url, self.voice_url);
        set(&mut s.voice_method, self.voice_method);
        set(&mut s.voice_fallback_url, self.voice_fallback_url);
        set(&mut s.voice_fallback_method, self.voice_fallback_method);
        set(&mut s.voice_caller_id_lookup, self.voice_caller_id_lookup);
        set(&mut s.voice_application_sid, self.voice_application_sid);
        set(&mut s.voice_receive_mode, self.voice_receive_mode);
        set(&mut s.trunk_sid, self.trunk_sid);
        set(&mut s.identity_sid, self.identity_sid);
        set(&mut s.address_sid, self.address_sid);
        set(&mut s.emergency_status, self.emergency_status);
        set(&mut s.emergency_address_sid, self.emergency_address_sid);
        set(&mut s.bundle_sid, self.bundle_sid);
    }
}

/// Twilio's default `FriendlyName`: North American numbers as `(415) 555-0100`, others E.164.
pub fn default_friendly_name(e164: &str) -> String {
    match e164.strip_prefix("+1") {
        Some(d) if d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()) => {
            format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..])
        }
        _ => e164.to_string(),
    }
}

/// POST …/IncomingPhoneNumbers.json: provisions `PhoneNumber` in the account.
pub async fn create_number(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    body: Body,
) -> ApiResult<Response> {
    let pairs = form::read_form(body).await?;
    let phone_number = match form::last(&pairs, "PhoneNumber").map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => address::parse_phone(v).ok_or_else(|| {
            TwilioError::bad_request(21421, format!("PhoneNumber is invalid: '{v}' is not an E.164 phone number"))
        })?,
        None if form::last(&pairs, "AreaCode").is_some_and(|v| !v.trim().is_empty()) => {
            return Err(TwilioError::bad_request(
                21421,
                "PhoneNumber is required: Switchboard provisions the number you name and does not pick one by AreaCode",
            )
            .into())
        }
        None => {
            return Err(TwilioError::bad_request(21421, "A PhoneNumber must be provided to provision a number").into())
        }
    };
    let patch = NumberPatch::parse(&pairs)?;
    let now = now_ms();
    let mut n = IncomingNumber {
        number: PhoneNumber {
            sid: format!("PN{}", state.keys.next(now)),
            account_sid: account.sid.clone(),
            friendly_name: default_friendly_name(&phone_number),
            phone_number,
            sms_url: None,
            sms_method: "POST".to_string(),
            sms_fallback_url: None,
            sms_fallback_method: "POST".to_string(),
            date_created: now,
            date_updated: now,
        },
        settings: NumberSettings::default(),
    };
    patch.apply(&mut n, now);
    match state.store.insert_phone_number(n.clone()).await? {
        Ok(()) => Ok((StatusCode::CREATED, Json(number_json(&n))).into_response()),
        Err(Refused::Duplicate(existing)) => Err(TwilioError::bad_request(
            21422,
            format!(
                "PhoneNumber {} is not available: it is already provisioned in this account as {existing}",
                n.number.phone_number
            ),
        )
        .into()),
        Err(other) => Err(anyhow::anyhow!("unexpected refusal {other:?}").into()),
    }
}

/// GET …/IncomingPhoneNumbers/{Sid}.json
pub async fn fetch_number(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    Path((_, file)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let sid = file_sid(&file, "PN", &uri)?;
    let n = state.store.incoming_number(&account.sid, sid).await?.ok_or_else(|| TwilioError::not_found(uri.path()))?;
    Ok(Json(number_json(&n)).into_response())
}

/// POST …/IncomingPhoneNumbers/{Sid}.json: changes what is given, keeps the rest.
pub async fn update_number(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    Path((_, file)): Path<(String, String)>,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    let sid = file_sid(&file, "PN", &uri)?;
    let pairs = form::read_form(body).await?;
    if let Some(to) = form::last(&pairs, "AccountSid").map(str::trim).filter(|v| !v.is_empty() && *v != account.sid) {
        return Err(TwilioError::invalid_parameter(format!(
            "AccountSid {to}: moving a phone number to another account is not supported"
        ))
        .into());
    }
    let patch = NumberPatch::parse(&pairs)?;
    let now = now_ms();
    let n = state
        .store
        .update_phone_number(&account.sid, sid, Box::new(move |n| patch.apply(n, now)))
        .await?
        .ok_or_else(|| TwilioError::not_found(uri.path()))?;
    Ok(Json(number_json(&n)).into_response())
}

/// DELETE …/IncomingPhoneNumbers/{Sid}.json: releases the number (and takes it out of its
/// Messaging Service's pool).
pub async fn delete_number(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    Path((_, file)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let sid = file_sid(&file, "PN", &uri)?;
    if state.store.delete_phone_number(&account.sid, sid).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(TwilioError::not_found(uri.path()).into())
    }
}

/// GET …/IncomingPhoneNumbers.json: filters `PhoneNumber` (digits anywhere in the number, `*`
/// for any digit), `FriendlyName` (exact), `Beta`, `Origin`; creation order, keyset pages.
pub async fn list_numbers(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    uri: Uri,
) -> ApiResult<Response> {
    let q = form::decode(uri.query().unwrap_or("").as_bytes());
    let mut filter = SenderFilter::default();
    let mut echo: Vec<(&'static str, String)> = Vec::new();
    if let Some(v) = form::last(&q, "PhoneNumber").filter(|v| !v.trim().is_empty()) {
        filter.address_contains = Some(address_pattern("PhoneNumber", v)?);
        echo.push(("PhoneNumber", v.to_string()));
    }
    if let Some(v) = form::last(&q, "FriendlyName").filter(|v| !v.is_empty()) {
        filter.friendly_name = Some(v.to_string());
        echo.push(("FriendlyName", v.to_string()));
    }
    // Every number here is an established (not beta), Twilio-origin number: `Beta` never
    // narrows the list and `Origin=hosted` empties it.
    let p = Params(&q);
    if let Some(beta) = p.bool("Beta")? {
        echo.push(("Beta", beta.to_string()));
    }
    let hosted_only = match p.choice("Origin", &["twilio", "hosted"], false)? {
        Some(origin) => {
            let hosted = origin == "hosted";
            echo.push(("Origin", origin));
            hosted
        }
        None => false,
    };
    let req = PageRequest::parse(&q, &["PN"])?;
    let rows = if hosted_only {
        Vec::new()
    } else {
        state.store.list_phone_numbers(&account.sid, &filter, &req.cursor, req.limit()).await?
    };
    let window = req.window(rows, |n| n.number.sid.as_str());
    let items = window.rows.iter().map(number_json).collect();
    Ok(Json(V2010Page::new("incoming_phone_numbers", &req, &window, uri.path(), &echo, items)).into_response())
}

/// The number's `capabilities`: every number here sends and receives SMS and MMS and takes
/// calls; none takes faxes.
#[derive(Serialize)]
struct Capabilities {
    fax: bool,
    mms: bool,
    sms: bool,
    voice: bool,
}

/// An IncomingPhoneNumber: exactly the properties of Twilio's
/// `api.v2010.account.incoming_phone_number`, in alphabetical order.
#[derive(Serialize)]
pub struct NumberJson<'a> {
    account_sid: &'a str,
    address_requirements: &'static str,
    address_sid: Option<&'a str>,
    api_version: &'a str,
    beta: bool,
    bundle_sid: Option<&'a str>,
    capabilities: Capabilities,
    date_created: String,
    date_updated: String,
    emergency_address_sid: Option<&'a str>,
    emergency_address_status: &'static str,
    emergency_status: &'a str,
    friendly_name: &'a str,
    identity_sid: Option<&'a str>,
    origin: &'static str,
    phone_number: &'a str,
    sid: &'a str,
    sms_application_sid: Option<&'a str>,
    sms_fallback_method: &'a str,
    sms_fallback_url: Option<&'a str>,
    sms_method: &'a str,
    sms_url: Option<&'a str>,
    status: &'static str,
    status_callback: Option<&'a str>,
    status_callback_method: &'a str,
    trunk_sid: Option<&'a str>,
    uri: String,
    voice_application_sid: Option<&'a str>,
    voice_caller_id_lookup: bool,
    voice_fallback_method: &'a str,
    voice_fallback_url: Option<&'a str>,
    voice_method: &'a str,
    voice_receive_mode: &'a str,
    voice_url: Option<&'a str>,
}

/// Renders a phone number.
pub fn number_json(n: &IncomingNumber) -> NumberJson<'_> {
    let (p, s) = (&n.number, &n.settings);
    NumberJson {
        account_sid: &p.account_sid,
        address_requirements: "none",
        address_sid: s.address_sid.as_deref(),
        api_version: &s.api_version,
        beta: false,
        bundle_sid: s.bundle_sid.as_deref(),
        capabilities: Capabilities { fax: false, mms: true, sms: true, voice: true },
        date_created: rfc2822(p.date_created),
        date_updated: rfc2822(p.date_updated),
        emergency_address_sid: s.emergency_address_sid.as_deref(),
        emergency_address_status: "unregistered",
        emergency_status: &s.emergency_status,
        friendly_name: &p.friendly_name,
        identity_sid: s.identity_sid.as_deref(),
        origin: "twilio",
        phone_number: &p.phone_number,
        sid: &p.sid,
        sms_application_sid: s.sms_application_sid.as_deref(),
        sms_fallback_method: &p.sms_fallback_method,
        sms_fallback_url: p.sms_fallback_url.as_deref(),
        sms_method: &p.sms_method,
        sms_url: p.sms_url.as_deref(),
        status: "in-use",
        status_callback: s.status_callback.as_deref(),
        status_callback_method: &s.status_callback_method,
        trunk_sid: s.trunk_sid.as_deref(),
        uri: format!("/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{}.json", p.account_sid, p.sid),
        voice_application_sid: s.voice_application_sid.as_deref(),
        voice_caller_id_lookup: s.voice_caller_id_lookup,
        voice_fallback_method: &s.voice_fallback_method,
        voice_fallback_url: s.voice_fallback_url.as_deref(),
        voice_method: &s.voice_method,
        voice_receive_mode: &s.voice_receive_mode,
        voice_url: s.voice_url.as_deref(),
    }
}

// --- short codes -------------------------------------------------------------------------------

/// The settable parameters of a short code (Twilio's update; Switchboard's create adds
/// `ShortCode` and `CountryCode`).
#[derive(Debug)]
struct ShortCodePatch {
    friendly_name: Option<String>,
    api_version: Option<String>,
    sms: SmsPatch,
}

impl ShortCodePatch {
    fn parse(pairs: &Pairs) -> Result<ShortCodePatch, TwilioError> {
        let p = Params(pairs);
        Ok(ShortCodePatch {
            friendly_name: p.friendly_name()?,
            api_version: p.api_version()?,
            sms: SmsPatch::parse(&p)?,
        })
    }

    /// Applies the patch; an empty `FriendlyName` restores the default (the digits).
    fn apply(self, sc: &mut ShortCode, now: i64) {
        if let Some(name) = self.friendly_name {
            sc.friendly_name = if name.is_empty() { sc.short_code.clone() } else { name };
        }
        set(&mut sc.api_version, self.api_version);
        self.sms.apply(&mut sc.sms_url, &mut sc.sms_method, &mut sc.sms_fallback_url, &mut sc.sms_fallback_method);
        sc.date_updated = now;
    }
}

/// POST /_switchboard/Accounts/{AccountSid}/ShortCodes.json: provisions a short code
/// (`ShortCode` 3–8 digits, `CountryCode` ISO 3166 alpha-2, default `US`).
pub async fn create_short_code(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    body: Body,
) -> ApiResult<Response> {
    let pairs = form::read_form(body).await?;
    let digits = match form::last(&pairs, "ShortCode").map(str::trim) {
        Some(v) if (3..=8).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()) => v.to_string(),
        Some(v) if !v.is_empty() => {
            return Err(TwilioError::invalid_parameter(format!("ShortCode must be 3 to 8 digits, got '{v}'")).into())
        }
        _ => return Err(TwilioError::invalid_parameter("Missing required parameter ShortCode in the post body").into()),
    };
    let country_code = match form::last(&pairs, "CountryCode").map(str::trim).filter(|v| !v.is_empty()) {
        None => "US".to_string(),
        Some(v) if v.len() == 2 && v.bytes().all(|b| b.is_ascii_alphabetic()) => v.to_ascii_uppercase(),
        Some(v) => {
            return Err(TwilioError::invalid_parameter(format!(
                "CountryCode must be an ISO 3166-1 alpha-2 country code such as US, got '{v}'"
            ))
            .into())
        }
    };
    let patch = ShortCodePatch::parse(&pairs)?;
    let now = now_ms();
    let mut sc = ShortCode {
        sid: format!("SC{}", state.keys.next(now)),
        account_sid: account.sid.clone(),
        friendly_name: digits.clone(),
        short_code: digits,
        country_code,
        sms_url: None,
        sms_method: "POST".to_string(),
        sms_fallback_url: None,
        sms_fallback_method: "POST".to_string(),
        api_version: API_VERSION.to_string(),
        date_created: now,
        date_updated: now,
    };
    patch.apply(&mut sc, now);
    match state.store.insert_short_code(sc.clone()).await? {
        Ok(()) => Ok((StatusCode::CREATED, Json(short_code_json(&sc))).into_response()),
        Err(Refused::Duplicate(existing)) => Err(TwilioError::bad_request(
            21422,
            format!(
                "Short code {} is not available: it is already provisioned in this account as {existing}",
                sc.short_code
            ),
        )
        .into()),
        Err(other) => Err(anyhow::anyhow!("unexpected refusal {other:?}").into()),
    }
}

/// DELETE /_switchboard/Accounts/{AccountSid}/ShortCodes/{Sid}.json: releases a short code (and
/// takes it out of its Messaging Service's pool).
pub async fn delete_short_code(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    Path((_, file)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let sid = file_sid(&file, "SC", &uri)?;
    if state.store.delete_short_code(&account.sid, sid).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(TwilioError::not_found(uri.path()).into())
    }
}

/// GET …/SMS/ShortCodes/{Sid}.json
pub async fn fetch_short_code(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    Path((_, file)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let sid = file_sid(&file, "SC", &uri)?;
    let sc = state.store.short_code(&account.sid, sid).await?.ok_or_else(|| TwilioError::not_found(uri.path()))?;
    Ok(Json(short_code_json(&sc)).into_response())
}

/// POST …/SMS/ShortCodes/{Sid}.json: `FriendlyName`, `ApiVersion`, the SMS webhooks.
pub async fn update_short_code(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    Path((_, file)): Path<(String, String)>,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    let sid = file_sid(&file, "SC", &uri)?;
    let patch = ShortCodePatch::parse(&form::read_form(body).await?)?;
    let now = now_ms();
    let sc = state
        .store
        .update_short_code(&account.sid, sid, Box::new(move |sc| patch.apply(sc, now)))
        .await?
        .ok_or_else(|| TwilioError::not_found(uri.path()))?;
    Ok(Json(short_code_json(&sc)).into_response())
}

/// GET …/SMS/ShortCodes.json: filters `ShortCode` (digits anywhere, `*` for any digit) and
/// `FriendlyName` (exact); creation order, keyset pages.
pub async fn list_short_codes(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    uri: Uri,
) -> ApiResult<Response> {
    let q = form::decode(uri.query().unwrap_or("").as_bytes());
    let mut filter = SenderFilter::default();
    let mut echo: Vec<(&'static str, String)> = Vec::new();
    if let Some(v) = form::last(&q, "FriendlyName").filter(|v| !v.is_empty()) {
        filter.friendly_name = Some(v.to_string());
        echo.push(("FriendlyName", v.to_string()));
    }
    if let Some(v) = form::last(&q, "ShortCode").filter(|v| !v.trim().is_empty()) {
        filter.address_contains = Some(address_pattern("ShortCode", v)?);
        echo.push(("ShortCode", v.to_string()));
    }
    let req = PageRequest::parse(&q, &["SC"])?;
    let rows = state.store.list_short_codes(&account.sid, &filter, &req.cursor, req.limit()).await?;
    let window = req.window(rows, |sc| sc.sid.as_str());
    let items = window.rows.iter().map(short_code_json).collect();
    Ok(Json(V2010Page::new("short_codes", &req, &window, uri.path(), &echo, items)).into_response())
}

/// A ShortCode: exactly the properties of Twilio's `api.v2010.account.short_code`, in
/// alphabetical order.
#[derive(Serialize)]
pub struct ShortCodeJson<'a> {
    account_sid: &'a str,
    api_version: &'a str,
    date_created: String,
    date_updated: String,
    friendly_name: &'a str,
    short_code: &'a str,
    sid: &'a str,
    sms_fallback_method: &'a str,
    sms_fallback_url: Option<&'a str>,
    sms_method: &'a str,
    sms_url: Option<&'a str>,
    uri: String,
}

/// Renders a short code.
pub fn short_code_json(sc: &ShortCode) -> ShortCodeJson<'_> {
    ShortCodeJson {
        account_sid: &sc.account_sid,
        api_version: &sc.api_version,
        date_created: rfc2822(sc.date_created),
        date_updated: rfc2822(sc.date_updated),
        friendly_name: &sc.friendly_name,
        short_code: &sc.short_code,
        sid: &sc.sid,
        sms_fallback_method: &sc.sms_fallback_method,
        sms_fallback_url: sc.sms_fallback_url.as_deref(),
        sms_method: &sc.sms_method,
        sms_url: sc.sms_url.as_deref(),
        uri: format!("/2010-04-01/Accounts/{}/SMS/ShortCodes/{}.json", sc.account_sid, sc.sid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_friendly_names_format_north_american_numbers_like_twilio() {
        assert_eq!(default_friendly_name("+14155550100"), "(415) 555-0100");
        assert_eq!(default_friendly_name("+442079460958"), "+442079460958");
    }

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
}

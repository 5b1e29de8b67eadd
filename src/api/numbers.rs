//! v2010 IncomingPhoneNumbers (`/IncomingPhoneNumbers.json`, `/IncomingPhoneNumbers/{Sid}.json`).
//!
//! Provisioning a phone number only records the claim: any valid E.164 number can be
//! provisioned, once per account. Lists are in creation order.

use super::auth::Authenticated;
use super::error::{ApiError, ApiResult};
use super::form::{self, Pairs};
use super::paging::{PageRequest, V2010Page};
use super::params::{sender_filter, set, OneResource, Params, SidKind, SmsPatch};
use super::render;
use super::SharedState;
use crate::clock::now_ms;
use crate::store::senders::{IncomingNumber, NumberSettings, NumberStore, PhoneNumber, Refused, SmsWebhooks};
use crate::store::Store;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use switchboard_domain::address;
use switchboard_domain::TwilioError;

/// The routes of this resource.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json", get(list_numbers).post(create_number))
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{file}",
            get(fetch::<IncomingNumber>).post(update::<IncomingNumber>).delete(delete::<IncomingNumber>),
        )
}

/// 21422 when the store refused a new number or short code because the account has it already.
pub(super) fn provisioned(result: Result<(), Refused>, what: &str, address: &str) -> Result<(), ApiError> {
    match result {
        Ok(()) => Ok(()),
        Err(Refused::Duplicate(existing)) => Err(TwilioError::bad_request(
            21422,
            format!("{what} {address} is not available: it is already provisioned in this account as {existing}"),
        )
        .into()),
        Err(other) => Err(anyhow::anyhow!("unexpected refusal {other:?}").into()),
    }
}

/// Every settable parameter of an IncomingPhoneNumber create or update.
#[derive(Debug)]
pub(super) struct NumberPatch {
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
        self.sms.apply(&mut num.sms);
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
            sms: SmsWebhooks::default(),
            date_created: now,
            date_updated: now,
        },
        settings: NumberSettings::default(),
    };
    patch.apply(&mut n, now);
    let refused = state.store.insert_number(n.clone()).await?;
    provisioned(refused, "PhoneNumber", &n.number.phone_number)?;
    Ok((StatusCode::CREATED, Json(render::incoming_phone_number(&n))).into_response())
}

/// What the shared handlers need to serve a phone number or a short code.
pub(super) trait NumberResource: SidKind + Sized {
    /// Its update parameters, parsed.
    type Patch: Send + 'static;
    /// Parses an update of the account's record.
    fn parse_update(pairs: &Pairs, account_sid: &str) -> Result<Self::Patch, TwilioError>;
    /// Applies a parsed update at `now`.
    fn apply(patch: Self::Patch, record: &mut Self, now: i64);
    /// Its JSON.
    fn render(&self) -> Response;
}

impl SidKind for IncomingNumber {
    const PREFIXES: &'static [&'static str] = &["PN"];
    const JSON: bool = true;
}

impl NumberResource for IncomingNumber {
    type Patch = NumberPatch;

    fn parse_update(pairs: &Pairs, account_sid: &str) -> Result<NumberPatch, TwilioError> {
        if let Some(to) = form::last(pairs, "AccountSid").map(str::trim).filter(|v| !v.is_empty() && *v != account_sid)
        {
            return Err(TwilioError::invalid_parameter(format!(
                "AccountSid {to}: moving a phone number to another account is not supported"
            )));
        }
        NumberPatch::parse(pairs)
    }

    fn apply(patch: NumberPatch, record: &mut Self, now: i64) {
        patch.apply(record, now);
    }

    fn render(&self) -> Response {
        Json(render::incoming_phone_number(self)).into_response()
    }
}

/// GET …/IncomingPhoneNumbers/{Sid}.json and …/SMS/ShortCodes/{Sid}.json
pub(super) async fn fetch<K: NumberResource>(
    State(state): State<SharedState>,
    resource: OneResource<K>,
) -> ApiResult<Response>
where
    dyn Store: NumberStore<K>,
{
    let record = NumberStore::<K>::number(&*state.store, &resource.account.sid, &resource.sid).await?;
    Ok(record.ok_or_else(|| resource.not_found())?.render())
}

/// POST …/IncomingPhoneNumbers/{Sid}.json and …/SMS/ShortCodes/{Sid}.json: changes what is
/// given, keeps the rest.
pub(super) async fn update<K: NumberResource>(
    State(state): State<SharedState>,
    resource: OneResource<K>,
    body: Body,
) -> ApiResult<Response>
where
    dyn Store: NumberStore<K>,
{
    let patch = K::parse_update(&form::read_form(body).await?, &resource.account.sid)?;
    let now = now_ms();
    let edit = Box::new(move |record: &mut K| K::apply(patch, record, now));
    let record = NumberStore::<K>::update_number(&*state.store, &resource.account.sid, &resource.sid, edit).await?;
    Ok(record.ok_or_else(|| resource.not_found())?.render())
}

/// DELETE …/IncomingPhoneNumbers/{Sid}.json and the short-code release: takes it out of its
/// Messaging Service's pool too.
pub(super) async fn delete<K: NumberResource>(
    State(state): State<SharedState>,
    resource: OneResource<K>,
) -> ApiResult<Response>
where
    dyn Store: NumberStore<K>,
{
    if NumberStore::<K>::delete_number(&*state.store, &resource.account.sid, &resource.sid).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(resource.not_found())
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
    let (filter, mut echo) = sender_filter(&q, "PhoneNumber", ["PhoneNumber", "FriendlyName"])?;
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
        state.store.list_numbers(&account.sid, &filter, &req.cursor, req.limit()).await?
    };
    let window = req.window(rows, |n: &IncomingNumber| n.number.sid.as_str());
    let items = window.rows.iter().map(render::incoming_phone_number).collect();
    Ok(Json(V2010Page::new("incoming_phone_numbers", &req, &window, uri.path(), &echo, items)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_friendly_names_format_north_american_numbers_like_twilio() {
        assert_eq!(default_friendly_name("+14155550100"), "(415) 555-0100");
        assert_eq!(default_friendly_name("+442079460958"), "+442079460958");
    }
}

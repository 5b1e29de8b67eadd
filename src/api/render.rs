//! Twilio's JSON for each resource: every property present, types exactly as Twilio's
//! (counts and prices as strings, dates in RFC 2822 GMT), URIs root-relative.

use crate::store::senders::{IncomingNumber, PoolKind, PoolSender, ServiceRecord, ShortCode};
use crate::store::Media;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Utc};
use serde::Serialize;
use switchboard_domain::message::{Message, API_VERSION};

/// A resource's JSON as a response, written once into a buffer sized for it (axum's `Json`
/// starts at 128 bytes and grows three times for a ~760-byte Message).
pub fn json(status: StatusCode, value: &impl Serialize) -> Response {
    let mut body = BytesMut::with_capacity(1024).writer();
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => {
            (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.into_inner().freeze())
                .into_response()
        }
        // Only a serializer bug gets here (the resources are plain data).
        Err(e) => {
            tracing::error!(error = %e, "resource not rendered");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// RFC 2822 in GMT, as Twilio writes it: `Thu, 24 Aug 2023 05:01:45 +0000`.
pub fn rfc2822(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// ISO 8601 in UTC, as the v1 APIs write dates: `2015-07-30T20:12:31Z`.
pub fn iso8601(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Root-relative URI of a message.
pub fn message_uri(account_sid: &str, sid: &str) -> String {
    format!("/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json")
}

/// `subresource_uris` of a message.
#[derive(Serialize)]
struct Subresources {
    media: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    feedback: Option<String>,
}

/// A Message resource, keys in Twilio's (alphabetical) order.
#[derive(Serialize)]
pub struct MessageJson<'a> {
    account_sid: &'a str,
    api_version: &'static str,
    body: &'a str,
    date_created: String,
    date_sent: Option<String>,
    date_updated: String,
    direction: &'static str,
    error_code: Option<u32>,
    error_message: Option<&'a str>,
    from: Option<&'a str>,
    messaging_service_sid: Option<&'a str>,
    num_media: String,
    num_segments: String,
    price: Option<&'a str>,
    price_unit: &'a str,
    sid: &'a str,
    status: &'static str,
    subresource_uris: Subresources,
    to: &'a str,
    uri: String,
}

/// Renders a message. Twilio lists the `feedback` subresource only on fetched and listed
/// messages, not in the create response.
pub fn message(m: &Message, with_feedback: bool) -> MessageJson<'_> {
    let base = format!("/2010-04-01/Accounts/{}/Messages/{}", m.account_sid, m.sid);
    MessageJson {
        account_sid: &m.account_sid,
        api_version: API_VERSION,
        body: &m.body,
        date_created: rfc2822(m.date_created),
        date_sent: m.date_sent.map(rfc2822),
        date_updated: rfc2822(m.date_updated),
        direction: m.direction.as_str(),
        error_code: m.error_code,
        error_message: m.error_message.as_deref(),
        from: m.from.as_deref(),
        messaging_service_sid: m.messaging_service_sid.as_deref(),
        num_media: m.num_media.to_string(),
        num_segments: m.num_segments.to_string(),
        price: m.price.as_deref(),
        price_unit: &m.price_unit,
        sid: &m.sid,
        status: m.status.as_str(),
        subresource_uris: Subresources {
            media: format!("{base}/Media.json"),
            feedback: with_feedback.then(|| format!("{base}/Feedback.json")),
        },
        to: &m.to,
        uri: format!("{base}.json"),
    }
}

/// A MessageFeedback resource, keys in Twilio's order.
#[derive(Serialize)]
pub struct FeedbackJson {
    account_sid: String,
    date_created: String,
    date_updated: String,
    message_sid: String,
    outcome: String,
    uri: String,
}

/// Renders a message's feedback.
pub fn feedback(account_sid: &str, f: &crate::store::Feedback) -> FeedbackJson {
    FeedbackJson {
        account_sid: account_sid.to_string(),
        date_created: rfc2822(f.date_created),
        date_updated: rfc2822(f.date_updated),
        message_sid: f.message_sid.clone(),
        outcome: f.outcome.clone(),
        uri: format!("/2010-04-01/Accounts/{account_sid}/Messages/{}/Feedback.json", f.message_sid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc2822_in_gmt_with_plus_zero() {
        assert_eq!(rfc2822(1_692_853_305_000), "Thu, 24 Aug 2023 05:01:45 +0000");
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
    }
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

/// An IncomingPhoneNumber.
pub fn incoming_phone_number(n: &IncomingNumber) -> NumberJson<'_> {
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
        sms_fallback_method: &p.sms.fallback_method,
        sms_fallback_url: p.sms.fallback_url.as_deref(),
        sms_method: &p.sms.method,
        sms_url: p.sms.url.as_deref(),
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

/// A ShortCode.
pub fn short_code(sc: &ShortCode) -> ShortCodeJson<'_> {
    ShortCodeJson {
        account_sid: &sc.account_sid,
        api_version: &sc.api_version,
        date_created: rfc2822(sc.date_created),
        date_updated: rfc2822(sc.date_updated),
        friendly_name: &sc.friendly_name,
        short_code: &sc.short_code,
        sid: &sc.sid,
        sms_fallback_method: &sc.sms.fallback_method,
        sms_fallback_url: sc.sms.fallback_url.as_deref(),
        sms_method: &sc.sms.method,
        sms_url: sc.sms.url.as_deref(),
        uri: format!("/2010-04-01/Accounts/{}/SMS/ShortCodes/{}.json", sc.account_sid, sc.sid),
    }
}

/// A Media resource, keys in Twilio's (alphabetical) order.
#[derive(Serialize)]
pub struct MediaJson<'a> {
    account_sid: &'a str,
    content_type: &'a str,
    date_created: String,
    date_updated: String,
    parent_sid: &'a str,
    sid: &'a str,
    uri: String,
}

/// A Media item.
pub fn media(m: &Media) -> MediaJson<'_> {
    MediaJson {
        account_sid: &m.account_sid,
        content_type: &m.content_type,
        date_created: rfc2822(m.date_created),
        date_updated: rfc2822(m.date_updated),
        parent_sid: &m.message_sid,
        sid: &m.sid,
        uri: format!("/2010-04-01/Accounts/{}/Messages/{}/Media/{}.json", m.account_sid, m.message_sid, m.sid),
    }
}

/// `links` of a Service: its subresources, absolute (only the three pools are served here).
#[derive(Serialize)]
struct ServiceLinks {
    phone_numbers: String,
    short_codes: String,
    alpha_senders: String,
    messages: String,
    us_app_to_person: String,
    us_app_to_person_usecases: String,
    channel_senders: String,
    destination_alpha_senders: String,
}

/// A Service: exactly the properties of Twilio's `messaging.v1.service`, in alphabetical order.
#[derive(Serialize)]
pub struct ServiceJson<'a> {
    account_sid: &'a str,
    area_code_geomatch: bool,
    date_created: String,
    date_updated: String,
    fallback_method: &'a str,
    fallback_to_long_code: bool,
    fallback_url: Option<&'a str>,
    friendly_name: &'a str,
    inbound_method: &'a str,
    inbound_request_url: Option<&'a str>,
    links: ServiceLinks,
    mms_converter: bool,
    scan_message_content: &'a str,
    sid: &'a str,
    smart_encoding: bool,
    status_callback: Option<&'a str>,
    sticky_sender: bool,
    synchronous_validation: bool,
    url: String,
    us_app_to_person_registered: bool,
    use_inbound_webhook_on_number: bool,
    usecase: &'a str,
    validity_period: u32,
}

/// A Messaging Service; `base_url` is the server's external URL.
pub fn service<'a>(base_url: &str, r: &'a ServiceRecord) -> ServiceJson<'a> {
    let (s, x) = (&r.service, &r.settings);
    let url = format!("{base_url}/v1/Services/{}", s.sid);
    ServiceJson {
        account_sid: &s.account_sid,
        area_code_geomatch: s.area_code_geomatch,
        date_created: iso8601(s.date_created),
        date_updated: iso8601(s.date_updated),
        fallback_method: &s.fallback_method,
        fallback_to_long_code: x.fallback_to_long_code,
        fallback_url: s.fallback_url.as_deref(),
        friendly_name: &s.friendly_name,
        inbound_method: &s.inbound_method,
        inbound_request_url: s.inbound_request_url.as_deref(),
        links: ServiceLinks {
            phone_numbers: format!("{url}/PhoneNumbers"),
            short_codes: format!("{url}/ShortCodes"),
            alpha_senders: format!("{url}/AlphaSenders"),
            messages: format!("{url}/Messages"),
            us_app_to_person: format!("{url}/Compliance/Usa2p"),
            us_app_to_person_usecases: format!("{url}/Compliance/Usa2p/Usecases"),
            channel_senders: format!("{url}/ChannelSenders"),
            destination_alpha_senders: format!("{url}/DestinationAlphaSenders"),
        },
        mms_converter: x.mms_converter,
        scan_message_content: &x.scan_message_content,
        sid: &s.sid,
        smart_encoding: s.smart_encoding,
        status_callback: s.status_callback.as_deref(),
        sticky_sender: s.sticky_sender,
        synchronous_validation: x.synchronous_validation,
        url,
        us_app_to_person_registered: x.us_app_to_person_registered,
        use_inbound_webhook_on_number: s.use_inbound_webhook_on_number,
        usecase: &x.usecase,
        validity_period: s.validity_period,
    }
}

/// A pool member: exactly the properties of Twilio's `messaging.v1.service.phone_number`,
/// `.short_code` or `.alpha_sender` (the address key and `country_code` vary by kind).
#[derive(Serialize)]
pub struct PoolJson<'a> {
    account_sid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    alpha_sender: Option<&'a str>,
    capabilities: &'static [&'static str],
    /// Absent for alpha senders; `null` when a number's country is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    country_code: Option<Option<&'a str>>,
    date_created: String,
    date_updated: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<&'a str>,
    service_sid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    short_code: Option<&'a str>,
    sid: &'a str,
    url: String,
}

/// A member of a Messaging Service's sender pool, of `account_sid`.
pub fn pool_sender<'a>(base_url: &str, account_sid: &'a str, m: &'a PoolSender) -> PoolJson<'a> {
    let address = Some(m.address.as_str());
    let (phone_number, short_code, alpha_sender) = match m.kind {
        PoolKind::PhoneNumber => (address, None, None),
        PoolKind::ShortCode => (None, address, None),
        PoolKind::AlphaSender => (None, None, address),
    };
    PoolJson {
        account_sid,
        alpha_sender,
        capabilities: match m.kind {
            PoolKind::PhoneNumber => &["MMS", "SMS", "Voice"],
            _ => &["SMS"],
        },
        country_code: (m.kind != PoolKind::AlphaSender).then_some(m.country_code.as_deref()),
        date_created: iso8601(m.date_created),
        date_updated: iso8601(m.date_created),
        phone_number,
        service_sid: &m.service_sid,
        short_code,
        sid: &m.sid,
        url: format!("{base_url}/v1/Services/{}/{}/{}", m.service_sid, pool_segment(m.kind), m.sid),
    }
}

/// The path segment of a pool kind (`PhoneNumbers`, `ShortCodes`, `AlphaSenders`).
pub fn pool_segment(kind: PoolKind) -> &'static str {
    match kind {
        PoolKind::PhoneNumber => "PhoneNumbers",
        PoolKind::ShortCode => "ShortCodes",
        PoolKind::AlphaSender => "AlphaSenders",
    }
}

/// `subresource_uris` of an account: the resources Switchboard serves under it.
#[derive(Serialize)]
pub struct AccountSubresources {
    incoming_phone_numbers: String,
    keys: String,
    messages: String,
    short_codes: String,
}

/// An Account resource (`api.v2010.account`), keys in Twilio's order.
#[derive(Serialize)]
pub struct AccountJson<'a> {
    auth_token: &'a str,
    date_created: String,
    date_updated: String,
    friendly_name: &'a str,
    owner_account_sid: &'a str,
    sid: &'a str,
    status: &'static str,
    subresource_uris: AccountSubresources,
    #[serde(rename = "type")]
    kind: &'static str,
    uri: String,
}

/// Renders an account (with its primary token, as Twilio does for credentials that may manage it).
pub fn account(a: &crate::store::AccountRecord) -> AccountJson<'_> {
    let base = format!("/2010-04-01/Accounts/{}", a.sid);
    AccountJson {
        auth_token: &a.auth_token,
        date_created: rfc2822(a.date_created),
        date_updated: rfc2822(a.date_updated),
        friendly_name: &a.friendly_name,
        owner_account_sid: &a.owner_account_sid,
        sid: &a.sid,
        status: a.status.as_str(),
        subresource_uris: AccountSubresources {
            incoming_phone_numbers: format!("{base}/IncomingPhoneNumbers.json"),
            keys: format!("{base}/Keys.json"),
            messages: format!("{base}/Messages.json"),
            short_codes: format!("{base}/SMS/ShortCodes.json"),
        },
        kind: "Full",
        uri: format!("{base}.json"),
    }
}

/// A Key resource (`api.v2010.account.key`; `secret` only in the create answer, `new_key`).
#[derive(Serialize)]
pub struct KeyJson<'a> {
    sid: &'a str,
    friendly_name: &'a str,
    date_created: String,
    date_updated: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
}

/// Renders a v2010 key, with its secret when just created.
pub fn key<'a>(k: &'a crate::store::ApiKey, secret: Option<&'a str>) -> KeyJson<'a> {
    KeyJson {
        sid: &k.sid,
        friendly_name: &k.friendly_name,
        date_created: rfc2822(k.date_created),
        date_updated: rfc2822(k.date_updated),
        secret,
    }
}

/// How an IAM v1 key is shown: created (with `secret`), fetched (with `policy`), or listed
/// (with `flags`), as `iam.v1.new_key`, `iam.v1.key` and `iam.v1.get_keys`.
pub enum IamKeyView<'a> {
    /// Just created: the secret, shown once.
    Created(&'a str),
    /// Fetched or updated.
    One,
    /// An item of a list.
    Listed,
}

/// Renders an IAM v1 key.
pub fn iam_key(k: &crate::store::ApiKey, view: IamKeyView<'_>) -> serde_json::Value {
    let policy = || {
        k.policy
            .as_deref()
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
            .unwrap_or(serde_json::Value::Null)
    };
    let mut v = serde_json::json!({
        "sid": k.sid,
        "friendly_name": k.friendly_name,
        "date_created": rfc2822(k.date_created),
        "date_updated": rfc2822(k.date_updated),
    });
    match view {
        IamKeyView::Created(secret) => {
            v["secret"] = secret.into();
            v["policy"] = policy();
        }
        IamKeyView::One => v["policy"] = policy(),
        IamKeyView::Listed => v["flags"] = serde_json::json!(["rest_api", "signing"]),
    }
    v
}

/// The secondary auth token of an account (`accounts.v1.secondary_auth_token`).
pub fn secondary_auth_token(a: &crate::store::AccountRecord, base_url: &str) -> serde_json::Value {
    let created = a.secondary_date_created.unwrap_or(a.date_updated);
    serde_json::json!({
        "account_sid": a.sid,
        "date_created": iso8601(created),
        "date_updated": iso8601(created),
        "secondary_auth_token": a.secondary_token,
        "url": format!("{base_url}/v1/AuthTokens/Secondary"),
    })
}

/// The promoted auth token of an account (`accounts.v1.auth_token_promotion`).
pub fn auth_token_promotion(a: &crate::store::AccountRecord, base_url: &str) -> serde_json::Value {
    serde_json::json!({
        "account_sid": a.sid,
        "auth_token": a.auth_token,
        "date_created": iso8601(a.date_created),
        "date_updated": iso8601(a.date_updated),
        "url": format!("{base_url}/v1/AuthTokens/Promote"),
    })
}

//! Messaging v1 (`messaging.twilio.com`): Services (`/v1/Services`, `/v1/Services/{Sid}`) and
//! their sender pools (`/v1/Services/{ServiceSid}/PhoneNumbers|ShortCodes|AlphaSenders[/{Sid}]`).
//!
//! v1 conventions differ from v2010: ISO 8601 dates, absolute URLs (built on the server's
//! `base_url`), list pages with a `meta` object, and no account in the path — the HTTP Basic
//! user is the account, and another account's SIDs answer 404 like unknown ones.
//!
//! Pool rules (Twilio's codes): a sender already in this service → 409 21710; in another
//! service of the account → 409 21712; a second alphanumeric sender, or an invalid one →
//! 400 21709; a `PhoneNumberSid`/`ShortCodeSid` that is not the account's → 400 20001.

use super::auth::Authenticated;
use super::error::{ApiError, ApiResult};
use super::form;
use super::paging::{PageRequest, V1Page};
use super::params::{set, OneResource, Params, SidKind};
use super::render;
use super::SharedState;
use crate::clock::now_ms;
use crate::store::senders::{NewPoolSender, PoolKind, Refused, Service, ServiceRecord, ServiceSettings};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use switchboard_domain::address::{self, AddressKind};
use switchboard_domain::message::VALIDITY_RANGE;
use switchboard_domain::TwilioError;

/// Messaging Services, as a path names them (`MG…`).
pub struct Services;

impl SidKind for Services {
    const PREFIXES: &'static [&'static str] = &["MG"];
    const JSON: bool = false;
}

/// The routes of this resource.
pub fn routes() -> Router<SharedState> {
    let mut router = Router::new()
        .route("/v1/Services", get(list_services).post(create_service))
        .route("/v1/Services/{sid}", get(fetch_service).post(update_service).delete(delete_service));
    for kind in [PoolKind::PhoneNumber, PoolKind::ShortCode, PoolKind::AlphaSender] {
        let collection = format!("/v1/Services/{{service}}/{}", render::pool_segment(kind));
        let member = format!("{collection}/{{sid}}");
        router = router
            .route(
                &collection,
                get(move |s: State<SharedState>, a: Authenticated, p: Path<String>, u: Uri| {
                    list_pool(kind, s, a, p, u)
                })
                .post(
                    move |s: State<SharedState>, a: Authenticated, p: Path<String>, u: Uri, b: Body| {
                        add_to_pool(kind, s, a, p, u, b)
                    },
                ),
            )
            .route(
                &member,
                get(move |s: State<SharedState>, a: Authenticated, p: Path<(String, String)>, u: Uri| {
                    fetch_pool_sender(kind, s, a, p, u)
                })
                .delete(
                    move |s: State<SharedState>, a: Authenticated, p: Path<(String, String)>, u: Uri| {
                        remove_from_pool(kind, s, a, p, u)
                    },
                ),
            );
    }
    router
}

/// The list key of a pool kind (`meta.key`).
fn list_key(kind: PoolKind) -> &'static str {
    match kind {
        PoolKind::PhoneNumber => "phone_numbers",
        PoolKind::ShortCode => "short_codes",
        PoolKind::AlphaSender => "alpha_senders",
    }
}

// --- Services --------------------------------------------------------------------------------

/// Every settable parameter of a Service create or update.
#[derive(Debug)]
struct ServicePatch {
    friendly_name: Option<String>,
    inbound_request_url: Option<Option<String>>,
    inbound_method: Option<String>,
    fallback_url: Option<Option<String>>,
    fallback_method: Option<String>,
    status_callback: Option<Option<String>>,
    sticky_sender: Option<bool>,
    mms_converter: Option<bool>,
    smart_encoding: Option<bool>,
    scan_message_content: Option<String>,
    fallback_to_long_code: Option<bool>,
    area_code_geomatch: Option<bool>,
    validity_period: Option<u32>,
    synchronous_validation: Option<bool>,
    usecase: Option<String>,
    use_inbound_webhook_on_number: Option<bool>,
}

/// Twilio's A2P use cases (`Usecase`).
const USECASES: [&str; 6] = ["notifications", "marketing", "verification", "discussion", "poll", "undeclared"];

impl ServicePatch {
    fn parse(pairs: &form::Pairs) -> Result<ServicePatch, TwilioError> {
        let p = Params(pairs);
        let friendly_name = match p.friendly_name()? {
            Some(name) if name.is_empty() => {
                return Err(TwilioError::invalid_parameter("FriendlyName cannot be empty"));
            }
            other => other,
        };
        let validity_period = match p.raw("ValidityPeriod").map(str::trim).filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if VALIDITY_RANGE.contains(&n) => Some(n),
                _ => return Err(TwilioError::invalid_validity_period(v)),
            },
        };
        Ok(ServicePatch {
            friendly_name,
            inbound_request_url: p.url("InboundRequestUrl")?,
            inbound_method: p.method("InboundMethod")?,
            fallback_url: p.url("FallbackUrl")?,
            fallback_method: p.method("FallbackMethod")?,
            status_callback: p.url("StatusCallback")?,
            sticky_sender: p.bool("StickySender")?,
            mms_converter: p.bool("MmsConverter")?,
            smart_encoding: p.bool("SmartEncoding")?,
            scan_message_content: p.choice("ScanMessageContent", &["inherit", "enable", "disable"], false)?,
            fallback_to_long_code: p.bool("FallbackToLongCode")?,
            area_code_geomatch: p.bool("AreaCodeGeomatch")?,
            validity_period,
            synchronous_validation: p.bool("SynchronousValidation")?,
            usecase: p.choice("Usecase", &USECASES, false)?,
            use_inbound_webhook_on_number: p.bool("UseInboundWebhookOnNumber")?,
        })
    }

    fn apply(self, r: &mut ServiceRecord, now: i64) {
        let (s, x) = (&mut r.service, &mut r.settings);
        set(&mut s.friendly_name, self.friendly_name);
        set(&mut s.inbound_request_url, self.inbound_request_url);
        set(&mut s.inbound_method, self.inbound_method);
        set(&mut s.fallback_url, self.fallback_url);
        set(&mut s.fallback_method, self.fallback_method);
        set(&mut s.status_callback, self.status_callback);
        set(&mut s.sticky_sender, self.sticky_sender);
        set(&mut s.smart_encoding, self.smart_encoding);
        set(&mut s.area_code_geomatch, self.area_code_geomatch);
        set(&mut s.validity_period, self.validity_period);
        set(&mut s.use_inbound_webhook_on_number, self.use_inbound_webhook_on_number);
        set(&mut x.mms_converter, self.mms_converter);
        set(&mut x.scan_message_content, self.scan_message_content);
        set(&mut x.fallback_to_long_code, self.fallback_to_long_code);
        set(&mut x.synchronous_validation, self.synchronous_validation);
        set(&mut x.usecase, self.usecase);
        s.date_updated = now;
    }
}

/// POST /v1/Services (`FriendlyName` required).
pub async fn create_service(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    body: Body,
) -> ApiResult<Response> {
    let pairs = form::read_form(body).await?;
    if form::last(&pairs, "FriendlyName").is_none_or(|v| v.trim().is_empty()) {
        return Err(TwilioError::invalid_parameter("Missing required parameter FriendlyName in the post body").into());
    }
    let patch = ServicePatch::parse(&pairs)?;
    let now = now_ms();
    let mut r = ServiceRecord {
        service: Service {
            sid: format!("MG{}", state.keys.next(now)),
            account_sid: account.sid,
            friendly_name: String::new(),
            inbound_request_url: None,
            inbound_method: "POST".to_string(),
            fallback_url: None,
            fallback_method: "POST".to_string(),
            status_callback: None,
            sticky_sender: true,
            smart_encoding: true,
            area_code_geomatch: true,
            validity_period: *VALIDITY_RANGE.end(),
            use_inbound_webhook_on_number: false,
            date_created: now,
            date_updated: now,
        },
        settings: ServiceSettings::default(),
    };
    patch.apply(&mut r, now);
    state.store.insert_service(r.clone()).await?;
    Ok((StatusCode::CREATED, Json(render::service(&state.base_url, &r))).into_response())
}

/// GET /v1/Services/{Sid}
pub async fn fetch_service(State(state): State<SharedState>, resource: OneResource<Services>) -> ApiResult<Response> {
    let r =
        state.store.service_record(&resource.account.sid, &resource.sid).await?.ok_or_else(|| resource.not_found())?;
    Ok(Json(render::service(&state.base_url, &r)).into_response())
}

/// POST /v1/Services/{Sid}: changes what is given, keeps the rest.
pub async fn update_service(
    State(state): State<SharedState>,
    resource: OneResource<Services>,
    body: Body,
) -> ApiResult<Response> {
    let patch = ServicePatch::parse(&form::read_form(body).await?)?;
    let now = now_ms();
    let r = state
        .store
        .update_service(&resource.account.sid, &resource.sid, Box::new(move |r| patch.apply(r, now)))
        .await?
        .ok_or_else(|| resource.not_found())?;
    Ok(Json(render::service(&state.base_url, &r)).into_response())
}

/// DELETE /v1/Services/{Sid}: the service and its pool (the senders themselves stay).
pub async fn delete_service(State(state): State<SharedState>, resource: OneResource<Services>) -> ApiResult<Response> {
    if state.store.delete_service(&resource.account.sid, &resource.sid).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(resource.not_found())
    }
}

/// GET /v1/Services: creation order, keyset pages.
pub async fn list_services(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    uri: Uri,
) -> ApiResult<Response> {
    let q = form::decode(uri.query().unwrap_or("").as_bytes());
    let req = PageRequest::parse(&q, &["MG"])?;
    let rows = state.store.list_services(&account.sid, &req.cursor, req.limit()).await?;
    let window = req.window(rows, |r| r.service.sid.as_str());
    let items = window.rows.iter().map(|r| render::service(&state.base_url, r)).collect();
    let url = format!("{}{}", state.base_url, uri.path());
    Ok(Json(V1Page::new("services", &req, &window, &url, &[], items)).into_response())
}

// --- sender pools ----------------------------------------------------------------------------

/// POST /v1/Services/{ServiceSid}/{PhoneNumbers|ShortCodes|AlphaSenders}
async fn add_to_pool(
    kind: PoolKind,
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    Path(service): Path<String>,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    let pairs = form::read_form(body).await?;
    let name = match kind {
        PoolKind::PhoneNumber => "PhoneNumberSid",
        PoolKind::ShortCode => "ShortCodeSid",
        PoolKind::AlphaSender => "AlphaSender",
    };
    let Some(value) = form::last(&pairs, name).map(str::trim).filter(|v| !v.is_empty()) else {
        return Err(
            TwilioError::invalid_parameter(format!("Missing required parameter {name} in the post body")).into()
        );
    };
    let sender = match kind {
        PoolKind::AlphaSender => {
            if !is_alpha_sender(value) {
                return Err(TwilioError::bad_request(
                    21709,
                    format!(
                        "Alpha Sender ID '{value}' is invalid: up to 11 of A-Z a-z 0-9 space - + _ &, with at least one letter"
                    ),
                )
                .into());
            }
            NewPoolSender::AlphaSender {
                sid: format!("AI{}", state.keys.next(now_ms())),
                alpha_sender: value.to_string(),
            }
        }
        _ if !switchboard_domain::sid::is_valid(value, kind.sid_prefix()) => {
            return Err(TwilioError::invalid_parameter(format!(
                "{name} must be a SID starting with {} followed by 32 hex digits, got '{value}'",
                kind.sid_prefix()
            ))
            .into())
        }
        PoolKind::PhoneNumber => NewPoolSender::PhoneNumber(value.to_string()),
        PoolKind::ShortCode => NewPoolSender::ShortCode(value.to_string()),
    };
    let what = match kind {
        PoolKind::PhoneNumber => "Phone Number",
        PoolKind::ShortCode => "Short Code",
        PoolKind::AlphaSender => "Alpha Sender ID",
    };
    match state.store.add_to_pool(&account.sid, &service, sender, now_ms()).await? {
        Ok(member) => {
            Ok((StatusCode::CREATED, Json(render::pool_sender(&state.base_url, &account.sid, &member))).into_response())
        }
        Err(Refused::NoService) => Err(TwilioError::not_found(uri.path()).into()),
        Err(Refused::NoSender) => Err(TwilioError::invalid_parameter(format!(
            "{name} {value} is not a {} of this account",
            what.to_ascii_lowercase()
        ))
        .into()),
        Err(Refused::AlreadyInService) => {
            Err(TwilioError::new(21710, 409, format!("{what} {value} is already in the Messaging Service.")).into())
        }
        Err(Refused::InOtherService(other)) => Err(TwilioError::new(
            21712,
            409,
            format!("{what} {value} is associated with another Messaging Service ({other})."),
        )
        .into()),
        Err(Refused::AlphaSenderTaken(existing)) => Err(TwilioError::bad_request(
            21709,
            format!(
                "A Messaging Service may have only one Alpha Sender ID and this one has {existing}: delete it before adding another"
            ),
        )
        .into()),
        Err(Refused::Duplicate(_)) => Err(anyhow::anyhow!("unexpected duplicate refusal adding to a pool").into()),
    }
}

/// Alphanumeric sender IDs as the message flow reads them in `From`: 1–11 of
/// `A-Z a-z 0-9 space - + _ &` with at least one letter (so never only digits).
fn is_alpha_sender(v: &str) -> bool {
    address::parse_from(v).is_some_and(|a| a.kind == AddressKind::Alphanumeric && a.text == v)
}

/// GET /v1/Services/{ServiceSid}/{…}/{Sid}
async fn fetch_pool_sender(
    kind: PoolKind,
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    Path((service, sid)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let member = state
        .store
        .pool_sender(&account.sid, &service, kind, &sid)
        .await?
        .ok_or_else(|| TwilioError::not_found(uri.path()))?;
    Ok(Json(render::pool_sender(&state.base_url, &account.sid, &member)).into_response())
}

/// DELETE /v1/Services/{ServiceSid}/{…}/{Sid}: out of the pool (a number or short code stays
/// provisioned; an alphanumeric sender ceases to exist).
async fn remove_from_pool(
    kind: PoolKind,
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    Path((service, sid)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    if state.store.remove_from_pool(&account.sid, &service, kind, &sid).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(TwilioError::not_found(uri.path()).into())
    }
}

/// GET /v1/Services/{ServiceSid}/{…}: SID order, keyset pages.
async fn list_pool(
    kind: PoolKind,
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    Path(service): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let q = form::decode(uri.query().unwrap_or("").as_bytes());
    let req = PageRequest::parse(&q, &[kind.sid_prefix()])?;
    let rows = state
        .store
        .list_pool(&account.sid, &service, kind, &req.cursor, req.limit())
        .await?
        .ok_or_else(|| ApiError(TwilioError::not_found(uri.path())))?;
    let window = req.window(rows, |m| m.sid.as_str());
    let items = window.rows.iter().map(|m| render::pool_sender(&state.base_url, &account.sid, m)).collect();
    let url = format!("{}{}", state.base_url, uri.path());
    Ok(Json(V1Page::new(list_key(kind), &req, &window, &url, &[], items)).into_response())
}

// --- JSON ------------------------------------------------------------------------------------

pub use super::render::iso8601;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_dates_are_iso8601_utc_to_the_second() {
        assert_eq!(iso8601(1_438_287_151_000), "2015-07-30T20:12:31Z");
    }

    #[test]
    fn alpha_senders_follow_twilios_alphabet_and_need_a_letter() {
        for ok in ["Twilio", "My Brand", "A-1+2_3&", "x"] {
            assert!(is_alpha_sender(ok), "{ok}");
        }
        for bad in ["12345", "123-45", "Twelve chars", "Bad!", " Padded", ""] {
            assert!(!is_alpha_sender(bad), "{bad}");
        }
    }
}

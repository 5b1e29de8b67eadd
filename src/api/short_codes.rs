//! Short codes: v2010 `/SMS/ShortCodes.json` and `/SMS/ShortCodes/{Sid}.json` (read and update
//! only, as in Twilio), and Switchboard's own provisioning
//! (`/_switchboard/Accounts/{AccountSid}/ShortCodes.json`), which Twilio sells by application
//! rather than through an API.

use super::auth::Authenticated;
use super::error::ApiResult;
use super::form::{self, Pairs};
use super::numbers::{delete, fetch, provisioned, update, NumberResource};
use super::paging::{PageRequest, V2010Page};
use super::params::{sender_filter, set, Params, SidKind, SmsPatch};
use super::render;
use super::SharedState;
use crate::clock::now_ms;
use crate::store::senders::{ShortCode, SmsWebhooks};
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use switchboard_domain::message::API_VERSION;
use switchboard_domain::TwilioError;

/// The routes of this resource.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/2010-04-01/Accounts/{account}/SMS/ShortCodes.json", get(list_short_codes))
        .route(
            "/2010-04-01/Accounts/{account}/SMS/ShortCodes/{file}",
            get(fetch::<ShortCode>).post(update::<ShortCode>),
        )
        .route("/_switchboard/Accounts/{account}/ShortCodes.json", post(create_short_code))
        .route("/_switchboard/Accounts/{account}/ShortCodes/{file}", axum::routing::delete(delete::<ShortCode>))
}

/// The settable parameters of a short code (Twilio's update; Switchboard's create adds
/// `ShortCode` and `CountryCode`).
#[derive(Debug)]
pub(super) struct ShortCodePatch {
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
        self.sms.apply(&mut sc.sms);
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
        sms: SmsWebhooks::default(),
        api_version: API_VERSION.to_string(),
        date_created: now,
        date_updated: now,
    };
    patch.apply(&mut sc, now);
    let refused = state.store.insert_number(sc.clone()).await?;
    provisioned(refused, "Short code", &sc.short_code)?;
    Ok((StatusCode::CREATED, Json(render::short_code(&sc))).into_response())
}

impl SidKind for ShortCode {
    const PREFIXES: &'static [&'static str] = &["SC"];
    const JSON: bool = true;
}

impl NumberResource for ShortCode {
    type Patch = ShortCodePatch;

    fn parse_update(pairs: &Pairs, _account_sid: &str) -> Result<ShortCodePatch, TwilioError> {
        ShortCodePatch::parse(pairs)
    }

    fn apply(patch: ShortCodePatch, record: &mut Self, now: i64) {
        patch.apply(record, now);
    }

    fn render(&self) -> Response {
        Json(render::short_code(self)).into_response()
    }
}

/// GET …/SMS/ShortCodes.json: filters `ShortCode` (digits anywhere, `*` for any digit) and
/// `FriendlyName` (exact); creation order, keyset pages.
pub async fn list_short_codes(
    State(state): State<SharedState>,
    Authenticated(account): Authenticated,
    uri: Uri,
) -> ApiResult<Response> {
    let q = form::decode(uri.query().unwrap_or("").as_bytes());
    let (filter, echo) = sender_filter(&q, "ShortCode", ["FriendlyName", "ShortCode"])?;
    let req = PageRequest::parse(&q, &["SC"])?;
    let rows = state.store.list_numbers(&account.sid, &filter, &req.cursor, req.limit()).await?;
    let window = req.window(rows, |sc: &ShortCode| sc.sid.as_str());
    let items = window.rows.iter().map(render::short_code).collect();
    Ok(Json(V2010Page::new("short_codes", &req, &window, uri.path(), &echo, items)).into_response())
}

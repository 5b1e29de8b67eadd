//! The Message record (and [`MessageBuilder`], the one way to make one) and the validation of a
//! create request.
//!
//! [`CreateParams`] holds the raw form values exactly as they arrived; [`validate_create`] turns
//! them into a [`ValidCreate`] or the Twilio error the real API would give, checking in the
//! order Twilio does (the `To` error wins when several parameters are wrong).

use crate::address::{self, Address};
use crate::encoding;
use crate::error::TwilioError;
use crate::sid;
use crate::status::{Direction, Status};
use serde::{Deserialize, Serialize};

/// Longest body Twilio accepts, in characters.
pub const MAX_BODY_CHARS: usize = 1600;
/// Most media URLs one message may carry.
pub const MAX_MEDIA: usize = 10;
/// `ValidityPeriod` bounds and default, in seconds.
pub const VALIDITY_RANGE: std::ops::RangeInclusive<u32> = 1..=36_000;
/// Latest `SendAt` Twilio accepts: 35 days ahead.
pub const MAX_SCHEDULE_AHEAD_SECS: i64 = 35 * 24 * 3600;
/// The only API version this server speaks.
pub const API_VERSION: &str = "2010-04-01";

/// A stored message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `SM…` or `MM…`.
    pub sid: String,
    /// Owning account.
    pub account_sid: String,
    /// The Messaging Service that sent it, if any.
    pub messaging_service_sid: Option<String>,
    /// Sender; `None` while a Messaging Service has not chosen one.
    pub from: Option<String>,
    /// Recipient.
    pub to: String,
    /// Text as sent (after smart encoding); empty once redacted.
    pub body: String,
    /// Current status.
    pub status: Status,
    /// Direction.
    pub direction: Direction,
    /// SMS segments (0 until a Messaging Service chose a sender).
    pub num_segments: u32,
    /// Media attached.
    pub num_media: u32,
    /// Price as a negative decimal string, once sent.
    pub price: Option<String>,
    /// ISO 4217 currency of `price`.
    pub price_unit: String,
    /// Twilio error code once failed/undelivered.
    pub error_code: Option<u32>,
    /// Text of `error_code`.
    pub error_message: Option<String>,
    /// Creation time, ms since the epoch (also encoded in the SID).
    pub date_created: i64,
    /// Last change, ms since the epoch.
    pub date_updated: i64,
    /// When it was sent, ms since the epoch.
    pub date_sent: Option<i64>,
    /// The carrier's id for it once submitted (matches delivery receipts).
    pub carrier_id: Option<String>,
    /// Everything else the create request said.
    pub options: SendOptions,
}

impl Message {
    /// Starts a new message `sid` of `account_sid` to `to`, created at `created_ms`; see
    /// [`MessageBuilder`] for the rest.
    pub fn builder(
        sid: impl Into<String>,
        account_sid: impl Into<String>,
        to: impl Into<String>,
        created_ms: i64,
    ) -> MessageBuilder {
        MessageBuilder {
            message: Message {
                sid: sid.into(),
                account_sid: account_sid.into(),
                messaging_service_sid: None,
                from: None,
                to: to.into(),
                body: String::new(),
                status: Status::Queued,
                direction: Direction::OutboundApi,
                num_segments: 0,
                num_media: 0,
                price: None,
                price_unit: "USD".to_string(),
                error_code: None,
                error_message: None,
                date_created: created_ms,
                date_updated: created_ms,
                date_sent: None,
                carrier_id: None,
                options: SendOptions::default(),
            },
            num_segments: None,
        }
    }

    /// The time-ordered 32-hex key of the SID.
    pub fn key(&self) -> &str {
        &self.sid[2..]
    }

    /// The `receipt_cutoff_ms` of [`Message::is_done_with`] at `now_ms`: now minus the receipt
    /// window (the API's DELETE and the retention sweep both ask with it).
    pub fn receipt_cutoff(now_ms: i64, receipt_window: std::time::Duration) -> i64 {
        now_ms.saturating_sub(i64::try_from(receipt_window.as_millis()).unwrap_or(i64::MAX))
    }

    /// True when the message may be deleted (by the API or the retention sweep): its status is
    /// final, or it is `sent` and was sent before `receipt_cutoff_ms` (now minus the receipt
    /// window), so no delivery receipt is expected any more.
    pub fn is_done_with(&self, receipt_cutoff_ms: i64) -> bool {
        self.status.is_final()
            || (self.status == Status::Sent && self.date_sent.unwrap_or(self.date_updated) < receipt_cutoff_ms)
    }

    /// The message as kept once final: `ContentRetention=discard` empties the body and
    /// `AddressRetention=obfuscate` hides the last four digits of the address that is not the
    /// account's (`to` of an outbound message, `from` of an inbound one), as Twilio does.
    pub fn retained(&self) -> Message {
        let mut kept = self.clone();
        if self.options.content_retention.as_deref() == Some("discard") {
            kept.body = String::new();
        }
        if self.options.address_retention.as_deref() == Some("obfuscate") {
            match self.direction {
                Direction::Inbound => kept.from = self.from.as_deref().map(address::obfuscate),
                _ => kept.to = address::obfuscate(&self.to),
            }
        }
        kept
    }
}

/// Builds a new [`Message`]: the one way the server (API creates, inbound messages, TwiML
/// replies) and the tests of every crate make one.
///
/// What is not set is what a message just created has: `queued`, `outbound-api`, no `From`
/// (a Messaging Service has yet to choose), an empty body, no Messaging Service, default
/// [`SendOptions`], no price (in USD), no error, no carrier id, not sent, updated when created.
/// `num_segments` is counted as [`num_segments`] counts it unless set; `num_media` is always
/// the number of `options.media_urls`.
///
/// ```
/// use switchboard_domain::message::Message;
/// use switchboard_domain::status::Status;
///
/// let m = Message::builder("SM0123456789abcdef0123456789abcdef", "AC…", "+14155552671", 0)
///     .from(Some("+14155550100".into()))
///     .body("hi")
///     .status(Status::Delivered)
///     .build();
/// assert_eq!((m.num_segments, m.num_media, m.price_unit.as_str()), (1, 0, "USD"));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MessageBuilder {
    message: Message,
    num_segments: Option<u32>,
}

impl MessageBuilder {
    /// The sender; `None` while a Messaging Service has not chosen one.
    pub fn from(mut self, from: Option<String>) -> Self {
        self.message.from = from;
        self
    }

    /// The Messaging Service that sends (or received) it.
    pub fn messaging_service_sid(mut self, sid: Option<String>) -> Self {
        self.message.messaging_service_sid = sid;
        self
    }

    /// The text.
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.message.body = body.into();
        self
    }

    /// The status it starts in.
    pub fn status(mut self, status: Status) -> Self {
        self.message.status = status;
        self
    }

    /// Which way it goes.
    pub fn direction(mut self, direction: Direction) -> Self {
        self.message.direction = direction;
        self
    }

    /// The segment count, when it is not the one [`num_segments`] gives (0 while a Messaging
    /// Service has not chosen the sender; an inbound message counts its body whatever its `To`).
    pub fn num_segments(mut self, num_segments: u32) -> Self {
        self.num_segments = Some(num_segments);
        self
    }

    /// Everything else the create request (or the TwiML) said, media URLs included.
    pub fn options(mut self, options: SendOptions) -> Self {
        self.message.options = options;
        self
    }

    /// The price, a negative decimal string.
    pub fn price(mut self, price: impl Into<String>) -> Self {
        self.message.price = Some(price.into());
        self
    }

    /// The carrier's id for it.
    pub fn carrier_id(mut self, carrier_id: impl Into<String>) -> Self {
        self.message.carrier_id = Some(carrier_id.into());
        self
    }

    /// When it was sent (for an inbound message: received), ms since the epoch.
    pub fn sent_at(mut self, sent_ms: i64) -> Self {
        self.message.date_sent = Some(sent_ms);
        self
    }

    /// When it last changed, ms since the epoch.
    pub fn updated_at(mut self, updated_ms: i64) -> Self {
        self.message.date_updated = updated_ms;
        self
    }

    /// The message.
    pub fn build(self) -> Message {
        let mut m = self.message;
        m.num_media = u32::try_from(m.options.media_urls.len()).unwrap_or(u32::MAX);
        m.num_segments = self.num_segments.unwrap_or_else(|| {
            let is_mms = !m.options.media_urls.is_empty() || m.options.send_as_mms == Some(true);
            num_segments(&m.to, &m.body, is_mms)
        });
        m
    }
}

/// The create parameters that shape delivery rather than the resource itself; kept as given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SendOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_callback: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provide_feedback: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity_period: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_delivery: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_retention: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_retention: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smart_encoded: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub persistent_action: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shorten_urls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_type: Option<String>,
    /// `SendAt`, ms since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_as_mms: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_variables: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_check: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_sid: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub media_urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
    /// HTTP method of the status callback (TwiML `<Message method>`; POST otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_callback_method: Option<String>,
    /// A `From` given together with a Messaging Service: the service must send from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_from: Option<String>,
}

/// The raw parameters of a create request, as strings, exactly as sent.
#[derive(Debug, Clone, Default)]
pub struct CreateParams {
    pub to: Option<String>,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub body: Option<String>,
    pub media_url: Vec<String>,
    pub status_callback: Option<String>,
    pub application_sid: Option<String>,
    pub max_price: Option<String>,
    pub provide_feedback: Option<String>,
    pub attempt: Option<String>,
    pub validity_period: Option<String>,
    pub force_delivery: Option<String>,
    pub content_retention: Option<String>,
    pub address_retention: Option<String>,
    pub smart_encoded: Option<String>,
    pub persistent_action: Vec<String>,
    pub traffic_type: Option<String>,
    pub shorten_urls: Option<String>,
    pub schedule_type: Option<String>,
    pub send_at: Option<String>,
    pub send_as_mms: Option<String>,
    pub content_variables: Option<String>,
    pub risk_check: Option<String>,
    pub fallback_from: Option<String>,
    pub content_sid: Option<String>,
    pub tags: Option<String>,
}

impl CreateParams {
    /// Collects the parameters from decoded form pairs. Unknown names are ignored, as Twilio
    /// does; for a repeated single-valued name the last value wins.
    pub fn from_pairs<K: AsRef<str>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut p = CreateParams::default();
        for (k, v) in pairs {
            let v = v.into();
            let slot = match k.as_ref() {
                "To" => &mut p.to,
                "From" => &mut p.from,
                "MessagingServiceSid" => &mut p.messaging_service_sid,
                "Body" => &mut p.body,
                "MediaUrl" => {
                    p.media_url.push(v);
                    continue;
                }
                "PersistentAction" => {
                    p.persistent_action.push(v);
                    continue;
                }
                "StatusCallback" => &mut p.status_callback,
                "ApplicationSid" => &mut p.application_sid,
                "MaxPrice" => &mut p.max_price,
                "ProvideFeedback" => &mut p.provide_feedback,
                "Attempt" => &mut p.attempt,
                "ValidityPeriod" => &mut p.validity_period,
                "ForceDelivery" => &mut p.force_delivery,
                "ContentRetention" => &mut p.content_retention,
                "AddressRetention" => &mut p.address_retention,
                "SmartEncoded" => &mut p.smart_encoded,
                "TrafficType" => &mut p.traffic_type,
                "ShortenUrls" => &mut p.shorten_urls,
                "ScheduleType" => &mut p.schedule_type,
                "SendAt" => &mut p.send_at,
                "SendAsMms" => &mut p.send_as_mms,
                "ContentVariables" => &mut p.content_variables,
                "RiskCheck" => &mut p.risk_check,
                "FallbackFrom" => &mut p.fallback_from,
                "ContentSid" => &mut p.content_sid,
                "Tags" => &mut p.tags,
                _ => continue,
            };
            *slot = Some(v);
        }
        p
    }
}

/// A create request that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidCreate {
    /// Recipient.
    pub to: Address,
    /// Sender, when given.
    pub from: Option<Address>,
    /// Messaging Service, when given (well-formed; existence is checked by the caller).
    pub messaging_service_sid: Option<String>,
    /// Body after smart encoding (if asked for).
    pub body: String,
    /// SMS segments of the body (1 for MMS and channel messages).
    pub num_segments: u32,
    /// Everything else.
    pub options: SendOptions,
}

impl ValidCreate {
    /// The initial status Twilio gives such a message.
    pub fn initial_status(&self) -> Status {
        match (&self.messaging_service_sid, &self.options.schedule_type) {
            (Some(_), Some(_)) => Status::Scheduled,
            (Some(_), None) => Status::Accepted,
            _ => Status::Queued,
        }
    }

    /// `MM` for messages with media, `SM` otherwise.
    /// (`SendAsMms=true` makes an MMS even without media.)
    pub fn sid_prefix(&self) -> &'static str {
        if self.options.media_urls.is_empty() && self.options.send_as_mms != Some(true) {
            "SM"
        } else {
            "MM"
        }
    }
}

/// `num_segments` of a message: SMS segments of the body for a phone recipient, one for an MMS
/// (media or `SendAsMms`) or a channel message (`whatsapp:`, `rcs:`, …).
pub fn num_segments(to: &str, body: &str, is_mms: bool) -> u32 {
    if is_mms || to.contains(':') {
        1
    } else {
        encoding::segments(body).count
    }
}

/// Validates a create request against Twilio's rules; `now_ms` and `min_schedule_lead_secs`
/// bound `SendAt`.
pub fn validate_create(p: &CreateParams, now_ms: i64, min_schedule_lead_secs: i64) -> Result<ValidCreate, TwilioError> {
    let to_raw = non_empty(&p.to).ok_or_else(TwilioError::to_required)?;
    let to = address::parse_to(to_raw).ok_or_else(|| TwilioError::invalid_to(to_raw))?;

    let from_raw = non_empty(&p.from);
    let mss_raw = non_empty(&p.messaging_service_sid);
    if from_raw.is_none() && mss_raw.is_none() {
        return Err(TwilioError::from_required());
    }
    // `From` may itself be a Messaging Service SID (the seed's RCS examples).
    let (from_raw, mss_raw) = match from_raw {
        Some(f) if f.starts_with("MG") && f.len() == sid::SID_LEN && mss_raw.is_none() => (None, Some(f)),
        _ => (from_raw, mss_raw),
    };
    if let Some(mss) = mss_raw {
        if !sid::is_valid(mss, "MG") {
            return Err(TwilioError::invalid_messaging_service(mss));
        }
    }
    let from = match from_raw {
        Some(f) => Some(address::parse_from(f).ok_or_else(|| TwilioError::invalid_from(f))?),
        None => None,
    };

    // Twilio's test-credential magic numbers answer the same for every account here.
    if let Some(f) = &from {
        match f.text.as_str() {
            "+15005550001" => return Err(TwilioError::invalid_from(&f.text)),
            "+15005550007" => return Err(TwilioError::from_not_owned(&f.text)),
            "+15005550008" => return Err(TwilioError::queue_full(&f.text)),
            _ => {}
        }
    }
    let from_text = from.as_ref().map_or("", |f| f.text.as_str());
    match to.text.as_str() {
        "+15005550001" => return Err(TwilioError::invalid_to(&to.text)),
        "+15005550002" => return Err(TwilioError::unroutable(&to.text, from_text)),
        "+15005550003" => return Err(TwilioError::region_not_enabled(&to.text)),
        "+15005550004" => return Err(TwilioError::unsubscribed(&to.text)),
        "+15005550009" => return Err(TwilioError::not_mobile(&to.text)),
        _ => {}
    }
    if let Some(f) = &from {
        if same_endpoint(&f.text, &to.text) {
            return Err(TwilioError::to_equals_from(&to.text));
        }
    }

    let body_given = p.body.as_deref().is_some_and(|b| !b.is_empty());
    let content_sid = non_empty(&p.content_sid);
    if !body_given && p.media_url.is_empty() && content_sid.is_none() {
        return Err(if mss_raw.is_some() {
            TwilioError::body_or_media_required()
        } else {
            TwilioError::body_required()
        });
    }
    let smart_encoded = parse_bool("SmartEncoded", &p.smart_encoded)?;
    let raw_body = p.body.clone().unwrap_or_default();
    let body = if smart_encoded == Some(true) { encoding::smart_encode(&raw_body).into_owned() } else { raw_body };
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(TwilioError::body_too_long());
    }
    if p.media_url.len() > MAX_MEDIA {
        return Err(TwilioError::too_many_media(MAX_MEDIA));
    }
    if let Some(bad) = p.media_url.iter().find(|u| !is_http_url(u)) {
        return Err(TwilioError::invalid_media_url(bad));
    }
    if let Some(cb) = non_empty(&p.status_callback) {
        if !is_callback_url(cb) {
            return Err(TwilioError::invalid_status_callback(cb));
        }
    }
    let validity_period = match non_empty(&p.validity_period) {
        None => None,
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if VALIDITY_RANGE.contains(&n) => Some(n),
            _ => return Err(TwilioError::invalid_validity_period(v)),
        },
    };

    let content_retention = parse_enum("ContentRetention", &p.content_retention, &["retain", "discard"])?;
    let address_retention = parse_enum("AddressRetention", &p.address_retention, &["retain", "obfuscate"])?;
    let risk_check = parse_enum("RiskCheck", &p.risk_check, &["enable", "disable"])?;
    let traffic_type = parse_enum("TrafficType", &p.traffic_type, &["free"])?;
    let provide_feedback = parse_bool("ProvideFeedback", &p.provide_feedback)?;
    let force_delivery = parse_bool("ForceDelivery", &p.force_delivery)?;
    let shorten_urls = parse_bool("ShortenUrls", &p.shorten_urls)?;
    let send_as_mms = parse_bool("SendAsMms", &p.send_as_mms)?;
    let attempt = match non_empty(&p.attempt) {
        None => None,
        Some(v) => Some(v.trim().parse::<u32>().map_err(|_| {
            TwilioError::invalid_parameter(format!("Attempt must be a non-negative integer, got '{v}'"))
        })?),
    };
    let max_price = match non_empty(&p.max_price) {
        None => None,
        Some(v) => match v.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => Some(v.trim().to_string()),
            _ => return Err(TwilioError::invalid_parameter(format!("MaxPrice must be a number, got '{v}'"))),
        },
    };
    if let Some(app) = non_empty(&p.application_sid) {
        if !sid::is_valid(app, "AP") {
            return Err(TwilioError::invalid_parameter(format!(
                "ApplicationSid '{app}' is not a valid Application SID"
            )));
        }
    }
    if let Some(c) = content_sid {
        if !sid::is_valid(c, "HX") {
            return Err(TwilioError::invalid_parameter(format!("ContentSid '{c}' is not a valid Content SID")));
        }
    }
    let fallback_from = match non_empty(&p.fallback_from) {
        None => None,
        Some(f) => Some(address::parse_from(f).ok_or_else(|| TwilioError::invalid_from(f))?.text),
    };

    // Scheduling: type, then time, then the Messaging Service it requires.
    let schedule_type = non_empty(&p.schedule_type);
    let mut send_at = None;
    if let Some(st) = schedule_type {
        if st != "fixed" {
            return Err(TwilioError::bad_request(
                35126,
                format!("The ScheduleType value '{st}' is not supported. The only supported value is 'fixed'."),
            ));
        }
        let raw =
            non_empty(&p.send_at).ok_or_else(|| TwilioError::bad_request(35111, "SendAt timestamp is missing"))?;
        let at = chrono::DateTime::parse_from_rfc3339(raw.trim())
            .map_err(|_| TwilioError::invalid_parameter(format!("SendAt '{raw}' is not an ISO 8601 timestamp")))?
            .timestamp_millis();
        if mss_raw.is_none() {
            return Err(TwilioError::bad_request(35118, "MessagingServiceSid is required to schedule a message"));
        }
        let ahead = (at - now_ms) / 1000;
        if ahead < min_schedule_lead_secs {
            return Err(TwilioError::bad_request(
                35114,
                format!("SendAt must be at least {min_schedule_lead_secs} seconds in the future"),
            ));
        }
        if ahead > MAX_SCHEDULE_AHEAD_SECS {
            return Err(TwilioError::bad_request(35115, "SendAt cannot be more than 35 days in the future"));
        }
        send_at = Some(at);
    }

    // An MMS (media, or `SendAsMms=true` for a long text) is one message, whatever its length.
    let num_segments = num_segments(&to.text, &body, !p.media_url.is_empty() || send_as_mms == Some(true));
    Ok(ValidCreate {
        messaging_service_sid: mss_raw.map(str::to_string),
        num_segments,
        options: SendOptions {
            status_callback: non_empty(&p.status_callback).map(str::to_string),
            application_sid: non_empty(&p.application_sid).map(str::to_string),
            max_price,
            provide_feedback,
            attempt,
            validity_period,
            force_delivery,
            content_retention,
            address_retention,
            smart_encoded,
            persistent_action: p.persistent_action.clone(),
            traffic_type,
            shorten_urls,
            schedule_type: schedule_type.map(str::to_string),
            send_at,
            send_as_mms,
            content_variables: p.content_variables.clone(),
            risk_check,
            fallback_from,
            content_sid: content_sid.map(str::to_string),
            media_urls: p.media_url.clone(),
            tags: p.tags.clone(),
            status_callback_method: None,
            requested_from: None,
        },
        to,
        from,
        body,
    })
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.trim().is_empty())
}

/// `whatsapp:+1…` and `+1…` are the same handset.
fn same_endpoint(a: &str, b: &str) -> bool {
    let strip = |s: &str| s.rsplit(':').next().unwrap_or(s).to_string();
    strip(a) == strip(b)
}

/// Twilio's booleans are the strings `true`/`false` (any case).
pub fn parse_bool(name: &str, v: &Option<String>) -> Result<Option<bool>, TwilioError> {
    match non_empty(v) {
        None => Ok(None),
        Some(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(s) => Err(TwilioError::invalid_parameter(format!("{name} must be 'true' or 'false', got '{s}'"))),
    }
}

/// An optional enum parameter: absent or empty is `None`, a value outside `allowed` is 20001.
pub fn parse_enum(name: &str, v: &Option<String>, allowed: &[&str]) -> Result<Option<String>, TwilioError> {
    match non_empty(v) {
        None => Ok(None),
        Some(s) if allowed.contains(&s) => Ok(Some(s.to_string())),
        Some(s) => {
            Err(TwilioError::invalid_parameter(format!("{name} must be one of {}, got '{s}'", allowed.join(", "))))
        }
    }
}

fn is_http_url(s: &str) -> bool {
    url::Url::parse(s)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()))
}

/// Twilio rejects callbacks that are not http(s), longer than 4000 characters, or whose host
/// contains an underscore.
pub fn is_callback_url(s: &str) -> bool {
    s.len() <= 4000
        && is_http_url(s)
        && url::Url::parse(s).is_ok_and(|u| u.host_str().is_some_and(|h| !h.contains('_')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> CreateParams {
        CreateParams::from_pairs(pairs.iter().map(|(k, v)| (*k, v.to_string())))
    }

    fn code(pairs: &[(&str, &str)]) -> u32 {
        match validate_create(&params(pairs), 0, 300) {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.code,
        }
    }

    const TO: (&str, &str) = ("To", "+14155552671");
    const FROM: (&str, &str) = ("From", "+14155550100");
    const BODY: (&str, &str) = ("Body", "hello");

    #[test]
    fn a_built_message_is_a_fresh_one_with_counted_segments_and_media() {
        let m = Message::builder("SM1", "AC1", "+14155552671", 7).body("ж".repeat(71)).build();
        assert_eq!((m.status, m.direction, m.from.as_deref()), (Status::Queued, Direction::OutboundApi, None));
        assert_eq!((m.date_created, m.date_updated, m.date_sent), (7, 7, None));
        assert_eq!((m.price, m.price_unit.as_str(), m.error_code, m.carrier_id), (None, "USD", None, None));
        assert_eq!((m.num_segments, m.num_media), (2, 0), "71 UCS-2 characters take two segments");
        let media = SendOptions { media_urls: vec!["https://e.com/a.png".into(); 2], ..Default::default() };
        let mms = Message::builder("MM1", "AC1", "+14155552671", 7).body("ж".repeat(71)).options(media).build();
        assert_eq!((mms.num_segments, mms.num_media), (1, 2));
        let set = Message::builder("SM1", "AC1", "+14155552671", 7).body("hi").num_segments(0).build();
        assert_eq!(set.num_segments, 0);
    }

    #[test]
    fn a_plain_sms_validates_with_one_segment() {
        let v = validate_create(&params(&[TO, FROM, BODY]), 0, 300).unwrap();
        assert_eq!(v.to.text, "+14155552671");
        assert_eq!(v.num_segments, 1);
        assert_eq!(v.initial_status(), Status::Queued);
        assert_eq!(v.sid_prefix(), "SM");
    }

    #[test]
    fn repeated_media_urls_are_kept_in_order_and_make_an_mm_sid() {
        let v = validate_create(
            &params(&[TO, FROM, ("MediaUrl", "https://e.com/a.png"), ("MediaUrl", "http://e.com/b.png")]),
            0,
            300,
        )
        .unwrap();
        assert_eq!(v.options.media_urls, ["https://e.com/a.png", "http://e.com/b.png"]);
        assert_eq!(v.sid_prefix(), "MM");
    }

    #[test]
    fn each_invalid_input_gets_twilios_code() {
        assert_eq!(code(&[FROM, BODY]), 21604);
        assert_eq!(code(&[("To", "abc"), ("From", "!!"), BODY]), 21211);
        assert_eq!(code(&[TO, BODY]), 21603);
        assert_eq!(code(&[TO, ("MessagingServiceSid", "MG123"), BODY]), 21705);
        assert_eq!(code(&[TO, ("From", "!!bad!!"), BODY]), 21212);
        assert_eq!(code(&[TO, ("From", "+14155552671"), BODY]), 21266);
        assert_eq!(code(&[TO, FROM]), 21602);
        assert_eq!(code(&[TO, ("MessagingServiceSid", &format!("MG{}", "a".repeat(32)))]), 21619);
        assert_eq!(code(&[TO, FROM, ("Body", &"a".repeat(1601))]), 21617);
        let many: Vec<(&str, &str)> = std::iter::repeat_n(("MediaUrl", "https://e.com/x.png"), 11).collect();
        assert_eq!(code(&[&[TO, FROM][..], &many[..]].concat()), 21623);
        assert_eq!(code(&[TO, FROM, ("MediaUrl", "ftp://e.com/a.png")]), 21620);
        assert_eq!(code(&[TO, FROM, BODY, ("StatusCallback", "not a url")]), 21609);
        assert_eq!(code(&[TO, FROM, BODY, ("StatusCallback", "https://bad_host.com/x")]), 21609);
        assert_eq!(code(&[TO, FROM, BODY, ("ValidityPeriod", "0")]), 90007);
        assert_eq!(code(&[TO, FROM, BODY, ("ValidityPeriod", "36001")]), 90007);
        assert_eq!(code(&[TO, FROM, BODY, ("ContentRetention", "bogus")]), 20001);
        assert_eq!(code(&[TO, FROM, BODY, ("SmartEncoded", "yes")]), 20001);
        assert_eq!(code(&[TO, FROM, BODY, ("Attempt", "-1")]), 20001);
        assert_eq!(code(&[TO, FROM, BODY, ("ScheduleType", "later")]), 35126);
        assert_eq!(code(&[TO, FROM, BODY, ("ScheduleType", "fixed")]), 35111);
        assert_eq!(code(&[TO, FROM, BODY, ("ScheduleType", "fixed"), ("SendAt", "2030-01-01T00:00:00Z")]), 35118);
    }

    #[test]
    fn magic_test_numbers_answer_as_twilio_documents() {
        for (to, c) in [
            ("+15005550001", 21211),
            ("+15005550002", 21612),
            ("+15005550003", 21408),
            ("+15005550004", 21610),
            ("+15005550009", 21614),
        ] {
            assert_eq!(code(&[("To", to), ("From", "+15005550006"), BODY]), c, "{to}");
        }
        for (from, c) in [("+15005550001", 21212), ("+15005550007", 21606), ("+15005550008", 21611)] {
            assert_eq!(code(&[TO, ("From", from), BODY]), c, "{from}");
        }
    }

    #[test]
    fn schedule_window_is_enforced() {
        let mg = format!("MG{}", "a".repeat(32));
        let base = [TO, ("MessagingServiceSid", mg.as_str()), BODY, ("ScheduleType", "fixed")];
        let now = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").unwrap().timestamp_millis();
        let at = |s: &str| validate_create(&params(&[&base[..], &[("SendAt", s)]].concat()), now, 300);
        assert_eq!(at("2030-01-01T00:01:00Z").unwrap_err().code, 35114);
        assert_eq!(at("2030-03-01T00:00:00Z").unwrap_err().code, 35115);
        let ok = at("2030-01-02T00:00:00Z").unwrap();
        assert_eq!(ok.initial_status(), Status::Scheduled);
    }

    #[test]
    fn send_as_mms_makes_one_mm_message_of_a_long_text() {
        let long = "a".repeat(500);
        let v = validate_create(&params(&[TO, FROM, ("Body", &long), ("SendAsMms", "true")]), 0, 300).unwrap();
        assert_eq!((v.sid_prefix(), v.num_segments), ("MM", 1));
        let v = validate_create(&params(&[TO, FROM, ("Body", &long)]), 0, 300).unwrap();
        assert_eq!((v.sid_prefix(), v.num_segments), ("SM", 4));
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        assert!(validate_create(&params(&[TO, FROM, BODY, ("Whatever", "x")]), 0, 300).is_ok());
    }

    #[test]
    fn whatsapp_addresses_keep_their_prefix() {
        let v = validate_create(
            &params(&[("To", "whatsapp:+14155552671"), ("From", "whatsapp:+14155550100"), BODY]),
            0,
            300,
        )
        .unwrap();
        assert_eq!(v.to.text, "whatsapp:+14155552671");
        assert_eq!(v.from.unwrap().text, "whatsapp:+14155550100");
    }

    fn stored(direction: Direction, status: Status) -> Message {
        Message::builder(format!("SM{}", "0".repeat(32)), "AC1", "+14155552671", 1_000)
            .from(Some("+14155550100".into()))
            .body("secret")
            .status(status)
            .direction(direction)
            .sent_at(1_500)
            .updated_at(2_000)
            .build()
    }

    #[test]
    fn the_receipt_cutoff_is_now_minus_the_window_and_never_overflows() {
        assert_eq!(Message::receipt_cutoff(10_000, std::time::Duration::from_secs(3)), 7_000);
        assert_eq!(Message::receipt_cutoff(0, std::time::Duration::MAX), -i64::MAX);
    }

    #[test]
    fn a_sent_message_is_done_with_only_once_its_receipt_window_has_passed() {
        let sent = stored(Direction::OutboundApi, Status::Sent);
        assert!(!sent.is_done_with(1_500), "sent at the cut-off: still waiting");
        assert!(sent.is_done_with(1_501));
        let unsent_date = Message { date_sent: None, ..sent.clone() };
        assert!(!unsent_date.is_done_with(2_000) && unsent_date.is_done_with(2_001), "else its last change counts");
        assert!(stored(Direction::OutboundApi, Status::Delivered).is_done_with(0));
        assert!(!stored(Direction::OutboundApi, Status::Sending).is_done_with(i64::MAX));
    }

    #[test]
    fn retention_options_hide_the_body_and_the_other_partys_digits_only() {
        let mut out = stored(Direction::OutboundApi, Status::Delivered);
        assert_eq!(out.retained(), out, "nothing asked, nothing changed");
        out.options.address_retention = Some("obfuscate".into());
        out.options.content_retention = Some("discard".into());
        let kept = out.retained();
        assert_eq!(
            (kept.to.as_str(), kept.from.as_deref(), kept.body.as_str()),
            ("+1415555XXXX", Some("+14155550100"), "")
        );
        let mut inbound = stored(Direction::Inbound, Status::Received);
        (inbound.from, inbound.to) = (Some("whatsapp:+14155552671".into()), "whatsapp:+14155550100".into());
        inbound.options.address_retention = Some("obfuscate".into());
        let kept = inbound.retained();
        assert_eq!((kept.from.as_deref(), kept.to.as_str()), (Some("whatsapp:+1415555XXXX"), "whatsapp:+14155550100"));
        assert_eq!(kept.body, "secret");
    }
}

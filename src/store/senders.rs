//! Storage of the account's senders: phone numbers (v2010 IncomingPhoneNumbers), short codes,
//! Messaging Services (messaging v1) and their sender pools.
//!
//! The five lookups at the top of [`SenderStore`] are what the message flow relies on; the rest
//! is the CRUD behind the IncomingPhoneNumbers, ShortCodes, Services and sender-pool endpoints.
//!
//! Every list here is in SID order, which is creation order (oldest first) because SIDs carry
//! time-ordered keys. The paging [`Cursor`] keeps its meaning relative to list order:
//! `After(key)` is the page that follows that SID (newer rows), `Before(key)` the page that
//! precedes it (older rows). As with messages, rows come back in list order and a `Before`
//! page's surplus row, if any, is the first one.
//!
//! Rules kept by every engine:
//! - a phone number (E.164) or short code appears at most once per account;
//! - a sender is in at most one service of its account, and a service has at most one
//!   alphanumeric sender;
//! - deleting a service empties its pool; deleting a phone number or short code removes it from
//!   its pool.

use super::{Cursor, StoreResult};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Where a phone number's or short code's inbound messages go (`SmsUrl` and its fallback).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsWebhooks {
    /// Inbound SMS webhook; `None`: inbound messages are stored and not forwarded.
    pub url: Option<String>,
    /// `GET` or `POST`.
    pub method: String,
    /// Tried when `url` fails.
    pub fallback_url: Option<String>,
    /// `GET` or `POST`.
    pub fallback_method: String,
}

impl Default for SmsWebhooks {
    fn default() -> Self {
        SmsWebhooks { url: None, method: "POST".to_string(), fallback_url: None, fallback_method: "POST".to_string() }
    }
}

/// An IncomingPhoneNumber (`PN…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneNumber {
    /// `PN…`
    pub sid: String,
    /// The owning account.
    pub account_sid: String,
    /// E.164.
    pub phone_number: String,
    /// Shown in the console and the API; defaults to the formatted number.
    pub friendly_name: String,
    /// Where its inbound messages go.
    pub sms: SmsWebhooks,
    /// Creation time, ms.
    pub date_created: i64,
    /// Last change, ms.
    pub date_updated: i64,
}

/// A Messaging Service (`MG…`), with the settings the message flow uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// `MG…`
    pub sid: String,
    /// Owner.
    pub account_sid: String,
    /// Label.
    pub friendly_name: String,
    /// Inbound webhook (None: inbound messages are not forwarded).
    pub inbound_request_url: Option<String>,
    /// `GET` or `POST`.
    pub inbound_method: String,
    /// Tried when `inbound_request_url` fails.
    pub fallback_url: Option<String>,
    /// `GET` or `POST`.
    pub fallback_method: String,
    /// Default `StatusCallback` of its messages.
    pub status_callback: Option<String>,
    /// Keep the sender a recipient saw before.
    pub sticky_sender: bool,
    /// Apply smart encoding to its messages.
    pub smart_encoding: bool,
    /// Prefer a pool number with the recipient's area code.
    pub area_code_geomatch: bool,
    /// Default `ValidityPeriod` (seconds).
    pub validity_period: u32,
    /// The number's own `SmsUrl` wins over the service's inbound URLs.
    pub use_inbound_webhook_on_number: bool,
    /// Created, ms.
    pub date_created: i64,
    /// Updated, ms.
    pub date_updated: i64,
}

/// What kind of sender a pool member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoolKind {
    /// A phone number (`PN…`).
    PhoneNumber,
    /// A short code (`SC…`).
    ShortCode,
    /// An alphanumeric sender ID (`AI…`).
    AlphaSender,
}

/// A member of a Messaging Service's sender pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolSender {
    /// `PN…`, `SC…` or `AI…`.
    pub sid: String,
    /// The service.
    pub service_sid: String,
    /// Kind.
    pub kind: PoolKind,
    /// What goes in `From`: E.164, short code digits, or the alphanumeric ID.
    pub address: String,
    /// ISO country of a number or short code.
    pub country_code: Option<String>,
    /// Added, ms.
    pub date_created: i64,
}

/// Storage of one kind of number, `K` ([`IncomingNumber`] or [`ShortCode`]): the two kinds are
/// stored alike, so one trait serves both and each engine implements it once.
#[async_trait]
pub trait NumberStore<K: Send + 'static>: Send + Sync {
    /// Stores a new one; refused ([`Refused::Duplicate`]) when the account already has its
    /// address (E.164 number or short code digits).
    async fn insert_number(&self, record: K) -> StoreResult<Result<(), Refused>>;
    /// One of the account's, with all its settings.
    async fn number(&self, account_sid: &str, sid: &str) -> StoreResult<Option<K>>;
    /// Up to `limit` of the account's, in creation order relative to the cursor.
    async fn list_numbers(
        &self,
        account_sid: &str,
        filter: &SenderFilter,
        cursor: &Cursor,
        limit: usize,
    ) -> StoreResult<Vec<K>>;
    /// Applies `edit` atomically and stores what an update may change (the friendly name, the
    /// SMS webhooks and the kind's own settings; never its SID, account, address or creation
    /// date). `None` when the account has no such record.
    async fn update_number(&self, account_sid: &str, sid: &str, edit: Edit<K>) -> StoreResult<Option<K>>;
    /// Releases it and takes it out of its Messaging Service's pool; false when there was none.
    async fn delete_number(&self, account_sid: &str, sid: &str) -> StoreResult<bool>;
}

/// Sender storage: numbers and short codes ([`NumberStore`]), services and their pools.
#[async_trait]
pub trait SenderStore: NumberStore<IncomingNumber> + NumberStore<ShortCode> + Send + Sync {
    /// A service of the account.
    async fn service(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Service>>;
    /// A service's sender pool, oldest first.
    async fn pool(&self, service_sid: &str) -> StoreResult<Vec<PoolSender>>;
    /// The account's phone number with this E.164 address.
    async fn phone_number_by_address(&self, account_sid: &str, address: &str) -> StoreResult<Option<PhoneNumber>>;
    /// The service whose pool holds this sender address (number, short code or alpha ID).
    async fn service_of_sender(&self, account_sid: &str, address: &str) -> StoreResult<Option<Service>>;
    /// True when the account owns this sender: one of its phone numbers or short codes, or an
    /// alphanumeric ID in one of its services' pools.
    async fn owns_sender(&self, account_sid: &str, address: &str) -> StoreResult<bool>;

    // --- Messaging Services ----------------------------------------------------------------

    /// Stores a new service.
    async fn insert_service(&self, service: ServiceRecord) -> StoreResult<()>;
    /// A service of the account, with all its settings.
    async fn service_record(&self, account_sid: &str, sid: &str) -> StoreResult<Option<ServiceRecord>>;
    /// Up to `limit` services of the account, in creation order relative to the cursor.
    async fn list_services(&self, account_sid: &str, cursor: &Cursor, limit: usize) -> StoreResult<Vec<ServiceRecord>>;
    /// Applies `edit` to a service atomically (its SID and account cannot change). `None` when
    /// the account has no such service.
    async fn update_service(
        &self,
        account_sid: &str,
        sid: &str,
        edit: Edit<ServiceRecord>,
    ) -> StoreResult<Option<ServiceRecord>>;
    /// Deletes a service and empties its pool; false when there was none.
    async fn delete_service(&self, account_sid: &str, sid: &str) -> StoreResult<bool>;

    // --- sender pools ----------------------------------------------------------------------

    /// Adds a sender to a service's pool, checking in one transaction that the service and the
    /// number or short code are the account's and that the sender is in no pool yet.
    async fn add_to_pool(
        &self,
        account_sid: &str,
        service_sid: &str,
        sender: NewPoolSender,
        now_ms: i64,
    ) -> StoreResult<Result<PoolSender, Refused>>;
    /// One member of a service's pool, of this kind.
    async fn pool_sender(
        &self,
        account_sid: &str,
        service_sid: &str,
        kind: PoolKind,
        sid: &str,
    ) -> StoreResult<Option<PoolSender>>;
    /// Up to `limit` pool members of this kind, in SID order relative to the cursor; `None` when
    /// the account has no such service.
    async fn list_pool(
        &self,
        account_sid: &str,
        service_sid: &str,
        kind: PoolKind,
        cursor: &Cursor,
        limit: usize,
    ) -> StoreResult<Option<Vec<PoolSender>>>;
    /// Takes a sender out of a service's pool (an alphanumeric sender ceases to exist); false
    /// when it was not there.
    async fn remove_from_pool(
        &self,
        account_sid: &str,
        service_sid: &str,
        kind: PoolKind,
        sid: &str,
    ) -> StoreResult<bool>;
}

/// An in-place change of a stored record, applied inside the store's write transaction (so two
/// concurrent updates of one record cannot lose each other's fields).
pub type Edit<T> = Box<dyn FnOnce(&mut T) + Send>;

/// Why the store refused a change. Each maps to one Twilio error in the HTTP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The account already has this phone number or short code (the SID of the one it has).
    Duplicate(String),
    /// The service is not one of the account's.
    NoService,
    /// The phone number or short code to add is not one of the account's.
    NoSender,
    /// The sender is already in this service's pool.
    AlreadyInService,
    /// The sender is in the pool of another service of the account (that service's SID).
    InOtherService(String),
    /// The service already has an alphanumeric sender (its SID): one per service.
    AlphaSenderTaken(String),
}

/// Settings of a phone number that the message flow never reads (voice, emergency calling,
/// regulatory SIDs): stored to be echoed back by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NumberSettings {
    /// `2010-04-01` or `2008-08-01`.
    pub api_version: String,
    /// Application that handles SMS (`AP…`).
    pub sms_application_sid: Option<String>,
    /// Voice call status callback.
    pub status_callback: Option<String>,
    /// `GET` or `POST`.
    pub status_callback_method: String,
    /// Incoming call webhook.
    pub voice_url: Option<String>,
    /// `GET` or `POST`.
    pub voice_method: String,
    /// Tried when `voice_url` fails.
    pub voice_fallback_url: Option<String>,
    /// `GET` or `POST`.
    pub voice_fallback_method: String,
    /// CNAM lookups on incoming calls.
    pub voice_caller_id_lookup: bool,
    /// Application that handles calls (`AP…`).
    pub voice_application_sid: Option<String>,
    /// `voice` or `fax`.
    pub voice_receive_mode: String,
    /// SIP trunk (`TK…`).
    pub trunk_sid: Option<String>,
    /// Regulatory identity (`RI…`).
    pub identity_sid: Option<String>,
    /// Address (`AD…`).
    pub address_sid: Option<String>,
    /// `Active` or `Inactive`.
    pub emergency_status: String,
    /// Emergency address (`AD…`).
    pub emergency_address_sid: Option<String>,
    /// Regulatory bundle (`BU…`).
    pub bundle_sid: Option<String>,
}

impl Default for NumberSettings {
    fn default() -> Self {
        NumberSettings {
            api_version: "2010-04-01".to_string(),
            sms_application_sid: None,
            status_callback: None,
            status_callback_method: "POST".to_string(),
            voice_url: None,
            voice_method: "POST".to_string(),
            voice_fallback_url: None,
            voice_fallback_method: "POST".to_string(),
            voice_caller_id_lookup: false,
            voice_application_sid: None,
            voice_receive_mode: "voice".to_string(),
            trunk_sid: None,
            identity_sid: None,
            address_sid: None,
            emergency_status: "Inactive".to_string(),
            emergency_address_sid: None,
            bundle_sid: None,
        }
    }
}

/// A phone number with every setting the IncomingPhoneNumbers API shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncomingNumber {
    /// What the message flow uses.
    pub number: PhoneNumber,
    /// The rest.
    pub settings: NumberSettings,
}

/// A short code (`SC…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShortCode {
    /// `SC…`
    pub sid: String,
    /// The owning account.
    pub account_sid: String,
    /// 3–8 digits: what goes in `From`.
    pub short_code: String,
    /// ISO country it serves.
    pub country_code: String,
    /// Shown in the API; defaults to the digits.
    pub friendly_name: String,
    /// Where its inbound messages go.
    pub sms: SmsWebhooks,
    /// `2010-04-01` or `2008-08-01`.
    pub api_version: String,
    /// Creation time, ms.
    pub date_created: i64,
    /// Last change, ms.
    pub date_updated: i64,
}

/// Settings of a Messaging Service that the message flow never reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceSettings {
    /// Convert MMS to SMS with a link where MMS is unsupported.
    pub mms_converter: bool,
    /// `inherit`, `enable` or `disable`.
    pub scan_message_content: String,
    /// Obsolete in Twilio; echoed.
    pub fallback_to_long_code: bool,
    /// Validate messages synchronously.
    pub synchronous_validation: bool,
    /// A2P use case (`undeclared`, `marketing`, …).
    pub usecase: String,
    /// US A2P 10DLC registration (never, here).
    pub us_app_to_person_registered: bool,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            mms_converter: true,
            scan_message_content: "inherit".to_string(),
            fallback_to_long_code: true,
            synchronous_validation: false,
            usecase: "undeclared".to_string(),
            us_app_to_person_registered: false,
        }
    }
}

/// A Messaging Service with every setting the v1 API shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// What the message flow uses.
    pub service: Service,
    /// The rest.
    pub settings: ServiceSettings,
}

/// Filters of a phone number or short code list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderFilter {
    /// Digits the address must contain, in order; `*` stands for any one digit.
    pub address_contains: Option<String>,
    /// Exact friendly name.
    pub friendly_name: Option<String>,
}

/// A sender to add to a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewPoolSender {
    /// One of the account's phone numbers, by SID.
    PhoneNumber(String),
    /// One of the account's short codes, by SID.
    ShortCode(String),
    /// A new alphanumeric sender ID (`AI…` SID chosen by the caller).
    AlphaSender {
        /// `AI…`
        sid: String,
        /// The ID, already validated.
        alpha_sender: String,
    },
}

impl PoolKind {
    /// The SID prefix of this kind of sender.
    pub fn sid_prefix(self) -> &'static str {
        match self {
            PoolKind::PhoneNumber => "PN",
            PoolKind::ShortCode => "SC",
            PoolKind::AlphaSender => "AI",
        }
    }

    /// Stored name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolKind::PhoneNumber => "phone_number",
            PoolKind::ShortCode => "short_code",
            PoolKind::AlphaSender => "alpha_sender",
        }
    }

    /// The kind a stored name names.
    pub fn parse(s: &str) -> Option<PoolKind> {
        [PoolKind::PhoneNumber, PoolKind::ShortCode, PoolKind::AlphaSender].into_iter().find(|k| k.as_str() == s)
    }
}

/// `PN` + lowercase key: SIDs are stored with lowercase hex, while Twilio's patterns (and so the
/// SDKs) accept either case. `None` when `sid` is not a well-formed SID with this prefix.
pub fn normalize_sid(sid: &str, prefix: &str) -> Option<String> {
    switchboard_domain::sid::is_valid(sid, prefix).then(|| format!("{prefix}{}", sid[2..].to_ascii_lowercase()))
}

/// The ISO country stored with a pool phone number: libphonenumber's region, else `US` for any
/// `+1` number (the fictional `+1555…` numbers belong to no region), as sender selection assumes.
pub fn pool_country(e164: &str) -> Option<String> {
    use switchboard_domain::address::{Address, AddressKind};
    Address { text: e164.to_string(), kind: AddressKind::Phone }
        .country()
        .or_else(|| e164.starts_with("+1").then(|| "US".to_string()))
}

//! Storage of the account's senders: phone numbers (v2010 IncomingPhoneNumbers), short codes,
//! Messaging Services (messaging v1) and their sender pools.
//!
//! (skeleton: CRUD methods are being added; the lookups below are the contract the message
//! flow relies on.)

use super::StoreResult;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// An IncomingPhoneNumber (`PN…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneNumber {
    /// `PN…`
    pub sid: String,
    /// Owner.
    pub account_sid: String,
    /// E.164.
    pub phone_number: String,
    /// Label.
    pub friendly_name: String,
    /// Inbound SMS webhook.
    pub sms_url: Option<String>,
    /// `GET` or `POST`.
    pub sms_method: String,
    /// Tried when `sms_url` fails.
    pub sms_fallback_url: Option<String>,
    /// `GET` or `POST`.
    pub sms_fallback_method: String,
    /// Created, ms.
    pub date_created: i64,
    /// Updated, ms.
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

/// Sender storage.
#[async_trait]
pub trait SenderStore: Send + Sync {
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
}

//! Reading `application/x-www-form-urlencoded` bodies and query strings as raw pairs.
//!
//! axum's `Form` cannot collect repeated keys (`MediaUrl`, `PersistentAction`), and the exact
//! multiset of pairs matters, so bodies are read with a size limit and decoded with
//! `form_urlencoded` (which accepts both `+` and `%20` for spaces).

use super::error::ApiError;
use super::MAX_BODY_BYTES;
use axum::body::Body;
use switchboard_domain::TwilioError;

/// Decoded `(name, value)` pairs, in order.
pub type Pairs = Vec<(String, String)>;

/// Why a body could not be read: too large (413), or not received in time or cut off (408).
pub fn body_error(e: axum::Error) -> ApiError {
    let inner = e.into_inner();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(inner.as_ref());
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return ApiError(TwilioError::payload_too_large(MAX_BODY_BYTES));
        }
        source = e.source();
    }
    ApiError(TwilioError::new(20001, 408, "The request body was not received completely in time"))
}

/// Reads the whole body (bounded) and decodes it as a form.
pub async fn read_form(body: Body) -> Result<Pairs, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(body_error)?;
    Ok(decode(&bytes))
}

/// Decodes form/query bytes into pairs.
pub fn decode(bytes: &[u8]) -> Pairs {
    form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The last value of `name`, if present.
pub fn last<'a>(pairs: &'a Pairs, name: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

//! Every error leaves the server in Twilio's shape: `{"code","message","more_info","status"}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use switchboard_domain::TwilioError;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub TwilioError);

impl From<TwilioError> for ApiError {
    fn from(e: TwilioError) -> Self {
        ApiError(e)
    }
}

impl From<anyhow::Error> for ApiError {
    /// Internal failures are logged with their cause; the client sees only a generic 500 (a
    /// database that cannot be written: a 503 to retry).
    fn from(e: anyhow::Error) -> Self {
        // Load shedding: the write was not made; the client should slow down and retry.
        if let Some(o) = e.chain().find_map(|c| c.downcast_ref::<crate::store::Overloaded>()) {
            tracing::warn!(error = %o, "write refused: load shedding");
            return ApiError(TwilioError::unavailable("The server is overloaded; retry later"));
        }
        // A full disk is not a bug: the client may retry once space returns.
        if let Some(u) = e.chain().find_map(|c| c.downcast_ref::<crate::store::Unavailable>()) {
            tracing::warn!(error = %u, "write refused: database unavailable");
            return ApiError(TwilioError::unavailable("The database cannot be written right now; retry later"));
        }
        tracing::error!(error = %format!("{e:#}"), "internal error");
        ApiError(TwilioError::internal())
    }
}

/// The JSON body of an error (keys in Twilio's alphabetical order).
pub fn body(e: &TwilioError) -> String {
    serde_json::json!({
        "code": e.code,
        "message": e.message,
        "more_info": e.more_info(),
        "status": e.status,
    })
    .to_string()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, [(header::CONTENT_TYPE, "application/json")], body(&self.0)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"Twilio API\""));
        }
        // Every 503 (overload, a database that cannot be written, shutting down) is temporary.
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

/// Result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

//! Twilio's error catalogue: every error the API returns carries Twilio's numeric code, the
//! HTTP status Twilio uses with it, and a message in Twilio's words.
//!
//! Rendering (`{"code","message","more_info","status"}`) lives in the HTTP layer; this module
//! only decides *which* error a situation is.

use std::fmt;

/// An error as Twilio reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioError {
    /// Twilio's error code (21211, 20404, …).
    pub code: u32,
    /// The HTTP status sent with it.
    pub status: u16,
    /// Human-readable text, in Twilio's wording where known.
    pub message: String,
}

impl fmt::Display for TwilioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for TwilioError {}

impl TwilioError {
    /// An error with an explicit code, status and message.
    pub fn new(code: u32, status: u16, message: impl Into<String>) -> Self {
        Self { code, status, message: message.into() }
    }

    /// A 400 with the given code.
    pub fn bad_request(code: u32, message: impl Into<String>) -> Self {
        Self::new(code, 400, message)
    }

    /// Twilio's documentation page for the code.
    pub fn more_info(&self) -> String {
        format!("https://www.twilio.com/docs/errors/{}", self.code)
    }

    // --- platform errors -------------------------------------------------------------------

    /// 20001: a parameter has an invalid value (generic).
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::bad_request(20001, message)
    }

    /// 20001 for a bad date filter, in Twilio's words.
    pub fn invalid_date() -> Self {
        Self::bad_request(20001, "Invalid date value.")
    }

    /// 20003: missing or wrong credentials.
    pub fn authenticate() -> Self {
        Self::new(20003, 401, "Authenticate")
    }

    /// 20404: no such resource (also used for other accounts' resources).
    pub fn not_found(path: &str) -> Self {
        Self::new(20404, 404, format!("The requested resource {path} was not found"))
    }

    /// 20004: the resource exists but not with this HTTP method.
    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(20004, 405, format!("The requested method {method} is not supported for this resource"))
    }

    /// 20009: deleting (or redacting) a message that is not in a final state.
    pub fn not_complete(action: &str, status: &str) -> Self {
        Self::bad_request(20009, format!("Cannot {action} this resource before it is complete (status: {status})"))
    }

    /// 20500: something broke on our side; details are logged, not shown.
    pub fn internal() -> Self {
        Self::new(20500, 500, "An internal server error has occurred")
    }

    /// 20503: the server cannot take the request now (shutting down, database full); the
    /// client may retry later.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(20503, 503, message)
    }

    /// 413: a request body larger than we accept (Twilio publishes no code for it; 20001).
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(20001, 413, format!("The request body exceeds the limit of {limit} bytes"))
    }

    /// 21481: a `PageToken` we did not issue.
    pub fn invalid_page_token() -> Self {
        Self::bad_request(21481, "Invalid PageToken")
    }

    /// 70002: a deep `Page` asked for without the `PageToken` that positions it.
    pub fn page_token_required() -> Self {
        Self::bad_request(70002, "Paged requests must include a PageToken")
    }

    // --- create validation -----------------------------------------------------------------

    /// 21604: no `To`.
    pub fn to_required() -> Self {
        Self::bad_request(21604, "A 'To' phone number is required.")
    }

    /// 21211: `To` is not a valid address.
    pub fn invalid_to(to: &str) -> Self {
        Self::bad_request(21211, format!("The 'To' number {to} is not a valid phone number."))
    }

    /// 21603: neither `From` nor `MessagingServiceSid`.
    pub fn from_required() -> Self {
        Self::bad_request(21603, "A 'From' phone number is required.")
    }

    /// 21602: no body, media or content (without a Messaging Service).
    pub fn body_required() -> Self {
        Self::bad_request(21602, "Message body is required.")
    }

    /// 21619: no body, media or content (with a Messaging Service).
    pub fn body_or_media_required() -> Self {
        Self::bad_request(21619, "A text message body or media urls must be specified.")
    }

    /// 21617: body over 1600 characters.
    pub fn body_too_long() -> Self {
        Self::bad_request(21617, "The concatenated message body exceeds the 1600 character limit.")
    }

    /// 21623: more than 10 media URLs.
    pub fn too_many_media(max: usize) -> Self {
        Self::bad_request(21623, format!("The number of media files exceeds the allowed limit of {max}."))
    }

    /// 21620: a media URL that is not an absolute http(s) URL.
    pub fn invalid_media_url(url: &str) -> Self {
        Self::bad_request(21620, format!("Media urls: {url} are invalid. Please use only valid http and https urls"))
    }

    /// 21609: a bad `StatusCallback`.
    pub fn invalid_status_callback(url: &str) -> Self {
        Self::bad_request(21609, format!("The StatusCallback URL {url} is not a valid URL."))
    }

    /// 21212: `From` is not a phone number, short code or alphanumeric sender ID.
    pub fn invalid_from(from: &str) -> Self {
        Self::bad_request(
            21212,
            format!("The 'From' number {from} is not a valid phone number, shortcode, or alphanumeric sender ID."),
        )
    }

    /// 21606: `From` cannot send for this account/destination.
    pub fn from_not_owned(from: &str) -> Self {
        Self::bad_request(
            21606,
            format!("The From phone number {from} is not a valid, SMS-capable inbound phone number or short code for your account."),
        )
    }

    /// 21611: the sender's queue is full.
    pub fn queue_full(from: &str) -> Self {
        Self::bad_request(
            21611,
            format!("This 'From' number {from} has exceeded the maximum number of queued messages."),
        )
    }

    /// 21266: `To` and `From` are the same.
    pub fn to_equals_from(to: &str) -> Self {
        Self::bad_request(21266, format!("'To' and 'From' numbers cannot be the same: {to}"))
    }

    /// 21705: `MessagingServiceSid` is not an `MG…` SID.
    pub fn invalid_messaging_service(sid: &str) -> Self {
        Self::bad_request(21705, format!("The Messaging Service Sid {sid} is invalid."))
    }

    /// 90007: `ValidityPeriod` outside 1–36000.
    pub fn invalid_validity_period(value: &str) -> Self {
        Self::bad_request(
            90007,
            format!("Invalid validity period value: {value}. The value must be between 1 and 36000 seconds."),
        )
    }

    /// 21612: no route between the two numbers.
    pub fn unroutable(to: &str, from: &str) -> Self {
        Self::bad_request(
            21612,
            format!("The 'To' phone number: {to}, is not currently reachable using the 'From' phone number: {from} via SMS."),
        )
    }

    /// 21408: the destination's region is not enabled.
    pub fn region_not_enabled(to: &str) -> Self {
        Self::bad_request(
            21408,
            format!(
                "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}."
            ),
        )
    }

    /// 21610: the recipient opted out.
    pub fn unsubscribed(to: &str) -> Self {
        Self::bad_request(21610, format!("Attempt to send to unsubscribed recipient {to}"))
    }

    /// 21614: the destination cannot receive SMS.
    pub fn not_mobile(to: &str) -> Self {
        Self::bad_request(21614, format!("'To' number {to} is not a valid mobile number"))
    }

    // --- update ----------------------------------------------------------------------------

    /// 30409: `Status=canceled` on a message that is not `scheduled`.
    pub fn cannot_cancel() -> Self {
        Self::bad_request(30409, "This message cannot be canceled")
    }

    // --- delivery: a message's own `ErrorCode`/`ErrorMessage` -------------------------------
    // These fail a message after its create was answered, so no response carries them; their
    // HTTP status is nominal (400).

    /// A message's failure with the given code and detail.
    pub fn message_failed(code: u32, message: impl Into<String>) -> Self {
        Self::bad_request(code, message)
    }

    /// A carrier's rejection or receipt code, with Twilio's short description of it.
    pub fn delivery(code: u32) -> Self {
        Self::message_failed(code, delivery_text(code))
    }

    /// 21701: the message's Messaging Service was deleted before a sender was chosen.
    pub fn service_gone() -> Self {
        Self::message_failed(21701, "The Messaging Service does not exist")
    }

    /// 21704: no sender in the Messaging Service's pool can reach the recipient.
    pub fn no_sender_in_pool() -> Self {
        Self::message_failed(21704, "No sender in the Messaging Service's pool can reach this recipient")
    }

    /// 21610 on a Messaging Service message: the recipient opted out of the chosen sender or
    /// of the service (unlike [`TwilioError::unsubscribed`], the text names no number).
    pub fn opted_out() -> Self {
        Self::message_failed(21610, "Attempt to send to unsubscribed recipient")
    }

    /// 21612 on an RCS message: the device does not take RCS and no SMS sender can reach it.
    pub fn no_rcs_fallback() -> Self {
        Self::message_failed(21612, "The recipient does not take RCS and no SMS sender can reach it")
    }

    /// 63016: a freeform WhatsApp message outside the 24-hour customer-service window.
    pub fn outside_whatsapp_window() -> Self {
        Self::delivery(63016)
    }

    /// 30036: the message waited in its queue longer than its `ValidityPeriod`.
    pub fn validity_expired() -> Self {
        Self::delivery(30036)
    }
}

/// Twilio's short description of a delivery error code ("Unknown error" for codes it lacks).
fn delivery_text(code: u32) -> &'static str {
    match code {
        30001 => "Queue overflow",
        30002 => "Account suspended",
        30003 => "Unreachable destination handset",
        30004 => "Message blocked",
        30005 => "Unknown destination handset",
        30006 => "Landline or unreachable carrier",
        30007 => "Message filtered",
        30009 => "Missing inbound segment",
        30036 => "Validity period expired",
        63016 => "Failed to send freeform message because you are outside the allowed window. Please use a Template.",
        _ => "Unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_info_points_at_the_code_page() {
        assert_eq!(TwilioError::to_required().more_info(), "https://www.twilio.com/docs/errors/21604");
    }

    #[test]
    fn each_constructor_carries_twilios_code_and_status() {
        let cases = [
            (TwilioError::authenticate(), 20003, 401),
            (TwilioError::not_found("/x"), 20404, 404),
            (TwilioError::method_not_allowed("PUT"), 20004, 405),
            (TwilioError::invalid_to("abc"), 21211, 400),
            (TwilioError::invalid_validity_period("0"), 90007, 400),
            (TwilioError::cannot_cancel(), 30409, 400),
        ];
        for (e, code, status) in cases {
            assert_eq!((e.code, e.status), (code, status), "{e}");
        }
        assert_eq!(TwilioError::invalid_to("abc").message, "The 'To' number abc is not a valid phone number.");
    }

    #[test]
    fn delivery_codes_carry_twilios_short_description() {
        assert_eq!(TwilioError::delivery(30003).message, "Unreachable destination handset");
        assert_eq!(TwilioError::validity_expired(), TwilioError::delivery(30036));
        assert_eq!(TwilioError::validity_expired().message, "Validity period expired");
        assert_eq!(TwilioError::outside_whatsapp_window().code, 63016);
    }

    #[test]
    fn an_unknown_delivery_code_keeps_its_code_with_a_generic_text() {
        let e = TwilioError::delivery(30999);
        assert_eq!((e.code, e.message.as_str()), (30999, "Unknown error"));
        assert_eq!(TwilioError::delivery(30008).message, "Unknown error");
    }
}

//! Webhooks: signing, the bounded HTTP client, status callbacks, inbound messages and TwiML.

pub mod client;
pub mod policy;
pub mod signature;

/// Where a webhook request goes and what its body carries: for GET, Twilio puts the
/// parameters in the query string (and signs that full URL); for POST, in the form body.
pub fn target_and_body(method: &str, url: &str, params: &[(String, String)]) -> (String, Vec<(String, String)>) {
    if method.eq_ignore_ascii_case("GET") {
        if params.is_empty() {
            return (url.to_string(), Vec::new());
        }
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            q.append_pair(k, v);
        }
        let sep = if url.contains('?') { '&' } else { '?' };
        (format!("{url}{sep}{}", q.finish()), Vec::new())
    } else {
        (url.to_string(), params.to_vec())
    }
}

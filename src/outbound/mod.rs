//! Outbound HTTP: the bounded client that status callbacks, inbound webhooks, media downloads
//! and click events go through, the address policy it enforces, Twilio's request signature and
//! the URL-fragment overrides. It knows nothing of messages or storage: it imports only the
//! domain and the leaf modules.

pub mod client;
pub mod overrides;
pub mod policy;
pub mod signature;

use std::borrow::Cow;
use std::fmt;

/// The method of an outbound request: webhooks and callbacks use GET or POST, nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Parameters in the query string.
    Get,
    /// Parameters in a form (or JSON) body.
    Post,
}

impl Method {
    /// Reads a method as API callers and TwiML write it, in any case.
    pub fn parse(method: &str) -> Result<Method, UnsupportedMethod> {
        if method.eq_ignore_ascii_case("GET") {
            Ok(Method::Get)
        } else if method.eq_ignore_ascii_case("POST") {
            Ok(Method::Post)
        } else {
            Err(UnsupportedMethod(method.to_ascii_uppercase()))
        }
    }

    /// `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A method other than GET or POST, upper-cased: such a request is refused before sending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported method {0:?}; webhooks use GET or POST")]
pub struct UnsupportedMethod(pub String);

/// Where a request goes and what its form body carries: for GET, Twilio puts the parameters in
/// the query string (and signs that full URL); for POST, in the form body. The client builds a
/// GET's URL here too, so the URL a caller signs is the URL sent. A POST borrows both (no
/// copy of the parameters per request).
pub fn target_and_body<'a>(
    method: Method,
    url: &'a str,
    params: &'a [(String, String)],
) -> (Cow<'a, str>, Cow<'a, [(String, String)]>) {
    match method {
        Method::Get if params.is_empty() => (Cow::Borrowed(url), Cow::Borrowed(&[])),
        Method::Get => {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in params {
                q.append_pair(k, v);
            }
            // Appending keeps the existing query text as written (a receiver signs it as written).
            let sep = if url.contains('?') { '&' } else { '?' };
            (Cow::Owned(format!("{url}{sep}{}", q.finish())), Cow::Borrowed(&[]))
        }
        Method::Post => (Cow::Borrowed(url), Cow::Borrowed(params)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn methods_parse_in_any_case_and_anything_else_is_refused_upper_cased() {
        assert_eq!(Method::parse("get"), Ok(Method::Get));
        assert_eq!(Method::parse("Post"), Ok(Method::Post));
        let refused = Method::parse("put").unwrap_err();
        assert_eq!(refused.to_string(), "unsupported method \"PUT\"; webhooks use GET or POST");
        assert!(Method::parse("").is_err());
    }

    #[test]
    fn a_get_carries_its_parameters_after_the_existing_query() {
        let p = params(&[("MessageSid", "SM1"), ("Body", "a b&c")]);
        let (target, body) = target_and_body(Method::Get, "https://e.com/cb?x=1", &p);
        assert_eq!((target.as_ref(), body.as_ref()), ("https://e.com/cb?x=1&MessageSid=SM1&Body=a+b%26c", &[][..]));
        assert_eq!(
            target_and_body(Method::Get, "https://e.com/cb", &p).0,
            "https://e.com/cb?MessageSid=SM1&Body=a+b%26c"
        );
        let (target, body) = target_and_body(Method::Get, "https://e.com/cb", &[]);
        assert_eq!((target.as_ref(), body.is_empty()), ("https://e.com/cb", true));
    }

    #[test]
    fn a_post_keeps_the_url_and_carries_the_parameters_in_its_body() {
        let p = params(&[("To", "+1")]);
        let (target, body) = target_and_body(Method::Post, "https://e.com/cb?x=1", &p);
        assert_eq!((target.as_ref(), body.as_ref()), ("https://e.com/cb?x=1", p.as_slice()));
        assert!(matches!(body, Cow::Borrowed(_)), "a POST's parameters are not copied");
    }
}

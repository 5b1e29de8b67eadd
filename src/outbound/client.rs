//! The one HTTP client for webhooks, status callbacks and media: bounded in time, in response
//! size and in which addresses it may reach.
//!
//! URLs come from API callers and responses from their servers, so nothing here trusts either:
//! every request has timeouts, bodies are read up to a limit, redirects are not followed (a
//! redirect could point past the address policy), and every failure comes back as data in an
//! [`Attempt`] rather than an error or a panic.

use super::policy::{AddressPolicy, NotAllowed, PolicyResolver};
use super::{target_and_body, Method, UnsupportedMethod};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use std::borrow::Cow;
use std::collections::HashMap;
use std::error::Error as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use url::{Host, Url};

/// What Twilio's webhooks send as `User-Agent`; some receivers look for it.
const USER_AGENT: &str = "TwilioProxy/1.1";
/// Clients kept per connect timeout; fragments can ask for many values, so the cache is bounded.
const CLIENT_CACHE_LIMIT: usize = 16;

/// Timeouts and retry settings of one request, from config defaults overridden by the URL fragment.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSettings {
    /// Time allowed to establish the connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time allowed from sending the request to the end of the response body.
    pub read_timeout: Duration,
    /// Cap on one whole attempt, connection included.
    pub total_timeout: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Which failures are retried.
    pub retry_on: RetryOn,
}

impl Default for RequestSettings {
    fn default() -> RequestSettings {
        RequestSettings {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(15),
            total_timeout: Duration::from_secs(20),
            max_attempts: 5,
            retry_on: RetryOn::default(),
        }
    }
}

/// Which failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOn {
    /// The connection could not be made (refused, unreachable, DNS, TLS, connect timeout).
    pub connect: bool,
    /// No complete response within the read or total timeout.
    pub timeout: bool,
    /// The receiver answered 4xx.
    pub http_4xx: bool,
    /// The receiver answered 5xx.
    pub http_5xx: bool,
}

impl Default for RetryOn {
    fn default() -> RetryOn {
        // A 4xx is the receiver rejecting the request; sending it again would not change that.
        RetryOn { connect: true, timeout: true, http_4xx: false, http_5xx: true }
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// Time from starting the attempt to its end, body included.
    pub latency: Duration,
    /// What went wrong beyond the status: connect error, timeout, policy refusal, body too large…
    pub error: Option<String>,
    /// Why the attempt failed; `None` for a 2xx with its whole body read.
    pub failure: Option<FailureKind>,
    /// Response body, at most the client's `max_response_bytes` (a longer one is cut, and fails
    /// with `Body` on a 2xx).
    pub body: Vec<u8>,
    /// The response's `Content-Type`, if a response arrived with one.
    pub content_type: Option<String>,
}

/// Why an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No usable connection: refused, unreachable, DNS or TLS failure, connect timeout, or the
    /// connection dropped before a response.
    Connect,
    /// No complete response within the read or total timeout.
    Timeout,
    /// The receiver answered 4xx.
    Http4xx,
    /// The receiver answered 5xx.
    Http5xx,
    /// The receiver answered something neither 2xx, 4xx nor 5xx (e.g. a redirect, which is not
    /// followed).
    HttpOther,
    /// Refused before sending: an address the policy forbids, or a request this client will not
    /// make (bad URL, scheme, method or header).
    Policy,
    /// A 2xx whose body was too large or could not be read.
    Body,
}

impl Attempt {
    /// Whether the attempt succeeded (a 2xx, body read).
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }

    /// Whether `retry_on` says to try again; policy refusals, odd statuses and body failures never are.
    pub fn retryable(&self, retry_on: &RetryOn) -> bool {
        match self.failure {
            None => false,
            Some(FailureKind::Connect) => retry_on.connect,
            Some(FailureKind::Timeout) => retry_on.timeout,
            Some(FailureKind::Http4xx) => retry_on.http_4xx,
            Some(FailureKind::Http5xx) => retry_on.http_5xx,
            Some(FailureKind::HttpOther | FailureKind::Policy | FailureKind::Body) => false,
        }
    }

    /// A request refused before sending because its method is neither GET nor POST: the
    /// attempt a caller records when the method it was given does not parse.
    pub fn unsupported_method(refusal: &UnsupportedMethod) -> Attempt {
        Attempt::failed(FailureKind::Policy, refusal.to_string())
    }

    fn failed(kind: FailureKind, error: String) -> Attempt {
        Attempt {
            status: None,
            latency: Duration::ZERO,
            error: Some(error),
            failure: Some(kind),
            body: Vec::new(),
            content_type: None,
        }
    }
}

/// What a request carries, and so its method.
#[derive(Clone, Copy)]
enum Payload<'a> {
    /// Form parameters: the body of a POST, the query of a GET.
    Form(Method, &'a [(String, String)]),
    /// A JSON document, POSTed.
    Json(&'a str),
}

/// One shared client for webhooks, callbacks and media: rustls, no redirects, no environment
/// proxy, the address policy enforced, `User-Agent: TwilioProxy/1.1`, bounded response bodies.
/// Cheap to clone.
#[derive(Clone)]
pub struct WebhookClient {
    inner: Arc<Inner>,
}

struct Inner {
    policy: AddressPolicy,
    max_response_bytes: usize,
    /// reqwest sets the connect timeout per client, not per request: one client per value.
    clients: Mutex<HashMap<u64, reqwest::Client>>,
}

impl WebhookClient {
    /// A client enforcing `policy` and reading at most `max_response_bytes` of each response body.
    pub fn new(policy: AddressPolicy, max_response_bytes: usize) -> anyhow::Result<WebhookClient> {
        let connect_ms = millis(RequestSettings::default().connect_timeout);
        // Building one now surfaces a broken TLS setup at start rather than on the first webhook.
        let first = build_client(&policy, connect_ms)
            .map_err(|e| anyhow::anyhow!("building the webhook HTTP client: {}", describe(&e)))?;
        let clients = Mutex::new(HashMap::from([(connect_ms, first)]));
        Ok(WebhookClient { inner: Arc::new(Inner { policy, max_response_bytes, clients }) })
    }

    /// Sends one request: POST puts `params` in a form body, GET appends them to the query as
    /// [`target_and_body`] does; `headers` are extra headers. Never fails: every failure is
    /// described in the [`Attempt`].
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        params: &[(String, String)],
        headers: &[(&str, String)],
        settings: &RequestSettings,
    ) -> Attempt {
        self.send_payload(url, Payload::Form(method, params), headers, settings).await
    }

    /// Sends like [`send`](Self::send), then again at once while the failure is retryable under
    /// `settings.retry_on` and fewer than `settings.max_attempts` were made; the last attempt.
    pub async fn send_with_retries(
        &self,
        method: Method,
        url: &str,
        params: &[(String, String)],
        headers: &[(&str, String)],
        settings: &RequestSettings,
    ) -> Attempt {
        let mut attempts = 0;
        loop {
            let attempt = self.send(method, url, params, headers, settings).await;
            attempts += 1;
            if !(attempt.retryable(&settings.retry_on) && attempts < settings.max_attempts) {
                return attempt;
            }
        }
    }

    /// POSTs a JSON document (event notifications such as link clicks), bounded like
    /// [`send`](Self::send).
    pub async fn send_json(&self, url: &str, json: &str, settings: &RequestSettings) -> Attempt {
        self.send_payload(url, Payload::Json(json), &[], settings).await
    }

    async fn send_payload(
        &self,
        url: &str,
        payload: Payload<'_>,
        headers: &[(&str, String)],
        settings: &RequestSettings,
    ) -> Attempt {
        let started = Instant::now();
        // reqwest's per-request timeout already covers connect to end of body; this outer one
        // also holds when the connect timeout is longer than the total.
        let mut attempt =
            match tokio::time::timeout(settings.total_timeout, self.attempt(url, payload, headers, settings)).await {
                Ok(attempt) => attempt,
                Err(_) => Attempt::failed(
                    FailureKind::Timeout,
                    format!("no complete response within the total timeout of {} ms", millis(settings.total_timeout)),
                ),
            };
        attempt.latency = started.elapsed();
        attempt
    }

    async fn attempt(
        &self,
        url: &str,
        payload: Payload<'_>,
        headers: &[(&str, String)],
        settings: &RequestSettings,
    ) -> Attempt {
        let client = match self.client(millis(settings.connect_timeout)) {
            Ok(client) => client,
            Err(e) => return Attempt::failed(FailureKind::Connect, format!("building HTTP client: {}", describe(&e))),
        };
        let request = match self.prepare(&client, url, payload, headers, settings) {
            Ok(request) => request,
            Err(refusal) => {
                tracing::debug!(error = %refusal, "webhook request refused before sending");
                return Attempt::failed(FailureKind::Policy, refusal);
            }
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                let (kind, error) = classify(&e, settings);
                return Attempt::failed(kind, error);
            }
        };
        let status = response.status().as_u16();
        let content_type =
            response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_string());
        let (body, body_error) = read_body(response, self.inner.max_response_bytes).await;
        let (failure, error) = match (status_failure(status), body_error) {
            (None, None) => (None, None),
            (None, Some((kind, error))) => (Some(kind), Some(error)),
            // The status decides a non-2xx; a body problem is only worth noting.
            (Some(kind), body_error) => {
                let redirect =
                    (300..400).contains(&status).then(|| format!("HTTP {status}: redirects are not followed"));
                (Some(kind), body_error.map(|(_, e)| e).or(redirect))
            }
        };
        Attempt { status: Some(status), latency: Duration::ZERO, error, failure, body, content_type }
    }

    /// Builds the request, or says why it must not be sent.
    fn prepare(
        &self,
        client: &reqwest::Client,
        url: &str,
        payload: Payload<'_>,
        headers: &[(&str, String)],
        settings: &RequestSettings,
    ) -> Result<reqwest::RequestBuilder, String> {
        // A GET's query comes from `target_and_body`, as the URL its caller signed did.
        let url = match payload {
            Payload::Form(Method::Get, params) => target_and_body(Method::Get, url, params).0,
            _ => Cow::Borrowed(url),
        };
        let target = Url::parse(&url).map_err(|e| format!("invalid URL: {e}"))?;
        if !matches!(target.scheme(), "http" | "https") {
            return Err(format!("unsupported URL scheme {:?}; webhooks use http or https", target.scheme()));
        }
        // The resolver never sees IP-literal hosts, so those are checked here.
        let literal = match target.host() {
            Some(Host::Ipv4(ip)) => Some(ip.into()),
            Some(Host::Ipv6(ip)) => Some(ip.into()),
            Some(Host::Domain(name)) => {
                if !self.inner.policy.allows_host_name(name) {
                    return Err(format!("host {name} not allowed by policy {}", self.inner.policy.as_str()));
                }
                None
            }
            None => return Err("invalid URL: no host".to_string()),
        };
        if let Some(ip) = literal {
            if !self.inner.policy.allows(ip) {
                return Err(format!("address not allowed by policy {}: {ip}", self.inner.policy.as_str()));
            }
        }
        let mut header_map = HeaderMap::with_capacity(headers.len() + 1);
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name {name:?}"))?;
            let value = HeaderValue::from_str(value).map_err(|_| format!("invalid value for header {name}"))?;
            header_map.append(name, value);
        }
        let builder = match payload {
            Payload::Form(Method::Get, _) => client.get(target),
            Payload::Form(Method::Post, params) => {
                header_map.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
                client.post(target).body(form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish())
            }
            Payload::Json(json) => {
                header_map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                client.post(target).body(json.to_string())
            }
        };
        Ok(builder.headers(header_map).timeout(settings.read_timeout.min(settings.total_timeout)))
    }

    /// The cached client for this connect timeout, built on first use.
    fn client(&self, connect_ms: u64) -> Result<reqwest::Client, reqwest::Error> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still usable.
        if let Some(client) = self.inner.clients.lock().unwrap_or_else(PoisonError::into_inner).get(&connect_ms) {
            return Ok(client.clone());
        }
        let client = build_client(&self.inner.policy, connect_ms)?;
        let mut clients = self.inner.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if clients.len() >= CLIENT_CACHE_LIMIT && !clients.contains_key(&connect_ms) {
            if let Some(&evicted) = clients.keys().next() {
                clients.remove(&evicted);
            }
        }
        clients.insert(connect_ms, client.clone());
        Ok(client)
    }
}

fn build_client(policy: &AddressPolicy, connect_ms: u64) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(USER_AGENT)
        .connect_timeout(Duration::from_millis(connect_ms))
        .dns_resolver(Arc::new(PolicyResolver::new(policy.clone())))
        .build()
}

/// Reads the body up to `limit` bytes; past that, or on a read error, returns what it has and why it stopped.
async fn read_body(mut response: reqwest::Response, limit: usize) -> (Vec<u8>, Option<(FailureKind, String)>) {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(None) => return (body, None),
            Ok(Some(chunk)) => {
                let room = limit.saturating_sub(body.len());
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    return (body, Some((FailureKind::Body, format!("response body larger than {limit} bytes"))));
                }
                body.extend_from_slice(&chunk);
            }
            Err(e) if e.is_timeout() => {
                return (
                    body,
                    Some((FailureKind::Timeout, format!("timed out reading the response body: {}", describe(&e)))),
                )
            }
            Err(e) => return (body, Some((FailureKind::Body, format!("reading the response body: {}", describe(&e))))),
        }
    }
}

fn status_failure(status: u16) -> Option<FailureKind> {
    match status {
        200..=299 => None,
        400..=499 => Some(FailureKind::Http4xx),
        500..=599 => Some(FailureKind::Http5xx),
        _ => Some(FailureKind::HttpOther),
    }
}

/// Sorts a failed send into a kind, with a message.
fn classify(e: &reqwest::Error, settings: &RequestSettings) -> (FailureKind, String) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(refusal) = err.downcast_ref::<NotAllowed>() {
            return (FailureKind::Policy, refusal.to_string());
        }
        source = err.source();
    }
    // A connect timeout is both "connect" and "timeout"; Twilio's `rp=ct` covers it, so connect wins.
    if e.is_connect() {
        (FailureKind::Connect, describe(e))
    } else if e.is_timeout() {
        let ms = millis(settings.read_timeout.min(settings.total_timeout));
        (FailureKind::Timeout, format!("no complete response within {ms} ms"))
    } else {
        (FailureKind::Connect, describe(e))
    }
}

/// The error and its causes on one line, without the URL (it may carry a query worth keeping out of logs).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut source = e.source();
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn client(policy: AddressPolicy) -> WebhookClient {
        WebhookClient::new(policy, 1024).unwrap()
    }

    fn quick() -> RequestSettings {
        RequestSettings {
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(5),
            ..Default::default()
        }
    }

    /// Reads one HTTP/1.1 request (headers, then `Content-Length` bytes of body).
    async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                if buf.len() >= end + 4 + length {
                    return String::from_utf8(buf).unwrap();
                }
            }
            let n = stream.read(&mut chunk).await.unwrap();
            if n == 0 {
                return String::from_utf8(buf).unwrap();
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// A one-shot server answering `response` verbatim; the handle yields the request it got.
    async fn serve(response: String) -> (SocketAddr, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let request = read_request(&mut stream).await;
            stream.write_all(response.as_bytes()).await.unwrap();
            stream.shutdown().await.unwrap();
            request
        });
        (addr, handle)
    }

    fn reply(status: &str, body: &str) -> String {
        format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
    }

    #[tokio::test]
    async fn post_delivers_a_form_body_and_the_extra_headers() {
        let (addr, server) = serve(reply("200 OK", "ok")).await;
        let p = params(&[("To", "+1 555"), ("Body", "héllo&x=y")]);
        let headers = [("X-Twilio-Signature", "c2ln".to_string()), ("I-Twilio-Idempotency-Token", "tok".to_string())];
        let attempt = client(AddressPolicy::AllowAll)
            .send(Method::Post, &format!("http://{addr}/cb?x=1"), &p, &headers, &quick())
            .await;
        assert!(attempt.ok(), "{attempt:?}");
        assert_eq!((attempt.status, attempt.failure, attempt.error.as_deref()), (Some(200), None, None));
        assert_eq!(attempt.body, b"ok");
        let request = server.await.unwrap();
        let lower = request.to_ascii_lowercase();
        assert!(request.starts_with("POST /cb?x=1 HTTP/1.1\r\n"), "{request}");
        assert!(lower.contains("\r\ncontent-type: application/x-www-form-urlencoded\r\n"), "{request}");
        assert!(lower.contains("\r\nuser-agent: twilioproxy/1.1\r\n"), "{request}");
        assert!(lower.contains("\r\nx-twilio-signature: c2ln\r\n"), "{request}");
        assert!(lower.contains("\r\ni-twilio-idempotency-token: tok\r\n"), "{request}");
        assert!(request.ends_with("\r\n\r\nTo=%2B1+555&Body=h%C3%A9llo%26x%3Dy"), "{request}");
    }

    #[tokio::test]
    async fn get_appends_params_after_the_existing_query_and_sends_no_body() {
        let (addr, server) = serve(reply("204 No Content", "")).await;
        let p = params(&[("MessageSid", "SM1"), ("Body", "a b")]);
        let attempt = client(AddressPolicy::AllowAll)
            .send(Method::parse("get").unwrap(), &format!("http://{addr}/cb?x=1"), &p, &[], &quick())
            .await;
        assert!(attempt.ok(), "{attempt:?}");
        let request = server.await.unwrap();
        assert!(request.starts_with("GET /cb?x=1&MessageSid=SM1&Body=a+b HTTP/1.1\r\n"), "{request}");
        assert!(request.ends_with("\r\n\r\n"), "{request}");
        assert!(!request.to_ascii_lowercase().contains("content-type"), "{request}");
    }

    #[tokio::test]
    async fn get_without_params_requests_the_url_unchanged() {
        let (addr, server) = serve(reply("200 OK", "")).await;
        let attempt =
            client(AddressPolicy::AllowAll).send(Method::Get, &format!("http://{addr}/cb"), &[], &[], &quick()).await;
        assert!(attempt.ok(), "{attempt:?}");
        assert!(server.await.unwrap().starts_with("GET /cb HTTP/1.1\r\n"));
    }

    #[tokio::test]
    async fn server_error_is_http5xx_and_retryable_by_default() {
        let (addr, _server) = serve(reply("500 Internal Server Error", "boom")).await;
        let attempt =
            client(AddressPolicy::AllowAll).send(Method::Post, &format!("http://{addr}/"), &[], &[], &quick()).await;
        assert_eq!((attempt.status, attempt.failure), (Some(500), Some(FailureKind::Http5xx)));
        assert_eq!(attempt.body, b"boom");
        assert!(!attempt.ok());
        assert!(attempt.retryable(&RetryOn::default()));
        assert!(!attempt.retryable(&RetryOn { http_5xx: false, ..RetryOn::default() }));
    }

    /// A server answering each of `responses` to one connection in turn; the handle yields how
    /// many requests it served.
    async fn serve_each(responses: Vec<String>) -> (SocketAddr, tokio::task::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = tokio::spawn(async move {
            let mut served = 0;
            for response in responses {
                let Ok(Ok((mut stream, _))) = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await
                else {
                    break;
                };
                read_request(&mut stream).await;
                stream.write_all(response.as_bytes()).await.unwrap();
                stream.shutdown().await.unwrap();
                served += 1;
            }
            served
        });
        (addr, handle)
    }

    #[tokio::test]
    async fn send_with_retries_sends_again_while_the_failure_is_retryable() {
        let (addr, server) = serve_each(vec![
            reply("503 Service Unavailable", ""),
            reply("500 Internal Server Error", ""),
            reply("200 OK", ""),
        ])
        .await;
        let settings = RequestSettings { max_attempts: 3, ..quick() };
        let attempt = client(AddressPolicy::AllowAll)
            .send_with_retries(Method::Post, &format!("http://{addr}/"), &[], &[], &settings)
            .await;
        assert!(attempt.ok(), "{attempt:?}");
        assert_eq!(server.await.unwrap(), 3);
    }

    #[tokio::test]
    async fn send_with_retries_stops_at_max_attempts_and_at_a_failure_not_retried() {
        let (addr, server) = serve_each(vec![reply("500 Internal Server Error", ""); 3]).await;
        let settings = RequestSettings { max_attempts: 2, ..quick() };
        let attempt = client(AddressPolicy::AllowAll)
            .send_with_retries(Method::Get, &format!("http://{addr}/"), &[], &[], &settings)
            .await;
        assert_eq!(attempt.status, Some(500));
        assert_eq!(server.await.unwrap(), 2);
        let (addr, server) = serve_each(vec![reply("404 Not Found", ""); 3]).await;
        let attempt = client(AddressPolicy::AllowAll)
            .send_with_retries(Method::Get, &format!("http://{addr}/"), &[], &[], &settings)
            .await;
        assert_eq!(attempt.status, Some(404));
        assert_eq!(server.await.unwrap(), 1);
    }

    #[tokio::test]
    async fn not_found_is_http4xx_and_not_retryable_by_default() {
        let (addr, _server) = serve(reply("404 Not Found", "")).await;
        let attempt =
            client(AddressPolicy::AllowAll).send(Method::Post, &format!("http://{addr}/"), &[], &[], &quick()).await;
        assert_eq!((attempt.status, attempt.failure), (Some(404), Some(FailureKind::Http4xx)));
        assert!(!attempt.retryable(&RetryOn::default()));
        assert!(attempt.retryable(&RetryOn { http_4xx: true, ..RetryOn::default() }));
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let response = "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n";
        let (addr, _server) = serve(response.to_string()).await;
        let attempt =
            client(AddressPolicy::AllowAll).send(Method::Post, &format!("http://{addr}/"), &[], &[], &quick()).await;
        assert_eq!((attempt.status, attempt.failure), (Some(302), Some(FailureKind::HttpOther)));
        assert!(attempt.error.unwrap().contains("redirects are not followed"));
    }

    #[tokio::test]
    async fn refused_connection_is_a_retryable_connect_failure() {
        let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        // The listener is dropped: nothing listens on `addr` any more.
        let attempt =
            client(AddressPolicy::AllowAll).send(Method::Post, &format!("http://{addr}/"), &[], &[], &quick()).await;
        assert_eq!((attempt.status, attempt.failure), (None, Some(FailureKind::Connect)), "{attempt:?}");
        let error = attempt.error.clone().unwrap();
        assert!(error.contains("connect") && !error.contains("http://"), "{error}");
        assert!(attempt.retryable(&RetryOn::default()));
    }

    /// A server that accepts a connection and never answers.
    async fn silent_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(stream);
        });
        (addr, server)
    }

    #[tokio::test]
    async fn silent_server_times_out_after_the_read_timeout() {
        let (addr, _server) = silent_server().await;
        let settings = RequestSettings { read_timeout: Duration::from_millis(200), ..quick() };
        let attempt =
            client(AddressPolicy::AllowAll).send(Method::Post, &format!("http://{addr}/"), &[], &[], &settings).await;
        assert_eq!((attempt.status, attempt.failure), (None, Some(FailureKind::Timeout)), "{attempt:?}");
        assert!(
            attempt.latency >= Duration::from_millis(150) && attempt.latency < Duration::from_secs(1),
            "{attempt:?}"
        );
        assert!(attempt.retryable(&RetryOn::default()));
    }

    #[tokio::test]
    async fn total_timeout_caps_a_longer_read_timeout() {
        let (addr, _server) = silent_server().await;
        let settings = RequestSettings { total_timeout: Duration::from_millis(200), ..quick() };
        let attempt =
            client(AddressPolicy::AllowAll).send(Method::Post, &format!("http://{addr}/"), &[], &[], &settings).await;
        assert_eq!(attempt.failure, Some(FailureKind::Timeout), "{attempt:?}");
        assert!(attempt.latency < Duration::from_secs(1), "{attempt:?}");
    }

    #[tokio::test]
    async fn body_over_the_limit_is_a_body_failure_and_is_cut() {
        let (addr, _server) = serve(reply("200 OK", &"x".repeat(100))).await;
        let attempt = WebhookClient::new(AddressPolicy::AllowAll, 10)
            .unwrap()
            .send(Method::Post, &format!("http://{addr}/"), &[], &[], &quick())
            .await;
        assert_eq!((attempt.status, attempt.failure), (Some(200), Some(FailureKind::Body)), "{attempt:?}");
        assert_eq!(attempt.body, b"xxxxxxxxxx");
        assert!(attempt.error.as_deref().unwrap_or("").contains("larger than 10 bytes"));
        assert!(!attempt.retryable(&RetryOn::default()));
    }

    #[tokio::test]
    async fn body_exactly_at_the_limit_is_fine() {
        let (addr, _server) = serve(reply("200 OK", "0123456789")).await;
        let attempt = WebhookClient::new(AddressPolicy::AllowAll, 10)
            .unwrap()
            .send(Method::Post, &format!("http://{addr}/"), &[], &[], &quick())
            .await;
        assert!(attempt.ok(), "{attempt:?}");
        assert_eq!(attempt.body, b"0123456789");
    }

    #[tokio::test]
    async fn public_only_refuses_a_loopback_literal_without_connecting() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let c = client(AddressPolicy::PublicOnly);
        for url in [format!("http://{addr}/"), format!("http://[::ffff:127.0.0.1]:{}/", addr.port())] {
            let attempt = c.send(Method::Post, &url, &[], &[], &quick()).await;
            assert_eq!((attempt.status, attempt.failure), (None, Some(FailureKind::Policy)), "{attempt:?}");
            assert!(attempt.error.clone().unwrap().contains("address not allowed by policy"), "{attempt:?}");
            assert!(!attempt.retryable(&RetryOn { connect: true, timeout: true, http_4xx: true, http_5xx: true }));
        }
        let accepted = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        assert!(accepted.is_err(), "the client connected despite the policy");
    }

    #[tokio::test]
    async fn public_only_refuses_a_hostname_that_resolves_to_loopback() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let attempt = client(AddressPolicy::PublicOnly)
            .send(Method::Post, &format!("http://localhost:{port}/"), &[], &[], &quick())
            .await;
        assert_eq!(attempt.failure, Some(FailureKind::Policy), "{attempt:?}");
        assert!(attempt.error.unwrap().contains("address not allowed by policy"));
        let accepted = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        assert!(accepted.is_err(), "the client connected despite the policy");
    }

    #[tokio::test]
    async fn no_private_reaches_loopback_receivers() {
        let (addr, _server) = serve(reply("200 OK", "")).await;
        let attempt =
            client(AddressPolicy::NoPrivate).send(Method::Post, &format!("http://{addr}/"), &[], &[], &quick()).await;
        assert!(attempt.ok(), "{attempt:?}");
    }

    #[tokio::test]
    async fn requests_the_client_will_not_make_are_refused_as_policy() {
        let c = client(AddressPolicy::AllowAll);
        let bad_header = [("X-Bad", "a\r\nInjected: 1".to_string())];
        for (url, headers) in [
            ("not a url", &[][..]),
            ("ftp://example.com/", &[][..]),
            ("file:///etc/passwd", &[][..]),
            ("http://example.com/", &bad_header[..]),
        ] {
            let attempt = c.send(Method::Post, url, &[], headers, &quick()).await;
            assert_eq!(attempt.failure, Some(FailureKind::Policy), "{url}: {attempt:?}");
            assert!(attempt.error.is_some());
        }
        // A method other than GET or POST cannot reach `send`; its callers record this attempt.
        let put = Attempt::unsupported_method(&Method::parse("PUT").unwrap_err());
        assert_eq!((put.status, put.failure), (None, Some(FailureKind::Policy)));
        assert_eq!(put.error.as_deref(), Some("unsupported method \"PUT\"; webhooks use GET or POST"));
        assert!(!put.retryable(&RetryOn { connect: true, timeout: true, http_4xx: true, http_5xx: true }));
    }

    #[test]
    fn clients_are_cached_per_connect_timeout_and_the_cache_is_bounded() {
        let c = client(AddressPolicy::AllowAll);
        c.client(1000).unwrap();
        c.client(1000).unwrap();
        assert_eq!(c.inner.clients.lock().unwrap().len(), 2, "the default and 1000 ms");
        for ms in 0..40 {
            c.client(ms).unwrap();
        }
        assert_eq!(c.inner.clients.lock().unwrap().len(), CLIENT_CACHE_LIMIT);
    }

    #[test]
    fn retryable_follows_retry_on_per_failure_kind() {
        let attempt = |failure| Attempt { failure, ..Attempt::failed(FailureKind::Connect, String::new()) };
        let all = RetryOn { connect: true, timeout: true, http_4xx: true, http_5xx: true };
        let none = RetryOn { connect: false, timeout: false, http_4xx: false, http_5xx: false };
        assert!(!attempt(None).retryable(&all));
        assert!(attempt(None).ok());
        for kind in [FailureKind::Connect, FailureKind::Timeout, FailureKind::Http4xx, FailureKind::Http5xx] {
            assert!(attempt(Some(kind)).retryable(&all), "{kind:?}");
            assert!(!attempt(Some(kind)).retryable(&none), "{kind:?}");
        }
        for kind in [FailureKind::HttpOther, FailureKind::Policy, FailureKind::Body] {
            assert!(!attempt(Some(kind)).retryable(&all), "{kind:?}");
        }
    }

    #[test]
    fn defaults_are_5s_connect_15s_read_20s_total_5_attempts() {
        let d = RequestSettings::default();
        assert_eq!(
            (d.connect_timeout, d.read_timeout, d.total_timeout, d.max_attempts),
            (Duration::from_secs(5), Duration::from_secs(15), Duration::from_secs(20), 5)
        );
        assert_eq!(d.retry_on, RetryOn { connect: true, timeout: true, http_4xx: false, http_5xx: true });
    }
}

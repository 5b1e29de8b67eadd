//! Overload and brute-force protection of the API: a request rate and a concurrency limit per
//! account, and a growing lockout of an address after repeated authentication failures. Each
//! answers 429 with code 20429 and `Retry-After`. Correct clients are never slowed by another
//! address's failures: the lockout is per address and counts failures only.

use super::error::{ApiError, ApiResult};
use super::AppState;
use axum::extract::{ConnectInfo, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use switchboard_domain::TwilioError;

/// Failures of one address are forgotten after this long without a new one.
const FAILURE_MEMORY_MS: i64 = 15 * 60 * 1000;
/// The longest lockout of an address.
const MAX_LOCKOUT_MS: i64 = 5 * 60 * 1000;
/// Addresses remembered at most; beyond, those without a current lockout are forgotten first.
const MAX_ADDRESSES: usize = 100_000;

/// What to limit (`None`: no limit).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitSettings {
    /// Requests per second per account (bursts of up to one second's worth, at least 1).
    pub account_rate: Option<f64>,
    /// Requests of one account in progress at once.
    pub account_concurrency: Option<usize>,
    /// Authentication failures from one address before it is locked out: 1 s, doubling per
    /// further failure up to 5 minutes.
    pub auth_failures: Option<u32>,
}

/// A token bucket.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

/// Authentication failures of one address.
#[derive(Debug, Default)]
struct Failures {
    count: u32,
    last_ms: i64,
    locked_until_ms: i64,
}

/// The limiters' state, shared by all requests.
#[derive(Debug, Default)]
pub struct Limits {
    settings: LimitSettings,
    buckets: Mutex<HashMap<String, Bucket>>,
    in_flight: Mutex<HashMap<String, usize>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

/// 429 with code 20429, and the wait in whole seconds (at least 1) for `Retry-After`.
#[derive(Debug)]
struct TooMany {
    message: &'static str,
    retry_after_secs: i64,
}

impl TooMany {
    fn new(message: &'static str, retry_after_ms: i64) -> TooMany {
        TooMany { message, retry_after_secs: (retry_after_ms.max(1) + 999) / 1000 }
    }

    /// The error, with its wait left in the request's slot for [`hold`] to put in the header.
    fn into_error(self, parts: &Parts) -> ApiError {
        if let Some(slot) = parts.extensions.get::<Slot>() {
            slot.0.lock().unwrap_or_else(|e| e.into_inner()).retry_after_secs = Some(self.retry_after_secs);
        }
        ApiError(TwilioError::new(20429, 429, self.message))
    }
}

impl Limits {
    /// Limiters with these settings.
    pub fn new(settings: LimitSettings) -> Arc<Limits> {
        Arc::new(Limits { settings, ..Default::default() })
    }

    /// Refuses an address that is locked out; otherwise records whether `outcome` failed.
    fn authenticated<T>(&self, peer: Option<IpAddr>, outcome: ApiResult<T>) -> ApiResult<T> {
        let (Some(limit), Some(ip)) = (self.settings.auth_failures, peer) else {
            return outcome;
        };
        let failed = matches!(&outcome, Err(ApiError(e)) if e.status == 401);
        if !failed {
            return outcome;
        }
        let now = crate::clock::now_ms();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_ADDRESSES {
            failures.retain(|_, f| f.locked_until_ms > now);
            if failures.len() >= MAX_ADDRESSES {
                failures.clear();
            }
        }
        let f = failures.entry(ip).or_default();
        if now - f.last_ms > FAILURE_MEMORY_MS {
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        f.last_ms = now;
        if f.count >= limit.max(1) {
            let doublings = (f.count - limit.max(1)).min(20);
            let lockout = (1000_i64 << doublings).min(MAX_LOCKOUT_MS);
            f.locked_until_ms = now + lockout;
            tracing::warn!(address = %ip, failures = f.count, lockout_ms = lockout, "authentication failures: address locked out");
        }
        outcome
    }

    /// 429 if `peer` is locked out after authentication failures.
    fn check_lockout(&self, peer: Option<IpAddr>) -> Result<(), TooMany> {
        let Some(ip) = peer.filter(|_| self.settings.auth_failures.is_some()) else {
            return Ok(());
        };
        let now = crate::clock::now_ms();
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match failures.get(&ip) {
            Some(f) if f.locked_until_ms > now => {
                Err(TooMany::new("Too many failed authentication attempts from this address.", f.locked_until_ms - now))
            }
            _ => Ok(()),
        }
    }

    /// Takes one request from the account's rate budget, or says how long to wait.
    fn take_rate(&self, account: &str) -> Result<(), TooMany> {
        let Some(rate) = self.settings.account_rate.filter(|r| *r > 0.0) else {
            return Ok(());
        };
        let burst = rate.ceil().max(1.0);
        let now = crate::clock::now_ms();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets.entry(account.to_string()).or_insert(Bucket { tokens: burst, at_ms: now });
        let elapsed = (now - b.at_ms).max(0) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at_ms = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait_ms = ((1.0 - b.tokens) / rate * 1000.0).ceil() as i64;
        Err(TooMany::new("Too many requests: this account's request rate limit is exceeded.", wait_ms))
    }

    /// Counts a request of `account` in progress until the returned guard drops.
    fn enter(self: &Arc<Self>, account: &str) -> Result<Option<InFlight>, TooMany> {
        let Some(max) = self.settings.account_concurrency.filter(|m| *m > 0) else {
            return Ok(None);
        };
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = in_flight.entry(account.to_string()).or_insert(0);
        if *n >= max {
            return Err(TooMany::new("Too many requests: this account has too many requests in progress.", 1000));
        }
        *n += 1;
        Ok(Some(InFlight { limits: self.clone(), account: account.to_string() }))
    }
}

/// One request of an account in progress.
#[derive(Debug)]
struct InFlight {
    limits: Arc<Limits>,
    account: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut in_flight = self.limits.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = in_flight.get_mut(&self.account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                in_flight.remove(&self.account);
            }
        }
    }
}

/// What a request's limits leave for its response: the in-flight guard, kept until the
/// response is ready, and the wait of a 429.
#[derive(Debug, Default)]
struct SlotInner {
    guard: Option<InFlight>,
    retry_after_secs: Option<i64>,
}

/// Shared between [`hold`] and the extractor, through the request's extensions.
#[derive(Debug, Clone, Default)]
struct Slot(Arc<Mutex<SlotInner>>);

/// The client's address, when the listener recorded it.
fn peer(parts: &Parts) -> Option<IpAddr> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// Runs `authenticate` unless the client's address is locked out, and records its failures.
pub async fn authenticate<T>(
    parts: &Parts,
    state: &AppState,
    authenticate: impl Future<Output = ApiResult<T>>,
) -> ApiResult<T> {
    let ip = peer(parts);
    state.limits.check_lockout(ip).map_err(|e| e.into_error(parts))?;
    let outcome = authenticate.await;
    state.limits.authenticated(ip, outcome)
}

/// Admits a request of an authenticated `account` under its rate and concurrency limits.
pub fn admit(parts: &Parts, state: &AppState, account: &str) -> ApiResult<()> {
    state.limits.take_rate(account).map_err(|e| e.into_error(parts))?;
    if let Some(guard) = state.limits.enter(account).map_err(|e| e.into_error(parts))? {
        if let Some(slot) = parts.extensions.get::<Slot>() {
            slot.0.lock().unwrap_or_else(|e| e.into_inner()).guard = Some(guard);
        }
    }
    Ok(())
}

/// Middleware: keeps a request's in-flight guard until its response is made, and gives a 429
/// of these limits its `Retry-After` header.
pub async fn hold(mut req: Request, next: Next) -> Response {
    let slot = Slot::default();
    req.extensions_mut().insert(slot.clone());
    let mut resp = next.run(req).await;
    let inner = std::mem::take(&mut *slot.0.lock().unwrap_or_else(|e| e.into_inner()));
    if let Some(secs) = inner.retry_after_secs {
        if resp.status() == axum::http::StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
    }
    drop(inner);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_bucket_allows_one_seconds_burst_then_refuses_with_a_wait() {
        let limits = Limits::new(LimitSettings { account_rate: Some(3.0), ..Default::default() });
        for _ in 0..3 {
            limits.take_rate("AC1").unwrap();
        }
        assert_eq!(limits.take_rate("AC1").unwrap_err().retry_after_secs, 1);
        // Another account has its own budget.
        limits.take_rate("AC2").unwrap();
    }

    #[test]
    fn concurrency_is_counted_until_the_guard_drops() {
        let limits = Limits::new(LimitSettings { account_concurrency: Some(1), ..Default::default() });
        let first = limits.enter("AC1").unwrap();
        assert!(limits.enter("AC1").is_err());
        drop(first);
        assert!(limits.enter("AC1").unwrap().is_some());
    }

    #[test]
    fn failures_lock_an_address_out_after_the_limit_and_only_that_address() {
        let limits = Limits::new(LimitSettings { auth_failures: Some(2), ..Default::default() });
        let bad: IpAddr = "192.0.2.1".parse().unwrap();
        let good: IpAddr = "192.0.2.2".parse().unwrap();
        let fail = || -> ApiResult<()> { Err(TwilioError::authenticate().into()) };
        let _ = limits.authenticated(Some(bad), fail());
        limits.check_lockout(Some(bad)).unwrap();
        let _ = limits.authenticated(Some(bad), fail());
        assert_eq!(limits.check_lockout(Some(bad)).unwrap_err().retry_after_secs, 1);
        limits.check_lockout(Some(good)).unwrap();
        // Successes are not failures.
        limits.authenticated(Some(good), Ok(())).unwrap();
        limits.check_lockout(Some(good)).unwrap();
    }

    #[test]
    fn without_settings_nothing_is_limited() {
        let limits = Limits::new(LimitSettings::default());
        for _ in 0..1000 {
            limits.take_rate("AC1").unwrap();
            let _ = limits
                .authenticated(Some("192.0.2.1".parse().unwrap()), Err::<(), _>(TwilioError::authenticate().into()));
        }
        limits.check_lockout(Some("192.0.2.1".parse().unwrap())).unwrap();
        assert!(limits.enter("AC1").unwrap().is_none());
    }
}

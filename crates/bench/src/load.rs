//! The load generator: HTTP/1.1 keep-alive connections driven back to back.
//!
//! It shares two cores with the server under test, so it is kept lean: the request (method,
//! URI, headers, body) is encoded once and each send only clones reference-counted parts; one
//! task per connection talks to hyper's bare connection API (no pool, no per-request lookup);
//! response bodies are drained frame by frame without being collected; each task records into
//! its own HDR histogram, merged at the end.

use anyhow::{anyhow, Context};
use base64::Engine;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// No single request may take longer than this; a server that hangs fails the scenario
/// instead of hanging the bench.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest latency the histograms hold, µs (a timed-out request is an error, not a sample).
const MAX_LATENCY_US: u64 = 60_000_000;

/// One request, encoded once and sent many times.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// Server address (connections go here; `Host` says the same).
    pub addr: SocketAddr,
    method: Method,
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl RequestSpec {
    /// A request of `method` to `path_and_query` at `addr`, with HTTP Basic credentials when
    /// `basic` is given, and a form body when `form` is.
    pub fn new(
        addr: SocketAddr,
        method: Method,
        path_and_query: &str,
        basic: Option<(&str, &str)>,
        form: Option<String>,
    ) -> anyhow::Result<Self> {
        let uri: Uri = path_and_query.parse().with_context(|| format!("bad request path {path_and_query:?}"))?;
        let mut headers = vec![(HOST, HeaderValue::from_str(&addr.to_string())?)];
        if let Some((user, pass)) = basic {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            headers.push((AUTHORIZATION, HeaderValue::from_str(&format!("Basic {token}"))?));
        }
        let body = match form {
            Some(form) => {
                headers.push((CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded")));
                Bytes::from(form)
            }
            None => Bytes::new(),
        };
        Ok(RequestSpec { addr, method, uri, headers, body })
    }

    /// The same request to another path (same address, credentials and body).
    pub fn with_path(&self, path_and_query: &str) -> anyhow::Result<Self> {
        let uri = path_and_query.parse().with_context(|| format!("bad request path {path_and_query:?}"))?;
        Ok(RequestSpec { uri, ..self.clone() })
    }

    /// Builds the request; every part is a cheap clone of what was encoded once.
    fn build(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        let headers = req.headers_mut();
        headers.reserve(self.headers.len());
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        req
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    /// Connects to `addr` (with `TCP_NODELAY`, as every HTTP client that cares about latency).
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Conn> {
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .map_err(|_| anyhow!("connecting to {addr} timed out"))?
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the peer closes; errors surface on send.
            let _ = connection.await;
        });
        Ok(Conn { sender })
    }

    /// Sends `spec` and drains the response body; returns the status and, for an error
    /// status, the body (to explain the failure).
    pub async fn send_drain(&mut self, spec: &RequestSpec) -> anyhow::Result<(StatusCode, Option<Bytes>)> {
        let fut = async {
            self.sender.ready().await?;
            let resp = self.sender.send_request(spec.build()).await?;
            let status = resp.status();
            let mut body = resp.into_body();
            if !status.is_success() {
                return Ok((status, Some(body.collect().await?.to_bytes())));
            }
            while let Some(frame) = body.frame().await {
                frame?;
            }
            Ok::<_, anyhow::Error>((status, None))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .map_err(|_| anyhow!("no response within {REQUEST_TIMEOUT:?}"))?
    }

    /// Sends `spec` and returns the status and the whole body.
    pub async fn send(&mut self, spec: &RequestSpec) -> anyhow::Result<(StatusCode, Bytes)> {
        let fut = async {
            self.sender.ready().await?;
            let resp = self.sender.send_request(spec.build()).await?;
            let status = resp.status();
            Ok::<_, anyhow::Error>((status, resp.into_body().collect().await?.to_bytes()))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .map_err(|_| anyhow!("no response within {REQUEST_TIMEOUT:?}"))?
    }
}

/// A fresh latency histogram (µs, 3 significant digits).
pub fn new_histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts; failure would be a programming error.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// Records one latency sample.
pub fn record(hist: &mut Histogram<u64>, elapsed: Duration) {
    let us = u64::try_from(elapsed.as_micros()).unwrap_or(MAX_LATENCY_US).clamp(1, MAX_LATENCY_US);
    // In bounds by the clamp above.
    let _ = hist.record(us);
}

/// What a timed run measured.
#[derive(Debug)]
pub struct Outcome {
    /// Connections used.
    pub connections: usize,
    /// Successful (2xx) responses completed inside the measured window.
    pub ok: u64,
    /// Successful responses in all, warm-up included.
    pub ok_total: u64,
    /// Error responses and transport errors, warm-up included (any error fails the run).
    pub errors: u64,
    /// The first error, for the report.
    pub first_error: Option<String>,
    /// Latency of the successful responses in the window, µs.
    pub hist: Histogram<u64>,
    /// Length of the measured window.
    pub window: Duration,
}

impl Outcome {
    /// Successful requests per second in the window.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64()
    }
}

/// Sends `spec` back to back on `connections` keep-alive connections for `warmup + window`;
/// responses completing inside the last `window` are counted and timed.
pub async fn run_timed(
    spec: Arc<RequestSpec>,
    connections: usize,
    warmup: Duration,
    window: Duration,
) -> anyhow::Result<Outcome> {
    run_timed_spread(&[spec], connections, warmup, window).await
}

/// [`run_timed`] over several servers: connection `i` sends `specs[i % specs.len()]`, so the
/// connections are spread evenly over the nodes of a cluster.
pub async fn run_timed_spread(
    specs: &[Arc<RequestSpec>],
    connections: usize,
    warmup: Duration,
    window: Duration,
) -> anyhow::Result<Outcome> {
    if specs.is_empty() {
        return Err(anyhow!("no server to send to"));
    }
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + window;
    let mut tasks = Vec::with_capacity(connections);
    for i in 0..connections {
        let spec = specs[i % specs.len()].clone();
        tasks.push(tokio::spawn(async move { drive(&spec, measure_from, end).await }));
    }
    let mut total =
        Outcome { connections, ok: 0, ok_total: 0, errors: 0, first_error: None, hist: new_histogram(), window };
    for task in tasks {
        let part = task.await.context("load task panicked")??;
        total.ok += part.ok;
        total.ok_total += part.ok_total;
        total.errors += part.errors;
        if total.first_error.is_none() {
            total.first_error = part.first_error;
        }
        total.hist.add(&part.hist).map_err(|e| anyhow!("merging histograms: {e:?}"))?;
    }
    Ok(total)
}

/// One connection's loop. A transport error reconnects (and counts as an error); failing to
/// connect at all ends the run with an error.
async fn drive(spec: &RequestSpec, measure_from: Instant, end: Instant) -> anyhow::Result<Outcome> {
    let mut out = Outcome {
        connections: 1,
        ok: 0,
        ok_total: 0,
        errors: 0,
        first_error: None,
        hist: new_histogram(),
        window: end.saturating_duration_since(measure_from),
    };
    let mut conn = Conn::open(spec.addr).await?;
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        match conn.send_drain(spec).await {
            Ok((status, body)) => {
                let done = Instant::now();
                if !status.is_success() {
                    out.errors += 1;
                    if out.first_error.is_none() {
                        let text = body.map(|b| String::from_utf8_lossy(&b).chars().take(300).collect::<String>());
                        out.first_error = Some(format!("HTTP {status}: {}", text.unwrap_or_default()));
                    }
                } else {
                    out.ok_total += 1;
                    if done >= measure_from && done <= end {
                        out.ok += 1;
                        record(&mut out.hist, done - sent);
                    }
                }
            }
            Err(e) => {
                out.errors += 1;
                if out.first_error.is_none() {
                    out.first_error = Some(format!("{e:#}"));
                }
                if Instant::now() >= end {
                    break;
                }
                conn = Conn::open(spec.addr).await?;
            }
        }
    }
    Ok(out)
}

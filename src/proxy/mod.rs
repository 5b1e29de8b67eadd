//! The zero-code-change proxy: an HTTP forward proxy that unchanged apps reach through the
//! standard proxy variables. `CONNECT` to a `*.twilio.com:443` name is answered with exactly
//! `HTTP/1.1 200 Connection established` and no header (twilio-php parses that line), then TLS
//! is accepted with a leaf certificate minted for that name by the local CA ([`ca`]), and the
//! decrypted requests are served by the API's own router. Absolute-form plain requests
//! (`POST https://api.twilio.com/…`, as older axios sends) are served the same way. Other hosts
//! get 403, or pass through untouched when the operator opts in. Hand-written rather than a
//! MITM crate: those answer `200 OK` with a `date` header, which breaks twilio-php.

pub mod ca;
pub mod env;
mod jks;

use crate::api::error::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use ca::{is_twilio_host, LocalCa};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::TwilioError;
use tokio::net::{TcpListener, TcpStream};

/// The exact reply to an accepted `CONNECT`: status line, no header, blank line.
pub const CONNECT_REPLY: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";
/// Time allowed to connect to a host passed through.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which Twilio host carries which resources: `(first label, path segments after the version)`;
/// `2010-04-01` paths are `api`'s. A request that reaches a host for another host's resources
/// gets 404, as it would from Twilio.
const PRODUCTS: &[(&str, &[&str])] = &[
    (
        "messaging",
        &[
            "Services",
            "Tollfree",
            "a2p",
            "Deactivations",
            "LinkShortening",
            "BrandRegistrations",
            "ChannelSenders",
            "Domains",
        ],
    ),
    ("content", &["Content", "ContentAndApprovals", "LegacyContent"]),
    ("iam", &["Keys"]),
    ("accounts", &["AuthTokens", "Credentials", "SafeList"]),
];

/// The host (first label: `api`, `messaging`, …) whose resources `path` names, if known.
pub fn product_of_path(path: &str) -> Option<&'static str> {
    let mut segments = path.trim_start_matches('/').split('/');
    let version = segments.next()?;
    if version == "2010-04-01" {
        return Some("api");
    }
    if !matches!(version, "v1" | "v2") {
        return None;
    }
    let resource = segments.next()?;
    PRODUCTS.iter().find(|(_, resources)| resources.contains(&resource)).map(|(product, _)| *product)
}

/// Whether a request for `path` arriving for `host` may be served: a path that belongs to
/// another Twilio host may not. Switchboard's own paths (`/_switchboard/…`, `/healthz`) may.
pub fn host_serves_path(host: &str, path: &str) -> bool {
    let product = host.split('.').next().unwrap_or("").to_ascii_lowercase();
    product_of_path(path).is_none_or(|owner| owner == product)
}

/// Proxy options.
#[derive(Debug, Clone, Default)]
pub struct ProxySettings {
    /// Hosts other than `*.twilio.com` pass through untouched (a tunnel) instead of 403.
    pub tunnel_other_hosts: bool,
    /// Switchboard's own API addresses (`host`, `port`): always passed through, so the absolute
    /// URLs the API hands out (v1 `next_page_url`) work for clients that proxy everything.
    pub own_addresses: Vec<(String, u16)>,
    /// Timeouts, sizes and connection count, as on the API's listener.
    pub limits: crate::tls::HttpLimits,
}

/// A running proxy's shared parts.
struct Proxy {
    /// The API router, limited per Twilio host to that host's resources.
    router: Router,
    ca: Arc<LocalCa>,
    settings: ProxySettings,
    stop: tokio::sync::watch::Receiver<bool>,
}

/// Serves the proxy on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    ca: Arc<LocalCa>,
    settings: ProxySettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let router = router.layer(axum::middleware::from_fn(scope_to_host));
    let proxy = Arc::new(Proxy { router, ca, settings, stop });
    tokio::pin!(shutdown);
    let slots = Arc::new(tokio::sync::Semaphore::new(proxy.settings.limits.max_connections.max(1)));
    loop {
        let Some((permit, tcp, peer)) = crate::tls::next_connection(&listener, &slots, &mut shutdown).await else {
            break;
        };
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let limits = proxy.settings.limits.clone();
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                // The client's address goes with its requests (per-address limits), tunnelled or not.
                req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                let proxy = proxy.clone();
                async move { Ok::<_, Infallible>(proxy.handle(req).await) }
            });
            // No automatic `date` header: the CONNECT reply must be the status line alone.
            let result = limits
                .http1()
                .auto_date_header(false)
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades()
                .await;
            if let Err(e) = result {
                tracing::debug!("proxy connection ended: {e}");
            }
        });
    }
    let _ = stop_tx.send(true);
    Ok(())
}

impl Proxy {
    async fn handle(self: Arc<Self>, req: hyper::Request<Incoming>) -> Response {
        let Some(authority) = req.uri().authority().cloned() else {
            return plain(
                StatusCode::BAD_REQUEST,
                "This is Switchboard's proxy: it takes CONNECT and absolute-form requests \
                 (set HTTPS_PROXY to it); send plain API requests to the API address.\n"
                    .to_string(),
            );
        };
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let default_port = if req.uri().scheme_str() == Some("https") { 443 } else { 80 };
        let port = authority.port_u16().unwrap_or(default_port);
        if req.method() == Method::CONNECT {
            if is_twilio_host(&host) && port == 443 {
                tracing::debug!(%host, "CONNECT intercepted");
                return self.intercept(req, host);
            }
            if self.passes(&host, port) {
                return tunnel(req, &host, port).await;
            }
            return refuse(&host, port);
        }
        if is_twilio_host(&host) {
            tracing::debug!(%host, path = req.uri().path(), "absolute-form request served");
            return tower::ServiceExt::oneshot(self.router.clone(), req.map(Body::new)).await.into_response();
        }
        if self.passes(&host, port) && req.uri().scheme_str() == Some("http") {
            return forward(req, &host, port).await;
        }
        refuse(&host, port)
    }

    /// Whether a host that is not Twilio's passes through.
    fn passes(&self, host: &str, port: u16) -> bool {
        self.settings.tunnel_other_hosts || self.settings.own_addresses.iter().any(|(h, p)| h == host && *p == port)
    }

    /// Answers the CONNECT, then terminates TLS with a certificate for `host` and serves the
    /// router on the decrypted stream.
    fn intercept(self: Arc<Self>, req: hyper::Request<Incoming>, host: String) -> Response {
        let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
        tokio::spawn(async move {
            let upgraded = match hyper::upgrade::on(req).await {
                Ok(u) => u,
                Err(e) => return tracing::debug!("CONNECT upgrade failed: {e}"),
            };
            let resolver = Arc::new(MintingResolver { ca: self.ca.clone(), connect_host: host.clone() });
            let config = match crate::tls::server_config(resolver) {
                Ok(c) => c,
                Err(e) => return tracing::error!("proxy TLS configuration: {e:#}"),
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, acceptor.accept(TokioIo::new(upgraded))).await {
                Ok(Ok(tls)) => {
                    let limits = &self.settings.limits;
                    crate::tls::serve_connection(tls, self.router.clone(), self.stop.clone(), limits, peer).await
                }
                Ok(Err(e)) => {
                    tracing::info!(%host, "TLS handshake through the proxy failed (does the client trust Switchboard's CA?): {e}")
                }
                Err(_) => tracing::debug!(%host, "TLS handshake through the proxy timed out"),
            }
        });
        connect_established()
    }
}

/// Mints (or takes from the cache) the certificate for the name the client asks for (SNI), or
/// for the CONNECT host when the client sends no SNI. Non-Twilio names get none: the handshake
/// fails rather than present a certificate for another name.
#[derive(Debug)]
struct MintingResolver {
    ca: Arc<LocalCa>,
    connect_host: String,
}

impl ResolvesServerCert for MintingResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().unwrap_or(&self.connect_host);
        match self.ca.leaf(name) {
            Ok(key) => Some(key),
            Err(e) => {
                tracing::info!("no certificate for {name:?}: {e:#}");
                None
            }
        }
    }
}

/// `HTTP/1.1 200 Connection established`, nothing else (hyper adds no header to a 2xx CONNECT
/// reply once the date header is off).
fn connect_established() -> Response {
    let mut res = Response::new(Body::empty());
    res.extensions_mut().insert(hyper::ext::ReasonPhrase::from_static(b"Connection established"));
    res
}

/// 403 for a host the proxy does not serve, saying why and what to do.
fn refuse(host: &str, port: u16) -> Response {
    plain(
        StatusCode::FORBIDDEN,
        format!(
            "Switchboard's proxy refused {host}:{port}: it answers for *.twilio.com only. Add the host \
             to NO_PROXY, or start Switchboard with --proxy-tunnel-other-hosts to pass other hosts through.\n"
        ),
    )
}

fn plain(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// Connects to `host:port` and, once the CONNECT is answered, copies bytes both ways.
async fn tunnel(req: hyper::Request<Incoming>, host: &str, port: u16) -> Response {
    let mut upstream = match connect(host, port).await {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => {
                let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(upgraded), &mut upstream).await;
            }
            Err(e) => tracing::debug!("CONNECT upgrade failed: {e}"),
        }
    });
    connect_established()
}

/// Forwards a plain `http://` absolute-form request to `host:port` in origin form.
async fn forward(mut req: hyper::Request<Incoming>, host: &str, port: u16) -> Response {
    let stream = match connect(host, port).await {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(pair) => pair,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("{host}:{port}: {e}\n")),
    };
    tokio::spawn(conn);
    let origin_form = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    match origin_form.parse() {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return plain(StatusCode::BAD_REQUEST, "unreadable request target\n".into()),
    }
    req.headers_mut().remove("proxy-connection");
    req.headers_mut().remove(header::PROXY_AUTHORIZATION);
    match sender.send_request(req).await {
        Ok(resp) => resp.map(Body::new),
        Err(e) => plain(StatusCode::BAD_GATEWAY, format!("{host}:{port}: {e}\n")),
    }
}

async fn connect(host: &str, port: u16) -> Result<TcpStream, Box<Response>> {
    match tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, TcpStream::connect((host, port))).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(Box::new(plain(StatusCode::BAD_GATEWAY, format!("cannot reach {host}:{port}: {e}\n")))),
        Err(_) => Err(Box::new(plain(StatusCode::GATEWAY_TIMEOUT, format!("{host}:{port} did not answer\n")))),
    }
}

/// Router middleware: a request for one Twilio host's resources that arrived for another host
/// (`messaging.twilio.com/2010-04-01/…`) gets Twilio's 404.
async fn scope_to_host(req: Request, next: axum::middleware::Next) -> Response {
    let host = req.uri().host().map(str::to_string).or_else(|| {
        let value = req.headers().get(header::HOST)?.to_str().ok()?;
        Some(value.rsplit_once(':').map_or(value, |(h, _)| h).to_string())
    });
    if let Some(host) = host {
        if !host_serves_path(&host, req.uri().path()) {
            return ApiError(TwilioError::not_found(req.uri().path())).into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests;

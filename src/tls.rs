//! HTTPS serving: the API over TLS (rustls) with a certificate read from PEM files and swapped in
//! place on SIGHUP or when the files change, without dropping open connections; and the one
//! HTTP/1 accept and connection loop (with its [`HttpLimits`]) that the plain and HTTPS API
//! listeners and the proxy use to serve the router.

use anyhow::{bail, Context};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

/// How often the certificate files are checked for changes.
pub const RELOAD_POLL: Duration = Duration::from_secs(2);
/// A client has this long to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads a certificate chain and its private key from PEM files, checking that they match.
pub fn load_certified_key(cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", cert.display()))?;
    if chain.is_empty() {
        bail!("{} holds no certificate", cert.display());
    }
    let key_der =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading a private key from {}", key.display()))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key_der)
        .with_context(|| format!("{}: unsupported private key", key.display()))?;
    let certified = CertifiedKey::new(chain, signer);
    certified.keys_match().with_context(|| format!("{} does not match {}", key.display(), cert.display()))?;
    Ok(certified)
}

/// The certificate of the HTTPS listener: read from two files, re-read on [`reload`](Self::reload).
/// Each handshake takes the current one, so a reload affects new connections only.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    stamp: Mutex<Option<(SystemTime, SystemTime)>>,
}

impl ReloadingCert {
    /// Loads the pair; fails if either file is unreadable or they do not match.
    pub fn load(cert_path: &Path, key_path: &Path) -> anyhow::Result<Arc<Self>> {
        let stamp = stamp(cert_path, key_path);
        let key = load_certified_key(cert_path, key_path)?;
        Ok(Arc::new(ReloadingCert {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: RwLock::new(Arc::new(key)),
            stamp: Mutex::new(stamp),
        }))
    }

    /// Re-reads the files; on any error the previous certificate stays in use.
    pub fn reload(&self) -> anyhow::Result<()> {
        let stamp = stamp(&self.cert_path, &self.key_path);
        let key = load_certified_key(&self.cert_path, &self.key_path)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) = stamp;
        Ok(())
    }

    /// Reloads if either file's modification time changed since the last load.
    pub fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let now = stamp(&self.cert_path, &self.key_path);
        if now.is_none() || *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) == now {
            return Ok(false);
        }
        self.reload().map(|()| true)
    }

    /// The certificate in use.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A rustls server configuration (HTTP/1.1) that presents the current certificate.
    pub fn server_config(self: &Arc<Self>) -> anyhow::Result<rustls::ServerConfig> {
        server_config(self.clone())
    }

    /// Reloads on SIGHUP and whenever the files change (checked every `poll`), until the
    /// returned task is aborted. A failed reload is logged and the old certificate kept. The
    /// SIGHUP handler is in place when this returns, so a signal sent after it is never fatal.
    pub fn watch(self: &Arc<Self>, poll: Duration) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let this = self.clone();
        Ok(tokio::spawn(async move {
            let mut tick = tokio::time::interval(poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                #[cfg(unix)]
                let forced = tokio::select! { _ = hup.recv() => true, _ = tick.tick() => false };
                #[cfg(not(unix))]
                let forced = {
                    tick.tick().await;
                    false
                };
                let result = if forced { this.reload().map(|()| true) } else { this.reload_if_changed() };
                match result {
                    Ok(true) => tracing::info!(cert = %this.cert_path.display(), "reloaded the TLS certificate"),
                    Ok(false) => {}
                    Err(e) => tracing::error!("TLS certificate not reloaded, the previous one stays: {e:#}"),
                }
            }
        }))
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A rustls server configuration (ring, TLS 1.2 and 1.3, HTTP/1.1 by ALPN) whose certificate
/// comes from `resolver`.
pub fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> anyhow::Result<rustls::ServerConfig> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Modification times of both files (`None` if either is missing).
fn stamp(cert: &Path, key: &Path) -> Option<(SystemTime, SystemTime)> {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(cert)?, m(key)?))
}

/// Limits every HTTP connection is served with: the API (plain or HTTPS) and the proxy alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// A client must send a request's whole head (request line and headers) within this time
    /// (hyper's header read timeout); else its connection is closed.
    pub header_read_timeout: Duration,
    /// A request's whole body must arrive within this time from when the handler starts reading it.
    pub body_read_timeout: Duration,
    /// Largest request head (request line and headers), bytes; larger gets 431 and a close.
    pub max_header_bytes: usize,
    /// Connections served at once per listener; further clients wait in the kernel's backlog.
    pub max_connections: usize,
}

/// Default of [`HttpLimits::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`HttpLimits::body_read_timeout`].
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of [`HttpLimits::max_header_bytes`].
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
/// Default of [`HttpLimits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl HttpLimits {
    /// An HTTP/1 connection builder with these limits (hyper needs its timer for the head timeout).
    pub fn http1(&self) -> hyper::server::conn::http1::Builder {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .max_header_size(self.max_header_bytes);
        builder
    }
}

/// A request body that fails once its deadline passes, so a client trickling a body cannot
/// hold a connection and a handler forever.
struct DeadlineBody {
    body: Incoming,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for DeadlineBody {
    type Data = hyper::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err("the request body was not received in time".into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Serves `router` on one HTTP/1.1 connection until the peer closes it or `stop` flips to true
/// (then the request in flight finishes first). Requests carry the peer's address as axum's
/// `ConnectInfo<SocketAddr>` when it is known.
pub async fn serve_connection<I>(
    io: I,
    router: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
    limits: &HttpLimits,
    peer: Option<SocketAddr>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let body_timeout = limits.body_read_timeout;
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let router = router.clone();
        let mut req = req.map(|body| {
            axum::body::Body::new(DeadlineBody { body, deadline: Box::pin(tokio::time::sleep(body_timeout)) })
        });
        if let Some(peer) = peer {
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        }
        async move { tower::ServiceExt::oneshot(router, req).await }
    });
    let conn = limits.http1().serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!("connection ended: {e}");
            }
            return;
        }
        _ = stop.wait_for(|s| *s) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// Serves `router` on `listener` (over TLS when `tls` is given) until `shutdown` resolves; open
/// connections finish their request in flight first. At most `limits.max_connections` are
/// served at once: beyond that, new clients wait to be accepted.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<rustls::ServerConfig>,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let acceptor = tls.map(|config| tokio_rustls::TlsAcceptor::from(Arc::new(config)));
    let limits = Arc::new(limits);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let Some((permit, tcp, peer)) = next_connection(&listener, &slots, &mut shutdown).await else { break };
        while connections.try_join_next().is_some() {}
        let acceptor = acceptor.clone();
        let router = router.clone();
        let stop = stop_rx.clone();
        let limits = limits.clone();
        connections.spawn(async move {
            let _permit = permit;
            let Some(acceptor) = acceptor else {
                return serve_connection(tcp, router, stop, &limits, Some(peer)).await;
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => serve_connection(tls, router, stop, &limits, Some(peer)).await,
                Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        });
    }
    // Closed now, not when the last connection ends: later clients are refused at once rather
    // than left in the backlog and reset.
    drop(listener);
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Waits for a free connection slot, then for the next connection; `None` once `shutdown`
/// completes. The accept loop of every listener (API, HTTPS, proxy) goes through it, so the
/// connection cap and the handling of accept errors are the same everywhere.
pub(crate) async fn next_connection<F: Future>(
    listener: &TcpListener,
    slots: &Arc<tokio::sync::Semaphore>,
    shutdown: &mut std::pin::Pin<&mut F>,
) -> Option<(tokio::sync::OwnedSemaphorePermit, tokio::net::TcpStream, SocketAddr)> {
    let permit = tokio::select! {
        _ = shutdown.as_mut() => return None,
        permit = slots.clone().acquire_owned() => permit.ok()?,
    };
    loop {
        tokio::select! {
            _ = shutdown.as_mut() => return None,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => return Some((permit, tcp, peer)),
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap().self_signed(&key).unwrap();
        (cert.pem(), key)
    }

    #[test]
    fn a_reload_takes_a_new_matching_pair_and_keeps_the_old_one_when_the_key_does_not_match() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let (pem, k) = pair("one.test");
        std::fs::write(&cert, &pem).unwrap();
        std::fs::write(&key, k.serialize_pem()).unwrap();
        let reloading = ReloadingCert::load(&cert, &key).unwrap();
        let first = reloading.current();
        assert!(!reloading.reload_if_changed().unwrap());

        // A certificate whose key is not the one on disk: refused, the old pair stays.
        let (other_pem, other_key) = pair("two.test");
        std::fs::write(&cert, &other_pem).unwrap();
        assert!(reloading.reload().is_err());
        assert_eq!(reloading.current().cert, first.cert);

        std::fs::write(&key, other_key.serialize_pem()).unwrap();
        reloading.reload().unwrap();
        assert_ne!(reloading.current().cert, first.cert);
    }

    #[test]
    fn a_missing_or_empty_certificate_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let err = load_certified_key(&cert, &key).unwrap_err().to_string();
        assert!(err.contains("c.pem"), "{err}");
        std::fs::write(&cert, "").unwrap();
        std::fs::write(&key, pair("x.test").1.serialize_pem()).unwrap();
        assert!(load_certified_key(&cert, &key).unwrap_err().to_string().contains("no certificate"));
    }
}

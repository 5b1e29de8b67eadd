use super::*;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A router that names the path and Host it saw, with one route per Twilio host family.
fn echo_router() -> Router {
    async fn echo(req: Request) -> String {
        let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("-").to_string();
        format!("{} {} host={host}", req.method(), req.uri().path())
    }
    Router::new()
        .route("/2010-04-01/Accounts/{account}/Messages.json", get(echo).post(echo))
        .route("/v1/Services", get(echo))
        .route("/v1/Content", get(echo))
        .route("/healthz", get(echo))
}

struct Running {
    address: std::net::SocketAddr,
    ca: Arc<LocalCa>,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(settings: ProxySettings) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let ca = Arc::new(LocalCa::load_or_create(dir.path()).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, echo_router(), ca.clone(), settings, async {
        let _ = stopped.await;
    }));
    Running { address, ca, _dir: dir, _stop: stop }
}

/// Sends `request` raw and reads until the end of the response head (and `body_len` more bytes).
async fn raw(address: std::net::SocketAddr, request: &str) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(address).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    (tcp, String::from_utf8_lossy(&got).into_owned())
}

/// Reads what is left of a response whose head `so_far` holds a content-length.
async fn rest_of_body(tcp: &mut TcpStream, so_far: &str) -> String {
    let (head, body) = so_far.split_once("\r\n\r\n").unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap()))
        .expect("content-length");
    let mut body = body.as_bytes().to_vec();
    let mut buf = [0u8; 4096];
    while body.len() < len {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0);
        body.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(body).unwrap()
}

#[tokio::test]
async fn connect_to_a_twilio_host_is_answered_with_the_exact_status_line_and_no_header() {
    let proxy = start(ProxySettings::default()).await;
    let (mut tcp, head) =
        raw(proxy.address, "CONNECT api.twilio.com:443 HTTP/1.1\r\nHost: api.twilio.com:443\r\n\r\n").await;
    assert_eq!(head.as_bytes(), CONNECT_REPLY);
    assert_eq!(CONNECT_REPLY, b"HTTP/1.1 200 Connection established\r\n\r\n");
    // Nothing more comes until the client starts TLS.
    let mut buf = [0u8; 16];
    assert!(tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut buf)).await.is_err());
}

#[tokio::test]
async fn connect_to_any_other_host_is_refused_with_403_and_a_reason() {
    let proxy = start(ProxySettings::default()).await;
    for target in ["example.com:443", "api.twilio.com.evil.net:443", "twilio.com:443", "api.twilio.com:8443"] {
        let (mut tcp, head) = raw(proxy.address, &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n")).await;
        assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{target}: {head}");
        let body = rest_of_body(&mut tcp, &head).await;
        assert!(body.contains(&format!("refused {target}")) && body.contains("*.twilio.com only"), "{body}");
    }
}

#[tokio::test]
async fn an_absolute_form_request_for_a_twilio_host_is_served_by_the_router() {
    let proxy = start(ProxySettings::default()).await;
    let (mut tcp, head) = raw(
        proxy.address,
        "POST https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json HTTP/1.1\r\n\
         Host: api.twilio.com\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let body = rest_of_body(&mut tcp, &head).await;
    assert_eq!(body, "POST /2010-04-01/Accounts/AC1/Messages.json host=api.twilio.com");
}

#[tokio::test]
async fn a_plain_request_for_another_host_or_for_no_host_is_refused() {
    let proxy = start(ProxySettings::default()).await;
    let (_, head) = raw(proxy.address, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    let (_, head) = raw(proxy.address, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
}

#[tokio::test]
async fn other_hosts_pass_through_as_a_tunnel_when_enabled() {
    // An echo server stands for the other host.
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut s, _) = echo.accept().await.unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
    });
    let proxy =
        start(ProxySettings { tunnel_other_hosts: true, own_addresses: vec![], limits: Default::default() }).await;
    let target = format!("127.0.0.1:{echo_port}");
    let (mut tcp, head) = raw(proxy.address, &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n")).await;
    assert_eq!(head.as_bytes(), CONNECT_REPLY);
    tcp.write_all(b"hello").await.unwrap();
    let mut back = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut back)).await.unwrap().unwrap();
    assert_eq!(&back, b"hello");
}

fn client_through(proxy: &Running) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(proxy.ca.cert_pem().as_bytes()).unwrap();
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{}", proxy.address)).unwrap())
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_client_that_trusts_the_ca_reaches_the_router_over_tls_through_the_proxy() {
    let proxy = start(ProxySettings::default()).await;
    let client = client_through(&proxy);
    let resp = client.get("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "GET /2010-04-01/Accounts/AC1/Messages.json host=api.twilio.com");
    // Region and edge names are minted too.
    let resp = client.get("https://messaging.sydney.au1.twilio.com/v1/Services").send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "GET /v1/Services host=messaging.sydney.au1.twilio.com");
}

#[tokio::test]
async fn a_client_without_the_ca_refuses_the_minted_certificate() {
    let proxy = start(ProxySettings::default()).await;
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{}", proxy.address)).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let err = client.get("https://api.twilio.com/healthz").send().await.unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");
}

#[tokio::test]
async fn each_twilio_host_serves_only_its_own_resources() {
    let proxy = start(ProxySettings::default()).await;
    let client = client_through(&proxy);
    let ok = |url: &'static str| {
        let client = client.clone();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(ok("https://messaging.twilio.com/v1/Services").await, 200);
    assert_eq!(ok("https://content.twilio.com/v1/Content").await, 200);
    assert_eq!(ok("https://api.twilio.com/v1/Services").await, 404);
    assert_eq!(ok("https://messaging.twilio.com/v1/Content").await, 404);
    assert_eq!(ok("https://content.twilio.com/2010-04-01/Accounts/AC1/Messages.json").await, 404);
    assert_eq!(ok("https://api.twilio.com/healthz").await, 200);
}

#[test]
fn paths_map_to_the_twilio_host_that_carries_them() {
    assert_eq!(product_of_path("/2010-04-01/Accounts/AC1/Messages.json"), Some("api"));
    assert_eq!(product_of_path("/v1/Services/MG1/PhoneNumbers"), Some("messaging"));
    assert_eq!(product_of_path("/v1/Content/HX1"), Some("content"));
    assert_eq!(product_of_path("/v2/Content"), Some("content"));
    assert_eq!(product_of_path("/v1/Keys/SK1"), Some("iam"));
    assert_eq!(product_of_path("/v1/AuthTokens/Promote"), Some("accounts"));
    assert_eq!(product_of_path("/_switchboard/Accounts/AC1/Inbound.json"), None);
    assert!(host_serves_path("api.dublin.ie1.twilio.com", "/2010-04-01/Accounts"));
    assert!(!host_serves_path("iam.twilio.com", "/v1/Services"));
    assert!(host_serves_path("api.twilio.com", "/healthz"));
}

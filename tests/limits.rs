//! HTTP limits and overload protection, against the real binary: oversized heads, stalled and
//! trickling clients, the connection cap, per-account rate and concurrency limits, and the
//! per-address lockout after authentication failures.

mod common;

use std::net::SocketAddr;
use std::process::Child;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SID: &str = "AC55555555555555555555555555555555";
const TOKEN: &str = "limitstoken";
const SID_2: &str = "AC66666666666666666666666666666666";
const TOKEN_2: &str = "othertoken";

/// The real binary, killed on drop.
struct Server {
    child: Child,
    url: String,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on loopback with two accounts and `extra` flags.
fn spawn(extra: &[&str]) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let second = format!("{SID_2}:{TOKEN_2}");
    let mut args = vec!["--simulator-delay-ms", "0", "--account", &second];
    args.extend(extra);
    let (child, url) = common::spawn_binary(&dir.path().join("sb.db"), &format!("{SID}:{TOKEN}"), &args);
    let addr = url.trim_start_matches("http://").parse().unwrap();
    (Server { child, url, addr }, dir)
}

fn messages(sid: &str) -> String {
    format!("/2010-04-01/Accounts/{sid}/Messages.json")
}

fn basic(sid: &str, token: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{sid}:{token}")))
}

/// Reads until the peer closes (or `within` passes); returns what arrived and whether it closed.
async fn read_until_closed(tcp: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_200_kb_of_headers_gets_431_and_the_server_keeps_serving() {
    let (server, _dir) = spawn(&[]);
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let head = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(200 * 1024));
    // The server answers once 32 KiB are in and closes; the rest of our write may fail.
    let (mut reader, mut writer) = tcp.split();
    let write = async {
        let _ = writer.write_all(head.as_bytes()).await;
    };
    let read = async {
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut got)).await;
        String::from_utf8_lossy(&got).into_owned()
    };
    let ((), answer) = tokio::join!(write, read);
    assert!(answer.starts_with("HTTP/1.1 431"), "answer to 200 KB of headers: {answer:?}");

    // A normal request is still served, and a head just under the limit is fine.
    let ok = reqwest::Client::new()
        .get(format!("{}/healthz", server.url))
        .header("X-Padding", "b".repeat(16 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_stalled_half_sent_requests_do_not_lock_out_a_normal_one_and_are_closed_after_the_header_timeout()
{
    let (server, _dir) = spawn(&["--header-read-timeout-secs", "3"]);
    let opened = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..300 {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(format!("POST {} HTTP/1.1\r\nHost: x\r\nAuthor", messages(SID)).as_bytes()).await.unwrap();
        stalled.push(tcp);
    }
    // While all 300 are held, a normal request is answered promptly.
    let started = Instant::now();
    let normal = reqwest::Client::new()
        .get(format!("{}{}", server.url, messages(SID)))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap();
    let latency = started.elapsed();
    assert_eq!(normal.status(), 200);
    assert!(latency < Duration::from_secs(2), "a normal request took {latency:?} beside 300 stalled ones");

    // Every stalled connection is closed once the head timeout passes (and none long before).
    let mut reads = tokio::task::JoinSet::new();
    for mut tcp in stalled {
        reads.spawn(async move {
            let (_, closed) = read_until_closed(&mut tcp, Duration::from_secs(15)).await;
            (closed, opened.elapsed())
        });
    }
    let mut closed_at = Vec::new();
    while let Some(result) = reads.join_next().await {
        let (closed, at) = result.unwrap();
        assert!(closed, "a stalled connection was still open after {at:?}");
        closed_at.push(at);
    }
    assert_eq!(closed_at.len(), 300);
    let first = closed_at.iter().min().unwrap();
    let last = closed_at.iter().max().unwrap();
    eprintln!("normal request beside 300 stalled: {latency:?}; stalled closed between {first:?} and {last:?}");
    assert!(*first >= Duration::from_millis(2500), "closed too early: {first:?}");
    assert!(*last < Duration::from_secs(10), "closed too late: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_connection_cap_a_client_waits_until_a_slot_frees() {
    let (server, _dir) = spawn(&["--max-connections", "2", "--header-read-timeout-secs", "2"]);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        held.push(tcp);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let third = reqwest::Client::new().get(format!("{}/healthz", server.url)).send().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(third.status(), 200);
    // Served only once a stalled connection timed out and gave its slot up.
    assert!(waited >= Duration::from_millis(1200), "the third connection was served after {waited:?}");
    assert!(waited < Duration::from_secs(6), "the third connection waited {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_is_closed() {
    let (server, _dir) = spawn(&["--body-read-timeout-secs", "2"]);
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 100\r\n\r\nTo=%2B14155550100",
        messages(SID),
        basic(SID, TOKEN)
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut tcp, Duration::from_secs(10)).await;
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("\"code\":20001"), "{answer:?}");
    assert!(closed, "the connection stayed open");
    assert!(took >= Duration::from_millis(1500) && took < Duration::from_secs(6), "answered after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_over_its_request_rate_gets_429_with_code_20429_and_retry_after_while_others_are_served() {
    let (server, _dir) = spawn(&["--account-request-rate", "5"]);
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    let mut refused = None;
    for _ in 0..20 {
        let r = http.get(format!("{}{}", server.url, messages(SID))).basic_auth(SID, Some(TOKEN)).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 && refused.is_none() {
            let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            refused = Some((retry_after, r.json::<serde_json::Value>().await.unwrap()));
        }
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!((5..=8).contains(&ok), "{ok} of 20 rapid requests served at 5/s: {statuses:?}");
    let (retry_after, body) = refused.expect("no 429");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(body["code"], 20429);
    assert_eq!(body["status"], 429);
    assert_eq!(body["more_info"], "https://www.twilio.com/docs/errors/20429");
    // Another account has its own budget; this one's refills.
    let other = http.get(format!("{}{}", server.url, messages(SID_2))).basic_auth(SID_2, Some(TOKEN_2)).send().await;
    assert_eq!(other.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = http.get(format!("{}{}", server.url, messages(SID))).basic_auth(SID, Some(TOKEN)).send().await;
    assert_eq!(again.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_with_too_many_requests_in_progress_gets_429_until_one_finishes() {
    let (server, _dir) = spawn(&["--account-max-concurrent", "1"]);
    // A create whose body is still on its way holds the account's only slot.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let body = "To=%2B14155550100&From=%2B14155550199&Body=hi";
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{}",
        messages(SID),
        basic(SID, TOKEN),
        body.len(),
        &body[..5]
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let http = reqwest::Client::new();
    let busy = http.get(format!("{}{}", server.url, messages(SID))).basic_auth(SID, Some(TOKEN)).send().await.unwrap();
    assert_eq!(busy.status(), 429);
    assert_eq!(busy.headers()["retry-after"], "1");
    assert_eq!(busy.json::<serde_json::Value>().await.unwrap()["code"], 20429);
    let other = http.get(format!("{}{}", server.url, messages(SID_2))).basic_auth(SID_2, Some(TOKEN_2)).send().await;
    assert_eq!(other.unwrap().status(), 200);

    slow.write_all(&body.as_bytes()[5..]).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut answer)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 201"));
    let free = http.get(format!("{}{}", server.url, messages(SID))).basic_auth(SID, Some(TOKEN)).send().await.unwrap();
    assert_eq!(free.status(), 200);
}

/// A client whose connections come from `source` (another loopback address).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(source.parse::<std::net::IpAddr>().unwrap()).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_auth_failures_lock_that_address_out_with_429_while_correct_clients_elsewhere_are_not_slowed() {
    let (server, _dir) = spawn(&["--auth-failure-limit", "5"]);
    let attacker = client_from("127.0.0.2");
    let url = format!("{}{}", server.url, messages(SID));
    let mut statuses = Vec::new();
    for i in 0..8 {
        let r = attacker.get(&url).basic_auth(SID, Some(format!("guess{i}"))).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], 20429);
        }
    }
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    // Locked out: even the right token is not checked from there until the lockout ends.
    let locked = attacker.get(&url).basic_auth(SID, Some(TOKEN)).send().await.unwrap();
    assert_eq!(locked.status(), 429);
    let wait: u64 = locked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&wait), "Retry-After {wait}");

    // A correct client from another address is served at once.
    let correct = client_from("127.0.0.1");
    let started = Instant::now();
    for _ in 0..10 {
        let r = correct.get(&url).basic_auth(SID, Some(TOKEN)).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let per_request = started.elapsed() / 10;
    eprintln!("correct client beside a locked-out address: {per_request:?} per request; lockout {wait} s");
    assert!(per_request < Duration::from_millis(500), "{per_request:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_listening_beyond_loopback_refuses_callbacks_to_loopback_by_default() {
    // A receiver on this machine, which a public-facing server must not be made to call.
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver_addr = receiver.local_addr().unwrap();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = receiver.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sb.db");
    // No webhook policy given: the default for a server listening beyond loopback applies.
    let account = format!("{SID}:{TOKEN}");
    let args = ["--listen", "0.0.0.0:0", "--simulator-delay-ms", "0", "--account", &account];
    let (child, url) = common::serve(&[&args[..], &["--db", db.to_str().unwrap()]].concat(), &[], None);
    let port = url.rsplit_once(':').unwrap().1.parse::<u16>().unwrap();
    let server = Server { child, url: format!("http://127.0.0.1:{port}"), addr: ([127, 0, 0, 1], port).into() };
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(format!("{}{}", server.url, messages(SID)))
        .basic_auth(SID, Some(TOKEN))
        .form(&[
            ("To", "+14155550100"),
            ("From", "+14155550199"),
            ("Body", "hi"),
            ("StatusCallback", &format!("http://{receiver_addr}/status")),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = created["sid"].as_str().expect("created").to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let callbacks = loop {
        let v: serde_json::Value = http
            .get(format!("{}/_switchboard/Accounts/{SID}/Messages/{sid}/Callbacks.json", server.url))
            .basic_auth(SID, Some(TOKEN))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let errors: Vec<String> = v["callbacks"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["attempts"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a["error"].as_str().map(str::to_string))
            .collect();
        if !errors.is_empty() || Instant::now() > deadline {
            break errors;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!callbacks.is_empty(), "no callback attempt recorded");
    assert!(callbacks.iter().all(|e| e.contains("public-only")), "{callbacks:?}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0, "the loopback receiver was called");
}

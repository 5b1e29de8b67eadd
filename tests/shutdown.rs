//! Graceful shutdown under load: SIGTERM while 64 connections create. Every 201 is kept,
//! and every request after the signal gets a clean refusal (a Twilio-shaped 503 with
//! `Connection: close`, or a refused connection), never a reset or a cut response.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SID: &str = "AC66666666666666666666666666666666";
const TOKEN: &str = "shutdowntoken";

/// How one client's last request ended.
#[derive(Debug)]
enum End {
    Refused503,
    ConnectionRefused,
    Other(String),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_64_connections_keeps_every_201_and_refuses_the_rest_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shutdown.db");
    let account = format!("{SID}:{TOKEN}");
    let (mut server, url) = common::spawn_binary(&db, &account, &["--simulator-delay-ms", "0"]);
    let create_url = format!("{url}/2010-04-01/Accounts/{SID}/Messages.json");
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for c in 0..64 {
        // One client each: 64 connections, kept alive between requests.
        let http = reqwest::Client::new();
        let (create_url, acked) = (create_url.clone(), acked.clone());
        clients.push(tokio::spawn(async move {
            for i in 0.. {
                let sent = http
                    .post(&create_url)
                    .basic_auth(SID, Some(TOKEN))
                    .form(&[("To", "+14155552671"), ("From", "+14155550100"), ("Body", &format!("c{c} m{i}"))])
                    .send()
                    .await;
                let resp = match sent {
                    Ok(r) => r,
                    Err(e) if e.is_connect() => return End::ConnectionRefused,
                    Err(e) => return End::Other(format!("{e:?}")),
                };
                let status = resp.status().as_u16();
                let close = resp.headers().get("connection").is_some_and(|v| v == "close");
                let body = match resp.bytes().await {
                    Ok(b) => b,
                    Err(e) => return End::Other(format!("{status} cut mid-response: {e:?}")),
                };
                let json: serde_json::Value = match serde_json::from_slice(&body) {
                    Ok(j) => j,
                    Err(e) => return End::Other(format!("{status} unreadable body: {e}")),
                };
                match status {
                    201 => acked.lock().unwrap().push(json["sid"].as_str().unwrap_or_default().to_string()),
                    503 if json["code"] == 20503 && close => return End::Refused503,
                    _ => return End::Other(format!("{status} {json} close={close}")),
                }
            }
            unreachable!()
        }));
    }
    common::wait_until("500 creates", Duration::from_secs(30), || acked.lock().unwrap().len() >= 500).await;
    let at_signal = acked.lock().unwrap().len();
    let signalled = Instant::now();
    let kill = std::process::Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let mut ends = Vec::new();
    for c in clients {
        ends.push(tokio::time::timeout(Duration::from_secs(30), c).await.expect("a client hung").unwrap());
    }
    let status = loop {
        if let Some(s) = server.try_wait().unwrap() {
            break s;
        }
        assert!(signalled.elapsed() < Duration::from_secs(20), "the server did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let exit_after = signalled.elapsed();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let acked = acked.lock().unwrap().clone();
    let refused_503 = ends.iter().filter(|e| matches!(e, End::Refused503)).count();
    let refused_connect = ends.iter().filter(|e| matches!(e, End::ConnectionRefused)).count();
    let bad: Vec<&String> = ends
        .iter()
        .filter_map(|e| match e {
            End::Other(why) => Some(why),
            _ => None,
        })
        .collect();

    // Every 201 survives the restart.
    let (mut again, url) = common::spawn_binary(&db, &account, &["--simulator-delay-ms", "0"]);
    let http = reqwest::Client::new();
    let mut missing = 0;
    for chunk in acked.chunks(32) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|sid| {
                let (http, u) = (http.clone(), format!("{url}/2010-04-01/Accounts/{SID}/Messages/{sid}.json"));
                tokio::spawn(async move { http.get(u).basic_auth(SID, Some(TOKEN)).send().await.unwrap().status() })
            })
            .collect();
        for h in handles {
            if h.await.unwrap() != 200 {
                missing += 1;
            }
        }
    }
    let _ = again.kill();
    let _ = again.wait();
    eprintln!(
        "shutdown: {} creates acknowledged ({} after SIGTERM), {missing} missing after restart; 64 clients ended: \
         {refused_503} with 503 20503 + Connection: close, {refused_connect} with connection refused, {} otherwise; \
         exit {exit_after:?} after the signal",
        acked.len(),
        acked.len() - at_signal,
        bad.len()
    );
    assert!(bad.is_empty(), "unclean ends: {bad:?}");
    assert_eq!(missing, 0, "acknowledged creates lost");
}

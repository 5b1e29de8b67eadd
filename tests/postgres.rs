//! `switchboard serve --db postgres://…` end to end: the real binary on a fresh database of the
//! throwaway cluster that `scripts/test.sh` starts (`scripts/pg.sh`, `SWITCHBOARD_TEST_PG`).
//! Without a cluster these tests are skipped with a loud message, except under `CI` or
//! `SWITCHBOARD_REQUIRE_PG`, where they fail.

mod common;

use common::pg::{cluster, fresh_database};

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SID: &str = "AC66666666666666666666666666666666";
const TOKEN: &str = "pgtoken";

fn stop(mut child: std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Stops the server as an operator does (SIGTERM: it finishes what it was doing, recording
/// the callbacks it sent), and waits for it to exit.
fn shut_down(mut child: std::process::Child) {
    let kill = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_postgres_delivers_with_callbacks_and_keeps_everything_across_a_restart() {
    let Some(base) = cluster() else { return };
    let db = fresh_database(&base, "sb").await;
    let account = format!("{SID}:{TOKEN}");
    let cb = common::Receiver::start(0, Duration::ZERO).await;
    let (server, url) = common::spawn_binary(Path::new(&db), &account, &["--simulator-delay-ms", "0"]);
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{url}/2010-04-01/Accounts/{SID}/{path}");

    let (code, number) = post(&http, &api("IncomingPhoneNumbers.json"), &[("PhoneNumber", "+14155550100")]).await;
    assert_eq!(code, 201, "{number}");
    // Concurrent creates: each answered 201 after its commit, delivered, each callback sent.
    let status_callback = format!("{}/status", cb.url);
    let creates = (0..40).map(|i| {
        let (http, create, status_callback) = (http.clone(), api("Messages.json"), status_callback.clone());
        async move {
            let body = format!("pg {i}");
            let form = [
                ("To", "+14155552671"),
                ("From", "+14155550100"),
                ("Body", &body),
                ("StatusCallback", &status_callback),
            ];
            post(&http, &create, &form).await
        }
    });
    let mut sids = Vec::new();
    for (code, m) in futures_util::future::join_all(creates).await {
        assert_eq!(code, 201, "{m}");
        assert_eq!(m["status"], "queued");
        sids.push(m["sid"].as_str().unwrap().to_string());
    }
    for sid in &sids {
        cb.wait_statuses(sid, &["sending", "sent", "delivered"]).await;
    }
    // The server records each attempt just after its answer arrives: a stop in between would
    // rightly send that callback again (at least once). Stop once every attempt is recorded.
    let (client, connection) = tokio_postgres::connect(&db, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pending: i64 =
            client.query_one("SELECT COUNT(*) FROM callbacks WHERE state = 'pending'", &[]).await.unwrap().get(0);
        if pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{pending} callbacks still pending");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shut_down(server);

    // A new process on the same database sees everything, as stored.
    let (server, url) = common::spawn_binary(Path::new(&db), &account, &["--simulator-delay-ms", "0"]);
    let api = |path: &str| format!("{url}/2010-04-01/Accounts/{SID}/{path}");
    for sid in &sids {
        let (code, m) = get(&http, &api(&format!("Messages/{sid}.json"))).await;
        assert_eq!(code, 200, "{m}");
        assert_eq!(m["status"], "delivered", "{m}");
    }
    let (code, page) = get(&http, &api("Messages.json?PageSize=1000")).await;
    assert_eq!(code, 200);
    assert_eq!(page["messages"].as_array().unwrap().len(), sids.len());
    let (code, numbers) = get(&http, &api("IncomingPhoneNumbers.json")).await;
    assert_eq!(code, 200);
    assert_eq!(numbers["incoming_phone_numbers"][0]["sid"], number["sid"]);
    // No callback was sent twice, before or after the restart.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for sid in &sids {
        let got: Vec<String> =
            cb.for_message(sid).iter().filter_map(|r| r.param("MessageStatus").map(str::to_string)).collect();
        assert_eq!(got, ["sending", "sent", "delivered"], "{sid}");
    }
    stop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_and_creates_answer_503_while_the_database_is_unreachable() {
    let Some(base) = cluster() else { return };
    let db = url::Url::parse(&fresh_database(&base, "sb").await).unwrap();
    // The server reaches the database through a proxy this test can cut.
    let target = format!("{}:{}", db.host_str().unwrap(), db.port().unwrap_or(5432));
    let up = Arc::new(AtomicBool::new(true));
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = proxy.local_addr().unwrap().port();
    let flag = up.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = proxy.accept().await else { return };
            let (flag, target) = (flag.clone(), target.clone());
            tokio::spawn(async move {
                if !flag.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else { return };
                let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                let cut = async {
                    while flag.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                };
                tokio::select! { _ = copy => {}, _ = cut => {} }
            });
        }
    });
    let mut via_proxy = db.clone();
    via_proxy.set_port(Some(proxy_port)).unwrap();
    let (server, url) =
        common::spawn_binary(Path::new(via_proxy.as_str()), &format!("{SID}:{TOKEN}"), &["--simulator-delay-ms", "0"]);
    let http = reqwest::Client::new();
    let create = format!("{url}/2010-04-01/Accounts/{SID}/Messages.json");
    let form = [("To", "+14155552671"), ("From", "+14155550100"), ("Body", "hi")];
    assert_eq!(http.get(format!("{url}/readyz")).send().await.unwrap().status(), 200);
    assert_eq!(post(&http, &create, &form).await.0, 201);

    up.store(false, Ordering::SeqCst);
    // The proxy notices within 20 ms and drops the server's connections.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = Instant::now();
    let ready = http.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "{}", ready.text().await.unwrap());
    let (code, err) = post(&http, &create, &form).await;
    assert_eq!(code, 503, "{err}");
    assert_eq!(err["status"], 503);
    assert!(err["code"].is_number() && err["message"].is_string(), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(15), "answers took {:?}", t0.elapsed());

    // Back up: the server reconnects by itself.
    up.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = http.get(format!("{url}/readyz")).send().await.unwrap().status();
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still {status} after the database came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(post(&http, &create, &form).await.0, 201);
    stop(server);
}

async fn post(http: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let resp = http.post(url).basic_auth(SID, Some(TOKEN)).form(form).send().await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap_or(serde_json::Value::Null))
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    let resp = http.get(url).basic_auth(SID, Some(TOKEN)).send().await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap_or(serde_json::Value::Null))
}

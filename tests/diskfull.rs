//! A full disk, simulated for real with SQLite's page limit (`PRAGMA max_page_count`, set
//! through the hidden test-only `--test-page-limit-file`): while the database cannot grow,
//! creates answer Twilio's 503 (20503) — no 500, no hang —; once space returns, creates succeed
//! again, and every acknowledged message is delivered with all its callbacks, by itself.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SID: &str = "AC77777777777777777777777777777777";
const TOKEN: &str = "diskfulltoken";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_answers_503_loses_nothing_acknowledged_and_recovers_by_itself() {
    let receiver = common::Receiver::start(0, Duration::ZERO).await;
    let callback = format!("{}/status", receiver.url);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("full.db");
    let limit = dir.path().join("page-limit");
    let account = format!("{SID}:{TOKEN}");
    let limit_arg = limit.to_str().unwrap().to_string();
    let (mut server, url) = common::spawn_binary(
        &db,
        &account,
        &["--simulator-delay-ms", "50", "--test-page-limit-file", &limit_arg, "--callback-retry-base-ms", "50"],
    );
    let create_url = format!("{url}/2010-04-01/Accounts/{SID}/Messages.json");
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let other = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
    let mut writers = Vec::new();
    for w in 0..16 {
        let (http, create_url, callback) = (http.clone(), create_url.clone(), callback.clone());
        let (acked, refused, other, stop) = (acked.clone(), refused.clone(), other.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                // Bodies of 1 KB fill pages quickly.
                let body = format!("w{w} m{i} {}", "x".repeat(1000));
                let sent = http
                    .post(&create_url)
                    .basic_auth(SID, Some(TOKEN))
                    .form(&[
                        ("To", "+14155552671"),
                        ("From", "+14155550100"),
                        ("Body", &body),
                        ("StatusCallback", &callback),
                    ])
                    .send()
                    .await;
                let resp = match sent {
                    Ok(r) => r,
                    Err(e) => {
                        other.lock().unwrap().push(format!("{e:?}"));
                        continue;
                    }
                };
                let status = resp.status().as_u16();
                let json: serde_json::Value = resp.json().await.unwrap_or_default();
                match status {
                    201 => acked.lock().unwrap().push(json["sid"].as_str().unwrap_or_default().to_string()),
                    503 if json["code"] == 20503 && json["more_info"].is_string() => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    _ => other.lock().unwrap().push(format!("{status} {json}")),
                }
            }
        }));
    }
    let minute = Duration::from_secs(60);
    common::wait_until("creates before the disk fills", minute, || acked.lock().unwrap().len() >= 200).await;
    // "Fill the disk": the database may not grow beyond its current size.
    std::fs::write(&limit, "1").unwrap();
    common::wait_until("503s while full", minute, || refused.load(Ordering::Relaxed) >= 100).await;
    let acked_while_full_start = acked.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused_while_full = refused.load(Ordering::Relaxed);
    // Space returns.
    std::fs::write(&limit, "0").unwrap();
    let freed = acked.lock().unwrap().len();
    common::wait_until("creates after space returned", minute, || acked.lock().unwrap().len() >= freed + 200).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let other = other.lock().unwrap().clone();
    assert!(other.is_empty(), "answers other than 201 and 503 20503: {:?}", &other[..other.len().min(5)]);

    // Every acknowledged message is delivered and reported, without a restart.
    let deadline = Instant::now() + Duration::from_secs(90);
    let pending = acked.iter().map(|sid| (sid.clone(), "delivered")).collect();
    let settled = common::settle(&http, &url, (SID, TOKEN), pending, Duration::from_secs(90)).await;
    assert!(settled.lost.is_empty(), "acknowledged messages lost: {:?}", settled.lost);
    assert!(settled.unfinished.is_empty(), "{} messages never finished delivery", settled.unfinished.len());
    let expected = ["sending", "sent", "delivered"];
    loop {
        let mut seen: HashMap<String, HashSet<String>> = HashMap::new();
        for r in receiver.got.lock().unwrap().iter() {
            if let (Some(sid), Some(st)) = (r.param("MessageSid"), r.param("MessageStatus")) {
                seen.entry(sid.to_string()).or_default().insert(st.to_string());
            }
        }
        let missing =
            acked.iter().filter(|sid| seen.get(*sid).is_none_or(|s| expected.iter().any(|e| !s.contains(*e)))).count();
        if missing == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{missing} messages still miss callbacks");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = server.kill();
    let _ = server.wait();
    eprintln!(
        "disk full: {} creates acknowledged ({} before the limit, {} after it was lifted), {refused_while_full} \
         answered 503 20503 while full, 0 other answers; all delivered with their 3 callbacks",
        acked.len(),
        acked_while_full_start,
        acked.len() - freed
    );
}

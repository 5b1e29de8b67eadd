//! Global load shedding, for real: the binary's database writer is slowed down (the hidden,
//! test-only `--test-writer-delay-ms` pauses it before each group commit, like a slow disk)
//! and its bounds made tiny, so that 32 clients creating at once make it fall behind. Creates
//! beyond the bounds are answered Twilio's 503 (20503) with `Retry-After`, nothing acknowledged
//! is lost, and nothing refused was made.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SID: &str = "AC88888888888888888888888888888888";
const TOKEN: &str = "overloadtoken";

/// What the clients saw.
#[derive(Default)]
struct Seen {
    /// (SID, body) of every 201.
    acked: Vec<(String, String)>,
    /// Every 503 20503 with `Retry-After`.
    shed: usize,
    /// Anything else.
    other: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_falls_behind_sheds_creates_with_503_20503_and_retry_after_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("overload.db");
    let account = format!("{SID}:{TOKEN}");
    let (mut server, url) = common::spawn_binary(
        &db,
        &account,
        &[
            "--simulator-delay-ms",
            "20",
            "--test-writer-delay-ms",
            "40",
            "--max-write-queue",
            "8",
            "--max-write-wait-ms",
            "60",
        ],
    );
    let create_url = format!("{url}/2010-04-01/Accounts/{SID}/Messages.json");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
    let mut clients = Vec::new();
    for c in 0..32 {
        let (http, create_url, seen, stop) = (http.clone(), create_url.clone(), seen.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let body = format!("client {c} message {i}");
                let sent = http
                    .post(&create_url)
                    .basic_auth(SID, Some(TOKEN))
                    .form(&[("To", "+14155552671"), ("From", "+14155550100"), ("Body", &body)])
                    .send()
                    .await;
                let resp = match sent {
                    Ok(r) => r,
                    Err(e) => {
                        seen.lock().unwrap().other.push(format!("{e:?}"));
                        continue;
                    }
                };
                let status = resp.status().as_u16();
                let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
                let json: serde_json::Value = resp.json().await.unwrap_or_default();
                let mut seen = seen.lock().unwrap();
                match status {
                    201 => seen.acked.push((json["sid"].as_str().unwrap_or_default().to_string(), body)),
                    503 if json["code"] == 20503
                        && json["status"] == 503
                        && json["message"] == "The server is overloaded; retry later"
                        && json["more_info"] == "https://www.twilio.com/docs/errors/20503"
                        && retry_after.as_deref() == Some("1") =>
                    {
                        seen.shed += 1
                    }
                    _ => seen.other.push(format!("{status} {retry_after:?} {json}")),
                }
            }
        }));
    }
    common::wait_until("300 creates acknowledged and 100 shed", Duration::from_secs(60), || {
        let s = seen.lock().unwrap();
        s.acked.len() >= 300 && s.shed >= 100
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(seen.other.is_empty(), "answers other than 201 and the 503: {:?}", &seen.other[..seen.other.len().min(5)]);

    // Every acknowledged message is stored, and nothing else: a shed create made nothing.
    let mut stored: HashSet<(String, String)> = HashSet::new();
    let mut next = Some(format!("/2010-04-01/Accounts/{SID}/Messages.json?PageSize=1000"));
    while let Some(page) = next {
        let json: serde_json::Value =
            http.get(format!("{url}{page}")).basic_auth(SID, Some(TOKEN)).send().await.unwrap().json().await.unwrap();
        for m in json["messages"].as_array().unwrap() {
            stored.insert((m["sid"].as_str().unwrap().to_string(), m["body"].as_str().unwrap().to_string()));
        }
        next = json["next_page_uri"].as_str().map(str::to_string);
    }
    let acked: HashSet<(String, String)> = seen.acked.iter().cloned().collect();
    assert_eq!(acked.len(), seen.acked.len());
    let lost = acked.difference(&stored).count();
    let unacknowledged = stored.difference(&acked).count();
    assert_eq!(lost, 0, "acknowledged messages lost");
    assert_eq!(unacknowledged, 0, "refused creates were stored");

    // Accepted work is finished: background writes are never shed.
    let pending = seen.acked.iter().map(|(sid, _)| (sid.clone(), "delivered")).collect();
    let settled = common::settle(&http, &url, (SID, TOKEN), pending, Duration::from_secs(60)).await;
    assert!(settled.lost.is_empty() && settled.unfinished.is_empty(), "never delivered: {settled:?}");
    let metrics = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let shed_metric = |reason: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with("switchboard_writes_shed_total") && l.contains(&format!("reason=\"{reason}\"")))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap_or("0")
            .to_string()
    };
    eprintln!(
        "overload: {} creates acknowledged, {} answered 503 20503 with Retry-After (shed by queue {}, by wait {}), \
         0 lost, 0 refused ones stored, all acknowledged delivered",
        seen.acked.len(),
        seen.shed,
        shed_metric("queue"),
        shed_metric("wait")
    );
}

//! Several nodes on one PostgreSQL database: two real `switchboard serve` processes on a fresh
//! database of the throwaway cluster (`SWITCHBOARD_TEST_PG`, started by `scripts/test.sh`).
//! Without a cluster these tests are skipped loudly, except under `CI` or
//! `SWITCHBOARD_REQUIRE_PG`, where they fail.

mod common;

use common::pg::{cluster, fresh_database};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

const SID: &str = "AC77777777777777777777777777777777";
const TOKEN: &str = "multinodetoken";
const FROM: &str = "+14155550100";
/// The lease the nodes run with: a crashed node's work is taken over within 4/3 of it.
const LEASE_SECS: &str = "2";

/// A node: its process and URL.
struct Node {
    child: Child,
    url: String,
}

impl Node {
    fn start(db: &str, extra: &[&str]) -> Node {
        let mut args = vec!["--node-lease-secs", LEASE_SECS];
        args.extend(extra);
        let (child, url) = common::spawn_binary(Path::new(db), &format!("{SID}:{TOKEN}"), &args);
        Node { child, url }
    }

    fn api(&self, path: &str) -> String {
        format!("{}/2010-04-01/Accounts/{SID}/{path}", self.url)
    }

    /// `kill -9`.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and wait for the exit.
    fn shut_down(&mut self) {
        let kill = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(kill.success());
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Two nodes on a fresh database, with the sender number owned by the account.
async fn two_nodes(extra: &[&str]) -> Option<(String, Node, Node, reqwest::Client)> {
    let base = cluster()?;
    let db = fresh_database(&base, "mn").await;
    let a = Node::start(&db, extra);
    let b = Node::start(&db, extra);
    let http = reqwest::Client::new();
    let (code, number) = post(&http, &a.api("IncomingPhoneNumbers.json"), &[("PhoneNumber", FROM)]).await;
    assert_eq!(code, 201, "{number}");
    Some((db, a, b, http))
}

async fn post(http: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    post_as(http, url, (SID, TOKEN), form).await
}

async fn post_as(http: &reqwest::Client, url: &str, (user, pass): (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
    let resp = http.post(url).basic_auth(user, Some(pass)).form(form).send().await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap_or(Value::Null))
}

async fn get_as(http: &reqwest::Client, url: &str, (user, pass): (&str, &str)) -> (u16, Value) {
    let resp = http.get(url).basic_auth(user, Some(pass)).send().await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap_or(Value::Null))
}

async fn db_client(db: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(db, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// How many times each message was handed to the carrier (its `sending` events), by SID.
async fn handed_to_carrier(db: &tokio_postgres::Client) -> HashMap<String, i64> {
    db.query(
        "SELECT m.prefix || m.key, COUNT(e.id) FROM messages m
         LEFT JOIN message_events e ON e.key = m.key AND e.to_status = 'sending'
         WHERE m.direction != 'inbound' GROUP BY 1",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// The `MessageStatus` of every callback `sid` received, in arrival order.
fn statuses(cb: &common::Receiver, sid: &str) -> Vec<String> {
    cb.for_message(sid).iter().filter_map(|r| r.param("MessageStatus").map(str::to_string)).collect()
}

/// Waits until every message in `sids` has had a `delivered` callback; returns how long it took.
async fn all_delivered(cb: &common::Receiver, sids: &[String], within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let missing = sids.iter().filter(|sid| !statuses(cb, sid).iter().any(|s| s == "delivered")).count();
        if missing == 0 {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{missing} of {} messages without a delivered callback", sids.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_spread_over_two_nodes_are_each_delivered_once_with_every_callback_once() {
    let Some((db, a, b, http)) = two_nodes(&["--simulator-delay-ms", "0"]).await else { return };
    let cb = common::Receiver::start(0, Duration::ZERO).await;
    let status_callback = format!("{}/status", cb.url);

    // The wait API of node B sees a message created on node A.
    let next = {
        let (http, url) = (http.clone(), format!("{}/_switchboard/Accounts/{SID}/Messages/Next.json", b.url));
        tokio::spawn(async move { get_as(&http, &format!("{url}?To=%2B14155559999&Timeout=10"), (SID, TOKEN)).await })
    };
    // So does its event stream.
    let mut stream = http
        .get(format!("{}/_switchboard/Accounts/{SID}/Stream", b.url))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let creates = (0..120).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        let (http, url, status_callback) = (http.clone(), node.api("Messages.json"), status_callback.clone());
        async move {
            let body = format!("spread {i}");
            let to = if i == 0 { "+14155559999" } else { "+14155552671" };
            let form = [("To", to), ("From", FROM), ("Body", &body), ("StatusCallback", &status_callback)];
            post(&http, &url, &form).await
        }
    });
    let mut sids = Vec::new();
    for (code, m) in futures_util::future::join_all(creates).await {
        assert_eq!(code, 201, "{m}");
        sids.push(m["sid"].as_str().unwrap().to_string());
    }
    let (code, found) = next.await.unwrap();
    assert_eq!(code, 200, "{found}");
    assert_eq!(found["sid"], sids[0].as_str(), "node B's wait API saw node A's message");
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains(&sids[0]) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("node B's stream never showed node A's message {}: {other:?}", sids[0]),
        }
    }
    drop(stream);

    all_delivered(&cb, &sids, Duration::from_secs(20)).await;
    // Late duplicates would arrive now.
    tokio::time::sleep(Duration::from_millis(700)).await;
    for sid in &sids {
        assert_eq!(statuses(&cb, sid), ["sending", "sent", "delivered"], "{sid}");
    }
    let handed = handed_to_carrier(&db_client(&db).await).await;
    assert_eq!(handed.len(), sids.len());
    assert!(handed.values().all(|n| *n == 1), "a message went to the carrier twice: {handed:?}");
    // Both nodes did work: each owns (processed) the messages it accepted.
    let owners: i64 =
        db_client(&db).await.query_one("SELECT COUNT(DISTINCT owner) FROM messages", &[]).await.unwrap().get(0);
    assert_eq!(owners, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_sender_keeps_its_rate_across_both_nodes() {
    // 10 messages per second for the sender, whichever node sends.
    let rate = format!("{FROM}=10");
    let Some((db, a, b, http)) = two_nodes(&["--simulator-delay-ms", "0", "--sender-rate", &rate]).await else {
        return;
    };
    let creates = (0..24).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        let (http, url) = (http.clone(), node.api("Messages.json"));
        async move { post(&http, &url, &[("To", "+14155552671"), ("From", FROM), ("Body", "paced")]).await }
    });
    for (code, m) in futures_util::future::join_all(creates).await {
        assert_eq!(code, 201, "{m}");
    }
    let client = db_client(&db).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let sends: Vec<i64> = loop {
        let rows =
            client.query("SELECT at FROM message_events WHERE to_status = 'sending' ORDER BY at", &[]).await.unwrap();
        if rows.len() == 24 {
            break rows.iter().map(|r| r.get(0)).collect();
        }
        assert!(Instant::now() < deadline, "only {} of 24 sent", rows.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // 24 sends at 10/s take 2.3 s (the first goes at once); each node alone at the full rate
    // would have taken half of that.
    let span = sends[23] - sends[0];
    assert!((2_100..4_000).contains(&span), "24 sends took {span} ms; expected about 2,300");
    // And no burst: never more than 6 sends within 500 ms.
    for (i, at) in sends.iter().enumerate() {
        let within = sends[i..].iter().take_while(|t| **t < at + 500).count();
        assert!(within <= 6, "{within} sends within 500 ms from {at}: {sends:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_fires_once_and_survives_its_node_leaving() {
    let Some((db, mut a, b, http)) = two_nodes(&["--simulator-delay-ms", "0"]).await else { return };
    let (_, number) = get_as(&http, &a.api("IncomingPhoneNumbers.json"), (SID, TOKEN)).await;
    let number_sid = number["incoming_phone_numbers"][0]["sid"].as_str().unwrap().to_string();
    let (code, service) = post(&http, &format!("{}/v1/Services", a.url), &[("FriendlyName", "sched")]).await;
    assert_eq!(code, 201, "{service}");
    let mg = service["sid"].as_str().unwrap().to_string();
    let (code, _) =
        post(&http, &format!("{}/v1/Services/{mg}/PhoneNumbers", a.url), &[("PhoneNumberSid", &number_sid)]).await;
    assert_eq!(code, 201);
    let send_at = (chrono::Utc::now() + chrono::Duration::seconds(3)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let schedule = |node: &Node| {
        let (http, url, mg, send_at) = (http.clone(), node.api("Messages.json"), mg.clone(), send_at.clone());
        async move {
            let form = [
                ("To", "+14155552671"),
                ("MessagingServiceSid", mg.as_str()),
                ("Body", "scheduled"),
                ("ScheduleType", "fixed"),
                ("SendAt", send_at.as_str()),
            ];
            let (code, m) = post(&http, &url, &form).await;
            assert_eq!(code, 201, "{m}");
            assert_eq!(m["status"], "scheduled");
            m["sid"].as_str().unwrap().to_string()
        }
    };
    let on_a = schedule(&a).await;
    let on_b = schedule(&b).await;
    // Node A leaves before its schedule is due: node B takes the schedule over at once.
    a.shut_down();
    for sid in [&on_a, &on_b] {
        common::wait_for_status(&http, &b.url, (SID, TOKEN), sid, "delivered", Duration::from_secs(15)).await;
    }
    let handed = handed_to_carrier(&db_client(&db).await).await;
    assert_eq!(handed.get(&on_a), Some(&1), "{handed:?}");
    assert_eq!(handed.get(&on_b), Some(&1), "{handed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_node_under_load_loses_nothing_and_the_other_finishes_within_the_lease() {
    // Slow carrier steps, so that the killed node has messages at every step of the lifecycle.
    let Some((db, mut a, b, http)) = two_nodes(&["--simulator-delay-ms", "300"]).await else { return };
    let cb = common::Receiver::start(0, Duration::ZERO).await;
    let status_callback = format!("{}/status", cb.url);
    let (http2, status_callback2) = (http.clone(), status_callback.clone());
    let create = move |url: String| {
        let (http, status_callback) = (http2.clone(), status_callback2.clone());
        async move {
            let form = [("To", "+14155552671"), ("From", FROM), ("Body", "load"), ("StatusCallback", &status_callback)];
            match http.post(&url).basic_auth(SID, Some(TOKEN)).form(&form).send().await {
                Ok(resp) if resp.status() == 201 => {
                    resp.json::<Value>().await.ok().and_then(|m| m["sid"].as_str().map(str::to_string))
                }
                _ => None,
            }
        }
    };
    // Load on both nodes: 16 clients, each creating in a loop, alternating nodes.
    let (a_url, b_url) = (a.api("Messages.json"), b.api("Messages.json"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..16)
        .map(|i| {
            let (create, stop) = (create.clone(), stop.clone());
            let urls = [a_url.clone(), b_url.clone()];
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut n = i;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Some(sid) = create(urls[n % 2].clone()).await {
                        acked.push(sid);
                    }
                    n += 1;
                }
                acked
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.kill();
    let killed_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acked = Vec::new();
    for c in clients {
        acked.extend(c.await.unwrap());
    }
    assert!(acked.len() > 50, "only {} creates acknowledged", acked.len());
    // Every acknowledged message is finished by node B: the lease (2 s) plus a renewal period
    // to notice, plus the carrier's steps.
    let finished = all_delivered(&cb, &acked, Duration::from_secs(20)).await;
    let after_kill = killed_at.elapsed();
    eprintln!(
        "kill -9 under load: {} acknowledged, all delivered {:.1} s after the kill",
        acked.len(),
        after_kill.as_secs_f64()
    );
    assert!(after_kill < Duration::from_secs(12), "took {after_kill:?} after the kill ({finished:?} waiting)");
    let client = db_client(&db).await;
    let handed = handed_to_carrier(&client).await;
    for sid in &acked {
        assert!(handed.get(sid).is_some_and(|n| *n >= 1), "{sid} lost or never sent");
        let got = statuses(&cb, sid);
        // At least once: a callback may repeat after the crash, but never goes back.
        for want in ["sending", "sent", "delivered"] {
            assert!(got.iter().any(|s| s == want), "{sid}: {got:?}");
        }
    }
    let unfinished: i64 =
        client.query_one("SELECT COUNT(*) FROM messages WHERE status NOT IN ('delivered')", &[]).await.unwrap().get(0);
    assert_eq!(unfinished, 0);
    let twice = handed.values().filter(|n| **n > 1).count();
    eprintln!("handed to the carrier twice (the at-least-once window): {twice} of {}", handed.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_deleted_or_an_account_suspended_on_one_node_is_refused_on_the_other_at_once() {
    let Some((_db, a, b, http)) = two_nodes(&["--simulator-delay-ms", "0"]).await else { return };
    let (code, key) = post(&http, &a.api("Keys.json"), &[("FriendlyName", "shared")]).await;
    assert_eq!(code, 201, "{key}");
    let (key_sid, secret) = (key["sid"].as_str().unwrap().to_string(), key["secret"].as_str().unwrap().to_string());
    // Node B learns (and caches) the key.
    let (code, _) = get_as(&http, &b.api("Messages.json"), (&key_sid, &secret)).await;
    assert_eq!(code, 200);
    let resp = http.delete(a.api(&format!("Keys/{key_sid}.json"))).basic_auth(SID, Some(TOKEN)).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let refused = get_as(&http, &b.api("Messages.json"), (&key_sid, &secret)).await;
    common::assert_error(&refused, 20003, 401);

    // A subaccount suspended through node A is held to it by node B on the next request.
    let (code, sub) = post(&http, &format!("{}/2010-04-01/Accounts.json", a.url), &[("FriendlyName", "sub")]).await;
    assert_eq!(code, 201, "{sub}");
    let (sub_sid, sub_token) =
        (sub["sid"].as_str().unwrap().to_string(), sub["auth_token"].as_str().unwrap().to_string());
    let sub_messages = format!("{}/2010-04-01/Accounts/{sub_sid}/Messages.json", b.url);
    let (code, _) = get_as(&http, &sub_messages, (&sub_sid, &sub_token)).await;
    assert_eq!(code, 200);
    let (code, edited) =
        post(&http, &format!("{}/2010-04-01/Accounts/{sub_sid}.json", a.url), &[("Status", "suspended")]).await;
    assert_eq!(code, 200, "{edited}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Suspended: it still reads, but creates nothing (403 20403), on the other node too.
    let form = [("To", "+14155552671"), ("From", FROM), ("Body", "suspended")];
    let refused = post_as(&http, &sub_messages, (&sub_sid, &sub_token), &form).await;
    common::assert_error(&refused, 20403, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulator_rule_added_on_one_node_decides_the_messages_the_other_sends() {
    let Some((_db, a, b, http)) = two_nodes(&["--simulator-delay-ms", "0"]).await else { return };
    let rules_a = format!("{}/_switchboard/Accounts/{SID}/Simulator/Rules.json", a.url);
    let rules_b = format!("{}/_switchboard/Accounts/{SID}/Simulator/Rules.json", b.url);
    let form = [("To", "+14155550123"), ("Outcome", "undelivered"), ("ErrorCode", "30007")];
    let (code, rule) = post(&http, &rules_a, &form).await;
    assert_eq!(code, 201, "{rule}");
    // At once on node B: listed, and deciding a message node B sends.
    let (code, listed) = get_as(&http, &rules_b, (SID, TOKEN)).await;
    assert_eq!(code, 200);
    assert_eq!(listed["rules"].as_array().map(Vec::len), Some(1), "{listed}");
    let (code, m) =
        post(&http, &b.api("Messages.json"), &[("To", "+14155550123"), ("From", FROM), ("Body", "ruled")]).await;
    assert_eq!(code, 201, "{m}");
    let sid = m["sid"].as_str().unwrap();
    common::wait_for_status(&http, &b.url, (SID, TOKEN), sid, "undelivered", Duration::from_secs(10)).await;
    let (_, m) = get_as(&http, &b.api(&format!("Messages/{sid}.json")), (SID, TOKEN)).await;
    assert_eq!(m["error_code"], 30007, "{m}");

    // Cleared on node B: gone from node A too.
    let resp = http.delete(&rules_b).basic_auth(SID, Some(TOKEN)).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (_, listed) = get_as(&http, &rules_a, (SID, TOKEN)).await;
        if listed["rules"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(Instant::now() < deadline, "node A still has the rule node B cleared: {listed}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A node with a stable id (`--node-id`) and a 15 s lease; `Node::start` would add the tests'
/// 2 s lease.
fn start_with_id(db: &str, id: &str) -> Node {
    let args = ["--node-lease-secs", "15", "--node-id", id, "--simulator-delay-ms", "300"];
    let (child, url) = common::spawn_binary(Path::new(db), &format!("{SID}:{TOKEN}"), &args);
    Node { child, url }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_with_its_id_after_kill_9_finishes_its_work_at_once_not_after_the_lease() {
    let Some(base) = cluster() else { return };
    let db = fresh_database(&base, "mn").await;
    let mut a = start_with_id(&db, "node-a");
    let http = reqwest::Client::new();
    let (code, number) = post(&http, &a.api("IncomingPhoneNumbers.json"), &[("PhoneNumber", FROM)]).await;
    assert_eq!(code, 201, "{number}");
    let cb = common::Receiver::start(0, Duration::ZERO).await;
    let status_callback = format!("{}/status", cb.url);
    let mut sids = Vec::new();
    for i in 0..20 {
        let body = format!("restart {i}");
        let form = [("To", "+14155552671"), ("From", FROM), ("Body", &body), ("StatusCallback", &status_callback)];
        let (code, m) = post(&http, &a.api("Messages.json"), &form).await;
        assert_eq!(code, 201, "{m}");
        sids.push(m["sid"].as_str().unwrap().to_string());
    }
    // Mid-lifecycle (300 ms per carrier step): nothing is delivered yet.
    a.kill();
    let killed_at = Instant::now();
    let undelivered = sids.iter().filter(|sid| !statuses(&cb, sid).iter().any(|s| s == "delivered")).count();
    assert!(undelivered > 0, "everything was delivered before the kill; the test proves nothing");
    let _restarted = start_with_id(&db, "node-a");
    all_delivered(&cb, &sids, Duration::from_secs(10)).await;
    let after_kill = killed_at.elapsed();
    eprintln!("restart with the same id: all delivered {:.1} s after the kill (lease 15 s)", after_kill.as_secs_f64());
    // A new identity would wait for the old lease to lapse: 15 s and a renewal period.
    assert!(after_kill < Duration::from_secs(8), "took {after_kill:?}");
    let handed = handed_to_carrier(&db_client(&db).await).await;
    for sid in &sids {
        assert!(handed.get(sid).is_some_and(|n| *n >= 1), "{sid} lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_with_the_id_of_a_running_node_refuses_to_start() {
    let Some(base) = cluster() else { return };
    let db = fresh_database(&base, "mn").await;
    let _a = Node::start(&db, &["--node-id", "twin"]);
    // The lease is 2 s, so the newcomer waits 4 s for the id to come free, then gives up.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--account", &format!("{SID}:{TOKEN}"), "--db", &db])
        .args(["--node-lease-secs", LEASE_SECS, "--node-id", "twin"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("held by a running Switchboard"), "{stderr}");
}

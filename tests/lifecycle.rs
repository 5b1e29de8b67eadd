//! The message lifecycle end to end: simulator outcomes, signed status callbacks, retries,
//! ordering, isolation, sender rates, queue overflow, validity expiry, runtime rules, metrics.

mod common;

use common::*;
use std::time::{Duration, Instant};
use switchboard::outbound::signature;

fn messages() -> String {
    TestServer::messages_path(SID_A)
}

async fn create_with_callback(s: &TestServer, to: &str, callback: &str) -> String {
    let (code, m) = s
        .post(&messages(), &[("To", to), ("From", "+14155550100"), ("Body", "hello"), ("StatusCallback", callback)])
        .await;
    assert_eq!(code, 201, "{m}");
    m["sid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn each_simulated_outcome_sends_its_exact_signed_callback_sequence() {
    let s = TestServer::start().await;
    let rx = Receiver::start(0, Duration::ZERO).await;
    let url = format!("{}/status?app=1", rx.url);
    for (to, statuses, error) in [
        ("+14155552671", vec!["sending", "sent", "delivered"], None),
        ("+15005550300", vec!["sending", "sent"], None),
        ("+15005550301", vec!["sending", "failed"], Some("30001")),
        ("+15005550302", vec!["sending", "failed"], Some("30002")),
        ("+15005550303", vec!["sending", "sent", "undelivered"], Some("30003")),
        ("+15005550307", vec!["sending", "sent", "undelivered"], Some("30007")),
    ] {
        let sid = create_with_callback(&s, to, &url).await;
        let got = rx.wait_statuses(&sid, &statuses).await;
        for (r, status) in got.iter().zip(&statuses) {
            assert_eq!(r.method, "POST");
            assert_eq!(r.path_and_query, "/status?app=1");
            assert_eq!(r.headers.get("content-type").map(String::as_str), Some("application/x-www-form-urlencoded"));
            assert!(r.headers.contains_key("i-twilio-idempotency-token"));
            let mut names: Vec<&str> = r.params.iter().map(|(k, _)| k.as_str()).collect();
            names.sort();
            let mut expected =
                vec!["AccountSid", "ApiVersion", "From", "MessageSid", "MessageStatus", "SmsSid", "SmsStatus", "To"];
            if matches!(*status, "failed" | "undelivered") {
                expected.push("ErrorCode");
            }
            if matches!(*status, "delivered" | "undelivered") {
                expected.push("RawDlrDoneDate");
            }
            expected.sort();
            assert_eq!(names, expected, "{to} {status}");
            assert_eq!(r.param("MessageStatus"), Some(*status));
            assert_eq!(r.param("SmsStatus"), Some(*status));
            assert_eq!(r.param("SmsSid"), Some(sid.as_str()));
            assert_eq!(r.param("AccountSid"), Some(SID_A));
            assert_eq!(r.param("To"), Some(to));
            assert_eq!(r.param("From"), Some("+14155550100"));
            assert_eq!(r.param("ApiVersion"), Some("2010-04-01"));
            if matches!(*status, "failed" | "undelivered") {
                assert_eq!(r.param("ErrorCode"), error);
            }
            if let Some(d) = r.param("RawDlrDoneDate") {
                assert!(d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()), "{d}");
            }
            let sig = r.headers.get("x-twilio-signature").expect("signed");
            assert_eq!(*sig, signature::sign(TOKEN_A, &url, &r.params), "signature over the exact URL");
        }
        let (_, m) = s.get(&TestServer::message_path(SID_A, &sid)).await;
        assert_eq!(m["status"], *statuses.last().unwrap());
        if let Some(code) = error {
            assert_eq!(m["error_code"].to_string(), code);
        }
    }
}

#[tokio::test]
async fn failing_callbacks_are_retried_with_backoff_and_every_attempt_is_recorded() {
    let s = TestServer::start().await;
    let rx = Receiver::start(2, Duration::ZERO).await; // 500, 500, then 200
    let sid = create_with_callback(&s, "+15005550300", &format!("{}/flaky", rx.url)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = rx.for_message(&sid);
        let statuses: Vec<&str> = got.iter().filter_map(|r| r.param("MessageStatus")).collect();
        // The first callback ("sending") fails twice and then succeeds; "sent" waits behind it.
        if statuses == ["sending", "sending", "sending", "sent"] {
            let tokens: Vec<&String> = got[..3].iter().map(|r| &r.headers["i-twilio-idempotency-token"]).collect();
            assert!(tokens.iter().all(|t| *t == tokens[0]), "idempotency token stable across retries");
            break;
        }
        assert!(Instant::now() < deadline, "callbacks so far: {statuses:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let path = format!("/_switchboard/Accounts/{SID_A}/Messages/{sid}/Callbacks.json");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (code, body) = s.get(&path).await;
        assert_eq!(code, 200, "{body}");
        let cbs = body["callbacks"].as_array().unwrap();
        if cbs.len() == 2 && cbs.iter().all(|c| c["state"] == "delivered") {
            let attempts = cbs[0]["attempts"].as_array().unwrap();
            let statuses: Vec<_> = attempts.iter().map(|a| a["http_status"].as_u64()).collect();
            assert_eq!(statuses, [Some(500), Some(500), Some(200)]);
            assert_eq!(cbs[0]["params"]["MessageStatus"], "sending");
            assert_eq!(cbs[1]["attempts"].as_array().unwrap().len(), 1);
            break;
        }
        assert!(Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn connection_override_fragments_are_honoured_and_stripped() {
    let s = TestServer::start().await;
    let rx = Receiver::start(usize::MAX, Duration::ZERO).await; // always 500
    let sid = create_with_callback(&s, "+15005550301", &format!("{}/flaky#rc=0", rx.url)).await;
    s.wait_for_status(&sid, "failed").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got = rx.for_message(&sid);
    // rc=0: one attempt per callback, no retries.
    let statuses: Vec<&str> = got.iter().filter_map(|r| r.param("MessageStatus")).collect();
    assert_eq!(statuses, ["sending", "failed"]);
    assert_eq!(got[0].path_and_query, "/flaky");
}

#[tokio::test]
async fn a_slow_callback_endpoint_slows_nothing_else() {
    let s = TestServer::start().await;
    let rx = Receiver::start(0, Duration::from_secs(3)).await;
    let slow = create_with_callback(&s, "+14155552671", &format!("{}/slow", rx.url)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let fast = create_with_callback(&s, "+14155552672", &format!("{}/fast", rx.url)).await;
    rx.wait_statuses(&fast, &["sending", "sent", "delivered"]).await;
    assert!(started.elapsed() < Duration::from_secs(2), "fast callbacks took {:?}", started.elapsed());
    // The slow message itself was delivered on time; only its callbacks wait.
    s.wait_for_status(&slow, "delivered").await;
}

#[tokio::test]
async fn a_sender_is_drained_at_its_rate_without_delaying_other_senders() {
    let s = TestServer::start_with(|c| {
        c.delivery.rates.set("+14155550100=10").unwrap();
    })
    .await;
    let started = Instant::now();
    let mut sids = Vec::new();
    for i in 0..20 {
        sids.push(s.create("+14155552671", &format!("m{i}")).await["sid"].as_str().unwrap().to_string());
    }
    let (_, other) =
        s.post(&messages(), &[("To", "+14155552671"), ("From", "+14155550199"), ("Body", "other sender")]).await;
    s.wait_for_status(other["sid"].as_str().unwrap(), "delivered").await;
    assert!(started.elapsed() < Duration::from_millis(1500), "another sender waited {:?}", started.elapsed());
    for sid in &sids {
        s.wait_for_status(sid, "delivered").await;
    }
    let took = started.elapsed();
    // 20 segments at 10 MPS: about 2 s (the first goes at once).
    assert!(took >= Duration::from_millis(1700) && took < Duration::from_secs(6), "took {took:?}");
}

#[tokio::test]
async fn a_full_sender_queue_rejects_creates_with_21611() {
    let s = TestServer::start_with(|c| {
        c.delivery.rates.set("+14155550100=1").unwrap();
        c.delivery.queue_limit_secs = 3;
    })
    .await;
    let mut codes = Vec::new();
    for i in 0..8 {
        let (code, body) =
            s.post(&messages(), &[("To", "+14155552671"), ("From", "+14155550100"), ("Body", &format!("m{i}"))]).await;
        codes.push(if code == 201 { 201 } else { body["code"].as_u64().unwrap() });
    }
    assert!(codes.contains(&21611), "{codes:?}");
    assert_eq!(codes[0], 201);
    assert_error(
        &s.post(&messages(), &[("To", "+14155552671"), ("From", "+14155550100"), ("Body", "x")]).await,
        21611,
        400,
    );
}

#[tokio::test]
async fn a_message_whose_validity_lapses_in_the_queue_fails_with_30036() {
    let s = TestServer::start_with(|c| {
        c.delivery.rates.set("+14155550100=1").unwrap();
    })
    .await;
    let rx = Receiver::start(0, Duration::ZERO).await;
    let cb = format!("{}/status", rx.url);
    let form = |v: &'static str| {
        vec![
            ("To", "+14155552671"),
            ("From", "+14155550100"),
            ("Body", "x"),
            ("ValidityPeriod", v),
            ("StatusCallback", ""),
        ]
    };
    let mut sids = Vec::new();
    // Only the last one has a validity it cannot meet: the first two keep the queue busy for it
    // (and may take their time on a loaded machine).
    for validity in ["60", "60", "1"] {
        let mut f = form(validity);
        f[4].1 = &cb;
        let (code, m) = s.post(&messages(), &f).await;
        assert_eq!(code, 201, "{m}");
        sids.push(m["sid"].as_str().unwrap().to_string());
    }
    // At 1 MPS the third message leaves the queue after ~2 s, past its 1 s validity.
    let m = s.wait_for_status(&sids[2], "failed").await;
    assert_eq!(m["error_code"], 30036);
    assert_eq!(m["error_message"], "Validity period expired");
    let got = rx.wait_statuses(&sids[2], &["failed"]).await;
    assert_eq!(got[0].param("ErrorCode"), Some("30036"));
    s.wait_for_status(&sids[0], "delivered").await;
}

#[tokio::test]
async fn simulator_rules_inject_faults_per_account() {
    let s = TestServer::start().await;
    let rules = format!("/_switchboard/Accounts/{SID_A}/Simulator/Rules.json");
    let (code, rule) = s.post(&rules, &[("To", "+1415555*"), ("Outcome", "undelivered"), ("ErrorCode", "30007")]).await;
    assert_eq!(code, 201, "{rule}");
    assert_error(&s.post(&rules, &[("Outcome", "exploded")]).await, 20001, 400);
    let m = s.create("+14155552671", "filtered").await;
    let m = s.wait_for_status(m["sid"].as_str().unwrap(), "undelivered").await;
    assert_eq!(m["error_code"], 30007);
    // Account B is not affected by A's rule.
    let (_, b) = s
        .post_as(
            SID_B,
            TOKEN_B,
            &TestServer::messages_path(SID_B),
            &[("To", "+14155552671"), ("From", "+14155550100"), ("Body", "x")],
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, got) = s.get_as(SID_B, TOKEN_B, &TestServer::message_path(SID_B, b["sid"].as_str().unwrap())).await;
        if got["status"] == "delivered" {
            break;
        }
        assert!(Instant::now() < deadline, "{got}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, list) = s.get(&rules).await;
    assert_eq!(list["rules"].as_array().unwrap().len(), 1);
    let resp = s.http.delete(format!("{}{rules}", s.url)).basic_auth(SID_A, Some(TOKEN_A)).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let m = s.create("+14155552671", "clean").await;
    s.wait_for_status(m["sid"].as_str().unwrap(), "delivered").await;
}

#[tokio::test]
async fn metrics_expose_statuses_callbacks_and_http_latency() {
    let s = TestServer::start().await;
    let rx = Receiver::start(0, Duration::ZERO).await;
    let sid = create_with_callback(&s, "+14155552671", &format!("{}/m", rx.url)).await;
    rx.wait_statuses(&sid, &["sending", "sent", "delivered"]).await;
    let text = s.http.get(format!("{}/metrics", s.url)).send().await.unwrap().text().await.unwrap();
    for needle in [
        "switchboard_message_status_changes_total{status=\"delivered\"}",
        "switchboard_callback_attempts_total",
        "switchboard_callback_latency_seconds_bucket",
        "switchboard_http_request_duration_seconds_bucket{route=\"/2010-04-01/Accounts/{account}/Messages.json\"",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_of_each_message_arrive_in_order_under_concurrency() {
    let s = std::sync::Arc::new(TestServer::start().await);
    let rx = Receiver::start(0, Duration::ZERO).await;
    let url = format!("{}/order", rx.url);
    let mut tasks = Vec::new();
    for i in 0..60 {
        let (s, url) = (s.clone(), url.clone());
        let to = if i % 3 == 0 { "+15005550303" } else { "+14155552671" };
        tasks.push(tokio::spawn(async move { (to, create_with_callback(&s, to, &url).await) }));
    }
    for t in tasks {
        let (to, sid) = t.await.unwrap();
        let expected: &[&str] =
            if to == "+15005550303" { &["sending", "sent", "undelivered"] } else { &["sending", "sent", "delivered"] };
        rx.wait_statuses(&sid, expected).await;
    }
}

#[tokio::test]
async fn privacy_options_discard_the_body_and_obfuscate_the_recipient_once_final() {
    let s = TestServer::start().await;
    let rx = Receiver::start(0, Duration::ZERO).await;
    let callback = format!("{}/privacy", rx.url);
    let form = |to: &'static str| {
        vec![
            ("To", to),
            ("From", "+14155550100"),
            ("Body", "secret code 1234"),
            ("ContentRetention", "discard"),
            ("AddressRetention", "obfuscate"),
            ("StatusCallback", callback.as_str()),
        ]
    };
    let (code, m) = s.post(&messages(), &form("+14155552671")).await;
    assert_eq!(code, 201, "{m}");
    assert_eq!(m["body"], "secret code 1234", "kept until the message is final");
    let sid = m["sid"].as_str().unwrap();
    let done = s.wait_for_status(sid, "delivered").await;
    assert_eq!(done["body"], "");
    assert_eq!(done["to"], "+1415555XXXX", "Twilio's form: the recipient's last four digits");
    assert_eq!(done["from"], "+14155550100", "the account's own number stays");
    let got = rx.wait_statuses(sid, &["sending", "sent", "delivered"]).await;
    assert_eq!(got[1].param("To"), Some("+14155552671"), "before obfuscation");
    assert_eq!(got[2].param("To"), Some("+1415555XXXX"), "the final callback shows the message as kept");
    assert_eq!(got[2].param("From"), Some("+14155550100"));
    // A filter by the original number no longer finds it.
    let (_, page) = s.get(&format!("{}?To=%2B14155552671", messages())).await;
    assert!(page["messages"].as_array().unwrap().iter().all(|m| m["sid"] != sid), "{page}");
    // A message that never becomes final keeps both.
    let (_, pending) = s.post(&messages(), &form("+15005550300")).await;
    let sent = s.wait_for_status(pending["sid"].as_str().unwrap(), "sent").await;
    assert_eq!(sent["body"], "secret code 1234");
    assert_eq!(sent["to"], "+15005550300");
}

#[tokio::test]
async fn retention_deletes_old_finished_messages_only() {
    use switchboard::store::{retention, Cursor, MessageFilter};
    use switchboard_domain::message::Message;
    use switchboard_domain::sid::KeyGenerator;
    use switchboard_domain::status::Status;
    let dir = tempfile::tempdir().unwrap();
    let store = switchboard::store::open(dir.path().join("r.db").to_str().unwrap()).await.unwrap();
    let keys = KeyGenerator::new();
    let day = 86_400_000;
    let now = chrono::Utc::now().timestamp_millis();
    let msg = |at: i64, status: Status| {
        Message::builder(format!("SM{}", keys.next(at)), SID_A, "+14155552671", at)
            .from(Some("+14155550100".into()))
            .body("x")
            .status(status)
            .build()
    };
    let batch: Vec<Message> = (0..1200).map(|i| msg(now - 40 * day + i, Status::Delivered)).collect();
    store.insert_messages(batch).await.unwrap();
    store.insert_messages(vec![msg(now - 40 * day + 5000, Status::Scheduled)]).await.unwrap();
    // Sent 40 days ago with no receipt since: past the receipt window, so done with.
    let stuck = Message { date_sent: Some(now - 40 * day + 6000), ..msg(now - 40 * day + 6000, Status::Sent) };
    // Created as long ago but sent ten minutes ago: its receipt may still come.
    let lately_sent = Message { date_sent: Some(now - 600_000), ..msg(now - 40 * day + 7000, Status::Sent) };
    store.insert_messages(vec![stuck, lately_sent]).await.unwrap();
    store.insert_messages(vec![msg(now - day, Status::Delivered)]).await.unwrap();
    let removed = retention::sweep(store.as_ref(), now - 30 * day, now - 3_600_000).await;
    assert_eq!(removed, 1201);
    let left = store.list_messages(SID_A, &MessageFilter::default(), &Cursor::Start, 100).await.unwrap();
    let statuses: Vec<Status> = left.iter().map(|m| m.status).collect();
    assert_eq!(
        statuses,
        [Status::Delivered, Status::Sent, Status::Scheduled],
        "recent, unfinished and still-awaited messages stay"
    );
}

#[tokio::test]
async fn a_read_rule_delivers_then_reads_with_an_event_type_read_callback() {
    let s = TestServer::start().await;
    let rules = format!("/_switchboard/Accounts/{SID_A}/Simulator/Rules.json");
    let (code, _) = s.post(&rules, &[("To", "rcs:*"), ("Outcome", "read")]).await;
    assert_eq!(code, 201);
    let rx = Receiver::start(0, Duration::ZERO).await;
    let (code, m) = s
        .post(
            &messages(),
            &[
                ("To", "rcs:+14155552671"),
                ("From", "rcs:+14155550100"),
                ("Body", "seen?"),
                ("StatusCallback", &format!("{}/rcs", rx.url)),
            ],
        )
        .await;
    assert_eq!(code, 201, "{m}");
    let sid = m["sid"].as_str().unwrap();
    let got = rx.wait_statuses(sid, &["sending", "sent", "delivered", "read"]).await;
    assert_eq!(got[3].param("EventType"), Some("READ"));
    assert_eq!(got[2].param("EventType"), None);
    s.wait_for_status(sid, "read").await;
}

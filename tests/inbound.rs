//! Senders in use: Messaging Service sending (sender selection, sticky sender, defaults,
//! scheduling), owned senders, inbound messages with signed webhooks, TwiML replies, opt-outs.

mod common;

use common::*;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard::outbound::signature;

/// A webhook app answering each path with a fixed body (TwiML), recording every request.
#[derive(Clone)]
struct App {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl App {
    async fn start(routes: Vec<(&'static str, u16, String)>) -> App {
        use axum::extract::Request;
        let got = Arc::new(Mutex::new(Vec::<Received>::new()));
        let g = got.clone();
        let app = axum::Router::new().fallback(move |req: Request| {
            let (g, routes) = (g.clone(), routes.clone());
            async move {
                let method = req.method().to_string();
                let path = req.uri().path().to_string();
                let path_and_query = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
                let headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
                let params = form_urlencoded::parse(&body).into_owned().collect();
                let raw = String::from_utf8_lossy(&body).into_owned();
                g.lock().unwrap().push(Received { path_and_query, method, headers, params, raw, at: Instant::now() });
                let (status, text) = routes
                    .iter()
                    .find(|(p, _, _)| *p == path)
                    .map(|(_, s, t)| (*s, t.clone()))
                    .unwrap_or((200, String::new()));
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [(axum::http::header::CONTENT_TYPE, "text/xml")],
                    text,
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        App { url, got }
    }

    async fn wait_for(&self, path: &str, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got: Vec<Received> =
                self.got.lock().unwrap().iter().filter(|r| r.path_and_query.starts_with(path)).cloned().collect();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{path}: {} requests, expected {n}", got.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

const OURS: &str = "+14155550100";
const HANDSET: &str = "+14155552671";

async fn buy_number(s: &TestServer, number: &str, form: &[(&str, &str)]) -> Value {
    let mut f = vec![("PhoneNumber", number)];
    f.extend_from_slice(form);
    let (code, n) = s.post(&format!("/2010-04-01/Accounts/{SID_A}/IncomingPhoneNumbers.json"), &f).await;
    assert_eq!(code, 201, "{n}");
    n
}

async fn service(s: &TestServer, form: &[(&str, &str)]) -> String {
    let mut f = vec![("FriendlyName", "svc")];
    f.extend_from_slice(form);
    let (code, svc) = s.post("/v1/Services", &f).await;
    assert_eq!(code, 201, "{svc}");
    svc["sid"].as_str().unwrap().to_string()
}

async fn add_to_pool(s: &TestServer, service: &str, number: &Value) {
    let (code, body) = s
        .post(&format!("/v1/Services/{service}/PhoneNumbers"), &[("PhoneNumberSid", number["sid"].as_str().unwrap())])
        .await;
    assert_eq!(code, 201, "{body}");
}

async fn inbound(s: &TestServer, from: &str, to: &str, body: &str) -> Value {
    let (code, m) = s
        .post(&format!("/_switchboard/Accounts/{SID_A}/Inbound.json"), &[("From", from), ("To", to), ("Body", body)])
        .await;
    assert_eq!(code, 201, "{m}");
    m
}

async fn events(s: &TestServer, sid: &str) -> Vec<Value> {
    let (_, ev) = s.get(&format!("/_switchboard/Accounts/{SID_A}/Messages/{sid}/Events.json")).await;
    ev["events"].as_array().cloned().unwrap_or_default()
}

/// Outbound-reply messages currently listed, newest first.
async fn replies(s: &TestServer) -> Vec<Value> {
    let (_, page) = s.get(&format!("{}?PageSize=100", TestServer::messages_path(SID_A))).await;
    page["messages"].as_array().unwrap().iter().filter(|m| m["direction"] == "outbound-reply").cloned().collect()
}

async fn wait_replies(s: &TestServer, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = replies(s).await;
        if r.len() >= n {
            return r;
        }
        assert!(Instant::now() < deadline, "{} replies, expected {n}", r.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_inbound_message_reaches_the_numbers_webhook_signed_with_twilios_parameters() {
    let s = TestServer::start().await;
    let app = App::start(vec![("/sms", 200, "<Response/>".into())]).await;
    let hook = format!("{}/sms?client=1", app.url);
    buy_number(&s, OURS, &[("SmsUrl", &hook)]).await;
    let m = inbound(&s, HANDSET, OURS, "hello there").await;
    assert_eq!(m["direction"], "inbound");
    assert_eq!(m["status"], "receiving");
    assert_eq!(m["from"], HANDSET);
    assert_eq!(m["to"], OURS);
    let sid = m["sid"].as_str().unwrap();
    let got = app.wait_for("/sms", 1).await;
    let r = &got[0];
    assert_eq!(r.method, "POST");
    for (k, v) in [
        ("MessageSid", sid),
        ("SmsMessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", SID_A),
        ("From", HANDSET),
        ("To", OURS),
        ("Body", "hello there"),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsStatus", "received"),
        ("ApiVersion", "2010-04-01"),
        ("FromCountry", "US"),
        ("ToCity", ""),
    ] {
        assert_eq!(r.param(k), Some(v), "{k}");
    }
    assert_eq!(r.headers["x-twilio-signature"], signature::sign(TOKEN_A, &hook, &r.params));
    let m = s.wait_for_status(sid, "received").await;
    assert_eq!(m["direction"], "inbound");
    assert!(replies(&s).await.is_empty(), "an empty <Response/> sends nothing");
}

#[tokio::test]
async fn an_obfuscated_inbound_message_keeps_the_handsets_number_until_received_then_hides_its_last_digits() {
    let s = TestServer::start().await;
    let app = App::start(vec![("/sms", 200, "<Response/>".into())]).await;
    buy_number(&s, OURS, &[("SmsUrl", &format!("{}/sms", app.url))]).await;
    let path = format!("/_switchboard/Accounts/{SID_A}/Inbound.json");
    let mut sids = Vec::new();
    for (from, to) in [(HANDSET, OURS), ("whatsapp:+14155552671", "whatsapp:+14155550100")] {
        let form = [
            ("From", from),
            ("To", to),
            ("Body", "my pin is 4321"),
            ("AddressRetention", "obfuscate"),
            ("ContentRetention", "discard"),
        ];
        let (code, m) = s.post(&path, &form).await;
        assert_eq!(code, 201, "{m}");
        assert_eq!(m["from"], from, "kept while the webhook runs");
        sids.push(m["sid"].as_str().unwrap().to_string());
    }
    let got = app.wait_for("/sms", 2).await;
    assert_eq!(got[0].param("From"), Some(HANDSET), "the application gets the real number");
    assert_eq!(got[0].param("Body"), Some("my pin is 4321"));
    let sms = s.wait_for_status(&sids[0], "received").await;
    assert_eq!(
        (sms["from"].as_str(), sms["to"].as_str(), sms["body"].as_str()),
        (Some("+1415555XXXX"), Some(OURS), Some(""))
    );
    let wa = s.wait_for_status(&sids[1], "received").await;
    assert_eq!(
        (wa["from"].as_str(), wa["to"].as_str()),
        (Some("whatsapp:+1415555XXXX"), Some("whatsapp:+14155550100"))
    );
    let (_, page) = s.get(&format!("{}?From=%2B14155552671", TestServer::messages_path(SID_A))).await;
    assert!(page["messages"].as_array().unwrap().iter().all(|m| m["sid"] != sids[0].as_str()), "{page}");
    let bad = [("From", HANDSET), ("To", OURS), ("Body", "x"), ("AddressRetention", "mask")];
    assert_error(&s.post(&path, &bad).await, 20001, 400);
}

#[tokio::test]
async fn twiml_message_replies_are_sent_as_outbound_replies_with_their_callbacks() {
    let s = TestServer::start().await;
    let cb = Receiver::start(0, Duration::ZERO).await;
    let twiml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response>
             <Message>First reply</Message>
             <Message to="+14155552672" statusCallback="{}/cb2"><Body>Second </Body><Body>reply</Body></Message>
           </Response>"#,
        cb.url
    );
    let app = App::start(vec![("/sms", 200, twiml)]).await;
    buy_number(&s, OURS, &[("SmsUrl", &format!("{}/sms", app.url))]).await;
    inbound(&s, HANDSET, OURS, "hi").await;
    let r = wait_replies(&s, 2).await;
    let first = r.iter().find(|m| m["body"] == "First reply").expect("first reply");
    assert_eq!(first["to"], HANDSET);
    assert_eq!(first["from"], OURS);
    let second = r.iter().find(|m| m["body"] == "Second reply").expect("second reply");
    assert_eq!(second["to"], "+14155552672");
    for m in [first, second] {
        s.wait_for_status(m["sid"].as_str().unwrap(), "delivered").await;
    }
    cb.wait_statuses(second["sid"].as_str().unwrap(), &["sending", "sent", "delivered"]).await;
}

#[tokio::test]
async fn webhook_failures_fall_back_and_are_recorded_with_twilios_codes() {
    let s = TestServer::start().await;
    let app = App::start(vec![
        ("/down", 500, String::new()),
        ("/fallback", 200, "<Response><Message>from fallback</Message></Response>".into()),
        ("/broken", 200, "<Response><Message>oops</Response>".into()),
        ("/say", 200, "<Response><Say>voice only</Say></Response>".into()),
    ])
    .await;
    buy_number(
        &s,
        OURS,
        &[("SmsUrl", &format!("{}/down", app.url)), ("SmsFallbackUrl", &format!("{}/fallback", app.url))],
    )
    .await;
    let m = inbound(&s, HANDSET, OURS, "one").await;
    let sid = m["sid"].as_str().unwrap();
    s.wait_for_status(sid, "received").await;
    let ev = events(&s, sid).await;
    assert!(ev.iter().any(|e| e["error_code"] == 11200), "{ev:?}");
    let r = wait_replies(&s, 1).await;
    assert_eq!(r[0]["body"], "from fallback");

    for (number, path, code) in [("+14155550101", "/broken", 12100), ("+14155550102", "/say", 12200)] {
        buy_number(&s, number, &[("SmsUrl", &format!("{}{path}", app.url))]).await;
        let m = inbound(&s, HANDSET, number, "x").await;
        let sid = m["sid"].as_str().unwrap();
        s.wait_for_status(sid, "received").await;
        let ev = events(&s, sid).await;
        assert!(ev.iter().any(|e| e["error_code"] == code), "{path}: {ev:?}");
    }
    // Nothing reachable at all: still received, with 11200 recorded.
    buy_number(&s, "+14155550103", &[("SmsUrl", "http://127.0.0.1:9/nowhere")]).await;
    let m = inbound(&s, HANDSET, "+14155550103", "x").await;
    let sid = m["sid"].as_str().unwrap();
    s.wait_for_status(sid, "received").await;
    assert!(events(&s, sid).await.iter().any(|e| e["error_code"] == 11200));
}

#[tokio::test]
async fn redirect_fetches_more_twiml() {
    let s = TestServer::start().await;
    let app = App::start(vec![
        ("/sms", 200, "<Response><Redirect method=\"POST\">/next</Redirect><Message>never</Message></Response>".into()),
        ("/next", 200, "<Response><Message>after redirect</Message></Response>".into()),
    ])
    .await;
    buy_number(&s, OURS, &[("SmsUrl", &format!("{}/sms", app.url))]).await;
    inbound(&s, HANDSET, OURS, "go").await;
    let r = wait_replies(&s, 1).await;
    assert_eq!(r[0]["body"], "after redirect");
    let next = app.wait_for("/next", 1).await;
    assert_eq!(next[0].param("Body"), Some("go"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(replies(&s).await.len(), 1, "verbs after <Redirect> are not run");
}

#[tokio::test]
async fn inbound_to_a_number_the_account_does_not_have_is_refused() {
    let s = TestServer::start().await;
    let (code, body) = s
        .post(
            &format!("/_switchboard/Accounts/{SID_A}/Inbound.json"),
            &[("From", HANDSET), ("To", OURS), ("Body", "x")],
        )
        .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["code"], 21606);
}

#[tokio::test]
async fn stop_blocks_sends_with_21610_and_start_lifts_it() {
    let s = TestServer::start().await;
    buy_number(&s, OURS, &[]).await;
    let msgs = TestServer::messages_path(SID_A);
    let send = || s.post(&msgs, &[("To", HANDSET), ("From", OURS), ("Body", "promo")]);
    assert_eq!(send().await.0, 201);
    let m = inbound(&s, HANDSET, OURS, "STOP").await;
    s.wait_for_status(m["sid"].as_str().unwrap(), "received").await;
    assert_error(&send().await, 21610, 400);
    // Another sender of the account may still write to the handset.
    let (code, _) =
        s.post(&TestServer::messages_path(SID_A), &[("To", HANDSET), ("From", "+14155550199"), ("Body", "x")]).await;
    assert_eq!(code, 201);
    let confirm = wait_replies(&s, 1).await;
    assert!(confirm[0]["body"].as_str().unwrap().contains("unsubscribed"), "{}", confirm[0]);
    let m = inbound(&s, HANDSET, OURS, "start").await;
    s.wait_for_status(m["sid"].as_str().unwrap(), "received").await;
    assert_eq!(send().await.0, 201);
    let m = inbound(&s, HANDSET, OURS, "HELP").await;
    s.wait_for_status(m["sid"].as_str().unwrap(), "received").await;
    let all = wait_replies(&s, 3).await;
    assert!(all.iter().any(|r| r["body"].as_str().unwrap().starts_with("Reply STOP")), "{all:?}");
}

#[tokio::test]
async fn a_messaging_service_accepts_then_queues_with_a_sticky_sender_and_its_defaults() {
    let s = TestServer::start().await;
    let cb = Receiver::start(0, Duration::ZERO).await;
    let svc = service(&s, &[("StatusCallback", &format!("{}/svc", cb.url)), ("StickySender", "true")]).await;
    for n in ["+14155550100", "+14155550111", "+14155550122"] {
        let num = buy_number(&s, n, &[]).await;
        add_to_pool(&s, &svc, &num).await;
    }
    let (code, m) = s
        .post(
            &TestServer::messages_path(SID_A),
            &[("To", "+13105552671"), ("MessagingServiceSid", &svc), ("Body", "hi")],
        )
        .await;
    assert_eq!(code, 201, "{m}");
    assert_eq!(m["status"], "accepted");
    assert_eq!(m["num_segments"], "0");
    assert_eq!(m["from"], Value::Null);
    assert_eq!(m["messaging_service_sid"], svc.as_str());
    let sid = m["sid"].as_str().unwrap();
    let got = cb.wait_statuses(sid, &["queued", "sending", "sent", "delivered"]).await;
    assert_eq!(got[0].param("MessagingServiceSid"), Some(svc.as_str()));
    let first = s.wait_for_status(sid, "delivered").await;
    let sender = first["from"].as_str().unwrap().to_string();
    assert_eq!(first["num_segments"], "1");
    // The same recipient keeps its sender; spreading would otherwise rotate the pool.
    for _ in 0..4 {
        let (_, m) = s
            .post(
                &TestServer::messages_path(SID_A),
                &[("To", "+13105552671"), ("MessagingServiceSid", &svc), ("Body", "again")],
            )
            .await;
        let m = s.wait_for_status(m["sid"].as_str().unwrap(), "delivered").await;
        assert_eq!(m["from"].as_str().unwrap(), sender);
    }
    // Area-code geomatch: a 415 recipient gets a 415 number from the pool.
    let (_, m) = s
        .post(
            &TestServer::messages_path(SID_A),
            &[("To", "+14155559999"), ("MessagingServiceSid", &svc), ("Body", "geo")],
        )
        .await;
    let m = s.wait_for_status(m["sid"].as_str().unwrap(), "delivered").await;
    assert!(m["from"].as_str().unwrap().starts_with("+1415"), "{m}");
}

#[tokio::test]
async fn messaging_service_errors_are_twilios() {
    let s = TestServer::start().await;
    let msgs = TestServer::messages_path(SID_A);
    let empty = service(&s, &[]).await;
    assert_error(&s.post(&msgs, &[("To", HANDSET), ("MessagingServiceSid", &empty), ("Body", "x")]).await, 21704, 400);
    assert_error(
        &s.post(
            &msgs,
            &[("To", HANDSET), ("MessagingServiceSid", "MG00000000000000000000000000000000"), ("Body", "x")],
        )
        .await,
        21701,
        400,
    );
    let num = buy_number(&s, OURS, &[]).await;
    add_to_pool(&s, &empty, &num).await;
    assert_error(
        &s.post(&msgs, &[("To", HANDSET), ("MessagingServiceSid", &empty), ("From", "+14155550199"), ("Body", "x")])
            .await,
        21606,
        400,
    );
    let (code, m) =
        s.post(&msgs, &[("To", HANDSET), ("MessagingServiceSid", &empty), ("From", OURS), ("Body", "x")]).await;
    assert_eq!(code, 201, "{m}");
    let m = s.wait_for_status(m["sid"].as_str().unwrap(), "delivered").await;
    assert_eq!(m["from"], OURS);
    // Another account cannot use this service.
    let (code, body) = s
        .post_as(
            SID_B,
            TOKEN_B,
            &TestServer::messages_path(SID_B),
            &[("To", HANDSET), ("MessagingServiceSid", &empty), ("Body", "x")],
        )
        .await;
    assert_eq!((code, body["code"].as_u64()), (400, Some(21701)));
}

#[tokio::test]
async fn require_owned_senders_refuses_a_from_the_account_does_not_have() {
    let s = TestServer::start_with(|c| c.require_owned_senders = true).await;
    let msgs = TestServer::messages_path(SID_A);
    assert_error(&s.post(&msgs, &[("To", HANDSET), ("From", OURS), ("Body", "x")]).await, 21606, 400);
    buy_number(&s, OURS, &[]).await;
    assert_eq!(s.post(&msgs, &[("To", HANDSET), ("From", OURS), ("Body", "x")]).await.0, 201);
}

#[tokio::test]
async fn a_scheduled_message_is_sent_at_its_time_and_can_be_canceled_before() {
    let s = TestServer::start_with(|c| c.min_schedule_lead_secs = 0).await;
    let cb = Receiver::start(0, Duration::ZERO).await;
    let svc = service(&s, &[]).await;
    let num = buy_number(&s, OURS, &[]).await;
    add_to_pool(&s, &svc, &num).await;
    let at =
        |secs: i64| (chrono::Utc::now() + chrono::Duration::seconds(secs)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let cb_url = format!("{}/sched", cb.url);
    let msgs = TestServer::messages_path(SID_A);
    let soon = at(2);
    let (code, m) = s
        .post(
            &msgs,
            &[
                ("To", HANDSET),
                ("MessagingServiceSid", &svc),
                ("Body", "later"),
                ("ScheduleType", "fixed"),
                ("SendAt", &soon),
                ("StatusCallback", &cb_url),
            ],
        )
        .await;
    assert_eq!(code, 201, "{m}");
    assert_eq!(m["status"], "scheduled");
    let sid = m["sid"].as_str().unwrap().to_string();
    let far = at(3600);
    let (_, later) = s
        .post(
            &msgs,
            &[
                ("To", HANDSET),
                ("MessagingServiceSid", &svc),
                ("Body", "never"),
                ("ScheduleType", "fixed"),
                ("SendAt", &far),
                ("StatusCallback", &cb_url),
            ],
        )
        .await;
    let later_sid = later["sid"].as_str().unwrap().to_string();
    let (code, canceled) = s.post(&TestServer::message_path(SID_A, &later_sid), &[("Status", "canceled")]).await;
    assert_eq!(code, 200, "{canceled}");
    assert_eq!(canceled["status"], "canceled");
    cb.wait_statuses(&later_sid, &["canceled"]).await;
    assert_error(&s.post(&TestServer::message_path(SID_A, &later_sid), &[("Status", "canceled")]).await, 30409, 400);

    let started = Instant::now();
    cb.wait_statuses(&sid, &["queued", "sending", "sent", "delivered"]).await;
    assert!(started.elapsed() >= Duration::from_millis(500), "sent before its time");
}

#[tokio::test]
async fn whatsapp_freeform_messages_need_the_users_message_within_24_hours() {
    let s = TestServer::start().await;
    buy_number(&s, OURS, &[]).await;
    let msgs = TestServer::messages_path(SID_A);
    let wa_user = "whatsapp:+14155552671";
    let wa_ours = "whatsapp:+14155550100";
    let (_, m) = s.post(&msgs, &[("To", wa_user), ("From", wa_ours), ("Body", "freeform")]).await;
    let m = s.wait_for_status(m["sid"].as_str().unwrap(), "failed").await;
    assert_eq!(m["error_code"], 63016);
    // A template may open the conversation.
    let resp = s
        .http
        .post(format!("{}/v1/Content", s.url))
        .basic_auth(SID_A, Some(TOKEN_A))
        .json(&serde_json::json!({"language": "en", "types": {"twilio/text": {"body": "Hello {{1}}"}}}))
        .send()
        .await
        .unwrap();
    let hx = resp.json::<Value>().await.unwrap()["sid"].as_str().unwrap().to_string();
    let (_, t) = s
        .post(&msgs, &[("To", wa_user), ("From", wa_ours), ("ContentSid", &hx), ("ContentVariables", r#"{"1":"Ada"}"#)])
        .await;
    let t = s.wait_for_status(t["sid"].as_str().unwrap(), "delivered").await;
    assert_eq!(t["body"], "Hello Ada");
    // Once the user writes, freeform messages go through for 24 hours.
    let m = inbound(&s, wa_user, wa_ours, "hi!").await;
    s.wait_for_status(m["sid"].as_str().unwrap(), "received").await;
    let (_, m) = s.post(&msgs, &[("To", wa_user), ("From", wa_ours), ("Body", "freeform again")]).await;
    s.wait_for_status(m["sid"].as_str().unwrap(), "delivered").await;
}

#[tokio::test]
async fn whatsapp_drops_the_body_of_document_messages_but_keeps_image_captions() {
    let s = TestServer::start().await;
    let media = axum::Router::new()
        .route(
            "/doc.pdf",
            axum::routing::get(|| async { ([(axum::http::header::CONTENT_TYPE, "application/pdf")], "%PDF-1.4 tiny") }),
        )
        .route(
            "/pic.png",
            axum::routing::get(|| async {
                ([(axum::http::header::CONTENT_TYPE, "image/png")], vec![0x89u8, b'P', b'N', b'G'])
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, media).await;
    });
    buy_number(&s, OURS, &[]).await;
    let (wa_user, wa_ours) = ("whatsapp:+14155552671", "whatsapp:+14155550100");
    let m = inbound(&s, wa_user, wa_ours, "send me the invoice").await;
    s.wait_for_status(m["sid"].as_str().unwrap(), "received").await;
    let msgs = TestServer::messages_path(SID_A);
    let doc_url = format!("{base}/doc.pdf");
    let (_, doc) =
        s.post(&msgs, &[("To", wa_user), ("From", wa_ours), ("Body", "your invoice"), ("MediaUrl", &doc_url)]).await;
    let doc = s.wait_for_status(doc["sid"].as_str().unwrap(), "delivered").await;
    assert_eq!(doc["body"], "", "documents carry no caption on WhatsApp");
    let notes = events(&s, doc["sid"].as_str().unwrap()).await;
    assert!(notes.iter().any(|e| e["detail"].as_str().is_some_and(|d| d.contains("body dropped"))), "{notes:?}");
    let pic_url = format!("{base}/pic.png");
    let (_, pic) =
        s.post(&msgs, &[("To", wa_user), ("From", wa_ours), ("Body", "a photo"), ("MediaUrl", &pic_url)]).await;
    let pic = s.wait_for_status(pic["sid"].as_str().unwrap(), "delivered").await;
    assert_eq!(pic["body"], "a photo");
}

#[tokio::test]
async fn rcs_recipients_without_rcs_get_the_message_by_sms() {
    let s = TestServer::start().await;
    let msgs = TestServer::messages_path(SID_A);
    // Capable recipients keep the RCS addresses.
    let (_, m) = s.post(&msgs, &[("To", "rcs:+14155552671"), ("From", "rcs:+14155550100"), ("Body", "rich")]).await;
    let m = s.wait_for_status(m["sid"].as_str().unwrap(), "delivered").await;
    assert_eq!((m["to"].as_str(), m["from"].as_str()), (Some("rcs:+14155552671"), Some("rcs:+14155550100")));
    // The built-in non-RCS device falls back to SMS from the number behind the sender.
    let (_, m) = s.post(&msgs, &[("To", "rcs:+15005550310"), ("From", "rcs:+14155550100"), ("Body", "plain")]).await;
    let sid = m["sid"].as_str().unwrap().to_string();
    let m = s.wait_for_status(&sid, "delivered").await;
    assert_eq!((m["to"].as_str(), m["from"].as_str()), (Some("+15005550310"), Some("+14155550100")));
    assert!(events(&s, &sid)
        .await
        .iter()
        .any(|e| e["detail"].as_str().is_some_and(|d| d.contains("does not take RCS"))));
    // Through a Messaging Service, a rule marks recipients; the SMS goes from the pool.
    let svc = service(&s, &[]).await;
    let num = buy_number(&s, "+14155550177", &[]).await;
    add_to_pool(&s, &svc, &num).await;
    let rules = format!("/_switchboard/Accounts/{SID_A}/Simulator/Rules.json");
    assert_eq!(s.post(&rules, &[("To", "rcs:+1310*"), ("Outcome", "no-rcs")]).await.0, 201);
    let (_, m) = s.post(&msgs, &[("To", "rcs:+13105552671"), ("MessagingServiceSid", &svc), ("Body", "hi")]).await;
    let m = s.wait_for_status(m["sid"].as_str().unwrap(), "delivered").await;
    assert_eq!((m["to"].as_str(), m["from"].as_str()), (Some("+13105552671"), Some("+14155550177")));
}

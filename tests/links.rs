//! Link shortening: short links in the body, 302 redirects, click events.

mod common;

use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::test]
async fn shortened_links_redirect_and_report_clicks() {
    let rx = Receiver::start(0, Duration::ZERO).await;
    let click_url = format!("{}/clicks", rx.url);
    let s = TestServer::start_with(|c| c.link_click_callback = Some(click_url.clone())).await;
    let (_, number) = s
        .post(&format!("/2010-04-01/Accounts/{SID_A}/IncomingPhoneNumbers.json"), &[("PhoneNumber", "+14155550100")])
        .await;
    let (_, svc) = s.post("/v1/Services", &[("FriendlyName", "links")]).await;
    let mg = svc["sid"].as_str().unwrap();
    let (code, _) = s
        .post(&format!("/v1/Services/{mg}/PhoneNumbers"), &[("PhoneNumberSid", number["sid"].as_str().unwrap())])
        .await;
    assert_eq!(code, 201);

    let long = "https://example.com/a/very/long/path?campaign=spring&utm_source=sms";
    let (code, m) = s
        .post(
            &TestServer::messages_path(SID_A),
            &[
                ("To", "+14155552671"),
                ("MessagingServiceSid", mg),
                ("Body", &format!("Deals: {long}. Enjoy!")),
                ("ShortenUrls", "true"),
            ],
        )
        .await;
    assert_eq!(code, 201, "{m}");
    let body = m["body"].as_str().unwrap();
    let prefix = format!("{}/l/", s.url);
    let start = body.find(&prefix).expect("a short link in the body");
    let short = &body[start..start + prefix.len() + 10];
    assert_eq!(body, format!("Deals: {short}. Enjoy!"));
    assert!(!body.contains(long));

    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = no_redirects.get(short).header("user-agent", "TestPhone/1.0").send().await.unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], long);

    let deadline = Instant::now() + Duration::from_secs(5);
    let event: Value = loop {
        let got = rx.got.lock().unwrap().clone();
        if let Some(r) = got.iter().find(|r| r.path_and_query == "/clicks") {
            break serde_json::from_str(&r.raw).unwrap_or(Value::Null);
        }
        assert!(Instant::now() < deadline, "no click event");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(event["type"], "com.twilio.daptbt.link-shortening.link-clicked");
    assert_eq!(event["data"]["link"], long);
    assert_eq!(event["data"]["shortened_link"], short);
    assert_eq!(event["data"]["message_sid"], m["sid"]);
    assert_eq!(event["data"]["messaging_service_sid"], mg);
    assert_eq!(event["data"]["user_agent"], "TestPhone/1.0");

    let missing = no_redirects.get(format!("{}/l/AAAAAAAAAA", s.url)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn shorten_urls_needs_a_messaging_service() {
    let s = TestServer::start().await;
    let got = s
        .post(
            &TestServer::messages_path(SID_A),
            &[("To", "+14155552671"), ("From", "+14155550100"), ("Body", "https://e.com/x"), ("ShortenUrls", "true")],
        )
        .await;
    assert_error(&got, 20001, 400);
}

//! MMS media: outbound media fetched and stored (`ME…`), listed, fetched, downloaded with Basic
//! auth, deleted; fetch failures fail the message with Twilio's codes; inbound MMS webhooks
//! get `MediaUrl{N}` pointing at Switchboard.

mod common;

use common::*;
use std::time::Duration;

/// A small "PNG" (the magic number and some bytes; nothing decodes it).
fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend((0..2000u32).map(|i| (i * 7 % 251) as u8));
    b
}

/// A local media server: `/pic.png` (image/png), `/big.pdf` (600 KB PDF, over the 500 KB
/// limit), `/huge.png` (6 MiB PNG), `/bad.exe` (an unaccepted type), `/gone` (404).
async fn media_server() -> String {
    use axum::http::header::CONTENT_TYPE;
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/pic.png", get(|| async { ([(CONTENT_TYPE, "image/png")], png()) }))
        .route("/big.pdf", get(|| async { ([(CONTENT_TYPE, "application/pdf")], vec![b'%'; 600 * 1024]) }))
        .route("/huge.png", get(|| async { ([(CONTENT_TYPE, "image/png")], vec![0u8; 6 * 1024 * 1024]) }))
        .route("/bad.exe", get(|| async { ([(CONTENT_TYPE, "application/x-msdownload")], vec![1u8; 10]) }))
        .route("/gone", get(|| async { axum::http::StatusCode::NOT_FOUND }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

async fn send_mms(s: &TestServer, media_url: &str) -> String {
    let (code, m) = s
        .post(
            &TestServer::messages_path(SID_A),
            &[("To", "+14155552671"), ("From", "+14155550100"), ("Body", "look"), ("MediaUrl", media_url)],
        )
        .await;
    assert_eq!(code, 201, "{m}");
    m["sid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn outbound_media_is_stored_listed_fetched_downloaded_and_deleted() {
    let s = TestServer::start().await;
    let media = media_server().await;
    let sid = send_mms(&s, &format!("{media}/pic.png")).await;
    assert!(sid.starts_with("MM"));
    s.wait_for_status(&sid, "delivered").await;

    let list_path = format!("/2010-04-01/Accounts/{SID_A}/Messages/{sid}/Media.json");
    let (code, list) = s.get(&list_path).await;
    assert_eq!(code, 200, "{list}");
    let items = list["media_list"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    let me = items[0]["sid"].as_str().unwrap().to_string();
    assert!(me.starts_with("ME") && me.len() == 34, "{me}");
    assert_eq!(items[0]["content_type"], "image/png");
    assert_eq!(items[0]["parent_sid"], sid.as_str());
    assert_eq!(items[0]["account_sid"], SID_A);
    let uri = format!("/2010-04-01/Accounts/{SID_A}/Messages/{sid}/Media/{me}.json");
    assert_eq!(items[0]["uri"], uri.as_str());
    assert_eq!(list["page_size"], 50);

    // The date filters are accepted and applied.
    let (code, later) = s.get(&format!("{list_path}?DateCreated%3E=2100-01-01")).await;
    assert_eq!(code, 200, "{later}");
    assert_eq!(later["media_list"].as_array().unwrap().len(), 0, "{later}");
    let (_, earlier) = s.get(&format!("{list_path}?DateCreated%3E=2000-01-01")).await;
    assert_eq!(earlier["media_list"].as_array().unwrap().len(), 1, "{earlier}");

    let (code, one) = s.get(&uri).await;
    assert_eq!(code, 200, "{one}");
    let keys: Vec<&str> = one.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["account_sid", "content_type", "date_created", "date_updated", "parent_sid", "sid", "uri"]);

    // The bytes, byte-identical, only with the owner's credentials.
    let content_url = format!("{}/2010-04-01/Accounts/{SID_A}/Messages/{sid}/Media/{me}", s.url);
    let resp = s.http.get(&content_url).basic_auth(SID_A, Some(TOKEN_A)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.bytes().await.unwrap().to_vec(), png());
    let resp = s.http.get(&content_url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let other = format!("{}/2010-04-01/Accounts/{SID_B}/Messages/{sid}/Media/{me}", s.url);
    let resp = s.http.get(&other).basic_auth(SID_B, Some(TOKEN_B)).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let resp = s.http.get(&content_url).basic_auth(SID_B, Some(TOKEN_B)).send().await.unwrap();
    assert_eq!(resp.status(), 404);

    let (code, body) = s.delete(&uri).await;
    assert_eq!(code, 204, "{body}");
    assert_error(&s.get(&uri).await, 20404, 404);
    let (_, list) = s.get(&list_path).await;
    assert_eq!(list["media_list"].as_array().unwrap().len(), 0, "{list}");
}

#[tokio::test]
async fn deleting_a_message_deletes_its_media() {
    let s = TestServer::start().await;
    let media = media_server().await;
    let sid = send_mms(&s, &format!("{media}/pic.png")).await;
    s.wait_for_status(&sid, "delivered").await;
    let list_path = format!("/2010-04-01/Accounts/{SID_A}/Messages/{sid}/Media.json");
    let (_, list) = s.get(&list_path).await;
    let me = list["media_list"][0]["sid"].as_str().unwrap().to_string();
    let (code, _) = s.delete(&TestServer::message_path(SID_A, &sid)).await;
    assert_eq!(code, 204);
    let content = format!("/2010-04-01/Accounts/{SID_A}/Messages/{sid}/Media/{me}.json");
    assert_error(&s.get(&content).await, 20404, 404);
}

#[tokio::test]
async fn media_fetch_failures_fail_the_message_with_twilio_codes() {
    let s = TestServer::start().await;
    let media = media_server().await;
    for (path, code) in [("/bad.exe", 12300), ("/big.pdf", 11751), ("/huge.png", 11751), ("/gone", 11200)] {
        let sid = send_mms(&s, &format!("{media}{path}")).await;
        let m = s.wait_for_status(&sid, "failed").await;
        assert_eq!(m["error_code"], code, "{path}: {m}");
        let (_, list) = s.get(&format!("/2010-04-01/Accounts/{SID_A}/Messages/{sid}/Media.json")).await;
        assert_eq!(list["media_list"].as_array().unwrap().len(), 0, "{list}");
    }
}

#[tokio::test]
async fn inbound_mms_webhooks_point_at_stored_media() {
    let s = TestServer::start().await;
    let media = media_server().await;
    let hook = Receiver::start(0, Duration::ZERO).await;
    let (code, n) = s
        .post(
            &format!("/2010-04-01/Accounts/{SID_A}/IncomingPhoneNumbers.json"),
            &[("PhoneNumber", "+14155550100"), ("SmsUrl", &format!("{}/sms", hook.url))],
        )
        .await;
    assert_eq!(code, 201, "{n}");
    let (code, m) = s
        .post(
            &format!("/_switchboard/Accounts/{SID_A}/Inbound.json"),
            &[
                ("From", "+14155552671"),
                ("To", "+14155550100"),
                ("Body", "pic"),
                ("MediaUrl", &format!("{media}/pic.png")),
            ],
        )
        .await;
    assert_eq!(code, 201, "{m}");
    let sid = m["sid"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let got = loop {
        if let Some(r) = hook.for_message(&sid).into_iter().next() {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "webhook not called");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let url = got.param("MediaUrl0").unwrap().to_string();
    let prefix = format!("{}/2010-04-01/Accounts/{SID_A}/Messages/{sid}/Media/ME", s.url);
    assert!(url.starts_with(&prefix), "{url}");
    assert_eq!(got.param("MediaContentType0"), Some("image/png"));
    assert_eq!(got.param("NumMedia"), Some("1"));
    let resp = s.http.get(&url).basic_auth(SID_A, Some(TOKEN_A)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().to_vec(), png());
}

#[tokio::test]
async fn an_inbound_media_failure_keeps_the_original_url() {
    let s = TestServer::start().await;
    let media = media_server().await;
    let hook = Receiver::start(0, Duration::ZERO).await;
    let (code, n) = s
        .post(
            &format!("/2010-04-01/Accounts/{SID_A}/IncomingPhoneNumbers.json"),
            &[("PhoneNumber", "+14155550100"), ("SmsUrl", &format!("{}/sms", hook.url))],
        )
        .await;
    assert_eq!(code, 201, "{n}");
    let original = format!("{media}/gone");
    let (code, m) = s
        .post(
            &format!("/_switchboard/Accounts/{SID_A}/Inbound.json"),
            &[("From", "+14155552671"), ("To", "+14155550100"), ("Body", ""), ("MediaUrl", &original)],
        )
        .await;
    assert_eq!(code, 201, "{m}");
    let sid = m["sid"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let got = loop {
        if let Some(r) = hook.for_message(&sid).into_iter().next() {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "webhook not called");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(got.param("MediaUrl0"), Some(original.as_str()));
    let (_, events) = s.get(&format!("/_switchboard/Accounts/{SID_A}/Messages/{sid}/Events.json")).await;
    assert!(events.to_string().contains("11200"), "{events}");
}

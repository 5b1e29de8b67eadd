//! The Messages API end to end against the real server (in-process, ephemeral port).

mod common;

use common::*;
use serde_json::Value;
use std::collections::HashSet;

fn messages() -> String {
    TestServer::messages_path(SID_A)
}

#[tokio::test]
async fn create_returns_201_with_every_property_typed_like_twilio() {
    let s = TestServer::start().await;
    let (status, m) =
        s.post(&messages(), &[("To", "+14155552671"), ("From", "+14155550100"), ("Body", "Hello {world}")]).await;
    assert_eq!(status, 201, "{m}");
    let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "account_sid",
            "api_version",
            "body",
            "date_created",
            "date_sent",
            "date_updated",
            "direction",
            "error_code",
            "error_message",
            "from",
            "messaging_service_sid",
            "num_media",
            "num_segments",
            "price",
            "price_unit",
            "sid",
            "status",
            "subresource_uris",
            "to",
            "uri"
        ]
    );
    let sid = m["sid"].as_str().unwrap();
    assert!(sid.starts_with("SM") && sid.len() == 34 && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(m["status"], "queued");
    assert_eq!(m["num_segments"], "1");
    assert_eq!(m["num_media"], "0");
    assert_eq!(m["price"], Value::Null);
    assert_eq!(m["error_code"], Value::Null);
    assert_eq!(m["date_sent"], Value::Null);
    assert_eq!(m["api_version"], "2010-04-01");
    assert_eq!(m["direction"], "outbound-api");
    assert_eq!(m["account_sid"], SID_A);
    assert_eq!(m["uri"], format!("/2010-04-01/Accounts/{SID_A}/Messages/{sid}.json"));
    assert_eq!(m["subresource_uris"]["media"], format!("/2010-04-01/Accounts/{SID_A}/Messages/{sid}/Media.json"));
    let date = m["date_created"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc2822(date).is_ok() && date.ends_with(" +0000"), "{date}");
}

#[tokio::test]
async fn repeated_media_urls_make_an_mm_message_with_num_media() {
    let s = TestServer::start().await;
    let (status, m) = s
        .post(
            &messages(),
            &[
                ("To", "+14155552671"),
                ("From", "+14155550100"),
                ("MediaUrl", "https://example.com/a.png"),
                ("MediaUrl", "https://example.com/b.png?x=1&y=2"),
            ],
        )
        .await;
    assert_eq!(status, 201, "{m}");
    assert!(m["sid"].as_str().unwrap().starts_with("MM"));
    assert_eq!(m["num_media"], "2");
}

#[tokio::test]
async fn segments_follow_gsm7_and_ucs2_rules() {
    let s = TestServer::start().await;
    for (body, segments) in [
        ("a".repeat(160), "1"),
        ("a".repeat(161), "2"),
        ("{".repeat(80), "1"),
        ("{".repeat(81), "2"),
        ("ж".repeat(70), "1"),
        ("ж".repeat(71), "2"),
        ("a".repeat(1600), "11"),
    ] {
        let m = s.create("+14155552671", &body).await;
        assert_eq!(m["num_segments"], segments, "{} chars of {:?}", body.chars().count(), body.chars().next());
    }
}

#[tokio::test]
async fn smart_encoded_bodies_are_rewritten_before_counting() {
    let s = TestServer::start().await;
    let body = format!("{}\u{201C}", "a".repeat(150));
    let (_, plain) = s.post(&messages(), &[("To", "+14155552671"), ("From", "+14155550100"), ("Body", &body)]).await;
    assert_eq!(plain["num_segments"], "3"); // UCS-2: 151 units
    let (_, smart) = s
        .post(
            &messages(),
            &[("To", "+14155552671"), ("From", "+14155550100"), ("Body", &body), ("SmartEncoded", "true")],
        )
        .await;
    assert_eq!(smart["num_segments"], "1");
    assert_eq!(smart["body"], format!("{}\"", "a".repeat(150)));
}

#[tokio::test]
async fn channel_addresses_keep_their_prefix() {
    let s = TestServer::start().await;
    let (status, m) = s
        .post(&messages(), &[("To", "whatsapp:+14155552671"), ("From", "whatsapp:+14155550100"), ("Body", "hi")])
        .await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["to"], "whatsapp:+14155552671");
    assert_eq!(m["from"], "whatsapp:+14155550100");
}

#[tokio::test]
async fn create_validation_errors_carry_twilios_codes() {
    let s = TestServer::start().await;
    let to = ("To", "+14155552671");
    let from = ("From", "+14155550100");
    let body = ("Body", "hi");
    let long = "a".repeat(1601);
    let cases: Vec<(Vec<(&str, &str)>, u64)> = vec![
        (vec![from, body], 21604),
        (vec![("To", "abc"), ("From", "also bad!"), body], 21211),
        (vec![to, body], 21603),
        (vec![to, from], 21602),
        (vec![to, from, ("Body", &long)], 21617),
        (vec![to, from, ("MediaUrl", "ftp://example.com/a.png")], 21620),
        (vec![to, from, body, ("StatusCallback", "not a url")], 21609),
        (vec![to, ("From", "!!bad!!"), body], 21212),
        (vec![to, ("From", "+14155552671"), body], 21266),
        (vec![to, ("MessagingServiceSid", "MG123"), body], 21705),
        (vec![to, ("MessagingServiceSid", "MG00000000000000000000000000000000"), body], 21701),
        (vec![to, from, body, ("ValidityPeriod", "0")], 90007),
        (vec![to, from, body, ("ValidityPeriod", "36001")], 90007),
        (vec![to, from, body, ("ContentRetention", "bogus")], 20001),
        (vec![to, from, body, ("AddressRetention", "bogus")], 20001),
        (vec![to, from, body, ("RiskCheck", "bogus")], 20001),
        (vec![to, from, body, ("TrafficType", "paid")], 20001),
        (vec![to, from, body, ("ForceDelivery", "maybe")], 20001),
        (vec![to, from, body, ("Attempt", "x")], 20001),
        (vec![to, from, body, ("ScheduleType", "daily")], 35126),
        (vec![to, from, body, ("ScheduleType", "fixed")], 35111),
        (vec![to, from, body, ("ScheduleType", "fixed"), ("SendAt", "2030-01-01T00:00:00Z")], 35118),
        (vec![("To", "+15005550002"), ("From", "+15005550006"), body], 21612),
        (vec![("To", "+15005550003"), ("From", "+15005550006"), body], 21408),
        (vec![("To", "+15005550004"), ("From", "+15005550006"), body], 21610),
        (vec![("To", "+15005550009"), ("From", "+15005550006"), body], 21614),
        (vec![to, ("From", "+15005550007"), body], 21606),
        (vec![to, ("From", "+15005550008"), body], 21611),
    ];
    for (form, code) in cases {
        let got = s.post(&messages(), &form).await;
        assert_error(&got, code, 400);
    }
    let eleven: Vec<(&str, &str)> =
        [to, from].into_iter().chain(std::iter::repeat_n(("MediaUrl", "https://e.com/x.png"), 11)).collect();
    assert_error(&s.post(&messages(), &eleven).await, 21623, 400);
}

#[tokio::test]
async fn unknown_parameters_are_ignored() {
    let s = TestServer::start().await;
    let (status, _) =
        s.post(&messages(), &[("To", "+14155552671"), ("From", "+14155550100"), ("Body", "x"), ("Nope", "1")]).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn bad_credentials_get_401_with_www_authenticate() {
    let s = TestServer::start().await;
    let resp = s.http.get(format!("{}{}", s.url, messages())).basic_auth(SID_A, Some("wrong")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("www-authenticate").is_some());
    assert_error(&s.get_as(SID_A, "wrong", &messages()).await, 20003, 401);
    let resp = s.http.get(format!("{}{}", s.url, messages())).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_error(&s.get_as("ACffffffffffffffffffffffffffffffff", "x", &messages()).await, 20003, 401);
}

#[tokio::test]
async fn one_account_never_sees_anothers_messages() {
    let s = TestServer::start().await;
    let m = s.create("+14155552671", "secret").await;
    let sid = m["sid"].as_str().unwrap();
    // B's credentials on A's path: same answer as for an account that does not exist.
    let foreign = s.get_as(SID_B, TOKEN_B, &TestServer::message_path(SID_A, sid)).await;
    assert_error(&foreign, 20404, 404);
    let missing = s.get_as(SID_B, TOKEN_B, &TestServer::message_path("AC99999999999999999999999999999999", sid)).await;
    assert_error(&missing, 20404, 404);
    // B's own path does not know A's message either.
    assert_error(&s.get_as(SID_B, TOKEN_B, &TestServer::message_path(SID_B, sid)).await, 20404, 404);
    let (_, list) = s.get_as(SID_B, TOKEN_B, &TestServer::messages_path(SID_B)).await;
    assert_eq!(list["messages"].as_array().unwrap().len(), 0);
    assert_error(&s.post_as(SID_B, TOKEN_B, &TestServer::messages_path(SID_A), &[]).await, 20404, 404);
}

#[tokio::test]
async fn fetch_of_unknown_or_malformed_sids_is_20404() {
    let s = TestServer::start().await;
    let path = TestServer::message_path(SID_A, "SM00000000000000000000000000000000");
    let got = s.get(&path).await;
    assert_error(&got, 20404, 404);
    assert_eq!(got.1["message"], format!("The requested resource {path} was not found"));
    assert_error(&s.get(&TestServer::message_path(SID_A, "nope")).await, 20404, 404);
    assert_error(&s.get(&format!("/2010-04-01/Accounts/{SID_A}/Messages/SM1.xml")).await, 20404, 404);
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_twilio_errors() {
    let s = TestServer::start().await;
    assert_error(&s.get("/2010-04-01/Nope.json").await, 20404, 404);
    let resp = s.http.put(format!("{}{}", s.url, messages())).basic_auth(SID_A, Some(TOKEN_A)).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 20004);
}

#[tokio::test]
async fn oversized_and_malformed_bodies_get_4xx_not_5xx() {
    let s = TestServer::start().await;
    let huge = "a".repeat(200_000);
    let resp = s
        .http
        .post(format!("{}{}", s.url, messages()))
        .basic_auth(SID_A, Some(TOKEN_A))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("To=%2B14155552671&From=%2B14155550100&Body={huge}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert!(body["code"].is_u64());
    for raw in ["%%%", "To=%ZZ&&&=", "\u{0}\u{1}", "To=%FF%FE"] {
        let resp = s
            .http
            .post(format!("{}{}", s.url, messages()))
            .basic_auth(SID_A, Some(TOKEN_A))
            .body(raw.to_string())
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error(), "{raw:?} gave {}", resp.status());
    }
}

#[tokio::test]
async fn messages_walk_to_their_simulated_outcome() {
    let s = TestServer::start().await;
    let ok = s.create("+14155552671", "hi").await;
    let m = s.wait_for_status(ok["sid"].as_str().unwrap(), "delivered").await;
    assert_eq!(m["price"], "-0.00790");
    assert!(m["date_sent"].is_string());
    let failed = s.create("+15005550301", "hi").await;
    let m = s.wait_for_status(failed["sid"].as_str().unwrap(), "failed").await;
    assert_eq!(m["error_code"], 30001);
    let und = s.create("+15005550305", "hi").await;
    let m = s.wait_for_status(und["sid"].as_str().unwrap(), "undelivered").await;
    assert_eq!(m["error_code"], 30005);
    assert_eq!(m["error_message"], "Unknown destination handset");
    let sent = s.create("+15005550300", "hi").await;
    s.wait_for_status(sent["sid"].as_str().unwrap(), "sent").await;

    let sid = ok["sid"].as_str().unwrap();
    let (code, ev) = s.get(&format!("/_switchboard/Accounts/{SID_A}/Messages/{sid}/Events.json")).await;
    assert_eq!(code, 200);
    let seq: Vec<&str> = ev["events"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(seq, ["queued", "sending", "sent", "delivered"]);
}

#[tokio::test]
async fn redaction_needs_the_message_to_have_left_the_queue_and_delete_a_final_state() {
    let s = TestServer::start().await;
    let pending = s.create("+15005550300", "in flight").await;
    let psid = pending["sid"].as_str().unwrap();
    s.wait_for_status(psid, "sent").await;
    let path = TestServer::message_path(SID_A, psid);
    assert_error(&s.delete(&path).await, 20009, 400);
    assert_error(&s.post(&path, &[("Status", "canceled")]).await, 30409, 400);
    assert_error(&s.post(&path, &[("Status", "sent")]).await, 20001, 400);
    assert_error(&s.post(&path, &[("Body", "new text")]).await, 20001, 400);
    let (code, redacted) = s.post(&path, &[("Body", "")]).await;
    assert_eq!(code, 200, "a sent message may be redacted: {redacted}");
    assert_eq!((redacted["body"].as_str(), redacted["status"].as_str()), (Some(""), Some("sent")));

    let done = s.create("+14155552671", "secret text").await;
    let sid = done["sid"].as_str().unwrap();
    s.wait_for_status(sid, "delivered").await;
    let path = TestServer::message_path(SID_A, sid);
    let (code, redacted) = s.post(&path, &[("Body", "")]).await;
    assert_eq!(code, 200, "{redacted}");
    assert_eq!(redacted["body"], "");
    assert_eq!(s.get(&path).await.1["body"], "");
    let (code, body) = s.delete(&path).await;
    assert_eq!((code, body), (204, Value::Null));
    assert_error(&s.get(&path).await, 20404, 404);
    assert_error(&s.delete(&path).await, 20404, 404);
}

#[tokio::test]
async fn a_message_still_sending_cannot_be_redacted() {
    let s = TestServer::start_with(|c| c.simulator_delays.submit = std::time::Duration::from_secs(30)).await;
    let m = s.create("+14155552671", "on its way").await;
    let sid = m["sid"].as_str().unwrap();
    s.wait_for_status(sid, "sending").await;
    let (code, err) = s.post(&TestServer::message_path(SID_A, sid), &[("Body", "")]).await;
    assert_eq!((code, err["code"].as_u64()), (400, Some(20009)), "{err}");
    assert_eq!(err["message"], "Cannot redact this resource before it is complete (status: sending)");
    assert_eq!(s.get(&TestServer::message_path(SID_A, sid)).await.1["body"], "on its way");
}

#[tokio::test]
async fn a_sent_message_can_be_deleted_once_the_receipt_window_has_passed() {
    let s = TestServer::start_with(|c| c.receipt_window = std::time::Duration::from_secs(1)).await;
    let m = s.create("+15005550300", "no receipt will come").await;
    let sid = m["sid"].as_str().unwrap();
    s.wait_for_status(sid, "sent").await;
    let path = TestServer::message_path(SID_A, sid);
    let (code, err) = s.delete(&path).await;
    assert_eq!((code, err["code"].as_u64()), (400, Some(20009)), "{err}");
    assert_eq!(err["message"], "Cannot delete this resource before it is complete (status: sent)");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (code, body) = s.delete(&path).await;
    assert_eq!((code, body), (204, Value::Null));
    assert_error(&s.get(&path).await, 20404, 404);
}

/// Collects every SID of a listing by following `next_page_uri`.
async fn walk(s: &TestServer, first: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = Some(first.to_string());
    let mut pages = 0;
    while let Some(uri) = next {
        let (code, page) = s.get(&uri).await;
        assert_eq!(code, 200, "{page}");
        for m in page["messages"].as_array().unwrap() {
            out.push(m["sid"].as_str().unwrap().to_string());
        }
        next = page["next_page_uri"].as_str().map(str::to_string);
        pages += 1;
        assert!(pages < 100);
    }
    out
}

#[tokio::test]
async fn list_pages_newest_first_through_next_page_uri() {
    let s = TestServer::start().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(s.create("+14155552671", &format!("m{i}")).await["sid"].as_str().unwrap().to_string());
    }
    created.reverse();
    let (code, page) = s.get(&format!("{}?PageSize=3", messages())).await;
    assert_eq!(code, 200);
    let keys: Vec<&str> = page.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "end",
            "first_page_uri",
            "messages",
            "next_page_uri",
            "page",
            "page_size",
            "previous_page_uri",
            "start",
            "uri"
        ]
    );
    assert_eq!(page["page"], 0);
    assert_eq!(page["page_size"], 3);
    assert_eq!(page["start"], 0);
    assert_eq!(page["end"], 2);
    assert_eq!(page["previous_page_uri"], Value::Null);
    assert_eq!(page["uri"], format!("{}?PageSize=3&Page=0", messages()));
    let next = page["next_page_uri"].as_str().unwrap();
    assert_eq!(next, format!("{}?PageSize=3&Page=1&PageToken=PA{}", messages(), created[2]));
    assert_eq!(walk(&s, &format!("{}?PageSize=3", messages())).await, created);

    // Page 1 links back to page 0 and its previous page holds the same messages as page 0.
    let (_, p1) = s.get(next).await;
    assert_eq!(p1["start"], 3);
    assert_eq!(p1["end"], 5);
    let prev = p1["previous_page_uri"].as_str().unwrap();
    let (_, p0) = s.get(prev).await;
    let sids: Vec<&str> = p0["messages"].as_array().unwrap().iter().map(|m| m["sid"].as_str().unwrap()).collect();
    assert_eq!(sids, created[..3].iter().map(String::as_str).collect::<Vec<_>>());
}

#[tokio::test]
async fn paging_has_no_duplicates_or_gaps_while_messages_arrive() {
    let s = TestServer::start().await;
    let mut before = Vec::new();
    for i in 0..6 {
        before.push(s.create("+14155552671", &format!("old{i}")).await["sid"].as_str().unwrap().to_string());
    }
    before.reverse();
    let (_, p0) = s.get(&format!("{}?PageSize=2", messages())).await;
    let mut seen: Vec<String> =
        p0["messages"].as_array().unwrap().iter().map(|m| m["sid"].as_str().unwrap().to_string()).collect();
    for i in 0..5 {
        s.create("+14155552671", &format!("new{i}")).await;
    }
    seen.extend(walk(&s, p0["next_page_uri"].as_str().unwrap()).await);
    assert_eq!(seen, before);
}

#[tokio::test]
async fn deleting_the_last_message_of_a_page_does_not_break_the_next_page() {
    let s = TestServer::start().await;
    let mut sids = Vec::new();
    for i in 0..4 {
        let m = s.create("+14155552671", &format!("m{i}")).await;
        sids.push(m["sid"].as_str().unwrap().to_string());
    }
    for sid in &sids {
        s.wait_for_status(sid, "delivered").await;
    }
    sids.reverse();
    let (_, p0) = s.get(&format!("{}?PageSize=2", messages())).await;
    assert_eq!(s.delete(&TestServer::message_path(SID_A, &sids[1])).await.0, 204);
    let rest = walk(&s, p0["next_page_uri"].as_str().unwrap()).await;
    assert_eq!(rest, sids[2..]);
}

#[tokio::test]
async fn list_filters_by_to_from_and_dates() {
    let s = TestServer::start().await;
    let a = s.create("+14155552671", "to a").await;
    let (_, b) = s.post(&messages(), &[("To", "+14155552672"), ("From", "+14155550199"), ("Body", "to b")]).await;
    let sids = |page: &Value| -> HashSet<String> {
        page["messages"].as_array().unwrap().iter().map(|m| m["sid"].as_str().unwrap().to_string()).collect()
    };
    let one = |v: &Value| HashSet::from([v["sid"].as_str().unwrap().to_string()]);

    let (_, p) = s.get(&format!("{}?To=%2B14155552671", messages())).await;
    assert_eq!(sids(&p), one(&a));
    assert_eq!(p["uri"], format!("{}?To=%2B14155552671&PageSize=50&Page=0", messages()));
    let (_, p) = s.get(&format!("{}?From=%2B14155550199", messages())).await;
    assert_eq!(sids(&p), one(&b));

    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let yesterday = today.pred_opt().unwrap();
    let both: HashSet<String> = one(&a).union(&one(&b)).cloned().collect();
    for (query, expect) in [
        (format!("DateSent={today}"), both.clone()),
        (format!("DateSent={yesterday}"), HashSet::new()),
        (format!("DateSent%3C={today}"), both.clone()),
        (format!("DateSent%3C={yesterday}"), HashSet::new()),
        (format!("DateSent%3E={today}"), both.clone()),
        (format!("DateSent%3E={tomorrow}"), HashSet::new()),
        (format!("DateSentBefore={tomorrow}"), both.clone()),
        (format!("DateSentAfter={tomorrow}"), HashSet::new()),
        (format!("DateSent%3E={today}T00:00:00Z&To=%2B14155552672"), one(&b)),
    ] {
        let (code, p) = s.get(&format!("{}?{query}", messages())).await;
        assert_eq!(code, 200, "{query}: {p}");
        assert_eq!(sids(&p), expect, "{query}");
    }
}

#[tokio::test]
async fn list_rejects_bad_dates_sizes_and_tokens() {
    let s = TestServer::start().await;
    assert_error(&s.get(&format!("{}?DateSent=garbage", messages())).await, 20001, 400);
    assert_error(&s.get(&format!("{}?DateSent%3C=2020-13-45", messages())).await, 20001, 400);
    assert_error(&s.get(&format!("{}?PageToken=bogus", messages())).await, 21481, 400);
    assert_error(&s.get(&format!("{}?PageSize=0", messages())).await, 20001, 400);
    assert_error(&s.get(&format!("{}?PageSize=x", messages())).await, 20001, 400);
    assert_error(&s.get(&format!("{}?Page=3", messages())).await, 70002, 400);
}

#[tokio::test]
async fn page_size_above_1000_is_clamped() {
    let s = TestServer::start().await;
    let (code, p) = s.get(&format!("{}?PageSize=5000", messages())).await;
    assert_eq!(code, 200);
    assert_eq!(p["page_size"], 1000);
}

#[tokio::test]
async fn accept_any_credentials_creates_accounts_on_first_use_and_pins_the_token() {
    let s = TestServer::start_with(|c| c.accept_any_credentials = true).await;
    let new_sid = "AC33333333333333333333333333333333";
    let path = TestServer::messages_path(new_sid);
    let (code, _) = s.get_as(new_sid, "first", &path).await;
    assert_eq!(code, 200);
    assert_error(&s.get_as(new_sid, "second", &path).await, 20003, 401);
    assert_error(&s.get_as("not-an-account", "x", &path).await, 20003, 401);
    let (code, m) =
        s.post_as(new_sid, "first", &path, &[("To", "+14155552671"), ("From", "+14155550100"), ("Body", "x")]).await;
    assert_eq!(code, 201);
    assert_eq!(m["account_sid"], new_sid);
}

#[tokio::test]
async fn acknowledged_messages_survive_a_restart_and_finish_delivery() {
    let s = TestServer::start_with(|c| c.simulator_delays.submit = std::time::Duration::from_secs(60)).await;
    let mut sids = Vec::new();
    for i in 0..5 {
        sids.push(s.create("+14155552671", &format!("m{i}")).await["sid"].as_str().unwrap().to_string());
    }
    let dir = s.stop().await;
    let cfg = config(dir.path().join("sb.db").to_str().unwrap());
    let s = TestServer::start_in(dir, cfg).await;
    for sid in &sids {
        s.wait_for_status(sid, "delivered").await;
    }
}

#[tokio::test]
async fn concurrent_creates_all_land() {
    let s = std::sync::Arc::new(TestServer::start().await);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move { s.create("+14155552671", &format!("c{i}")).await["sid"].clone() }));
    }
    let mut sids = HashSet::new();
    for t in tasks {
        sids.insert(t.await.unwrap().as_str().unwrap().to_string());
    }
    assert_eq!(sids.len(), 200);
    let all = walk(&s, &format!("{}?PageSize=1000", messages())).await;
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), sids);
}

#[tokio::test]
async fn path_rejections_are_twilio_shaped_too() {
    let s = TestServer::start().await;
    let got = s.get("/2010-04-01/Accounts/%FF%FE/Messages.json").await;
    assert!(got.0 == 400 || got.0 == 404, "{got:?}");
    assert!(got.1["code"].is_u64(), "{got:?}");
    assert!(got.1.get("more_info").is_some(), "{got:?}");
}

#[tokio::test]
async fn feedback_starts_unconfirmed_with_provide_feedback_and_can_be_confirmed() {
    let s = TestServer::start().await;
    let (_, m) = s
        .post(
            &messages(),
            &[("To", "+14155552671"), ("From", "+14155550100"), ("Body", "otp"), ("ProvideFeedback", "true")],
        )
        .await;
    let sid = m["sid"].as_str().unwrap();
    let path = format!("/2010-04-01/Accounts/{SID_A}/Messages/{sid}/Feedback.json");
    let (code, fb) = s.post(&path, &[("Outcome", "confirmed")]).await;
    assert_eq!(code, 200, "{fb}");
    let keys: Vec<&str> = fb.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["account_sid", "date_created", "date_updated", "message_sid", "outcome", "uri"]);
    assert_eq!(fb["outcome"], "confirmed");
    assert_eq!(fb["message_sid"], sid);
    assert_eq!(fb["uri"], path);
    // Without ProvideFeedback the first POST creates it; Outcome defaults to confirmed.
    let other = s.create("+14155552671", "plain").await;
    let other_path = format!("/2010-04-01/Accounts/{SID_A}/Messages/{}/Feedback.json", other["sid"].as_str().unwrap());
    let (code, fb) = s.post(&other_path, &[]).await;
    assert_eq!((code, fb["outcome"].as_str()), (200, Some("confirmed")));
    assert_error(&s.post(&path, &[("Outcome", "maybe")]).await, 20001, 400);
    let unknown = format!("/2010-04-01/Accounts/{SID_A}/Messages/SM00000000000000000000000000000000/Feedback.json");
    assert_error(&s.post(&unknown, &[]).await, 20404, 404);
    assert_error(&s.post_as(SID_B, TOKEN_B, &path, &[]).await, 20404, 404);
    assert_error(&s.get(&path).await, 20004, 405);
}

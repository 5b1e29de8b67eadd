//! The Content API and messages rendered from templates.

mod common;

use common::*;
use serde_json::{json, Value};

async fn create_template(s: &TestServer, body: Value) -> (u16, Value) {
    let resp =
        s.http.post(format!("{}/v1/Content", s.url)).basic_auth(SID_A, Some(TOKEN_A)).json(&body).send().await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn templates_render_messages_with_their_variables_and_defaults() {
    let s = TestServer::start().await;
    let (code, text) = create_template(
        &s,
        json!({
            "friendly_name": "otp",
            "language": "en",
            "variables": {"1": "friend", "2": "000000"},
            "types": {"twilio/text": {"body": "Hi {{1}}, your code is {{2}}"}}
        }),
    )
    .await;
    assert_eq!(code, 201, "{text}");
    let hx = text["sid"].as_str().unwrap().to_string();
    assert!(hx.starts_with("HX") && hx.len() == 34);
    assert_eq!(text["types"]["twilio/text"]["body"], "Hi {{1}}, your code is {{2}}");
    assert_eq!(text["url"], format!("{}/v1/Content/{hx}", s.url));
    let (code, fetched) = s.get(&format!("/v1/Content/{hx}")).await;
    assert_eq!((code, &fetched["sid"]), (200, &text["sid"]));

    let msgs = TestServer::messages_path(SID_A);
    let (code, m) = s
        .post(
            &msgs,
            &[
                ("To", "+14155552671"),
                ("From", "+14155550100"),
                ("ContentSid", &hx),
                ("ContentVariables", r#"{"2":"424242"}"#),
            ],
        )
        .await;
    assert_eq!(code, 201, "{m}");
    assert_eq!(m["body"], "Hi friend, your code is 424242");

    let (_, media) = create_template(
        &s,
        json!({"language": "en", "types": {"twilio/media": {"body": "Look {{1}}", "media": ["https://example.com/{{1}}.png"]}}}),
    )
    .await;
    let (code, m) = s
        .post(
            &msgs,
            &[
                ("To", "+14155552671"),
                ("From", "+14155550100"),
                ("ContentSid", media["sid"].as_str().unwrap()),
                ("ContentVariables", r#"{"1":"cat"}"#),
            ],
        )
        .await;
    assert_eq!(code, 201, "{m}");
    assert!(m["sid"].as_str().unwrap().starts_with("MM"));
    assert_eq!((m["body"].as_str(), m["num_media"].as_str()), (Some("Look cat"), Some("1")));

    let (_, list) = s.get("/v1/Content?PageSize=1").await;
    assert_eq!(list["contents"].as_array().unwrap().len(), 1);
    assert_eq!(list["meta"]["key"], "contents");
    let next = list["meta"]["next_page_url"].as_str().expect("a second page");
    let (_, page2) = s.get(next.strip_prefix(&s.url).unwrap()).await;
    assert_eq!(page2["contents"][0]["sid"], media["sid"]);
}

#[tokio::test]
async fn template_errors_are_clear() {
    let s = TestServer::start().await;
    let msgs = TestServer::messages_path(SID_A);
    let unknown = "HX00000000000000000000000000000000";
    assert_error(
        &s.post(&msgs, &[("To", "+14155552671"), ("From", "+14155550100"), ("ContentSid", unknown)]).await,
        21655,
        400,
    );
    let (_, t) = create_template(&s, json!({"language": "en", "types": {"twilio/text": {"body": "x {{1}}"}}})).await;
    let hx = t["sid"].as_str().unwrap();
    assert_error(
        &s.post(
            &msgs,
            &[("To", "+14155552671"), ("From", "+14155550100"), ("ContentSid", hx), ("ContentVariables", "{not json")],
        )
        .await,
        21656,
        400,
    );
    for bad in [
        json!({"types": {"twilio/text": {"body": "x"}}}),
        json!({"language": "en"}),
        json!({"language": "en", "types": {"twilio/card": {}}}),
        json!({"language": "en", "types": {"twilio/media": {"body": "no media"}}}),
    ] {
        let (code, body) = create_template(&s, bad.clone()).await;
        assert_eq!((code, body["code"].as_u64()), (400, Some(20001)), "{bad}");
    }
    // Another account neither sees nor uses the template.
    assert_error(&s.get_as(SID_B, TOKEN_B, &format!("/v1/Content/{hx}")).await, 20404, 404);
    let (code, body) = s
        .post_as(
            SID_B,
            TOKEN_B,
            &TestServer::messages_path(SID_B),
            &[("To", "+14155552671"), ("From", "+14155550100"), ("ContentSid", hx)],
        )
        .await;
    assert_eq!((code, body["code"].as_u64()), (400, Some(21655)));
    let resp =
        s.http.delete(format!("{}/v1/Content/{hx}", s.url)).basic_auth(SID_A, Some(TOKEN_A)).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_error(&s.get(&format!("/v1/Content/{hx}")).await, 20404, 404);
}

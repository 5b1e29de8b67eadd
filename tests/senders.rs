//! Senders end to end: v2010 IncomingPhoneNumbers and ShortCodes, Switchboard's short-code
//! provisioning, messaging v1 Services and their sender pools, and the store lookups the message
//! flow relies on (read back from the database the API wrote).

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use switchboard::store::senders::{PoolKind, SenderStore};

// --- helpers ---------------------------------------------------------------------------------

fn numbers_path(account: &str) -> String {
    format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json")
}

fn number_path(account: &str, sid: &str) -> String {
    format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{sid}.json")
}

fn provision_short_code_path(account: &str) -> String {
    format!("/_switchboard/Accounts/{account}/ShortCodes.json")
}

fn short_codes_path(account: &str) -> String {
    format!("/2010-04-01/Accounts/{account}/SMS/ShortCodes.json")
}

fn short_code_path(account: &str, sid: &str) -> String {
    format!("/2010-04-01/Accounts/{account}/SMS/ShortCodes/{sid}.json")
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn is_sid(v: &Value, prefix: &str) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 34
            && s.starts_with(prefix)
            && s[2..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The property names of a schema in Twilio's OpenAPI files, when the SDK suites' node modules
/// are installed (they are git-ignored); `None` otherwise.
fn spec_properties(file: &str, schema: &str) -> Option<BTreeSet<String>> {
    let path = format!(
        "{}/sdk-tests/node_modules/@twilio/cli-core/src/services/twilio-api/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    Some(spec["components"]["schemas"][schema]["properties"].as_object()?.keys().cloned().collect())
}

/// Asserts `v` has exactly `expected` keys (alphabetical) and, where the spec is at hand, exactly
/// the spec's properties.
fn assert_properties(v: &Value, expected: &[&str], file: &str, schema: &str) {
    assert_eq!(keys(v), expected, "{v}");
    if let Some(spec) = spec_properties(file, schema) {
        let got: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, spec, "{schema} differs from Twilio's spec");
    }
}

async fn create_number(s: &TestServer, number: &str, extra: &[(&str, &str)]) -> Value {
    let mut form = vec![("PhoneNumber", number)];
    form.extend_from_slice(extra);
    let (status, json) = s.post(&numbers_path(SID_A), &form).await;
    assert_eq!(status, 201, "{json}");
    json
}

async fn create_short_code(s: &TestServer, digits: &str) -> Value {
    let (status, json) = s.post(&provision_short_code_path(SID_A), &[("ShortCode", digits)]).await;
    assert_eq!(status, 201, "{json}");
    json
}

async fn create_service(s: &TestServer, name: &str) -> Value {
    let (status, json) = s.post("/v1/Services", &[("FriendlyName", name)]).await;
    assert_eq!(status, 201, "{json}");
    json
}

fn sid_of(v: &Value) -> String {
    v["sid"].as_str().unwrap().to_string()
}

async fn delete_as(s: &TestServer, sid: &str, token: &str, path: &str) -> (u16, Value) {
    let resp = s.http.delete(format!("{}{}", s.url, path)).basic_auth(sid, Some(token)).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

/// Follows a v2010 list from its first page; returns every page.
async fn v2010_pages(s: &TestServer, first: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(uri) = next {
        let (status, page) = s.get(&uri).await;
        assert_eq!(status, 200, "{page}");
        next = page["next_page_uri"].as_str().map(str::to_string);
        pages.push(page);
        assert!(pages.len() < 50, "paging does not end");
    }
    pages
}

/// Follows a v1 list through `meta.next_page_url` (absolute, as the SDKs use it).
async fn v1_pages(s: &TestServer, first: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut next = Some(format!("{}{first}", s.url));
    while let Some(url) = next {
        let resp = s.http.get(&url).basic_auth(SID_A, Some(TOKEN_A)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let page: Value = resp.json().await.unwrap();
        next = page["meta"]["next_page_url"].as_str().map(str::to_string);
        pages.push(page);
        assert!(pages.len() < 50, "paging does not end");
    }
    pages
}

const NUMBER_KEYS: [&str; 34] = [
    "account_sid",
    "address_requirements",
    "address_sid",
    "api_version",
    "beta",
    "bundle_sid",
    "capabilities",
    "date_created",
    "date_updated",
    "emergency_address_sid",
    "emergency_address_status",
    "emergency_status",
    "friendly_name",
    "identity_sid",
    "origin",
    "phone_number",
    "sid",
    "sms_application_sid",
    "sms_fallback_method",
    "sms_fallback_url",
    "sms_method",
    "sms_url",
    "status",
    "status_callback",
    "status_callback_method",
    "trunk_sid",
    "uri",
    "voice_application_sid",
    "voice_caller_id_lookup",
    "voice_fallback_method",
    "voice_fallback_url",
    "voice_method",
    "voice_receive_mode",
    "voice_url",
];

// --- IncomingPhoneNumbers --------------------------------------------------------------------

#[tokio::test]
async fn provisioning_a_number_answers_201_with_exactly_twilios_properties_and_defaults() {
    let s = TestServer::start().await;
    let n = create_number(&s, "+14155550100", &[]).await;
    assert_properties(&n, &NUMBER_KEYS, "twilio_api_v2010.json", "api.v2010.account.incoming_phone_number");
    assert!(is_sid(&n["sid"], "PN"), "{n}");
    let sid = sid_of(&n);
    assert_eq!(n["account_sid"], SID_A);
    assert_eq!(n["phone_number"], "+14155550100");
    assert_eq!(n["friendly_name"], "(415) 555-0100");
    assert_eq!(n["capabilities"], serde_json::json!({"fax": false, "mms": true, "sms": true, "voice": true}));
    assert_eq!(n["origin"], "twilio");
    assert_eq!(n["status"], "in-use");
    assert_eq!(n["beta"], false);
    assert_eq!(n["api_version"], "2010-04-01");
    assert_eq!(n["address_requirements"], "none");
    assert_eq!(n["emergency_status"], "Inactive");
    assert_eq!(n["emergency_address_status"], "unregistered");
    assert_eq!(n["voice_receive_mode"], "voice");
    assert_eq!(n["voice_caller_id_lookup"], false);
    for method in
        ["sms_method", "sms_fallback_method", "voice_method", "voice_fallback_method", "status_callback_method"]
    {
        assert_eq!(n[method], "POST", "{method}");
    }
    for null in ["sms_url", "sms_fallback_url", "voice_url", "status_callback", "trunk_sid", "bundle_sid"] {
        assert_eq!(n[null], Value::Null, "{null}");
    }
    assert_eq!(n["uri"], format!("/2010-04-01/Accounts/{SID_A}/IncomingPhoneNumbers/{sid}.json"));
    let date = n["date_created"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc2822(date).is_ok() && date.ends_with(" +0000"), "{date}");

    let (status, fetched) = s.get(&number_path(SID_A, &sid)).await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched, n);
}

#[tokio::test]
async fn a_number_stores_every_setting_it_is_given() {
    let s = TestServer::start().await;
    let trunk = format!("TK{}", "a".repeat(32));
    let n = create_number(
        &s,
        "14155550101", // no '+': Twilio tolerates it
        &[
            ("FriendlyName", "Support line"),
            ("SmsUrl", "https://example.com/sms"),
            ("SmsMethod", "get"),
            ("SmsFallbackUrl", "https://example.com/fallback"),
            ("SmsFallbackMethod", "GET"),
            ("StatusCallback", "https://example.com/status"),
            ("StatusCallbackMethod", "GET"),
            ("VoiceUrl", "https://example.com/voice"),
            ("VoiceMethod", "GET"),
            ("VoiceCallerIdLookup", "TRUE"),
            ("VoiceReceiveMode", "fax"),
            ("EmergencyStatus", "Active"),
            ("TrunkSid", &trunk),
            ("ApiVersion", "2008-08-01"),
        ],
    )
    .await;
    let (_, n) = s.get(&number_path(SID_A, &sid_of(&n))).await;
    assert_eq!(n["phone_number"], "+14155550101");
    assert_eq!(n["friendly_name"], "Support line");
    assert_eq!(n["sms_url"], "https://example.com/sms");
    assert_eq!(n["sms_method"], "GET");
    assert_eq!(n["sms_fallback_url"], "https://example.com/fallback");
    assert_eq!(n["sms_fallback_method"], "GET");
    assert_eq!(n["status_callback"], "https://example.com/status");
    assert_eq!(n["status_callback_method"], "GET");
    assert_eq!(n["voice_url"], "https://example.com/voice");
    assert_eq!(n["voice_method"], "GET");
    assert_eq!(n["voice_caller_id_lookup"], true);
    assert_eq!(n["voice_receive_mode"], "fax");
    assert_eq!(n["emergency_status"], "Active");
    assert_eq!(n["trunk_sid"], trunk);
    assert_eq!(n["api_version"], "2008-08-01");
}

#[tokio::test]
async fn number_create_rejects_bad_parameters_with_twilio_codes() {
    let s = TestServer::start().await;
    let path = numbers_path(SID_A);
    let long_name = "x".repeat(65);
    let cases: [(&[(&str, &str)], u64); 11] = [
        (&[], 21421),
        (&[("PhoneNumber", "")], 21421),
        (&[("PhoneNumber", "+1")], 21421),
        (&[("PhoneNumber", "not a number")], 21421),
        (&[("AreaCode", "415")], 21421),
        (&[("PhoneNumber", "+14155550100"), ("SmsMethod", "PUT")], 20001),
        (&[("PhoneNumber", "+14155550100"), ("SmsUrl", "ftp://example.com/x")], 21502),
        (&[("PhoneNumber", "+14155550100"), ("StatusCallback", "not a url")], 21609),
        (&[("PhoneNumber", "+14155550100"), ("FriendlyName", &long_name)], 20001),
        (&[("PhoneNumber", "+14155550100"), ("VoiceReceiveMode", "telex")], 20001),
        (&[("PhoneNumber", "+14155550100"), ("TrunkSid", "TK123")], 20001),
    ];
    for (form, code) in cases {
        let got = s.post(&path, form).await;
        assert_error(&got, code, 400);
    }
    // Nothing was stored by the rejected requests.
    let (_, page) = s.get(&path).await;
    assert_eq!(page["incoming_phone_numbers"], serde_json::json!([]));
}

#[tokio::test]
async fn a_number_is_provisioned_once_per_account_but_other_accounts_may_hold_it() {
    let s = TestServer::start().await;
    let first = create_number(&s, "+14155550102", &[]).await;
    let again = s.post(&numbers_path(SID_A), &[("PhoneNumber", "14155550102")]).await;
    assert_error(&again, 21422, 400);
    assert!(again.1["message"].as_str().unwrap().contains(first["sid"].as_str().unwrap()), "{}", again.1);
    let (status, other) = s.post_as(SID_B, TOKEN_B, &numbers_path(SID_B), &[("PhoneNumber", "+14155550102")]).await;
    assert_eq!(status, 201, "{other}");
    assert_eq!(other["account_sid"], SID_B);
}

#[tokio::test]
async fn updating_a_number_changes_only_what_is_given_and_empty_values_clear() {
    let s = TestServer::start().await;
    let n = create_number(
        &s,
        "+14155550103",
        &[("FriendlyName", "Sales"), ("SmsUrl", "https://example.com/a"), ("VoiceUrl", "https://example.com/v")],
    )
    .await;
    let sid = sid_of(&n);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // RFC 2822 has whole seconds
    let (status, u) =
        s.post(&number_path(SID_A, &sid), &[("SmsUrl", "https://example.com/b"), ("SmsMethod", "GET")]).await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["sms_url"], "https://example.com/b");
    assert_eq!(u["sms_method"], "GET");
    assert_eq!(u["friendly_name"], "Sales");
    assert_eq!(u["voice_url"], "https://example.com/v");
    assert_eq!(u["date_created"], n["date_created"]);
    assert_ne!(u["date_updated"], n["date_updated"]);

    let (_, cleared) = s.post(&number_path(SID_A, &sid), &[("SmsUrl", ""), ("FriendlyName", "")]).await;
    assert_eq!(cleared["sms_url"], Value::Null);
    assert_eq!(cleared["friendly_name"], "(415) 555-0103");
    let (_, fetched) = s.get(&number_path(SID_A, &sid)).await;
    assert_eq!(fetched, cleared);

    // Same account named explicitly is fine; another is refused; nothing else changes the number.
    let (status, _) = s.post(&number_path(SID_A, &sid), &[("AccountSid", SID_A)]).await;
    assert_eq!(status, 200);
    assert_error(&s.post(&number_path(SID_A, &sid), &[("AccountSid", SID_B)]).await, 20001, 400);
    assert_error(&s.post(&number_path(SID_A, &sid), &[("VoiceMethod", "PATCH")]).await, 20001, 400);
    let missing = format!("PN{}", "0".repeat(32));
    assert_error(&s.post(&number_path(SID_A, &missing), &[("SmsUrl", "")]).await, 20404, 404);
}

#[tokio::test]
async fn deleting_a_number_answers_204_and_then_404() {
    let s = TestServer::start().await;
    let sid = sid_of(&create_number(&s, "+14155550104", &[]).await);
    let (status, body) = s.delete(&number_path(SID_A, &sid)).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_error(&s.get(&number_path(SID_A, &sid)).await, 20404, 404);
    assert_error(&s.delete(&number_path(SID_A, &sid)).await, 20404, 404);
    // The number can be provisioned again.
    create_number(&s, "+14155550104", &[]).await;
}

#[tokio::test]
async fn another_accounts_number_is_indistinguishable_from_a_missing_one() {
    let s = TestServer::start().await;
    let sid = sid_of(&create_number(&s, "+14155550105", &[]).await);
    // B on its own path: no such number.
    assert_error(&s.get_as(SID_B, TOKEN_B, &number_path(SID_B, &sid)).await, 20404, 404);
    assert_error(&s.post_as(SID_B, TOKEN_B, &number_path(SID_B, &sid), &[("SmsUrl", "")]).await, 20404, 404);
    assert_error(&delete_as(&s, SID_B, TOKEN_B, &number_path(SID_B, &sid)).await, 20404, 404);
    // B on A's path: A's account does not exist for B.
    assert_error(&s.get_as(SID_B, TOKEN_B, &number_path(SID_A, &sid)).await, 20404, 404);
    assert_error(&s.get_as(SID_B, TOKEN_B, &numbers_path(SID_A)).await, 20404, 404);
    let (_, page) = s.get_as(SID_B, TOKEN_B, &numbers_path(SID_B)).await;
    assert_eq!(page["incoming_phone_numbers"], serde_json::json!([]));
    // Malformed SIDs and the typed sub-lists Twilio has (Local.json, …) are simply not found.
    assert_error(&s.get(&number_path(SID_A, "PN123")).await, 20404, 404);
    assert_error(&s.get(&format!("/2010-04-01/Accounts/{SID_A}/IncomingPhoneNumbers/Local.json")).await, 20404, 404);
    // And the number is still A's.
    let (status, _) = s.get(&number_path(SID_A, &sid)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_number_list_filters_like_twilio() {
    let s = TestServer::start().await;
    create_number(&s, "+14155550110", &[("FriendlyName", "Alpha")]).await;
    create_number(&s, "+14155550111", &[("FriendlyName", "Beta")]).await;
    create_number(&s, "+12125550112", &[("FriendlyName", "Alpha")]).await;
    create_number(&s, "+442079460958", &[]).await;
    let list = |q: &str| {
        let path = format!("{}?{q}", numbers_path(SID_A));
        let s = &s;
        async move {
            let (status, page) = s.get(&path).await;
            assert_eq!(status, 200, "{page}");
            page["incoming_phone_numbers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["phone_number"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let all = ["+14155550110", "+14155550111", "+12125550112", "+442079460958"];
    assert_eq!(list("").await, all, "creation order");
    assert_eq!(list("PhoneNumber=%2B1415").await, ["+14155550110", "+14155550111"]);
    assert_eq!(list("PhoneNumber=555011").await, ["+14155550110", "+14155550111", "+12125550112"]);
    assert_eq!(list("PhoneNumber=%2B1415***01").await, ["+14155550110", "+14155550111"]);
    assert_eq!(list("PhoneNumber=(212)%20555-0112").await, ["+12125550112"]);
    assert_eq!(list("PhoneNumber=999999").await, Vec::<String>::new());
    assert_eq!(list("FriendlyName=Alpha").await, ["+14155550110", "+12125550112"]);
    assert_eq!(list("FriendlyName=alpha").await, Vec::<String>::new(), "exact match");
    assert_eq!(list("FriendlyName=Alpha&PhoneNumber=1415").await, ["+14155550110"]);
    assert_eq!(list("Origin=twilio&Beta=false").await, all);
    assert_eq!(list("Beta=TRUE").await, all);
    assert_eq!(list("Origin=hosted").await, Vec::<String>::new());
    assert_error(&s.get(&format!("{}?Beta=maybe", numbers_path(SID_A))).await, 20001, 400);
    assert_error(&s.get(&format!("{}?Origin=moon", numbers_path(SID_A))).await, 20001, 400);
    assert_error(&s.get(&format!("{}?PhoneNumber=abc", numbers_path(SID_A))).await, 20001, 400);
}

#[tokio::test]
async fn the_number_list_pages_by_keyset_in_creation_order() {
    let s = TestServer::start().await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(sid_of(&create_number(&s, &format!("+1415555012{i}"), &[]).await));
    }
    let first = format!("{}?PhoneNumber=1415&PageSize=2", numbers_path(SID_A));
    let pages = v2010_pages(&s, &first).await;
    assert_eq!(pages.len(), 3);
    let seen: Vec<String> =
        pages.iter().flat_map(|p| p["incoming_phone_numbers"].as_array().unwrap().iter().map(sid_of)).collect();
    assert_eq!(seen, created);
    let p0 = &pages[0];
    assert_eq!(
        keys(p0),
        [
            "end",
            "first_page_uri",
            "incoming_phone_numbers",
            "next_page_uri",
            "page",
            "page_size",
            "previous_page_uri",
            "start",
            "uri"
        ]
    );
    assert_eq!((p0["page"].as_u64(), p0["page_size"].as_u64()), (Some(0), Some(2)));
    assert_eq!((p0["start"].as_u64(), p0["end"].as_u64()), (Some(0), Some(1)));
    assert_eq!(p0["previous_page_uri"], Value::Null);
    let base = numbers_path(SID_A);
    assert_eq!(p0["first_page_uri"], format!("{base}?PhoneNumber=1415&PageSize=2&Page=0"));
    assert_eq!(p0["uri"], p0["first_page_uri"]);
    assert_eq!(p0["next_page_uri"], format!("{base}?PhoneNumber=1415&PageSize=2&Page=1&PageToken=PA{}", created[1]));
    let p2 = &pages[2];
    assert_eq!((p2["page"].as_u64(), p2["start"].as_u64(), p2["end"].as_u64()), (Some(2), Some(4), Some(4)));
    assert_eq!(p2["next_page_uri"], Value::Null);

    // Back from the last page lands on the middle one.
    let (_, back) = s.get(p2["previous_page_uri"].as_str().unwrap()).await;
    let back_sids: Vec<String> = back["incoming_phone_numbers"].as_array().unwrap().iter().map(sid_of).collect();
    assert_eq!(back_sids, created[2..4]);
    assert_eq!(back["page"], 1);

    assert_error(&s.get(&format!("{base}?PageToken=PAnonsense")).await, 21481, 400);
    assert_error(&s.get(&format!("{base}?PageToken=PA{}", format_args!("SM{}", "a".repeat(32)))).await, 21481, 400);
    assert_error(&s.get(&format!("{base}?Page=1")).await, 70002, 400);
    assert_error(&s.get(&format!("{base}?PageSize=0")).await, 20001, 400);
}

// --- short codes -----------------------------------------------------------------------------

const SHORT_CODE_KEYS: [&str; 12] = [
    "account_sid",
    "api_version",
    "date_created",
    "date_updated",
    "friendly_name",
    "short_code",
    "sid",
    "sms_fallback_method",
    "sms_fallback_url",
    "sms_method",
    "sms_url",
    "uri",
];

#[tokio::test]
async fn a_provisioned_short_code_reads_back_through_the_v2010_api() {
    let s = TestServer::start().await;
    let sc = create_short_code(&s, "12345").await;
    assert_properties(&sc, &SHORT_CODE_KEYS, "twilio_api_v2010.json", "api.v2010.account.short_code");
    assert!(is_sid(&sc["sid"], "SC"), "{sc}");
    let sid = sid_of(&sc);
    assert_eq!(sc["short_code"], "12345");
    assert_eq!(sc["friendly_name"], "12345");
    assert_eq!(sc["sms_method"], "POST");
    assert_eq!(sc["sms_url"], Value::Null);
    assert_eq!(sc["api_version"], "2010-04-01");
    assert_eq!(sc["uri"], format!("/2010-04-01/Accounts/{SID_A}/SMS/ShortCodes/{sid}.json"));
    let (status, fetched) = s.get(&short_code_path(SID_A, &sid)).await;
    assert_eq!((status, &fetched), (200, &sc));

    let (status, u) =
        s.post(&short_code_path(SID_A, &sid), &[("FriendlyName", "Promo"), ("SmsUrl", "https://example.com/in")]).await;
    assert_eq!(status, 200, "{u}");
    assert_eq!((u["friendly_name"].as_str(), u["sms_url"].as_str()), (Some("Promo"), Some("https://example.com/in")));
    assert_eq!(u["short_code"], "12345");
    assert_error(&s.post(&short_code_path(SID_A, &sid), &[("SmsMethod", "PUT")]).await, 20001, 400);
}

#[tokio::test]
async fn short_code_provisioning_validates_and_refuses_duplicates() {
    let s = TestServer::start().await;
    let path = provision_short_code_path(SID_A);
    let (status, sc) = s
        .post(&path, &[("ShortCode", "88888"), ("CountryCode", "gb"), ("FriendlyName", "UK"), ("SmsMethod", "GET")])
        .await;
    assert_eq!(status, 201, "{sc}");
    assert_eq!((sc["friendly_name"].as_str(), sc["sms_method"].as_str()), (Some("UK"), Some("GET")));
    for (form, code) in [
        (vec![], 20001),
        (vec![("ShortCode", "12")], 20001),
        (vec![("ShortCode", "123456789")], 20001),
        (vec![("ShortCode", "12a45")], 20001),
        (vec![("ShortCode", "54321"), ("CountryCode", "USA")], 20001),
        (vec![("ShortCode", "54321"), ("SmsUrl", "nope")], 21502),
        (vec![("ShortCode", "88888")], 21422),
    ] {
        assert_error(&s.post(&path, &form).await, code, 400);
    }
    // Another account may hold the same digits.
    let (status, _) = s.post_as(SID_B, TOKEN_B, &provision_short_code_path(SID_B), &[("ShortCode", "88888")]).await;
    assert_eq!(status, 201);
    // B never sees A's.
    assert_error(&s.get_as(SID_B, TOKEN_B, &short_code_path(SID_B, &sid_of(&sc))).await, 20404, 404);
    assert_error(&s.post_as(SID_B, TOKEN_B, &path, &[("ShortCode", "77777")]).await, 20404, 404);
}

#[tokio::test]
async fn the_short_code_list_filters_pages_and_forgets_deleted_codes() {
    let s = TestServer::start().await;
    let a = sid_of(&create_short_code(&s, "11111").await);
    let b = sid_of(&create_short_code(&s, "22222").await);
    let c = sid_of(&create_short_code(&s, "11122").await);
    let pages = v2010_pages(&s, &format!("{}?PageSize=2", short_codes_path(SID_A))).await;
    assert_eq!(pages.len(), 2);
    assert_eq!(
        keys(&pages[0]),
        [
            "end",
            "first_page_uri",
            "next_page_uri",
            "page",
            "page_size",
            "previous_page_uri",
            "short_codes",
            "start",
            "uri"
        ]
    );
    let all: Vec<String> = pages.iter().flat_map(|p| p["short_codes"].as_array().unwrap().iter().map(sid_of)).collect();
    assert_eq!(all, [a.clone(), b.clone(), c.clone()]);
    let (_, filtered) = s.get(&format!("{}?ShortCode=111", short_codes_path(SID_A))).await;
    let got: Vec<String> = filtered["short_codes"].as_array().unwrap().iter().map(sid_of).collect();
    assert_eq!(got, [a.clone(), c.clone()]);
    let (_, named) = s.get(&format!("{}?FriendlyName=22222", short_codes_path(SID_A))).await;
    assert_eq!(named["short_codes"].as_array().unwrap().len(), 1);

    let delete_path = format!("/_switchboard/Accounts/{SID_A}/ShortCodes/{a}.json");
    let (status, _) = s.delete(&delete_path).await;
    assert_eq!(status, 204);
    assert_error(&s.delete(&delete_path).await, 20404, 404);
    assert_error(&s.get(&short_code_path(SID_A, &a)).await, 20404, 404);
    // The v2010 API has no delete (as in Twilio).
    assert_error(&s.delete(&short_code_path(SID_A, &b)).await, 20004, 405);
}

// --- Messaging Services ----------------------------------------------------------------------

const SERVICE_KEYS: [&str; 23] = [
    "account_sid",
    "area_code_geomatch",
    "date_created",
    "date_updated",
    "fallback_method",
    "fallback_to_long_code",
    "fallback_url",
    "friendly_name",
    "inbound_method",
    "inbound_request_url",
    "links",
    "mms_converter",
    "scan_message_content",
    "sid",
    "smart_encoding",
    "status_callback",
    "sticky_sender",
    "synchronous_validation",
    "url",
    "us_app_to_person_registered",
    "use_inbound_webhook_on_number",
    "usecase",
    "validity_period",
];

fn is_iso8601_utc(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 20 && s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[tokio::test]
async fn creating_a_service_answers_201_with_every_property_and_twilios_defaults() {
    let s = TestServer::start().await;
    let m = create_service(&s, "Notifications").await;
    assert_properties(&m, &SERVICE_KEYS, "twilio_messaging_v1.json", "messaging.v1.service");
    assert!(is_sid(&m["sid"], "MG"), "{m}");
    let sid = sid_of(&m);
    assert_eq!(m["account_sid"], SID_A);
    assert_eq!(m["friendly_name"], "Notifications");
    assert_eq!(m["inbound_request_url"], Value::Null);
    assert_eq!(m["inbound_method"], "POST");
    assert_eq!(m["fallback_url"], Value::Null);
    assert_eq!(m["fallback_method"], "POST");
    assert_eq!(m["status_callback"], Value::Null);
    for t in ["sticky_sender", "mms_converter", "smart_encoding", "fallback_to_long_code", "area_code_geomatch"] {
        assert_eq!(m[t], true, "{t}");
    }
    for f in ["synchronous_validation", "us_app_to_person_registered", "use_inbound_webhook_on_number"] {
        assert_eq!(m[f], false, "{f}");
    }
    assert_eq!(m["scan_message_content"], "inherit");
    assert_eq!(m["validity_period"], 36000);
    assert_eq!(m["usecase"], "undeclared");
    assert!(is_iso8601_utc(&m["date_created"]) && is_iso8601_utc(&m["date_updated"]), "{m}");
    let url = format!("{}/v1/Services/{sid}", s.url);
    assert_eq!(m["url"], url);
    assert_eq!(m["links"]["phone_numbers"], format!("{url}/PhoneNumbers"));
    assert_eq!(m["links"]["short_codes"], format!("{url}/ShortCodes"));
    assert_eq!(m["links"]["alpha_senders"], format!("{url}/AlphaSenders"));
    assert_eq!(m["links"].as_object().unwrap().len(), 8, "{m}");
    let (status, fetched) = s.get(&format!("/v1/Services/{sid}")).await;
    assert_eq!((status, &fetched), (200, &m));
    // SIDs are accepted in either case, as Twilio's patterns allow.
    let (status, _) = s.get(&format!("/v1/Services/MG{}", sid[2..].to_ascii_uppercase())).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_service_takes_every_setting_and_booleans_in_any_case() {
    let s = TestServer::start().await;
    let (status, m) = s
        .post(
            "/v1/Services",
            &[
                ("FriendlyName", "Marketing"),
                ("InboundRequestUrl", "https://example.com/in"),
                ("InboundMethod", "GET"),
                ("FallbackUrl", "https://example.com/fb"),
                ("FallbackMethod", "get"),
                ("StatusCallback", "https://example.com/status"),
                ("StickySender", "FALSE"),
                ("MmsConverter", "false"),
                ("SmartEncoding", "False"),
                ("ScanMessageContent", "disable"),
                ("FallbackToLongCode", "false"),
                ("AreaCodeGeomatch", "fAlSe"),
                ("ValidityPeriod", "600"),
                ("SynchronousValidation", "TRUE"),
                ("Usecase", "marketing"),
                ("UseInboundWebhookOnNumber", "true"),
            ],
        )
        .await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["inbound_request_url"], "https://example.com/in");
    assert_eq!(m["inbound_method"], "GET");
    assert_eq!(m["fallback_url"], "https://example.com/fb");
    assert_eq!(m["fallback_method"], "GET");
    assert_eq!(m["status_callback"], "https://example.com/status");
    for f in ["sticky_sender", "mms_converter", "smart_encoding", "fallback_to_long_code", "area_code_geomatch"] {
        assert_eq!(m[f], false, "{f}");
    }
    assert_eq!(m["synchronous_validation"], true);
    assert_eq!(m["use_inbound_webhook_on_number"], true);
    assert_eq!(m["scan_message_content"], "disable");
    assert_eq!(m["validity_period"], 600);
    assert_eq!(m["usecase"], "marketing");
}

#[tokio::test]
async fn service_create_rejects_bad_parameters_with_twilio_codes() {
    let s = TestServer::start().await;
    let name = ("FriendlyName", "x");
    let long_name = "n".repeat(65);
    let cases: [(Vec<(&str, &str)>, u64); 13] = [
        (vec![], 20001),
        (vec![("FriendlyName", "  ")], 20001),
        (vec![name, ("ValidityPeriod", "0")], 90007),
        (vec![name, ("ValidityPeriod", "36001")], 90007),
        (vec![name, ("ValidityPeriod", "ten")], 90007),
        (vec![name, ("StickySender", "yes")], 20001),
        (vec![name, ("InboundMethod", "PUT")], 20001),
        (vec![name, ("ScanMessageContent", "always")], 20001),
        (vec![name, ("Usecase", "spam")], 20001),
        (vec![name, ("InboundRequestUrl", "example.com/in")], 21502),
        (vec![name, ("FallbackUrl", "https://bad_host.example.com/")], 21502),
        (vec![name, ("StatusCallback", "mailto:x@example.com")], 21609),
        (vec![("FriendlyName", &long_name)], 20001),
    ];
    for (form, code) in cases {
        let got = s.post("/v1/Services", &form).await;
        assert_error(&got, code, 400);
    }
    let (_, page) = s.get("/v1/Services").await;
    assert_eq!(page["services"], serde_json::json!([]));
}

#[tokio::test]
async fn updating_a_service_changes_only_what_is_given() {
    let s = TestServer::start().await;
    let m = create_service(&s, "Before").await;
    let path = format!("/v1/Services/{}", sid_of(&m));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, u) = s.post(&path, &[("ValidityPeriod", "5"), ("InboundRequestUrl", "https://example.com/i")]).await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["validity_period"], 5);
    assert_eq!(u["inbound_request_url"], "https://example.com/i");
    assert_eq!(u["friendly_name"], "Before");
    assert_eq!(u["sticky_sender"], true);
    assert_eq!(u["date_created"], m["date_created"]);
    assert_ne!(u["date_updated"], m["date_updated"]);
    let (_, u) =
        s.post(&path, &[("FriendlyName", "After"), ("InboundRequestUrl", ""), ("StickySender", "false")]).await;
    assert_eq!(u["friendly_name"], "After");
    assert_eq!(u["inbound_request_url"], Value::Null);
    assert_eq!(u["sticky_sender"], false);
    assert_eq!(u["validity_period"], 5);
    let (_, fetched) = s.get(&path).await;
    assert_eq!(fetched, u);
    assert_error(&s.post(&path, &[("FriendlyName", "")]).await, 20001, 400);
    assert_error(&s.post(&path, &[("ValidityPeriod", "-1")]).await, 90007, 400);
    assert_error(&s.post(&format!("/v1/Services/MG{}", "0".repeat(32)), &[]).await, 20404, 404);
    assert_error(&s.post("/v1/Services/nonsense", &[]).await, 20404, 404);
}

#[tokio::test]
async fn the_service_list_pages_through_absolute_meta_urls() {
    let s = TestServer::start().await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(sid_of(&create_service(&s, &format!("S{i}")).await));
    }
    let pages = v1_pages(&s, "/v1/Services?PageSize=2").await;
    assert_eq!(pages.len(), 3);
    let seen: Vec<String> = pages.iter().flat_map(|p| p["services"].as_array().unwrap().iter().map(sid_of)).collect();
    assert_eq!(seen, created);
    let meta = &pages[0]["meta"];
    assert_eq!(keys(&pages[0]), ["meta", "services"]);
    assert_eq!(keys(meta), ["first_page_url", "key", "next_page_url", "page", "page_size", "previous_page_url", "url"]);
    assert_eq!(meta["key"], "services");
    assert_eq!(meta["page_size"], 2);
    assert_eq!(meta["first_page_url"], format!("{}/v1/Services?PageSize=2&Page=0", s.url));
    assert_eq!(meta["next_page_url"], format!("{}/v1/Services?PageSize=2&Page=1&PageToken=PA{}", s.url, created[1]));
    assert_eq!(meta["previous_page_url"], Value::Null);
    assert_eq!(pages[2]["meta"]["page"], 2);
    assert_eq!(pages[2]["meta"]["next_page_url"], Value::Null);
    let prev = pages[2]["meta"]["previous_page_url"].as_str().unwrap();
    let back: Value = s.http.get(prev).basic_auth(SID_A, Some(TOKEN_A)).send().await.unwrap().json().await.unwrap();
    let back_sids: Vec<String> = back["services"].as_array().unwrap().iter().map(sid_of).collect();
    assert_eq!(back_sids, created[2..4]);
    assert_error(&s.get("/v1/Services?PageToken=PAxyz").await, 21481, 400);
}

#[tokio::test]
async fn v1_requests_authenticate_as_the_basic_user_and_see_only_its_services() {
    let s = TestServer::start().await;
    let sid = sid_of(&create_service(&s, "Mine").await);
    let path = format!("/v1/Services/{sid}");
    let anonymous = s.http.get(format!("{}{path}", s.url)).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    assert_error(&s.get_as(SID_A, "wrong", &path).await, 20003, 401);
    assert_error(&s.post_as(SID_A, "wrong", "/v1/Services", &[("FriendlyName", "x")]).await, 20003, 401);

    assert_error(&s.get_as(SID_B, TOKEN_B, &path).await, 20404, 404);
    assert_error(&s.post_as(SID_B, TOKEN_B, &path, &[("FriendlyName", "stolen")]).await, 20404, 404);
    assert_error(&delete_as(&s, SID_B, TOKEN_B, &path).await, 20404, 404);
    assert_error(&s.get_as(SID_B, TOKEN_B, &format!("{path}/PhoneNumbers")).await, 20404, 404);
    let (_, b_list) = s.get_as(SID_B, TOKEN_B, "/v1/Services").await;
    assert_eq!(b_list["services"], serde_json::json!([]));
    let (_, mine) = s.get(&path).await;
    assert_eq!(mine["friendly_name"], "Mine");
}

#[tokio::test]
async fn deleting_a_service_answers_204_and_frees_its_senders() {
    let s = TestServer::start().await;
    let first = sid_of(&create_service(&s, "First").await);
    let second = sid_of(&create_service(&s, "Second").await);
    let pn = sid_of(&create_number(&s, "+14155550130", &[]).await);
    let (status, _) = s.post(&format!("/v1/Services/{first}/PhoneNumbers"), &[("PhoneNumberSid", &pn)]).await;
    assert_eq!(status, 201);
    let (status, body) = s.delete(&format!("/v1/Services/{first}")).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_error(&s.get(&format!("/v1/Services/{first}")).await, 20404, 404);
    assert_error(&s.delete(&format!("/v1/Services/{first}")).await, 20404, 404);
    // The number outlives the service and may join another.
    let (status, _) = s.get(&number_path(SID_A, &pn)).await;
    assert_eq!(status, 200);
    let (status, m) = s.post(&format!("/v1/Services/{second}/PhoneNumbers"), &[("PhoneNumberSid", &pn)]).await;
    assert_eq!(status, 201, "{m}");
}

// --- sender pools ----------------------------------------------------------------------------

#[tokio::test]
async fn a_phone_number_joins_a_pool_and_reads_back_as_twilio_shapes_it() {
    let s = TestServer::start().await;
    let mg = sid_of(&create_service(&s, "Pool").await);
    let pn = sid_of(&create_number(&s, "+14155550140", &[]).await);
    let collection = format!("/v1/Services/{mg}/PhoneNumbers");
    let (status, m) = s.post(&collection, &[("PhoneNumberSid", &pn)]).await;
    assert_eq!(status, 201, "{m}");
    let expected = [
        "account_sid",
        "capabilities",
        "country_code",
        "date_created",
        "date_updated",
        "phone_number",
        "service_sid",
        "sid",
        "url",
    ];
    assert_properties(&m, &expected, "twilio_messaging_v1.json", "messaging.v1.service.phone_number");
    assert_eq!(m["sid"], pn.as_str());
    assert_eq!(m["account_sid"], SID_A);
    assert_eq!(m["service_sid"], mg.as_str());
    assert_eq!(m["phone_number"], "+14155550140");
    assert_eq!(m["country_code"], "US");
    assert_eq!(m["capabilities"], serde_json::json!(["MMS", "SMS", "Voice"]));
    assert!(is_iso8601_utc(&m["date_created"]));
    assert_eq!(m["url"], format!("{}{collection}/{pn}", s.url));

    let member = format!("{collection}/{pn}");
    let (status, fetched) = s.get(&member).await;
    assert_eq!((status, &fetched), (200, &m));
    let (_, page) = s.get(&collection).await;
    assert_eq!(page["phone_numbers"], serde_json::json!([m]));
    assert_eq!(page["meta"]["key"], "phone_numbers");
    // Only its own kind's collection knows it.
    assert_error(&s.get(&format!("/v1/Services/{mg}/ShortCodes/{pn}")).await, 20404, 404);

    let (status, _) = s.delete(&member).await;
    assert_eq!(status, 204);
    assert_error(&s.get(&member).await, 20404, 404);
    assert_error(&s.delete(&member).await, 20404, 404);
    let (status, _) = s.get(&number_path(SID_A, &pn)).await;
    assert_eq!(status, 200, "leaving the pool keeps the number");
}

#[tokio::test]
async fn short_codes_and_alpha_senders_join_pools_with_their_own_shapes() {
    let s = TestServer::start().await;
    let mg = sid_of(&create_service(&s, "Pool").await);
    let (status, sc) =
        s.post(&provision_short_code_path(SID_A), &[("ShortCode", "24680"), ("CountryCode", "CA")]).await;
    assert_eq!(status, 201, "{sc}");
    let (status, m) =
        s.post(&format!("/v1/Services/{mg}/ShortCodes"), &[("ShortCodeSid", sc["sid"].as_str().unwrap())]).await;
    assert_eq!(status, 201, "{m}");
    let expected = [
        "account_sid",
        "capabilities",
        "country_code",
        "date_created",
        "date_updated",
        "service_sid",
        "short_code",
        "sid",
        "url",
    ];
    assert_properties(&m, &expected, "twilio_messaging_v1.json", "messaging.v1.service.short_code");
    assert_eq!((m["short_code"].as_str(), m["country_code"].as_str()), (Some("24680"), Some("CA")));
    assert_eq!(m["capabilities"], serde_json::json!(["SMS"]));

    let (status, a) = s.post(&format!("/v1/Services/{mg}/AlphaSenders"), &[("AlphaSender", "My Brand")]).await;
    assert_eq!(status, 201, "{a}");
    let expected =
        ["account_sid", "alpha_sender", "capabilities", "date_created", "date_updated", "service_sid", "sid", "url"];
    assert_properties(&a, &expected, "twilio_messaging_v1.json", "messaging.v1.service.alpha_sender");
    assert!(is_sid(&a["sid"], "AI"), "{a}");
    assert_eq!(a["alpha_sender"], "My Brand");
    assert_eq!(a["url"], format!("{}/v1/Services/{mg}/AlphaSenders/{}", s.url, sid_of(&a)));
    let (status, fetched) = s.get(&format!("/v1/Services/{mg}/AlphaSenders/{}", sid_of(&a))).await;
    assert_eq!((status, &fetched), (200, &a));
    let (status, _) = s.delete(&format!("/v1/Services/{mg}/AlphaSenders/{}", sid_of(&a))).await;
    assert_eq!(status, 204);
    let (_, page) = s.get(&format!("/v1/Services/{mg}/AlphaSenders")).await;
    assert_eq!(page["alpha_senders"], serde_json::json!([]));
}

#[tokio::test]
async fn pool_membership_rules_answer_with_twilio_codes() {
    let s = TestServer::start().await;
    let one = sid_of(&create_service(&s, "One").await);
    let two = sid_of(&create_service(&s, "Two").await);
    let pn = sid_of(&create_number(&s, "+14155550150", &[]).await);
    let sc = sid_of(&create_short_code(&s, "13579").await);
    let (_, b_number) = s.post_as(SID_B, TOKEN_B, &numbers_path(SID_B), &[("PhoneNumber", "+14155550151")]).await;
    let numbers = |mg: &str| format!("/v1/Services/{mg}/PhoneNumbers");
    let alphas = |mg: &str| format!("/v1/Services/{mg}/AlphaSenders");

    assert_eq!(s.post(&numbers(&one), &[("PhoneNumberSid", &pn)]).await.0, 201);
    assert_error(&s.post(&numbers(&one), &[("PhoneNumberSid", &pn)]).await, 21710, 409);
    assert_error(&s.post(&numbers(&two), &[("PhoneNumberSid", &pn.to_ascii_uppercase())]).await, 21712, 409);
    assert_error(&s.post(&numbers(&two), &[("PhoneNumberSid", b_number["sid"].as_str().unwrap())]).await, 20001, 400);
    assert_error(&s.post(&numbers(&two), &[("PhoneNumberSid", &format!("PN{}", "0".repeat(32)))]).await, 20001, 400);
    assert_error(&s.post(&numbers(&two), &[("PhoneNumberSid", &sc)]).await, 20001, 400);
    assert_error(&s.post(&numbers(&two), &[]).await, 20001, 400);

    let shorts = format!("/v1/Services/{two}/ShortCodes");
    assert_eq!(s.post(&shorts, &[("ShortCodeSid", &sc)]).await.0, 201);
    assert_error(&s.post(&format!("/v1/Services/{one}/ShortCodes"), &[("ShortCodeSid", &sc)]).await, 21712, 409);

    assert_eq!(s.post(&alphas(&one), &[("AlphaSender", "Brand")]).await.0, 201);
    assert_error(&s.post(&alphas(&one), &[("AlphaSender", "Brand")]).await, 21710, 409);
    assert_error(&s.post(&alphas(&one), &[("AlphaSender", "Other")]).await, 21709, 400);
    assert_error(&s.post(&alphas(&two), &[("AlphaSender", "Brand")]).await, 21712, 409);
    for bad in ["12345", "Way too long!", "Emoji🙂", "semi;colon"] {
        assert_error(&s.post(&alphas(&two), &[("AlphaSender", bad)]).await, 21709, 400);
    }
    assert_error(&s.post(&alphas(&two), &[]).await, 20001, 400);
    // Another account's alpha IDs are its own business.
    let (_, b_service) = s.post_as(SID_B, TOKEN_B, "/v1/Services", &[("FriendlyName", "B")]).await;
    let b_alphas = alphas(b_service["sid"].as_str().unwrap());
    assert_eq!(s.post_as(SID_B, TOKEN_B, &b_alphas, &[("AlphaSender", "Brand")]).await.0, 201);

    let unknown = format!("MG{}", "0".repeat(32));
    assert_error(&s.post(&numbers(&unknown), &[("PhoneNumberSid", &pn)]).await, 20404, 404);
    assert_error(&s.get(&numbers(&unknown)).await, 20404, 404);
    assert_error(&s.post_as(SID_B, TOKEN_B, &numbers(&one), &[("PhoneNumberSid", &pn)]).await, 20404, 404);
}

#[tokio::test]
async fn releasing_a_number_or_short_code_takes_it_out_of_its_pool() {
    let s = TestServer::start().await;
    let mg = sid_of(&create_service(&s, "Pool").await);
    let pn = sid_of(&create_number(&s, "+14155550160", &[]).await);
    let sc = sid_of(&create_short_code(&s, "97531").await);
    assert_eq!(s.post(&format!("/v1/Services/{mg}/PhoneNumbers"), &[("PhoneNumberSid", &pn)]).await.0, 201);
    assert_eq!(s.post(&format!("/v1/Services/{mg}/ShortCodes"), &[("ShortCodeSid", &sc)]).await.0, 201);
    assert_eq!(s.delete(&number_path(SID_A, &pn)).await.0, 204);
    assert_eq!(s.delete(&format!("/_switchboard/Accounts/{SID_A}/ShortCodes/{sc}.json")).await.0, 204);
    let (_, numbers) = s.get(&format!("/v1/Services/{mg}/PhoneNumbers")).await;
    assert_eq!(numbers["phone_numbers"], serde_json::json!([]));
    let (_, shorts) = s.get(&format!("/v1/Services/{mg}/ShortCodes")).await;
    assert_eq!(shorts["short_codes"], serde_json::json!([]));
    // Provisioned again, the number is free to join.
    let again = sid_of(&create_number(&s, "+14155550160", &[]).await);
    assert_eq!(s.post(&format!("/v1/Services/{mg}/PhoneNumbers"), &[("PhoneNumberSid", &again)]).await.0, 201);
}

#[tokio::test]
async fn a_pool_list_pages_by_sid() {
    let s = TestServer::start().await;
    let mg = sid_of(&create_service(&s, "Big pool").await);
    let mut members = Vec::new();
    for i in 0..3 {
        let pn = sid_of(&create_number(&s, &format!("+1415555017{i}"), &[]).await);
        assert_eq!(s.post(&format!("/v1/Services/{mg}/PhoneNumbers"), &[("PhoneNumberSid", &pn)]).await.0, 201);
        members.push(pn);
    }
    let pages = v1_pages(&s, &format!("/v1/Services/{mg}/PhoneNumbers?PageSize=1")).await;
    assert_eq!(pages.len(), 3);
    let seen: Vec<String> =
        pages.iter().flat_map(|p| p["phone_numbers"].as_array().unwrap().iter().map(sid_of)).collect();
    assert_eq!(seen, members);
    assert_error(&s.get(&format!("/v1/Services/{mg}/PhoneNumbers?PageToken=PA{mg}")).await, 21481, 400);
}

// --- the store's lookups ---------------------------------------------------------------------

#[tokio::test]
async fn the_five_lookups_answer_from_what_the_api_created() {
    let s = TestServer::start().await;
    let (_, m) = s
        .post(
            "/v1/Services",
            &[
                ("FriendlyName", "Lookups"),
                ("InboundRequestUrl", "https://example.com/in"),
                ("StatusCallback", "https://example.com/st"),
                ("ValidityPeriod", "120"),
                ("StickySender", "false"),
                ("UseInboundWebhookOnNumber", "true"),
            ],
        )
        .await;
    let mg = sid_of(&m);
    let pn = sid_of(&create_number(&s, "+14155550180", &[("SmsUrl", "https://example.com/sms")]).await);
    let lone = sid_of(&create_number(&s, "+442079460958", &[]).await);
    let sc = sid_of(&create_short_code(&s, "55555").await);
    assert_eq!(s.post(&format!("/v1/Services/{mg}/PhoneNumbers"), &[("PhoneNumberSid", &pn)]).await.0, 201);
    assert_eq!(s.post(&format!("/v1/Services/{mg}/ShortCodes"), &[("ShortCodeSid", &sc)]).await.0, 201);
    assert_eq!(s.post(&format!("/v1/Services/{mg}/AlphaSenders"), &[("AlphaSender", "Shop")]).await.0, 201);
    let dir = s.stop().await;
    let store =
        switchboard::store::sqlite::SqliteStore::open(dir.path().join("sb.db").to_str().unwrap()).await.unwrap();

    // service
    let service = store.service(SID_A, &mg).await.unwrap().expect("the service");
    assert_eq!(service.friendly_name, "Lookups");
    assert_eq!(service.inbound_request_url.as_deref(), Some("https://example.com/in"));
    assert_eq!(service.inbound_method, "POST");
    assert_eq!(service.status_callback.as_deref(), Some("https://example.com/st"));
    assert_eq!(service.validity_period, 120);
    assert!(!service.sticky_sender && service.smart_encoding && service.area_code_geomatch);
    assert!(service.use_inbound_webhook_on_number);
    assert_eq!(store.service(SID_A, &mg.to_ascii_uppercase()).await.unwrap(), Some(service.clone()));
    assert_eq!(store.service(SID_B, &mg).await.unwrap(), None, "scoped to the account");
    assert_eq!(store.service(SID_A, "MGnope").await.unwrap(), None);

    // pool: oldest first, with addresses and countries
    let pool = store.pool(&mg).await.unwrap();
    let summary: Vec<(PoolKind, &str, Option<&str>)> =
        pool.iter().map(|p| (p.kind, p.address.as_str(), p.country_code.as_deref())).collect();
    assert_eq!(
        summary,
        [
            (PoolKind::PhoneNumber, "+14155550180", Some("US")),
            (PoolKind::ShortCode, "55555", Some("US")),
            (PoolKind::AlphaSender, "Shop", None),
        ]
    );
    assert!(pool.iter().all(|p| p.service_sid == mg));
    assert_eq!(pool[0].sid, pn);
    assert_eq!(store.pool(&format!("MG{}", "0".repeat(32))).await.unwrap(), []);

    // phone_number_by_address
    let number = store.phone_number_by_address(SID_A, "+14155550180").await.unwrap().expect("the number");
    assert_eq!((number.sid.as_str(), number.sms.url.as_deref()), (pn.as_str(), Some("https://example.com/sms")));
    assert_eq!(number.sms.method, "POST");
    assert_eq!(store.phone_number_by_address(SID_A, "whatsapp:+14155550180").await.unwrap().map(|n| n.sid), Some(pn));
    assert_eq!(store.phone_number_by_address(SID_B, "+14155550180").await.unwrap(), None);
    assert_eq!(store.phone_number_by_address(SID_A, "+14155550199").await.unwrap(), None);

    // service_of_sender
    for address in ["+14155550180", "55555", "Shop", "whatsapp:+14155550180"] {
        let found = store.service_of_sender(SID_A, address).await.unwrap().map(|s| s.sid);
        assert_eq!(found.as_deref(), Some(mg.as_str()), "{address}");
    }
    assert_eq!(store.service_of_sender(SID_A, "+442079460958").await.unwrap(), None, "not in a pool");
    assert_eq!(store.service_of_sender(SID_B, "Shop").await.unwrap(), None);

    // owns_sender
    for address in ["+14155550180", "+442079460958", "55555", "Shop", "whatsapp:+442079460958"] {
        assert!(store.owns_sender(SID_A, address).await.unwrap(), "{address}");
    }
    for address in ["+14155550199", "66666", "Other", "shop"] {
        assert!(!store.owns_sender(SID_A, address).await.unwrap(), "{address}");
    }
    assert!(!store.owns_sender(SID_B, "+14155550180").await.unwrap());
    assert!(!store.owns_sender(SID_B, "Shop").await.unwrap());
    let _ = lone;
}

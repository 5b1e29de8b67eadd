//! Accounts, subaccounts, API keys and auth-token rotation, over HTTP against the real server.

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;

const TO: &str = "+14155552671";
const FROM: &str = "+14155550100";

fn messages(account: &str) -> String {
    TestServer::messages_path(account)
}

async fn delete_as(s: &TestServer, user: &str, pass: &str, path: &str) -> u16 {
    s.http.delete(format!("{}{path}", s.url)).basic_auth(user, Some(pass)).send().await.unwrap().status().as_u16()
}

async fn send_as(s: &TestServer, user: &str, pass: &str, account: &str) -> (u16, Value) {
    s.post_as(user, pass, &messages(account), &[("To", TO), ("From", FROM), ("Body", "hi")]).await
}

/// Creates a subaccount of A; returns (sid, token).
async fn subaccount(s: &TestServer, name: &str) -> (String, String) {
    let (code, body) = s.post("/2010-04-01/Accounts.json", &[("FriendlyName", name)]).await;
    assert_eq!(code, 201, "{body}");
    (body["sid"].as_str().unwrap().to_string(), body["auth_token"].as_str().unwrap().to_string())
}

/// Creates a standard key of `account` with its own credentials; returns (sid, secret).
async fn key(s: &TestServer, user: &str, pass: &str, account: &str) -> (String, String) {
    let (code, body) =
        s.post_as(user, pass, &format!("/2010-04-01/Accounts/{account}/Keys.json"), &[("FriendlyName", "k")]).await;
    assert_eq!(code, 201, "{body}");
    (body["sid"].as_str().unwrap().to_string(), body["secret"].as_str().unwrap().to_string())
}

async fn set_status(s: &TestServer, account: &str, status: &str) -> (u16, Value) {
    s.post(&format!("/2010-04-01/Accounts/{account}.json"), &[("Status", status)]).await
}

#[tokio::test]
async fn a_parent_creates_a_subaccount_and_sends_in_it_with_its_own_or_the_subaccounts_credentials() {
    let s = TestServer::start().await;
    let (code, body) = s.post("/2010-04-01/Accounts.json", &[("FriendlyName", "tenant one")]).await;
    assert_eq!(code, 201);
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "auth_token",
            "date_created",
            "date_updated",
            "friendly_name",
            "owner_account_sid",
            "sid",
            "status",
            "subresource_uris",
            "type",
            "uri"
        ]
    );
    assert_eq!((body["owner_account_sid"].as_str(), body["status"].as_str()), (Some(SID_A), Some("active")));
    let (sub, token) = (body["sid"].as_str().unwrap(), body["auth_token"].as_str().unwrap());
    assert_eq!(body["uri"], format!("/2010-04-01/Accounts/{sub}.json"));

    let (code, by_parent) = send_as(&s, SID_A, TOKEN_A, sub).await;
    assert_eq!(code, 201, "{by_parent}");
    assert_eq!(by_parent["account_sid"], sub);
    let (code, by_sub) = send_as(&s, sub, token, sub).await;
    assert_eq!(code, 201, "{by_sub}");
    let (_, page) = s.get_as(sub, token, &messages(sub)).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 2);
    // The parent's own list holds none of them.
    let (_, own) = s.get(&messages(SID_A)).await;
    assert_eq!(own["messages"].as_array().unwrap().len(), 0);

    // Lists: the parent sees itself and its subaccount; the subaccount only itself.
    let (_, all) = s.get("/2010-04-01/Accounts.json").await;
    assert_eq!(all["accounts"].as_array().unwrap().len(), 2);
    let (_, named) = s.get("/2010-04-01/Accounts.json?FriendlyName=tenant%20one").await;
    assert_eq!(named["accounts"][0]["sid"], sub);
    assert_eq!(named["accounts"].as_array().unwrap().len(), 1);
    let (_, mine) = s.get_as(sub, token, "/2010-04-01/Accounts.json").await;
    assert_eq!(mine["accounts"].as_array().unwrap().len(), 1);
    let (code, fetched) = s.get_as(sub, token, &format!("/2010-04-01/Accounts/{sub}.json")).await;
    assert_eq!((code, fetched["friendly_name"].as_str()), (200, Some("tenant one")));
}

#[tokio::test]
async fn a_subaccounts_credentials_never_reach_its_parent_or_siblings() {
    let s = TestServer::start().await;
    let (one, token) = subaccount(&s, "one").await;
    let (two, _) = subaccount(&s, "two").await;
    assert_error(&s.get_as(&one, &token, &messages(SID_A)).await, 20003, 401);
    assert_error(&s.get_as(&one, &token, &messages(&two)).await, 20003, 401);
    assert_error(&send_as(&s, &one, &token, &two).await, 20003, 401);
    assert_error(&s.get_as(&one, &token, &format!("/2010-04-01/Accounts/{SID_A}.json")).await, 20003, 401);
    // An account that does not exist answers the same.
    assert_error(&s.get_as(&one, &token, &messages("AC99999999999999999999999999999999")).await, 20003, 401);
    // Another main account does not reach A's subaccount: as if it did not exist.
    assert_error(&s.get_as(SID_B, TOKEN_B, &messages(&one)).await, 20404, 404);
    // A subaccount creates no subaccount.
    assert_error(&s.post_as(&one, &token, "/2010-04-01/Accounts.json", &[]).await, 21101, 400);
}

#[tokio::test]
async fn a_key_works_for_messages_numbers_and_services_of_its_account_only() {
    let s = TestServer::start().await;
    let (sk, secret) = key(&s, SID_A, TOKEN_A, SID_A).await;
    let (code, m) = send_as(&s, &sk, &secret, SID_A).await;
    assert_eq!(code, 201, "{m}");
    let sid = m["sid"].as_str().unwrap();
    assert_eq!(s.get_as(&sk, &secret, &TestServer::message_path(SID_A, sid)).await.0, 200);
    assert_eq!(s.get_as(&sk, &secret, &messages(SID_A)).await.0, 200);
    let numbers = format!("/2010-04-01/Accounts/{SID_A}/IncomingPhoneNumbers.json");
    let (code, n) = s.post_as(&sk, &secret, &numbers, &[("PhoneNumber", "+14155550123")]).await;
    assert_eq!(code, 201, "{n}");
    assert_eq!(s.get_as(&sk, &secret, &numbers).await.1["incoming_phone_numbers"].as_array().unwrap().len(), 1);
    let (code, svc) = s.post_as(&sk, &secret, "/v1/Services", &[("FriendlyName", "svc")]).await;
    assert_eq!(code, 201, "{svc}");
    assert_eq!(s.get_as(&sk, &secret, &format!("/v1/Services/{}", svc["sid"].as_str().unwrap())).await.0, 200);
    // Another account's path, the wrong secret, or an account of the same family: refused.
    assert_error(&s.get_as(&sk, &secret, &messages(SID_B)).await, 20003, 401);
    assert_error(&s.get_as(&sk, "wrong", &messages(SID_A)).await, 20003, 401);
    let (sub, _) = subaccount(&s, "sub").await;
    assert_error(&s.get_as(&sk, &secret, &messages(&sub)).await, 20003, 401);
}

#[tokio::test]
async fn standard_keys_cannot_manage_accounts_keys_or_tokens() {
    let s = TestServer::start().await;
    let (sk, secret) = key(&s, SID_A, TOKEN_A, SID_A).await;
    for path in [
        "/2010-04-01/Accounts.json".to_string(),
        format!("/2010-04-01/Accounts/{SID_A}.json"),
        format!("/2010-04-01/Accounts/{SID_A}/Keys.json"),
        format!("/v1/Keys?AccountSid={SID_A}"),
    ] {
        assert_error(&s.get_as(&sk, &secret, &path).await, 20003, 401);
    }
    assert_error(&s.post_as(&sk, &secret, "/2010-04-01/Accounts.json", &[]).await, 20003, 401);
    assert_error(&s.post_as(&sk, &secret, "/v1/AuthTokens/Secondary", &[]).await, 20003, 401);
    assert_error(&s.post_as(&sk, &secret, "/v1/Keys", &[("AccountSid", SID_A)]).await, 20003, 401);
}

#[tokio::test]
async fn a_deleted_key_is_refused_on_its_next_request() {
    let s = TestServer::start().await;
    let (sk, secret) = key(&s, SID_A, TOKEN_A, SID_A).await;
    assert_eq!(s.get_as(&sk, &secret, &messages(SID_A)).await.0, 200);
    let path = format!("/2010-04-01/Accounts/{SID_A}/Keys/{sk}.json");
    let (code, fetched) = s.get(&path).await;
    assert_eq!(code, 200);
    let keys: Vec<&str> = fetched.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["date_created", "date_updated", "friendly_name", "sid"]);
    assert_eq!(s.post(&path, &[("FriendlyName", "renamed")]).await.1["friendly_name"], "renamed");
    assert_eq!(s.get(&format!("/2010-04-01/Accounts/{SID_A}/Keys.json")).await.1["keys"][0]["sid"], sk.as_str());
    // B cannot see or delete A's key.
    assert_error(&s.get_as(SID_B, TOKEN_B, &path).await, 20404, 404);
    assert_eq!(delete_as(&s, SID_A, TOKEN_A, &path).await, 204);
    assert_error(&s.get_as(&sk, &secret, &messages(SID_A)).await, 20003, 401);
    assert_error(&s.get(&path).await, 20404, 404);
}

#[tokio::test]
async fn a_suspended_subaccount_reads_but_creates_nothing_until_reactivated() {
    let s = TestServer::start().await;
    let (sub, token) = subaccount(&s, "sub").await;
    let (code, body) = set_status(&s, &sub, "suspended").await;
    assert_eq!((code, body["status"].as_str()), (200, Some("suspended")));
    assert_error(&send_as(&s, &sub, &token, &sub).await, 20403, 403);
    assert_error(&send_as(&s, SID_A, TOKEN_A, &sub).await, 20403, 403);
    assert_eq!(s.get_as(&sub, &token, &messages(&sub)).await.0, 200);
    // Only the parent changes it.
    assert_error(
        &s.post_as(&sub, &token, &format!("/2010-04-01/Accounts/{sub}.json"), &[("Status", "active")]).await,
        20003,
        401,
    );
    assert_eq!(set_status(&s, &sub, "active").await.0, 200);
    assert_eq!(send_as(&s, &sub, &token, &sub).await.0, 201);
}

#[tokio::test]
async fn messages_still_queued_when_their_account_is_suspended_fail_with_30002() {
    let s = TestServer::start_with(|c| c.delivery.rates.set("+14155550100=1").unwrap()).await;
    let (sub, token) = subaccount(&s, "sub").await;
    let mut sids = Vec::new();
    for _ in 0..4 {
        let (code, m) = send_as(&s, &sub, &token, &sub).await;
        assert_eq!(code, 201, "{m}");
        sids.push(m["sid"].as_str().unwrap().to_string());
    }
    assert_eq!(set_status(&s, &sub, "suspended").await.0, 200);
    let last = sids.last().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, m) = s.get_as(&sub, &token, &TestServer::message_path(&sub, last)).await;
        if m["status"] == "failed" {
            assert_eq!(m["error_code"], 30002, "{m}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn closing_a_subaccount_is_final_refuses_its_credentials_and_releases_its_numbers() {
    let s = TestServer::start().await;
    let (sub, token) = subaccount(&s, "sub").await;
    let numbers = format!("/2010-04-01/Accounts/{sub}/IncomingPhoneNumbers.json");
    assert_eq!(s.post_as(&sub, &token, &numbers, &[("PhoneNumber", "+14155550123")]).await.0, 201);
    let (sk, secret) = key(&s, &sub, &token, &sub).await;
    assert_eq!(set_status(&s, &sub, "closed").await.1["status"], "closed");
    assert_error(&s.get_as(&sub, &token, &messages(&sub)).await, 20003, 401);
    assert_error(&s.get_as(&sk, &secret, &messages(&sub)).await, 20003, 401);
    assert_error(&set_status(&s, &sub, "active").await, 21479, 400);
    // The parent still reads its history; its numbers are released.
    assert_eq!(s.get(&messages(&sub)).await.0, 200);
    assert_eq!(s.get(&numbers).await.1["incoming_phone_numbers"].as_array().unwrap().len(), 0);
    assert_error(&send_as(&s, SID_A, TOKEN_A, &sub).await, 20403, 403);
}

#[tokio::test]
async fn account_updates_follow_twilios_rules() {
    let s = TestServer::start_with(|c| c.subaccount_limit = 1).await;
    assert_error(&set_status(&s, SID_A, "suspended").await, 21477, 400);
    let (sub, _) = subaccount(&s, "sub").await;
    assert_error(&set_status(&s, &sub, "paused").await, 21475, 400);
    assert_error(&s.post("/2010-04-01/Accounts.json", &[]).await, 21480, 400);
    let (code, renamed) = s.post(&format!("/2010-04-01/Accounts/{SID_A}.json"), &[("FriendlyName", "main")]).await;
    assert_eq!((code, renamed["friendly_name"].as_str()), (200, Some("main")));
    assert_error(&s.get(&format!("/2010-04-01/Accounts/{SID_B}.json")).await, 20404, 404);
    assert_error(&s.get("/2010-04-01/Accounts.json?Status=nope").await, 21475, 400);
}

#[tokio::test]
async fn a_secondary_token_works_beside_the_primary_until_promoted() {
    let s = TestServer::start().await;
    let (code, sec) = s.post("/v1/AuthTokens/Secondary", &[]).await;
    assert_eq!(code, 201, "{sec}");
    assert_eq!(sec["url"], format!("{}/v1/AuthTokens/Secondary", s.url));
    let secondary = sec["secondary_auth_token"].as_str().unwrap().to_string();
    assert_eq!(s.get_as(SID_A, TOKEN_A, &messages(SID_A)).await.0, 200);
    assert_eq!(s.get_as(SID_A, &secondary, &messages(SID_A)).await.0, 200);
    let (code, promoted) = s.post_as(SID_A, &secondary, "/v1/AuthTokens/Promote", &[]).await;
    assert_eq!((code, promoted["auth_token"].as_str()), (200, Some(secondary.as_str())));
    assert_error(&s.get_as(SID_A, TOKEN_A, &messages(SID_A)).await, 20003, 401);
    assert_eq!(s.get_as(SID_A, &secondary, &messages(SID_A)).await.0, 200);
    // No secondary any more: promote and delete find nothing.
    assert_error(&s.post_as(SID_A, &secondary, "/v1/AuthTokens/Promote", &[]).await, 20404, 404);
    assert_eq!(s.post_as(SID_A, &secondary, "/v1/AuthTokens/Secondary", &[]).await.0, 201);
    assert_eq!(delete_as(&s, SID_A, &secondary, "/v1/AuthTokens/Secondary").await, 204);
    let (_, me) = s.get_as(SID_A, &secondary, &format!("/2010-04-01/Accounts/{SID_A}.json")).await;
    assert_eq!(me["auth_token"], secondary.as_str());
}

#[tokio::test]
async fn iam_keys_are_listed_in_the_v1_envelope_and_restricted_keys_follow_their_policy() {
    let s = TestServer::start().await;
    let policy = r#"{"allow":["/twilio/messaging/messages/read"]}"#;
    let (code, k) = s
        .post(
            "/v1/Keys",
            &[("AccountSid", SID_A), ("FriendlyName", "ro"), ("KeyType", "restricted"), ("Policy", policy)],
        )
        .await;
    assert_eq!(code, 201, "{k}");
    assert_eq!(k["policy"]["allow"][0], "/twilio/messaging/messages/read");
    let (sk, secret) = (k["sid"].as_str().unwrap(), k["secret"].as_str().unwrap());
    assert_eq!(s.get_as(sk, secret, &messages(SID_A)).await.0, 200);
    assert_error(&send_as(&s, sk, secret, SID_A).await, 70051, 403);
    assert_error(&s.get_as(sk, secret, "/v1/Services").await, 70051, 403);

    let (code, page) = s.get(&format!("/v1/Keys?AccountSid={SID_A}&PageSize=1")).await;
    assert_eq!(code, 200);
    assert_eq!(page["meta"]["key"], "keys");
    assert_eq!(page["meta"]["url"], format!("{}/v1/Keys?AccountSid={SID_A}&PageSize=1&Page=0", s.url));
    assert_eq!(page["keys"][0]["flags"], serde_json::json!(["rest_api", "signing"]));
    let one = format!("/v1/Keys/{sk}");
    let (_, updated) = s
        .post(
            &one,
            &[("Policy", r#"{"allow":["/twilio/messaging/messages/read","/twilio/messaging/messages/create"]}"#)],
        )
        .await;
    assert_eq!(updated["policy"]["allow"].as_array().unwrap().len(), 2);
    assert_eq!(send_as(&s, sk, secret, SID_A).await.0, 201);
    assert_error(&s.get_as(SID_B, TOKEN_B, &one).await, 20404, 404);
    assert_error(&s.post("/v1/Keys", &[("AccountSid", SID_A), ("KeyType", "restricted")]).await, 20001, 400);
    assert_error(&s.post("/v1/Keys", &[("FriendlyName", "x")]).await, 20001, 400);
    assert_eq!(delete_as(&s, SID_A, TOKEN_A, &one).await, 204);
    assert_error(&s.get_as(sk, secret, &messages(SID_A)).await, 20003, 401);
}

#[tokio::test]
async fn the_keys_command_creates_a_main_key_that_manages_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sb.db");
    let db = db.to_str().unwrap();
    // The account must exist first: a server start creates it.
    let s = TestServer::start_in(dir, config(db)).await;
    let dir = s.stop().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["keys", "create", "--db", db, "--account", SID_A, "--main", "--friendly-name", "boot"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let (sk, secret) = text.trim().split_once(' ').unwrap();
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["keys", "list", "--db", db, "--account", SID_A])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(listed.stdout).unwrap().trim(), format!("{sk} main boot"));
    let s = TestServer::start_in(dir, config(db)).await;
    let (code, created) = s.post_as(sk, secret, "/2010-04-01/Accounts.json", &[("FriendlyName", "by key")]).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(s.get_as(sk, secret, "/2010-04-01/Accounts.json").await.1["accounts"].as_array().unwrap().len(), 2);
    // A main key of the parent manages the subaccount's keys but sends nothing in it.
    let sub = created["sid"].as_str().unwrap();
    assert_eq!(s.get_as(sk, secret, &format!("/2010-04-01/Accounts/{sub}/Keys.json")).await.0, 200);
    assert_error(&send_as(&s, sk, secret, sub).await, 20003, 401);
}

//! The event stream (`/_switchboard/…/Stream`) and the wait API (`/_switchboard/…/Messages/Next.json`)
//! against the real server.

mod common;

use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// One parsed Server-Sent Event.
#[derive(Debug, Clone)]
struct Sse {
    event: String,
    id: Option<String>,
    data: String,
}

/// Reads an SSE response event by event.
struct SseReader {
    resp: reqwest::Response,
    buf: String,
}

impl SseReader {
    async fn open(server: &TestServer, sid: &str, token: &str, last_id: Option<&str>) -> (u16, SseReader) {
        SseReader::open_at(server, &format!("/_switchboard/Accounts/{sid}/Stream"), sid, token, last_id).await
    }

    async fn open_at(
        server: &TestServer,
        path: &str,
        sid: &str,
        token: &str,
        last_id: Option<&str>,
    ) -> (u16, SseReader) {
        let mut req = server.http.get(format!("{}{path}", server.url)).basic_auth(sid, Some(token));
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), SseReader { resp, buf: String::new() })
    }

    /// The next event with data (comments and keep-alives skipped); `None` after `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = Instant::now() + wait;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = Sse { event: "message".into(), id: None, data: String::new() };
                let mut has_data = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        ev.event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        ev.id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        ev.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        has_data = true;
                    }
                }
                if has_data {
                    return Some(ev);
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// Message events until one for `sid` has `status`; returns all seen.
    async fn until(&mut self, sid: &str, status: &str) -> Vec<(i64, Value)> {
        let mut seen = Vec::new();
        loop {
            let ev = self.next(Duration::from_secs(5)).await.unwrap_or_else(|| panic!("no event; saw {seen:?}"));
            assert_eq!(ev.event, "message", "{ev:?}");
            let json: Value = serde_json::from_str(&ev.data).unwrap();
            let id: i64 = ev.id.as_deref().unwrap().parse().unwrap();
            let done = json["sid"] == sid && json["status"] == status;
            seen.push((id, json));
            if done {
                return seen;
            }
        }
    }
}

fn next_path(account: &str, query: &str) -> String {
    format!("/_switchboard/Accounts/{account}/Messages/Next.json?{query}")
}

#[tokio::test]
async fn the_stream_sends_every_create_and_status_change_as_the_api_renders_the_message() {
    let server = TestServer::start().await;
    let (status, mut stream) = SseReader::open(&server, SID_A, TOKEN_A, None).await;
    assert_eq!(status, 200);
    assert!(stream.resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let m = server.create("+14155552671", "hello stream").await;
    let sid = m["sid"].as_str().unwrap();
    let seen = stream.until(sid, "delivered").await;
    let statuses: Vec<&str> = seen.iter().map(|(_, j)| j["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["queued", "sending", "sent", "delivered"]);
    let ids: Vec<i64> = seen.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids must increase: {ids:?}");
    let (_, fetched) = server.get(&TestServer::message_path(SID_A, sid)).await;
    assert_eq!(seen.last().unwrap().1, fetched, "the last event carries the resource as fetched");
}

#[tokio::test]
async fn last_event_id_replays_everything_after_it_and_nothing_before() {
    let server = TestServer::start().await;
    let (_, mut stream) = SseReader::open(&server, SID_A, TOKEN_A, None).await;
    let first = server.create("+14155552671", "one").await;
    let seen = stream.until(first["sid"].as_str().unwrap(), "delivered").await;
    let resume_at = seen.last().unwrap().0;
    drop(stream);
    // While disconnected: two more messages go all the way to delivered.
    let second = server.create("+14155552672", "two").await;
    let third = server.create("+14155552673", "three").await;
    server.wait_for_status(second["sid"].as_str().unwrap(), "delivered").await;
    server.wait_for_status(third["sid"].as_str().unwrap(), "delivered").await;
    let (_, mut resumed) = SseReader::open(&server, SID_A, TOKEN_A, Some(&resume_at.to_string())).await;
    let mut got = Vec::new();
    while let Some(ev) = resumed.next(Duration::from_millis(500)).await {
        let json: Value = serde_json::from_str(&ev.data).unwrap();
        got.push((
            ev.id.unwrap().parse::<i64>().unwrap(),
            json["sid"].as_str().unwrap().to_string(),
            json["status"].as_str().unwrap().to_string(),
        ));
    }
    assert!(got.iter().all(|(id, _, _)| *id > resume_at), "{got:?}");
    assert!(got.iter().all(|(_, sid, _)| sid != first["sid"].as_str().unwrap()), "{got:?}");
    for m in [&second, &third] {
        let statuses: Vec<&str> =
            got.iter().filter(|(_, sid, _)| sid == m["sid"].as_str().unwrap()).map(|(_, _, s)| s.as_str()).collect();
        assert_eq!(statuses, ["queued", "sending", "sent", "delivered"], "{got:?}");
    }
}

#[tokio::test]
async fn the_inbox_stream_sums_up_each_wakeup_in_one_small_changes_event() {
    let server = TestServer::start().await;
    let (status, mut inbox) = SseReader::open_at(&server, "/events", SID_A, TOKEN_A, None).await;
    assert_eq!(status, 200);
    let (_, mut others) = SseReader::open_at(&server, "/events", SID_B, TOKEN_B, None).await;
    let (_, mut api) = SseReader::open(&server, SID_A, TOKEN_A, None).await;
    let m = server.create("+14155552671", "a body the inbox stream leaves out").await;
    let sid = m["sid"].as_str().unwrap();
    let full = api.until(sid, "delivered").await;
    // The four changes (queued, sending, sent, delivered) arrive as `changes` events that count
    // them; the last one's id is the last change's.
    let (mut counted, mut ids) = (0, Vec::new());
    while counted < full.len() {
        let ev = inbox.next(Duration::from_secs(5)).await.unwrap_or_else(|| panic!("no event after {counted}"));
        assert_eq!(ev.event, "changes", "{ev:?}");
        let json: Value = serde_json::from_str(&ev.data).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 1, "only a count: {json}");
        let n = json["changes"].as_u64().unwrap() as usize;
        assert!(n >= 1, "{json}");
        counted += n;
        ids.push(ev.id.unwrap().parse::<i64>().unwrap());
    }
    assert_eq!(counted, full.len());
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(ids.last(), full.last().map(|(id, _)| id));
    assert!(inbox.next(Duration::from_millis(300)).await.is_none(), "nothing more");
    assert!(others.next(Duration::from_millis(100)).await.is_none(), "another account's inbox sees nothing");
}

#[tokio::test]
async fn another_accounts_stream_sees_nothing_and_its_credentials_cannot_open_this_one() {
    let server = TestServer::start().await;
    let (status, _) = SseReader::open(&server, SID_B, TOKEN_B, None).await;
    assert_eq!(status, 200);
    let (_, mut b_stream) = SseReader::open(&server, SID_B, TOKEN_B, None).await;
    let resp = server
        .http
        .get(format!("{}/_switchboard/Accounts/{SID_A}/Stream", server.url))
        .basic_auth(SID_B, Some(TOKEN_B))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let resp = server.http.get(format!("{}/_switchboard/Accounts/{SID_A}/Stream", server.url)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let m = server.create("+14155552671", "private").await;
    server.wait_for_status(m["sid"].as_str().unwrap(), "delivered").await;
    assert!(b_stream.next(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn next_without_a_cursor_returns_the_newest_existing_match_at_once() {
    let server = TestServer::start().await;
    server.create("+14155552671", "old code 1111").await;
    let newer = server.create("+14155552671", "new code 2222").await;
    server.create("+14155552672", "someone else").await;
    let started = Instant::now();
    let (status, json) = server.get(&next_path(SID_A, "To=%2B14155552671&BodyContains=code")).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["sid"], newer["sid"]);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn next_after_a_cursor_waits_for_the_first_match_created_after_it() {
    let server = TestServer::start().await;
    let cursor = server.create("+14155552671", "before").await;
    let path = next_path(SID_A, &format!("To=%2B14155552671&After={}&Timeout=5", cursor["sid"].as_str().unwrap()));
    let waiter = {
        let (http, url) = (server.http.clone(), format!("{}{}", server.url, path));
        tokio::spawn(async move {
            let resp = http.get(url).basic_auth(SID_A, Some(TOKEN_A)).send().await.unwrap();
            let at = Instant::now();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap(), at)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.create("+14155552672", "not for this number").await;
    let created_at = Instant::now();
    let wanted = server.create("+14155552671", "your code is 123456").await;
    let (status, json, answered_at) = waiter.await.unwrap();
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["sid"], wanted["sid"]);
    assert!(answered_at.duration_since(created_at) < Duration::from_secs(1));
}

#[tokio::test]
async fn next_with_a_status_answers_when_the_message_reaches_it() {
    let server = TestServer::start().await;
    let cursor = server.create("+14155552671", "cursor").await;
    server.wait_for_status(cursor["sid"].as_str().unwrap(), "delivered").await;
    let wanted = server.create("+14155552671", "track me").await;
    let (status, json) = server
        .get(&next_path(SID_A, &format!("After={}&Status=delivered&Timeout=5", cursor["sid"].as_str().unwrap())))
        .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["sid"], wanted["sid"]);
    assert_eq!(json["status"], "delivered");
}

#[tokio::test]
async fn next_times_out_with_a_twilio_shaped_408() {
    let server = TestServer::start().await;
    let started = Instant::now();
    let got = server.get(&next_path(SID_A, "To=%2B19999999999&Timeout=0.3")).await;
    assert_error(&got, 20408, 408);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn next_never_answers_with_another_accounts_message() {
    let server = TestServer::start().await;
    server.create("+14155552671", "account A's secret").await;
    let got = server.get_as(SID_B, TOKEN_B, &next_path(SID_B, "Timeout=0.2")).await;
    assert_error(&got, 20408, 408);
    let got = server.get_as(SID_B, TOKEN_B, &next_path(SID_A, "Timeout=0.2")).await;
    assert_eq!(got.0, 404);
}

#[tokio::test]
async fn next_rejects_bad_parameters_with_400() {
    let server = TestServer::start().await;
    for query in ["Status=nope", "Direction=sideways", "After=SMnot-a-sid", "Timeout=soon", "Timeout=-1"] {
        let got = server.get(&next_path(SID_A, query)).await;
        assert_eq!(got.0, 400, "{query}: {}", got.1);
        assert_eq!(got.1["status"], 400, "{query}");
    }
}

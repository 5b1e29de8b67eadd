//! Integration harness: the real server, in-process, on an ephemeral port with a temporary
//! database and two accounts.
#![allow(dead_code)]

pub mod pg;

use serde_json::Value;
use switchboard::config::{Config, ServeArgs};
use tokio::sync::oneshot;

pub const SID_A: &str = "AC11111111111111111111111111111111";
pub const TOKEN_A: &str = "tokena";
pub const SID_B: &str = "AC22222222222222222222222222222222";
pub const TOKEN_B: &str = "tokenb";

pub struct TestServer {
    pub url: String,
    pub http: reqwest::Client,
    pub dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub fn config(db: &str) -> Config {
    Config::resolve(ServeArgs {
        listen: Some("127.0.0.1:0".into()),
        db: Some(db.into()),
        accounts: vec![format!("{SID_A}:{TOKEN_A}"), format!("{SID_B}:{TOKEN_B}")],
        simulator_delay_ms: Some(0),
        callback_retry_base_ms: Some(50),
        // Whatever URLs a test sends, the server reaches nothing beyond this machine.
        webhook_address_policy: Some("loopback-only".into()),
        ..Default::default()
    })
    .unwrap()
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path().join("sb.db").to_str().unwrap());
        tweak(&mut cfg);
        Self::start_in(dir, cfg).await
    }

    pub async fn start_in(dir: tempfile::TempDir, cfg: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let prepared = switchboard::server::prepare(&cfg, &url).await.unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            switchboard::server::serve(prepared, listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestServer { url, http: reqwest::Client::new(), dir: Some(dir), stop: Some(tx), task: Some(task) }
    }

    /// Stops serving and waits for in-flight requests; returns the temp dir for a restart.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.dir.take().unwrap()
    }

    pub fn messages_path(account: &str) -> String {
        format!("/2010-04-01/Accounts/{account}/Messages.json")
    }

    pub fn message_path(account: &str, sid: &str) -> String {
        format!("/2010-04-01/Accounts/{account}/Messages/{sid}.json")
    }

    pub async fn post_as(&self, sid: &str, token: &str, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let body = serde_urlencode(form);
        let resp = self
            .http
            .post(format!("{}{}", self.url, path))
            .basic_auth(sid, Some(token))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        decode(resp).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.post_as(SID_A, TOKEN_A, path, form).await
    }

    pub async fn get_as(&self, sid: &str, token: &str, path_and_query: &str) -> (u16, Value) {
        let resp =
            self.http.get(format!("{}{}", self.url, path_and_query)).basic_auth(sid, Some(token)).send().await.unwrap();
        decode(resp).await
    }

    pub async fn get(&self, path_and_query: &str) -> (u16, Value) {
        self.get_as(SID_A, TOKEN_A, path_and_query).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let resp =
            self.http.delete(format!("{}{}", self.url, path)).basic_auth(SID_A, Some(TOKEN_A)).send().await.unwrap();
        decode(resp).await
    }

    /// Creates a message from account A and returns its JSON.
    pub async fn create(&self, to: &str, body: &str) -> Value {
        let (status, json) =
            self.post(&Self::messages_path(SID_A), &[("To", to), ("From", "+14155550100"), ("Body", body)]).await;
        assert_eq!(status, 201, "{json}");
        json
    }

    /// Polls a message of account A until it has `status` (5 s at most).
    pub async fn wait_for_status(&self, sid: &str, status: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let (code, json) = self.get(&Self::message_path(SID_A, sid)).await;
            assert_eq!(code, 200, "{json}");
            if json["status"] == status {
                return json;
            }
            assert!(std::time::Instant::now() < deadline, "{sid} stuck in {} waiting for {status}", json["status"]);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

pub fn serde_urlencode(form: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form {
        s.append_pair(k, v);
    }
    s.finish()
}

async fn decode(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let json = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    (status, json)
}

/// Asserts a Twilio-format error with this code and HTTP status.
pub fn assert_error(got: &(u16, Value), code: u64, status: u16) {
    let (http, body) = got;
    assert_eq!(*http, status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["more_info"], format!("https://www.twilio.com/docs/errors/{code}"), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["code", "message", "more_info", "status"], "{body}");
}

/// One request received by a [`Receiver`].
#[derive(Debug, Clone)]
pub struct Received {
    pub path_and_query: String,
    pub method: String,
    pub headers: std::collections::HashMap<String, String>,
    pub params: Vec<(String, String)>,
    pub raw: String,
    pub at: std::time::Instant,
}

impl Received {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A local webhook receiver: records every request; answers 500 to the first `fail_first`
/// requests of each path, and sleeps `delay` on paths containing "slow".
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub got: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start(fail_first: usize, delay: std::time::Duration) -> Receiver {
        use axum::extract::Request;
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Received>::new()));
        let counts = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::<String, usize>::new()));
        let (g, c) = (got.clone(), counts.clone());
        let app = axum::Router::new().fallback(move |req: Request| {
            let (g, c) = (g.clone(), c.clone());
            async move {
                let method = req.method().to_string();
                let path_and_query = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
                let path = req.uri().path().to_string();
                let headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
                let params = form_urlencoded::parse(&body).into_owned().collect();
                if path.contains("slow") {
                    tokio::time::sleep(delay).await;
                }
                let n = {
                    let mut c = c.lock().unwrap();
                    let n = c.entry(path.clone()).or_insert(0);
                    *n += 1;
                    *n
                };
                let raw = String::from_utf8_lossy(&body).into_owned();
                g.lock().unwrap().push(Received {
                    path_and_query,
                    method,
                    headers,
                    params,
                    raw,
                    at: std::time::Instant::now(),
                });
                if n <= fail_first && path.contains("flaky") {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, got }
    }

    /// Requests whose MessageSid is `sid`, in arrival order.
    pub fn for_message(&self, sid: &str) -> Vec<Received> {
        self.got.lock().unwrap().iter().filter(|r| r.param("MessageSid") == Some(sid)).cloned().collect()
    }

    /// Waits until `sid` has received callbacks with these statuses (in order), 10 s at most.
    pub async fn wait_statuses(&self, sid: &str, statuses: &[&str]) -> Vec<Received> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let got = self.for_message(sid);
            let seen: Vec<&str> = got.iter().filter_map(|r| r.param("MessageStatus")).collect();
            if seen == statuses {
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline && seen.len() <= statuses.len(),
                "{sid}: callbacks {seen:?}, expected {statuses:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Receives each line of a server's stderr.
pub type LineSink = Box<dyn FnMut(&str) + Send>;

/// Starts the real `switchboard serve` binary on an ephemeral port with `db` and `extra`
/// arguments; returns it with its base URL (stdout is drained so it never blocks).
pub fn spawn_binary(db: &std::path::Path, account: &str, extra: &[&str]) -> (std::process::Child, String) {
    spawn_binary_with(db, account, extra, &[], None)
}

/// [`spawn_binary`] with environment variables, and each line of the server's stderr handed to
/// `on_stderr` (discarded without it).
pub fn spawn_binary_with(
    db: &std::path::Path,
    account: &str,
    extra: &[&str],
    env: &[(&str, &str)],
    on_stderr: Option<LineSink>,
) -> (std::process::Child, String) {
    let db = db.to_str().expect("UTF-8 database path");
    let mut args = vec!["--listen", "127.0.0.1:0", "--account", account, "--min-schedule-lead", "0"];
    args.extend(["--webhook-address-policy", "loopback-only"]);
    args.extend(extra);
    args.extend(["--db", db]);
    serve(&args, env, on_stderr)
}

/// Starts `switchboard serve` with exactly `args` and `env`; returns it with the base URL it
/// printed. Stdout is drained by a thread so the server never blocks on a full pipe; stderr
/// goes line by line to `on_stderr`, or is discarded.
pub fn serve(args: &[&str], env: &[(&str, &str)], on_stderr: Option<LineSink>) -> (std::process::Child, String) {
    use std::io::BufRead;
    use std::process::Stdio;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(if on_stderr.is_some() { Stdio::piped() } else { Stdio::null() })
        .spawn()
        .expect("spawn switchboard");
    if let (Some(mut on_stderr), Some(stderr)) = (on_stderr, child.stderr.take()) {
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                on_stderr(&line);
            }
        });
    }
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().expect("server exited before listening").expect("read stdout");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// Polls until `cond` holds; fails the test after `within`.
pub async fn wait_until(what: &str, within: std::time::Duration, cond: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !cond() {
        assert!(started.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Polls one message of `account` (at the server `url`) until it has `status`; fails the test
/// after `within`.
pub async fn wait_for_status(
    http: &reqwest::Client,
    url: &str,
    (account, token): (&str, &str),
    sid: &str,
    status: &str,
    within: std::time::Duration,
) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let m: Value = http
            .get(format!("{url}/2010-04-01/Accounts/{account}/Messages/{sid}.json"))
            .basic_auth(account, Some(token))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if m["status"] == status {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{sid} stuck in {} waiting for {status}", m["status"]);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Where [`settle`] left acknowledged messages.
#[derive(Debug, Default)]
pub struct Settled {
    /// Not found (404): lost.
    pub lost: Vec<String>,
    /// Still not in their wanted status when the time was up.
    pub unfinished: Vec<String>,
}

/// Polls every `(sid, wanted status)` of `account` until each has its status or `within`
/// passes; reports the lost and the unfinished ones (the caller asserts).
pub async fn settle(
    http: &reqwest::Client,
    url: &str,
    (account, token): (&str, &str),
    mut pending: Vec<(String, &str)>,
    within: std::time::Duration,
) -> Settled {
    let deadline = std::time::Instant::now() + within;
    let mut lost = Vec::new();
    loop {
        let mut still = Vec::new();
        for (sid, want) in pending {
            let resp = http
                .get(format!("{url}/2010-04-01/Accounts/{account}/Messages/{sid}.json"))
                .basic_auth(account, Some(token))
                .send()
                .await
                .unwrap();
            if resp.status() == 404 {
                lost.push(sid);
                continue;
            }
            if resp.json::<Value>().await.unwrap()["status"] != want {
                still.push((sid, want));
            }
        }
        pending = still;
        if pending.is_empty() || std::time::Instant::now() > deadline {
            return Settled { lost, unfinished: pending.into_iter().map(|(sid, _)| sid).collect() };
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

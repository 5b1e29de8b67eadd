//! Crash safety: every message acknowledged with a 201 is still there after `kill -9`, and its
//! delivery resumes on restart.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SID: &str = "AC44444444444444444444444444444444";
const TOKEN: &str = "crashtoken";

/// Starts the real binary and returns it with its base URL.
fn spawn(db: &std::path::Path, delay_ms: u64) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--account", &format!("{SID}:{TOKEN}")])
        .args(["--simulator-delay-ms", &delay_ms.to_string()])
        .arg("--db")
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn switchboard");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().expect("server exited before listening").expect("read stdout");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_message_and_delivery_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let (mut child, url) = spawn(&db, 200);
    let http = reqwest::Client::new();
    let create_url = format!("{url}/2010-04-01/Accounts/{SID}/Messages.json");

    // Eight writers create as fast as they can; the server is killed while they run.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (http, create_url, acked) = (http.clone(), create_url.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..10_000 {
                let resp = http
                    .post(&create_url)
                    .basic_auth(SID, Some(TOKEN))
                    .form(&[("To", "+14155552671"), ("From", "+14155550100"), ("Body", &format!("w{w} m{i}"))])
                    .send()
                    .await;
                let Ok(resp) = resp else { break };
                if resp.status() != 201 {
                    break;
                }
                let Ok(json) = resp.json::<serde_json::Value>().await else { break };
                acked.lock().unwrap().push(json["sid"].as_str().unwrap().to_string());
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    child.kill().expect("kill -9"); // SIGKILL on Unix
    child.wait().unwrap();
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "only {} messages acknowledged before the kill", acked.len());

    let (mut child, url) = spawn(&db, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut pending: Vec<String> = acked.clone();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for sid in pending {
            let resp = http
                .get(format!("{url}/2010-04-01/Accounts/{SID}/Messages/{sid}.json"))
                .basic_auth(SID, Some(TOKEN))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "acknowledged message {sid} lost");
            let json: serde_json::Value = resp.json().await.unwrap();
            if json["status"] != "delivered" {
                still.push(sid);
            }
        }
        pending = still;
        assert!(Instant::now() < deadline, "{} messages never finished delivery", pending.len());
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("{} acknowledged messages survived kill -9 and were delivered", acked.len());
}

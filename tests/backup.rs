//! `switchboard backup` under load: the copy, taken from the running server's database while
//! creates keep arriving, holds every message acknowledged before the backup started, and a
//! second server starts on it.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SID: &str = "AC55555555555555555555555555555555";
const TOKEN: &str = "backuptoken";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_create_load_holds_every_message_acknowledged_before_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let copy = dir.path().join("copy.db");
    let account = format!("{SID}:{TOKEN}");
    let (mut server, url) = common::spawn_binary(&db, &account, &["--simulator-delay-ms", "0"]);
    let http = reqwest::Client::new();
    let create_url = format!("{url}/2010-04-01/Accounts/{SID}/Messages.json");
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..16 {
        let (http, create_url, acked, stop) = (http.clone(), create_url.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let resp = http
                    .post(&create_url)
                    .basic_auth(SID, Some(TOKEN))
                    .form(&[("To", "+14155552671"), ("From", "+14155550100"), ("Body", &format!("w{w} m{i}"))])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 201);
                let json: serde_json::Value = resp.json().await.unwrap();
                acked.lock().unwrap().push(json["sid"].as_str().unwrap().to_string());
            }
        }));
    }
    common::wait_until("300 creates", Duration::from_secs(30), || acked.lock().unwrap().len() >= 300).await;
    // Every 201 received by now was committed before the backup process exists.
    let before: Vec<String> = acked.lock().unwrap().clone();
    let t0 = Instant::now();
    let (db_arg, copy_arg) = (db.clone(), copy.clone());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["backup", "--db"])
            .arg(db_arg)
            .arg("--to")
            .arg(copy_arg)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let took = t0.elapsed();
    let during = acked.lock().unwrap().len() - before.len();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let total = acked.lock().unwrap().len();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "backup failed: {stdout} {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("Backed up "), "{stdout}");
    assert!(!stdout.contains('\r'), "no progress display when stdout is not a terminal: {stdout:?}");
    let _ = server.kill();
    let _ = server.wait();

    // Restoring is starting on the file.
    let (mut restored, url) = common::spawn_binary(&copy, &account, &["--simulator-delay-ms", "0"]);
    let mut missing = Vec::new();
    for chunk in before.chunks(32) {
        let gets = chunk.iter().cloned().map(|sid| {
            let http = http.clone();
            let u = format!("{url}/2010-04-01/Accounts/{SID}/Messages/{sid}.json");
            async move { (sid, http.get(u).basic_auth(SID, Some(TOKEN)).send().await.unwrap().status()) }
        });
        for (sid, status) in futures_join(gets).await {
            if status != 200 {
                missing.push(sid);
            }
        }
    }
    let page: serde_json::Value = http
        .get(format!("{url}/2010-04-01/Accounts/{SID}/Messages.json?PageSize=1"))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let _ = restored.kill();
    let _ = restored.wait();
    eprintln!(
        "backup: {stdout}  {} acknowledged before it started, {during} more acknowledged while it ran ({took:?}), \
         {total} in all; {} missing from the copy",
        before.len(),
        missing.len()
    );
    assert!(missing.is_empty(), "acknowledged before the backup but missing from the copy: {missing:?}");
    assert!(page["messages"].as_array().is_some_and(|m| m.len() == 1), "the restored server lists messages");
}

/// Runs the futures concurrently and collects their outputs in order.
async fn futures_join<F: std::future::Future + Send + 'static>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

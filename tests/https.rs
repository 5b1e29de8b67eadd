//! HTTPS serving (`--tls-cert`/`--tls-key`): the real server over TLS with certificates the test
//! makes, replaced on disk while a connection stays open, and reloaded on SIGHUP by the binary.

mod common;

use common::{SID_A, TOKEN_A};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A self-signed certificate for `localhost` and 127.0.0.1; returns (cert PEM, key PEM).
fn self_signed(label: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, label);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write_pair(dir: &Path, pair: &(String, String)) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    // Key first, then the certificate: the reload waits for a matching pair either way.
    std::fs::write(&key, &pair.1).unwrap();
    std::fs::write(&cert, &pair.0).unwrap();
    (cert, key)
}

fn client_trusting(cert_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn list(client: &reqwest::Client, base: &str) -> reqwest::Result<reqwest::StatusCode> {
    let url = format!("{base}/2010-04-01/Accounts/{SID_A}/Messages.json");
    client.get(url).basic_auth(SID_A, Some(TOKEN_A)).send().await.map(|r| r.status())
}

#[tokio::test]
async fn the_api_is_served_over_https_and_a_new_certificate_on_disk_is_picked_up_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let first = self_signed("first");
    let (cert, key) = write_pair(dir.path(), &first);
    let mut cfg = common::config(dir.path().join("sb.db").to_str().unwrap());
    cfg.tls = Some((cert, key));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://localhost:{}", listener.local_addr().unwrap().port());
    let prepared = switchboard::server::prepare(&cfg, &base).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(switchboard::server::serve(prepared, listener, async {
        let _ = stopped.await;
    }));

    let old_client = client_trusting(&first.0);
    assert_eq!(list(&old_client, &base).await.unwrap(), 200);
    let create = old_client
        .post(format!("{base}/2010-04-01/Accounts/{SID_A}/Messages.json"))
        .basic_auth(SID_A, Some(TOKEN_A))
        .form(&[("To", "+14155550100"), ("From", "+15005550006"), ("Body", "over TLS")])
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 201);
    // Plain HTTP on the TLS port gets nowhere.
    let plain = reqwest::Client::new().get(base.replace("https://", "http://") + "/healthz").send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());

    // A renewed certificate (another key) replaces the files; new handshakes get it.
    let second = self_signed("second");
    write_pair(dir.path(), &second);
    let new_client = client_trusting(&second.0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(status) = list(&new_client, &base).await {
            assert_eq!(status, 200);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the new certificate was not picked up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The connection opened before the reload is still served (a new one would now fail the
    // old client's verification, so success means the kept-alive connection survived).
    assert_eq!(list(&old_client, &base).await.unwrap(), 200);
    assert!(list(&client_trusting(&first.0), &base).await.is_err());

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap().unwrap();
}

#[test]
fn the_binary_reloads_its_certificate_on_sighup_and_keeps_serving() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = write_pair(dir.path(), &self_signed("sighup"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .arg("--db")
        .arg(dir.path().join("sb.db"))
        .args(["--account", &format!("{SID_A}:{TOKEN_A}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    stdout.read_line(&mut banner).unwrap();
    assert!(banner.contains("listening on https://127.0.0.1:"), "{banner}");
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let status = Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut reloaded = false;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("reloaded the TLS certificate") => {
                reloaded = true;
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let still_running = child.try_wait().unwrap().is_none();
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let exit = child.wait().unwrap();
    assert!(reloaded, "no reload logged after SIGHUP");
    assert!(still_running, "SIGHUP ended the server");
    assert!(exit.success(), "{exit:?}");
}

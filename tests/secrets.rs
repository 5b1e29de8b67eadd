//! Secrets never leave through logs or error bodies: the real binary, logging everything at
//! debug level, goes through creates, an API key and a secondary auth token, callbacks (to a URL with credentials in it), inbound
//! webhooks, authentication failures and lockouts; then its whole output is searched for every
//! token, password and Authorization header used.

use base64::Engine;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SID: &str = "AC77777777777777777777777777777777";
const TOKEN: &str = "s3cr3t-auth-token-4f1d9a";
const WRONG: &str = "wr0ng-guess-token-8c2e11";
const CALLBACK_PASSWORD: &str = "cb-pa55word-7d3b";

/// A receiver that answers 200 to everything and keeps the raw requests.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                // Head and a small form body arrive together or in a few reads.
                while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut buf)).await {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                keep.lock().unwrap().push(String::from_utf8_lossy(&got).into_owned());
                let reply = "<Response><Message>auto</Message></Response>";
                let _ = tcp
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                            reply.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    (format!("127.0.0.1:{}", addr.port()), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_password_or_authorization_header_appears_in_debug_logs_or_error_bodies() {
    let (receiver_addr, seen) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--simulator-delay-ms", "0", "--min-schedule-lead", "0"])
        .args(["--account", &format!("{SID}:{TOKEN}"), "--auth-failure-limit", "3"])
        .args(["--webhook-address-policy", "loopback-only", "--callback-max-attempts", "2"])
        .arg("--db")
        .arg(dir.path().join("sb.db"))
        .env("SWITCHBOARD_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "exited before listening");
        banner.push_str(&line);
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_string();
        }
    };
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut all);
        all
    });
    let rest = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stdout.read_to_string(&mut all);
        all
    });

    let http = reqwest::Client::new();
    let messages = format!("{url}/2010-04-01/Accounts/{SID}/Messages.json");
    let callback = format!("http://cbuser:{CALLBACK_PASSWORD}@{receiver_addr}/status");
    let mut bodies = Vec::new();

    // Creates with a callback whose URL carries a password; one with a callback that fails.
    let mut sids = Vec::new();
    for i in 0..3 {
        let r = http
            .post(&messages)
            .basic_auth(SID, Some(TOKEN))
            .form(&[
                ("To", "+14155550100"),
                ("From", "+14155550199"),
                ("Body", &format!("hello {i}")),
                ("StatusCallback", &callback),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        sids.push(r.json::<serde_json::Value>().await.unwrap()["sid"].as_str().unwrap().to_string());
    }
    let r = http
        .post(&messages)
        .basic_auth(SID, Some(TOKEN))
        .form(&[
            ("To", "+14155550100"),
            ("From", "+14155550199"),
            ("Body", "to nowhere"),
            ("StatusCallback", &format!("http://cbuser:{CALLBACK_PASSWORD}@127.0.0.1:1/closed")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // An inbound message to a number whose webhook carries a password too.
    let r = http
        .post(format!("{url}/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json"))
        .basic_auth(SID, Some(TOKEN))
        .form(&[
            ("PhoneNumber", "+14155550199"),
            ("SmsUrl", &format!("http://hook:{CALLBACK_PASSWORD}@{receiver_addr}/sms")),
        ])
        .send()
        .await
        .unwrap();
    // The owner's own resource shows its webhook URL as configured (as Twilio does): not an error body.
    assert_eq!(r.status(), 201);
    let r = http
        .post(format!("{url}/_switchboard/Accounts/{SID}/Inbound.json"))
        .basic_auth(SID, Some(TOKEN))
        .form(&[("From", "+14155550123"), ("To", "+14155550199"), ("Body", "hi there")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    // An API key and a secondary auth token, each used once; a wrong key secret once.
    let r = http
        .post(format!("{url}/2010-04-01/Accounts/{SID}/Keys.json"))
        .basic_auth(SID, Some(TOKEN))
        .form(&[("FriendlyName", "k")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let key: serde_json::Value = r.json().await.unwrap();
    let (key_sid, key_secret) = (key["sid"].as_str().unwrap().to_string(), key["secret"].as_str().unwrap().to_string());
    let r = http.get(&messages).basic_auth(&key_sid, Some(&key_secret)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(&messages).basic_auth(&key_sid, Some("not-the-key-secret")).send().await.unwrap();
    bodies.push(r.text().await.unwrap());
    let r = http.post(format!("{url}/v1/AuthTokens/Secondary")).basic_auth(SID, Some(TOKEN)).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let secondary = r.json::<serde_json::Value>().await.unwrap()["secondary_auth_token"].as_str().unwrap().to_string();
    let r = http.get(&messages).basic_auth(SID, Some(&secondary)).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Bad input with good credentials, then wrong tokens until the address is locked out.
    for form in [&[("To", "nonsense")][..], &[("To", "+14155550100"), ("Body", "no sender")][..]] {
        let r = http.post(&messages).basic_auth(SID, Some(TOKEN)).form(form).send().await.unwrap();
        assert!(r.status().is_client_error());
        bodies.push(r.text().await.unwrap());
    }
    for _ in 0..5 {
        let r = http.get(&messages).basic_auth(SID, Some(WRONG)).send().await.unwrap();
        assert!(matches!(r.status().as_u16(), 401 | 429));
        bodies.push(r.text().await.unwrap());
    }
    let r = http.get(&messages).basic_auth("ACnot-a-sid", Some(WRONG)).send().await.unwrap();
    bodies.push(r.text().await.unwrap());

    // Wait for the callbacks to arrive, so their code paths have logged.
    let deadline = Instant::now() + Duration::from_secs(15);
    while seen.lock().unwrap().iter().filter(|r| r.contains("/status")).count() < 9 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen.lock().unwrap().iter().any(|r| r.contains("/status")), "no status callback arrived");
    tokio::time::sleep(Duration::from_secs(2)).await;

    // SIGTERM: the shutdown path logs too.
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
    let output = format!("{banner}{}{}", rest.join().unwrap(), log.join().unwrap());
    assert!(output.lines().count() > 20, "too little debug output to mean anything:\n{output}");

    let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let secrets = [
        TOKEN.to_string(),
        WRONG.to_string(),
        CALLBACK_PASSWORD.to_string(),
        encode(&format!("{SID}:{TOKEN}")),
        encode(&format!("{SID}:{WRONG}")),
        encode(&format!("cbuser:{CALLBACK_PASSWORD}")),
        encode(&format!("hook:{CALLBACK_PASSWORD}")),
        key_secret.clone(),
        encode(&format!("{key_sid}:{key_secret}")),
        secondary.clone(),
        encode(&format!("{SID}:{secondary}")),
    ];
    for secret in &secrets {
        for (i, line) in output.lines().enumerate() {
            assert!(!line.contains(secret.as_str()), "log line {i} holds a secret: {line}");
        }
        for body in &bodies {
            assert!(!body.contains(secret.as_str()), "an error body holds a secret: {body}");
        }
    }
    if std::env::var("SHOW_LOG").is_ok() {
        eprintln!("{output}");
    }
    eprintln!(
        "searched {} log lines and {} response bodies for {} secrets",
        output.lines().count(),
        bodies.len(),
        secrets.len()
    );
}

//! `switchboard env` and `switchboard run`: the binary prints the variables in each format from
//! the same settings as `serve`, and runs a command with them, passing its exit code through.

use std::process::Command;

fn switchboard(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .current_dir(dir)
        .env_remove("SWITCHBOARD_PROXY_LISTEN")
        .env_remove("SWITCHBOARD_CA_DIR")
        .output()
        .unwrap()
}

#[test]
fn env_prints_every_variable_as_json_from_the_serve_settings_and_makes_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let out = switchboard(&["env", "--format", "json", "--proxy-listen", "8081", "--ca-dir", "ca"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let vars: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ca = std::fs::canonicalize(dir.path().join("ca")).unwrap();
    assert_eq!(vars["HTTP_PROXY"], "http://127.0.0.1:8081");
    assert_eq!(vars["https_proxy"], "http://127.0.0.1:8081");
    assert_eq!(vars["REQUESTS_CA_BUNDLE"], ca.join("ca-bundle.pem").to_str().unwrap());
    assert_eq!(vars["NODE_EXTRA_CA_CERTS"], ca.join("ca.pem").to_str().unwrap());
    for name in ["NO_PROXY", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "PHP_INI_SCAN_DIR", "JAVA_TOOL_OPTIONS"] {
        assert!(vars[name].is_string(), "{name} missing");
    }
    assert!(ca.join("ca-key.pem").exists() && ca.join("truststore.jks").exists());

    let posix = switchboard(&["env", "--proxy-listen", "8081", "--ca-dir", "ca"], dir.path());
    let text = String::from_utf8(posix.stdout).unwrap();
    assert!(text.lines().all(|l| l.starts_with("export ") && l.ends_with('\'')), "{text}");
}

#[test]
fn env_without_a_proxy_address_says_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = switchboard(&["env", "--ca-dir", "ca"], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--proxy-listen"));
}

#[test]
fn run_gives_the_command_the_variables_and_passes_its_exit_code_through() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"test "$HTTP_PROXY" = http://127.0.0.1:8081 && test -f "$REQUESTS_CA_BUNDLE" && exit 7"#;
    let out = switchboard(&["run", "--proxy-listen", "8081", "--ca-dir", "ca", "--", "sh", "-c", script], dir.path());
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));
    let out = switchboard(&["run", "--proxy-listen", "8081", "--ca-dir", "ca", "--", "true"], dir.path());
    assert_eq!(out.status.code(), Some(0));
}

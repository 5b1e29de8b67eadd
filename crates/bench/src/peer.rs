//! The peer: Stoplight Prism mocking Twilio's own OpenAPI description.
//!
//! Prism is the usual way to stand in for an API from its OpenAPI document, so it is the
//! natural peer for a Twilio stand-in: it validates the request against the spec and answers
//! the spec's example, without storing anything. Both packages come from npm, pinned, into
//! `target/bench-tools/npm` (installed once, reused after):
//! - `@stoplight/prism-cli` 5.14.2 — the last release that runs on Node 20 (5.16 wants 24);
//! - `@twilio/cli-core` 8.3.2 — ships `twilio_api_v2010.json`, Twilio's published description.

use crate::process::{self, Server};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PRISM: &str = "@stoplight/prism-cli";
const PRISM_VERSION: &str = "5.14.2";
const CLI_CORE: &str = "@twilio/cli-core";
const CLI_CORE_VERSION: &str = "8.3.2";
/// npm gets this long to install both packages on a fresh machine (it takes ~15 s here).
const INSTALL_TIMEOUT: Duration = Duration::from_secs(300);

/// What the peer needs, installed.
pub struct Tools {
    prism: PathBuf,
    spec: PathBuf,
}

/// Installs the peer's packages under `dir` unless they already are. An `Err` explains why the
/// peer cannot run here (no npm, registry unreachable, …); the caller skips the peer.
pub fn install(dir: &Path) -> anyhow::Result<Tools> {
    let tools = Tools {
        prism: dir.join("node_modules/.bin/prism"),
        spec: dir.join("node_modules").join(CLI_CORE).join("src/services/twilio-api/twilio_api_v2010.json"),
    };
    if installed_version(dir, PRISM).as_deref() == Some(PRISM_VERSION)
        && installed_version(dir, CLI_CORE).as_deref() == Some(CLI_CORE_VERSION)
        && tools.prism.exists()
        && tools.spec.exists()
    {
        return Ok(tools);
    }
    for tool in ["node", "npm"] {
        let ok = Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
        if !ok.is_ok_and(|s| s.success()) {
            bail!("`{tool}` is not available");
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let manifest = serde_json::json!({
        "name": "switchboard-bench-tools",
        "private": true,
        "description": "Installed by switchboard-bench (the peer: Prism serving Twilio's OpenAPI description)",
        "dependencies": { PRISM: PRISM_VERSION, CLI_CORE: CLI_CORE_VERSION },
    });
    std::fs::write(dir.join("package.json"), serde_json::to_string_pretty(&manifest)?)?;
    let log = dir.join("npm-install.log");
    let log_file = std::fs::File::create(&log)?;
    eprintln!("  installing {PRISM}@{PRISM_VERSION} and {CLI_CORE}@{CLI_CORE_VERSION} with npm into {}", dir.display());
    // Install scripts are not needed by either package; skipping them avoids running code
    // from the registry at install time.
    let mut child = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .context("starting npm")?;
    let deadline = Instant::now() + INSTALL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("npm install did not finish within {INSTALL_TIMEOUT:?} (see {})", log.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if !status.success() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        bail!("npm install failed ({status}): {}", tail.into_iter().rev().collect::<Vec<_>>().join(" | "));
    }
    if !tools.prism.exists() || !tools.spec.exists() {
        bail!("npm install succeeded but {} or {} is missing", tools.prism.display(), tools.spec.display());
    }
    Ok(tools)
}

/// The version of an installed package, from its `package.json`.
fn installed_version(dir: &Path, package: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("node_modules").join(package).join("package.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("version")?.as_str().map(str::to_string)
}

/// Starts Prism mocking the spec on a free loopback port, logging only errors (its default
/// per-request log lines would make it spend time on logging, not on answering).
pub fn start(tools: &Tools, log: &Path) -> anyhow::Result<Server> {
    let addr = process::free_local_addr()?;
    let mut cmd = Command::new(&tools.prism);
    cmd.arg("mock")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string(), "-v", "error"])
        .arg(&tools.spec);
    // Loading the 1.8 MB description takes a few seconds.
    Server::start_polled("prism", cmd, addr, log, Duration::from_secs(90))
}

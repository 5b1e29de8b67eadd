"use strict";
// Shared helpers for the Node SDK suite: start/stop the switchboard binary, the documented
// LocalRequestClient recipe, polling and small utilities.

const { execFileSync, spawn } = require("node:child_process");
const crypto = require("node:crypto");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");
const assert = require("node:assert/strict");
const twilio = require("twilio");

const REPO_ROOT = path.resolve(__dirname, "..", "..");
const LISTENING_RE = /listening on (http:\/\/\S+)/;
const SENDER = "+15005550006";
const FINAL_STATUSES = new Set(["delivered", "undelivered", "failed", "canceled", "read", "received"]);

// With SWITCHBOARD_SDK_PG=postgres://… (a cluster, as scripts/pg.sh starts) every server runs on
// a PostgreSQL database of its own instead of a SQLite file (the same suite, the other engine).
const SDK_PG = process.env.SWITCHBOARD_SDK_PG || "";

/** The URL of the cluster's database for `key` (created on first use; the same key, the same
 * database, so a restart finds its data), via psql. */
function pgDatabase(key) {
  const name = "sdk_node_" + crypto.createHash("sha1").update(key).digest("hex").slice(0, 20);
  const psql = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", SDK_PG, "-At"];
  const exists = execFileSync("psql", [...psql, "-c", `SELECT 1 FROM pg_database WHERE datname = '${name}'`], {
    encoding: "utf8",
  }).trim();
  if (exists !== "1") execFileSync("psql", [...psql, "-c", `CREATE DATABASE "${name}"`]);
  const url = new URL(SDK_PG);
  url.pathname = "/" + name;
  return url.toString();
}

function randomAccount() {
  // SID: AC + 32 lowercase hex; token: 32 hex (alphanumeric).
  return { sid: "AC" + crypto.randomBytes(16).toString("hex"), token: crypto.randomBytes(16).toString("hex") };
}

function binaryPath() {
  const raw = process.env.SWITCHBOARD_BIN || "target/debug/switchboard";
  return path.isAbsolute(raw) ? raw : path.join(REPO_ROOT, raw);
}

// Servers still running when this process ends (a crash, a timeout, an interrupt) are killed.
const running = new Set();
function killAll(signal) {
  for (const child of running) {
    try {
      child.kill(signal);
    } catch (_) {
      /* already gone */
    }
  }
}
process.on("exit", () => killAll("SIGKILL"));
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    killAll("SIGTERM");
    process.exit(128 + (sig === "SIGINT" ? 2 : 15));
  });
}

/**
 * Start `switchboard serve` on a free port with a fresh database and the given accounts (and
 * `extraArgs`, e.g. `--smpp URL`; `dbPath`: a database of the caller's, kept, for restarts).
 * Resolves to { baseUrl, stop() }; stop() sends SIGTERM, waits (SIGKILL after 10 s), removes the
 * temp dir and resolves to the exit code.
 */
async function startServer(accounts, { startTimeoutMs = 20000, logName = "node-server", extraArgs = [], dbPath = null } = {}) {
  const bin = binaryPath();
  if (!fs.existsSync(bin)) throw new Error(`switchboard binary not found at ${bin} (set SWITCHBOARD_BIN)`);
  const tmpdir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-node-"));
  const file = dbPath || path.join(tmpdir, "sb.db");
  const db = SDK_PG ? pgDatabase(file) : file;
  const args = ["serve", "--listen", "127.0.0.1:0", "--db", db, "--simulator-delay-ms", "0",
    // Tests must never reach beyond this machine, whatever URLs they send.
    "--webhook-address-policy", "loopback-only"];
  for (const a of accounts) args.push("--account", `${a.sid}:${a.token}`);
  args.push(...extraArgs);
  const stderrPath = path.join(tmpdir, "server.stderr.log");
  const stderrFd = fs.openSync(stderrPath, "w");
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", stderrFd] });
  fs.closeSync(stderrFd);
  running.add(child);
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
  exited.then(() => running.delete(child));

  const stdout = [];
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
      await exited;
      clearTimeout(timer);
    }
    const code = await exited;
    const reportDir = path.join(REPO_ROOT, "sdk-tests", ".reports");
    try {
      fs.mkdirSync(reportDir, { recursive: true });
      fs.copyFileSync(stderrPath, path.join(reportDir, `${logName}.log`));
    } catch (_) {
      /* best effort */
    }
    fs.rmSync(tmpdir, { recursive: true, force: true });
    return code;
  };

  const diagnostics = () => {
    let err = "";
    try {
      err = fs.readFileSync(stderrPath, "utf8").slice(-4000);
    } catch (_) {
      /* ignore */
    }
    return `--- stdout ---\n${stdout.join("\n")}\n--- stderr (tail) ---\n${err}`;
  };

  try {
    const baseUrl = await new Promise((resolve, reject) => {
      const rl = readline.createInterface({ input: child.stdout });
      const timer = setTimeout(
        () => reject(new Error(`switchboard did not print 'listening on' within ${startTimeoutMs} ms\n${diagnostics()}`)),
        startTimeoutMs,
      );
      rl.on("line", (line) => {
        stdout.push(line);
        const m = LISTENING_RE.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1].replace(/\/+$/, ""));
        }
      });
      exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`switchboard exited (${code}) before listening\n${diagnostics()}`));
      });
    });
    return { baseUrl, stop, diagnostics, pid: child.pid };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The documented recipe: rewrite https://*.twilio.com to the local server for every request. */
class LocalRequestClient extends twilio.RequestClient {
  constructor(baseUrl, opts = {}) {
    super({ timeout: 15000, keepAlive: false, ...opts });
    this.localBaseUrl = baseUrl.replace(/\/+$/, "");
    this.seenUris = [];
  }

  request(opts) {
    opts.uri = opts.uri.replace(/^https:\/\/[a-z0-9.-]+\.twilio\.com/, this.localBaseUrl);
    this.seenUris.push(opts.uri);
    return super.request(opts);
  }
}

function makeClient(baseUrl, account, extra = {}) {
  return twilio(account.sid, account.token, { httpClient: new LocalRequestClient(baseUrl), ...extra });
}

let counter = crypto.randomInt(0, 9_000_000);
/** A fresh valid-looking E.164 number (+1555 fictional range), unique within this process. */
function uniqueNumber() {
  counter = (counter + 1) % 10_000_000;
  return "+1555" + String(counter).padStart(7, "0");
}

/** Poll fetch until the status is one of `wanted` (string or iterable); resolves to the message. */
async function waitForStatus(client, sid, wanted, timeoutMs = 10000) {
  const want = new Set(typeof wanted === "string" ? [wanted] : wanted);
  const deadline = Date.now() + timeoutMs;
  const seen = [];
  for (;;) {
    const msg = await client.messages(sid).fetch();
    if (seen[seen.length - 1] !== msg.status) seen.push(msg.status);
    if (want.has(msg.status)) return msg;
    if (Date.now() > deadline) {
      throw new Error(`message ${sid} did not reach ${[...want]} within ${timeoutMs} ms; seen: ${seen}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Await the promise, which must reject with a twilio RestException; return that error. */
async function expectRestError(promise) {
  let result;
  try {
    result = await promise;
  } catch (err) {
    assert.ok(err instanceof twilio.RestException, `expected RestException, got ${err && err.stack}`);
    return err;
  }
  assert.fail(`expected a RestException, got ${JSON.stringify(result)}`);
}

module.exports = {
  FINAL_STATUSES,
  LocalRequestClient,
  SENDER,
  expectRestError,
  makeClient,
  randomAccount,
  startServer,
  uniqueNumber,
  waitForStatus,
};

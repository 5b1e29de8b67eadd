"use strict";
// The SMPP connector end to end: twilio-node → Switchboard → `submit_sm` to an SMSC this project
// did not write (the npm `smpp` package's server, scripted by sdk-tests/smsc/smsc.js) → its
// responses and delivery receipts → status callbacks and the message resource; and the SMSC's
// mobile-originated `deliver_sm` → the number's webhook → a TwiML reply back out through the SMSC.

const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const http = require("node:http");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");
const { spawn } = require("node:child_process");
const { makeClient, randomAccount, startServer, waitForStatus, expectRestError } = require("./helpers");

const WAIT_MS = 15000;
const SMSC_SCRIPT = path.join(__dirname, "..", "smsc", "smsc.js");

/** Starts the scripted SMSC on `port` (0: a free one), with extra `env` (TLS files); records
 * every JSON line it prints. */
async function startSmsc(port = 0, env = {}) {
  const child = spawn(process.execPath, [SMSC_SCRIPT, String(port)], { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, ...env } });
  const lines = [];
  const waiters = new Set();
  const listening = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the SMSC did not start")), 10000);
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      let ev;
      try {
        ev = JSON.parse(line);
      } catch (_) {
        return;
      }
      lines.push(ev);
      if (ev.event === "listening") {
        clearTimeout(timer);
        resolve(ev.port);
      }
      for (const wake of waiters) wake();
    });
    child.once("exit", (code) => reject(new Error(`the SMSC exited (${code})`)));
  });
  /** Resolves to the recorded events matching `pred` once there are at least `count`. */
  const waitFor = (what, pred, count = 1, timeoutMs = WAIT_MS) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const got = lines.filter(pred);
        if (got.length < count) return false;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(got);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`SMSC: ${count} × ${what} expected within ${timeoutMs} ms; log:\n${lines.map(JSON.stringify).join("\n")}`));
      }, timeoutMs);
      if (!check()) waiters.add(check);
    });
  const send = (cmd) => child.stdin.write(JSON.stringify(cmd) + "\n");
  const stop = () => child.kill("SIGKILL");
  return { port: listening, lines, waitFor, send, stop };
}

/** Status callbacks at /status; /sms answers inbound webhooks with a TwiML reply. */
async function startReceiver() {
  const received = [];
  const waiters = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString("utf8")));
      received.push({ path: req.url, params });
      if (req.url.startsWith("/sms")) {
        res.writeHead(200, { "Content-Type": "text/xml" });
        res.end("<Response><Message>Thanks for writing, we got it</Message></Response>");
      } else {
        res.writeHead(200, { "Content-Length": "0" });
        res.end();
      }
      for (const wake of waiters) wake();
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const waitFor = (what, pred, timeoutMs = WAIT_MS) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = received.find(pred);
        if (!hit) return false;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`${what} not received within ${timeoutMs} ms; got ${JSON.stringify(received)}`));
      }, timeoutMs);
      if (!check()) waiters.add(check);
    });
  const close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return { base: `http://127.0.0.1:${server.address().port}`, received, waitFor, close };
}

let serial = Math.floor(Math.random() * 50000);
/** A fresh +1555… number whose last two digits choose the SMSC's behaviour (see smsc.js). */
function numberEndingIn(tail) {
  serial = (serial + 1) % 100000;
  return `+1555${String(serial).padStart(5, "0")}${tail}`;
}

const digits = (e164) => e164.replace(/^\+/, "");
const gsmHex = (ascii) => Buffer.from(ascii, "latin1").toString("hex"); // letters, digits, space: GSM = ASCII
const ucs2Hex = (text) => Buffer.from(text, "utf16le").swap16().toString("hex");
const SENDER = "+15005550006";

// Three independent setups (each its own SMSC and server) run side by side; the tests inside
// each run in order.
describe("SMPP", { concurrency: true }, () => {
  describe("an SMPP connector that cannot bind", { concurrency: false }, () => {
    test("does not hold up the start; its messages wait, then expire with 30036; binds are counted", async () => {
      const smsc = await startSmsc();
      const account = randomAccount();
      const url = `smpp://test:wrong@127.0.0.1:${smsc.port}?name=locked`;
      const server = await startServer([account], { logName: "node-smpp-badbind", extraArgs: ["--smpp", url] });
      try {
        const client = makeClient(server.baseUrl, account);
        await smsc.waitFor("the refused bind", (e) => e.command === "bind_transceiver" && !e.ok);
        const msg = await client.messages.create({ to: numberEndingIn("10"), from: SENDER, body: "waits", validityPeriod: 1 });
        const m = await waitForStatus(client, msg.sid, "failed", WAIT_MS);
        assert.equal(m.errorCode, 30036);
        assert.equal(smsc.lines.filter((e) => e.command === "submit_sm").length, 0);
        const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
        assert.match(text, /switchboard_smpp_bound\{connector="locked"\} 0/);
        assert.match(text, /switchboard_smpp_binds_total\{connector="locked",result="failed"\} [1-9]/);
      } finally {
        await server.stop();
        smsc.stop();
      }
    });
  });

  describe("two connectors, the first of which cannot bind", { concurrency: false }, () => {
    test("the message fails over to the second when it is sent", async () => {
      const smsc = await startSmsc();
      const account = randomAccount();
      const primary = `smpp://test:wrong@127.0.0.1:${smsc.port}?name=primary`;
      const backup = `smpp://test:secret@127.0.0.1:${smsc.port}?name=backup`;
      const server = await startServer([account], { logName: "node-smpp-failover", extraArgs: ["--smpp", primary, "--smpp", backup] });
      try {
        const client = makeClient(server.baseUrl, account);
        await smsc.waitFor("the backup's bind", (e) => e.command === "bind_transceiver" && e.ok);
        const to = numberEndingIn("10");
        const msg = await client.messages.create({ to, from: SENDER, body: "via the backup" });
        await waitForStatus(client, msg.sid, "delivered", WAIT_MS);
        assert.equal(smsc.lines.filter((e) => e.command === "submit_sm" && e.destination_addr === digits(to)).length, 1);
        const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
        assert.match(text, /switchboard_smpp_submits_total\{connector="backup",result="ok"\} 1/);
        assert.doesNotMatch(text, /switchboard_smpp_submits_total\{connector="primary"/);
      } finally {
        await server.stop();
        smsc.stop();
      }
    });
  });

  describe("connectors sharing a priority", { concurrency: false }, () => {
    test("share messages by weight, skip one that is down, and hold messages while all are down", async () => {
      let smscA = await startSmsc();
      let smscB = await startSmsc();
      const account = randomAccount();
      const common = "priority=1&dlr_id=auto&reconnect_max_secs=1";
      const a = `smpp://test:secret@127.0.0.1:${smscA.port}?name=heavy&weight=3&${common}`;
      const b = `smpp://test:secret@127.0.0.1:${smscB.port}?name=light&weight=1&${common}`;
      const server = await startServer([account], { logName: "node-smpp-weighted", extraArgs: ["--smpp", a, "--smpp", b] });
      const metric = async (line) => {
        const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
        const hit = text.split("\n").find((l) => l.startsWith(line));
        return hit ? Number(hit.split(" ").pop()) : undefined;
      };
      const submits = (smsc) => smsc.lines.filter((e) => e.command === "submit_sm").length;
      try {
        const client = makeClient(server.baseUrl, account);
        await smscA.waitFor("heavy's bind", (e) => e.command === "bind_transceiver" && e.ok);
        await smscB.waitFor("light's bind", (e) => e.command === "bind_transceiver" && e.ok);
        const first = [];
        for (let i = 0; i < 8; i++) first.push(await client.messages.create({ to: numberEndingIn("10"), from: SENDER, body: `shared ${i}` }));
        for (const m of first) await waitForStatus(client, m.sid, "delivered", WAIT_MS);
        assert.deepEqual([submits(smscA), submits(smscB)], [6, 2], "weights 3:1");

        // heavy's SMSC goes away: everything goes through light, nothing waits for heavy.
        smscA.stop();
        const deadline = Date.now() + WAIT_MS;
        while ((await metric('switchboard_smpp_bound{connector="heavy"}')) !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        const second = await Promise.all(Array.from({ length: 4 }, (_, i) => client.messages.create({ to: numberEndingIn("10"), from: SENDER, body: `failover ${i}` })));
        for (const m of second) await waitForStatus(client, m.sid, "delivered", WAIT_MS);
        assert.equal(submits(smscB), 6, "the four went through light");

        // Both down: the message waits (not failed), and leaves once a connector binds again.
        smscB.stop();
        while ((await metric('switchboard_smpp_bound{connector="light"}')) !== 0 && Date.now() < deadline + WAIT_MS) await new Promise((r) => setTimeout(r, 100));
        const waiting = await client.messages.create({ to: numberEndingIn("10"), from: SENDER, body: "waits for a link" });
        await new Promise((r) => setTimeout(r, 2500));
        const meanwhile = await client.messages(waiting.sid).fetch();
        assert.ok(["queued", "sending"].includes(meanwhile.status), `still waiting, got ${meanwhile.status}`);
        smscB = await startSmsc(smscB.port);
        await waitForStatus(client, waiting.sid, "delivered", WAIT_MS);
        assert.equal(submits(smscB), 1);
      } finally {
        await server.stop();
        smscA.stop();
        smscB.stop();
      }
    });
  });

  describe("one connector with two transmitter + receiver sessions", { concurrency: false }, () => {
    test("binds four times, spreads submits over both transmitters, takes receipts and MO on the receivers, unbinds all", async () => {
      const smsc = await startSmsc();
      const account = randomAccount();
      const url = `smpp://test:secret@127.0.0.1:${smsc.port}?name=pair&sessions=2&bind=tx%2Brx&dlr_id=auto`;
      const server = await startServer([account], { logName: "node-smpp-txrx", extraArgs: ["--smpp", url] });
      let stopped = false;
      try {
        const client = makeClient(server.baseUrl, account);
        const tx = await smsc.waitFor("two transmitter binds", (e) => e.command === "bind_transmitter" && e.ok, 2);
        const rx = await smsc.waitFor("two receiver binds", (e) => e.command === "bind_receiver" && e.ok, 2);
        assert.equal(smsc.lines.filter((e) => e.command === "bind_transceiver").length, 0);
        const sent = [];
        for (let i = 0; i < 6; i++) sent.push(await client.messages.create({ to: numberEndingIn("10"), from: SENDER, body: `pair ${i}` }));
        for (const m of sent) await waitForStatus(client, m.sid, "delivered", WAIT_MS);
        const txSessions = tx.map((e) => e.session).sort();
        const used = smsc.lines.filter((e) => e.command === "submit_sm").map((e) => e.session);
        for (const n of txSessions) assert.equal(used.filter((u) => u === n).length, 3, `session ${n} took half`);
        const rxSessions = new Set(rx.map((e) => e.session));
        const receipts = smsc.lines.filter((e) => e.kind === "receipt");
        assert.equal(receipts.length, 6);
        assert.ok(receipts.every((r) => rxSessions.has(r.session)), "receipts came on the receiver binds");
        smsc.send({ mo: { from: "14155550130", to: "15550000000", text: "to a receiver" } });
        const [ack] = await smsc.waitFor("the MO's ack", (e) => e.command === "deliver_sm_resp" && e.of === "mo");
        assert.equal(ack.command_status, 0);
        const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
        assert.match(text, /switchboard_smpp_bound\{connector="pair"\} 2\n/);
        assert.match(text, /switchboard_smpp_session_bound\{connector="pair",session="2",bind="rx"\} 1\n/);
        await server.stop();
        stopped = true;
        await smsc.waitFor("every bind unbound", (e) => e.command === "unbind", 4, 3000);
      } finally {
        if (!stopped) await server.stop();
        smsc.stop();
      }
    });

    test("with two transceiver sessions, a receipt on the other session settles the message", async () => {
      const smsc = await startSmsc();
      const account = randomAccount();
      const url = `smpp://test:secret@127.0.0.1:${smsc.port}?name=twin&sessions=2&dlr_id=auto`;
      const server = await startServer([account], { logName: "node-smpp-twin", extraArgs: ["--smpp", url] });
      try {
        const client = makeClient(server.baseUrl, account);
        await smsc.waitFor("two binds", (e) => e.command === "bind_transceiver" && e.ok, 2);
        const to = numberEndingIn("19");
        const msg = await client.messages.create({ to, from: SENDER, body: "receipt elsewhere" });
        await waitForStatus(client, msg.sid, "delivered", WAIT_MS);
        const submit = smsc.lines.find((e) => e.command === "submit_sm" && e.destination_addr === digits(to));
        const receipt = smsc.lines.find((e) => e.kind === "receipt" && e.to === digits(to));
        assert.notEqual(receipt.session, submit.session);
      } finally {
        await server.stop();
        smsc.stop();
      }
    });
  });

  describe("long messages by 16-bit UDH, SAR and message_payload; data_coding 0 in Latin-1", { concurrency: false }, () => {
    test("each connector splits and marks the parts its way, and the message is delivered on every part's receipt", async () => {
      const smsc = await startSmsc();
      const [udh16, sar, payload] = [randomAccount(), randomAccount(), randomAccount()];
      const base = `smpp://test:secret@127.0.0.1:${smsc.port}`;
      const urls = [
        `${base}?name=u16&long_messages=udh16&accounts=${udh16.sid}`,
        `${base}?name=sar&long_messages=sar&accounts=${sar.sid}`,
        `${base}?name=pay&long_messages=payload&charset=latin1&accounts=${payload.sid}`,
      ];
      const server = await startServer([udh16, sar, payload], { logName: "node-smpp-long", extraArgs: urls.flatMap((u) => ["--smpp", u]) });
      try {
        await smsc.waitFor("three binds", (e) => e.command === "bind_transceiver" && e.ok, 3);
        const submitsTo = (to) => smsc.lines.filter((e) => e.command === "submit_sm" && e.destination_addr === digits(to));
        // 306 septets: 2 segments as Switchboard (and Twilio) count them, 3 parts of at most
        // 152 behind a 16-bit reference UDH.
        const body = "x".repeat(306);
        const to16 = numberEndingIn("10");
        const m16 = await makeClient(server.baseUrl, udh16).messages.create({ to: to16, from: SENDER, body });
        assert.equal(m16.numSegments, "2");
        await waitForStatus(makeClient(server.baseUrl, udh16), m16.sid, "delivered", WAIT_MS);
        const parts16 = submitsTo(to16).sort((a, b) => a.short_message_hex.slice(12, 14).localeCompare(b.short_message_hex.slice(12, 14)));
        assert.equal(parts16.length, 3);
        const ref16 = parts16[0].short_message_hex.slice(6, 10);
        assert.deepEqual(parts16.map((p) => p.short_message_hex.slice(0, 14)), [1, 2, 3].map((seq) => `060804${ref16}030${seq}`));
        assert.deepEqual(parts16.map((p) => (p.short_message_hex.length - 14) / 2), [152, 152, 2]);
        assert.ok(parts16.every((p) => p.esm_class === 0x40 && p.data_coding === 0));

        // SAR: where the counter splits (153 + 153), no UDH, the TLVs say where each part goes.
        const toSar = numberEndingIn("10");
        const sarClient = makeClient(server.baseUrl, sar);
        const mSar = await sarClient.messages.create({ to: toSar, from: SENDER, body });
        await waitForStatus(sarClient, mSar.sid, "delivered", WAIT_MS);
        const partsSar = submitsTo(toSar).sort((a, b) => a.sar[2] - b.sar[2]);
        assert.equal(partsSar.length, 2);
        assert.equal(partsSar[0].sar[0], partsSar[1].sar[0], "one reference");
        assert.deepEqual(partsSar.map((p) => [p.sar[1], p.sar[2], p.esm_class, p.short_message_hex.length / 2]), [[2, 1, 0, 153], [2, 2, 0, 153]]);
        assert.equal(smsc.lines.filter((e) => e.kind === "receipt" && e.to === digits(toSar)).length, 2);

        // message_payload: one submit_sm, empty short_message, the whole text in Latin-1 (`é`
        // as E9, `€` has no Latin-1 form: `?`); one id, one receipt.
        const toPay = numberEndingIn("10");
        const payClient = makeClient(server.baseUrl, payload);
        const long = "é€".padEnd(200, "z");
        const mPay = await payClient.messages.create({ to: toPay, from: SENDER, body: long });
        assert.equal(mPay.numSegments, "2");
        await waitForStatus(payClient, mPay.sid, "delivered", WAIT_MS);
        const [one, ...rest] = submitsTo(toPay);
        assert.equal(rest.length, 0);
        assert.deepEqual([one.short_message_hex, one.esm_class, one.data_coding], ["", 0, 0]);
        assert.equal(one.message_payload_hex, Buffer.from("\u00e9?".padEnd(200, "z"), "latin1").toString("hex"));
        const short = await payClient.messages.create({ to: toPay, from: SENDER, body: "Café" });
        await waitForStatus(payClient, short.sid, "delivered", WAIT_MS);
        const single = submitsTo(toPay)[1];
        assert.deepEqual([single.short_message_hex, single.message_payload_hex], [Buffer.from("Café", "latin1").toString("hex"), undefined]);
      } finally {
        await server.stop();
        smsc.stop();
      }
    });
  });

  describe("an smpps:// (TLS) connector", { concurrency: false }, () => {
    test("binds over TLS trusting ca_file, delivers; without the CA the bind is refused", async (t) => {
      // openssl comes with Debian's postgresql (ssl-cert), which scripts/test.sh installs.
      if (require("node:child_process").spawnSync("openssl", ["version"]).error) return t.skip("openssl is not installed");
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-smpps-"));
      const file = (name) => path.join(dir, name);
      // A private CA and a leaf for 127.0.0.1 signed by it (rustls refuses a CA as the leaf).
      fs.writeFileSync(file("leaf.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
      const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
      for (const args of [
        ["req", "-x509", ...ec, "-days", "2", "-subj", "/CN=Switchboard test SMSC CA", "-keyout", file("ca.key"), "-out", file("ca.pem")],
        ["req", ...ec, "-subj", "/CN=127.0.0.1", "-keyout", file("key.pem"), "-out", file("leaf.csr")],
        ["x509", "-req", "-in", file("leaf.csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", file("leaf.ext"), "-out", file("cert.pem")],
      ]) {
        const made = require("node:child_process").spawnSync("openssl", args);
        assert.equal(made.status, 0, String(made.stderr));
      }
      const [key, cert, ca] = [file("key.pem"), file("cert.pem"), file("ca.pem")];
      const smsc = await startSmsc(0, { SMSC_TLS_KEY: key, SMSC_TLS_CERT: cert });
      const account = randomAccount();
      const trusted = `smpps://test:secret@127.0.0.1:${smsc.port}?name=tls&ca_file=${encodeURIComponent(ca)}`;
      const untrusted = `smpps://test:secret@127.0.0.1:${smsc.port}?name=untrusted&accounts=ACnobody`;
      const server = await startServer([account], { logName: "node-smpp-tls", extraArgs: ["--smpp", trusted, "--smpp", untrusted] });
      try {
        const client = makeClient(server.baseUrl, account);
        await smsc.waitFor("the TLS bind", (e) => e.command === "bind_transceiver" && e.ok);
        const to = numberEndingIn("10");
        const msg = await client.messages.create({ to, from: SENDER, body: "over TLS" });
        await waitForStatus(client, msg.sid, "delivered", WAIT_MS);
        assert.equal(smsc.lines.filter((e) => e.command === "submit_sm" && e.destination_addr === digits(to)).length, 1);
        const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
        assert.match(text, /switchboard_smpp_bound\{connector="tls"\} 1\n/);
        assert.match(text, /switchboard_smpp_bound\{connector="untrusted"\} 0\n/);
        assert.match(text, /switchboard_smpp_binds_total\{connector="untrusted",result="failed"\} [1-9]/);
        assert.equal(smsc.lines.filter((e) => e.command === "bind_transceiver").length, 1, "the untrusted connector never got to bind");
      } finally {
        await server.stop();
        smsc.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("routes by destination prefix and pattern", { concurrency: false }, () => {
    test("each message leaves through the connector whose prefixes or pattern take it; unroutable ones fail", async () => {
      const smsc = await startSmsc();
      const account = randomAccount();
      const uk = `smpp://test:secret@127.0.0.1:${smsc.port}?name=uk&to_prefixes=44`;
      const us = `smpp://test:secret@127.0.0.1:${smsc.port}?name=us&to_prefixes=%2B1555,1500`;
      // French mobiles only (06 and 07), the whole number: a landline or a longer number is not taken.
      const fr = `smpp://test:secret@127.0.0.1:${smsc.port}?name=fr&to_pattern=${encodeURIComponent("33[67][0-9]{8}")}`;
      const server = await startServer([account], { logName: "node-smpp-routes", extraArgs: ["--smpp", uk, "--smpp", us, "--smpp", fr] });
      try {
        const client = makeClient(server.baseUrl, account);
        await smsc.waitFor("three binds", (e) => e.command === "bind_transceiver" && e.ok, 3);
        const toUk = await client.messages.create({ to: "+447911123410", from: SENDER, body: "to the UK" });
        const toUs = await client.messages.create({ to: numberEndingIn("10"), from: SENDER, body: "to the US" });
        const toFr = await client.messages.create({ to: "+33612345610", from: SENDER, body: "to a French mobile" });
        const nowhere = await client.messages.create({ to: "+33112345610", from: SENDER, body: "no route" });
        await waitForStatus(client, toUk.sid, "delivered", WAIT_MS);
        await waitForStatus(client, toUs.sid, "delivered", WAIT_MS);
        await waitForStatus(client, toFr.sid, "delivered", WAIT_MS);
        const failed = await waitForStatus(client, nowhere.sid, "failed", WAIT_MS);
        assert.equal(failed.errorCode, 30008);
        const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
        assert.match(text, /switchboard_smpp_submits_total\{connector="uk",result="ok"\} 1\n/);
        assert.match(text, /switchboard_smpp_submits_total\{connector="us",result="ok"\} 1\n/);
        assert.match(text, /switchboard_smpp_submits_total\{connector="fr",result="ok"\} 1\n/);
        assert.equal(smsc.lines.filter((e) => e.command === "submit_sm" && e.destination_addr === "33112345610").length, 0);
      } finally {
        await server.stop();
        smsc.stop();
      }
    });

    test("an invalid pattern stops the start with a clear error", async () => {
      const { spawnSync } = require("node:child_process");
      const bin = process.env.SWITCHBOARD_BIN || path.join(__dirname, "..", "..", "target", "debug", "switchboard");
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-smpp-pattern-"));
      try {
        const out = spawnSync(bin, ["serve", "--db", path.join(dir, "sb.db"), "--listen", "127.0.0.1:0", "--smpp", "smpp://test:secret@127.0.0.1:1?to_pattern=44(7"], { encoding: "utf8", timeout: 10000 });
        assert.notEqual(out.status, 0);
        assert.match(out.stderr, /smpp to_pattern "44\(7" is not a valid regular expression/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("connector settings reloaded on SIGHUP", { concurrency: false }, () => {
    test("Connectors.json lists the binds; a reload keeps the unchanged connector bound, drops the removed one, binds the new one", async () => {
      const smsc = await startSmsc();
      const account = randomAccount();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-smpp-reload-"));
      const configFile = path.join(dir, "switchboard.toml");
      const table = (name, extra = "") => `[[smpp]]\nurl = "smpp://test:secret@127.0.0.1:${smsc.port}"\nname = "${name}"\n${extra}`;
      fs.writeFileSync(configFile, table("keep") + table("drop", "to_prefixes = [\"44\"]\n"));
      const server = await startServer([account], { logName: "node-smpp-reload", extraArgs: ["--config", configFile] });
      const auth = { Authorization: `Basic ${Buffer.from(`${account.sid}:${account.token}`).toString("base64")}` };
      const listing = async () => {
        const res = await fetch(`${server.baseUrl}/_switchboard/Connectors.json`, { headers: auth });
        assert.equal(res.status, 200);
        return (await res.json()).connectors;
      };
      const until = async (what, pred) => {
        const deadline = Date.now() + WAIT_MS;
        let last;
        while (Date.now() < deadline) {
          last = await listing();
          if (pred(last)) return last;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.fail(`${what}: ${JSON.stringify(last)}`);
      };
      try {
        assert.equal((await fetch(`${server.baseUrl}/_switchboard/Connectors.json`)).status, 401, "credentials required");
        const states = (cs) => Object.fromEntries(cs.map((c) => [c.name, c.sessions.map((s) => s.binds.map((b) => `${b.bind}:${b.state}`).join()).join()]));
        let cs = await until("both bound", (cs) => cs.length === 2 && cs.every((c) => c.bound_sessions === 1));
        assert.deepEqual(states(cs), { keep: "trx:bound", drop: "trx:bound" });
        assert.deepEqual([cs[1].to_prefixes, cs[0].window, cs[0].system_id], [["44"], 10, "test"]);
        assert.ok(!JSON.stringify(cs).includes("secret"), "no password in the listing");
        await smsc.waitFor("two binds", (e) => e.command === "bind_transceiver" && e.ok, 2);

        fs.writeFileSync(configFile, table("keep") + table("added", "window = 5\nsessions = 2\n"));
        process.kill(server.pid, "SIGHUP");
        cs = await until("reloaded", (cs) => cs.map((c) => c.name).join() === "keep,added" && cs[1].bound_sessions === 2);
        assert.deepEqual(states(cs), { keep: "trx:bound", added: "trx:bound,trx:bound" });
        assert.equal(cs[1].window, 5);
        await smsc.waitFor("the removed connector unbinds", (e) => e.command === "unbind", 1);
        const binds = smsc.lines.filter((e) => e.command === "bind_transceiver" && e.ok).length;
        assert.equal(binds, 4, "keep bound once, drop once, added twice: the unchanged one did not re-bind");
        const client = makeClient(server.baseUrl, account);
        const msg = await client.messages.create({ to: numberEndingIn("10"), from: SENDER, body: "after a reload" });
        await waitForStatus(client, msg.sid, "delivered", WAIT_MS);

        // A file that does not parse changes nothing.
        fs.writeFileSync(configFile, "[[smpp]]\nurl = 7\n");
        process.kill(server.pid, "SIGHUP");
        await new Promise((r) => setTimeout(r, 500));
        assert.deepEqual((await listing()).map((c) => c.name), ["keep", "added"]);
      } finally {
        await server.stop();
        smsc.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("an SMPP connector under load", { concurrency: false }, () => {
    // Issue 16: with the window full, receipts must still be read and answered, or both sides
    // stop reading (the SMSC blocks writing receipts, we block writing submits).
    test("300 messages through a window of 64 are all delivered within 60 s", async () => {
      const smsc = await startSmsc();
      const receiver = await startReceiver();
      const account = randomAccount();
      const url = `smpp://test:secret@127.0.0.1:${smsc.port}?name=load&dlr_id=auto&window=64`;
      const server = await startServer([account], { logName: "node-smpp-load", extraArgs: ["--smpp", url] });
      try {
        const client = makeClient(server.baseUrl, account);
        await smsc.waitFor("bind_transceiver", (e) => e.command === "bind_transceiver" && e.ok);
        const total = 300;
        const started = Date.now();
        const sids = new Set();
        for (let i = 0; i < total; i += 50) {
          const batch = await Promise.all(
            Array.from({ length: Math.min(50, total - i) }, () =>
              client.messages.create({ to: numberEndingIn("10"), from: SENDER, body: "load test", statusCallback: `${receiver.base}/status` }),
            ),
          );
          for (const m of batch) sids.add(m.sid);
        }
        const delivered = new Set();
        const deadline = started + 60000;
        while (delivered.size < total && Date.now() < deadline) {
          for (const r of receiver.received) {
            if (r.params.MessageStatus === "delivered" && sids.has(r.params.MessageSid)) delivered.add(r.params.MessageSid);
          }
          await new Promise((r) => setTimeout(r, 200));
        }
        const submits = smsc.lines.filter((e) => e.command === "submit_sm").length;
        const acks = smsc.lines.filter((e) => e.command === "deliver_sm_resp").length;
        const receipts = smsc.lines.filter((e) => e.kind === "receipt").length;
        assert.equal(delivered.size, total, `delivered ${delivered.size}/${total}; SMSC saw ${submits} submit_sm, sent ${receipts} receipts, got ${acks} deliver_sm_resp`);
      } finally {
        await server.stop();
        await receiver.close();
        smsc.stop();
      }
    });
  });

  describe("a receipt after a restart", { concurrency: false }, () => {
    test("finds its message by the stored carrier id", async () => {
      const smsc = await startSmsc();
      const account = randomAccount();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-smpp-restart-"));
      const options = { dbPath: path.join(dir, "sb.db"), extraArgs: ["--smpp", `smpp://test:secret@127.0.0.1:${smsc.port}?dlr_id=auto`] };
      let server = await startServer([account], { ...options, logName: "node-smpp-restart-1" });
      try {
        let client = makeClient(server.baseUrl, account);
        const to = numberEndingIn("17"); // the receipt comes 3 s after the response
        const msg = await client.messages.create({ to, from: SENDER, body: "across a restart" });
        await waitForStatus(client, msg.sid, "sent", WAIT_MS);
        await server.stop();
        // The SMSC prints the unbind asynchronously: wait for its line rather than race it.
        await smsc.waitFor("a stopping server unbinds", (e) => e.command === "unbind", 1, 3000);
        server = await startServer([account], { ...options, logName: "node-smpp-restart-2" });
        client = makeClient(server.baseUrl, account);
        await smsc.waitFor("the late receipt", (e) => e.kind === "receipt" && e.to === digits(to));
        await waitForStatus(client, msg.sid, "delivered", WAIT_MS);
      } finally {
        await server.stop();
        smsc.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test("a 3-segment message with 2 receipts before the restart is delivered by the third after it", async () => {
      const smsc = await startSmsc();
      const account = randomAccount();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-smpp-restart-"));
      const options = { dbPath: path.join(dir, "sb.db"), extraArgs: ["--smpp", `smpp://test:secret@127.0.0.1:${smsc.port}?dlr_id=auto`] };
      let server = await startServer([account], { ...options, logName: "node-smpp-restart-parts-1" });
      try {
        let client = makeClient(server.baseUrl, account);
        const to = numberEndingIn("22"); // the last part's receipt waits for "release"
        const msg = await client.messages.create({ to, from: SENDER, body: "z".repeat(400) });
        assert.equal(msg.numSegments, "3");
        await waitForStatus(client, msg.sid, "sent", WAIT_MS);
        await smsc.waitFor("two receipts acknowledged", (e) => e.command === "deliver_sm_resp" && e.of === "receipt", 2);
        await server.stop();
        await smsc.waitFor("a stopping server unbinds", (e) => e.command === "unbind", 1, 3000);
        server = await startServer([account], { ...options, logName: "node-smpp-restart-parts-2" });
        client = makeClient(server.baseUrl, account);
        await smsc.waitFor("the new bind", (e) => e.command === "bind_transceiver" && e.ok, 2);
        assert.equal((await client.messages(msg.sid).fetch()).status, "sent");
        smsc.send({ release: true });
        await smsc.waitFor("the third receipt", (e) => e.kind === "receipt" && e.to === digits(to), 3);
        await waitForStatus(client, msg.sid, "delivered", WAIT_MS);
      } finally {
        await server.stop();
        smsc.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("concatenated inbound parts in the store", { concurrency: false }, () => {
    test("2 of 3 parts before a restart and the third after it make one inbound message", async () => {
      const smsc = await startSmsc();
      const receiver = await startReceiver();
      const account = randomAccount();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchboard-smpp-parts-"));
      const options = { dbPath: path.join(dir, "sb.db"), extraArgs: ["--smpp", `smpp://test:secret@127.0.0.1:${smsc.port}?name=mo`] };
      let server = await startServer([account], { ...options, logName: "node-smpp-parts-1" });
      try {
        const ours = numberEndingIn("21");
        await makeClient(server.baseUrl, account).incomingPhoneNumbers.create({ phoneNumber: ours, smsUrl: `${receiver.base}/sms?parts` });
        await smsc.waitFor("the bind", (e) => e.command === "bind_transceiver" && e.ok);
        const handset = "14155550131";
        const parts = ["Before the restart, ", "after it, ", "and the end."];
        for (const seq of [3, 1]) smsc.send({ mo: { from: handset, to: digits(ours), text: parts[seq - 1], udh: [0x17, 3, seq] } });
        const acks = await smsc.waitFor("two parts acknowledged", (e) => e.command === "deliver_sm_resp" && e.of === "mo" && e.from === handset, 2);
        assert.deepEqual(acks.map((a) => a.command_status), [0, 0]);
        await server.stop();
        await smsc.waitFor("a stopping server unbinds", (e) => e.command === "unbind", 1, 3000);
        server = await startServer([account], { ...options, logName: "node-smpp-parts-2" });
        await smsc.waitFor("the new bind", (e) => e.command === "bind_transceiver" && e.ok, 2);
        smsc.send({ mo: { from: handset, to: digits(ours), text: parts[1], udh: [0x17, 3, 2] } });
        const hook = await receiver.waitFor("the whole message", (r) => r.path === "/sms?parts" && r.params.From === `+${handset}`);
        assert.equal(hook.params.Body, parts.join(""));
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(receiver.received.filter((r) => r.path === "/sms?parts").length, 1, "one webhook for the message");
        const listed = await makeClient(server.baseUrl, account).messages.list({ from: `+${handset}`, limit: 5 });
        assert.deepEqual(listed.map((m) => [m.body, m.errorCode]), [[parts.join(""), null]]);
      } finally {
        await server.stop();
        await receiver.close();
        smsc.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test("parts whose sibling never comes are handed on after parts_timeout_secs with ErrorCode 30009", async () => {
      const smsc = await startSmsc();
      const receiver = await startReceiver();
      const account = randomAccount();
      const url = `smpp://test:secret@127.0.0.1:${smsc.port}?name=mo&parts_timeout_secs=2`;
      const server = await startServer([account], { logName: "node-smpp-parts-timeout", extraArgs: ["--smpp", url] });
      try {
        const client = makeClient(server.baseUrl, account);
        const ours = numberEndingIn("21");
        await client.incomingPhoneNumbers.create({ phoneNumber: ours, smsUrl: `${receiver.base}/sms?missing` });
        await smsc.waitFor("the bind", (e) => e.command === "bind_transceiver" && e.ok);
        const handset = "14155550132";
        const started = Date.now();
        smsc.send({ mo: { from: handset, to: digits(ours), text: "First part, ", udh: [0x31, 3, 1] } });
        smsc.send({ mo: { from: handset, to: digits(ours), text: "second part.", udh: [0x31, 3, 2] } });
        const hook = await receiver.waitFor("the incomplete message", (r) => r.path === "/sms?missing" && r.params.From === `+${handset}`);
        const waited = Date.now() - started;
        assert.ok(waited >= 2000 && waited < 6000, `handed on after ${waited} ms`);
        assert.equal(hook.params.Body, "First part, second part.");
        const [m] = await client.messages.list({ from: `+${handset}`, limit: 5 });
        assert.deepEqual([m.direction, m.body, m.errorCode, m.errorMessage], ["inbound", "First part, second part.", 30009, "Missing inbound segment"]);
      } finally {
        await server.stop();
        await receiver.close();
        smsc.stop();
      }
    });
  });

  describe("SMPP connector against the npm smpp SMSC", { concurrency: false }, () => {
    let smsc;
    let server;
    let receiver;
    let client;
    const account = randomAccount();

    before(async () => {
      smsc = await startSmsc();
      receiver = await startReceiver();
      const url = `smpp://test:secret@127.0.0.1:${smsc.port}?name=smsc1&dlr_id=auto&window=4&enquire_link_secs=5&response_timeout_secs=2`;
      server = await startServer([account], { logName: "node-smpp-server", extraArgs: ["--smpp", url] });
      client = makeClient(server.baseUrl, account);
      await smsc.waitFor("bind_transceiver", (e) => e.command === "bind_transceiver" && e.ok);
    });

    after(async () => {
      if (server) await server.stop();
      if (receiver) await receiver.close();
      if (smsc) smsc.stop();
    });

    const submitsTo = (to) => smsc.lines.filter((e) => e.command === "submit_sm" && e.destination_addr === digits(to));
    const send = (to, body, extra = {}) =>
      client.messages.create({ to, from: SENDER, body, statusCallback: `${receiver.base}/status`, ...extra });
    const callbacksOf = (sid) => receiver.received.filter((r) => r.params.MessageSid === sid).map((r) => r.params);

    test("binds as SMPP 3.4 and a message is submitted, receipted and delivered with RawDlrDoneDate", async () => {
      const bind = smsc.lines.find((e) => e.command === "bind_transceiver");
      assert.equal(bind.interface_version, 0x34);
      const to = numberEndingIn("10");
      const msg = await send(to, "Hello from Switchboard 42");
      const done = await receiver.waitFor("delivered callback", (r) => r.params.MessageSid === msg.sid && r.params.MessageStatus === "delivered");
      const [submit] = submitsTo(to);
      assert.deepEqual(
        [submit.source_addr, submit.source_addr_ton, submit.source_addr_npi, submit.dest_addr_ton, submit.dest_addr_npi],
        [digits(SENDER), 1, 1, 1, 1],
      );
      assert.equal(submit.registered_delivery, 1);
      assert.equal(submit.data_coding, 0);
      assert.equal(submit.esm_class, 0);
      assert.equal(submit.short_message_hex, gsmHex("Hello from Switchboard 42"));
      const receipt = smsc.lines.find((e) => e.kind === "receipt" && e.to === digits(to));
      assert.equal(done.params.RawDlrDoneDate, receipt.done_date, "the receipt's done date, passed through");
      assert.deepEqual(callbacksOf(msg.sid).map((p) => p.MessageStatus), ["sending", "sent", "delivered"]);
      assert.equal((await client.messages(msg.sid).fetch()).status, "delivered");
    });

    test("a receipt in TLVs only delivers the message, without RawDlrDoneDate", async () => {
      const msg = await send(numberEndingIn("18"), "TLV receipt");
      const done = await receiver.waitFor("delivered callback", (r) => r.params.MessageSid === msg.sid && r.params.MessageStatus === "delivered");
      assert.equal(done.params.RawDlrDoneDate, undefined);
    });

    test("submit errors and negative receipts map to Twilio's statuses and error codes", async () => {
      const cases = [
        ["01", "failed", 30005], // ESME_RINVDSTADR
        ["03", "undelivered", 30003], // UNDELIV, GSM MAP 27 absent subscriber
        ["04", "undelivered", 30003], // EXPIRED
        ["05", "undelivered", 30007], // REJECTD
      ];
      const sent = await Promise.all(cases.map(([tail]) => send(numberEndingIn(tail), `case ${tail}`)));
      for (let i = 0; i < cases.length; i++) {
        const [tail, status, code] = cases[i];
        const m = await waitForStatus(client, sent[i].sid, status, WAIT_MS);
        assert.equal(m.errorCode, code, `case ${tail}`);
      }
      // No submit_sm_resp, twice (the second try included): failed 30008 rather than resending forever.
      const unanswered = await send(numberEndingIn("16"), "nobody answers");
      // No receipt at all: the message stays `sent`, as on Twilio.
      const quiet = await send(numberEndingIn("07"), "no receipt for this one");
      await waitForStatus(client, quiet.sid, "sent", WAIT_MS);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await client.messages(quiet.sid).fetch()).status, "sent");
      const m = await waitForStatus(client, unanswered.sid, "failed", WAIT_MS);
      assert.equal(m.errorCode, 30008);
      assert.equal(submitsTo(m.to).length, 2, "sent once more after the first timeout, then given up");
    });

    test("a 3-segment GSM-7 message goes out as 3 submit_sm with one 8-bit UDH reference", async () => {
      const to = numberEndingIn("11");
      const body = Array.from({ length: 40 }, (_, i) => `word${i} ${"abcdefghij".slice(0, i % 10)}`).join(" ").slice(0, 400);
      const msg = await send(to, body);
      assert.equal(msg.numSegments, "3");
      await waitForStatus(client, msg.sid, "delivered", WAIT_MS);
      const parts = submitsTo(to);
      assert.equal(parts.length, 3);
      const udhs = parts.map((p) => p.short_message_hex.slice(0, 12));
      const ref = udhs[0].slice(6, 8);
      assert.deepEqual(udhs.sort(), [1, 2, 3].map((seq) => `050003${ref}030${seq}`));
      for (const p of parts) assert.deepEqual([p.esm_class, p.data_coding], [0x40, 0]);
      const ordered = [...parts].sort((a, b) => a.short_message_hex.slice(10, 12).localeCompare(b.short_message_hex.slice(10, 12)));
      assert.deepEqual(ordered.map((p) => (p.short_message_hex.length - 12) / 2), [153, 153, 94]);
      assert.equal(ordered.map((p) => p.short_message_hex.slice(12)).join(""), gsmHex(body));
      assert.equal(smsc.lines.filter((e) => e.kind === "receipt" && e.to === digits(to)).length, 3);
    });

    test("a 3-segment message stays sent until its last segment's receipt; one undelivered segment settles it at once", async () => {
      const body = "y".repeat(400);
      const to = numberEndingIn("22"); // the last part's receipt waits for "release"
      const msg = await send(to, body);
      assert.equal(msg.numSegments, "3");
      const receiptIds = () => new Set(smsc.lines.filter((e) => e.kind === "receipt" && e.to === digits(to)).map((e) => e.id));
      await smsc.waitFor("two receipts acknowledged", (e) => e.command === "deliver_sm_resp" && e.of === "receipt" && receiptIds().has(e.id), 2);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await client.messages(msg.sid).fetch()).status, "sent", "2 of 3 segments delivered");
      smsc.send({ release: true });
      const done = await receiver.waitFor("delivered callback", (r) => r.params.MessageSid === msg.sid && r.params.MessageStatus === "delivered");
      const receipts = smsc.lines.filter((e) => e.kind === "receipt" && e.to === digits(to));
      assert.equal(receipts.length, 3);
      assert.equal(done.params.RawDlrDoneDate, receipts[2].done_date, "the latest segment's done date");

      // Part 2 undelivered while parts 1 and 3 still wait: undelivered with part 2's code.
      const failing = await send(numberEndingIn("23"), body);
      const m = await waitForStatus(client, failing.sid, "undelivered", WAIT_MS);
      assert.equal(m.errorCode, 30003);
      assert.equal(smsc.lines.filter((e) => e.kind === "receipt" && e.to === digits(m.to)).length, 1, "before the other parts' receipts");
      smsc.send({ release: true });
      await smsc.waitFor("the other receipts", (e) => e.kind === "receipt" && e.to === digits(m.to), 3);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await client.messages(failing.sid).fetch()).status, "undelivered");
      assert.deepEqual(callbacksOf(failing.sid).map((p) => p.MessageStatus), ["sending", "sent", "undelivered"]);
    });

    test("a UCS-2 message goes out with data_coding 8, long ones with a UDH and whole surrogate pairs", async () => {
      const to = numberEndingIn("12");
      const body = "Привет, мир! 😜";
      const msg = await send(to, body);
      await waitForStatus(client, msg.sid, "delivered", WAIT_MS);
      const [one] = submitsTo(to);
      assert.deepEqual([one.data_coding, one.esm_class, one.short_message_hex], [8, 0, ucs2Hex(body)]);

      const longTo = numberEndingIn("13");
      const long = "ж".repeat(66) + "😜" + "ж".repeat(10);
      const longMsg = await send(longTo, long);
      assert.equal(longMsg.numSegments, "2");
      await waitForStatus(client, longMsg.sid, "delivered", WAIT_MS);
      const parts = submitsTo(longTo).sort((a, b) => a.short_message_hex.slice(10, 12).localeCompare(b.short_message_hex.slice(10, 12)));
      assert.deepEqual(parts.map((p) => [p.data_coding, p.esm_class]), [[8, 0x40], [8, 0x40]]);
      assert.equal(parts[0].short_message_hex.slice(12), ucs2Hex("ж".repeat(66)), "the emoji is not split: it opens part 2");
      assert.equal(parts[1].short_message_hex.slice(12), ucs2Hex("😜" + "ж".repeat(10)));
    });

    test("a receipt before its submit_sm_resp, hex/decimal ids and throttling all end delivered", async () => {
      const early = await send(numberEndingIn("06"), "receipt first");
      const hex = await send(numberEndingIn("08"), "hex id in the response, decimal in the receipt");
      const throttledTo = numberEndingIn("02");
      const throttled = await send(throttledTo, "throttled once");
      for (const m of [early, hex, throttled]) await waitForStatus(client, m.sid, "delivered", WAIT_MS);
      assert.equal(submitsTo(throttledTo).length, 2, "ESME_RTHROTTLED, then sent again");
      const m = await client.messages(throttled.sid).fetch();
      assert.equal(m.errorCode, null);
    });

    test("the SMSC dropping the link mid-window loses no message and delivers none without a receipt", async () => {
      const binds = smsc.lines.filter((e) => e.command === "bind_transceiver").length;
      const targets = [numberEndingIn("09"), ...Array.from({ length: 7 }, () => numberEndingIn("14"))];
      const sent = await Promise.all(targets.map((to, i) => send(to, `window ${i}`)));
      await smsc.waitFor("the drop", (e) => e.event === "drop" && e.destination_addr === digits(targets[0]));
      for (const m of sent) await waitForStatus(client, m.sid, "delivered", WAIT_MS);
      assert.ok(smsc.lines.filter((e) => e.command === "bind_transceiver").length > binds, "the connector bound again");
      for (const to of targets) {
        assert.ok(smsc.lines.some((e) => e.kind === "receipt" && e.to === digits(to)), `a receipt was sent for ${to}`);
      }
    });

    test("concatenated inbound messages are put together in any order (UDH and SAR)", async () => {
      const ours = numberEndingIn("21");
      await client.incomingPhoneNumbers.create({ phoneNumber: ours, smsUrl: `${receiver.base}/sms?concat` });
      const handset = "14155550125";
      const parts = ["Part one, ", "part two, ", "part three."];
      for (const seq of [3, 1, 2]) smsc.send({ mo: { from: handset, to: digits(ours), text: parts[seq - 1], udh: [0x42, 3, seq] } });
      const hook = await receiver.waitFor("the whole UDH message", (r) => r.path === "/sms?concat" && r.params.From === `+${handset}`);
      assert.equal(hook.params.Body, parts.join(""));
      const sarFrom = "14155550126";
      for (const seq of [2, 1]) smsc.send({ mo: { from: sarFrom, to: digits(ours), text: ["Hello ", "SAR"][seq - 1], sar: [513, 2, seq] } });
      const sarHook = await receiver.waitFor("the whole SAR message", (r) => r.path === "/sms?concat" && r.params.From === `+${sarFrom}`);
      assert.equal(sarHook.params.Body, "Hello SAR");
      await new Promise((r) => setTimeout(r, 300));
      const hooks = receiver.received.filter((r) => r.path === "/sms?concat");
      assert.equal(hooks.length, 2, "one webhook per message, not per part");
    });

    test("per-connector counters are on /metrics", async () => {
      const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
      const value = (line) => {
        const hit = text.split("\n").find((l) => l.startsWith(line));
        assert.ok(hit, `${line} missing from /metrics:\n${text}`);
        return Number(hit.split(" ").pop());
      };
      assert.equal(value('switchboard_smpp_bound{connector="smsc1"}'), 1);
      assert.ok(value('switchboard_smpp_binds_total{connector="smsc1",result="ok"}') >= 1);
      assert.ok(value('switchboard_smpp_submits_total{connector="smsc1",result="ok"}') >= 10);
      assert.ok(value('switchboard_smpp_submits_total{connector="smsc1",result="rejected"}') >= 1);
      assert.ok(value('switchboard_smpp_submits_total{connector="smsc1",result="throttled"}') >= 1);
      assert.ok(value('switchboard_smpp_receipts_total{connector="smsc1",state="delivered"}') >= 5);
      assert.ok(value('switchboard_smpp_receipts_total{connector="smsc1",state="undelivered"}') >= 3);
      assert.ok(value('switchboard_smpp_window_in_use{connector="smsc1"}') >= 0);
    });

    test("an inbound deliver_sm reaches the number's webhook, the TwiML reply leaves through the SMSC, STOP works", async () => {
      const ours = numberEndingIn("20");
      await client.incomingPhoneNumbers.create({ phoneNumber: ours, smsUrl: `${receiver.base}/sms` });
      const handset = "14155550123";
      smsc.send({ mo: { from: handset, to: digits(ours), text: "Hello there" } });
      const hook = await receiver.waitFor("inbound webhook", (r) => r.path.startsWith("/sms") && r.params.From === `+${handset}`);
      assert.deepEqual([hook.params.To, hook.params.Body], [ours, "Hello there"]);
      const [ack] = await smsc.waitFor("deliver_sm_resp", (e) => e.command === "deliver_sm_resp" && e.of === "mo" && e.from === handset);
      assert.equal(ack.command_status, 0);
      const [reply] = await smsc.waitFor("the TwiML reply", (e) => e.command === "submit_sm" && e.destination_addr === handset);
      assert.equal(reply.source_addr, digits(ours));
      assert.equal(reply.short_message_hex, gsmHex("Thanks for writing, we got it"));
      const inbound = await client.messages.list({ to: ours, limit: 5 });
      assert.ok(inbound.some((m) => m.direction === "inbound" && m.body === "Hello there" && m.from === `+${handset}`));

      const quitter = "14155550124";
      smsc.send({ mo: { from: quitter, to: digits(ours), text: "STOP", data_coding: 8 } });
      const [confirm] = await smsc.waitFor("the STOP confirmation", (e) => e.command === "submit_sm" && e.destination_addr === quitter);
      assert.ok(Buffer.from(confirm.short_message_hex, "hex").toString("latin1").includes("unsubscribed"));
      const err = await expectRestError(client.messages.create({ to: `+${quitter}`, from: ours, body: "still there?" }));
      assert.equal(err.code, 21610);

      smsc.send({ mo: { from: handset, to: "15550000000", text: "nobody has this number" } });
      const acks = await smsc.waitFor("ack of an unknown number", (e) => e.command === "deliver_sm_resp" && e.of === "mo" && e.from === handset, 2);
      assert.equal(acks[1].command_status, 0, "acknowledged (not redelivered), counted, dropped");
    });
  });
});


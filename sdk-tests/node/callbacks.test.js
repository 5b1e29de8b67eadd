"use strict";
// Status callbacks, checked the way a Twilio customer checks them: with twilio-node's own
// validateRequest / getExpectedTwilioSignature, against a receiver in this process.

const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const http = require("node:http");
const twilio = require("twilio");
const { makeClient, randomAccount, startServer, uniqueNumber, waitForStatus } = require("./helpers");

const SENDER = "+14155550100";
const CALLBACK_PATH = "/status?tenant=a%20b&x=1"; // a query string with an escape, signed as written
const WAIT_MS = 10000;

const BASE_PARAMS = ["AccountSid", "ApiVersion", "From", "MessageSid", "MessageStatus", "SmsSid", "SmsStatus", "To"];
const PARAMS_BY_STATUS = {
  sending: BASE_PARAMS,
  sent: BASE_PARAMS,
  delivered: [...BASE_PARAMS, "RawDlrDoneDate"],
  failed: [...BASE_PARAMS, "ErrorCode"],
  undelivered: [...BASE_PARAMS, "ErrorCode", "RawDlrDoneDate"],
};

/**
 * An HTTP receiver on 127.0.0.1:0 that records every request (method, path with query, headers,
 * raw body, parsed form) and answers 200. Resolves to { base, received, forMessage, waitFor, close }.
 */
async function startReceiver() {
  const received = [];
  const waiters = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const pairs = [...new URLSearchParams(body)];
      received.push({
        method: req.method,
        path: req.url,
        headers: req.headers, // lower-cased names
        body,
        pairs,
        params: Object.fromEntries(pairs),
      });
      res.writeHead(200, { "Content-Length": "0" });
      res.end();
      for (const wake of waiters) wake();
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();

  const forMessage = (sid) => received.filter((r) => r.params.MessageSid === sid);

  /** Wait until `count` callbacks for `sid` arrived; resolves to them in arrival order. */
  const waitFor = (sid, count, timeoutMs = WAIT_MS) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const got = forMessage(sid);
        if (got.length < count) return false;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(got);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        const seen = forMessage(sid).map((r) => r.params.MessageStatus);
        reject(new Error(`${count} callbacks for ${sid} expected within ${timeoutMs} ms; got ${JSON.stringify(seen)}`));
      }, timeoutMs);
      if (!check()) waiters.add(check);
    });

  const close = async () => {
    server.closeAllConnections(); // the server keeps callback connections alive
    await new Promise((resolve) => server.close(resolve));
  };

  return { base: `http://127.0.0.1:${port}`, received, forMessage, waitFor, close };
}

/** Poll Switchboard's Callbacks.json until it lists `count` callbacks, none pending. */
async function waitForCallbacksLog(baseUrl, account, sid, count, timeoutMs = WAIT_MS) {
  const url = `${baseUrl}/_switchboard/Accounts/${account.sid}/Messages/${sid}/Callbacks.json`;
  const auth = "Basic " + Buffer.from(`${account.sid}:${account.token}`).toString("base64");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const resp = await fetch(url, { headers: { Authorization: auth } });
    assert.equal(resp.status, 200, `GET ${url}`);
    const body = await resp.json();
    assert.equal(body.message_sid, sid);
    if (body.callbacks.length >= count && body.callbacks.every((cb) => cb.state !== "pending")) return body.callbacks;
    if (Date.now() > deadline) {
      throw new Error(`Callbacks.json of ${sid}: ${count} settled callbacks expected; got ${JSON.stringify(body)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** RawDlrDoneDate is YYMMDDhhmm in UTC, the receipt time: now, give or take clock skew. */
function assertRawDlrDoneDate(value) {
  const m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)$/.exec(value);
  assert.ok(m, `RawDlrDoneDate ${value}`);
  const at = Date.UTC(2000 + Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]));
  const now = Date.now();
  assert.ok(at >= now - 5 * 60000 && at <= now + 60000, `RawDlrDoneDate ${value} is not about now`);
}

describe("status callbacks via twilio-node", { timeout: 60000 }, () => {
  const accountA = randomAccount();
  const accountB = randomAccount();
  let server;
  let client;

  before(async () => {
    server = await startServer([accountA, accountB], { logName: "node-server-callbacks" });
    client = makeClient(server.baseUrl, accountA);
  });

  after(async () => {
    if (server) await server.stop();
  });

  const outcomes = [
    ["+14155552671", ["sending", "sent", "delivered"], null],
    ["+15005550301", ["sending", "failed"], 30001],
    ["+15005550303", ["sending", "sent", "undelivered"], 30003],
  ];

  for (const [to, statuses, errorCode] of outcomes) {
    const outcome = errorCode ? `${statuses.at(-1)} ${errorCode}` : statuses.at(-1);
    test(`${to}: callbacks ${statuses.join(", ")} (${outcome}) pass validateRequest`, async () => {
      const receiver = await startReceiver();
      try {
        const url = receiver.base + CALLBACK_PATH;
        const msg = await client.messages.create({ to, from: SENDER, body: "callback me", statusCallback: url });
        assert.equal(msg.status, "queued");

        const got = await receiver.waitFor(msg.sid, statuses.length);
        const log = await waitForCallbacksLog(server.baseUrl, accountA, msg.sid, statuses.length);

        // No callback for `queued`; one per later change, in order, each sent once.
        assert.deepEqual(
          receiver.forMessage(msg.sid).map((r) => r.params.MessageStatus),
          statuses,
        );
        assert.equal(log.length, statuses.length);

        got.forEach((req, i) => {
          const status = statuses[i];
          assert.equal(req.method, "POST");
          assert.equal(req.path, CALLBACK_PATH);
          assert.equal(req.headers["content-type"].split(";")[0].trim(), "application/x-www-form-urlencoded");
          assert.equal(req.headers["user-agent"], "TwilioProxy/1.1");
          assert.ok(req.headers["i-twilio-idempotency-token"], "I-Twilio-Idempotency-Token");
          assert.equal(req.pairs.length, Object.keys(req.params).length, `repeated parameters: ${req.body}`);

          const p = req.params;
          assert.deepEqual(Object.keys(p).sort(), [...PARAMS_BY_STATUS[status]].sort(), status);
          assert.equal(p.AccountSid, accountA.sid);
          assert.equal(p.ApiVersion, "2010-04-01");
          assert.equal(p.From, SENDER);
          assert.equal(p.To, to);
          assert.equal(p.MessageSid, msg.sid);
          assert.equal(p.SmsSid, msg.sid);
          assert.equal(p.MessageStatus, status);
          assert.equal(p.SmsStatus, status);
          if ("ErrorCode" in p) assert.equal(p.ErrorCode, String(errorCode));
          if ("RawDlrDoneDate" in p) assertRawDlrDoneDate(p.RawDlrDoneDate);

          const signature = req.headers["x-twilio-signature"];
          assert.ok(signature, "X-Twilio-Signature");
          assert.equal(twilio.validateRequest(accountA.token, signature, url, p), true, `${status}: ${req.body}`);
          assert.equal(twilio.getExpectedTwilioSignature(accountA.token, url, p), signature);
          assert.equal(twilio.validateRequest(accountB.token, signature, url, p), false);

          assert.equal(log[i].url, url);
          assert.deepEqual(log[i].params, p);
          assert.equal(log[i].idempotency_token, req.headers["i-twilio-idempotency-token"]);
          assert.equal(log[i].state, "delivered");
          assert.deepEqual(
            log[i].attempts.map((a) => a.http_status),
            [200],
          );
        });
        const tokens = new Set(got.map((r) => r.headers["i-twilio-idempotency-token"]));
        assert.equal(tokens.size, got.length, "each callback has its own idempotency token");

        const final = await waitForStatus(client, msg.sid, statuses.at(-1));
        assert.equal(final.status, statuses.at(-1));
        assert.equal(final.errorCode, errorCode);
      } finally {
        await receiver.close();
      }
    });
  }

  test("validateRequest rejects a callback with a changed param or URL, or another account's token", async () => {
    const receiver = await startReceiver();
    try {
      const url = receiver.base + CALLBACK_PATH;
      const msg = await client.messages.create({ to: uniqueNumber(), from: SENDER, body: "tamper", statusCallback: url });
      const got = await receiver.waitFor(msg.sid, 3);
      const { params } = got[2];
      const signature = got[2].headers["x-twilio-signature"];
      assert.equal(params.MessageStatus, "delivered");
      assert.equal(twilio.validateRequest(accountA.token, signature, url, params), true);

      const without = (name) => Object.fromEntries(Object.entries(params).filter(([k]) => k !== name));
      const cases = {
        "another account's token": [accountB.token, url, params],
        "MessageStatus changed": [accountA.token, url, { ...params, MessageStatus: "read" }],
        "To changed": [accountA.token, url, { ...params, To: "+15558675310" }],
        "RawDlrDoneDate dropped": [accountA.token, url, without("RawDlrDoneDate")],
        "ErrorCode added": [accountA.token, url, { ...params, ErrorCode: "30001" }],
        "query value changed": [accountA.token, receiver.base + "/status?tenant=a%20b&x=2", params],
        "query dropped": [accountA.token, receiver.base + "/status", params],
        "other path": [accountA.token, receiver.base + "/other?tenant=a%20b&x=1", params],
      };
      for (const [name, [token, u, p]] of Object.entries(cases)) {
        assert.equal(twilio.validateRequest(token, signature, u, p), false, name);
        assert.notEqual(twilio.getExpectedTwilioSignature(token, u, p), signature, name);
      }
      assert.equal(twilio.validateRequest(accountA.token, "", url, params), false, "empty signature");
    } finally {
      await receiver.close();
    }
  });

  test("callbacks of account B's messages validate with B's token only", async () => {
    const receiver = await startReceiver();
    try {
      const clientB = makeClient(server.baseUrl, accountB);
      const url = receiver.base + CALLBACK_PATH;
      const msg = await clientB.messages.create({ to: uniqueNumber(), from: SENDER, body: "from B", statusCallback: url });

      const got = await receiver.waitFor(msg.sid, 3);

      assert.deepEqual(
        got.map((r) => r.params.MessageStatus),
        ["sending", "sent", "delivered"],
      );
      for (const req of got) {
        const signature = req.headers["x-twilio-signature"];
        assert.equal(req.params.AccountSid, accountB.sid);
        assert.equal(twilio.validateRequest(accountB.token, signature, url, req.params), true);
        assert.equal(twilio.validateRequest(accountA.token, signature, url, req.params), false);
      }
    } finally {
      await receiver.close();
    }
  });
});

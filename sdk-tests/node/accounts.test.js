"use strict";
// Accounts, subaccounts, API keys and auth-token rotation with twilio-node, redirected both ways:
// a base URL per domain (api, iam, accounts, messaging) and the request client that rewrites
// every *.twilio.com.

const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const http = require("node:http");
const twilio = require("twilio");
const { LocalRequestClient, SENDER, expectRestError, makeClient, randomAccount, startServer, uniqueNumber } =
  require("./helpers");

function assertRestError(err, status, code) {
  assert.equal(err.status, status, `status: ${err.message}`);
  assert.equal(err.code, code, `code: ${err.message}`);
}

/** The base-URL recipe: every domain these tests use points at the server. */
function basedClient(baseUrl, user, password, opts = {}) {
  const c = twilio(user, password, opts);
  c.api.baseUrl = baseUrl;
  c.iam.baseUrl = baseUrl;
  c.accounts.baseUrl = baseUrl;
  c.messaging.baseUrl = baseUrl;
  return c;
}

/** A receiver that records every callback's form and signature. */
async function startReceiver() {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString("utf8")));
      received.push({ params, signature: req.headers["x-twilio-signature"] });
      res.writeHead(200, { "Content-Length": "0" });
      res.end();
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  const waitFor = async (sid) => {
    const deadline = Date.now() + 10000;
    for (;;) {
      const got = received.find((r) => r.params.MessageSid === sid);
      if (got) return got;
      if (Date.now() > deadline) throw new Error(`no callback for ${sid}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return { base, waitFor, close };
}

describe("accounts, keys and tokens via twilio-node", { timeout: 60000 }, () => {
  const accountA = randomAccount();
  let server;
  let client;

  const newSub = async (name) => {
    const acct = await client.api.v2010.accounts.create({ friendlyName: name });
    return { sid: acct.sid, token: acct.authToken };
  };
  const message = (c) => c.messages.create({ to: uniqueNumber(), from: SENDER, body: "hi" });

  before(async () => {
    server = await startServer([accountA], { logName: "node-server-accounts" });
    client = makeClient(server.baseUrl, accountA);
  });

  after(async () => {
    if (server) await server.stop();
  });

  test("a parent creates a subaccount and sends in it; the subaccount is refused on its parent with 401 20003", async () => {
    const acct = await client.api.v2010.accounts.create({ friendlyName: "node tenant" });
    assert.equal(acct.ownerAccountSid, accountA.sid);
    assert.equal(acct.status, "active");
    const msg = await client.api.v2010.accounts(acct.sid).messages.create({ to: uniqueNumber(), from: SENDER, body: "x" });
    assert.equal(msg.accountSid, acct.sid);
    const listed = await client.api.v2010.accounts.list({ friendlyName: "node tenant" });
    assert.deepEqual(listed.map((a) => a.sid), [acct.sid]);
    const own = makeClient(server.baseUrl, { sid: acct.sid, token: acct.authToken });
    assert.equal((await own.api.v2010.account.fetch()).sid, acct.sid);
    assertRestError(await expectRestError(own.api.v2010.accounts(accountA.sid).fetch()), 401, 20003);
    assertRestError(
      await expectRestError(own.api.v2010.accounts(accountA.sid).messages.create({ to: uniqueNumber(), from: SENDER, body: "x" })),
      401,
      20003,
    );
  });

  for (const recipe of ["baseUrl", "httpClient"]) {
    test(`an API key creates, fetches and lists messages, numbers and services (${recipe})`, async () => {
      const key = await client.newKeys.create({ friendlyName: `node ${recipe}` });
      assert.match(key.sid, /^SK[0-9a-f]{32}$/);
      const k =
        recipe === "baseUrl"
          ? basedClient(server.baseUrl, key.sid, key.secret, { accountSid: accountA.sid })
          : twilio(key.sid, key.secret, { accountSid: accountA.sid, httpClient: new LocalRequestClient(server.baseUrl) });
      const to = uniqueNumber();
      const msg = await k.messages.create({ to, from: SENDER, body: "with a key" });
      assert.equal((await k.messages(msg.sid).fetch()).body, "with a key");
      assert.deepEqual((await k.messages.list({ to })).map((m) => m.sid), [msg.sid]);
      const number = uniqueNumber();
      const pn = await k.incomingPhoneNumbers.create({ phoneNumber: number });
      assert.equal((await k.incomingPhoneNumbers(pn.sid).fetch()).phoneNumber, number);
      assert.ok((await k.incomingPhoneNumbers.list({ phoneNumber: number })).some((n) => n.sid === pn.sid));
      const svc = await k.messaging.v1.services.create({ friendlyName: `svc ${recipe}` });
      assert.equal((await k.messaging.v1.services(svc.sid).fetch()).sid, svc.sid);
      assert.ok((await k.messaging.v1.services.list()).some((s) => s.sid === svc.sid));
    });
  }

  test("a standard key is refused on /Accounts.json with 401 20003; a deleted key on its next request", async () => {
    const key = await client.newKeys.create({ friendlyName: "standard" });
    const k = twilio(key.sid, key.secret, { accountSid: accountA.sid, httpClient: new LocalRequestClient(server.baseUrl) });
    assertRestError(await expectRestError(k.api.v2010.accounts.list()), 401, 20003);
    assertRestError(await expectRestError(k.api.v2010.accounts.create({ friendlyName: "no" })), 401, 20003);
    await k.messages.list({ limit: 1 });
    assert.equal(await client.keys(key.sid).remove(), true);
    assertRestError(await expectRestError(k.messages.list({ limit: 1 })), 401, 20003);
  });

  test("suspend refuses creates with 20403, reactivate lets them through; closed is refused", async () => {
    const sub = await newSub("node suspend");
    const own = makeClient(server.baseUrl, sub);
    assert.equal((await client.api.v2010.accounts(sub.sid).update({ status: "suspended" })).status, "suspended");
    assertRestError(await expectRestError(message(own)), 403, 20403);
    await client.api.v2010.accounts(sub.sid).update({ status: "active" });
    assert.ok((await message(own)).sid.startsWith("SM"));
    await client.api.v2010.accounts(sub.sid).update({ status: "closed" });
    assertRestError(await expectRestError(own.api.v2010.account.fetch()), 401, 20003);
  });

  test("a secondary token then promote, with a client on each token; callbacks signed with the primary", async () => {
    const sub = await newSub("node rotation");
    const onOld = basedClient(server.baseUrl, sub.sid, sub.token);
    const secondary = await onOld.accounts.v1.secondaryAuthToken().create();
    assert.equal(secondary.accountSid, sub.sid);
    const onNew = makeClient(server.baseUrl, { sid: sub.sid, token: secondary.secondaryAuthToken });
    const receiver = await startReceiver();
    try {
      const url = `${receiver.base}/status`;
      const msg = await onNew.messages.create({ to: uniqueNumber(), from: SENDER, body: "signed", statusCallback: url });
      const got = await receiver.waitFor(msg.sid);
      assert.equal(twilio.validateRequest(sub.token, got.signature, url, got.params), true);
      assert.equal(twilio.validateRequest(secondary.secondaryAuthToken, got.signature, url, got.params), false);
    } finally {
      await receiver.close();
    }
    await message(onOld);
    const promoted = await onNew.accounts.v1.authTokenPromotion().update();
    assert.equal(promoted.authToken, secondary.secondaryAuthToken);
    assertRestError(await expectRestError(message(onOld)), 401, 20003);
    assert.ok((await message(onNew)).sid.startsWith("SM"));
  });

  test("IAM v1 keys: a restricted key follows its policy; lists page through absolute meta URLs", async () => {
    const policy = { allow: ["/twilio/messaging/messages/read"] };
    const created = await client.iam.v1.newApiKey.create({
      accountSid: accountA.sid,
      friendlyName: "read only",
      keyType: "restricted",
      policy,
    });
    assert.deepEqual(created.policy, policy);
    const ro = twilio(created.sid, created.secret, { accountSid: accountA.sid, httpClient: new LocalRequestClient(server.baseUrl) });
    await ro.messages.list({ limit: 1 });
    assert.equal((await expectRestError(message(ro))).code, 70051);
    await client.iam.v1.newApiKey.create({ accountSid: accountA.sid, friendlyName: "another" });
    const based = basedClient(server.baseUrl, accountA.sid, accountA.token);
    const listed = await based.iam.v1.getApiKeys.list({ accountSid: accountA.sid, pageSize: 1 });
    assert.ok(listed.length >= 2 && listed.some((k) => k.sid === created.sid));
    assert.deepEqual((await client.iam.v1.apiKey(created.sid).fetch()).policy, policy);
    assert.equal(await client.iam.v1.apiKey(created.sid).remove(), true);
    assertRestError(await expectRestError(ro.messages.list({ limit: 1 })), 401, 20003);
  });
});

"use strict";
// Create, fetch, redact and remove through the official twilio-node SDK.

const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const twilio = require("twilio");
const {
  FINAL_STATUSES,
  SENDER,
  expectRestError,
  makeClient,
  randomAccount,
  startServer,
  uniqueNumber,
  waitForStatus,
} = require("./helpers");

const SM_SID = /^SM[0-9a-f]{32}$/;
const MM_SID = /^MM[0-9a-f]{32}$/;

describe("messages via twilio-node", { timeout: 60000 }, () => {
  const account = randomAccount();
  let server;
  let client;

  before(async () => {
    server = await startServer([account], { logName: "node-server-messages" });
    client = makeClient(server.baseUrl, account);
  });

  after(async () => {
    if (server) await server.stop();
  });

  test("create SMS returns a queued message with Twilio's fields", async () => {
    const to = uniqueNumber();
    const msg = await client.messages.create({ to, from: SENDER, body: "Hello from the Node SDK" });

    assert.match(msg.sid, SM_SID);
    assert.equal(msg.accountSid, account.sid);
    assert.equal(msg.status, "queued");
    assert.equal(msg.to, to);
    assert.equal(msg.from, SENDER);
    assert.equal(msg.body, "Hello from the Node SDK");
    assert.equal(msg.numSegments, "1");
    assert.equal(msg.numMedia, "0");
    assert.equal(msg.price, null);
    assert.equal(msg.errorCode, null);
    assert.equal(msg.apiVersion, "2010-04-01");
    assert.equal(msg.direction, "outbound-api");
    assert.equal(msg.dateSent, null);
    assert.ok(msg.dateCreated instanceof Date && !Number.isNaN(msg.dateCreated.getTime()));
    assert.ok(Math.abs(Date.now() - msg.dateCreated.getTime()) < 60000);
  });

  test("create with two media URLs returns an MM sid and numMedia 2", async () => {
    const msg = await client.messages.create({
      to: uniqueNumber(),
      from: SENDER,
      body: "two pictures",
      mediaUrl: ["https://example.com/a.png", "https://example.com/b.png?x=1&y=2"],
    });

    assert.match(msg.sid, MM_SID);
    assert.equal(msg.numMedia, "2");
    assert.equal(msg.status, "queued");
  });

  test("fetch returns the created message, unicode body intact", async () => {
    const body = "Привет 👋 — 中文";
    const created = await client.messages.create({ to: uniqueNumber(), from: SENDER, body });

    const fetched = await client.messages(created.sid).fetch();

    assert.equal(fetched.sid, created.sid);
    assert.equal(fetched.body, body);
    assert.equal(fetched.to, created.to);
    assert.equal(fetched.dateCreated.getTime(), created.dateCreated.getTime());
    assert.equal(fetched.numSegments, "1");
  });

  test("71 UCS-2 characters make 2 segments, 1600 GSM characters make 11", async () => {
    const ucs2 = await client.messages.create({ to: uniqueNumber(), from: SENDER, body: "ж".repeat(71) });
    const gsm = await client.messages.create({ to: uniqueNumber(), from: SENDER, body: "a".repeat(1600) });

    assert.equal(ucs2.numSegments, "2");
    assert.equal(gsm.numSegments, "11");
  });

  test("whatsapp: addresses keep their prefix", async () => {
    const to = "whatsapp:" + uniqueNumber();
    const msg = await client.messages.create({ to, from: "whatsapp:" + SENDER, body: "hola" });

    assert.equal(msg.to, to);
    assert.equal(msg.from, "whatsapp:" + SENDER);
  });

  test("message reaches delivered, is redacted, removed, and then 404s", async () => {
    const msg = await client.messages.create({ to: uniqueNumber(), from: SENDER, body: "secret 1234" });
    const delivered = await waitForStatus(client, msg.sid, FINAL_STATUSES);
    assert.equal(delivered.status, "delivered");
    assert.ok(delivered.dateSent instanceof Date);

    const redacted = await client.messages(msg.sid).update({ body: "" });
    assert.equal(redacted.body, "");
    assert.equal(redacted.status, "delivered");
    assert.equal((await client.messages(msg.sid).fetch()).body, "");

    assert.equal(await client.messages(msg.sid).remove(), true);

    const afterFetch = await expectRestError(client.messages(msg.sid).fetch());
    assert.equal(afterFetch.status, 404);
    assert.equal(afterFetch.code, 20404);
    const afterRemove = await expectRestError(client.messages(msg.sid).remove());
    assert.equal(afterRemove.status, 404);
    assert.equal(afterRemove.code, 20404);
  });

  test("simulator destination +15005550303 ends undelivered with 30003", async () => {
    const msg = await client.messages.create({ to: "+15005550303", from: SENDER, body: "will fail" });

    const final = await waitForStatus(client, msg.sid, FINAL_STATUSES);

    assert.equal(final.status, "undelivered");
    assert.equal(final.errorCode, 30003);
  });

  test("client.api.baseUrl one-liner redirects create, fetch and paging", async () => {
    const plain = twilio(account.sid, account.token);
    plain.api.baseUrl = server.baseUrl;
    const to = uniqueNumber();
    const sids = [];
    for (let i = 0; i < 4; i++) {
      sids.push((await plain.messages.create({ to, from: SENDER, body: `one-liner ${i}` })).sid);
    }

    const fetched = await plain.messages(sids[0]).fetch();
    const listed = await plain.messages.list({ to, pageSize: 3 }); // 2 pages

    assert.equal(fetched.body, "one-liner 0");
    assert.deepEqual(
      listed.map((m) => m.sid),
      [...sids].reverse(),
    );
  });
});

"use strict";
// Twilio error codes as twilio-node surfaces them (RestException.code / .status / .moreInfo).

const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const twilio = require("twilio");
const {
  LocalRequestClient,
  SENDER,
  expectRestError,
  makeClient,
  randomAccount,
  startServer,
  uniqueNumber,
  waitForStatus,
} = require("./helpers");

const UNKNOWN_SM = "SM" + "0".repeat(31) + "1";

function assertRestError(err, status, code) {
  assert.equal(err.status, status, `status: ${err.message}`);
  assert.equal(err.code, code, `code: ${err.message}`);
  assert.equal(err.moreInfo, `https://www.twilio.com/docs/errors/${code}`);
  assert.ok(typeof err.message === "string" && err.message.length > 0);
}

describe("errors via twilio-node", { timeout: 60000 }, () => {
  const accountA = randomAccount();
  const accountB = randomAccount();
  let server;
  let client;
  let clientB;

  before(async () => {
    server = await startServer([accountA, accountB], { logName: "node-server-errors" });
    client = makeClient(server.baseUrl, accountA);
    clientB = makeClient(server.baseUrl, accountB);
  });

  after(async () => {
    if (server) await server.stop();
  });

  const base = () => ({ to: uniqueNumber(), from: SENDER, body: "error case" });
  const createCases = [
    // (A missing `to` is rejected client-side by twilio-node, so 21604 is covered in the Python suite.)
    ["To equal to From is 21266", () => ({ to: "+15005550006", from: "+15005550006", body: "me" }), 21266],
    ["MessagingServiceSid 'MG123' is 21705", () => ({ to: uniqueNumber(), messagingServiceSid: "MG123", body: "x" }), 21705],
    ["invalid To 'abc' is 21211", () => ({ ...base(), to: "abc" }), 21211],
    ["no From and no MessagingServiceSid is 21603", () => ({ to: uniqueNumber(), body: "no from" }), 21603],
    ["no Body, MediaUrl or ContentSid is 21602", () => ({ to: uniqueNumber(), from: SENDER }), 21602],
    ["Body of 1601 characters is 21617", () => ({ ...base(), body: "a".repeat(1601) }), 21617],
    [
      "11 MediaUrl is 21623",
      () => ({ ...base(), mediaUrl: Array.from({ length: 11 }, (_, i) => `https://example.com/${i}.png`) }),
      21623,
    ],
    ["ftp MediaUrl is 21620", () => ({ ...base(), mediaUrl: ["ftp://example.com/a.png"] }), 21620],
    ["StatusCallback 'not a url' is 21609", () => ({ ...base(), statusCallback: "not a url" }), 21609],
    ["invalid From '!!bad!!' is 21212", () => ({ ...base(), from: "!!bad!!" }), 21212],
    ["ValidityPeriod 36001 is 90007", () => ({ ...base(), validityPeriod: 36001 }), 90007],
    ["magic To +15005550002 is 21612", () => ({ ...base(), to: "+15005550002" }), 21612],
    ["magic From +15005550007 is 21606", () => ({ ...base(), from: "+15005550007" }), 21606],
  ];

  for (const [name, params, code] of createCases) {
    test(`create: ${name}`, async () => {
      const err = await expectRestError(client.messages.create(params()));
      assertRestError(err, 400, code);
    });
  }

  test("fetch of an unknown message is 404 20404", async () => {
    assertRestError(await expectRestError(client.messages(UNKNOWN_SM).fetch()), 404, 20404);
  });

  test("wrong auth token is 401 20003, for create and for list", async () => {
    const bad = makeClient(server.baseUrl, { sid: accountA.sid, token: "0".repeat(32) });

    assertRestError(await expectRestError(bad.messages.create(base())), 401, 20003);
    assertRestError(await expectRestError(bad.messages.list({ limit: 1 })), 401, 20003);
  });

  test("account A's credentials on account B's path are 404 20404", async () => {
    const bMsg = await clientB.messages.create({ ...base(), body: "belongs to B" });
    const aOnB = twilio(accountA.sid, accountA.token, {
      accountSid: accountB.sid,
      httpClient: new LocalRequestClient(server.baseUrl),
    });

    assertRestError(await expectRestError(aOnB.messages(bMsg.sid).fetch()), 404, 20404);
    assertRestError(await expectRestError(aOnB.messages.list({ limit: 5 })), 404, 20404);
    assertRestError(await expectRestError(aOnB.messages.create(base())), 404, 20404);
    assert.equal((await clientB.messages(bMsg.sid).fetch()).body, "belongs to B");
  });

  test("remove and cancel of a message stuck in sent are 20009 and 30409; redacting it succeeds", async () => {
    const msg = await client.messages.create({ to: "+15005550300", from: SENDER, body: "stuck" });
    await waitForStatus(client, msg.sid, "sent");

    assertRestError(await expectRestError(client.messages(msg.sid).remove()), 400, 20009);
    assertRestError(await expectRestError(client.messages(msg.sid).update({ status: "canceled" })), 400, 30409);
    assert.equal((await client.messages(msg.sid).fetch()).body, "stuck");
    // A message that has left the queue may be redacted, as in Twilio's own example.
    const redacted = await client.messages(msg.sid).update({ body: "" });
    assert.equal(redacted.body, "");
    assert.equal(redacted.status, "sent");
  });

  test("list with a bogus PageToken is 400 21481", async () => {
    assertRestError(await expectRestError(client.messages.page({ pageToken: "bogus", pageSize: 5 })), 400, 21481);
  });

  test("list with a garbage DateSent is 400 20001", async () => {
    // The SDK passes non-Date values through unchanged.
    assertRestError(await expectRestError(client.messages.list({ dateSent: "garbage" })), 400, 20001);
  });
});

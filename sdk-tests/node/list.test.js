"use strict";
// List, filters and keyset paging through twilio-node (list, each, page/nextPage).

const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { FINAL_STATUSES, SENDER, makeClient, randomAccount, startServer, uniqueNumber, waitForStatus } =
  require("./helpers");

const newestFirst = (sids) => [...sids].reverse();
const DAY_MS = 24 * 3600 * 1000;

/** list(params) -> { sids, requests }: the SIDs and how many HTTP page requests it took. */
async function listPaged(client, params) {
  const before = client.httpClient.seenUris.length;
  const items = await client.messages.list(params);
  return { sids: items.map((m) => m.sid), requests: client.httpClient.seenUris.length - before };
}

async function collectPages(page) {
  const pages = [];
  while (page) {
    pages.push(page.instances.map((m) => m.sid));
    page = await page.nextPage();
  }
  return pages;
}

describe("list and paging via twilio-node", { timeout: 90000 }, () => {
  const account = randomAccount();
  let server;
  let client;
  // Corpus: 7 delivered messages to one fresh `To`, in two batches whose dateSent differ by >= 1 s;
  // messages 0, 2, 4, 6 come from a fresh `From`.
  const to = uniqueNumber();
  const otherFrom = uniqueNumber();
  const sids = [];
  const fromOther = [];
  let earlyLastSent;
  let lateFirstSent;

  before(async () => {
    server = await startServer([account], { logName: "node-server-list" });
    client = makeClient(server.baseUrl, account);
    const send = async (i) => {
      const from = i % 2 === 0 ? otherFrom : SENDER;
      const msg = await client.messages.create({ to, from, body: `corpus ${i}` });
      sids.push(msg.sid);
      if (from === otherFrom) fromOther.push(msg.sid);
    };
    for (let i = 0; i < 4; i++) await send(i);
    const early = [];
    for (const sid of sids) early.push(await waitForStatus(client, sid, FINAL_STATUSES));
    earlyLastSent = new Date(Math.max(...early.map((m) => m.dateSent.getTime())));
    // Timestamps have 1 s resolution: let the clock pass the early batch's last second.
    while (Date.now() < earlyLastSent.getTime() + 1000) await new Promise((r) => setTimeout(r, 50));
    for (let i = 4; i < 7; i++) await send(i);
    const late = [];
    for (const sid of sids.slice(4)) late.push(await waitForStatus(client, sid, FINAL_STATUSES));
    lateFirstSent = new Date(Math.min(...late.map((m) => m.dateSent.getTime())));
    assert.ok(lateFirstSent > earlyLastSent);
  });

  after(async () => {
    if (server) await server.stop();
  });

  test("list by to returns every message newest first across pages of 3", async () => {
    const listed = await client.messages.list({ to, pageSize: 3 });

    assert.deepEqual(
      listed.map((m) => m.sid),
      newestFirst(sids),
    );
  });

  test("page + nextPage walks 3, 3, 1 with no duplicates or gaps", async () => {
    const pages = await collectPages(await client.messages.page({ to, pageSize: 3 }));

    assert.deepEqual(
      pages.map((p) => p.length),
      [3, 3, 1],
    );
    assert.deepEqual(pages.flat(), newestFirst(sids));
  });

  test("each with pageSize 3 visits every message once", async () => {
    const seen = [];
    await new Promise((resolve, reject) => {
      client.messages.each({
        to,
        pageSize: 3,
        callback: (m) => seen.push(m.sid),
        done: (err) => (err ? reject(err) : resolve()),
      });
    });

    assert.deepEqual(seen, newestFirst(sids));
  });

  test("list by from returns exactly that sender's messages", async () => {
    const { sids: listed, requests } = await listPaged(client, { from: otherFrom, pageSize: 1 });

    assert.deepEqual(listed, newestFirst(fromOther));
    assert.ok(requests >= 4, `only ${requests} page requests`);
  });

  test("dateSent filter selects the whole UTC day", async () => {
    const day = new Date(Date.UTC(earlyLastSent.getUTCFullYear(), earlyLastSent.getUTCMonth(), earlyLastSent.getUTCDate()));
    if (lateFirstSent.getTime() - day.getTime() >= DAY_MS) return; // corpus straddles midnight UTC

    const { sids: sameDay, requests } = await listPaged(client, { to, dateSent: day, pageSize: 3 });
    const dayBefore = await client.messages.list({ to, dateSent: new Date(day.getTime() - DAY_MS) });

    assert.deepEqual(sameDay, newestFirst(sids));
    assert.equal(requests, 3);
    assert.deepEqual(dayBefore, []);
  });

  test("dateSentBefore returns exactly the earlier batch", async () => {
    const { sids: listed, requests } = await listPaged(client, { to, dateSentBefore: earlyLastSent, pageSize: 1 });
    const none = await client.messages.list({ to, dateSentBefore: new Date(earlyLastSent.getTime() - 2 * DAY_MS) });

    assert.deepEqual(listed, newestFirst(sids.slice(0, 4)));
    assert.ok(requests >= 4, `only ${requests} page requests`);
    assert.deepEqual(none, []);
  });

  test("dateSentAfter returns exactly the later batch", async () => {
    const { sids: listed, requests } = await listPaged(client, { to, dateSentAfter: lateFirstSent, pageSize: 1 });
    const none = await client.messages.list({ to, dateSentAfter: new Date(lateFirstSent.getTime() + 2 * DAY_MS) });

    assert.deepEqual(listed, newestFirst(sids.slice(4)));
    assert.ok(requests >= 3, `only ${requests} page requests`);
    assert.deepEqual(none, []);
  });

  test("limit stops after that many records", async () => {
    const listed = await client.messages.list({ to, limit: 5 });

    assert.deepEqual(
      listed.map((m) => m.sid),
      newestFirst(sids).slice(0, 5),
    );
  });

  test("nextPage stays exact when new messages arrive between pages", async () => {
    const to2 = uniqueNumber();
    const original = [];
    for (let i = 0; i < 7; i++) {
      original.push((await client.messages.create({ to: to2, from: SENDER, body: `orig ${i}` })).sid);
    }

    const first = await client.messages.page({ to: to2, pageSize: 3 });
    const newcomers = [];
    for (let i = 0; i < 2; i++) {
      newcomers.push((await client.messages.create({ to: to2, from: SENDER, body: `new ${i}` })).sid);
    }
    const pages = await collectPages(first);

    assert.deepEqual(
      pages.map((p) => p.length),
      [3, 3, 1],
    );
    assert.deepEqual(pages.flat(), newestFirst(original));
    const fresh = await client.messages.list({ to: to2 });
    assert.deepEqual(
      fresh.map((m) => m.sid),
      newestFirst([...original, ...newcomers]),
    );
  });

  test("every request, next pages included, goes to the local server", async () => {
    const http = client.httpClient;
    const before = http.seenUris.length;

    await client.messages.list({ to, pageSize: 2 });

    const uris = http.seenUris.slice(before);
    assert.equal(uris.length, 4); // 2 + 2 + 2 + 1
    for (const u of uris) assert.ok(u.startsWith(server.baseUrl + "/2010-04-01/Accounts/"), u);
    for (const u of uris.slice(1)) assert.match(u, /PageToken=PA/);
  });
});

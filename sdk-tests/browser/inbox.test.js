"use strict";
// The web inbox in a real browser: Debian's chromium driven by playwright-core (never a
// downloaded browser). Messages are sent with the official twilio-node SDK; the page must show
// them, and their status changes, without a reload. Screenshots go to docs/images/.

const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const { chromium } = require("playwright-core");
const { makeClient, randomAccount, startServer, waitForStatus } = require("../node/helpers");

const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const IMAGES = path.resolve(__dirname, "..", "..", "docs", "images");
const OURS = "+14155550100";
const HANDSET = "+15558675309";
const TIMEOUT = 10000;

/** A webhook app on 127.0.0.1:0 that answers every inbound message with one TwiML reply. */
async function startTwimlApp(reply) {
  const hits = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      hits.push({ path: req.url, body: Buffer.concat(chunks).toString("utf8") });
      const xml = `<?xml version="1.0" encoding="UTF-8"?><Response><Message>${reply}</Message></Response>`;
      res.writeHead(200, { "Content-Type": "text/xml" });
      res.end(xml);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    hits,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** POSTs a form to the API as `account`. */
async function apiPost(baseUrl, account, urlPath, form) {
  const resp = await fetch(baseUrl + urlPath, {
    method: "POST",
    headers: {
      Authorization: "Basic " + Buffer.from(`${account.sid}:${account.token}`).toString("base64"),
      "Content-Type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams(form).toString(),
  });
  const text = await resp.text();
  assert.ok(resp.status < 300, `POST ${urlPath}: ${resp.status} ${text}`);
  return JSON.parse(text);
}

describe("web inbox in chromium", () => {
  let server, client, browser, context, page, app;
  const account = randomAccount();

  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} missing: scripts/test.sh installs chromium with apt-get`);
    server = await startServer([account], { logName: "browser-server" });
    client = makeClient(server.baseUrl, account);
    app = await startTwimlApp("Thanks, we got it");
    await apiPost(server.baseUrl, account, `/2010-04-01/Accounts/${account.sid}/IncomingPhoneNumbers.json`, {
      PhoneNumber: OURS,
      SmsUrl: `${app.url}/sms`,
    });
    // Receipts come 1.5 s after sending, so the page can be seen to change status by itself.
    await apiPost(server.baseUrl, account, `/_switchboard/Accounts/${account.sid}/Simulator/Rules.json`, {
      To: "+1555*",
      Outcome: "delivered",
      DelayMs: "1500",
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
    context = await browser.newContext({
      httpCredentials: { username: account.sid, password: account.token },
      viewport: { width: 1200, height: 800 },
    });
    page = await context.newPage();
    fs.mkdirSync(IMAGES, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    await server?.stop();
  });

  test("a message sent through the SDK appears and turns delivered without a reload", async () => {
    await page.goto(server.baseUrl + "/");
    await page.getByTestId("live-status").filter({ hasText: "live" }).waitFor({ timeout: TIMEOUT });
    await page.evaluate(() => { window.__sameDocument = true; });
    const msg = await client.messages.create({
      to: "+15551230001",
      from: OURS,
      body: "Your code is 493817",
      statusCallback: `${app.url}/status`,
    });
    const row = page.getByTestId("thread-row").filter({ hasText: "+15551230001" });
    await row.waitFor({ timeout: TIMEOUT });
    await row.getByTestId("status").filter({ hasText: "delivered" }).waitFor({ timeout: TIMEOUT });
    assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page was reloaded");
    await waitForStatus(client, msg.sid, "delivered");
    await page.screenshot({ path: path.join(IMAGES, "inbox-conversations.png") });

    // The thread: the bubble with its status; then the detail page with the callback attempts.
    await row.locator("a").click();
    const bubble = page.locator(`[data-testid=bubble][data-sid="${msg.sid}"]`);
    await bubble.getByTestId("status").filter({ hasText: "delivered" }).waitFor({ timeout: TIMEOUT });
    await bubble.getByRole("link", { name: "details" }).click();
    await page.getByTestId("detail-sid").filter({ hasText: msg.sid }).waitFor({ timeout: TIMEOUT });
    assert.equal(new URL(page.url()).pathname, `/messages/${msg.sid}`);
    await page.getByTestId("callback-attempt").first().waitFor({ timeout: TIMEOUT });
    const attempts = await page.getByTestId("callback-attempt").count();
    assert.ok(attempts >= 3, `sending, sent and delivered callbacks: saw ${attempts} attempts`);
    assert.match(await page.getByTestId("callback-attempt").first().innerText(), /HTTP 200/);
    await page.screenshot({ path: path.join(IMAGES, "inbox-message-detail.png"), fullPage: true });
  });

  test("composing as the handset shows the app's TwiML reply in the thread", async () => {
    await page.goto(server.baseUrl + "/compose");
    await page.getByLabel("From (the handset)").fill(HANDSET);
    await page.getByLabel("To (one of your numbers)").fill(OURS);
    await page.getByLabel("Body").fill("Hi, is my order ready?");
    await page.screenshot({ path: path.join(IMAGES, "inbox-compose.png") });
    await page.getByTestId("compose-send").click();
    await page.waitForURL(/\/thread\?/, { timeout: TIMEOUT });
    await page.locator("[data-testid=bubble][data-direction=inbound]").filter({ hasText: "Hi, is my order ready?" })
      .waitFor({ timeout: TIMEOUT });
    const reply = page.locator("[data-testid=bubble][data-direction=outbound-reply]").filter({ hasText: "Thanks, we got it" });
    await reply.waitFor({ timeout: TIMEOUT });
    assert.equal(app.hits.filter((h) => h.path === "/sms").length, 1);
    await page.screenshot({ path: path.join(IMAGES, "inbox-thread.png") });

    // One click sends STOP; the opt-out confirmation arrives in the same thread.
    await page.goto(server.baseUrl + `/compose?From=${encodeURIComponent(HANDSET)}&To=${encodeURIComponent(OURS)}`);
    await page.getByTestId("keyword-STOP").click();
    await page.waitForURL(/\/thread\?/, { timeout: TIMEOUT });
    await page.locator("[data-testid=bubble][data-direction=inbound]").filter({ hasText: "STOP" }).waitFor({ timeout: TIMEOUT });
  });

  test("a body containing <script> is shown as text and runs nothing", async () => {
    const evil = `<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">`;
    const msg = await client.messages.create({ to: "+15551230002", from: OURS, body: evil });
    const dialogs = [];
    page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
    for (const where of ["/", "/messages", `/messages/${msg.sid}`,
      `/thread?ours=${encodeURIComponent(OURS)}&theirs=%2B15551230002`]) {
      await page.goto(server.baseUrl + where);
      await page.getByText("window.__pwned = 1", { exact: false }).first().waitFor({ timeout: TIMEOUT });
      assert.equal(await page.evaluate(() => window.__pwned), undefined, `script ran on ${where}`);
      assert.equal(await page.locator("img[src=x]").count(), 0, `markup rendered on ${where}`);
    }
    assert.deepEqual(dialogs, []);
  });

  test("search, simulator, dark mode and phone width render", async () => {
    await page.goto(server.baseUrl + "/messages?q=" + encodeURIComponent("to:+15551230001 status:delivered"));
    assert.equal(await page.getByTestId("message-row").count(), 1);
    await page.goto(server.baseUrl + "/messages");
    await page.keyboard.press("j");
    assert.equal(await page.evaluate(() => document.activeElement?.closest("[data-testid=message-row]") !== null), true,
      "j focuses the first row");
    await page.screenshot({ path: path.join(IMAGES, "inbox-messages.png") });
    await page.goto(server.baseUrl + "/simulator");
    assert.ok((await page.getByTestId("rule-hits").first().innerText()).trim() !== "0", "the rule counted its matches");
    await page.screenshot({ path: path.join(IMAGES, "inbox-simulator.png") });

    const dark = await browser.newContext({
      httpCredentials: { username: account.sid, password: account.token },
      colorScheme: "dark",
      viewport: { width: 390, height: 844 },
    });
    const phone = await dark.newPage();
    await phone.goto(server.baseUrl + `/thread?ours=${encodeURIComponent(OURS)}&theirs=${encodeURIComponent(HANDSET)}`);
    await phone.getByTestId("live-status").filter({ hasText: "live" }).waitFor({ timeout: TIMEOUT });
    const bg = await phone.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.notEqual(bg, "rgb(246, 247, 249)", "dark mode follows prefers-color-scheme");
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `no horizontal scroll at phone width (${overflow}px)`);
    await phone.screenshot({ path: path.join(IMAGES, "inbox-thread-phone-dark.png") });
    await dark.close();
  });
});

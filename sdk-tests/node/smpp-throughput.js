"use strict";
// SMPP throughput through one connector, end to end: N creates through the API (32 at a time) to
// the scripted SMSC (window 64, receipts at once), timed from the first create to the last
// `delivered` status callback. Not a test (node --test does not pick it up by name).
//
//   SWITCHBOARD_BIN=target/release/switchboard node sdk-tests/node/smpp-throughput.js [N=1000]
const { spawn } = require("node:child_process");
const readline = require("node:readline");
const http = require("node:http");
const path = require("node:path");
const { makeClient, randomAccount, startServer } = require("./helpers");
(async () => {
  const N = Number(process.argv[2] || 1000);
  const child = spawn(process.execPath, [path.join(__dirname, "..", "smsc", "smsc.js"), "0"], { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise((res) => readline.createInterface({ input: child.stdout }).on("line", (l) => { const e = JSON.parse(l); if (e.event === "listening") res(e.port); }));
  let delivered = 0, last = 0, done;
  const finished = new Promise((r) => (done = r));
  const srv = http.createServer((req, res) => { let b = ""; req.on("data", (c) => (b += c)); req.on("end", () => { if (new URLSearchParams(b).get("MessageStatus") === "delivered") { delivered++; last = Date.now(); if (delivered === N) done(); } res.end(); }); });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const account = randomAccount();
  const server = await startServer([account], { logName: "tp", extraArgs: ["--smpp", `smpp://test:secret@127.0.0.1:${port}?name=tp&dlr_id=auto&window=64`] });
  const client = makeClient(server.baseUrl, account);
  await new Promise((r) => setTimeout(r, 1500));
  const cb = `http://127.0.0.1:${srv.address().port}/s`;
  const first = Date.now();
  let i = 0;
  await Promise.all(Array.from({ length: 32 }, async () => { while (i < N) { i++; await client.messages.create({ to: `+1555${String(10000 + i).padStart(5, "0")}10`, from: "+15005550006", body: "throughput", statusCallback: cb }); } }));
  const created = Date.now();
  await Promise.race([finished, new Promise((r) => setTimeout(r, 120000))]);
  console.log(JSON.stringify({ N, delivered, create_s: (created - first) / 1000, total_s: (last - first) / 1000, msgs_per_s: delivered / ((last - first) / 1000) }));
  await server.stop(); srv.close(); child.kill("SIGKILL"); process.exit(0);
})();

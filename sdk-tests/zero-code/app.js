"use strict";
// An unchanged Twilio app: the official SDK, credentials from the environment, no base URL and
// no custom request client. It sends one message, fetches it and lists the messages to that
// number, then prints what it got as JSON. Only the environment decides where requests go.

const twilio = require("twilio");

async function main() {
  const to = process.argv[2];
  const client = twilio(); // TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN from the environment
  const created = await client.messages.create({ to, from: "+15005550006", body: "zero-code hello from node" });
  const fetched = await client.messages(created.sid).fetch();
  const listed = (await client.messages.list({ to, limit: 50 })).map((m) => m.sid);
  // messaging.twilio.com too: two Messaging Services, listed one per page (v1 paging follows the
  // absolute next_page_url the server hands out).
  const services = [];
  for (const i of [0, 1]) {
    services.push((await client.messaging.v1.services.create({ friendlyName: `zero-code ${to} ${i}` })).sid);
  }
  const servicesPaged = (await client.messaging.v1.services.list({ pageSize: 1 })).map((s) => s.sid);
  console.log(JSON.stringify({
    sdk: "twilio-node", created: created.sid, fetched_body: fetched.body, listed, services, services_paged: servicesPaged,
  }));
}

main().catch((e) => {
  console.error(`failed: ${e && e.message ? e.message : e}`);
  process.exit(1);
});

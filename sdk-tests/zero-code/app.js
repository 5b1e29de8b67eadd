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
  console.log(JSON.stringify({ sdk: "twilio-node", created: created.sid, fetched_body: fetched.body, listed }));
}

main().catch((e) => {
  console.error(`failed: ${e && e.message ? e.message : e}`);
  process.exit(1);
});

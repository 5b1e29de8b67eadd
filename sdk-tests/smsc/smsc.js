"use strict";
// A scripted SMSC for the SMPP connector tests, built on the npm `smpp` package's server (an SMPP
// implementation this project did not write). Loopback only.
//
//   node sdk-tests/smsc/smsc.js [PORT]      (0 or nothing: a free port)
//   SMSC_TLS_KEY=key.pem SMSC_TLS_CERT=cert.pem node sdk-tests/smsc/smsc.js 0   (TLS)
//
// Prints {"event":"listening","port":N}, then one JSON line per PDU it receives ({"event":"pdu",…}) and per
// deliver_sm it sends ({"event":"sent",…}). Takes commands on stdin, one JSON object a line:
//   {"mo": {"from": "14155550100", "to": "15005550006", "text": "STOP", "data_coding": 0}}
//       → a mobile-originated deliver_sm (esm_class 0) on one session that may receive
//         (transceiver or receiver); a part of a concatenated one with "udh": [ref, total, seq]
//         (8-bit UDH) or "sar": [ref, total, seq]
//   {"drop": true}  → closes every session's socket
//   {"release": true}  → sends the receipts held back (tails 22 and 23)
// Binds (transceiver, transmitter or receiver) need system_id `test` and password `secret` (else
// ESME_RBINDFAIL). Each bound session gets a number, logged with its bind and its submits.
//
// What a submit_sm gets depends on the last two digits of its destination:
//   01  submit_sm_resp ESME_RINVDSTADR (0x0B)
//   02  ESME_RTHROTTLED (0x58) the first time, then accepted
//   03  receipt UNDELIV with network_error_code GSM 27 (absent subscriber)
//   04  receipt EXPIRED            05  receipt REJECTD
//   06  the receipt is sent before the submit_sm_resp
//   07  no receipt
//   08  message id in hexadecimal in the response, decimal in the receipt (Vonage-style)
//   09  the first time: the socket is dropped instead of answering (a lost link mid-window)
//   16  never answered (no submit_sm_resp)
//   18  receipt DELIVRD in TLVs only (no receipt text, so no done date)
//   17  the receipt comes 3 s after the response
//   19  the receipt goes out on another session than the submit's, when there is one
//   22  a part of a concatenated message: the last part's receipt is held back until "release"
//   23  a part of a concatenated message: part 2's receipt is UNDELIV (GSM 27) at once, the
//       other parts' receipts are held back until "release"
//   anything else: receipt DELIVRD
// Each segment of a concatenated message gets its own id and its own receipt.
const smpp = require("smpp");
const defs = require("smpp/lib/defs");
const readline = require("node:readline");

// Keep short_message as the raw octets: the tests check encoding and UDH byte by byte.
defs.filters.message.decode = (value) => value;

const log = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
let nextId = 0x5a1000;
const seenOnce = new Set();
// Sessions that may receive deliver_sm (transceiver and receiver binds), and all bound ones.
const sessions = new Set();
const bound = new Set();
let nextSession = 1;

function date(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}`;
}

// Receipts go out on the session the message came in on, else on any bound one; with none (the
// link dropped) they wait for the next bind, as a real SMSC keeps them.
const waiting = [];
function liveSession() {
  for (const s of sessions) if (s.socket.writable) return s;
  return null;
}
function flushWaiting() {
  while (waiting.length && liveSession()) waiting.shift()(liveSession());
}

function otherSession(origin) {
  for (const s of sessions) if (s !== origin && s.socket.writable) return s;
  return origin;
}

function receipt(origin, pdu, idInReceipt, stat, state, gsmError) {
  const session = origin && sessions.has(origin) && origin.socket.writable ? origin : liveSession();
  if (!session) return waiting.push((s) => receipt(s, pdu, idInReceipt, stat, state, gsmError));
  const now = date(new Date());
  const text = `id:${idInReceipt} sub:001 dlvrd:${stat === "DELIVRD" ? "001" : "000"} submit date:${now} done date:${now} stat:${stat} err:${String(gsmError || 0).padStart(3, "0")} text:`;
  const tlvs = { receipted_message_id: idInReceipt, message_state: state };
  if (gsmError) tlvs.network_error_code = Buffer.from([3, gsmError >> 8, gsmError & 0xff]);
  session.deliver_sm({
    source_addr_ton: pdu.dest_addr_ton, source_addr_npi: pdu.dest_addr_npi, source_addr: pdu.destination_addr,
    dest_addr_ton: pdu.source_addr_ton, dest_addr_npi: pdu.source_addr_npi, destination_addr: pdu.source_addr,
    esm_class: 0x04, data_coding: 1, short_message: Buffer.from(String(pdu.destination_addr).endsWith("18") ? "" : text, "latin1"), ...tlvs,
  }, (resp) => log({ event: "pdu", command: resp.command, command_status: resp.command_status, of: "receipt", id: idInReceipt }));
  log({ event: "sent", command: "deliver_sm", kind: "receipt", id: idInReceipt, stat, to: pdu.destination_addr, done_date: now, session: session.number });
}

// Receipts held back until {"release": true}.
const held = [];

// [seq, total] of a concatenated message's part (8- or 16-bit UDH, or SAR TLVs), else null.
function partOf(pdu, raw) {
  if (pdu.esm_class & 0x40 && raw.length > 1) {
    for (let i = 1; i + 1 < 1 + raw[0]; i += 2 + raw[i + 1]) {
      if (raw[i] === 0 && raw[i + 1] === 3) return [raw[i + 4], raw[i + 3]];
      if (raw[i] === 8 && raw[i + 1] === 4) return [raw[i + 5], raw[i + 4]];
    }
  }
  return pdu.sar_segment_seqnum === undefined ? null : [pdu.sar_segment_seqnum, pdu.sar_total_segments];
}

function onSubmit(session, pdu) {
  const dest = String(pdu.destination_addr);
  const tail = dest.slice(-2);
  const raw = Buffer.isBuffer(pdu.short_message) ? pdu.short_message : Buffer.alloc(0);
  log({
    event: "pdu", command: "submit_sm", sequence_number: pdu.sequence_number, session: session.number,
    source_addr: pdu.source_addr, source_addr_ton: pdu.source_addr_ton, source_addr_npi: pdu.source_addr_npi,
    destination_addr: dest, dest_addr_ton: pdu.dest_addr_ton, dest_addr_npi: pdu.dest_addr_npi,
    esm_class: pdu.esm_class, data_coding: pdu.data_coding, registered_delivery: pdu.registered_delivery,
    short_message_hex: raw.toString("hex"),
    message_payload_hex: Buffer.isBuffer(pdu.message_payload) ? pdu.message_payload.toString("hex") : undefined,
    sar: pdu.sar_msg_ref_num === undefined ? undefined : [pdu.sar_msg_ref_num, pdu.sar_total_segments, pdu.sar_segment_seqnum],
  });
  if (tail === "09" && !seenOnce.has(dest)) {
    seenOnce.add(dest);
    log({ event: "drop", destination_addr: dest });
    sessions.delete(session);
    bound.delete(session);
    session.socket.destroy();
    return;
  }
  if (tail === "16") return;
  if (tail === "01") return session.send(pdu.response({ command_status: smpp.ESME_RINVDSTADR }));
  if (tail === "02" && !seenOnce.has(dest)) {
    seenOnce.add(dest);
    return session.send(pdu.response({ command_status: smpp.ESME_RTHROTTLED }));
  }
  const n = nextId++;
  const idInResp = tail === "08" ? n.toString(16).toUpperCase() : String(n);
  const idInReceipt = String(n);
  const outcome = { "03": ["UNDELIV", 5, 27], "04": ["EXPIRED", 3, 0], "05": ["REJECTD", 8, 0] }[tail] || ["DELIVRD", 2, 0];
  if (tail === "06") {
    receipt(session, pdu, idInReceipt, ...outcome);
    setTimeout(() => session.send(pdu.response({ message_id: idInResp })), 300);
    return;
  }
  session.send(pdu.response({ message_id: idInResp }));
  const via = tail === "19" ? otherSession(session) : session;
  const part = partOf(pdu, raw);
  if ((tail === "22" || tail === "23") && part) {
    const [seq, total] = part;
    if (tail === "23" && seq === 2) return setTimeout(() => receipt(via, pdu, idInReceipt, "UNDELIV", 5, 27), 30);
    if (tail === "23" || seq === total) {
      log({ event: "held", destination_addr: dest, id: idInReceipt, seq });
      return held.push(() => receipt(via, pdu, idInReceipt, ...outcome));
    }
  }
  if (tail !== "07") setTimeout(() => receipt(via, pdu, idInReceipt, ...outcome), tail === "17" ? 3000 : 30);
}

// SMSC_TLS_KEY and SMSC_TLS_CERT (PEM files): an smpps:// (TLS) SMSC.
const tlsOptions = process.env.SMSC_TLS_KEY
  ? { key: require("node:fs").readFileSync(process.env.SMSC_TLS_KEY), cert: require("node:fs").readFileSync(process.env.SMSC_TLS_CERT) }
  : {};
const server = smpp.createServer(tlsOptions, (session) => {
  for (const command of ["bind_transceiver", "bind_transmitter", "bind_receiver"]) {
    session.on(command, (pdu) => {
      const ok = pdu.system_id === "test" && pdu.password === "secret";
      if (ok) session.number = nextSession++;
      log({ event: "pdu", command, system_id: pdu.system_id, interface_version: pdu.interface_version, ok, session: session.number });
      session.send(pdu.response({ command_status: ok ? 0 : smpp.ESME_RBINDFAIL, system_id: "smsc-test" }));
      if (ok) {
        bound.add(session);
        if (command !== "bind_transmitter") sessions.add(session);
        setTimeout(flushWaiting, 50);
      }
    });
  }
  session.on("submit_sm", (pdu) => onSubmit(session, pdu));
  session.on("enquire_link", (pdu) => session.send(pdu.response()));
  session.on("unbind", (pdu) => {
    log({ event: "pdu", command: "unbind" });
    session.send(pdu.response());
    session.close();
  });
  const gone = () => {
    sessions.delete(session);
    bound.delete(session);
  };
  session.on("close", gone);
  session.on("error", gone);
});

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (_) {
    return log({ event: "error", message: `not JSON: ${line}` });
  }
  if (cmd.release) {
    while (held.length) held.shift()();
  }
  if (cmd.drop) {
    for (const s of bound) s.socket.destroy();
    sessions.clear();
    bound.clear();
  }
  if (cmd.mo) {
    const dc = cmd.mo.data_coding ?? 0;
    let text = dc === 8 ? Buffer.from(cmd.mo.text, "utf16le").swap16() : Buffer.from(cmd.mo.text, "latin1");
    let esm = 0;
    const sar = {};
    if (cmd.mo.udh) {
      // [ref, total, seq]: an 8-bit concatenation UDH in front of the text.
      text = Buffer.concat([Buffer.from([5, 0, 3, ...cmd.mo.udh]), text]);
      esm = 0x40;
    }
    if (cmd.mo.sar) {
      [sar.sar_msg_ref_num, sar.sar_total_segments, sar.sar_segment_seqnum] = cmd.mo.sar;
    }
    const s = liveSession();
    if (!s) return log({ event: "error", message: "no session to deliver the mobile-originated message on" });
    {
      s.deliver_sm({
        source_addr_ton: 1, source_addr_npi: 1, source_addr: cmd.mo.from,
        dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: cmd.mo.to,
        esm_class: esm, data_coding: dc, short_message: text, ...sar,
      }, (resp) => log({ event: "pdu", command: resp.command, command_status: resp.command_status, of: "mo", from: cmd.mo.from }));
      log({ event: "sent", command: "deliver_sm", kind: "mo", from: cmd.mo.from, to: cmd.mo.to, session: s.number });
    }
  }
});

server.listen(Number(process.argv[2] || 0), "127.0.0.1", () => log({ event: "listening", port: server.address().port }));

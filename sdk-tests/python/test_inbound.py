"""Inbound messages, TwiML replies, opt-outs and Messaging Service sender selection, checked the
way a Twilio customer's application sees them: numbers and services registered with the official
twilio-python SDK, webhooks served by a small app in this test process that validates every
request with the SDK's `RequestValidator` and answers with TwiML built by `MessagingResponse`.

Inbound traffic is simulated with Switchboard's own endpoint
`POST /_switchboard/Accounts/{AccountSid}/Inbound.json` (a real handset cannot text a local
server). Every test owns its numbers (random `+1 AAA 555 NNNN`, never reused in a run), its
handsets and its HTTP servers, which are closed at teardown. Waits poll with a deadline (10 s);
nothing sleeps blindly.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from sbhelpers import FINAL_STATUSES, expect_rest_error

WAIT = 10.0  # seconds allowed for anything asynchronous

# What Twilio sends to an SMS webhook for a text message from a US handset to a US number of an
# account, the number not being in a Messaging Service.
INBOUND_PARAMS = {
    "AccountSid", "ApiVersion", "Body", "From", "FromCity", "FromCountry", "FromState", "FromZip",
    "MessageSid", "NumMedia", "NumSegments", "SmsMessageSid", "SmsSid", "SmsStatus",
    "To", "ToCity", "ToCountry", "ToState", "ToZip",
}  # fmt: skip


# -- numbers --------------------------------------------------------------------------------

_used_numbers: set[str] = set()


def fresh_number(area: str) -> str:
    """A valid-looking US number `+1 <area> 555 NNNN`, never handed out twice in this run."""
    while True:
        number = "+1%s555%04d" % (area, random.randrange(10_000))
        if number not in _used_numbers:
            _used_numbers.add(number)
            return number


# -- HTTP endpoints in the test process -------------------------------------------------------


@dataclass
class Hit:
    """One request an endpoint received."""

    method: str
    path: str  # path and query exactly as on the request line
    url: str  # the full URL the request was made to (what Twilio signs)
    headers: dict[str, str]  # lower-cased names
    pairs: list[tuple[str, str]]  # the form body in order, blanks kept
    valid: bool | None = None  # RequestValidator's verdict, for endpoints that check it
    answered: int = 0

    @property
    def params(self) -> dict[str, str]:
        return dict(self.pairs)

    @property
    def signature(self) -> str | None:
        return self.headers.get("x-twilio-signature")


# answer(hit) -> (HTTP status, body, content type)
Answer = Callable[[Hit], "tuple[int, str, str]"]


@dataclass
class Endpoint:
    """A ThreadingHTTPServer on 127.0.0.1:0 that records every request and answers with `answer`."""

    answer: Answer
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self):
        self._cond = threading.Condition()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                hit = Hit(
                    method=self.command,
                    path=self.path,
                    url=endpoint.base + self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    pairs=parse_qsl(body.decode("utf-8"), keep_blank_values=True),
                )
                try:
                    status, text, content_type = endpoint.answer(hit)
                except Exception as exc:  # a broken handler must show up in the test, not hang it
                    status, text, content_type = 599, repr(exc), "text/plain"
                hit.answered = status
                with endpoint._cond:
                    endpoint.hits.append(hit)
                    endpoint._cond.notify_all()
                data = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _handle
            do_GET = _handle

            def log_message(self, *args):  # keep pytest output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.base = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def snapshot(self) -> list[Hit]:
        with self._cond:
            return list(self.hits)

    def for_message(self, sid: str) -> list[Hit]:
        return [h for h in self.snapshot() if h.params.get("MessageSid") == sid]

    def wait_for(self, count: int, sid: str | None = None, timeout: float = WAIT) -> list[Hit]:
        """Wait until `count` requests (about message `sid`, if given) arrived; return them in order."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [h for h in self.hits if sid is None or h.params.get("MessageSid") == sid]
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(h.path, h.params.get("MessageStatus") or h.params.get("Body"), h.answered) for h in got]
                    raise AssertionError(f"{count} requests{f' for {sid}' if sid else ''} expected within {timeout}s; got {seen}")
                self._cond.wait(remaining)


@pytest.fixture
def endpoints():
    """Factory of endpoints; every one is closed at teardown."""
    made: list[Endpoint] = []

    def make(answer: Answer) -> Endpoint:
        ep = Endpoint(answer)
        made.append(ep)
        return ep

    yield make
    for ep in made:
        ep.close()


def plain(status: int = 200) -> Answer:
    """An endpoint that answers `status` with an empty body (a status-callback receiver)."""
    return lambda hit: (status, "", "text/plain")


def twiml_app(auth_token: str, build: Callable[[dict[str, str]], MessagingResponse]) -> Answer:
    """An inbound SMS app as a Twilio customer writes it with the official SDK: reject a request
    whose X-Twilio-Signature does not validate (403, recorded so the test fails), else answer with
    the TwiML `build(params)` returns."""
    validator = RequestValidator(auth_token)

    def answer(hit: Hit) -> tuple[int, str, str]:
        hit.valid = validator.validate(hit.url, hit.params, hit.signature or "")
        if not hit.valid:
            return 403, "invalid signature", "text/plain"
        return 200, str(build(hit.params)), "application/xml"

    return answer


# -- helpers --------------------------------------------------------------------------------


def poll(fn, what: str, timeout: float = WAIT):
    """Call fn until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout}s (last: {value!r})")
        time.sleep(0.05)


def settle(client, sid: str, timeout: float = WAIT):
    """Fetch the message until it is in a final status; return it."""
    return poll(
        lambda: (m if (m := client.messages(sid).fetch()).status in FINAL_STATUSES else None),
        f"final status of {sid}",
        timeout,
    )


def send_inbound(raw, handset: str, ours: str, body: str, media: list[str] | None = None) -> dict:
    """Simulate the handset texting our number; return the inbound Message JSON (201)."""
    url = f"{raw.base_url}/_switchboard/Accounts/{raw.sid}/Inbound.json"
    data = [("From", handset), ("To", ours), ("Body", body)] + [("MediaUrl", u) for u in media or []]
    resp = raw.request("POST", url, data=data)
    assert resp.status_code == 201, f"POST {url} {data}: HTTP {resp.status_code} {resp.text}"
    msg = resp.json()
    assert msg["direction"] == "inbound", msg
    assert msg["status"] == "receiving", msg
    assert msg["from"] == handset and msg["to"] == ours and msg["body"] == body, msg
    return msg


def replies(client, ours: str, to: str) -> list:
    """The outbound-reply messages from our number to `to`, through the SDK's list."""
    return [m for m in client.messages.list(from_=ours, to=to) if m.direction == "outbound-reply"]


def events(raw, sid: str) -> list[dict]:
    url = f"{raw.base_url}/_switchboard/Accounts/{raw.sid}/Messages/{sid}/Events.json"
    resp = raw.request("GET", url)
    assert resp.status_code == 200, f"GET {url}: HTTP {resp.status_code} {resp.text}"
    return resp.json()["events"]


def assert_signed_by(hit: Hit, url: str, token: str, other_token: str) -> None:
    """The official validator accepts the request over exactly `url`, and only with `token`."""
    assert hit.signature, f"no X-Twilio-Signature: {hit.headers}"
    assert hit.url == url, (hit.url, url)
    assert RequestValidator(token).validate(url, hit.params, hit.signature) is True, (url, hit.params)
    assert RequestValidator(other_token).validate(url, hit.params, hit.signature) is False


def assert_webhook_request(hit: Hit) -> None:
    assert hit.method == "POST", hit.method
    assert hit.headers.get("content-type", "").split(";")[0].strip() == "application/x-www-form-urlencoded", hit.headers
    names = [k for k, _ in hit.pairs]
    assert len(names) == len(set(names)), f"repeated parameters: {hit.pairs}"


# -- 1. an inbound app written with the SDK -----------------------------------------------------


def test_inbound_app_built_with_the_sdk_gets_a_signed_webhook_and_its_twiml_replies_are_delivered(
    client, raw, acct_a, acct_b, endpoints
):
    ours, handset, other = fresh_number("415"), fresh_number("310"), fresh_number("206")
    action_rcv = endpoints(plain(200))
    action_url = action_rcv.base + "/reply-status?reply=second&tenant=a%20b"

    def build(params: dict[str, str]) -> MessagingResponse:
        resp = MessagingResponse()
        resp.message(f"Thanks, you said: {params['Body']}")
        resp.message(f"{params['From']} texted {params['To']}", to=other, action=action_url)
        return resp

    app = endpoints(twiml_app(acct_a.token, build))
    app_url = app.base + "/sms?app=inbound"
    number = client.incoming_phone_numbers.create(phone_number=ours, sms_url=app_url, sms_method="POST")
    assert number.sms_url == app_url and number.sms_method == "POST"

    inbound = send_inbound(raw, handset, ours, "Hello there")
    sid = inbound["sid"]

    # The app got the webhook, signed with the account's token over the exact URL configured.
    hit = app.wait_for(1)[0]
    assert hit.valid is True, f"the app rejected the webhook's signature: {hit.url} {hit.params} {hit.signature}"
    assert_webhook_request(hit)
    assert hit.path == "/sms?app=inbound"
    assert_signed_by(hit, app_url, acct_a.token, acct_b.token)
    p = hit.params
    assert set(p) == INBOUND_PARAMS, sorted(p)
    assert p["MessageSid"] == p["SmsMessageSid"] == p["SmsSid"] == sid
    assert p["AccountSid"] == acct_a.sid
    assert p["ApiVersion"] == "2010-04-01"
    assert (p["From"], p["To"], p["Body"]) == (handset, ours, "Hello there")
    assert (p["NumMedia"], p["NumSegments"], p["SmsStatus"]) == ("0", "1", "received")
    assert (p["FromCountry"], p["ToCountry"]) == ("US", "US")
    assert all(p[k] == "" for k in ("FromCity", "FromState", "FromZip", "ToCity", "ToState", "ToZip")), p

    # Both <Message>s became outbound-reply messages from our number, and were delivered.
    (first,) = poll(lambda: replies(client, ours, handset), f"reply from {ours} to {handset}")
    (second,) = poll(lambda: replies(client, ours, other), f"reply from {ours} to {other}")
    assert first.body == "Thanks, you said: Hello there"
    assert second.body == f"{handset} texted {ours}"
    for reply, to in ((first, handset), (second, other)):
        assert reply.direction == "outbound-reply"
        assert reply.account_sid == acct_a.sid
        assert reply.from_ == ours and reply.to == to
        final = settle(client, reply.sid)
        assert final.status == "delivered", (reply.sid, final.status, final.error_code)
        assert final.direction == "outbound-reply"

    # The second reply's status callbacks went to its action URL, signed; a reply starts
    # queued, so there is no `queued` callback.
    got = action_rcv.wait_for(3, sid=second.sid)
    assert [h.params.get("MessageStatus") for h in action_rcv.for_message(second.sid)] == ["sending", "sent", "delivered"]
    for h in got:
        assert_webhook_request(h)
        assert h.path == "/reply-status?reply=second&tenant=a%20b"
        assert_signed_by(h, action_url, acct_a.token, acct_b.token)
        cb = h.params
        assert cb["MessageSid"] == cb["SmsSid"] == second.sid
        assert cb["SmsStatus"] == cb["MessageStatus"]
        assert (cb["AccountSid"], cb["From"], cb["To"]) == (acct_a.sid, ours, other)
    assert action_rcv.for_message(first.sid) == [], "the first reply has no action: no callbacks"

    # The inbound message itself ends `received`.
    inbound_final = settle(client, sid)
    assert inbound_final.status == "received"
    assert inbound_final.direction == "inbound"
    assert (inbound_final.from_, inbound_final.to, inbound_final.body) == (handset, ours, "Hello there")

    # Exactly one webhook request, and the app never had to reject one.
    assert [(h.path, h.valid) for h in app.snapshot()] == [("/sms?app=inbound", True)]


# -- 2. opt-out ------------------------------------------------------------------------------


def test_opt_out_stop_blocks_sends_from_that_number_with_21610_and_start_restores_them(
    client, raw, acct_a, acct_b, endpoints
):
    ours, other_sender, handset = fresh_number("415"), fresh_number("628"), fresh_number("310")
    app = endpoints(twiml_app(acct_a.token, lambda params: MessagingResponse()))  # an empty <Response/>
    app_url = app.base + "/sms"
    client.incoming_phone_numbers.create(phone_number=ours, sms_url=app_url, sms_method="POST")
    client.incoming_phone_numbers.create(phone_number=other_sender)

    before = client.messages.create(to=handset, from_=ours, body="before STOP")
    assert before.status == "queued"

    stop = send_inbound(raw, handset, ours, "STOP")
    assert settle(client, stop["sid"]).status == "received"

    # Blocked: the create itself is refused, as at Twilio.
    exc = expect_rest_error(client.messages.create, to=handset, from_=ours, body="after STOP")
    assert (exc.status, exc.code) == (400, 21610), (exc.status, exc.code, exc.msg)

    # Another sender of the account is not affected.
    elsewhere = client.messages.create(to=handset, from_=other_sender, body="from another number")
    assert elsewhere.status == "queued"
    assert settle(client, elsewhere.sid).status == "delivered"

    # The webhook was told, and Twilio's confirmation went out although the handset opted out.
    stop_hit = app.wait_for(1)[0]
    assert stop_hit.valid is True
    assert_signed_by(stop_hit, app_url, acct_a.token, acct_b.token)
    assert (stop_hit.params["Body"], stop_hit.params["OptOutType"]) == ("STOP", "STOP"), stop_hit.params
    assert stop_hit.params["MessageSid"] == stop["sid"]
    confirmation = poll(
        lambda: [m for m in replies(client, ours, handset) if "unsubscribed" in m.body.lower()],
        "STOP confirmation reply",
    )
    assert len(confirmation) == 1, [m.body for m in confirmation]
    assert settle(client, confirmation[0].sid).status == "delivered"

    # START lifts the block.
    start = send_inbound(raw, handset, ours, "START")
    assert settle(client, start["sid"]).status == "received"
    start_hit = app.wait_for(2)[1]
    assert start_hit.valid is True
    assert (start_hit.params["Body"], start_hit.params["OptOutType"]) == ("START", "START"), start_hit.params
    again = client.messages.create(to=handset, from_=ours, body="welcome back")
    assert again.status == "queued"
    assert settle(client, again.sid).status == "delivered"
    assert settle(client, before.sid).status == "delivered"
    assert all(h.valid for h in app.snapshot())


# -- 3. sticky sender -------------------------------------------------------------------------


def test_sticky_sender_keeps_one_pool_number_per_recipient_and_the_pool_spreads_across_recipients(
    client, acct_a, endpoints
):
    callbacks = endpoints(plain(200))
    callback_url = callbacks.base + "/service-status"
    svc = client.messaging.v1.services.create(
        friendly_name="sticky sender", sticky_sender=True, status_callback=callback_url
    )
    pool = [fresh_number(area) for area in ("206", "303", "312")]
    pool_sids = []
    for number in pool:
        pn = client.incoming_phone_numbers.create(phone_number=number)
        added = client.messaging.v1.services(svc.sid).phone_numbers.create(phone_number_sid=pn.sid)
        assert (added.sid, added.phone_number, added.service_sid) == (pn.sid, number, svc.sid)
        pool_sids.append(pn.sid)

    fetched = client.messaging.v1.services(svc.sid).fetch()
    assert fetched.sticky_sender is True
    assert fetched.area_code_geomatch is True  # Twilio's default; no pool number matches below
    assert fetched.status_callback == callback_url
    listed = client.messaging.v1.services(svc.sid).phone_numbers.list()
    assert sorted((n.sid, n.phone_number) for n in listed) == sorted(zip(pool_sids, pool))

    def send(to: str, body: str):
        msg = client.messages.create(to=to, messaging_service_sid=svc.sid, body=body)
        assert msg.status == "accepted", msg.status
        assert msg.num_segments == "0" and msg.from_ is None, (msg.num_segments, msg.from_)
        assert msg.messaging_service_sid == svc.sid
        return msg

    def delivered_sender(msg) -> str:
        final = settle(client, msg.sid)
        assert final.status == "delivered", (msg.sid, final.status, final.error_code)
        assert final.num_segments == "1"
        return final.from_

    # Five messages to one recipient, one after the other as an application sends them (each
    # create waits for its 201; none waits for the previous message's sender to be chosen).
    recipient = fresh_number("512")
    burst = [send(recipient, f"sticky {i}") for i in range(5)]
    senders = [delivered_sender(m) for m in burst]
    assert len(set(senders)) == 1, f"sticky sender: {recipient} got {senders}"
    assert senders[0] in pool

    # The service's status callback saw each message queued (once the sender was chosen) and
    # then delivered, from the chosen sender.
    for msg in burst:
        got = callbacks.wait_for(4, sid=msg.sid)
        assert [h.params["MessageStatus"] for h in got] == ["queued", "sending", "sent", "delivered"]
        assert {(h.params["From"], h.params.get("MessagingServiceSid")) for h in got} == {(senders[0], svc.sid)}
        for h in got:
            assert RequestValidator(acct_a.token).validate(callback_url, h.params, h.signature) is True

    # Other recipients (no area code of the pool either) are spread over the pool.
    others = [fresh_number(area) for area in ("702", "404", "617")]
    spread = [delivered_sender(send(to, "spread")) for to in others]
    assert set(spread) <= set(pool), spread
    assert len(set(spread)) > 1, f"three new recipients all got {spread[0]} from a pool of {pool}"

    # And the first recipient still has its sender.
    assert delivered_sender(send(recipient, "still sticky")) == senders[0]


# -- 4. fallback URL ---------------------------------------------------------------------------


def test_webhook_answering_500_falls_back_to_the_fallback_url_whose_twiml_is_sent_and_11200_is_recorded(
    client, raw, acct_a, acct_b, endpoints
):
    ours, handset = fresh_number("415"), fresh_number("310")
    primary = endpoints(plain(500))

    def backup(params: dict[str, str]) -> MessagingResponse:
        resp = MessagingResponse()
        resp.message("Sorry, we are on the backup")
        return resp

    fallback = endpoints(twiml_app(acct_a.token, backup))
    primary_url = primary.base + "/sms"
    fallback_url = fallback.base + "/sms-fallback?why=primary%20down"
    number = client.incoming_phone_numbers.create(
        phone_number=ours,
        sms_url=primary_url,
        sms_method="POST",
        sms_fallback_url=fallback_url,
        sms_fallback_method="POST",
    )
    assert (number.sms_fallback_url, number.sms_fallback_method) == (fallback_url, "POST")

    inbound = send_inbound(raw, handset, ours, "anyone there?")
    sid = inbound["sid"]

    first = primary.wait_for(1)[0]
    second = fallback.wait_for(1)[0]
    assert second.valid is True, "the fallback app rejected the signature"
    assert_signed_by(first, primary_url, acct_a.token, acct_b.token)
    assert_signed_by(second, fallback_url, acct_a.token, acct_b.token)
    assert first.params == second.params  # the same request, signed for its own URL
    assert second.params["MessageSid"] == sid and second.params["Body"] == "anyone there?"

    (reply,) = poll(lambda: replies(client, ours, handset), "the fallback's reply")
    assert reply.body == "Sorry, we are on the backup"
    assert settle(client, reply.sid).status == "delivered"
    assert settle(client, sid).status == "received"

    evts = events(raw, sid)
    for e in evts:
        assert set(e) == {"date", "from_status", "status", "error_code", "detail"}, e
    assert [e for e in evts if e["error_code"] == 11200], evts
    # Twilio does not retry a webhook that answered 500 (only connection failures, by default).
    assert len(primary.snapshot()) == 1 and len(fallback.snapshot()) == 1

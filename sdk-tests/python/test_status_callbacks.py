"""Status callbacks, checked the way a Twilio customer checks them: with twilio-python's own
`RequestValidator`, against a receiver running in this test process.

Every test has its own receiver (a `ThreadingHTTPServer` on 127.0.0.1:0) that records each
request's method, path with query, headers and raw body, and answers with a status chosen per
test (200 unless a test scripts failures). Waits poll with a deadline; nothing sleeps blindly.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from sbhelpers import unique_number, wait_for_status

SENDER = "+14155550100"
CALLBACK_PATH = "/status?tenant=a%20b&x=1"  # a query string with an escape, signed as written
WAIT = 10.0  # seconds allowed for any expected callback sequence

BASE_PARAMS = {"AccountSid", "ApiVersion", "From", "MessageSid", "MessageStatus", "SmsSid", "SmsStatus", "To"}
PARAMS_BY_STATUS = {
    "sending": BASE_PARAMS,
    "sent": BASE_PARAMS,
    "delivered": BASE_PARAMS | {"RawDlrDoneDate"},
    "failed": BASE_PARAMS | {"ErrorCode"},
    "undelivered": BASE_PARAMS | {"ErrorCode", "RawDlrDoneDate"},
}


# -- the receiver ---------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str  # path and query string exactly as sent on the request line
    headers: dict[str, str]  # lower-cased names
    body: bytes
    pairs: list[tuple[str, str]]  # the form body in order, blanks kept
    answered: int  # the HTTP status the receiver answered
    at: float  # time.monotonic() on arrival

    @property
    def params(self) -> dict[str, str]:
        return dict(self.pairs)

    @property
    def signature(self) -> str | None:
        return self.headers.get("x-twilio-signature")

    @property
    def token(self) -> str | None:
        return self.headers.get("i-twilio-idempotency-token")


@dataclass
class CallbackReceiver:
    """Records every request; `respond(index, request)` picks the status (default 200)."""

    respond: Callable[[int, Received], int] = lambda index, req: 200
    received: list[Received] = field(default_factory=list)

    def __post_init__(self):
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
                with receiver._cond:
                    req = Received(self.command, self.path, headers, body, pairs, 0, time.monotonic())
                    req.answered = receiver.respond(len(receiver.received), req)
                    receiver.received.append(req)
                    receiver._cond.notify_all()
                self.send_response(req.answered)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = _record
            do_GET = _record

            def log_message(self, *args):  # keep pytest output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.base = f"http://{host}:{port}"

    def close(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def for_message(self, sid: str) -> list[Received]:
        with self._cond:
            return [r for r in self.received if r.params.get("MessageSid") == sid]

    def wait_for(self, sid: str, count: int, timeout: float = WAIT) -> list[Received]:
        """Wait until `count` requests for message `sid` arrived; return them in arrival order."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self.received if r.params.get("MessageSid") == sid]
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(r.params.get("MessageStatus"), r.answered) for r in got]
                    raise AssertionError(f"{count} callbacks for {sid} expected within {timeout}s; got {seen}")
                self._cond.wait(remaining)


def fail_first(status: int) -> Callable[[int, Received], int]:
    """Answer `status` to the first request, 200 to the rest."""
    return lambda index, req: status if index == 0 else 200


@pytest.fixture
def receiver():
    rcv = CallbackReceiver()
    yield rcv
    rcv.close()


@pytest.fixture
def make_receiver():
    """For tests that script the receiver's answers; every receiver is closed at teardown."""
    made: list[CallbackReceiver] = []

    def make(respond: Callable[[int, Received], int]) -> CallbackReceiver:
        rcv = CallbackReceiver(respond=respond)
        made.append(rcv)
        return rcv

    yield make
    for rcv in made:
        rcv.close()


# -- helpers --------------------------------------------------------------------------------


def callbacks_log(raw, account_sid: str, sid: str) -> dict:
    url = f"{raw.base_url}/_switchboard/Accounts/{account_sid}/Messages/{sid}/Callbacks.json"
    resp = raw.request("GET", url)
    assert resp.status_code == 200, f"GET {url}: HTTP {resp.status_code} {resp.text}"
    body = resp.json()
    assert body["message_sid"] == sid, body
    return body


def wait_for_callbacks_log(raw, account_sid: str, sid: str, count: int, timeout: float = WAIT) -> list[dict]:
    """Poll Callbacks.json until it lists `count` callbacks, none of them still pending."""
    deadline = time.monotonic() + timeout
    while True:
        callbacks = callbacks_log(raw, account_sid, sid)["callbacks"]
        if len(callbacks) >= count and all(cb["state"] != "pending" for cb in callbacks):
            return callbacks
        if time.monotonic() > deadline:
            raise AssertionError(
                f"Callbacks.json of {sid}: {count} settled callbacks expected within {timeout}s; got {callbacks}"
            )
        time.sleep(0.02)


def assert_raw_dlr_done_date(value: str) -> None:
    """RawDlrDoneDate is YYMMDDhhmm, the receipt time in UTC: now, give or take clock skew."""
    assert re.fullmatch(r"\d{10}", value), value
    at = dt.datetime.strptime(value, "%y%m%d%H%M").replace(tzinfo=dt.timezone.utc)
    now = dt.datetime.now(dt.timezone.utc)
    assert now - dt.timedelta(minutes=5) <= at <= now + dt.timedelta(minutes=1), (value, now)


def assert_twilio_request(req: Received, path: str) -> None:
    """What every status callback looks like on the wire."""
    assert req.method == "POST"
    assert req.path == path
    assert req.headers.get("content-type", "").split(";")[0].strip() == "application/x-www-form-urlencoded", req.headers
    assert req.headers.get("user-agent") == "TwilioProxy/1.1", req.headers
    assert req.signature, f"no X-Twilio-Signature: {req.headers}"
    assert req.token, f"no I-Twilio-Idempotency-Token: {req.headers}"
    names = [k for k, _ in req.pairs]
    assert len(names) == len(set(names)), f"repeated parameters: {req.pairs}"


def assert_params(req: Received, *, account_sid: str, sid: str, to: str, from_: str, status: str, error_code):
    p = req.params
    assert set(p) == PARAMS_BY_STATUS[status], f"{status}: {sorted(p)}"
    assert p["AccountSid"] == account_sid
    assert p["ApiVersion"] == "2010-04-01"
    assert p["From"] == from_
    assert p["To"] == to
    assert p["MessageSid"] == sid and p["SmsSid"] == sid
    assert p["MessageStatus"] == status and p["SmsStatus"] == status
    if "ErrorCode" in p:
        assert p["ErrorCode"] == str(error_code), p
    if "RawDlrDoneDate" in p:
        assert_raw_dlr_done_date(p["RawDlrDoneDate"])


def tampered(params: dict[str, str]) -> dict[str, str]:
    changed = dict(params)
    changed["MessageStatus"] = "read" if params["MessageStatus"] != "read" else "sent"
    return changed


def assert_signed(req: Received, url: str, token: str, other_token: str) -> None:
    """The official validator accepts the callback as sent, and rejects it when anything differs."""
    params = req.params
    assert RequestValidator(token).validate(url, params, req.signature) is True, (url, params, req.signature)
    assert RequestValidator(token).compute_signature(url, params) == req.signature  # the URL exactly as configured
    assert RequestValidator(other_token).validate(url, params, req.signature) is False
    assert RequestValidator(token).validate(url, tampered(params), req.signature) is False


# -- one message per simulator outcome ------------------------------------------------------

OUTCOMES = [
    pytest.param("+14155552671", ["sending", "sent", "delivered"], None, id="ordinary number: sending, sent, delivered"),
    pytest.param("+15005550300", ["sending", "sent"], None, id="+15005550300: sending, sent"),
    pytest.param("+15005550301", ["sending", "failed"], 30001, id="+15005550301: sending, failed 30001"),
    pytest.param("+15005550302", ["sending", "failed"], 30002, id="+15005550302: sending, failed 30002"),
    *[
        pytest.param(
            f"+1500555030{n}",
            ["sending", "sent", "undelivered"],
            30000 + n,
            id=f"+1500555030{n}: sending, sent, undelivered 3000{n}",
        )
        for n in range(3, 9)
    ],
]


@pytest.mark.parametrize("to, statuses, error_code", OUTCOMES)
def test_status_callbacks_arrive_in_order_with_twilio_params_and_valid_signatures(
    client, raw, acct_a, acct_b, receiver, to, statuses, error_code
):
    url = receiver.base + CALLBACK_PATH
    msg = client.messages.create(to=to, from_=SENDER, body="callback me", status_callback=url)
    assert msg.status == "queued"

    got = receiver.wait_for(msg.sid, len(statuses))
    log = wait_for_callbacks_log(raw, acct_a.sid, msg.sid, len(statuses))

    # No callback for the initial `queued`; one per later change, in order, each sent once.
    assert [r.params["MessageStatus"] for r in receiver.for_message(msg.sid)] == statuses
    assert len(log) == len(statuses), log
    for req, status in zip(got, statuses):
        assert_twilio_request(req, CALLBACK_PATH)
        assert_params(req, account_sid=acct_a.sid, sid=msg.sid, to=to, from_=SENDER, status=status, error_code=error_code)
        assert_signed(req, url, acct_a.token, acct_b.token)
    tokens = [r.token for r in got]
    assert len(set(tokens)) == len(tokens), f"each callback has its own idempotency token: {tokens}"

    # Callbacks.json records exactly what was sent, and one successful attempt each.
    for entry, req in zip(log, got):
        assert entry["url"] == url
        assert entry["method"] == "POST"
        assert entry["params"] == req.params
        assert entry["idempotency_token"] == req.token
        assert entry["state"] == "delivered", entry
        assert [a["http_status"] for a in entry["attempts"]] == [200], entry

    # The message as the SDK sees it agrees with the last callback.
    final = wait_for_status(client, msg.sid, statuses[-1])
    assert final.status == statuses[-1]
    assert final.error_code == error_code


def test_message_to_15005550300_gets_sending_and_sent_callbacks_and_no_more(client, raw, acct_a, receiver):
    url = receiver.base + CALLBACK_PATH
    stuck = client.messages.create(to="+15005550300", from_=SENDER, body="no receipt", status_callback=url)
    receiver.wait_for(stuck.sid, 2)
    # A companion queued afterwards: once its `delivered` callback is in, the simulator has had
    # every chance to move the stuck message on, and the outbox would hold a third callback.
    companion = client.messages.create(to=unique_number(), from_=SENDER, body="companion", status_callback=url)
    receiver.wait_for(companion.sid, 3)
    wait_for_callbacks_log(raw, acct_a.sid, companion.sid, 3)

    assert client.messages(stuck.sid).fetch().status == "sent"
    assert [r.params["MessageStatus"] for r in receiver.for_message(stuck.sid)] == ["sending", "sent"]
    log = wait_for_callbacks_log(raw, acct_a.sid, stuck.sid, 2)
    assert [cb["params"]["MessageStatus"] for cb in log] == ["sending", "sent"]


def test_callbacks_of_another_account_are_signed_with_that_accounts_token(client_b, raw, acct_a, acct_b, receiver):
    url = receiver.base + CALLBACK_PATH
    msg = client_b.messages.create(to=unique_number(), from_=SENDER, body="from B", status_callback=url)

    got = receiver.wait_for(msg.sid, 3)

    assert [r.params["MessageStatus"] for r in got] == ["sending", "sent", "delivered"]
    for req in got:
        assert req.params["AccountSid"] == acct_b.sid
        assert_signed(req, url, acct_b.token, acct_a.token)


def test_request_validator_rejects_a_callback_with_any_part_changed(client, acct_a, receiver):
    url = receiver.base + CALLBACK_PATH
    msg = client.messages.create(to=unique_number(), from_=SENDER, body="tamper", status_callback=url)
    req = receiver.wait_for(msg.sid, 3)[-1]
    params, sig = req.params, req.signature
    validator = RequestValidator(acct_a.token)
    assert validator.validate(url, params, sig) is True

    missing = {k: v for k, v in params.items() if k != "RawDlrDoneDate"}
    extra = {**params, "ErrorCode": "30001"}
    to_changed = {**params, "To": "+15558675310"}
    assert validator.validate(url, missing, sig) is False
    assert validator.validate(url, extra, sig) is False
    assert validator.validate(url, to_changed, sig) is False
    assert validator.validate(receiver.base + "/status?tenant=a%20b&x=2", params, sig) is False
    assert validator.validate(receiver.base + "/status", params, sig) is False
    assert validator.validate(url.replace("http://", "https://"), params, sig) is False
    assert validator.validate(url, params, sig[:-2] + ("A=" if sig[-2:] != "A=" else "B=")) is False


# -- retries --------------------------------------------------------------------------------


def test_callback_answered_500_is_retried_with_the_same_idempotency_token(client, raw, acct_a, acct_b, make_receiver):
    rcv = make_receiver(fail_first(500))
    url = rcv.base + CALLBACK_PATH
    msg = client.messages.create(to=unique_number(), from_=SENDER, body="retry me", status_callback=url)

    got = rcv.wait_for(msg.sid, 4)
    log = wait_for_callbacks_log(raw, acct_a.sid, msg.sid, 3)

    # The later callbacks wait for the retried one: the order holds.
    assert [(r.params["MessageStatus"], r.answered) for r in got] == [
        ("sending", 500),
        ("sending", 200),
        ("sent", 200),
        ("delivered", 200),
    ]
    first, retry = got[0], got[1]
    assert retry.token == first.token
    assert retry.params == first.params
    assert len({first.token, got[2].token, got[3].token}) == 3
    assert retry.at - first.at >= 0.5, f"retry came {retry.at - first.at:.3f}s after the 500 (backoff starts at ~1 s)"
    for req in got:
        assert_twilio_request(req, CALLBACK_PATH)
        assert_signed(req, url, acct_a.token, acct_b.token)

    assert [cb["params"]["MessageStatus"] for cb in log] == ["sending", "sent", "delivered"]
    assert log[0]["idempotency_token"] == first.token
    assert [a["http_status"] for a in log[0]["attempts"]] == [500, 200], log[0]
    assert log[0]["state"] == "delivered"
    assert [[a["http_status"] for a in cb["attempts"]] for cb in log[1:]] == [[200], [200]]


def test_callback_answered_404_is_not_retried_and_later_callbacks_still_go_out(client, raw, acct_a, make_receiver):
    rcv = make_receiver(fail_first(404))
    url = rcv.base + CALLBACK_PATH
    msg = client.messages.create(to=unique_number(), from_=SENDER, body="gone", status_callback=url)

    got = rcv.wait_for(msg.sid, 3)
    log = wait_for_callbacks_log(raw, acct_a.sid, msg.sid, 3)

    assert [(r.params["MessageStatus"], r.answered) for r in rcv.for_message(msg.sid)] == [
        ("sending", 404),
        ("sent", 200),
        ("delivered", 200),
    ]
    assert len({r.token for r in got}) == 3
    assert log[0]["state"] == "failed", log[0]
    assert [a["http_status"] for a in log[0]["attempts"]] == [404], log[0]
    assert [cb["state"] for cb in log[1:]] == ["delivered", "delivered"]


def test_rc0_fragment_disables_retries_and_is_not_sent_to_the_receiver(client, raw, acct_a, acct_b, make_receiver):
    rcv = make_receiver(fail_first(500))
    requested = rcv.base + CALLBACK_PATH  # what the receiver is asked for, and can rebuild
    url = requested + "#rc=0"
    msg = client.messages.create(to=unique_number(), from_=SENDER, body="once only", status_callback=url)

    got = rcv.wait_for(msg.sid, 3)
    log = wait_for_callbacks_log(raw, acct_a.sid, msg.sid, 3)

    assert [(r.params["MessageStatus"], r.answered) for r in rcv.for_message(msg.sid)] == [
        ("sending", 500),
        ("sent", 200),
        ("delivered", 200),
    ]
    for req in got:
        assert_twilio_request(req, CALLBACK_PATH)  # no fragment on the wire
        # Signed over the URL that was requested: a receiver never sees the fragment.
        assert_signed(req, requested, acct_a.token, acct_b.token)
    assert log[0]["state"] == "failed", log[0]
    assert [a["http_status"] for a in log[0]["attempts"]] == [500], log[0]
    assert [cb["state"] for cb in log[1:]] == ["delivered", "delivered"]
    assert all(cb["url"].split("#")[0] == requested for cb in log), [cb["url"] for cb in log]
    assert client.messages(msg.sid).fetch().status == "delivered"

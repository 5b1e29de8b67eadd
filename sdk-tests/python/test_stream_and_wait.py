"""The event stream (/_switchboard/…/Stream) and the wait API (/_switchboard/…/Messages/Next.json),
with messages sent by the official twilio-python SDK."""

from __future__ import annotations

import json
import socket
import threading
import time

import requests

from sbhelpers import assert_twilio_error, unique_number, wait_for_status

SENDER = "+15005550006"
LIFECYCLE = ["queued", "sending", "sent", "delivered"]


class SseStream:
    """An open event stream: events parsed by a reader thread, read with a timeout."""

    def __init__(self, base_url: str, account, last_event_id: str | None = None, auth=None):
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.resp = requests.get(
            f"{base_url}/_switchboard/Accounts/{account.sid}/Stream",
            auth=auth or (account.sid, account.token),
            headers=headers,
            stream=True,
            timeout=(5, 60),
        )
        self.events: list[dict] = []
        self.cond = threading.Condition()
        if self.resp.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        event = {"event": "message", "id": None, "data": ""}
        try:
            for line in self.resp.iter_lines(chunk_size=None, decode_unicode=True):
                if line == "":
                    if event["data"]:
                        with self.cond:
                            self.events.append(event)
                            self.cond.notify_all()
                    event = {"event": "message", "id": None, "data": ""}
                elif line.startswith("event:"):
                    event["event"] = line[6:].strip()
                elif line.startswith("id:"):
                    event["id"] = line[3:].strip()
                elif line.startswith("data:"):
                    event["data"] += line[5:].lstrip(" ")
        except Exception:  # the test closed the stream
            pass

    def wait_until(self, predicate, timeout: float = 10.0) -> list[dict]:
        """Events so far, once `predicate(events)` holds (fails after `timeout`)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.events):
                left = deadline - time.monotonic()
                assert left > 0, f"stream did not get there within {timeout}s; saw {self.summary()}"
                self.cond.wait(left)
            return list(self.events)

    def quiet_for(self, seconds: float) -> list[dict]:
        """Events after no new one arrived for `seconds`."""
        while True:
            with self.cond:
                n = len(self.events)
                self.cond.wait(seconds)
                if len(self.events) == n:
                    return list(self.events)

    def summary(self) -> list[tuple]:
        return [(e["id"], *(lambda m: (m.get("sid"), m.get("status")))(json.loads(e["data"]))) for e in self.events]

    def close(self) -> None:
        """Drops the connection at once (a plain close would wait for the reader's next read)."""
        conn = getattr(self.resp.raw, "connection", None)
        sock = getattr(conn, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.resp.close()


def statuses(events: list[dict], sid: str) -> list[str]:
    return [json.loads(e["data"])["status"] for e in events if e["event"] == "message" and json.loads(e["data"])["sid"] == sid]


def delivered(sid: str):
    return lambda events: "delivered" in statuses(events, sid)


def test_the_stream_carries_each_message_as_the_api_renders_it(base_url, acct_a, client, raw):
    stream = SseStream(base_url, acct_a)
    try:
        assert stream.resp.status_code == 200
        assert stream.resp.headers["Content-Type"].startswith("text/event-stream")
        msg = client.messages.create(to=unique_number(), from_=SENDER, body="streamed")
        events = stream.wait_until(delivered(msg.sid))
        assert statuses(events, msg.sid) == LIFECYCLE
        ids = [int(e["id"]) for e in events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
        last = [json.loads(e["data"]) for e in events if json.loads(e["data"])["sid"] == msg.sid][-1]
        assert last == raw.request("GET", raw.message_url(msg.sid)).json()
    finally:
        stream.close()


def test_resuming_with_last_event_id_after_a_disconnect_loses_nothing(base_url, acct_a, client):
    stream = SseStream(base_url, acct_a)
    first = client.messages.create(to=unique_number(), from_=SENDER, body="before the disconnect")
    events = stream.wait_until(delivered(first.sid))
    resume_at = events[-1]["id"]
    stream.close()

    missed = [client.messages.create(to=unique_number(), from_=SENDER, body=f"while away {i}") for i in range(3)]
    for m in missed:
        wait_for_status(client, m.sid, "delivered")

    resumed = SseStream(base_url, acct_a, last_event_id=resume_at)
    try:
        events = resumed.wait_until(lambda evs: all("delivered" in statuses(evs, m.sid) for m in missed))
        assert all(int(e["id"]) > int(resume_at) for e in events), resumed.summary()
        assert statuses(events, first.sid) == [], "nothing from before the resume point"
        for m in missed:
            assert statuses(events, m.sid) == LIFECYCLE, resumed.summary()
        # Then live again: a new message arrives on the resumed stream.
        after = client.messages.create(to=unique_number(), from_=SENDER, body="after the resume")
        resumed.wait_until(delivered(after.sid))
    finally:
        resumed.close()


def next_url(base_url: str, account_sid: str) -> str:
    return f"{base_url}/_switchboard/Accounts/{account_sid}/Messages/Next.json"


def test_next_returns_within_one_second_of_the_create(base_url, acct_a, client, raw):
    to = unique_number()
    cursor = client.messages.create(to=to, from_=SENDER, body="older message")
    result: dict = {}

    def wait():
        resp = raw.request("GET", next_url(base_url, acct_a.sid),
                           params={"To": to, "After": cursor.sid, "BodyContains": "code", "Timeout": "10"})
        result.update(resp=resp, at=time.monotonic())

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    client.messages.create(to=to, from_=SENDER, body="no digits here")
    created_at = time.monotonic()
    otp = client.messages.create(to=to, from_=SENDER, body="Your code is 731904")
    waiter.join(15)
    resp = result["resp"]
    assert resp.status_code == 200, resp.text
    assert resp.json()["sid"] == otp.sid
    assert resp.json()["body"] == "Your code is 731904"
    assert result["at"] - created_at < 1.0, f"answered {result['at'] - created_at:.3f}s after the create"


def test_next_without_a_cursor_answers_the_newest_match_and_waits_for_a_status(base_url, acct_a, client, raw):
    to = unique_number()
    older = client.messages.create(to=to, from_=SENDER, body="one")
    newer = client.messages.create(to=to, from_=SENDER, body="two")
    resp = raw.request("GET", next_url(base_url, acct_a.sid), params={"To": to})
    assert resp.status_code == 200 and resp.json()["sid"] == newer.sid, resp.text
    resp = raw.request("GET", next_url(base_url, acct_a.sid),
                       params={"To": to, "After": older.sid, "Status": "delivered", "Timeout": "10"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["sid"] == newer.sid and resp.json()["status"] == "delivered"


def test_next_times_out_with_a_twilio_shaped_408(base_url, acct_a, raw):
    started = time.monotonic()
    resp = raw.request("GET", next_url(base_url, acct_a.sid), params={"To": unique_number(), "Timeout": "1"})
    assert_twilio_error(resp, 408, 20408)
    assert 1.0 <= time.monotonic() - started < 5.0


def test_another_accounts_credentials_get_nothing(base_url, acct_a, acct_b, client, raw):
    # B cannot open A's stream or wait on A's messages: both answer like an unknown resource.
    as_b = SseStream(base_url, acct_a, auth=(acct_b.sid, acct_b.token))
    assert as_b.resp.status_code == 404
    as_b.close()
    resp = requests.get(next_url(base_url, acct_a.sid), auth=(acct_b.sid, acct_b.token), params={"Timeout": "0"}, timeout=15)
    assert resp.status_code == 404

    # B's own stream and wait never see A's messages.
    b_stream = SseStream(base_url, acct_b)
    try:
        to = unique_number()
        waiter_result: dict = {}
        waiter = threading.Thread(target=lambda: waiter_result.update(resp=requests.get(
            next_url(base_url, acct_b.sid), auth=(acct_b.sid, acct_b.token), params={"To": to, "Timeout": "2"}, timeout=15)))
        waiter.start()
        msg = client.messages.create(to=to, from_=SENDER, body="private to A")
        wait_for_status(client, msg.sid, "delivered")
        waiter.join(15)
        assert_twilio_error(waiter_result["resp"], 408, 20408)
        events = b_stream.quiet_for(0.5)
        assert statuses(events, msg.sid) == [], b_stream.summary()
    finally:
        b_stream.close()
    resp = requests.get(f"{base_url}/_switchboard/Accounts/{acct_a.sid}/Stream", timeout=5)
    assert resp.status_code == 401

"""Helpers shared by the Python SDK tests: the redirecting HTTP client, polling, unique numbers."""

from __future__ import annotations

import itertools
import json
import random
import re
import time
from typing import Iterable

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.base.page import Page
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

HTTP_TIMEOUT = 15  # seconds, for every request the SDK or the raw helper sends

FINAL_STATUSES = {"delivered", "undelivered", "failed", "canceled", "read", "received"}
TWILIO_HOST_RE = re.compile(r"^https://[a-z0-9.-]+\.twilio\.com")


class LocalTwilioHttpClient(TwilioHttpClient):
    """The proven recipe: rewrite https://*.twilio.com to the local server, for every request.

    Next pages are built by the SDK as https://api.twilio.com + next_page_uri, so they pass
    through here too.
    """

    def __init__(self, base_url: str, **kwargs):
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        super().__init__(**kwargs)
        self.local_base_url = base_url.rstrip("/")
        self.seen_urls: list[str] = []

    def request(self, method, url, *args, **kwargs):
        url = TWILIO_HOST_RE.sub(self.local_base_url, url)
        self.seen_urls.append(url)
        return super().request(method, url, *args, **kwargs)


def make_client(base_url: str, sid: str, token: str) -> Client:
    return Client(sid, token, http_client=LocalTwilioHttpClient(base_url))


_counter = itertools.count(random.randrange(0, 9_000_000))


def unique_number() -> str:
    """A fresh valid-looking E.164 number (+1555 fictional range), unique within this run."""
    return "+1555%07d" % (next(_counter) % 10_000_000)


def wait_for_status(client: Client, sid: str, wanted: Iterable[str] | str, timeout: float = 10.0):
    """Poll fetch until the message's status is one of `wanted`; return the fetched instance."""
    wanted = {wanted} if isinstance(wanted, str) else set(wanted)
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        msg = client.messages(sid).fetch()
        if not seen or seen[-1] != msg.status:
            seen.append(msg.status)
        if msg.status in wanted:
            return msg
        if time.monotonic() > deadline:
            raise AssertionError(f"message {sid} did not reach {sorted(wanted)} within {timeout}s; statuses seen: {seen}")
        time.sleep(0.02)


def expect_rest_error(fn, *args, **kwargs) -> TwilioRestException:
    """Call fn and return the TwilioRestException it raises (fail if it does not raise)."""
    try:
        result = fn(*args, **kwargs)
    except TwilioRestException as exc:
        return exc
    raise AssertionError(f"expected TwilioRestException, got {result!r}")


def expect_page_error(fn, *args, **kwargs) -> tuple[int, int]:
    """Call a list/page/stream function that must fail; return (HTTP status, Twilio code).

    twilio-python raises TwilioRestException for create/fetch/update/delete, but for a list page
    that is not HTTP 200 it raises a plain TwilioException("Unable to fetch page", response);
    the code then comes from the response body.
    """
    try:
        result = fn(*args, **kwargs)
        if not isinstance(result, (list, Page)):
            result = list(result)  # drain a stream generator
    except TwilioRestException as exc:
        return exc.status, exc.code
    except TwilioException as exc:
        assert len(exc.args) == 2 and exc.args[0] == "Unable to fetch page", exc.args
        response = exc.args[1]
        body = json.loads(response.text)
        assert body["status"] == response.status_code, body
        return response.status_code, body["code"]
    raise AssertionError(f"expected the page request to fail, got {result!r}")


class RawApi:
    """Plain HTTP against the server, for requests the SDK cannot express."""

    def __init__(self, base_url: str, sid: str, token: str):
        self.base_url = base_url.rstrip("/")
        self.sid = sid
        self.session = requests.Session()
        self.session.auth = (sid, token)

    def messages_url(self, account_sid: str | None = None) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{account_sid or self.sid}/Messages.json"

    def message_url(self, msg_sid: str, account_sid: str | None = None) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{account_sid or self.sid}/Messages/{msg_sid}.json"

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return self.session.request(method, url, **kwargs)

    def create(self, data) -> requests.Response:
        return self.request("POST", self.messages_url(), data=data)

    def list(self, params) -> requests.Response:
        return self.request("GET", self.messages_url(), params=params)


def assert_twilio_error(resp: requests.Response, status: int, code: int) -> dict:
    """The response is Twilio's legacy error JSON with this HTTP status and code."""
    assert resp.status_code == status, f"HTTP {resp.status_code} {resp.text}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert body["code"] == code, body
    assert body["status"] == status, body
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}", body
    assert isinstance(body["message"], str) and body["message"], body
    # type+title would make the SDKs raise their RFC 9457 exception class instead.
    assert not ({"type", "title"} <= body.keys()), body
    return body

"""Twilio error codes as the official SDK surfaces them (TwilioRestException.code / .status)."""

from __future__ import annotations

import pytest
from twilio.rest import Client

from sbhelpers import (
    LocalTwilioHttpClient,
    assert_twilio_error,
    expect_page_error,
    expect_rest_error,
    make_client,
    unique_number,
    wait_for_status,
)

SENDER = "+15005550006"
UNKNOWN_SM = "SM" + "0" * 31 + "1"


def _base(**overrides):
    kwargs = {"to": unique_number(), "from_": SENDER, "body": "error case"}
    kwargs.update(overrides)
    # `to` is a required positional argument of create(); None makes the SDK omit it.
    return {k: v for k, v in kwargs.items() if v is not None or k == "to"}


def _same_number():
    n = unique_number()
    return {"to": n, "from_": n}


CREATE_ERRORS = [
    # (id, kwargs for messages.create, expected code)
    ("missing To is 21604", lambda: _base(to=None), 21604),
    ("invalid To 'abc' is 21211", lambda: _base(to="abc"), 21211),
    ("neither From nor MessagingServiceSid is 21603", lambda: _base(from_=None), 21603),
    ("no Body/MediaUrl/ContentSid is 21602", lambda: _base(body=None), 21602),
    ("Body of 1601 chars is 21617", lambda: _base(body="a" * 1601), 21617),
    ("11 MediaUrl is 21623", lambda: _base(media_url=[f"https://example.com/{i}.png" for i in range(11)]), 21623),
    ("ftp MediaUrl is 21620", lambda: _base(media_url=["ftp://example.com/a.png"]), 21620),
    ("StatusCallback 'not a url' is 21609", lambda: _base(status_callback="not a url"), 21609),
    ("From '+1' is 21212", lambda: _base(from_="+1"), 21212),
    ("From '!!bad!!' is 21212", lambda: _base(from_="!!bad!!"), 21212),
    ("To equal to From is 21266", lambda: {**_same_number(), "body": "me to me"}, 21266),
    ("MessagingServiceSid 'MG123' is 21705", lambda: _base(from_=None, messaging_service_sid="MG123"), 21705),
    ("ValidityPeriod 0 is 90007", lambda: _base(validity_period=0), 90007),
    ("ValidityPeriod 36001 is 90007", lambda: _base(validity_period=36001), 90007),
    # Twilio's test-credential magic numbers, answered for every account.
    ("magic To +15005550001 is 21211", lambda: _base(to="+15005550001"), 21211),
    ("magic To +15005550002 is 21612", lambda: _base(to="+15005550002"), 21612),
    ("magic To +15005550003 is 21408", lambda: _base(to="+15005550003"), 21408),
    ("magic To +15005550004 is 21610", lambda: _base(to="+15005550004"), 21610),
    ("magic To +15005550009 is 21614", lambda: _base(to="+15005550009"), 21614),
    ("magic From +15005550001 is 21212", lambda: _base(from_="+15005550001"), 21212),
    ("magic From +15005550007 is 21606", lambda: _base(from_="+15005550007"), 21606),
    ("magic From +15005550008 is 21611", lambda: _base(from_="+15005550008"), 21611),
]


@pytest.mark.parametrize("make_kwargs, code", [c[1:] for c in CREATE_ERRORS], ids=[c[0] for c in CREATE_ERRORS])
def test_create_rejects_invalid_input_with_twilio_code(client, make_kwargs, code):
    kwargs = make_kwargs()
    exc = expect_rest_error(client.messages.create, **kwargs)

    assert exc.status == 400, exc
    assert exc.code == code, exc
    assert exc.method == "POST"
    assert exc.uri.endswith("/Messages.json")
    assert exc.msg.startswith("Unable to create record: ")


def test_rejected_create_leaves_no_message_behind(client):
    to = unique_number()
    expect_rest_error(client.messages.create, to=to, from_=SENDER, body="x" * 1601)

    assert client.messages.list(to=to) == []


def test_error_body_is_twilio_legacy_json_with_more_info(raw):
    resp = raw.create({"From": SENDER, "Body": "no To"})

    body = assert_twilio_error(resp, 400, 21604)
    assert set(body) - {"details"} == {"code", "message", "more_info", "status"}


def test_invalid_enum_content_retention_is_400_20001(raw):
    resp = raw.create({"To": unique_number(), "From": SENDER, "Body": "x", "ContentRetention": "bogus"})

    assert_twilio_error(resp, 400, 20001)


def test_fetch_of_unknown_message_is_404_20404(client):
    exc = expect_rest_error(client.messages(UNKNOWN_SM).fetch)

    assert exc.status == 404
    assert exc.code == 20404


def test_wrong_auth_token_is_401_20003(base_url, acct_a):
    bad = make_client(base_url, acct_a.sid, "0" * 32)

    assert expect_page_error(bad.messages.list, limit=1) == (401, 20003)
    exc = expect_rest_error(bad.messages.create, to=unique_number(), from_=SENDER, body="x")
    assert (exc.status, exc.code) == (401, 20003)


def test_wrong_auth_token_on_the_wire_is_401_with_www_authenticate(raw, acct_a):
    resp = raw.session.get(raw.messages_url(), auth=(acct_a.sid, "f" * 32), timeout=15)

    assert_twilio_error(resp, 401, 20003)
    assert resp.headers.get("WWW-Authenticate", "").lower().startswith("basic")


def test_account_a_credentials_on_account_b_path_is_404_20404(base_url, acct_a, acct_b, client_b):
    b_msg = client_b.messages.create(to=unique_number(), from_=SENDER, body="belongs to B")
    # Authenticate as A, address B's account: the SDK's account_sid drives the path.
    a_on_b = Client(acct_a.sid, acct_a.token, account_sid=acct_b.sid, http_client=LocalTwilioHttpClient(base_url))

    assert expect_page_error(a_on_b.messages.list, limit=5) == (404, 20404)
    for call in (
        lambda: a_on_b.messages(b_msg.sid).fetch(),
        lambda: a_on_b.messages.create(to=unique_number(), from_=SENDER, body="into B"),
        lambda: a_on_b.messages(b_msg.sid).delete(),
    ):
        exc = expect_rest_error(call)
        assert (exc.status, exc.code) == (404, 20404), exc

    assert client_b.messages(b_msg.sid).fetch().body == "belongs to B"


def test_message_of_account_a_is_invisible_to_account_b(client, client_b):
    a_msg = client.messages.create(to=unique_number(), from_=SENDER, body="belongs to A")

    exc = expect_rest_error(client_b.messages(a_msg.sid).fetch)
    assert (exc.status, exc.code) == (404, 20404)
    assert a_msg.sid not in {m.sid for m in client_b.messages.list(to=a_msg.to)}


@pytest.fixture(scope="module")
def sent_not_final(client):
    """A message that reaches `sent` and stays there (+15005550300): not final, not scheduled."""
    msg = client.messages.create(to="+15005550300", from_=SENDER, body="stuck in sent")
    return wait_for_status(client, msg.sid, "sent")


def test_delete_of_message_not_in_final_state_is_400_20009(client, sent_not_final):
    exc = expect_rest_error(client.messages(sent_not_final.sid).delete)

    assert (exc.status, exc.code) == (400, 20009)
    assert client.messages(sent_not_final.sid).fetch().status == "sent"


def test_cancel_of_message_that_is_not_scheduled_is_400_30409(client, sent_not_final):
    exc = expect_rest_error(client.messages(sent_not_final.sid).update, status="canceled")

    assert (exc.status, exc.code) == (400, 30409)


def test_cancel_of_delivered_message_is_400_30409(client):
    msg = client.messages.create(to=unique_number(), from_=SENDER, body="already delivered")
    wait_for_status(client, msg.sid, "delivered")

    exc = expect_rest_error(client.messages(msg.sid).update, status="canceled")

    assert (exc.status, exc.code) == (400, 30409)
    assert client.messages(msg.sid).fetch().status == "delivered"


def test_list_with_garbage_date_sent_is_400_20001(raw):
    resp = raw.list({"DateSent": "garbage"})

    assert_twilio_error(resp, 400, 20001)


def test_list_with_garbage_date_sent_before_via_sdk_is_400_20001(client):
    assert expect_page_error(client.messages.list, date_sent_before="not-a-date") == (400, 20001)


def test_list_with_bogus_page_token_is_400_21481(client):
    assert expect_page_error(client.messages.page, page_token="bogus", page_size=5) == (400, 21481)


def test_unknown_route_is_404_20404_in_twilio_shape(raw, base_url):
    resp = raw.request("GET", f"{base_url}/2010-04-01/Accounts/{raw.sid}/NoSuchThing.json")

    assert_twilio_error(resp, 404, 20404)


def test_wrong_method_on_messages_is_405_20004(raw):
    resp = raw.request("PUT", raw.messages_url(), data={"Body": "x"})

    assert_twilio_error(resp, 405, 20004)

"""Create and fetch through the official twilio-python SDK (and the raw wire format)."""

from __future__ import annotations

import datetime as dt
import re

from sbhelpers import unique_number

SM_SID = re.compile(r"^SM[0-9a-f]{32}$")
MM_SID = re.compile(r"^MM[0-9a-f]{32}$")
RFC2822_UTC = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} \+0000$"
)


def test_create_sms_returns_queued_message_with_twilio_fields(client, acct_a, sender):
    to = unique_number()
    msg = client.messages.create(to=to, from_=sender, body="Hello from the Python SDK")

    assert SM_SID.match(msg.sid), msg.sid
    assert msg.account_sid == acct_a.sid
    assert msg.status == "queued"
    assert msg.to == to
    assert msg.from_ == sender
    assert msg.body == "Hello from the Python SDK"
    assert msg.num_segments == "1"
    assert msg.num_media == "0"
    assert msg.price is None
    assert msg.error_code is None
    assert msg.error_message is None
    assert msg.api_version == "2010-04-01"
    assert msg.direction == "outbound-api"
    assert msg.date_sent is None
    assert isinstance(msg.date_created, dt.datetime)
    assert msg.date_created.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.timezone.utc) - msg.date_created) < dt.timedelta(minutes=1)
    assert msg.uri == f"/2010-04-01/Accounts/{acct_a.sid}/Messages/{msg.sid}.json"


def test_create_on_the_wire_is_201_json_with_string_counts_and_rfc2822_dates(raw, sender):
    resp = raw.create({"To": unique_number(), "From": sender, "Body": "wire format"})

    assert resp.status_code == 201, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert SM_SID.match(body["sid"])
    assert body["num_segments"] == "1"
    assert body["num_media"] == "0"
    assert body["price"] is None
    assert body["error_code"] is None
    assert body["api_version"] == "2010-04-01"
    assert body["direction"] == "outbound-api"
    assert body["status"] == "queued"
    assert body["date_sent"] is None
    assert RFC2822_UTC.match(body["date_created"]), body["date_created"]
    assert RFC2822_UTC.match(body["date_updated"]), body["date_updated"]
    assert "type" not in body and "title" not in body


def test_create_with_two_media_urls_returns_mm_sid_and_num_media_2(client, sender):
    urls = ["https://example.com/a.png", "https://example.com/b.png?x=1&y=2"]
    msg = client.messages.create(to=unique_number(), from_=sender, body="two pictures", media_url=urls)

    assert MM_SID.match(msg.sid), msg.sid
    assert msg.num_media == "2"
    assert msg.status == "queued"
    assert msg.body == "two pictures"
    assert client.messages(msg.sid).fetch().num_media == "2"


def test_create_with_media_only_and_no_body_is_accepted(client, sender):
    msg = client.messages.create(to=unique_number(), from_=sender, media_url=["https://example.com/only.jpg"])

    assert MM_SID.match(msg.sid), msg.sid
    assert msg.num_media == "1"


def test_create_whatsapp_message_keeps_the_channel_prefix(client):
    to = "whatsapp:" + unique_number()
    sender = "whatsapp:+15005550006"
    msg = client.messages.create(to=to, from_=sender, body="hola por WhatsApp")

    assert msg.to == to
    assert msg.from_ == sender
    fetched = client.messages(msg.sid).fetch()
    assert fetched.to == to
    assert fetched.from_ == sender


def test_fetch_returns_the_created_message(client, sender):
    to = unique_number()
    created = client.messages.create(to=to, from_=sender, body="fetch me")

    fetched = client.messages(created.sid).fetch()

    assert fetched.sid == created.sid
    assert fetched.account_sid == created.account_sid
    assert fetched.to == to
    assert fetched.from_ == sender
    assert fetched.body == "fetch me"
    assert fetched.date_created == created.date_created
    assert fetched.num_segments == "1"
    assert fetched.direction == "outbound-api"


def test_create_with_status_callback_and_validity_period_is_accepted(client, sender):
    msg = client.messages.create(
        to=unique_number(),
        from_=sender,
        body="with options",
        status_callback="http://127.0.0.1:9/callback",
        validity_period=60,
    )

    assert msg.status == "queued"
    assert SM_SID.match(msg.sid)

"""Status lifecycle through the simulated carrier, redaction and delete, via twilio-python."""

from __future__ import annotations

import time

import pytest

from sbhelpers import FINAL_STATUSES, expect_rest_error, unique_number, wait_for_status

LIFECYCLE_ORDER = ["queued", "sending", "sent", "delivered"]


def test_message_to_ordinary_number_reaches_delivered_with_date_sent(client, sender):
    msg = client.messages.create(to=unique_number(), from_=sender, body="deliver me")

    delivered = wait_for_status(client, msg.sid, FINAL_STATUSES)

    assert delivered.status == "delivered"
    assert delivered.error_code is None
    assert delivered.date_sent is not None
    assert delivered.date_sent >= msg.date_created
    assert delivered.date_updated >= msg.date_created


def test_status_only_moves_forward_queued_sending_sent_delivered(client, sender):
    msg = client.messages.create(to=unique_number(), from_=sender, body="watch me")
    seen = [msg.status]
    deadline = time.monotonic() + 10
    while seen[-1] not in FINAL_STATUSES and time.monotonic() < deadline:
        status = client.messages(msg.sid).fetch().status
        if status != seen[-1]:
            seen.append(status)

    assert seen[0] == "queued"
    assert seen[-1] == "delivered", seen
    assert all(s in LIFECYCLE_ORDER for s in seen), seen
    indexes = [LIFECYCLE_ORDER.index(s) for s in seen]
    assert indexes == sorted(indexes), f"status went backwards: {seen}"


def test_message_to_15005550300_reaches_sent_and_stays_sent(client, sender):
    stuck = client.messages.create(to="+15005550300", from_=sender, body="no receipt")
    companion = client.messages.create(to=unique_number(), from_=sender, body="companion")

    wait_for_status(client, stuck.sid, "sent")
    # The companion was queued after the stuck message; once it is delivered the simulator has
    # had every chance to move the stuck one on, and it must still be `sent`.
    wait_for_status(client, companion.sid, "delivered")
    again = client.messages(stuck.sid).fetch()

    assert again.status == "sent"
    assert again.error_code is None
    assert again.date_sent is not None


@pytest.mark.parametrize(
    "to, status, code",
    [
        ("+15005550301", "failed", 30001),
        ("+15005550302", "failed", 30002),
        ("+15005550303", "undelivered", 30003),
        ("+15005550304", "undelivered", 30004),
        ("+15005550305", "undelivered", 30005),
        ("+15005550306", "undelivered", 30006),
        ("+15005550307", "undelivered", 30007),
        ("+15005550308", "undelivered", 30008),
    ],
)
def test_simulator_failure_destination_ends_with_its_error_code(client, sender, to, status, code):
    msg = client.messages.create(to=to, from_=sender, body=f"expect {code}")
    assert msg.status == "queued"

    final = wait_for_status(client, msg.sid, FINAL_STATUSES)

    assert final.status == status
    assert final.error_code == code


def test_redact_delivered_message_then_delete_it_and_it_is_gone(client, sender):
    msg = client.messages.create(to=unique_number(), from_=sender, body="secret 1234")
    wait_for_status(client, msg.sid, "delivered")

    redacted = client.messages(msg.sid).update(body="")
    assert redacted.sid == msg.sid
    assert redacted.body == ""
    assert redacted.status == "delivered"
    assert client.messages(msg.sid).fetch().body == ""

    assert client.messages(msg.sid).delete() is True

    exc = expect_rest_error(client.messages(msg.sid).fetch)
    assert (exc.status, exc.code) == (404, 20404)
    exc = expect_rest_error(client.messages(msg.sid).delete)
    assert (exc.status, exc.code) == (404, 20404)
    assert msg.sid not in {m.sid for m in client.messages.list(to=msg.to)}


def test_delete_of_undelivered_message_is_allowed(client, sender):
    msg = client.messages.create(to="+15005550305", from_=sender, body="will be undelivered")
    wait_for_status(client, msg.sid, "undelivered")

    assert client.messages(msg.sid).delete() is True
    exc = expect_rest_error(client.messages(msg.sid).fetch)
    assert (exc.status, exc.code) == (404, 20404)


def test_update_without_body_or_status_returns_message_unchanged(client, sender):
    msg = client.messages.create(to=unique_number(), from_=sender, body="unchanged")
    final = wait_for_status(client, msg.sid, "delivered")

    same = client.messages(msg.sid).update()

    assert same.body == "unchanged"
    assert same.status == final.status


def test_delivered_us_message_is_priced_per_segment_in_usd(client, sender):
    us_number = "+14155552671"  # a US mobile number (San Francisco)
    one = client.messages.create(to=us_number, from_=sender, body="one segment")
    two = client.messages.create(to=us_number, from_=sender, body="b" * 161)

    one = wait_for_status(client, one.sid, "delivered")
    two = wait_for_status(client, two.sid, "delivered")

    # Switchboard's documented US rate: -0.00790 USD per segment once sent.
    assert (one.price, one.price_unit) == ("-0.00790", "USD")
    assert (two.price, two.price_unit) == ("-0.01580", "USD")


def test_failed_message_can_be_redacted_and_deleted(client, sender):
    msg = client.messages.create(to="+15005550301", from_=sender, body="failed secret")
    wait_for_status(client, msg.sid, "failed")

    redacted = client.messages(msg.sid).update(body="")

    assert redacted.body == ""
    assert redacted.status == "failed"
    assert redacted.error_code == 30001
    assert client.messages(msg.sid).delete() is True

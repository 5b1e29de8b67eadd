"""Privacy workflows through twilio-python, as Twilio documents them (issue 9): redacting a
message as soon as its callback says `sent`, deleting a message that never gets a receipt once
the receipt window has passed, and `AddressRetention=obfuscate` (the last four digits of the
number that is not the account's become `XXXX`) on outbound and inbound messages.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest

from sbhelpers import expect_rest_error, make_client, unique_number, wait_for_status
from switchboard_server import Account, SwitchboardServer
from test_status_callbacks import CallbackReceiver

SENDER = "+15005550006"
STAYS_SENT = "+15005550300"  # the simulator accepts it and no receipt ever comes
_service_numbers = itertools.count(7000)


def obfuscated(number: str) -> str:
    """Twilio's form of a redacted phone number: its last four digits replaced with XXXX."""
    return number[:-4] + "XXXX"


@pytest.fixture
def receiver():
    rcv = CallbackReceiver()
    yield rcv
    rcv.close()


def statuses(received) -> list[str]:
    return [r.params.get("MessageStatus") or r.params.get("SmsStatus") for r in received]


# -- redaction ------------------------------------------------------------------------------


def test_a_message_is_redacted_on_its_sent_callback(client, receiver):
    msg = client.messages.create(
        to=STAYS_SENT, from_=SENDER, body="one-time code 482913", status_callback=f"{receiver.base}/status"
    )

    got = receiver.wait_for(msg.sid, 2)  # sending, sent
    assert statuses(got) == ["sending", "sent"]
    redacted = client.messages(msg.sid).update(body="")

    assert redacted.sid == msg.sid
    assert redacted.status == "sent"
    assert redacted.body == ""
    assert redacted.to == STAYS_SENT and redacted.from_ == SENDER, "redaction touches only the body"
    assert client.messages(msg.sid).fetch().body == ""


def test_a_message_redacted_while_sent_stays_redacted_once_delivered(client, raw, receiver):
    to = unique_number()
    rules = f"{raw.base_url}/_switchboard/Accounts/{raw.sid}/Simulator/Rules.json"
    resp = raw.request("POST", rules, data={"To": to, "Outcome": "delivered", "DelayMs": "1500"})
    assert resp.status_code == 201, resp.text
    msg = client.messages.create(to=to, from_=SENDER, body="your code is 1234", status_callback=f"{receiver.base}/s")

    receiver.wait_for(msg.sid, 2)  # the receipt comes 1.5 s after `sent`
    assert client.messages(msg.sid).update(body="").body == ""

    delivered = wait_for_status(client, msg.sid, "delivered")
    assert delivered.body == ""
    assert statuses(receiver.wait_for(msg.sid, 3)) == ["sending", "sent", "delivered"]


def test_redacting_a_message_still_scheduled_is_refused_with_20009(client):
    number = client.incoming_phone_numbers.create(phone_number="+1415555%04d" % next(_service_numbers))
    svc = client.messaging.v1.services.create(friendly_name="privacy")
    client.messaging.v1.services(svc.sid).phone_numbers.create(phone_number_sid=number.sid)
    send_at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    msg = client.messages.create(
        to=unique_number(), messaging_service_sid=svc.sid, body="later", schedule_type="fixed", send_at=send_at
    )

    exc = expect_rest_error(client.messages(msg.sid).update, body="")

    assert (exc.status, exc.code) == (400, 20009)
    assert exc.msg.endswith("Cannot redact this resource before it is complete (status: scheduled)"), exc.msg
    assert client.messages(msg.sid).fetch().body == "later"
    client.messages(msg.sid).update(status="canceled")


# -- deletion after the receipt window --------------------------------------------------------


def test_a_message_that_never_gets_a_receipt_can_be_deleted_once_the_receipt_window_has_passed():
    account = Account.random()
    with SwitchboardServer([account], extra_args=["--receipt-window-secs", "1"]) as server:
        client = make_client(server.base_url, account.sid, account.token)
        msg = client.messages.create(to=STAYS_SENT, from_=SENDER, body="no receipt will come")
        wait_for_status(client, msg.sid, "sent")

        exc = expect_rest_error(client.messages(msg.sid).delete)
        assert (exc.status, exc.code) == (400, 20009)
        assert exc.msg.endswith("Cannot delete this resource before it is complete (status: sent)"), exc.msg

        time.sleep(1.2)  # the window runs from date_sent, which the server keeps in ms
        assert client.messages(msg.sid).delete() is True

        gone = expect_rest_error(client.messages(msg.sid).fetch)
        assert (gone.status, gone.code) == (404, 20404)


def test_with_the_default_window_a_message_stuck_in_sent_cannot_be_deleted(client):
    msg = client.messages.create(to=STAYS_SENT, from_=SENDER, body="waits an hour")
    wait_for_status(client, msg.sid, "sent")

    exc = expect_rest_error(client.messages(msg.sid).delete)

    assert (exc.status, exc.code) == (400, 20009)
    assert client.messages(msg.sid).fetch().status == "sent"


# -- AddressRetention=obfuscate ---------------------------------------------------------------


def test_an_obfuscated_outbound_message_reads_back_with_the_recipients_last_four_digits_hidden(client, receiver):
    to = unique_number()
    msg = client.messages.create(
        to=to,
        from_=SENDER,
        body="private",
        address_retention="obfuscate",
        status_callback=f"{receiver.base}/status",
    )
    assert msg.to == to, "kept until the message is final"

    delivered = wait_for_status(client, msg.sid, "delivered")
    assert delivered.to == obfuscated(to)
    assert delivered.from_ == SENDER, "the account's own number stays"
    assert delivered.body == "private", "AddressRetention leaves the body alone"

    listed = client.messages.list(to=to, limit=50)
    assert msg.sid not in {m.sid for m in listed}, "a filter by the original number no longer matches"
    assert msg.sid in {m.sid for m in client.messages.list(from_=SENDER, limit=200)}

    got = receiver.wait_for(msg.sid, 3)
    assert statuses(got) == ["sending", "sent", "delivered"]
    assert [r.params["To"] for r in got] == [to, to, obfuscated(to)]
    assert {r.params["From"] for r in got} == {SENDER}


def test_an_obfuscated_inbound_message_reads_back_with_the_handsets_last_four_digits_hidden(client, raw, receiver):
    ours = unique_number()
    client.incoming_phone_numbers.create(phone_number=ours, sms_url=f"{receiver.base}/sms", sms_method="POST")
    handset = unique_number()
    url = f"{raw.base_url}/_switchboard/Accounts/{raw.sid}/Inbound.json"
    data = {"From": handset, "To": ours, "Body": "hello", "AddressRetention": "obfuscate"}
    resp = raw.request("POST", url, data=data)
    assert resp.status_code == 201, resp.text
    sid = resp.json()["sid"]

    webhook = receiver.wait_for(sid, 1)[0]
    assert webhook.params["From"] == handset, "the application's webhook gets the real number"

    received = wait_for_status(client, sid, "received")
    assert received.from_ == obfuscated(handset)
    assert received.to == ours, "the account's own number stays"
    assert sid not in {m.sid for m in client.messages.list(from_=handset, limit=50)}
    assert sid in {m.sid for m in client.messages.list(to=ours, limit=50)}

"""Scheduled messages through the official SDK: `send_at` + `schedule_type`, sending at the
time, cancelling with `update(status="canceled")`, and the window errors."""

from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest
from twilio.base.exceptions import TwilioRestException

from sbhelpers import wait_for_status

_numbers = itertools.count(3000)


@pytest.fixture
def service(client):
    """A Messaging Service with one pool number of its own."""
    number = client.incoming_phone_numbers.create(phone_number="+1415555%04d" % next(_numbers))
    svc = client.messaging.v1.services.create(friendly_name="scheduling")
    client.messaging.v1.services(svc.sid).phone_numbers.create(phone_number_sid=number.sid)
    return svc


def at(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)


def test_a_scheduled_message_waits_then_goes_through_the_lifecycle(client, service):
    send_at = at(3)
    msg = client.messages.create(
        to="+14155552671", messaging_service_sid=service.sid, body="later", schedule_type="fixed", send_at=send_at
    )
    assert msg.status == "scheduled"
    assert msg.num_segments == "0"
    assert client.messages(msg.sid).fetch().status == "scheduled"
    delivered = wait_for_status(client, msg.sid, "delivered", timeout=15)
    assert delivered.date_sent is not None
    assert delivered.date_sent >= send_at.replace(microsecond=0)
    assert delivered.from_ is not None


def test_a_scheduled_message_can_be_canceled_once(client, service):
    msg = client.messages.create(
        to="+14155552672", messaging_service_sid=service.sid, body="never", schedule_type="fixed", send_at=at(3600)
    )
    canceled = client.messages(msg.sid).update(status="canceled")
    assert canceled.status == "canceled"
    with pytest.raises(TwilioRestException) as err:
        client.messages(msg.sid).update(status="canceled")
    assert (err.value.status, err.value.code) == (400, 30409)
    time.sleep(0.2)
    assert client.messages(msg.sid).fetch().status == "canceled"


@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({"schedule_type": "fixed"}, 35111),
        ({"schedule_type": "fixed", "send_at": "in-36-days"}, 35115),
    ],
)
def test_scheduling_errors_carry_twilios_codes(client, service, kwargs, code):
    if kwargs.get("send_at") == "in-36-days":
        kwargs = {**kwargs, "send_at": at(36 * 86400)}
    with pytest.raises(TwilioRestException) as err:
        client.messages.create(to="+14155552673", messaging_service_sid=service.sid, body="x", **kwargs)
    assert (err.value.status, err.value.code) == (400, code)


def test_scheduling_without_a_messaging_service_is_35118(client):
    with pytest.raises(TwilioRestException) as err:
        client.messages.create(
            to="+14155552674", from_="+14155550100", body="x", schedule_type="fixed", send_at=at(3600)
        )
    assert (err.value.status, err.value.code) == (400, 35118)


def test_a_pending_schedule_survives_a_kill_and_is_sent_once_after_restart(tmp_path, acct_a):
    from sbhelpers import make_client
    from switchboard_server import SwitchboardServer

    db = str(tmp_path / "restart.db")
    # On PostgreSQL the restarted server is a new node: it takes over the killed node's work once
    # that node's lease lapses (about 4/3 of --node-lease-secs; docs/operations.md). A short lease
    # keeps this test within its timeout; SQLite ignores the flag.
    lease = ["--node-lease-secs", "2"]
    first = SwitchboardServer([acct_a], db_path=db, extra_args=lease).start()
    try:
        client = make_client(first.base_url, acct_a.sid, acct_a.token)
        number = client.incoming_phone_numbers.create(phone_number="+14155559876")
        svc = client.messaging.v1.services.create(friendly_name="restart")
        client.messaging.v1.services(svc.sid).phone_numbers.create(phone_number_sid=number.sid)
        send_at = at(3)
        msg = client.messages.create(
            to="+14155552675", messaging_service_sid=svc.sid, body="after restart", schedule_type="fixed", send_at=send_at
        )
        assert msg.status == "scheduled"
        first.proc.kill()  # SIGKILL: no chance to send anything
        first.proc.wait()
    finally:
        first.stop()
    time.sleep(max(0.0, (send_at - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 1)

    second = SwitchboardServer([acct_a], db_path=db, extra_args=lease).start()
    try:
        client = make_client(second.base_url, acct_a.sid, acct_a.token)
        delivered = wait_for_status(client, msg.sid, "delivered", timeout=15)
        assert delivered.date_sent >= send_at.replace(microsecond=0)
        assert delivered.from_ == "+14155559876"
        assert len(client.messages.list(to="+14155552675")) == 1
    finally:
        second.stop()

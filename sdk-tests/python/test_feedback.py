"""MessageFeedback through the official SDK: `client.messages(sid).feedback.create(...)`."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException


def test_feedback_create_confirms_a_message_sent_with_provide_feedback(client, acct_a):
    msg = client.messages.create(to="+14155552671", from_="+14155550100", body="your code is 1234", provide_feedback=True)
    fb = client.messages(msg.sid).feedback.create(outcome="confirmed")
    assert fb.outcome == "confirmed"
    assert fb.message_sid == msg.sid
    assert fb.account_sid == acct_a.sid
    assert fb.date_created is not None and fb.date_updated >= fb.date_created


def test_feedback_can_be_reported_unconfirmed(client):
    msg = client.messages.create(to="+14155552671", from_="+14155550100", body="x", provide_feedback=True)
    assert client.messages(msg.sid).feedback.create(outcome="unconfirmed").outcome == "unconfirmed"


def test_feedback_for_an_unknown_message_is_20404(client):
    with pytest.raises(TwilioRestException) as err:
        client.messages("SM00000000000000000000000000000000").feedback.create(outcome="confirmed")
    assert (err.value.status, err.value.code) == (404, 20404)

"""Unicode bodies survive the round trip; num_segments follows GSM-7 / UCS-2 rules.

GSM-7: 160 septets in one segment, 153 per part; extension characters (e.g. the euro sign)
cost 2 septets. UCS-2 (any non-GSM character): 70 UTF-16 units in one segment, 67 per part;
astral characters such as emoji cost 2 units.
"""

from __future__ import annotations

import pytest

from sbhelpers import unique_number

SENDER = "+15005550006"

SEGMENT_CASES = [
    ("160 GSM chars is 1 segment", "a" * 160, "1"),
    ("161 GSM chars is 2 segments", "a" * 161, "2"),
    ("306 GSM chars is 2 segments", "a" * 306, "2"),
    ("307 GSM chars is 3 segments", "a" * 307, "3"),
    ("1600 GSM chars is 11 segments", "a" * 1600, "11"),
    ("160 e-acute (GSM-7) is 1 segment", "é" * 160, "1"),
    ("80 euro signs (2 septets each) is 1 segment", "€" * 80, "1"),
    ("81 euro signs (2 septets each) is 2 segments", "€" * 81, "2"),
    ("70 cyrillic zhe (UCS-2) is 1 segment", "ж" * 70, "1"),
    ("71 cyrillic zhe (UCS-2) is 2 segments", "ж" * 71, "2"),
    ("1600 cyrillic zhe is 24 segments", "ж" * 1600, "24"),
    ("35 emoji (70 UTF-16 units) is 1 segment", "😀" * 35, "1"),
    ("36 emoji (72 UTF-16 units) is 2 segments", "😀" * 36, "2"),
    ("1 emoji plus 133 digits (135 units) is 3 segments", "😜" + "1" * 133, "3"),
]


@pytest.mark.parametrize("body, segments", [c[1:] for c in SEGMENT_CASES], ids=[c[0] for c in SEGMENT_CASES])
def test_num_segments_follows_gsm7_and_ucs2_rules(client, body, segments):
    msg = client.messages.create(to=unique_number(), from_=SENDER, body=body)

    assert msg.num_segments == segments
    fetched = client.messages(msg.sid).fetch()
    assert fetched.num_segments == segments
    assert fetched.body == body


def test_unicode_and_emoji_body_round_trips_exactly_through_create_fetch_and_list(client):
    body = "Привет 👋 — ñ 中文 🇺🇦 \"quotes\" & <tags> line1\nline2"
    to = unique_number()
    msg = client.messages.create(to=to, from_=SENDER, body=body)

    assert msg.body == body
    assert client.messages(msg.sid).fetch().body == body
    [listed] = client.messages.list(to=to)
    assert listed.sid == msg.sid
    assert listed.body == body


def test_body_of_exactly_1600_unicode_characters_is_accepted(client):
    body = "ж" * 1599 + "😀"  # 1600 characters, 1601 UTF-16 units
    msg = client.messages.create(to=unique_number(), from_=SENDER, body=body)

    assert client.messages(msg.sid).fetch().body == body

"""Senders through the official twilio-python SDK: IncomingPhoneNumbers and ShortCodes (v2010),
Messaging Services and their sender pools (messaging v1, on messaging.twilio.com, which the
redirecting HTTP client points at the local server like api.twilio.com).

The suite shares one server with the other test files, so every test works on numbers, short
codes and services it creates itself, and list assertions look for those.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re

import pytest

from sbhelpers import assert_twilio_error, expect_page_error, expect_rest_error, unique_number

PN_SID = re.compile(r"^PN[0-9a-f]{32}$")
SC_SID = re.compile(r"^SC[0-9a-f]{32}$")
MG_SID = re.compile(r"^MG[0-9a-f]{32}$")
AI_SID = re.compile(r"^AI[0-9a-f]{32}$")

_short_codes = itertools.count(random.randrange(100_000, 900_000))


def unique_short_code() -> str:
    """Six digits, unique within this run."""
    return str(next(_short_codes))


def unique_block() -> str:
    """A random `+1 AAA EEE SS` prefix for numbers ending in two more digits: a real-looking range
    outside unique_number()'s `+1555…`, so numbers made from it never collide with those."""
    while True:
        exchange = random.randrange(220, 990)
        if exchange % 100 != 11:  # N11 codes are not exchanges
            return "+1%s%d%02d" % (random.choice(["212", "312", "415", "617", "646"]), exchange, random.randrange(100))


def nanp_friendly_name(e164: str) -> str:
    d = e164[2:]
    return f"({d[:3]}) {d[3:6]}-{d[6:]}"


def utc_now_close(value: dt.datetime) -> bool:
    return value.utcoffset() == dt.timedelta(0) and abs(dt.datetime.now(dt.timezone.utc) - value) < dt.timedelta(minutes=1)


@pytest.fixture
def provision_short_code(raw):
    """Switchboard's provisioning endpoint (Twilio has no API to buy short codes)."""

    def provision(**params) -> dict:
        data = {"ShortCode": unique_short_code(), **params}
        resp = raw.request("POST", f"{raw.base_url}/_switchboard/Accounts/{raw.sid}/ShortCodes.json", data=data)
        assert resp.status_code == 201, resp.text
        return resp.json()

    return provision


# --- IncomingPhoneNumbers ----------------------------------------------------------------------


def test_incoming_phone_number_round_trip_create_fetch_update_delete(client, acct_a):
    number = unique_number()
    created = client.incoming_phone_numbers.create(phone_number=number, sms_url="https://example.com/sms")

    assert PN_SID.match(created.sid), created.sid
    assert created.account_sid == acct_a.sid
    assert created.phone_number == number
    assert created.friendly_name == nanp_friendly_name(number)
    assert created.sms_url == "https://example.com/sms"
    assert created.sms_method == "POST"
    assert created.capabilities == {"fax": False, "mms": True, "sms": True, "voice": True}
    assert created.beta is False
    assert created.origin == "twilio"
    assert created.status == "in-use"
    assert created.api_version == "2010-04-01"
    assert created.uri == f"/2010-04-01/Accounts/{acct_a.sid}/IncomingPhoneNumbers/{created.sid}.json"
    assert utc_now_close(created.date_created)

    fetched = client.incoming_phone_numbers(created.sid).fetch()
    assert (fetched.sid, fetched.phone_number, fetched.sms_url) == (created.sid, number, "https://example.com/sms")

    updated = client.incoming_phone_numbers(created.sid).update(
        sms_url="https://example.com/sms2", sms_method="GET", friendly_name="Front desk"
    )
    assert (updated.sms_url, updated.sms_method, updated.friendly_name) == (
        "https://example.com/sms2",
        "GET",
        "Front desk",
    )
    assert updated.date_created == created.date_created

    assert client.incoming_phone_numbers(created.sid).delete() is True
    exc = expect_rest_error(client.incoming_phone_numbers(created.sid).fetch)
    assert (exc.status, exc.code) == (404, 20404)


def test_incoming_phone_numbers_list_filters_by_partial_number_and_friendly_name(client):
    base = unique_block()  # a prefix shared by the numbers below only
    mine = []
    for suffix in ("11", "12", "13"):
        mine.append(client.incoming_phone_numbers.create(phone_number=base + suffix, friendly_name=f"filter-{base}").sid)

    by_prefix = client.incoming_phone_numbers.list(phone_number=base)
    assert [n.sid for n in by_prefix] == mine, "creation order"

    by_wildcard = client.incoming_phone_numbers.list(phone_number=base + "*2")
    assert [n.sid for n in by_wildcard] == [mine[1]]

    by_name = client.incoming_phone_numbers.list(friendly_name=f"filter-{base}")
    assert [n.sid for n in by_name] == mine

    # Small pages: the SDK follows next_page_uri through keyset tokens.
    paged = client.incoming_phone_numbers.list(phone_number=base, page_size=1)
    assert [n.sid for n in paged] == mine
    page = client.incoming_phone_numbers.page(phone_number=base, page_size=2)
    assert [n.sid for n in page] == mine[:2]
    assert [n.sid for n in page.next_page()] == mine[2:]


def test_incoming_phone_number_errors_carry_twilio_codes(client, client_b):
    exc = expect_rest_error(client.incoming_phone_numbers.create, phone_number="+1")
    assert (exc.status, exc.code) == (400, 21421)

    number = unique_number()
    sid = client.incoming_phone_numbers.create(phone_number=number).sid
    exc = expect_rest_error(client.incoming_phone_numbers.create, phone_number=number)
    assert (exc.status, exc.code) == (400, 21422)

    exc = expect_rest_error(client.incoming_phone_numbers.create, phone_number=unique_number(), sms_method="PUT")
    assert (exc.status, exc.code) == (400, 20001)
    exc = expect_rest_error(client.incoming_phone_numbers.create, phone_number=unique_number(), sms_url="ftp://x")
    assert (exc.status, exc.code) == (400, 21502)

    # Another account cannot see it, change it or release it.
    for call in (
        client_b.incoming_phone_numbers(sid).fetch,
        lambda: client_b.incoming_phone_numbers(sid).update(sms_url=""),
        client_b.incoming_phone_numbers(sid).delete,
    ):
        exc = expect_rest_error(call)
        assert (exc.status, exc.code) == (404, 20404)
    assert client.incoming_phone_numbers(sid).fetch().phone_number == number


def test_incoming_phone_number_json_on_the_wire_has_exactly_the_spec_properties(raw):
    resp = raw.request(
        "POST",
        f"{raw.base_url}/2010-04-01/Accounts/{raw.sid}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": unique_number()},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert set(body) == {
        "account_sid", "address_requirements", "address_sid", "api_version", "beta", "bundle_sid",
        "capabilities", "date_created", "date_updated", "emergency_address_sid",
        "emergency_address_status", "emergency_status", "friendly_name", "identity_sid", "origin",
        "phone_number", "sid", "sms_application_sid", "sms_fallback_method", "sms_fallback_url",
        "sms_method", "sms_url", "status", "status_callback", "status_callback_method", "trunk_sid",
        "uri", "voice_application_sid", "voice_caller_id_lookup", "voice_fallback_method",
        "voice_fallback_url", "voice_method", "voice_receive_mode", "voice_url",
    }  # fmt: skip
    missing = raw.request("POST", f"{raw.base_url}/2010-04-01/Accounts/{raw.sid}/IncomingPhoneNumbers.json", data={})
    assert_twilio_error(missing, 400, 21421)


# --- ShortCodes (v2010) ------------------------------------------------------------------------


def test_a_provisioned_short_code_reads_and_updates_through_the_sdk(client, acct_a, provision_short_code):
    sc = provision_short_code(FriendlyName="Promo")
    assert SC_SID.match(sc["sid"]), sc

    fetched = client.short_codes(sc["sid"]).fetch()
    assert (fetched.short_code, fetched.friendly_name, fetched.sms_method) == (sc["short_code"], "Promo", "POST")
    assert fetched.uri == f"/2010-04-01/Accounts/{acct_a.sid}/SMS/ShortCodes/{sc['sid']}.json"

    listed = client.short_codes.list(short_code=sc["short_code"])
    assert [s.sid for s in listed] == [sc["sid"]]

    updated = client.short_codes(sc["sid"]).update(sms_url="https://example.com/in", sms_method="GET")
    assert (updated.sms_url, updated.sms_method, updated.friendly_name) == ("https://example.com/in", "GET", "Promo")


# --- Messaging Services ------------------------------------------------------------------------


def test_messaging_service_is_created_with_twilios_defaults(client, acct_a, base_url):
    svc = client.messaging.v1.services.create(friendly_name="SDK defaults")

    assert MG_SID.match(svc.sid), svc.sid
    assert svc.account_sid == acct_a.sid
    assert svc.friendly_name == "SDK defaults"
    assert svc.inbound_request_url is None
    assert svc.inbound_method == "POST"
    assert svc.sticky_sender is True
    assert svc.mms_converter is True
    assert svc.smart_encoding is True
    assert svc.fallback_to_long_code is True
    assert svc.area_code_geomatch is True
    assert svc.synchronous_validation is False
    assert svc.use_inbound_webhook_on_number is False
    assert svc.us_app_to_person_registered is False
    assert svc.scan_message_content == "inherit"
    assert svc.usecase == "undeclared"
    assert svc.validity_period == 36000
    assert utc_now_close(svc.date_created)
    assert svc.url == f"{base_url}/v1/Services/{svc.sid}"
    assert svc.links["phone_numbers"] == f"{base_url}/v1/Services/{svc.sid}/PhoneNumbers"


def test_messaging_service_update_fetch_list_and_delete(client):
    svc = client.messaging.v1.services.create(
        friendly_name="SDK lifecycle", inbound_request_url="https://example.com/in", sticky_sender=False
    )
    assert (svc.inbound_request_url, svc.sticky_sender) == ("https://example.com/in", False)

    updated = client.messaging.v1.services(svc.sid).update(validity_period=600, smart_encoding=False)
    assert (updated.validity_period, updated.smart_encoding) == (600, False)
    assert updated.inbound_request_url == "https://example.com/in"
    assert updated.friendly_name == "SDK lifecycle"

    fetched = client.messaging.v1.services(svc.sid).fetch()
    assert (fetched.validity_period, fetched.sticky_sender) == (600, False)
    assert svc.sid in [s.sid for s in client.messaging.v1.services.list()]

    assert client.messaging.v1.services(svc.sid).delete() is True
    exc = expect_rest_error(client.messaging.v1.services(svc.sid).fetch)
    assert (exc.status, exc.code) == (404, 20404)


def test_messaging_service_list_follows_meta_next_page_url(client):
    mine = [client.messaging.v1.services.create(friendly_name=f"paging {i}").sid for i in range(3)]
    listed = [s.sid for s in client.messaging.v1.services.list(page_size=1)]
    assert [sid for sid in listed if sid in mine] == mine, "creation order across pages"

    first = client.messaging.v1.services.page(page_size=1)
    second = first.next_page()  # meta.next_page_url: absolute, used as given
    assert second is not None
    first_sids, second_sids = [s.sid for s in first], [s.sid for s in second]
    assert len(first_sids) == len(second_sids) == 1
    assert first_sids != second_sids


def test_messaging_service_errors_carry_twilio_codes(client, client_b):
    exc = expect_rest_error(client.messaging.v1.services.create, friendly_name="x", validity_period=0)
    assert (exc.status, exc.code) == (400, 90007)
    exc = expect_rest_error(client.messaging.v1.services.create, friendly_name="x", inbound_method="PUT")
    assert (exc.status, exc.code) == (400, 20001)

    svc = client.messaging.v1.services.create(friendly_name="private")
    for call in (client_b.messaging.v1.services(svc.sid).fetch, client_b.messaging.v1.services(svc.sid).delete):
        exc = expect_rest_error(call)
        assert (exc.status, exc.code) == (404, 20404)
    assert svc.sid not in [s.sid for s in client_b.messaging.v1.services.list()]


# --- sender pools ------------------------------------------------------------------------------


def test_phone_number_joins_a_service_pool_and_reads_back(client, acct_a, base_url):
    svc = client.messaging.v1.services.create(friendly_name="pool numbers")
    number = client.incoming_phone_numbers.create(phone_number=unique_number())

    member = client.messaging.v1.services(svc.sid).phone_numbers.create(phone_number_sid=number.sid)
    assert member.sid == number.sid
    assert (member.account_sid, member.service_sid) == (acct_a.sid, svc.sid)
    assert member.phone_number == number.phone_number
    assert member.country_code == "US"
    assert member.capabilities == ["MMS", "SMS", "Voice"]
    assert member.url == f"{base_url}/v1/Services/{svc.sid}/PhoneNumbers/{number.sid}"
    assert utc_now_close(member.date_created)

    fetched = client.messaging.v1.services(svc.sid).phone_numbers(number.sid).fetch()
    assert fetched.phone_number == number.phone_number
    assert [m.sid for m in client.messaging.v1.services(svc.sid).phone_numbers.list()] == [number.sid]

    assert client.messaging.v1.services(svc.sid).phone_numbers(number.sid).delete() is True
    assert client.messaging.v1.services(svc.sid).phone_numbers.list() == []
    assert client.incoming_phone_numbers(number.sid).fetch().sid == number.sid


def test_short_code_and_alpha_sender_join_a_service_pool(client, provision_short_code):
    svc = client.messaging.v1.services.create(friendly_name="pool others")
    sc = provision_short_code()

    member = client.messaging.v1.services(svc.sid).short_codes.create(short_code_sid=sc["sid"])
    assert (member.sid, member.short_code, member.country_code) == (sc["sid"], sc["short_code"], "US")
    assert member.capabilities == ["SMS"]
    assert [m.sid for m in client.messaging.v1.services(svc.sid).short_codes.list()] == [sc["sid"]]

    alpha = client.messaging.v1.services(svc.sid).alpha_senders.create(alpha_sender="SdkBrand")
    assert AI_SID.match(alpha.sid), alpha.sid
    assert (alpha.alpha_sender, alpha.service_sid, alpha.capabilities) == ("SdkBrand", svc.sid, ["SMS"])
    assert client.messaging.v1.services(svc.sid).alpha_senders(alpha.sid).fetch().alpha_sender == "SdkBrand"
    assert [a.sid for a in client.messaging.v1.services(svc.sid).alpha_senders.list()] == [alpha.sid]
    assert client.messaging.v1.services(svc.sid).alpha_senders(alpha.sid).delete() is True


def test_pool_membership_rules_raise_twilio_codes(client, client_b):
    one = client.messaging.v1.services.create(friendly_name="rules one")
    two = client.messaging.v1.services.create(friendly_name="rules two")
    number = client.incoming_phone_numbers.create(phone_number=unique_number())
    client.messaging.v1.services(one.sid).phone_numbers.create(phone_number_sid=number.sid)

    exc = expect_rest_error(client.messaging.v1.services(one.sid).phone_numbers.create, phone_number_sid=number.sid)
    assert (exc.status, exc.code) == (409, 21710)
    exc = expect_rest_error(client.messaging.v1.services(two.sid).phone_numbers.create, phone_number_sid=number.sid)
    assert (exc.status, exc.code) == (409, 21712)

    theirs = client_b.incoming_phone_numbers.create(phone_number=unique_number())
    exc = expect_rest_error(client.messaging.v1.services(two.sid).phone_numbers.create, phone_number_sid=theirs.sid)
    assert (exc.status, exc.code) == (400, 20001)

    client.messaging.v1.services(two.sid).alpha_senders.create(alpha_sender="First")
    exc = expect_rest_error(client.messaging.v1.services(two.sid).alpha_senders.create, alpha_sender="Second")
    assert (exc.status, exc.code) == (400, 21709)
    exc = expect_rest_error(client.messaging.v1.services(one.sid).alpha_senders.create, alpha_sender="12345")
    assert (exc.status, exc.code) == (400, 21709)

    # Deleting the service frees its senders.
    assert client.messaging.v1.services(one.sid).delete() is True
    moved = client.messaging.v1.services(two.sid).phone_numbers.create(phone_number_sid=number.sid)
    assert moved.service_sid == two.sid

    # Releasing the number takes it out of the pool.
    client.incoming_phone_numbers(number.sid).delete()
    assert client.messaging.v1.services(two.sid).phone_numbers.list() == []


def test_pool_of_another_accounts_service_is_not_found(client, client_b):
    svc = client.messaging.v1.services.create(friendly_name="not yours")
    exc = expect_rest_error(client_b.messaging.v1.services(svc.sid).alpha_senders.create, alpha_sender="Thief")
    assert (exc.status, exc.code) == (404, 20404)
    assert expect_page_error(client_b.messaging.v1.services(svc.sid).phone_numbers.list) == (404, 20404)

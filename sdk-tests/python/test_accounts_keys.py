"""Accounts, subaccounts, API keys and auth-token rotation with twilio-python, redirected both
ways: a base URL per domain (api, iam, accounts) and the HTTP client that rewrites *.twilio.com."""

from __future__ import annotations

import time

import pytest
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from sbhelpers import LocalTwilioHttpClient, expect_page_error, expect_rest_error, make_client, unique_number
from test_status_callbacks import CallbackReceiver

SENDER = "+15005550006"


def based_client(base_url: str, user: str, password: str, account_sid: str | None = None) -> Client:
    """The base-URL recipe: every domain these tests use points at the server."""
    c = Client(user, password, account_sid)
    c.api.base_url = base_url
    c.iam.base_url = base_url
    c.accounts.base_url = base_url
    c.messaging.base_url = base_url
    return c


@pytest.fixture
def sub(client):
    """A fresh subaccount of account A: (sid, auth token)."""
    acct = client.api.accounts.create(friendly_name=f"sub {time.monotonic_ns()}")
    return acct.sid, acct.auth_token


def test_a_parent_creates_a_subaccount_and_sends_in_it_with_its_own_credentials(client, acct_a):
    acct = client.api.accounts.create(friendly_name="tenant")
    assert acct.owner_account_sid == acct_a.sid
    assert acct.status == "active" and acct.type == "Full"
    assert len(acct.auth_token) == 32
    msg = client.api.accounts(acct.sid).messages.create(to=unique_number(), from_=SENDER, body="by parent")
    assert msg.account_sid == acct.sid
    fetched = client.api.accounts(acct.sid).messages(msg.sid).fetch()
    assert fetched.body == "by parent"
    listed = client.api.accounts.list(friendly_name="tenant")
    assert acct.sid in [a.sid for a in listed]
    assert client.api.accounts(acct.sid).fetch().friendly_name == "tenant"


def test_a_subaccount_is_refused_on_its_parent_with_401_20003(base_url, acct_a, sub):
    sub_sid, sub_token = sub
    on_parent = make_client(base_url, sub_sid, sub_token)
    exc = expect_rest_error(on_parent.api.accounts(acct_a.sid).fetch)
    assert (exc.status, exc.code) == (401, 20003)
    exc = expect_rest_error(on_parent.api.accounts(acct_a.sid).messages.create, to=unique_number(), from_=SENDER, body="x")
    assert (exc.status, exc.code) == (401, 20003)
    assert expect_page_error(on_parent.api.accounts(acct_a.sid).messages.list, limit=5) == (401, 20003)
    # Its own account works, with the SDK's default account.
    assert on_parent.api.v2010.account.fetch().owner_account_sid == acct_a.sid


@pytest.mark.parametrize("recipe", ["base_url", "http_client"])
def test_an_api_key_creates_fetches_and_lists_messages_numbers_and_services(client, base_url, acct_a, recipe):
    key = client.new_keys.create(friendly_name=f"app {recipe}")
    assert key.sid.startswith("SK") and len(key.secret) == 32
    if recipe == "base_url":
        k = based_client(base_url, key.sid, key.secret, acct_a.sid)
    else:
        k = Client(key.sid, key.secret, acct_a.sid, http_client=LocalTwilioHttpClient(base_url))
    to = unique_number()
    msg = k.messages.create(to=to, from_=SENDER, body="with a key")
    assert k.messages(msg.sid).fetch().body == "with a key"
    assert [m.sid for m in k.messages.list(to=to)] == [msg.sid]
    number = unique_number()
    pn = k.incoming_phone_numbers.create(phone_number=number)
    assert k.incoming_phone_numbers(pn.sid).fetch().phone_number == number
    assert pn.sid in [n.sid for n in k.incoming_phone_numbers.list(phone_number=number)]
    svc = k.messaging.v1.services.create(friendly_name=f"svc {recipe}")
    assert k.messaging.v1.services(svc.sid).fetch().friendly_name == f"svc {recipe}"
    assert svc.sid in [s.sid for s in k.messaging.v1.services.list()]
    # Fetching the account itself needs the Accounts resource: a standard key is refused.
    exc = expect_rest_error(k.api.v2010.account.fetch)
    assert (exc.status, exc.code) == (401, 20003)


def test_a_standard_key_is_refused_on_accounts_json_with_401_20003(client, base_url, acct_a):
    key = client.new_keys.create(friendly_name="standard")
    k = Client(key.sid, key.secret, acct_a.sid, http_client=LocalTwilioHttpClient(base_url))
    assert expect_page_error(k.api.accounts.list) == (401, 20003)
    exc = expect_rest_error(k.api.accounts.create, friendly_name="nope")
    assert (exc.status, exc.code) == (401, 20003)
    exc = expect_rest_error(k.new_keys.create)
    assert (exc.status, exc.code) == (401, 20003)


def test_a_deleted_key_is_refused_on_its_next_request(client, base_url, acct_a):
    key = client.new_keys.create(friendly_name="short-lived")
    k = Client(key.sid, key.secret, acct_a.sid, http_client=LocalTwilioHttpClient(base_url))
    assert k.messages.list(limit=1) is not None
    assert key.sid in [x.sid for x in client.keys.list()]
    assert client.keys(key.sid).update(friendly_name="renamed").friendly_name == "renamed"
    assert client.keys(key.sid).delete() is True
    assert expect_page_error(k.messages.list, limit=1) == (401, 20003)
    exc = expect_rest_error(k.messages.create, to=unique_number(), from_=SENDER, body="x")
    assert (exc.status, exc.code) == (401, 20003)


def test_suspend_refuses_creates_with_20403_then_reactivate_lets_them_through(client, base_url, sub):
    sub_sid, sub_token = sub
    own = make_client(base_url, sub_sid, sub_token)
    assert client.api.accounts(sub_sid).update(status="suspended").status == "suspended"
    exc = expect_rest_error(own.messages.create, to=unique_number(), from_=SENDER, body="x")
    assert (exc.status, exc.code) == (403, 20403)
    assert own.messages.list(limit=1) == []  # reads still work
    assert client.api.accounts(sub_sid).update(status="active").status == "active"
    assert own.messages.create(to=unique_number(), from_=SENDER, body="again").status in ("queued", "accepted")


def test_a_closed_account_is_refused_and_cannot_reopen(client, base_url, sub):
    sub_sid, sub_token = sub
    own = make_client(base_url, sub_sid, sub_token)
    assert client.api.accounts(sub_sid).update(status="closed").status == "closed"
    exc = expect_rest_error(own.api.v2010.account.fetch)
    assert (exc.status, exc.code) == (401, 20003)
    exc = expect_rest_error(client.api.accounts(sub_sid).update, status="active")
    assert exc.code == 21479


def test_the_main_accounts_own_status_cannot_change(client, acct_a):
    exc = expect_rest_error(client.api.accounts(acct_a.sid).update, status="suspended")
    assert exc.code == 21477


def test_a_secondary_token_then_promote_with_a_client_on_each_token(base_url, sub):
    sub_sid, old_token = sub
    on_old = based_client(base_url, sub_sid, old_token)
    secondary = on_old.accounts.v1.secondary_auth_token().create()
    assert secondary.account_sid == sub_sid
    assert secondary.url == f"{base_url}/v1/AuthTokens/Secondary"
    on_new = Client(sub_sid, secondary.secondary_auth_token, http_client=LocalTwilioHttpClient(base_url))
    # Both tokens work while the rotation is under way.
    on_old.messages.create(to=unique_number(), from_=SENDER, body="old token")
    on_new.messages.create(to=unique_number(), from_=SENDER, body="new token")
    promoted = on_new.accounts.v1.auth_token_promotion().update()
    assert promoted.auth_token == secondary.secondary_auth_token
    exc = expect_rest_error(on_old.messages.create, to=unique_number(), from_=SENDER, body="x")
    assert (exc.status, exc.code) == (401, 20003)
    assert on_new.api.v2010.account.fetch().auth_token == secondary.secondary_auth_token
    # A second secondary can be dropped again.
    on_new.accounts.v1.secondary_auth_token().create()
    assert on_new.accounts.v1.secondary_auth_token().delete() is True


def test_status_callbacks_are_signed_with_the_primary_token_during_a_rotation(base_url, sub):
    sub_sid, primary = sub
    c = make_client(base_url, sub_sid, primary)
    secondary = c.accounts.v1.secondary_auth_token().create().secondary_auth_token
    rcv = CallbackReceiver()
    try:
        url = f"{rcv.base}/status"
        on_secondary = make_client(base_url, sub_sid, secondary)
        msg = on_secondary.messages.create(to=unique_number(), from_=SENDER, body="signed", status_callback=url)
        got = rcv.wait_for(msg.sid, 1)
        assert RequestValidator(primary).validate(url, got[0].params, got[0].signature) is True
        assert RequestValidator(secondary).validate(url, got[0].params, got[0].signature) is False
    finally:
        rcv.close()


def test_iam_v1_keys_restricted_policy_and_paging_with_meta_urls(client, base_url, acct_a):
    policy = {"allow": ["/twilio/messaging/messages/read"]}
    created = client.iam.v1.new_api_key.create(
        account_sid=acct_a.sid, friendly_name="read only", key_type="restricted", policy=policy
    )
    assert created.policy == policy and len(created.secret) == 32
    ro = Client(created.sid, created.secret, acct_a.sid, http_client=LocalTwilioHttpClient(base_url))
    assert isinstance(ro.messages.list(limit=1), list)
    exc = expect_rest_error(ro.messages.create, to=unique_number(), from_=SENDER, body="x")
    assert exc.code == 70051
    for i in range(2):
        client.iam.v1.new_api_key.create(account_sid=acct_a.sid, friendly_name=f"page {i}")
    based = based_client(base_url, acct_a.sid, client.password)
    page = based.iam.v1.get_api_keys.page(account_sid=acct_a.sid, page_size=1)
    assert page.next_page_url.startswith(base_url + "/v1/Keys?")
    listed = based.iam.v1.get_api_keys.list(account_sid=acct_a.sid, page_size=1)
    assert created.sid in [k.sid for k in listed]
    assert len(listed) >= 3
    fetched = client.iam.v1.api_key(created.sid).fetch()
    assert fetched.policy == policy
    assert client.iam.v1.api_key(created.sid).update(friendly_name="renamed").friendly_name == "renamed"
    assert client.iam.v1.api_key(created.sid).delete() is True
    assert expect_page_error(ro.messages.list, limit=1) == (401, 20003)

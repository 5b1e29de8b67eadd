"""Session fixtures: one switchboard server (fresh DB, two accounts) for the whole Python suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sbhelpers import RawApi, make_client
from switchboard_server import Account, SwitchboardServer

REPORT_DIR = Path(__file__).resolve().parents[1] / ".reports"


@pytest.fixture(scope="session")
def accounts() -> tuple[Account, Account]:
    return Account.random(), Account.random()


@pytest.fixture(scope="session")
def server(accounts):
    srv = SwitchboardServer(list(accounts), log_copy=REPORT_DIR / "python-server.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def base_url(server) -> str:
    return server.base_url


@pytest.fixture(scope="session")
def acct_a(accounts) -> Account:
    return accounts[0]


@pytest.fixture(scope="session")
def acct_b(accounts) -> Account:
    return accounts[1]


@pytest.fixture(scope="session")
def client(base_url, acct_a):
    """Official twilio-python client for account A, redirected by LocalTwilioHttpClient."""
    return make_client(base_url, acct_a.sid, acct_a.token)


@pytest.fixture(scope="session")
def client_b(base_url, acct_b):
    return make_client(base_url, acct_b.sid, acct_b.token)


@pytest.fixture(scope="session")
def raw(base_url, acct_a) -> RawApi:
    return RawApi(base_url, acct_a.sid, acct_a.token)


@pytest.fixture
def sender() -> str:
    """Twilio's magic 'valid From' test number."""
    return "+15005550006"


def pytest_report_header(config):
    return f"switchboard binary: {os.environ.get('SWITCHBOARD_BIN', 'target/debug/switchboard')}"

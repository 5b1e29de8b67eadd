"""The SMPP connector through the official twilio-python SDK, against the npm `smpp` package's
SMSC scripted by sdk-tests/smsc/smsc.js (the destination's last two digits choose its answer)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from sbhelpers import expect_rest_error, make_client, wait_for_status
from switchboard_server import Account, SwitchboardServer

SMSC_SCRIPT = Path(__file__).resolve().parents[1] / "smsc" / "smsc.js"
REPORT_DIR = Path(__file__).resolve().parents[1] / ".reports"
SENDER = "+15005550006"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="the test SMSC runs on Node")


class Smsc:
    """The scripted SMSC as a child process; every JSON line it prints is kept."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["node", str(SMSC_SCRIPT), "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.events: list[dict] = []
        self.port: int | None = None
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.port = self.wait_for(lambda e: e.get("event") == "listening")[0]["port"]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()

    def wait_for(self, pred, count: int = 1, timeout: float = 15.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [e for e in self.events if pred(e)]
                if len(hits) >= count:
                    return hits
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"SMSC: {count} events expected; log: {self.events}")
                self._cond.wait(left)

    def send(self, command: dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def smsc():
    peer = Smsc()
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def smpp_client(smsc):
    account = Account.random()
    url = f"smpp://test:secret@127.0.0.1:{smsc.port}?name=py&dlr_id=auto"
    srv = SwitchboardServer([account], log_copy=REPORT_DIR / "python-smpp-server.log", extra_args=["--smpp", url])
    srv.start()
    try:
        smsc.wait_for(lambda e: e.get("command") == "bind_transceiver" and e.get("ok"))
        yield make_client(srv.base_url, account.sid, account.token)
    finally:
        srv.stop()


def number(tail: str) -> str:
    return f"+1555{random.randrange(100000):05d}{tail}"


def test_a_message_is_submitted_and_its_receipt_delivers_it(smpp_client, smsc):
    to = number("10")
    msg = smpp_client.messages.create(to=to, from_=SENDER, body="Hello from twilio-python")
    assert wait_for_status(smpp_client, msg.sid, "delivered", timeout=15).error_code is None
    (submit,) = [e for e in smsc.events if e.get("command") == "submit_sm" and e["destination_addr"] == to[1:]]
    assert (submit["source_addr"], submit["dest_addr_ton"], submit["registered_delivery"]) == (SENDER[1:], 1, 1)
    assert bytes.fromhex(submit["short_message_hex"]) == b"Hello from twilio-python"


@pytest.mark.parametrize(("tail", "status", "code"), [("01", "failed", 30005), ("03", "undelivered", 30003), ("05", "undelivered", 30007)])
def test_smsc_answers_map_to_twilio_error_codes(smpp_client, tail, status, code):
    msg = smpp_client.messages.create(to=number(tail), from_=SENDER, body=f"case {tail}")
    assert wait_for_status(smpp_client, msg.sid, status, timeout=15).error_code == code


def test_ucs2_goes_out_with_data_coding_8(smpp_client, smsc):
    to = number("12")
    body = "Grüße 👋 Привет"
    msg = smpp_client.messages.create(to=to, from_=SENDER, body=body)
    wait_for_status(smpp_client, msg.sid, "delivered", timeout=15)
    (submit,) = [e for e in smsc.events if e.get("command") == "submit_sm" and e["destination_addr"] == to[1:]]
    assert submit["data_coding"] == 8
    assert bytes.fromhex(submit["short_message_hex"]).decode("utf-16-be") == body


def test_stop_from_a_handset_opts_it_out_and_the_confirmation_leaves_through_the_smsc(smpp_client, smsc):
    ours = number("20")
    smpp_client.incoming_phone_numbers.create(phone_number=ours)
    # 415-555-xxxx: a valid NANP number (an exchange starting with 0 or 1 is refused as From).
    handset = f"1415555{random.randrange(10_000):04d}"
    smsc.send({"mo": {"from": handset, "to": ours[1:], "text": "STOP"}})
    smsc.wait_for(lambda e: e.get("command") == "submit_sm" and e["destination_addr"] == handset)
    err = expect_rest_error(smpp_client.messages.create, to=f"+{handset}", from_=ours, body="still there?")
    assert err.code == 21610
    inbound = smpp_client.messages.list(to=ours, limit=5)
    assert any(m.direction == "inbound" and m.body == "STOP" for m in inbound)

"""Media (MMS) through the official SDK: `client.messages(sid).media.list()` and `.media(sid).fetch()`."""

from __future__ import annotations

import http.server
import threading

import pytest
import requests

from sbhelpers import wait_for_status

PNG = b"\x89PNG\r\n\x1a\n" + bytes(i * 7 % 251 for i in range(2000))


class _PngHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def png_url():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PngHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/pic.png"
    srv.shutdown()


def test_mms_media_is_listed_fetched_and_downloadable(client, acct_a, base_url, png_url):
    msg = client.messages.create(to="+14155552671", from_="+14155550100", body="look", media_url=[png_url])
    assert msg.sid.startswith("MM")
    assert msg.num_media == "1"
    wait_for_status(client, msg.sid, "delivered")

    media = client.messages(msg.sid).media.list()
    assert len(media) == 1
    item = media[0]
    assert item.sid.startswith("ME")
    assert item.content_type == "image/png"
    assert item.parent_sid == msg.sid
    assert item.account_sid == acct_a.sid

    fetched = client.messages(msg.sid).media(item.sid).fetch()
    assert fetched.sid == item.sid
    assert fetched.content_type == "image/png"
    assert fetched.date_created is not None

    content = f"{base_url}/2010-04-01/Accounts/{acct_a.sid}/Messages/{msg.sid}/Media/{item.sid}"
    resp = requests.get(content, auth=(acct_a.sid, acct_a.token), timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "image/png"
    assert resp.content == PNG
    assert requests.get(content, timeout=10).status_code == 401

    assert client.messages(msg.sid).media(item.sid).delete() is True
    assert client.messages(msg.sid).media.list() == []

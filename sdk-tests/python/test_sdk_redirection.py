"""Both ways of pointing twilio-python at the server work, paging included; the process stops cleanly."""

from __future__ import annotations

from twilio.rest import Client

from sbhelpers import unique_number
from switchboard_server import Account, SwitchboardServer

SENDER = "+15005550006"


def test_base_url_one_liner_redirects_create_fetch_list_and_paging(base_url, acct_a):
    client = Client(acct_a.sid, acct_a.token)
    client.api.base_url = base_url
    to = unique_number()

    sids = [client.messages.create(to=to, from_=SENDER, body=f"one-liner {i}").sid for i in range(4)]
    fetched = client.messages(sids[0]).fetch()
    listed = [m.sid for m in client.messages.list(to=to, page_size=3)]  # 2 pages: 3 + 1

    assert fetched.body == "one-liner 0"
    assert listed == list(reversed(sids))


def test_local_http_client_sends_every_request_including_next_pages_to_the_server(client, base_url):
    to = unique_number()
    for i in range(3):
        client.messages.create(to=to, from_=SENDER, body=f"rewrite {i}")
    before = len(client.http_client.seen_urls)

    listed = client.messages.list(to=to, page_size=1)

    urls = client.http_client.seen_urls[before:]
    assert len(listed) == 3
    assert len(urls) == 3
    assert all(u.startswith(base_url + "/2010-04-01/Accounts/") for u in urls), urls
    assert all("twilio.com" not in u for u in urls), urls


def test_server_exits_with_status_0_on_sigterm_right_after_announcing_it_listens():
    # Once the banner is out, a supervisor may stop the server at any moment: SIGTERM must take
    # the graceful path (exit 0), not the default action (killed by signal 15, exit -15).
    server = SwitchboardServer([Account.random()])
    server.start()
    try:
        assert server.proc.poll() is None
    finally:
        code = server.stop()

    assert code == 0, f"exit {code} after SIGTERM (negative: killed by that signal)\n{server.diagnostics()}"

"""List, filters and keyset paging through twilio-python (list, stream, page/next_page)."""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sbhelpers import FINAL_STATUSES, assert_twilio_error, make_client, unique_number, wait_for_status

SENDER = "+15005550006"


@dataclass
class Corpus:
    to: str
    other_from: str
    sids: list[str]  # creation order, oldest first
    from_other: list[str]  # sids sent from other_from, creation order
    early: list[str]  # first batch (sent strictly before `late`)
    late: list[str]
    early_last_sent: dt.datetime
    late_first_sent: dt.datetime


def newest_first(sids):
    return list(reversed(sids))


@pytest.fixture(scope="module")
def corpus(client) -> Corpus:
    """7 delivered messages to one fresh `To`, in two batches whose date_sent differ by >= 1 s.

    Messages 0, 2, 4, 6 come from a fresh `From`; the others from the magic test sender.
    """
    to, other_from = unique_number(), unique_number()
    sids, from_other = [], []

    def send(i):
        sender = other_from if i % 2 == 0 else SENDER
        msg = client.messages.create(to=to, from_=sender, body=f"corpus {i}")
        sids.append(msg.sid)
        if sender == other_from:
            from_other.append(msg.sid)

    for i in range(4):
        send(i)
    early = [wait_for_status(client, s, FINAL_STATUSES) for s in sids]
    early_last_sent = max(m.date_sent for m in early)
    # Timestamps have 1 s resolution: let the clock pass the early batch's last second.
    while dt.datetime.now(dt.timezone.utc) < early_last_sent + dt.timedelta(seconds=1):
        time.sleep(0.05)
    for i in range(4, 7):
        send(i)
    late = [wait_for_status(client, s, FINAL_STATUSES) for s in sids[4:]]
    late_first_sent = min(m.date_sent for m in late)
    assert late_first_sent > early_last_sent
    assert all(m.status == "delivered" for m in early + late)
    return Corpus(to, other_from, sids, from_other, sids[:4], sids[4:], early_last_sent, late_first_sent)


def list_paged(client, **filters):
    """client.messages.list(**filters) -> (sids, number of HTTP page requests it took)."""
    seen = client.http_client.seen_urls
    before = len(seen)
    sids = [m.sid for m in client.messages.list(**filters)]
    return sids, len(seen) - before


# With page_size 1 the last page is full, and whether it carries a next_page_uri (to an empty
# page) is the server's choice; so for those, only a lower bound on the page requests is exact.


def collect_pages(first_page):
    pages = []
    page = first_page
    while page is not None:
        pages.append([m.sid for m in page])
        page = page.next_page()
    return pages


def test_list_by_to_returns_all_messages_newest_first(client, corpus):
    listed = [m.sid for m in client.messages.list(to=corpus.to, page_size=3)]

    assert listed == newest_first(corpus.sids)


def test_list_by_to_spans_three_pages_of_3_3_1_with_no_duplicates_or_gaps(client, corpus):
    pages = collect_pages(client.messages.page(to=corpus.to, page_size=3))

    assert [len(p) for p in pages] == [3, 3, 1]
    assert sum(pages, []) == newest_first(corpus.sids)


def test_stream_with_page_size_3_yields_every_message_once(client, corpus):
    http = client.http_client
    before = len(http.seen_urls)
    streamed = [m.sid for m in client.messages.stream(to=corpus.to, page_size=3)]

    assert streamed == newest_first(corpus.sids)
    page_requests = http.seen_urls[before:]
    assert len(page_requests) == 3, page_requests
    assert all("PageToken=PA" in u for u in page_requests[1:]), page_requests


def test_list_limit_stops_after_limit_records(client, corpus):
    listed = [m.sid for m in client.messages.list(to=corpus.to, limit=5)]

    assert listed == newest_first(corpus.sids)[:5]


def test_list_by_from_returns_exactly_that_senders_messages(client, corpus):
    listed, pages = list_paged(client, from_=corpus.other_from, page_size=1)

    assert listed == newest_first(corpus.from_other)
    assert pages >= 4


def test_list_by_to_and_from_combines_filters(client, corpus):
    listed, pages = list_paged(client, to=corpus.to, from_=SENDER, page_size=1)

    expected = [s for s in corpus.sids if s not in corpus.from_other]
    assert listed == newest_first(expected)
    assert pages >= 3


def test_list_by_date_sent_day_returns_the_whole_day(client, corpus):
    day = corpus.early_last_sent.date()
    if corpus.late_first_sent.date() != day:
        pytest.skip("corpus straddles midnight UTC")

    as_date, pages = list_paged(client, to=corpus.to, date_sent=day, page_size=3)
    as_string, _ = list_paged(client, to=corpus.to, date_sent=day.isoformat(), page_size=3)
    other_day = client.messages.list(to=corpus.to, date_sent=day - dt.timedelta(days=1))

    assert as_date == newest_first(corpus.sids)
    assert pages == 3
    assert as_string == newest_first(corpus.sids)
    assert other_day == []


def test_list_by_date_sent_before_returns_exactly_the_earlier_batch(client, corpus):
    listed, pages = list_paged(client, to=corpus.to, date_sent_before=corpus.early_last_sent, page_size=1)
    none = client.messages.list(to=corpus.to, date_sent_before=corpus.early_last_sent - dt.timedelta(days=2))

    assert listed == newest_first(corpus.early)
    assert pages >= 4
    assert none == []


def test_list_by_date_sent_after_returns_exactly_the_later_batch(client, corpus):
    listed, pages = list_paged(client, to=corpus.to, date_sent_after=corpus.late_first_sent, page_size=1)
    none = client.messages.list(to=corpus.to, date_sent_after=corpus.late_first_sent + dt.timedelta(days=2))

    assert listed == newest_first(corpus.late)
    assert pages >= 3
    assert none == []


def test_list_by_date_sent_window_combines_before_and_after(client, corpus):
    everything = client.messages.list(
        to=corpus.to,
        date_sent_after=corpus.early_last_sent - dt.timedelta(hours=1),
        date_sent_before=corpus.late_first_sent + dt.timedelta(hours=1),
        page_size=3,
    )

    assert [m.sid for m in everything] == newest_first(corpus.sids)


def test_date_sent_today_matches_the_unfiltered_account_list(client, corpus):
    today = dt.datetime.now(dt.timezone.utc).date()
    everything = [m.sid for m in client.messages.list(page_size=1000)]
    todays = [m.sid for m in client.messages.list(date_sent=today, page_size=1000)]
    if any(m.date_created.date() != today for m in client.messages.list(page_size=1000)):
        pytest.skip("session straddles midnight UTC")

    assert len(everything) == len(set(everything))
    assert set(corpus.sids) <= set(everything)
    assert todays == everything


def test_next_page_is_exact_when_messages_arrive_between_pages(client):
    to = unique_number()
    original = [client.messages.create(to=to, from_=SENDER, body=f"orig {i}").sid for i in range(7)]

    first = client.messages.page(to=to, page_size=3)
    newcomers = [client.messages.create(to=to, from_=SENDER, body=f"new {i}").sid for i in range(2)]
    pages = [[m.sid for m in first]] + collect_pages(first.next_page())

    assert [len(p) for p in pages] == [3, 3, 1]
    assert sum(pages, []) == newest_first(original)
    # A fresh listing sees the newcomers first.
    assert [m.sid for m in client.messages.list(to=to)] == newest_first(original + newcomers)


def test_next_page_continues_after_the_page_cursor_message_is_deleted(client):
    to = unique_number()
    sids = [client.messages.create(to=to, from_=SENDER, body=f"cursor {i}").sid for i in range(5)]
    for sid in sids:
        wait_for_status(client, sid, "delivered")

    first = client.messages.page(to=to, page_size=2)
    first_sids = [m.sid for m in first]  # a Page iterates once
    assert client.messages(first_sids[-1]).delete() is True
    rest = collect_pages(first.next_page())

    assert first_sids == newest_first(sids)[:2]
    assert sum(rest, []) == newest_first(sids)[2:]


def test_list_page_envelope_has_root_relative_uris_and_keyset_next_page(raw, corpus, acct_a):
    resp = raw.list({"To": corpus.to, "PageSize": 3})
    assert resp.status_code == 200, resp.text
    page0 = resp.json()

    assert set(page0) - {"messages"} <= {
        "end", "first_page_uri", "next_page_uri", "last_page_uri", "page", "page_size",
        "previous_page_uri", "total", "num_pages", "start", "uri",
    }
    prefix = f"/2010-04-01/Accounts/{acct_a.sid}/Messages.json?"
    assert page0["page"] == 0 and page0["page_size"] == 3
    assert page0["start"] == 0 and page0["end"] == 2
    assert page0["previous_page_uri"] is None
    assert page0["uri"].startswith(prefix)
    assert page0["first_page_uri"].startswith(prefix)
    assert page0["next_page_uri"].startswith(prefix)
    q = parse_qs(urlsplit(page0["next_page_uri"]).query)
    assert q["To"] == [corpus.to]
    assert q["PageSize"] == ["3"]
    assert q["Page"] == ["1"]
    assert q["PageToken"] == ["PA" + page0["messages"][-1]["sid"]]

    page1 = raw.request("GET", raw.base_url + page0["next_page_uri"]).json()
    assert page1["page"] == 1 and page1["start"] == 3 and page1["end"] == 5
    assert [m["sid"] for m in page1["messages"]] == newest_first(corpus.sids)[3:6]


def test_page_size_defaults_to_50_and_is_clamped_to_1000(raw):
    default = raw.list({})
    huge = raw.list({"PageSize": 5000})

    assert default.status_code == 200 and default.json()["page_size"] == 50
    assert huge.status_code == 200, huge.text
    assert huge.json()["page_size"] == 1000


def test_empty_result_page_has_no_next_page(raw):
    resp = raw.list({"To": unique_number()})

    assert resp.status_code == 200
    body = resp.json()
    assert body["messages"] == []
    assert body["next_page_uri"] is None
    assert body["start"] == 0


def test_concurrent_creates_are_each_listed_exactly_once(base_url, acct_a):
    to = unique_number()

    def create(i):
        c = make_client(base_url, acct_a.sid, acct_a.token)  # one HTTP session per thread
        return c.messages.create(to=to, from_=SENDER, body=f"concurrent {i}").sid

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(create, range(40)))
    client = make_client(base_url, acct_a.sid, acct_a.token)
    listed, pages = list_paged(client, to=to, page_size=7)

    assert len(set(created)) == 40
    assert len(listed) == 40 and set(listed) == set(created), "duplicates or gaps across pages"
    assert pages == 6
    # Newest first: SIDs are time-ordered per the server's docs, so the order is by creation time.
    created_at = {m.sid: m.date_created for m in client.messages.list(to=to)}
    assert [created_at[s] for s in listed] == sorted(created_at.values(), reverse=True)


def test_page_size_zero_is_400_20001(raw):
    assert_twilio_error(raw.list({"PageSize": 0}), 400, 20001)


def test_deep_page_number_without_page_token_is_400_70002(raw):
    assert_twilio_error(raw.list({"Page": 2, "PageSize": 5}), 400, 70002)


def test_list_without_credentials_is_401_20003(raw):
    resp = requests.get(raw.messages_url(), timeout=15)

    assert_twilio_error(resp, 401, 20003)

"""The contract every registered feed type keeps, whatever its API: one test per behaviour, run over each type.

Each adapter is called the way the Fetch stage calls it (``adapter_for(type).fetch(entry, context)``) against the
loopback :class:`~embedded_aws.feed_server.FeedServer`, its data endpoint programmed to misbehave. The contract:
a refused credential is :class:`FeedRejected` naming the feed, the status and the secret to check; a lasting 429 is
retried, then :class:`FeedUnavailable` (the state machine retries later); "nothing" is an explicit empty answer
(204, no body), never a silent success with a body; a body over the cap is refused naming the cap; a paged API
is followed page by page (its ``next`` token or link, or MISP's page number) and left when a page says it is the
last.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from feedkit import Fetcher

from embedded_aws.feed_server import ApiRequest, FeedServer
from threatfeed.catalogue import FeedEntry
from threatfeed.errors import FeedRejected, FeedUnavailable
from threatfeed.feeds import FEED_TYPES, adapter_for
from threatfeed.feeds.api import RATE_LIMIT_RETRIES

COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
ISIGHT_SECRET = {"public_key": "test-public-key", "private_key": "test-private-key-0123456789"}  # conftest's keys


@dataclass(frozen=True)
class Paging:
    """How one paged API pages: which page a request asks for, and the page envelope it answers (``values`` as the
    API's items, and a pointer to the next page unless ``last``). Page 1 holds two values, page 2 one."""

    page_asked: Callable[[ApiRequest], int]
    envelope: Callable[[FeedServer, list[str], bool], dict[str, Any]]
    #: Options the paging needs (MISP pages while a page is full: a page of two with ``page_size`` 2).
    options: dict[str, object] = field(default_factory=dict)


def _token_asked(request: ApiRequest) -> int:
    return 2 if request.query.get("next") == ["page-2"] else 1


def _mandiant_page(server: FeedServer, values: list[str], last: bool) -> dict[str, Any]:
    items = [{"id": f"ipv4--{n}", "type": "ipv4", "value": v, "mscore": 90} for n, v in enumerate(values)]
    return {"indicators": items, **({} if last else {"next": "page-2"})}


def _taxii_page(server: FeedServer, values: list[str], last: bool) -> dict[str, Any]:
    objects = [{"type": "indicator", "id": f"indicator--{v}", "pattern": f"[ipv4-addr:value = '{v}']"} for v in values]
    return {"more": not last, "objects": objects, **({} if last else {"next": "page-2"})}


def _otx_page(server: FeedServer, values: list[str], last: bool) -> dict[str, Any]:
    pulse = {"id": "p", "name": "pulse", "indicators": [{"indicator": v, "type": "IPv4"} for v in values]}
    link = None if last else server.url("/api/v1/pulses/subscribed") + "?page=2"
    return {"next": link, "results": [pulse]}


def _misp_page(server: FeedServer, values: list[str], last: bool) -> dict[str, Any]:
    return {"response": {"Attribute": [{"id": v, "type": "ip-dst", "value": v, "to_ids": True} for v in values]}}


@dataclass(frozen=True)
class Case:
    """How to point one feed type at the loopback server: its entry, its secret and the path it reads data from."""

    entry: Callable[[FeedServer], FeedEntry]
    path: str
    secret: dict[str, str] | None = None
    #: Standing routes the type needs before its data endpoint (e.g. Mandiant's token endpoint).
    setup: dict[str, bytes] = field(default_factory=dict)
    #: Whether the adapter itself waits out a 429 (the API adapters) rather than only the session.
    waits: bool = True
    #: How the type's API pages; ``None`` for a type that reads one document.
    paging: Paging | None = None


def _entry(
    feed_type: str, path: str, fmt: str, secret: str | None = None, **options: object
) -> Callable[..., FeedEntry]:
    return lambda server: FeedEntry(f"c-{feed_type}", feed_type, server.url(path), fmt, secret, options=options)


CASES: dict[str, Case] = {
    "http_list": Case(_entry("http_list", "/list", "txt"), "/list", waits=False),
    "preset": Case(_entry("preset", "/list", "txt", preset="feodotracker"), "/list", waits=False),
    "isight": Case(_entry("isight", "", "fireeye", "tf/isight"), "/view/iocs", ISIGHT_SECRET, waits=False),
    "mandiant": Case(
        _entry("mandiant", "", "stix", "tf/mandiant"),
        "/v4/indicator",
        {"key_id": "id", "key_secret": "secret"},
        setup={"/token": json.dumps({"access_token": "t0ken", "token_type": "Bearer"}).encode()},
        paging=Paging(_token_asked, _mandiant_page),
    ),
    "taxii": Case(
        _entry("taxii", f"/api1/collections/{COLLECTION}/", "stix"),
        f"/api1/collections/{COLLECTION}/objects/",
        paging=Paging(_token_asked, _taxii_page),
    ),
    "misp": Case(
        _entry("misp", "", "misp", "tf/misp"),
        "/attributes/restSearch",
        {"key": "misp-key"},
        paging=Paging(lambda request: json.loads(request.body)["page"], _misp_page, {"page_size": 2}),
    ),
    "otx": Case(
        _entry("otx", "", "otx", "tf/otx"),
        "/api/v1/pulses/subscribed",
        {"api_key": "otx-key"},
        paging=Paging(lambda request: int(request.query.get("page", ["1"])[0]), _otx_page),
    ),
}
TYPES = sorted(FEED_TYPES)
PAGED = [feed_type for feed_type in TYPES if CASES[feed_type].paging]


def run(server: FeedServer, fetcher: Fetcher, feed_type: str, waits: list[float] | None = None, **options: object):
    case = CASES[feed_type]
    for path, body in case.setup.items():
        server.set_route(path, 200, body, {"Content-Type": "application/json"})
    entry = case.entry(server)
    if options:
        entry = FeedEntry(
            entry.name, entry.type, entry.url, entry.format, entry.secret, options={**entry.options, **options}
        )
    sleep = (waits if waits is not None else []).append
    return adapter_for(feed_type).fetch(entry, fetcher.context(case.secret, sleep=sleep))


def test_every_registered_feed_type_is_under_contract() -> None:
    assert sorted(CASES) == TYPES


@pytest.mark.parametrize("feed_type", TYPES)
def test_a_refused_credential_is_rejected_naming_the_feed_and_the_secret(server, fetcher, feed_type) -> None:
    server.set_route(CASES[feed_type].path, 401, b'{"error": "bad credentials"}', {"Content-Type": "application/json"})

    with pytest.raises(FeedRejected, match="401") as raised:
        run(server, fetcher, feed_type)

    assert f"c-{feed_type}" in str(raised.value) and "secret" in str(raised.value)


@pytest.mark.parametrize("feed_type", TYPES)
def test_a_lasting_rate_limit_is_retried_then_unavailable(server, fetcher, feed_type) -> None:
    case = CASES[feed_type]
    server.set_route(case.path, 429, b'{"error": "slow down"}', {"Retry-After": "2"})
    waits: list[float] = []

    with pytest.raises(FeedUnavailable, match="429") as raised:
        run(server, fetcher, feed_type, waits)

    assert f"c-{feed_type}" in str(raised.value) and "retr" in str(raised.value)
    assert len(server.requests_to(case.path)) > 1  # retried before giving up
    assert waits == ([2.0] * RATE_LIMIT_RETRIES if case.waits else [])  # Retry-After honoured, never slept here


@pytest.mark.parametrize("feed_type", TYPES)
def test_nothing_to_fetch_is_an_explicit_empty_answer(server, fetcher, feed_type) -> None:
    server.set_route(CASES[feed_type].path, 204, b"")

    fetched = run(server, fetcher, feed_type)

    assert (fetched.status, fetched.body, fetched.feed) == (204, b"", f"c-{feed_type}")


@pytest.mark.parametrize("feed_type", TYPES)
def test_a_body_over_the_cap_is_refused_naming_the_cap(server, fetcher, feed_type) -> None:
    server.set_route(CASES[feed_type].path, 200, b"45.9.148.114\n" * 400, {"Content-Type": "text/plain"})

    with pytest.raises(FeedRejected, match=r"byte cap; raise options\.max_bytes") as raised:
        run(server, fetcher, feed_type, max_bytes=1000)

    assert f"c-{feed_type}" in str(raised.value)


@pytest.mark.parametrize("feed_type", PAGED)
def test_every_page_is_followed_and_the_last_one_ends_paging(server, fetcher, feed_type) -> None:
    case = CASES[feed_type]
    paging = case.paging
    assert paging is not None
    pages = [["45.9.148.114", "91.92.240.10"], ["185.220.101.34"]]
    asked: list[int] = []

    def answer(request: ApiRequest) -> tuple[int, dict[str, str], bytes]:
        number = paging.page_asked(request)
        asked.append(number)
        body = paging.envelope(server, pages[number - 1], number == len(pages))
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    server.set_handler(case.path, answer)

    fetched = run(server, fetcher, feed_type, **paging.options)

    assert asked == [1, 2]  # the pointer to page 2 followed, then no request after the last page
    assert fetched.status == 200 and all(v.encode() in fetched.body for page in pages for v in page)

"""The AlienVault OTX adapter against a loopback fake of ``/api/v1/pulses/subscribed`` (paged by ``next`` URLs)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from feedkit import Fetcher, api_entry

from embedded_aws.feed_server import ApiRequest, FeedServer
from threatfeed.catalogue import FeedEntry
from threatfeed.engine import EngineSettings, FeedBody, build_lists
from threatfeed.errors import ConfigError, FeedRejected, FeedUnavailable
from threatfeed.feeds import fetch_feed
from threatfeed.feeds import otx as adapter
from threatfeed.feeds.api import rfc3339

KEY = "otx-key-0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
PATH = "/api/v1/pulses/subscribed"
JSON = {"Content-Type": "application/json"}


def ind(kind: str, value: str, active: int = 1, expiration: str | None = None) -> dict[str, Any]:
    return {
        "id": abs(hash(value)) % 10**10,
        "indicator": value,
        "type": kind,
        "created": "2026-11-20T05:05:15",
        "content": "",
        "title": "",
        "description": "",
        "expiration": expiration,
        "is_active": active,
        "role": None,
    }


def pulse(name: str, *indicators: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "64d31e8a5133613a90976b3f",
        "name": name,
        "author_name": "OctoSeek",
        "modified": "2026-11-25T05:05:14.946000",
        "tlp": "green",
        "indicators": list(indicators),
    }


class FakeOtx:
    """``GET /api/v1/pulses/subscribed``: ``X-OTX-API-KEY``, pages of ``results`` linked by a full ``next`` URL."""

    def __init__(self, server: FeedServer, pages: list[list[dict[str, Any]]], next_base: str | None = None) -> None:
        self.pages = pages
        self.next_base = next_base or server.url(PATH)
        self.requests: list[ApiRequest] = []
        server.set_handler(PATH, self.subscribed)

    def subscribed(self, request: ApiRequest) -> tuple[int, dict[str, str], str]:
        self.requests.append(request)
        if request.header("X-OTX-API-KEY") != KEY:
            return 403, JSON, json.dumps({"detail": "Authentication credentials were not provided."})
        page = int(request.query.get("page", ["1"])[0])
        limit = request.query["limit"][0]
        since = request.query["modified_since"][0]
        results = self.pages[page - 1] if self.pages else []
        more = page < len(self.pages)
        link = f"{self.next_base}?limit={limit}&modified_since={since}&page={page + 1}" if more else None
        body = {"count": sum(map(len, self.pages)), "next": link, "previous": None, "results": results, "t": 0}
        return 200, JSON, json.dumps(body)


def entry(server: FeedServer, **options: Any) -> FeedEntry:
    return api_entry(server, "otx", "otx", **options)


def fetch(server, session, settings, now, secret=None, **options):
    return Fetcher(session, settings, now)(entry(server, **options), {"api_key": KEY} if secret is None else secret)


def rows(body: bytes) -> list[str]:
    return body.decode().splitlines()


def pages(now: datetime) -> list[list[dict[str, Any]]]:
    past = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    future = (now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S")
    return [
        [
            pulse(
                "Emotet, C2 (Nov)",
                ind("IPv4", "45.9.148.114", expiration=future),
                ind("domain", "update-checker.top"),
                ind("FileHash-SHA256", "bd88aa59f50df195321e185fb5aa00e00a54fd79d94d2459191b7e5d709b8128"),
            )
        ],
        [
            pulse(
                "Phishing kit",
                ind("hostname", "m.login-verify.info"),
                ind("URL", "https://cdn-dl.top/a.exe"),
                ind("IPv6", "2001:db8::1"),
                ind("IPv4", "91.92.240.10", active=0),
                ind("IPv4", "193.42.33.7", expiration=past),
            ),
            pulse("Scanners", ind("CIDR", "45.9.148.0/24"), ind("IPv4", "45.9.148.114")),
        ],
    ]


# ------------------------------------------------------------------------------------------ success
def test_pages_are_followed_and_written_as_otx_csv(server, session, settings, now) -> None:
    fake = FakeOtx(server, pages(now))

    fetched = fetch(server, session, settings, now)

    assert fetched.status == 200 and fetched.content_type.startswith("text/csv")
    assert rows(fetched.body) == [
        "Indicator type,Indicator,Description",
        'IPv4,45.9.148.114,"Emotet, C2 (Nov)"',
        'Domain name,update-checker.top,"Emotet, C2 (Nov)"',
        "Domain name,m.login-verify.info,Phishing kit",
        "CIDR,45.9.148.0/24,Scanners",
    ]  # hashes, URLs (opt-in), IPv6, inactive and expired indicators left out; duplicates once
    first, second = fake.requests
    assert first.query == {"modified_since": [rfc3339(now - timedelta(days=7))], "limit": ["50"]}
    assert second.query["page"] == ["2"] and second.query["modified_since"] == first.query["modified_since"]
    assert fetched.source_url == server.url(PATH)


def test_urls_are_opt_in(server, session, settings, now) -> None:
    FakeOtx(server, pages(now))

    fetched = fetch(server, session, settings, now, types=["URL"], page_size=10)

    assert rows(fetched.body)[1:] == ["URL,https://cdn-dl.top/a.exe,Phishing kit"]


def test_the_csv_is_what_the_engine_lists(server, session, settings, now) -> None:
    FakeOtx(server, pages(now))
    fetched = fetch(server, session, settings, now)

    result = build_lists([FeedBody("otx", fetched.body, "otx")], EngineSettings(now=now, days_requested=7))

    lists = {lst.kind: lst.body.decode().split() for lst in result.lists}
    assert lists["ip"] == ["45.9.148.0/24"]  # the address inside the /24 is aggregated into it
    assert lists["domain"] == ["m.login-verify.info", "update-checker.top"]
    auto = build_lists([FeedBody("otx", fetched.body, "auto")], EngineSettings(now=now, days_requested=7))
    assert auto.feeds["otx"].format == "otx" and auto.feeds["otx"].accepted == 4


@pytest.mark.parametrize("base", ["https://127.0.0.1:{port}", "https://127.0.0.1:443", "http://127.0.0.1"])
def test_a_next_link_on_the_same_host_keeps_the_catalogue_scheme_and_port(server, session, settings, now, base) -> None:
    fake = FakeOtx(server, pages(now), next_base=base.format(port=server.port) + PATH)

    fetched = fetch(server, session, settings, now)

    assert len(fake.requests) == 2 and len(rows(fetched.body)) == 5  # followed over the catalogue's http://


def test_a_next_link_to_another_host_is_refused_before_any_request(server, session, settings, now) -> None:
    fake = FakeOtx(server, pages(now), next_base="https://otx.attacker.invalid" + PATH)

    with pytest.raises(FeedRejected, match=r"otx\.attacker\.invalid.*not sent there"):
        fetch(server, session, settings, now)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("answer", [{"count": 0, "next": None, "results": []}, None])
def test_no_pulses_is_a_204(server, session, settings, now, answer) -> None:
    if answer is None:
        server.set_route(PATH, 204)
    else:
        server.set_route(PATH, 200, json.dumps(answer), JSON)

    fetched = fetch(server, session, settings, now)

    assert (fetched.status, fetched.body) == (204, b"")


# ---------------------------------------------------------------------------------------------- errors
def test_a_wrong_key_is_rejected_naming_the_secret_not_the_key(server, session, settings, now) -> None:
    FakeOtx(server, pages(now))

    with pytest.raises(FeedRejected) as caught:
        fetch(server, session, settings, now, secret={"api_key": "wrong-otx-key-000"})

    message = str(caught.value)
    assert "403" in message and "tf/otx" in message and "wrong-otx-key-000" not in message
    assert server.requests[0].header("X-OTX-API-KEY") == "REDACTED"


def test_a_missing_key_is_a_config_error_before_any_request(server, session, settings, now) -> None:
    with pytest.raises(ConfigError, match="api_key"):
        fetch(server, session, settings, now, secret={"key": KEY})
    assert server.requests == []


def test_an_answer_without_results_is_rejected(server, session, settings, now) -> None:
    server.set_route(PATH, 200, json.dumps({"pulses": []}), JSON)

    with pytest.raises(FeedRejected, match="'results' list"):
        fetch(server, session, settings, now)


def test_an_html_page_is_rejected(server, session, settings, now) -> None:
    server.set_route(PATH, 200, b"<!DOCTYPE html><html><body>Maintenance</body></html>", {"Content-Type": "text/html"})

    with pytest.raises(FeedRejected, match="HTML page"):
        fetch(server, session, settings, now)


def test_429_waits_then_succeeds(server, session, settings, now) -> None:
    FakeOtx(server, pages(now))
    server.set_route(PATH, 429, b'{"detail": "Request was throttled."}', times=1)
    waits: list[float] = []

    context = Fetcher(session, settings, now).context({"api_key": KEY}, sleep=waits.append)
    fetched = adapter.fetch(entry(server), context)

    assert len(waits) == 1 and fetched.status == 200


def test_a_lasting_outage_is_unavailable(server, session, settings, now) -> None:
    server.set_route(PATH, 503, b"down")

    with pytest.raises(FeedUnavailable, match="503"):
        fetch(server, session, settings, now)


def test_more_pages_than_max_pages_is_rejected(server, session, settings, now) -> None:
    FakeOtx(server, pages(now))

    with pytest.raises(FeedRejected, match="more than 1 pages"):
        fetch(server, session, settings, now, max_pages=1)


def test_description_is_one_clean_line() -> None:
    body = adapter.otx_csv({("IPv4", "45.9.148.114"): adapter._clean("line one\nline\ttwo\x00 " + "x" * 300)})

    assert rows(body)[1].startswith("IPv4,45.9.148.114,line one line two ")
    assert len(rows(body)) == 2 and len(rows(body)[1]) < 160


def test_days_outside_1_to_30_are_a_config_error(server, session, settings, now) -> None:
    with pytest.raises(ConfigError, match="days_requested"):
        fetch_feed(
            entry(server), now=now, days_requested=0, secret={"api_key": KEY}, settings=settings, session=session
        )


def test_naive_run_times_mean_utc(server, session, settings, now) -> None:
    fake = FakeOtx(server, pages(now))

    fetch_feed(
        entry(server),
        now=now.replace(tzinfo=None),
        days_requested=7,
        secret={"api_key": KEY},
        settings=settings,
        session=session,
    )

    assert fake.requests[0].query["modified_since"] == [rfc3339(now - timedelta(days=7))]

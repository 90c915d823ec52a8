"""The Mandiant v4 adapter against a loopback fake of the API (token endpoint, paged /v4/indicator), in the
shapes of Google's mandiant-ti-client fixtures."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from feedkit import Fetcher, api_entry

from embedded_aws.feed_server import ApiRequest, FeedServer
from threatfeed.catalogue import FeedEntry
from threatfeed.engine import EngineSettings, FeedBody, build_lists
from threatfeed.errors import ConfigError, FeedRejected, FeedUnavailable
from threatfeed.feeds import mandiant as adapter
from threatfeed.feeds.api import BACKOFF_BASE, RATE_LIMIT_RETRIES

KEY_ID = "mandiant-key-id-0123"
KEY_SECRET = "mandiant-key-secret-456789"
SECRET = {"key_id": KEY_ID, "key_secret": KEY_SECRET}
JSON = {"Content-Type": "application/json; charset=UTF-8"}


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def indicator(kind: str, value: str, now: datetime, mscore: int = 80, age_days: int = 2) -> dict[str, Any]:
    first = now - timedelta(days=age_days)
    return {
        "id": f"{kind}--{uuid.uuid5(uuid.NAMESPACE_DNS, value)}",
        "mscore": mscore,
        "type": kind,
        "value": value,
        "is_publishable": True,
        "sources": [{"first_seen": first.strftime("%Y-%m-%dT%H:%M:%S.000+0000"), "osint": False, "category": []}],
        "last_updated": stamp(now - timedelta(hours=3)),
        "first_seen": stamp(first),
        "last_seen": stamp(now - timedelta(days=1)),
    }


class FakeMandiant:
    """``POST /token`` (Basic key_id:key_secret, grant_type=client_credentials) and ``GET /v4/indicator`` (Bearer,
    X-App-Name; pages chained by ``next``, whose request ignores every other parameter)."""

    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.basic = "Basic " + base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()
        self.pages = pages
        self.valid: set[str] = set()
        self.issued: list[str] = []
        self.expire_after_page: int | None = None
        self.token_requests: list[ApiRequest] = []
        self.indicator_requests: list[ApiRequest] = []

    def install(self, server: FeedServer) -> FakeMandiant:
        server.set_handler("/token", self.token)
        server.set_handler("/v4/indicator", self.indicator)
        return self

    def token(self, request: ApiRequest) -> tuple[int, dict[str, str], str]:
        self.token_requests.append(request)
        if (
            request.method != "POST"
            or request.header("Authorization") != self.basic
            or request.body != b"grant_type=client_credentials"
        ):
            return 401, JSON, json.dumps({"error": "invalid_client", "error_description": "Bad client credentials"})
        issued = f"bearer-{len(self.issued) + 1}-{uuid.uuid4().hex}"
        self.issued.append(issued)
        self.valid.add(issued)
        return 200, JSON, json.dumps({"access_token": issued, "token_type": "Bearer", "expires_in": 43199})

    def indicator(self, request: ApiRequest) -> tuple[int, dict[str, str], str | bytes]:
        self.indicator_requests.append(request)
        auth = request.header("Authorization") or ""
        if not auth.startswith("Bearer ") or auth[len("Bearer ") :] not in self.valid:
            return 401, JSON, json.dumps({"error": "invalid_token"})
        if request.header("X-App-Name") != "threatfeed" or request.header("Accept") != "application/json":
            return 400, JSON, json.dumps({"error": "X-App-Name and Accept: application/json are required"})
        if "next" in request.query:
            index = int(request.query["next"][0].removeprefix("cursor-"))
        elif "start_epoch" not in request.query:
            return 400, JSON, json.dumps({"error": "start_epoch is required"})
        else:
            index = 0
        if not self.pages:
            return 204, {}, b""
        body: dict[str, Any] = {"indicators": self.pages[index]}
        if index + 1 < len(self.pages):
            body["next"] = f"cursor-{index + 1}"
        if self.expire_after_page == index:
            self.valid.clear()
        return 200, JSON, json.dumps(body)


def entry(server: FeedServer, **options: Any) -> FeedEntry:
    return api_entry(server, "mandiant", "stix", **options)


def fetch(server, session, settings, now, secret=SECRET, **options):
    return Fetcher(session, settings, now)(entry(server, **options), secret)


def objects(body: bytes) -> list[dict[str, Any]]:
    bundle = json.loads(body)
    assert bundle["type"] == "bundle" and bundle["id"].startswith("bundle--")
    return bundle["objects"]


# ------------------------------------------------------------------------------------------ success
def test_pages_are_followed_and_become_a_stix_bundle(server, session, settings, now) -> None:
    fake = FakeMandiant(
        [
            [indicator("ipv4", "45.9.148.114", now, 90), indicator("md5", "b3701c7e4e7c2f3aa8c39fa4e428ac92", now)],
            [indicator("fqdn", "update-checker.top", now, 65), indicator("url", "https://cdn-dl.top/a.exe", now)],
            [indicator("ipv4", "185.220.101.34", now, 51)],
        ]
    ).install(server)

    fetched = fetch(server, session, settings, now)

    assert (fetched.status, fetched.content_type) == (200, "application/stix+json;version=2.1")
    assert fetched.source_url == server.url("/v4/indicator") and fetched.cursor is None
    by_pattern = {o["pattern"]: o for o in objects(fetched.body)}
    assert set(by_pattern) == {
        "[ipv4-addr:value = '45.9.148.114']",
        "[ipv4-addr:value = '185.220.101.34']",
        "[domain-name:value = 'update-checker.top']",
    }  # md5 is not listable; URLs are opt-in
    ip = by_pattern["[ipv4-addr:value = '45.9.148.114']"]
    assert ip["confidence"] == 90 and ip["spec_version"] == "2.1" and ip["id"].startswith("indicator--")
    assert ip["valid_from"] == stamp(now - timedelta(days=2))

    first, second, third = fake.indicator_requests
    start = int((now - timedelta(days=7)).timestamp())
    assert first.query == {
        "start_epoch": [str(start)],
        "end_epoch": [str(int(now.timestamp()))],
        "limit": ["1000"],
        "gte_mscore": ["50"],
        "exclude_osint": ["false"],
        "include_misp": ["false"],
    }
    assert second.query == {"next": ["cursor-1"], "include_misp": ["false"]}  # the rest travels inside next
    assert third.query["next"] == ["cursor-2"]
    assert len(fake.token_requests) == 1  # one token for the whole fetch
    assert fake.token_requests[0].header("Content-Type") == "application/x-www-form-urlencoded"


def test_options_reach_the_query_and_urls_are_opt_in(server, session, settings, now) -> None:
    fake = FakeMandiant([[indicator("url", "https://cdn-dl.top/a.exe", now), indicator("ipv4", "45.9.148.114", now)]])
    fake.install(server)

    fetched = fetch(server, session, settings, now, gte_mscore=80, exclude_osint=True, page_size=200, types=["url"])

    assert [o["pattern"] for o in objects(fetched.body)] == ["[url:value = 'https://cdn-dl.top/a.exe']"]
    query = fake.indicator_requests[0].query
    assert (query["gte_mscore"], query["exclude_osint"], query["limit"]) == (["80"], ["true"], ["200"])


def test_an_indicator_below_the_score_is_dropped_even_if_the_server_sends_it(server, session, settings, now) -> None:
    FakeMandiant([[indicator("ipv4", "45.9.148.114", now, 30), indicator("ipv4", "91.92.240.10", now, 70)]]).install(
        server
    )

    patterns = [o["pattern"] for o in objects(fetch(server, session, settings, now).body)]

    assert patterns == ["[ipv4-addr:value = '91.92.240.10']"]


@pytest.mark.parametrize("pages", [[], [[]]], ids=["204", "empty-list"])
def test_no_indicators_is_a_204_with_an_empty_body(server, session, settings, now, pages) -> None:
    FakeMandiant(pages).install(server)

    fetched = fetch(server, session, settings, now)

    assert (fetched.status, fetched.body) == (204, b"")


def test_the_bundle_is_what_the_engine_lists(server, session, settings, now) -> None:
    FakeMandiant(
        [
            [
                indicator("ipv4", "45.9.148.114", now, 90),
                indicator("fqdn", "update-checker.top", now),
                indicator("ipv4", "10.1.2.3", now),  # private: the engine rejects it
            ]
        ]
    ).install(server)
    fetched = fetch(server, session, settings, now)

    result = build_lists([FeedBody("mandiant", fetched.body, "stix")], EngineSettings(now=now, days_requested=7))

    lists = {lst.kind: lst.body.decode().split() for lst in result.lists}
    assert lists["ip"] == ["45.9.148.114"] and lists["domain"] == ["update-checker.top"]
    stats = result.feeds["mandiant"]
    assert (stats.accepted, stats.rejected) == (2, 1)
    auto = build_lists([FeedBody("mandiant", fetched.body, "auto")], EngineSettings(now=now, days_requested=7))
    assert auto.feeds["mandiant"].format == "stix" and auto.feeds["mandiant"].accepted == 2


# ------------------------------------------------------------------------------------ authentication
def test_an_expired_token_is_refreshed_once_and_paging_goes_on(server, session, settings, now) -> None:
    fake = FakeMandiant([[indicator("ipv4", "45.9.148.114", now)], [indicator("ipv4", "91.92.240.10", now)]])
    fake.expire_after_page = 0
    fake.install(server)

    fetched = fetch(server, session, settings, now)

    assert len(objects(fetched.body)) == 2
    assert len(fake.token_requests) == 2
    assert [r.query.get("next") for r in fake.indicator_requests] == [None, ["cursor-1"], ["cursor-1"]]


def test_a_401_with_a_fresh_token_is_rejected_naming_the_secret_not_the_keys(server, session, settings, now) -> None:
    fake = FakeMandiant([[indicator("ipv4", "45.9.148.114", now)]]).install(server)
    server.set_handler("/v4/indicator", lambda request: (401, JSON, json.dumps({"error": "not entitled"})))

    with pytest.raises(FeedRejected) as caught:
        fetch(server, session, settings, now)

    message = str(caught.value)
    assert "401" in message and "tf/mandiant" in message and "key_id and key_secret" in message
    assert len(fake.token_requests) == 2  # one refresh, then give up
    assert KEY_ID not in message and KEY_SECRET not in message
    assert all(token not in message for token in fake.issued)


@pytest.mark.parametrize("status", [400, 401, 403])
def test_wrong_keys_are_rejected_at_the_token_endpoint(server, session, settings, now, status) -> None:
    FakeMandiant([]).install(server)
    server.set_handler(
        "/token", lambda request: (status, JSON, json.dumps({"error": "invalid_client", "echo": KEY_SECRET}))
    )

    with pytest.raises(FeedRejected) as caught:
        fetch(server, session, settings, now)

    message = str(caught.value)
    assert str(status) in message and "tf/mandiant" in message and KEY_SECRET not in message
    assert server.requests_to("/v4/indicator") == []


def test_credentials_stay_out_of_urls_and_the_request_log(server, session, settings, now, caplog) -> None:
    FakeMandiant([[indicator("ipv4", "45.9.148.114", now)]]).install(server)
    caplog.set_level("DEBUG")

    fetched = fetch(server, session, settings, now)

    token_request, data_request = server.requests
    assert token_request.header("Authorization") == data_request.header("Authorization") == "REDACTED"
    for value in (KEY_ID, KEY_SECRET, base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()):
        assert value not in fetched.source_url and value not in caplog.text
        assert all(value not in json.dumps(r.query) for r in server.requests)


@pytest.mark.parametrize(
    ("secret", "why"),
    [(None, "key_id"), ({"key_id": KEY_ID}, "no key_secret"), ({"key_id": " ", "key_secret": " "}, "no key_id or")],
)
def test_missing_keys_are_a_config_error_before_any_request(server, session, settings, now, secret, why) -> None:
    with pytest.raises(ConfigError, match=why):
        fetch(server, session, settings, now, secret=secret)
    assert server.requests == []


# ---------------------------------------------------------------------------------- throttling, caps
def test_429_waits_for_retry_after_then_succeeds(server, session, settings, now) -> None:
    FakeMandiant([[indicator("ipv4", "45.9.148.114", now)]]).install(server)
    # three 429s: the session's own two retries (instant in tests) are spent, then the adapter waits
    server.set_route("/v4/indicator", 429, b'{"error": "rate limited"}', {"Retry-After": "7"}, times=3)
    waits: list[float] = []

    fetched = adapter.fetch(entry(server), Fetcher(session, settings, now).context(SECRET, sleep=waits.append))

    assert waits == [7.0] and len(objects(fetched.body)) == 1


def test_429_without_retry_after_backs_off_exponentially(server, session, settings, now) -> None:
    FakeMandiant([[indicator("ipv4", "45.9.148.114", now)]]).install(server)
    server.set_route("/v4/indicator", 429, b"slow down", times=2)
    waits: list[float] = []

    adapter.fetch(entry(server), Fetcher(session, settings, now).context(SECRET, sleep=waits.append))

    assert waits == [BACKOFF_BASE, BACKOFF_BASE * 2]


def test_a_429_that_lasts_is_unavailable_for_the_state_machine_to_retry(server, session, settings, now) -> None:
    FakeMandiant([]).install(server)
    server.set_route("/v4/indicator", 429, b'{"error": "quota exceeded"}')
    waits: list[float] = []

    with pytest.raises(FeedUnavailable, match="429"):
        adapter.fetch(entry(server), Fetcher(session, settings, now).context(SECRET, sleep=waits.append))
    assert len(waits) == RATE_LIMIT_RETRIES


def test_more_pages_than_max_pages_is_rejected(server, session, settings, now) -> None:
    FakeMandiant([[indicator("ipv4", f"45.9.148.{n}", now)] for n in range(10, 15)]).install(server)

    with pytest.raises(FeedRejected, match=r"more than 3 pages.*options\.max_pages"):
        fetch(server, session, settings, now, max_pages=3)


def test_the_byte_cap_covers_all_pages_together(server, session, settings, now) -> None:
    FakeMandiant([[indicator("ipv4", f"45.9.148.{n}", now)] for n in range(10, 15)]).install(server)

    with pytest.raises(FeedRejected, match="max_bytes"):
        fetch(server, session, settings, now, max_bytes=1500)


def test_a_page_that_is_not_an_indicator_list_is_rejected(server, session, settings, now) -> None:
    FakeMandiant([]).install(server)
    server.set_handler("/v4/indicator", lambda request: (200, JSON, json.dumps({"objects": []})))

    with pytest.raises(FeedRejected, match="'indicators' list"):
        fetch(server, session, settings, now)


@pytest.mark.parametrize(
    ("options", "why"),
    [({"gte_mscore": 101}, "gte_mscore"), ({"types": ["md5"]}, "types"), ({"page_size": 5000}, "page_size")],
)
def test_bad_options_are_config_errors(server, session, settings, now, options, why) -> None:
    with pytest.raises(ConfigError, match=rf"options\.{why}"):
        fetch(server, session, settings, now, **options)


def test_the_bundle_is_stable_and_patterns_are_escaped() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    items = [indicator("url", "https://x.top/it's\\here", now), indicator("ipv4", "45.9.148.114", now)]

    body = adapter.stix_bundle(items, now)

    assert body == adapter.stix_bundle(list(reversed(items)), now)
    patterns = {o["pattern"] for o in json.loads(body)["objects"]}
    assert "[url:value = 'https://x.top/it\\'s\\\\here']" in patterns


def test_retry_after_and_timestamps_in_the_forms_apis_send() -> None:
    from email.utils import formatdate

    from threatfeed.feeds.api import parse_time, retry_after

    assert retry_after({"Retry-After": "12"}) == 12.0
    assert retry_after({"Retry-After": formatdate(1_000_030, usegmt=True)}, now=lambda: 1_000_000) == 30.0
    assert retry_after({"Retry-After": formatdate(999_000, usegmt=True)}, now=lambda: 1_000_000) == 0.0
    assert retry_after({}) is None and retry_after({"Retry-After": "soon"}) is None
    moment = datetime(2022, 8, 12, 6, 45, 11, tzinfo=UTC)
    for text in ("2022-08-12T06:45:11.000+0000", "2022-08-12T06:45:11.000Z", "2022-08-12T06:45:11"):
        assert parse_time(text) == moment
    assert parse_time("2022-08-12 nonsense") is None and parse_time(None) is None

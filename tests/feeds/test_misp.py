"""The MISP adapter against the loopback fake of ``POST /attributes/restSearch``
(``embedded_aws.fake_apis.FakeMisp``: filters, limit/page paging, MISP's error objects)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from feedkit import Fetcher, api_entry

from embedded_aws.fake_apis import MISP_SEARCH_PATH as SEARCH
from embedded_aws.fake_apis import FakeMisp
from embedded_aws.feed_server import FeedServer
from threatfeed.catalogue import FeedEntry
from threatfeed.engine import EngineSettings, FeedBody, build_lists
from threatfeed.errors import ConfigError, FeedRejected, FeedUnavailable
from threatfeed.feeds import misp as adapter
from threatfeed.feeds.api import BACKOFF_BASE

KEY = "misp-auth-key-AbCdEf0123456789AbCdEf0123456789"
JSON = {"Content-Type": "application/json"}


def attribute(kind: str, value: str, to_ids: bool = True, event: int = 7) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4().int % 100000),
        "event_id": str(event),
        "object_id": "0",
        "object_relation": None,
        "category": "Network activity",
        "type": kind,
        "to_ids": to_ids,
        "uuid": str(uuid.uuid4()),
        "timestamp": "1764000000",
        "distribution": "5",
        "sharing_group_id": "0",
        "comment": "seen in campaign " * 20,
        "deleted": False,
        "disable_correlation": False,
        "first_seen": None,
        "last_seen": None,
        "value": value,
        "Event": {"org_id": "1", "distribution": "0", "id": str(event), "info": "Campaign", "orgc_id": "1"},
    }


def entry(server: FeedServer, **options: Any) -> FeedEntry:
    return api_entry(server, "misp", "misp", **options)


def fetch(server, session, settings, now, secret=None, **options):
    return Fetcher(session, settings, now)(entry(server, **options), {"key": KEY} if secret is None else secret)


def values(body: bytes) -> list[str]:
    return [a["value"] for a in json.loads(body)["response"]["Attribute"]]


NETWORK = [
    attribute("ip-dst", "45.9.148.114"),
    attribute("ip-src", "91.92.240.10"),
    attribute("ip-dst|port", "185.220.101.34|443"),
    attribute("domain", "update-checker.top"),
    attribute("hostname", "c2.login-verify.info"),
    attribute("url", "https://cdn-dl.top/a.exe"),
    attribute("md5", "b3701c7e4e7c2f3aa8c39fa4e428ac92"),
    attribute("ip-dst", "193.42.33.7", to_ids=False),
]


# ------------------------------------------------------------------------------------------ success
def test_the_search_is_filtered_paged_and_trimmed(server, session, settings, now) -> None:
    fake = FakeMisp(NETWORK, keys=[KEY]).install(server)

    fetched = fetch(server, session, settings, now, page_size=2)

    assert fetched.status == 200 and fetched.content_type == "application/json"
    assert values(fetched.body) == [
        "45.9.148.114",
        "91.92.240.10",
        "185.220.101.34|443",
        "update-checker.top",
        "c2.login-verify.info",
    ]
    first = json.loads(fetched.body)["response"]["Attribute"][0]
    assert set(first) == set(adapter.KEPT_FIELDS)  # no Event, no comment
    assert [s["page"] for s in fake.searches] == [1, 2, 3]
    assert fake.searches[0] == {
        "returnFormat": "json",
        "type": ["ip-src", "ip-dst", "ip-src|port", "ip-dst|port", "domain", "hostname"],
        "to_ids": True,
        "last": "7d",
        "enforceWarninglist": True,
        "limit": 2,
        "page": 1,
    }
    (request, *_) = server.requests
    assert request.method == "POST" and request.header("Authorization") == "REDACTED" and request.query == {}


def test_options_become_filters(server, session, settings, now) -> None:
    fake = FakeMisp(NETWORK, keys=[KEY]).install(server)

    fetched = fetch(
        server,
        session,
        settings,
        now,
        types=["url", "ip-dst"],
        to_ids=False,
        enforce_warninglist=False,
        tags=["tlp:green", "!tlp:red"],
        published=True,
    )

    assert values(fetched.body) == ["45.9.148.114", "https://cdn-dl.top/a.exe", "193.42.33.7"]
    search = fake.searches[0]
    assert (search["type"], search["to_ids"], search["enforceWarninglist"]) == (["url", "ip-dst"], False, False)
    assert (search["tags"], search["published"]) == (["tlp:green", "!tlp:red"], True)


def test_the_body_is_what_the_engine_lists(server, session, settings, now) -> None:
    FakeMisp(NETWORK, keys=[KEY]).install(server)
    fetched = fetch(server, session, settings, now, to_ids=False)

    result = build_lists([FeedBody("misp", fetched.body, "misp")], EngineSettings(now=now, days_requested=7))

    lists = {lst.kind: lst.body.decode().split() for lst in result.lists}
    assert lists["ip"] == ["45.9.148.114", "91.92.240.10", "185.220.101.34"]
    assert lists["domain"] == ["c2.login-verify.info", "update-checker.top"]
    assert result.feeds["misp"].reasons == {"not_to_ids": 1}  # the engine still honours MISP's to_ids flag
    auto = build_lists([FeedBody("misp", fetched.body, "auto")], EngineSettings(now=now, days_requested=7))
    assert auto.feeds["misp"].format == "misp"


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (200, {"response": {"Attribute": []}}),
        (200, {"response": []}),
        (404, {"name": "No matches.", "message": "No matches.", "url": SEARCH}),
        (200, {"name": "No matches.", "message": "No matches.", "url": SEARCH}),
    ],
)
def test_nothing_found_is_a_204(server, session, settings, now, status, answer) -> None:
    server.set_route(SEARCH, status, json.dumps(answer), JSON)

    fetched = fetch(server, session, settings, now)

    assert (fetched.status, fetched.body) == (204, b"")


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ({"errors": {"value": ["Invalid type filter"]}, "url": SEARCH}, "Invalid type filter"),
        ({"name": "Could not search", "message": "Invalid filter: lats", "url": SEARCH}, "Invalid filter"),
        ({"message": f"Invalid key {KEY}"}, "Invalid key REDACTED"),
    ],
)
def test_an_error_object_answered_with_200_is_rejected(server, session, settings, now, answer, why) -> None:
    server.set_route(SEARCH, 200, json.dumps(answer), JSON)

    with pytest.raises(FeedRejected, match=why) as caught:
        fetch(server, session, settings, now)
    assert KEY not in str(caught.value)


def test_a_wrong_key_is_rejected_naming_the_secret_not_the_key(server, session, settings, now) -> None:
    FakeMisp(NETWORK, keys=[KEY]).install(server)

    with pytest.raises(FeedRejected) as caught:
        fetch(server, session, settings, now, secret={"key": "not-the-key-0000"})

    message = str(caught.value)
    assert "403" in message and "tf/misp" in message and "Auth keys" in message
    assert "not-the-key-0000" not in message and len(server.requests) == 1


def test_json_that_is_not_a_search_answer_is_rejected(server, session, settings, now) -> None:
    server.set_route(SEARCH, 200, json.dumps({"Event": []}), JSON)

    with pytest.raises(FeedRejected, match="without a 'response'"):
        fetch(server, session, settings, now)


def test_a_redirected_search_is_refused_not_replayed(server, session, settings, now) -> None:
    server.set_route(SEARCH, 302, b"", {"Location": "/elsewhere/restSearch"})

    with pytest.raises(FeedRejected, match="redirects"):
        fetch(server, session, settings, now)
    assert server.requests_to("/elsewhere/restSearch") == []


def test_a_missing_key_is_a_config_error_before_any_request(server, session, settings, now) -> None:
    with pytest.raises(ConfigError, match='"key"'):
        fetch(server, session, settings, now, secret={"api_key": KEY})
    assert server.requests == []


def test_unknown_attribute_types_are_a_config_error(server, session, settings, now) -> None:
    with pytest.raises(ConfigError, match=r"options\.types has 'md5'"):
        fetch(server, session, settings, now, types=["ip-dst", "md5"])


# ------------------------------------------------------------------------------- throttling (a POST)
def test_429_waits_for_retry_after_then_succeeds(server, session, settings, now) -> None:
    FakeMisp(NETWORK, keys=[KEY]).install(server)
    server.set_route(SEARCH, 429, b'{"message": "Too many requests"}', {"Retry-After": "5"}, times=1)
    waits: list[float] = []

    fetched = adapter.fetch(entry(server), Fetcher(session, settings, now).context({"key": KEY}, sleep=waits.append))

    assert waits == [5.0] and len(values(fetched.body)) == 5  # the session never retries a POST: the adapter does


def test_a_503_on_the_post_is_retried_by_the_adapter(server, session, settings, now) -> None:
    FakeMisp(NETWORK, keys=[KEY]).install(server)
    server.set_route(SEARCH, 503, b"busy", times=1)
    waits: list[float] = []

    adapter.fetch(entry(server), Fetcher(session, settings, now).context({"key": KEY}, sleep=waits.append))

    assert waits == [BACKOFF_BASE]


def test_a_lasting_429_is_unavailable(server, session, settings, now) -> None:
    server.set_route(SEARCH, 429, b"{}", {"Retry-After": "1"})

    with pytest.raises(FeedUnavailable, match="429"):
        adapter.fetch(entry(server), Fetcher(session, settings, now).context({"key": KEY}, sleep=lambda s: None))


def test_more_pages_than_max_pages_is_rejected(server, session, settings, now) -> None:
    FakeMisp(NETWORK, keys=[KEY]).install(server)

    with pytest.raises(FeedRejected, match="more than 2 pages"):
        fetch(server, session, settings, now, page_size=1, max_pages=2)

"""The TAXII 2.1 adapter against the loopback fake of a TAXII 2.1 API root (``embedded_aws.fake_apis.FakeTaxii``:
collections, paged objects with added_after, X-TAXII-Date-Added-Last), and the cursor it hands back."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from feedkit import Fetcher

from embedded_aws.fake_apis import HVI_COLLECTION as COLLECTION
from embedded_aws.fake_apis import TAXII_API_ROOT as API
from embedded_aws.fake_apis import TAXII_MEDIA_TYPE as MEDIA
from embedded_aws.fake_apis import FakeTaxii
from embedded_aws.fake_apis import taxii_timestamp as ts
from embedded_aws.feed_server import FeedServer
from threatfeed.catalogue import FeedEntry
from threatfeed.engine import EngineSettings, FeedBody, build_lists
from threatfeed.errors import ConfigError, FeedRejected, FeedUnavailable
from threatfeed.feeds import FetchedFeed
from threatfeed.feeds import taxii as adapter
from threatfeed.feeds.api import rfc3339

USER, PASSWORD = "taxii-user", "taxii-password-123"


def stix(kind: str, value: str, now: datetime, *, ident: str | None = None, revoked: bool = False, age_h: int = 30):
    made = now - timedelta(hours=age_h)
    modified = now - timedelta(hours=1) if revoked else made
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": ident or f"indicator--{uuid.uuid5(uuid.NAMESPACE_DNS, value)}",
        "created": ts(made),
        "modified": ts(modified),
        "pattern": f"[{kind}:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": ts(made),
        "revoked": revoked,
    }


def entry(server: FeedServer, url_path: str = API + "/", secret: str | None = None, **options: Any) -> FeedEntry:
    options.setdefault("collection", "High Value Indicators")
    if options["collection"] is None:
        del options["collection"]
    return FeedEntry("taxii-hvi", "taxii", server.url(url_path), format="stix", secret=secret, options=options)


def fetch(server, session, settings, now, secret=None, feed=None, **options) -> FetchedFeed:
    feed = feed or entry(server, secret="tf/taxii" if secret else None, **options)
    return Fetcher(session, settings, now)(feed, secret)


def two_runs(server, session, settings, now, added: dict[str, Any]) -> tuple[FakeTaxii, FetchedFeed, FetchedFeed]:
    """An incremental feed over two runs: the first fetches 45.9.148.114 (added five hours ago), then ``added``
    arrives (an hour ago) and the second run fetches from the first's cursor."""
    fake = FakeTaxii().install(server)
    fake.add(now - timedelta(hours=5), stix("ipv4-addr", "45.9.148.114", now))
    first = fetch(server, session, settings, now)
    fake.add(now - timedelta(hours=1), added)
    return fake, first, fetch(server, session, settings, now, cursor=first.cursor)


def patterns(body: bytes) -> list[str]:
    bundle = json.loads(body)
    assert bundle["type"] == "bundle"
    return [o.get("pattern", o["type"]) for o in bundle["objects"]]


# ------------------------------------------------------------------------------------------ success
def test_a_titled_collection_is_paged_into_one_bundle_with_a_cursor(server, session, settings, now) -> None:
    fake = FakeTaxii(server_limit=2).install(server)
    values = ["45.9.148.114", "91.92.240.10", "185.220.101.34", "193.42.33.7", "194.26.29.113"]
    for n, value in enumerate(values):
        fake.add(now - timedelta(hours=10 - n), stix("ipv4-addr", value, now))
    fake.add(now - timedelta(hours=2), {"type": "malware", "id": "malware--1", "name": "x", "is_family": True})

    fetched = fetch(server, session, settings, now)

    assert fetched.status == 200 and fetched.content_type == "application/stix+json;version=2.1"
    assert patterns(fetched.body) == [f"[ipv4-addr:value = '{v}']" for v in values]
    assert fetched.cursor == {"added_after": ts(now - timedelta(hours=6))}  # the last object's date_added
    assert fetched.source_url == server.url(f"{API}/collections/{COLLECTION}/objects/")
    listing, first, second, third = fake.requests
    assert listing.path == f"{API}/collections/"
    window = rfc3339(now - timedelta(days=7))
    assert first.query == {"added_after": [window], "limit": ["1000"], "match[type]": ["indicator"]}
    assert second.query == {**first.query, "next": ["2"]} and third.query["next"] == ["4"]
    assert all(r.header("Accept") == MEDIA for r in fake.requests)


def test_the_cursor_makes_each_run_incremental(server, session, settings, now) -> None:
    fake, first, second = two_runs(server, session, settings, now, stix("domain-name", "update-checker.top", now))
    third = fetch(server, session, settings, now, cursor=second.cursor)

    assert patterns(second.body) == ["[domain-name:value = 'update-checker.top']"]
    object_requests = [r for r in fake.requests if r.path.endswith("/objects/")]
    assert object_requests[1].query["added_after"] == [first.cursor["added_after"]]
    assert second.cursor == {"added_after": ts(now - timedelta(hours=1))}
    assert (third.status, third.body, third.cursor) == (204, b"", second.cursor)  # nothing new: cursor kept


@pytest.mark.parametrize("cursor", [{"added_after": "2001-01-01T00:00:00Z"}, {"added_after": "soon"}, {"x": 1}, "raw"])
def test_an_old_or_unreadable_cursor_falls_back_to_the_window(server, session, settings, now, cursor) -> None:
    fake = FakeTaxii().install(server)

    fetched = fetch(server, session, settings, now, cursor=cursor)

    window = rfc3339(now - timedelta(days=7))
    assert fake.requests[-1].query["added_after"] == [window]
    assert (fetched.status, fetched.cursor) == (204, {"added_after": window})


@pytest.mark.parametrize(
    ("url_path", "collection"),
    [
        (API + "/", COLLECTION),
        (f"{API}/collections/{COLLECTION}/", None),
        (f"{API}/collections/{COLLECTION}/objects/", None),
    ],
)
def test_a_collection_id_needs_no_listing(server, session, settings, now, url_path, collection) -> None:
    fake = FakeTaxii().install(server)
    fake.add(now - timedelta(hours=3), stix("ipv4-addr", "45.9.148.114", now))

    fetched = fetch(server, session, settings, now, feed=entry(server, url_path, collection=collection))

    assert fetched.status == 200
    assert [r.path for r in fake.requests] == [f"{API}/collections/{COLLECTION}/objects/"]


def test_an_alias_names_the_collection_too(server, session, settings, now) -> None:
    fake = FakeTaxii().install(server)

    fetch(server, session, settings, now, collection="hvi")

    assert fake.requests[-1].path == f"{API}/collections/{COLLECTION}/objects/"


def test_match_type_selects_more_objects_and_unreadable_types_stay_out(server, session, settings, now) -> None:
    fake = FakeTaxii().install(server)
    fake.add(now - timedelta(hours=3), stix("ipv4-addr", "45.9.148.114", now))
    fake.add(now - timedelta(hours=2), {"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "91.92.240.10"})
    fake.add(now - timedelta(hours=1), {"type": "malware", "id": "malware--1", "name": "x", "is_family": True})

    fetched = fetch(server, session, settings, now, match_type=["indicator", "ipv4-addr", "malware"])

    assert patterns(fetched.body) == ["[ipv4-addr:value = '45.9.148.114']", "ipv4-addr"]
    assert fake.requests[-1].query["match[type]"] == ["indicator,ipv4-addr,malware"]


def test_paging_without_next_asks_again_after_date_added_last(server, session, settings, now) -> None:
    fake = FakeTaxii(server_limit=2, use_next=False).install(server)
    for n, value in enumerate(["45.9.148.114", "91.92.240.10", "185.220.101.34"]):
        fake.add(now - timedelta(hours=10 - n), stix("ipv4-addr", value, now))

    fetched = fetch(server, session, settings, now)

    assert len(patterns(fetched.body)) == 3
    assert fake.requests[-1].query["added_after"] == [ts(now - timedelta(hours=9))]
    assert fetched.cursor == {"added_after": ts(now - timedelta(hours=8))}


def test_the_bundle_is_what_the_engine_lists_revocations_included(server, session, settings, now) -> None:
    fake = FakeTaxii().install(server)
    revoked_id = "indicator--" + str(uuid.uuid4())
    fake.add(
        now - timedelta(hours=4),
        stix("ipv4-addr", "45.9.148.114", now),
        stix("domain-name", "update-checker.top", now),
        stix("ipv4-addr", "91.92.240.10", now, ident=revoked_id),
    )
    fake.add(now - timedelta(hours=1), stix("ipv4-addr", "91.92.240.10", now, ident=revoked_id, revoked=True))
    fetched = fetch(server, session, settings, now)

    result = build_lists(
        [FeedBody("taxii-hvi", fetched.body, "stix", {"replace": False})], EngineSettings(now=now, days_requested=7)
    )

    lists = {lst.kind: lst.body.decode().split() for lst in result.lists}
    assert lists["ip"] == ["45.9.148.114"] and lists["domain"] == ["update-checker.top"]
    assert result.feeds["taxii-hvi"].reasons.get("revoked") == 1


def test_incremental_bodies_add_up_in_the_engine_with_replace_false(server, session, settings, now) -> None:
    _, first, second = two_runs(server, session, settings, now, stix("ipv4-addr", "91.92.240.10", now))
    as_the_pipeline_runs = EngineSettings(now=now, days_requested=7, replace_delivered=True)

    one = build_lists([FeedBody("taxii-hvi", first.body, "stix", {"replace": False})], as_the_pipeline_runs)
    two = build_lists(
        [FeedBody("taxii-hvi", second.body, "stix", {"replace": False})], as_the_pipeline_runs, previous_state=one.state
    )

    assert patterns(second.body) == ["[ipv4-addr:value = '91.92.240.10']"]
    assert [lst.body.decode().split() for lst in two.lists if lst.kind == "ip"] == [["45.9.148.114", "91.92.240.10"]]


def test_an_empty_collection_is_a_204(server, session, settings, now) -> None:
    FakeTaxii().install(server)

    fetched = fetch(server, session, settings, now)

    assert (fetched.status, fetched.body) == (204, b"")


def test_other_adapters_return_no_cursor() -> None:
    assert FetchedFeed("x", 200, b"", "text/plain", "https://feeds.invalid/x").cursor is None


# ------------------------------------------------------------------------------------ authentication
def test_basic_auth_comes_from_the_secret(server, session, settings, now) -> None:
    fake = FakeTaxii(users={USER: PASSWORD}).install(server)
    fake.add(now - timedelta(hours=3), stix("ipv4-addr", "45.9.148.114", now))

    fetched = fetch(server, session, settings, now, secret={"username": USER, "password": PASSWORD})

    assert fetched.status == 200
    assert all(r.header("Authorization") == "REDACTED" for r in server.requests)


def test_wrong_credentials_are_rejected_naming_the_secret(server, session, settings, now) -> None:
    FakeTaxii(users={USER: PASSWORD}).install(server)

    with pytest.raises(FeedRejected) as caught:
        fetch(server, session, settings, now, secret={"username": USER, "password": "wrong-password-1"})

    message = str(caught.value)
    assert "401" in message and "tf/taxii" in message and "wrong-password-1" not in message


def test_a_server_wanting_credentials_says_to_name_a_secret(server, session, settings, now) -> None:
    FakeTaxii(users={USER: PASSWORD}).install(server)

    with pytest.raises(FeedRejected, match="name a secret"):
        fetch(server, session, settings, now)


def test_a_server_that_is_not_taxii_2_1_is_rejected(server, session, settings, now) -> None:
    server.set_route(f"{API}/collections/", 406, b'{"title": "Not Acceptable"}', {"Content-Type": "application/json"})

    with pytest.raises(FeedRejected, match=r"TAXII 2\.1"):
        fetch(server, session, settings, now)


# ---------------------------------------------------------------------------------- errors and throttling
def test_429_waits_then_succeeds(server, session, settings, now) -> None:
    fake = FakeTaxii().install(server)
    fake.add(now - timedelta(hours=3), stix("ipv4-addr", "45.9.148.114", now))
    server.set_route(f"{API}/collections/{COLLECTION}/objects/", 429, b"{}", {"Retry-After": "3"}, times=3)
    waits: list[float] = []

    fetched = adapter.fetch(entry(server), Fetcher(session, settings, now).context(None, sleep=waits.append))

    assert waits == [3.0] and fetched.status == 200


def test_server_errors_are_unavailable(server, session, settings, now) -> None:
    FakeTaxii().install(server)
    server.set_route(f"{API}/collections/{COLLECTION}/objects/", 500, b'{"title": "Internal"}')

    with pytest.raises(FeedUnavailable, match="500"):
        fetch(server, session, settings, now)


def test_an_unknown_collection_is_a_config_error_listing_what_exists(server, session, settings, now) -> None:
    FakeTaxii().install(server)

    with pytest.raises(ConfigError, match=r"no collection 'Nope'.*High Value Indicators, Write Only"):
        fetch(server, session, settings, now, collection="Nope")


def test_an_unreadable_collection_is_rejected(server, session, settings, now) -> None:
    FakeTaxii().install(server)

    with pytest.raises(FeedRejected, match="can_read is false"):
        fetch(server, session, settings, now, collection="Write Only")


def test_a_collection_is_required(server, session, settings, now) -> None:
    with pytest.raises(ConfigError, match=r"options\.collection"):
        fetch(server, session, settings, now, collection=None)
    assert server.requests == []


def test_an_envelope_whose_objects_is_not_a_list_is_rejected(server, session, settings, now) -> None:
    server.set_route(f"{API}/collections/{COLLECTION}/objects/", body=b'{"more": false, "objects": {"a": 1}}')

    with pytest.raises(FeedRejected, match="not a list"):
        fetch(server, session, settings, now, collection=COLLECTION)

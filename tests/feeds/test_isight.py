"""The iSIGHT adapter: request signing (known answer) and behaviour against the loopback iSIGHT endpoint."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from email.utils import formatdate, parsedate_to_datetime

import pytest
from feedkit import Fetcher

from embedded_aws.feed_server import FeedServer
from threatfeed.catalogue import FeedEntry
from threatfeed.errors import ConfigError, FeedRejected, FeedUnavailable
from threatfeed.feeds import fetch_feed
from threatfeed.feeds.isight import fetch, ioc_query, sign, signed_headers, window

PUBLIC_KEY = "test-public-key"  # as in conftest.py
PRIVATE_KEY = "test-private-key-0123456789"
ISIGHT_SECRET = {"public_key": PUBLIC_KEY, "private_key": PRIVATE_KEY}
KAT_KEY = "demo-private-key-0123456789"
KAT_QUERY = "/view/iocs?startDate=1699395200&endDate=1700000000&format=csv"
KAT_DATE = "Tue, 14 Nov 2023 22:13:20 GMT"
# Computed once with `openssl dgst -sha256 -hmac <key>` over query + "2.6" + "text/csv" + date.
KAT_HEX = "4855eb507bd3d535351600db25a765a8fe555cfd4cdba0aed8715d007a70a235"


def entry(server: FeedServer, **kw: object) -> FeedEntry:
    fields = {"name": "isight", "type": "isight", "url": server.url(""), "format": "fireeye", "secret": "isight-keys"}
    fields.update(kw)
    return FeedEntry(**fields)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- signing
def test_signature_known_answer() -> None:
    independent = hmac.new(
        KAT_KEY.encode(), (KAT_QUERY + "2.6" + "text/csv" + KAT_DATE).encode(), hashlib.sha256
    ).hexdigest()

    assert sign(KAT_KEY, KAT_QUERY, "2.6", "text/csv", KAT_DATE) == independent == KAT_HEX


def test_signature_depends_on_every_signed_part() -> None:
    base = sign(KAT_KEY, KAT_QUERY, "2.6", "text/csv", KAT_DATE)
    assert sign(KAT_KEY + "x", KAT_QUERY, "2.6", "text/csv", KAT_DATE) != base
    assert sign(KAT_KEY, KAT_QUERY.replace("1699395200", "1699395201"), "2.6", "text/csv", KAT_DATE) != base
    assert sign(KAT_KEY, KAT_QUERY, "2.5", "text/csv", KAT_DATE) != base
    assert sign(KAT_KEY, KAT_QUERY, "2.6", "application/json", KAT_DATE) != base
    assert sign(KAT_KEY, KAT_QUERY, "2.6", "text/csv", KAT_DATE.replace("20 GMT", "21 GMT")) != base


def test_query_window_and_headers() -> None:
    now = datetime.fromtimestamp(1700000000, UTC)
    assert window(now, 7) == (1700000000 - 7 * 86400, 1700000000)
    assert window(now.replace(tzinfo=None), 1) == (1700000000 - 86400, 1700000000)  # naive means UTC
    assert ioc_query("", now, 7) == KAT_QUERY
    assert ioc_query("/api", now, 7) == "/api" + KAT_QUERY

    headers = signed_headers("pub", KAT_KEY, KAT_QUERY, KAT_DATE)
    assert headers == {
        "X-Auth": "pub",
        "X-Auth-Hash": KAT_HEX,
        "Accept-Version": "2.6",
        "Accept": "text/csv",
        "Date": KAT_DATE,
        "X-App-Name": "threatfeed",
    }
    assert parsedate_to_datetime(formatdate(1700000000, usegmt=True)).timestamp() == 1700000000


# ------------------------------------------------------------------------------ against the endpoint
def test_success_returns_the_csv_and_a_credential_free_source(server, session, settings, now) -> None:
    fetched = fetch_feed(
        entry(server), now=now, days_requested=7, secret=ISIGHT_SECRET, settings=settings, session=session
    )

    assert fetched.status == 200
    assert fetched.body == (server.samples_dir / "isight_iocs.csv").read_bytes()
    assert fetched.body.startswith(b"reportId,title,threatScape,")
    assert fetched.content_type.startswith("text/csv")
    assert PUBLIC_KEY not in fetched.source_url and PRIVATE_KEY not in fetched.source_url
    (request,) = server.requests
    end = int(now.timestamp())
    assert request.path == "/view/iocs"
    assert request.query == {"startDate": [str(end - 7 * 86400)], "endDate": [str(end)], "format": ["csv"]}
    assert request.header("X-Auth") == request.header("X-Auth-Hash") == "REDACTED"
    assert request.header("Accept-Version") == "2.6" and request.header("Accept") == "text/csv"
    assert request.header("X-App-Name") == "threatfeed"
    assert request.header("User-Agent").startswith("threatfeed/")


def test_sample_has_the_47_fire_eye_columns(server) -> None:
    header = (server.samples_dir / "isight_iocs.csv").read_text().splitlines()[0].split(",")
    assert len(header) == 47
    assert header[0] == "reportId" and header[-1] == "observationTime"
    assert {"cidr", "domain", "ip", "port", "protocol"} <= set(header)


def test_no_results_is_204_with_an_empty_body(server, session, settings, now) -> None:
    server.set_isight_results(None)

    fetched = fetch_feed(
        entry(server), now=now, days_requested=3, secret=ISIGHT_SECRET, settings=settings, session=session
    )

    assert (fetched.status, fetched.body) == (204, b"")


@pytest.mark.parametrize(
    "secret",
    [
        {"public_key": PUBLIC_KEY, "private_key": "wrong-private-key"},
        {"public_key": "someone-else", "private_key": PRIVATE_KEY},
    ],
)
def test_wrong_keys_are_rejected_naming_the_secret_not_the_keys(server, session, settings, now, secret) -> None:
    with pytest.raises(FeedRejected) as caught:
        fetch_feed(entry(server), now=now, days_requested=7, secret=secret, settings=settings, session=session)

    message = str(caught.value)
    assert "401" in message and "isight-keys" in message and "iSIGHT keys" in message
    assert secret["private_key"] not in message and secret["public_key"] not in message
    assert len(server.requests) == 1  # a 401 is not retried


def test_a_skewed_clock_is_refused_by_the_endpoint(server, session, settings, now) -> None:
    with pytest.raises(FeedRejected, match="401"):
        fetch(
            entry(server), Fetcher(session, settings, now).context(ISIGHT_SECRET, clock=lambda: now.timestamp() - 3600)
        )


def test_the_run_time_sets_the_window_and_a_catalogue_path_suffix_is_accepted(server, session, settings) -> None:
    run_start = datetime.now(UTC) - timedelta(minutes=20)  # a retried run asks for the same window
    fetched = fetch_feed(
        entry(server, url=server.url("/view/iocs/")),
        now=run_start,
        days_requested=30,
        secret=ISIGHT_SECRET,
        settings=settings,
        session=session,
    )

    assert fetched.status == 200
    assert server.requests[0].query["endDate"] == [str(int(run_start.timestamp()))]


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_and_throttling_are_unavailable(server, session, settings, now, status) -> None:
    server.set_route(
        "/view/iocs", status=status, body=b'{"success": false}', headers={"Content-Type": "application/json"}
    )

    with pytest.raises(FeedUnavailable, match=str(status)):
        fetch_feed(entry(server), now=now, days_requested=7, secret=ISIGHT_SECRET, settings=settings, session=session)


@pytest.mark.parametrize(
    ("body", "content_type", "why"),
    [
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "text/html", "HTML"),
        (b'{"success": false, "message": "Invalid date range"}', "application/json", "Invalid date range"),
        (b"id,name\n1,x\n", "text/csv", "no ip, cidr or domain"),
    ],
)
def test_a_200_that_is_not_isight_csv_is_rejected(server, session, settings, now, body, content_type, why) -> None:
    server.set_route("/view/iocs", body=body, headers={"Content-Type": content_type})

    with pytest.raises(FeedRejected, match=why):
        fetch_feed(entry(server), now=now, days_requested=7, secret=ISIGHT_SECRET, settings=settings, session=session)


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        (None, "public_key and private_key"),
        ({"public_key": PUBLIC_KEY}, "no private_key"),
        ({"public_key": "", "private_key": ""}, "no public_key or private_key"),
    ],
)
def test_missing_keys_are_a_config_error_before_any_request(server, session, settings, now, secret, why) -> None:
    with pytest.raises(ConfigError, match=why):
        fetch_feed(entry(server), now=now, days_requested=7, secret=secret, settings=settings, session=session)
    assert server.requests == []


@pytest.mark.parametrize("days", [0, 31])
def test_days_outside_1_to_30_are_a_config_error(server, session, settings, now, days) -> None:
    with pytest.raises(ConfigError, match="days_requested"):
        fetch_feed(
            entry(server), now=now, days_requested=days, secret=ISIGHT_SECRET, settings=settings, session=session
        )


def test_loopback_http_needs_the_embedded_setting(server, session, now) -> None:
    from threatfeed.config import load_settings

    deployed = load_settings({})
    with pytest.raises(ConfigError, match="loopback"):
        fetch_feed(entry(server), now=now, days_requested=7, secret=ISIGHT_SECRET, settings=deployed, session=session)
    assert server.requests == []

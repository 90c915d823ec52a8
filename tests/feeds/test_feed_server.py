"""The loopback feed server itself: samples, programmable routes, the request log and the iSIGHT checks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from email.utils import formatdate

import pytest
import requests

from embedded_aws.feed_server import FeedServer

KEYS = {"pub": "priv"}


def signed_get(
    server: FeedServer,
    target: str,
    *,
    public: str = "pub",
    private: str = "priv",
    date: str | None = None,
    drop: str | None = None,
) -> requests.Response:
    date = date or formatdate(time.time(), usegmt=True)
    headers = {"X-Auth": public, "Accept-Version": "2.6", "Accept": "text/csv", "Date": date}
    headers["X-Auth-Hash"] = hmac.new(
        private.encode(), f"{target}2.6text/csv{date}".encode(), hashlib.sha256
    ).hexdigest()
    if drop:
        headers.pop(drop)
    return requests.get(server.url(target), headers=headers, timeout=5)


def iocs(start: int, end: int, fmt: str = "csv") -> str:
    return f"/view/iocs?startDate={start}&endDate={end}&format={fmt}"


@pytest.fixture
def isight() -> FeedServer:
    with FeedServer(isight_keys=KEYS) as running:
        yield running


def test_urls_and_lifecycle() -> None:
    server = FeedServer()
    with pytest.raises(RuntimeError):
        server.url("/x")
    with server:
        assert server.url("") == f"http://127.0.0.1:{server.port}"
        assert server.url("samples/a.txt") == server.url("/samples/a.txt")
        assert server.port > 0
    server.stop()  # idempotent


def test_samples_are_served_and_nothing_outside_them(isight) -> None:
    ok = requests.get(isight.url("/samples/blocklist.txt"), timeout=5)
    assert ok.status_code == 200 and ok.headers["Content-Type"].startswith("text/plain")
    assert requests.get(isight.url("/samples/indicators.csv"), timeout=5).headers["Content-Type"].startswith("text/csv")
    assert requests.get(isight.url("/samples/../feed_server.py"), timeout=5).status_code == 404
    assert requests.get(isight.url("/samples/%2e%2e/feed_server.py"), timeout=5).status_code == 404
    assert requests.get(isight.url("/samples/missing.txt"), timeout=5).status_code == 404
    assert requests.get(isight.url("/elsewhere"), timeout=5).status_code == 404


def test_routes_override_samples_and_one_shots_come_first_in_order(isight) -> None:
    isight.set_route("/samples/blocklist.txt", status=500, body="broken")
    isight.set_route("/r", body=b"standing")
    isight.set_route("/r", status=503, body=b"first", times=1)
    isight.set_route("/r", status=429, body=b"second", times=2)

    assert requests.get(isight.url("/samples/blocklist.txt"), timeout=5).status_code == 500
    got = [(r.status_code, r.content) for r in (requests.get(isight.url("/r?x=1"), timeout=5) for _ in range(5))]
    assert got == [(503, b"first"), (429, b"second"), (429, b"second"), (200, b"standing"), (200, b"standing")]

    isight.clear_route("/samples/blocklist.txt")
    assert requests.get(isight.url("/samples/blocklist.txt"), timeout=5).status_code == 200
    isight.clear_routes()
    assert requests.get(isight.url("/r"), timeout=5).status_code == 404


def test_route_bytes_and_headers_are_served_as_given(isight) -> None:
    import gzip

    packed = gzip.compress(b"45.9.148.114\n")
    isight.set_route("/gz", body=packed, headers={"Content-Type": "application/gzip", "X-Test": "1"})

    raw = requests.get(isight.url("/gz"), timeout=5)
    assert raw.content == packed and raw.headers["X-Test"] == "1"
    assert requests.head(isight.url("/gz"), timeout=5).content == b""


def test_the_request_log_masks_credentials(isight) -> None:
    requests.get(
        isight.url("/samples/blocklist.txt?token=abc&day=1"),
        headers={"Authorization": "Bearer abc", "Auth-Key": "abc", "X-Other": "visible"},
        timeout=5,
    )

    (seen,) = isight.requests
    assert seen.method == "GET" and seen.path == "/samples/blocklist.txt" and seen.status == 200
    assert seen.query == {"token": ["REDACTED"], "day": ["1"]}
    assert seen.header("authorization") == seen.header("Auth-Key") == "REDACTED"
    assert seen.header("X-Other") == "visible"
    assert "abc" not in repr(isight.requests)
    isight.clear_requests()
    assert isight.requests == []


# -------------------------------------------------------------------------------------------- iSIGHT
def test_a_signed_request_gets_the_sample_csv(isight) -> None:
    now = int(time.time())
    answer = signed_get(isight, iocs(now - 86400, now))
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    assert answer.content.startswith(b"reportId,")

    isight.set_isight_results(None)
    assert signed_get(isight, iocs(now - 86400, now)).status_code == 204
    isight.set_isight_results("reportId,ip\nr1,45.9.148.114\n")
    assert signed_get(isight, iocs(now - 86400, now)).content == b"reportId,ip\nr1,45.9.148.114\n"


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"public": "unknown"}, "public key"),
        ({"private": "wrong"}, "does not match"),
        ({"drop": "X-Auth-Hash"}, "required"),
        ({"drop": "Accept-Version"}, "required"),
        ({"drop": "Date"}, "required"),
        ({"date": "yesterday-ish"}, "RFC 2822"),
        ({"date": formatdate(time.time() - 900, usegmt=True)}, "away from the server's clock"),
    ],
)
def test_bad_authentication_is_401(isight, kw, why) -> None:
    now = int(time.time())
    answer = signed_get(isight, iocs(now - 86400, now), **kw)
    assert answer.status_code == 401
    assert why in answer.json()["message"]


def test_the_hash_covers_the_exact_query(isight) -> None:
    now = int(time.time())
    date = formatdate(time.time(), usegmt=True)
    signed_for = iocs(now - 86400, now)
    digest = hmac.new(b"priv", f"{signed_for}2.6text/csv{date}".encode(), hashlib.sha256).hexdigest()
    headers = {"X-Auth": "pub", "X-Auth-Hash": digest, "Accept-Version": "2.6", "Accept": "text/csv", "Date": date}

    tampered = requests.get(isight.url(iocs(now - 2 * 86400, now)), headers=headers, timeout=5)
    assert tampered.status_code == 401


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("/view/iocs?endDate={now}&format=csv", "startDate"),
        ("/view/iocs?startDate=abc&endDate={now}", "startDate"),
        ("/view/iocs?startDate={now}&endDate={yesterday}", "before startDate"),
        ("/view/iocs?startDate={long_ago}&endDate={now}", "longer than 30 days"),
        ("/view/iocs?startDate={now}&endDate={tomorrow}", "in the future"),
        ("/view/iocs?startDate={yesterday}&endDate={now}&format=json", "format=csv"),
    ],
)
def test_a_bad_window_is_400(isight, target, why) -> None:
    now = int(time.time())
    values = {"now": now, "yesterday": now - 86400, "tomorrow": now + 86400, "long_ago": now - 31 * 86400}
    answer = signed_get(isight, target.format(**values))
    assert answer.status_code == 400
    assert why in json.loads(answer.content)["message"]


def test_a_thirty_day_window_is_fine_and_the_server_clock_is_injectable() -> None:
    frozen = 1_700_000_000.0
    with FeedServer(isight_keys=KEYS, clock=lambda: frozen) as server:
        answer = signed_get(server, iocs(int(frozen) - 30 * 86400, int(frozen)), date=formatdate(frozen, usegmt=True))
        assert answer.status_code == 200

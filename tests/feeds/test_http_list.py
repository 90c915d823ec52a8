"""The generic HTTPS list adapter against the loopback server."""

from __future__ import annotations

import base64
import gzip
import io
import zipfile

import pytest

from embedded_aws.feed_server import FeedServer
from threatfeed.catalogue import FeedEntry
from threatfeed.errors import ConfigError, FeedRejected, FeedUnavailable
from threatfeed.feeds import fetch_feed
from threatfeed.feeds.http_list import auth_headers


def list_entry(server: FeedServer, path: str = "/list", **kw: object) -> FeedEntry:
    fields = {"name": "blocklist", "type": "http_list", "url": server.url(path), "format": "txt"}
    fields.update(kw)
    return FeedEntry(**fields)  # type: ignore[arg-type]


def fetch(entry: FeedEntry, settings, session, now, secret=None):
    return fetch_feed(entry, now=now, days_requested=7, secret=secret, settings=settings, session=session)


# ------------------------------------------------------------------------------------------ success
def test_the_bundled_samples_are_fetched(server, session, settings, now) -> None:
    txt = fetch(list_entry(server, "/samples/blocklist.txt"), settings, session, now)
    csv = fetch(list_entry(server, "/samples/indicators.csv", format="csv"), settings, session, now)

    assert txt.status == 200 and b"45.9.148.114" in txt.body and txt.body.startswith(b"#")
    assert txt.content_type.startswith("text/plain")
    assert txt.source_url == server.url("/samples/blocklist.txt")
    assert csv.body.startswith(b"indicator,") and csv.content_type.startswith("text/csv")
    assert server.requests[0].header("Accept").startswith("text/plain")
    assert server.requests[1].header("Accept").startswith("text/csv")


def test_204_and_empty_200_are_empty_feeds_not_errors(server, session, settings, now) -> None:
    server.set_route("/none", status=204)
    server.set_route("/blank", body=b"\n\n")

    assert (fetch(list_entry(server, "/none"), settings, session, now).status, b"") == (204, b"")
    assert fetch(list_entry(server, "/blank"), settings, session, now).body == b"\n\n"


@pytest.mark.parametrize(
    ("body", "fmt"),
    [
        (gzip.compress(b"45.9.148.114\n185.220.101.34\n"), "txt"),
        (gzip.compress(b"45.9.148.114\n"), "auto"),
        ("45.9.148.114\n".encode("utf-16"), "txt"),
        (b"\xef\xbb\xbfindicator,type\n45.9.148.114,ipv4\n", "csv"),
        (b'{"response": [{"Attribute": []}]}', "misp"),
        (b'{"type": "bundle", "id": "bundle--1", "objects": []}', "stix"),
        (b'<?xml version="1.0"?><stix:STIX_Package/>', "stix"),
        (b"45.9.148.114#4#2#Malicious Host#US##0.0,0.0#3\n", "alienvault"),
        (b"caf\xe9 list (latin-1 comment)\n45.9.148.114\n", "txt"),
    ],
)
def test_bodies_that_look_like_their_format_pass(server, session, settings, now, body, fmt) -> None:
    server.set_route("/list", body=body)

    assert fetch(list_entry(server, format=fmt), settings, session, now).body == body


def test_a_zip_body_passes_as_sent(server, session, settings, now) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("list.txt", "45.9.148.114\n")
    server.set_route("/list.zip", body=buffer.getvalue(), headers={"Content-Type": "application/zip"})

    assert fetch(list_entry(server, "/list.zip"), settings, session, now).body == buffer.getvalue()


# ----------------------------------------------------------------------------------------- rejected
@pytest.mark.parametrize(
    ("body", "fmt", "why"),
    [
        (b"<!DOCTYPE html>\n<html><head><title>Login</title></head></html>", "txt", "HTML page"),
        (b"  <html><body>Just a moment...</body></html>", "auto", "HTML page"),
        (gzip.compress(b"<html><body>gzipped error page</body></html>"), "txt", "HTML page"),
        (b'{"error": "invalid api key"}', "txt", "JSON error object: invalid api key"),
        (b'{"message": "Rate limit exceeded", "code": 42}', "auto", "Rate limit exceeded"),
        (b'{"success": false, "msg": "nope"}', "misp", "JSON error object"),
        (b'[{"ip": "45.9.148.114"}]', "txt", "is JSON"),
        (b"<?xml version='1.0'?><feed/>", "csv", "XML"),
        (bytes(range(256)) * 8, "txt", "binary"),
        (b"\x00\x01\x02\x03" * 500, "auto", "binary"),
    ],
)
def test_bodies_that_are_clearly_not_the_format_are_rejected(server, session, settings, now, body, fmt, why) -> None:
    server.set_route("/list", body=body)

    with pytest.raises(FeedRejected, match=why) as caught:
        fetch(list_entry(server, format=fmt), settings, session, now)
    assert "blocklist" in str(caught.value)


@pytest.mark.parametrize(("status", "why"), [(401, "name a secret"), (403, "name a secret"), (404, "URL")])
def test_client_errors_are_rejected_with_advice(server, session, settings, now, status, why) -> None:
    server.set_route("/list", status=status, body=b"denied")

    with pytest.raises(FeedRejected, match=why) as caught:
        fetch(list_entry(server), settings, session, now)
    assert str(status) in str(caught.value) and "denied" in str(caught.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_unavailable(server, session, settings, now, status) -> None:
    server.set_route("/list", status=status, body=b"upstream broke")

    with pytest.raises(FeedUnavailable, match=f"blocklist.*{status}"):
        fetch(list_entry(server), settings, session, now)


def test_over_the_catalogue_cap_is_rejected(server, session, settings, now) -> None:
    server.set_route("/list", body=b"45.9.148.114\n" * 100)

    with pytest.raises(FeedRejected, match="max_bytes"):
        fetch(list_entry(server, options={"max_bytes": 100}), settings, session, now)


def test_a_partial_content_answer_is_rejected(server, session, settings, now) -> None:
    server.set_route("/list", status=206, body=b"45.9.148.114\n")

    with pytest.raises(FeedRejected, match="206"):
        fetch(list_entry(server), settings, session, now)


# -------------------------------------------------------------------------------------- credentials
@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        ({"header": "Auth-Key", "value": "k-123456"}, {"Auth-Key": "k-123456"}),
        ({"headers": {"X-Api-Key": "k-123456", "X-Client": "tf"}}, {"X-Api-Key": "k-123456", "X-Client": "tf"}),
        ({"token": "t-123456"}, {"Authorization": "Bearer t-123456"}),
        (
            {"username": "u", "password": "p-123456"},
            {"Authorization": "Basic " + base64.b64encode(b"u:p-123456").decode()},
        ),
    ],
)
def test_secret_shapes_become_headers(secret, expected) -> None:
    entry = FeedEntry("paid", "http_list", "https://feeds.invalid/list.txt", secret="paid-feed")
    assert auth_headers(entry, secret) == expected


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ({}, "empty"),
        ({"unrelated": "x"}, "no credentials found"),
        ({"header": "Auth-Key"}, "both"),
        ({"header": "Bad Name", "value": "x"}, "not a header name"),
        ({"header": "Host", "value": "evil.invalid"}, "not a header name"),
        ({"header": "Auth-Key", "value": "line\r\nX-Injected: 1"}, "single-line"),
        ({"headers": []}, "non-empty object"),
    ],
)
def test_bad_secret_shapes_are_config_errors_without_values(secret, why) -> None:
    entry = FeedEntry("paid", "http_list", "https://feeds.invalid/list.txt", secret="paid-feed")
    with pytest.raises(ConfigError, match=why) as caught:
        auth_headers(entry, secret)
    assert "X-Injected" not in str(caught.value) and "paid-feed" in str(caught.value)


def test_auth_header_is_sent_masked_in_the_log_and_401_names_the_secret(server, session, settings, now) -> None:
    secret = {"header": "Auth-Key", "value": "k-1234567890"}
    entry = list_entry(server, secret="paid-feed")
    server.set_route("/list", body=b"45.9.148.114\n")

    fetch(entry, settings, session, now, secret)
    assert server.requests[0].header("Auth-Key") == "REDACTED"

    server.set_route("/list", status=401, body=b'{"error": "key k-1234567890 is revoked"}')
    with pytest.raises(FeedRejected, match="credentials in secret paid-feed") as caught:
        fetch(entry, settings, session, now, secret)
    assert "k-1234567890" not in str(caught.value)


def test_no_secret_means_no_auth_header(server, session, settings, now) -> None:
    server.set_route("/list", body=b"45.9.148.114\n")
    fetch(list_entry(server), settings, session, now)
    assert server.requests[0].header("Authorization") is None

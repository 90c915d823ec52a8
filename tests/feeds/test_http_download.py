"""threatfeed.http: retries, redirects, the https-only rule, the size cap, credentials kept to their host."""

from __future__ import annotations

import gzip
import re
import time

import pytest
import requests
from requests.adapters import BaseAdapter

from embedded_aws.feed_server import FeedServer
from threatfeed.errors import ConfigError, FeedRejected, FeedUnavailable
from threatfeed.http import ERROR_BODY_BYTES, USER_AGENT, default_session, download, new_session, set_default_session


def get(session: requests.Session, url: str, **kw: object) -> tuple[int, object, bytes]:
    kw.setdefault("allow_http_loopback", True)
    kw.setdefault("feed", "test")
    return download(session, url, **kw)  # type: ignore[arg-type]


class _NoNetwork(BaseAdapter):
    """Fails the test if anything tries to connect."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def send(self, *args: object, **kwargs: object) -> requests.Response:  # type: ignore[override]
        self.calls += 1
        raise AssertionError("a connection was attempted")

    def close(self) -> None:
        pass


# ------------------------------------------------------------------------------------ session setup
def test_session_has_the_user_agent_and_retry_policy() -> None:
    session = new_session()
    adapter = session.get_adapter("https://feeds.invalid/")
    retry = adapter.max_retries
    assert session.headers["User-Agent"] == USER_AGENT and USER_AGENT.startswith("threatfeed/")
    assert retry.connect == retry.read == 2
    assert set(retry.status_forcelist) == {502, 503, 504}
    assert retry.backoff_jitter > 0 and retry.respect_retry_after_header
    assert not any(400 <= s < 500 for s in retry.status_forcelist)
    assert {429, 503} == retry.RETRY_AFTER_STATUS_CODES


def test_default_session_is_shared_and_replaceable() -> None:
    first = default_session()
    assert default_session() is first
    mine = new_session(retries=0)
    set_default_session(mine)
    try:
        assert default_session() is mine
    finally:
        set_default_session(None)
    assert default_session() is not mine


# ------------------------------------------------------------------------------------------ retries
def test_503_then_success_is_retried_without_sleeping(server: FeedServer, session) -> None:
    server.set_route("/list", status=503, body=b"busy", times=2)
    server.set_route("/list", body=b"45.9.148.114\n")

    started = time.monotonic()
    status, _, body = get(session, server.url("/list"))

    assert (status, body) == (200, b"45.9.148.114\n")
    assert [r.status for r in server.requests] == [503, 503, 200]
    assert time.monotonic() - started < 2


def test_429_with_retry_after_is_honoured_then_retried(server, session) -> None:
    server.set_route("/list", status=429, headers={"Retry-After": "0"}, times=1)
    server.set_route("/list", body=b"45.9.148.114\n")

    assert get(session, server.url("/list"))[0] == 200
    assert [r.status for r in server.requests] == [429, 200]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500])
def test_4xx_500_and_429_without_retry_after_are_not_retried_here(server, session, status) -> None:
    server.set_route("/list", status=status, body=b"no")

    assert get(session, server.url("/list"))[0] == status
    assert len(server.requests) == 1


def test_exhausted_retries_return_the_last_answer(server, session) -> None:
    server.set_route("/list", status=503, body=b"still busy")

    status, _, body = get(session, server.url("/list"))

    assert (status, body) == (503, b"still busy")
    assert len(server.requests) == 3


def test_a_dropped_connection_is_retried_then_unavailable(server, session) -> None:
    server.set_route("/list", status=0)

    with pytest.raises(FeedUnavailable, match="cannot be reached"):
        get(session, server.url("/list"))
    assert len(server.requests) == 3


def test_a_dropped_connection_once_then_success(server, session) -> None:
    server.set_route("/list", status=0, times=1)
    server.set_route("/list", body=b"45.9.148.114\n")

    assert get(session, server.url("/list"))[0] == 200


def test_a_read_timeout_is_unavailable(server) -> None:
    server.set_route("/slow", body=b"late", delay=1.0)
    session = new_session(retries=0)

    with pytest.raises(FeedUnavailable, match="did not answer within the timeout"):
        get(session, server.url("/slow"), timeout=(1.0, 0.2))


def test_a_refused_connection_is_unavailable(session) -> None:
    with FeedServer() as gone:
        url = gone.url("/list")
    with pytest.raises(FeedUnavailable, match="cannot be reached"):
        get(session, url)


# -------------------------------------------------------------------------------------------- redirects
def test_up_to_three_redirects_are_followed(server, session) -> None:
    server.set_route("/a", status=301, headers={"Location": "/b"})
    server.set_route("/b", status=302, headers={"Location": server.url("/c")})
    server.set_route("/c", status=307, headers={"Location": "/final"})
    server.set_route("/final", body=b"45.9.148.114\n")

    assert get(session, server.url("/a"))[2] == b"45.9.148.114\n"
    assert [r.path for r in server.requests] == ["/a", "/b", "/c", "/final"]


def test_a_fourth_redirect_is_rejected(server, session) -> None:
    for hop in range(4):
        server.set_route(f"/{hop}", status=302, headers={"Location": f"/{hop + 1}"})
    server.set_route("/4", body=b"never")

    with pytest.raises(FeedRejected, match="more than 3 redirects"):
        get(session, server.url("/0"))
    assert [r.path for r in server.requests] == ["/0", "/1", "/2", "/3"]


def test_a_redirect_to_plain_http_elsewhere_is_refused_without_following(server, session) -> None:
    server.set_route("/a", status=302, headers={"Location": "http://feeds.invalid/list.txt"})

    with pytest.raises(FeedRejected, match=re.escape("redirected to http://feeds.invalid/list.txt")):
        get(session, server.url("/a"))
    assert len(server.requests) == 1


def test_credentials_are_not_sent_to_another_origin(server, session) -> None:
    with FeedServer() as other:
        server.set_route("/a", status=302, headers={"Location": other.url("/list")})
        server.set_route("/same", status=302, headers={"Location": "/list"})
        other.set_route("/list", body=b"45.9.148.114\n")
        server.set_route("/list", body=b"45.9.148.114\n")
        headers = {"Authorization": "Bearer sekret", "X-Auth": "pub", "Accept": "text/plain"}

        assert get(session, server.url("/a"), headers=headers)[0] == 200
        assert get(session, server.url("/same"), headers=headers)[0] == 200

        (elsewhere,) = other.requests
        assert elsewhere.header("Authorization") is None and elsewhere.header("X-Auth") is None
        assert elsewhere.header("Accept") == "text/plain"
        same_origin = server.requests_to("/list")[0]
        assert same_origin.header("Authorization") == "REDACTED"  # sent (and masked in the log)


# ------------------------------------------------------------------------------------------ URL rules
@pytest.mark.parametrize(
    ("url", "allow", "why"),
    [
        ("http://feeds.invalid/list.txt", True, "not allowed; use https"),
        ("http://127.0.0.1:9/list.txt", False, "loopback"),
        ("ftp://feeds.invalid/list.txt", True, "scheme"),
        ("https://user:pw@feeds.invalid/list.txt", True, "credentials"),
        ("https://feeds.invalid/list.txt?apikey=abc", True, "apikey"),
    ],
)
def test_refused_urls_fail_before_any_connection(url, allow, why) -> None:
    session = requests.Session()
    guard = _NoNetwork()
    session.mount("http://", guard)
    session.mount("https://", guard)
    session.mount("ftp://", guard)

    with pytest.raises(ConfigError, match=why) as caught:
        download(session, url, allow_http_loopback=allow, feed="x")
    assert guard.calls == 0
    assert "pw@" not in str(caught.value) and "abc" not in str(caught.value)


# -------------------------------------------------------------------------------------------- size cap
def test_a_body_over_the_cap_is_rejected_from_its_content_length(server, session) -> None:
    server.set_route("/big", body=b"1.2.3.4\n" * 1000)

    with pytest.raises(FeedRejected, match="8000 bytes, over the 4096-byte cap"):
        get(session, server.url("/big"), max_bytes=4096)


def test_a_body_over_the_cap_is_rejected_while_streaming(server, session) -> None:
    # Content-Encoding gzip: the length on the wire is small, the decoded body is not.
    server.set_route("/bomb", body=gzip.compress(b"1.2.3.4\n" * 100_000), headers={"Content-Encoding": "gzip"})

    with pytest.raises(FeedRejected, match="over the 65536-byte cap"):
        get(session, server.url("/bomb"), max_bytes=65536)


def test_a_body_at_the_cap_passes_and_gzip_bodies_are_kept_as_sent(server, session) -> None:
    packed = gzip.compress(b"45.9.148.114\n")
    server.set_route("/exact", body=b"x" * 4096)
    server.set_route("/list.gz", body=packed, headers={"Content-Type": "application/gzip"})

    assert len(get(session, server.url("/exact"), max_bytes=4096)[2]) == 4096
    assert get(session, server.url("/list.gz"))[2] == packed


def test_error_bodies_are_truncated_not_rejected(server, session) -> None:
    server.set_route("/err", status=404, body=b"e" * (ERROR_BODY_BYTES * 2))

    status, _, body = get(session, server.url("/err"))

    assert status == 404 and len(body) == ERROR_BODY_BYTES


def test_the_deadline_bounds_a_whole_download(server, session) -> None:
    server.set_route("/list", body=b"x" * 200_000)

    with pytest.raises(FeedUnavailable, match="longer than"):
        get(session, server.url("/list"), deadline=-1)

"""The one HTTP session setup of threatfeed, and the one way a feed body is downloaded.

* :func:`new_session`: ``requests`` with urllib3 ``Retry`` for short blips inside one invocation: connect
  and read errors, 502/503/504, and 429/503 that carry ``Retry-After`` (honoured, up to a cap); exponential
  backoff with jitter; never on other 4xx (retrying a 401 only hides the problem). Longer outages surface
  as :class:`~threatfeed.errors.FeedUnavailable`, which the state machine retries visibly, with its own
  backoff. The ``User-Agent`` is ``threatfeed/<version>``.
* :func:`download`: a streamed GET with a body size cap, an overall deadline, at most three redirects
  (followed here, each target checked), https only (http only to loopback where allowed, checked before
  any connection), and credentials kept out of URLs, messages and logs. On a redirect to another origin
  every header but the harmless ``Accept*``/``X-App-Name`` ones is dropped, so keys never leave for a host
  the catalogue did not name.
* Public addresses only (issue 17, :mod:`threatfeed.netpolicy`). The session's :class:`PublicOnlyAdapter`
  gives urllib3 connections whose ``_new_conn`` resolves the host once (:func:`threatfeed.netpolicy.resolve`),
  checks every address, and opens the socket to exactly those addresses: there is no second lookup for DNS
  rebinding to answer differently. Only the socket changes: urllib3 still sends SNI, verifies the
  certificate against the host *name* and requests still sends ``Host: <name>``. A refusal raises before any
  connection and is not retried; :func:`download` turns it into :class:`FeedRejected` naming the feed, the
  address and its class. Whether loopback is allowed is per call (``download(allow_http_loopback=…)``), so
  the adapter keeps one urllib3 pool manager per policy: a connection opened where loopback was allowed is
  never reused where it is not. Proxies are refused (a proxy would resolve the name itself, unchecked).
"""

from __future__ import annotations

import logging
import re
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import DEFAULT_POOLBLOCK, HTTPAdapter
from requests.exceptions import InvalidURL
from requests.utils import select_proxy
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.retry import Retry

from threatfeed import __version__, netpolicy
from threatfeed.errors import ConfigError, FeedRejected, FeedUnavailable
from threatfeed.netpolicy import AddressRefused, IPAddress
from threatfeed.urls import redact_url, url_problem

logger = logging.getLogger(__name__)

USER_AGENT = f"threatfeed/{__version__}"
#: Default cap on a feed body held in memory (after Content-Encoding is undone): the API adapters, which assemble
#: their bodies from pages. GuardDuty takes 35 MB per list. Lists streamed to S3 (``download(sink=...)``) are capped
#: by the stack's MaxFeedBytes instead (``threatfeed.config.DEFAULT_MAX_FEED_BYTES``), a safety limit, not a
#: memory one.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: (connect, read) timeouts in seconds; "read" is the longest silence between two bytes.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 60.0)
#: Longest a whole download may take, redirects included (a Lambda has 900 s at most).
DEFAULT_DEADLINE = 600.0
MAX_REDIRECTS = 3
#: How much of an error (non-2xx) body is kept for the error message.
ERROR_BODY_BYTES = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Headers still sent after a redirect to another origin (scheme, host, port); all others are dropped.
SAFE_CROSS_ORIGIN_HEADERS = frozenset({"accept", "accept-version", "accept-language", "accept-encoding", "x-app-name"})
_CHUNK = 64 * 1024


class BodySink(Protocol):
    """Where :func:`download` streams a 2xx body instead of returning it (``threatfeed.storage.S3Upload``)."""

    def begin(self, status: int, headers: Mapping[str, str]) -> None: ...

    def write(self, chunk: bytes) -> None: ...


class _Retry(Retry):
    """urllib3's Retry, honouring ``Retry-After`` only on 429 and 503 (not on 413: a too-large request
    does not get smaller by waiting)."""

    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})


# ------------------------------------------------------------------------------- public addresses only
#: Whether the current :func:`download` call allows loopback feeds (the embedded AWS). Outside ``download`` it is
#: false: any other use of the session gets the strict policy.
_loopback_allowed: ContextVar[bool] = ContextVar("threatfeed_http_loopback_allowed", default=False)


class ProxyRefused(Exception):
    """The request would go through a proxy, which resolves and connects unchecked."""


def _open_socket(
    address: IPAddress,
    port: int,
    timeout: Any,
    source_address: tuple[str, int] | None,
    socket_options: Sequence[tuple[int, int, int | bytes]] | None,
) -> socket.socket:
    """A TCP socket connected to ``address`` itself: an IP address, so nothing is looked up here.

    What ``urllib3.util.connection.create_connection`` does for one address (socket options, timeout, source
    address). The tests replace it to count, and divert, every connection attempt.
    """
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        for option in socket_options or ():
            sock.setsockopt(*option)
        # urllib3's "default timeout" sentinel is neither None nor a number: keep the socket default then.
        if timeout is None or isinstance(timeout, (int, float)):
            sock.settimeout(timeout)
        if source_address:
            sock.bind(source_address)
        sock.connect((str(address), port))
    except BaseException:
        sock.close()
        raise
    return sock


def _connect_checked(conn: HTTPConnection, allow_loopback: bool) -> socket.socket:
    """``conn``'s socket: its host resolved and checked once, then connected to one of the checked addresses.

    Replaces urllib3's ``_new_conn`` (same exceptions for the same failures, so retries behave as before);
    :class:`~threatfeed.netpolicy.AddressRefused` is not an ``OSError``, so urllib3 does not retry it.
    """
    host, port = conn._dns_host, conn.port  # _dns_host: the host without brackets and trailing dot
    try:
        addresses = netpolicy.checked_addresses(host, port, allow_loopback=allow_loopback)
        error: OSError | None = None
        for address in addresses:
            logger.debug("connecting to %s port %s for %s", address, port, host)
            try:
                sock = _open_socket(address, port, conn.timeout, conn.source_address, conn.socket_options)
                break
            except OSError as failed:
                error = failed
        else:
            assert error is not None  # checked_addresses never returns an empty list
            raise error
    except socket.gaierror as failed:
        raise NameResolutionError(conn.host, conn, failed) from failed
    except TimeoutError as failed:
        raise ConnectTimeoutError(
            conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
        ) from failed
    except OSError as failed:
        raise NewConnectionError(conn, f"Failed to establish a new connection: {failed}") from failed
    sys.audit("http.client.connect", conn, conn.host, conn.port)
    return sock


class _CheckedHTTPConnection(HTTPConnection):
    """An urllib3 HTTP connection that connects only to checked addresses."""

    allow_loopback = False

    def _new_conn(self) -> socket.socket:
        return _connect_checked(self, self.allow_loopback)


class _CheckedHTTPSConnection(HTTPSConnection):
    """An urllib3 HTTPS connection that connects only to checked addresses. Only the socket is ours: TLS (SNI,
    certificate and host name verification against ``self.host``, the name) is urllib3's, unchanged."""

    allow_loopback = False

    def _new_conn(self) -> socket.socket:
        return _connect_checked(self, self.allow_loopback)


def _pool_classes(allow_loopback: bool) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pool classes whose connections are checked under one policy."""
    policy = "Loopback" if allow_loopback else "Public"
    plain = type(f"_{policy}HTTPConnection", (_CheckedHTTPConnection,), {"allow_loopback": allow_loopback})
    tls = type(f"_{policy}HTTPSConnection", (_CheckedHTTPSConnection,), {"allow_loopback": allow_loopback})
    return {
        "http": type(f"_{policy}HTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": plain}),
        "https": type(f"_{policy}HTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": tls}),
    }


_PUBLIC_POOLS = _pool_classes(False)
_LOOPBACK_POOLS = _pool_classes(True)


class PublicOnlyAdapter(HTTPAdapter):
    """A requests adapter that connects only to public addresses (see the module docstring).

    Two urllib3 pool managers, one per policy, chosen per request from the :func:`download` call's
    ``allow_http_loopback``; requests' own TLS and pool-key logic is used unchanged.
    """

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = DEFAULT_POOLBLOCK, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_PUBLIC_POOLS)
        self.loopback_poolmanager = PoolManager(num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs)
        self.loopback_poolmanager.pool_classes_by_scheme = dict(_LOOPBACK_POOLS)

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str | None,
        proxies: Mapping[str, str] | None = None,
        cert: Any = None,
    ) -> HTTPConnectionPool:
        if select_proxy(request.url or "", dict(proxies or {})):
            raise ProxyRefused(request.url)
        try:
            # requests passes True unless told otherwise; an absent value never turns certificate checks off
            checked = True if verify is None else verify
            host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, checked, cert)
        except ValueError as error:
            raise InvalidURL(error, request=request) from error
        manager = self.loopback_poolmanager if _loopback_allowed.get() else self.poolmanager
        return manager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)

    def close(self) -> None:
        super().close()
        self.loopback_poolmanager.clear()


def new_session(
    *,
    retries: int = 2,
    backoff_factor: float = 0.5,
    backoff_jitter: float = 0.5,
    backoff_max: float = 20.0,
    retry_after_max: int = 30,
    status_forcelist: tuple[int, ...] = (502, 503, 504),
    user_agent: str = USER_AGENT,
) -> requests.Session:
    """A ``requests.Session`` set up the threatfeed way (see the module docstring).

    Backoff before retry *n* (n >= 2) is ``backoff_factor * 2**(n-1) + uniform(0, backoff_jitter)``,
    capped at ``backoff_max``; a ``Retry-After`` is honoured up to ``retry_after_max`` seconds. Tests pass
    ``backoff_factor=0, backoff_jitter=0, retry_after_max=0`` to retry without sleeping.
    """
    retry = _Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=0,
        allowed_methods=frozenset({"GET", "HEAD"}),
        status_forcelist=frozenset(status_forcelist),
        backoff_factor=backoff_factor,
        backoff_jitter=backoff_jitter,
        backoff_max=backoff_max,
        respect_retry_after_header=True,
        retry_after_max=retry_after_max,
        raise_on_status=False,
        raise_on_redirect=False,
    )
    session = requests.Session()
    adapter = PublicOnlyAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = user_agent
    session.max_redirects = MAX_REDIRECTS  # download() follows redirects itself; this guards other uses
    return session


_default: requests.Session | None = None


def default_session() -> requests.Session:
    """The process-wide session (kept across warm Lambda invocations for connection reuse)."""
    global _default
    if _default is None:
        _default = new_session()
    return _default


def set_default_session(session: requests.Session | None) -> None:
    """Replace the process-wide session (the embedded AWS and tests install one with instant retries);
    ``None`` goes back to a fresh default on next use."""
    global _default
    _default = session


# ------------------------------------------------------------------------------------------- download
def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>:?\s*")


def describe_error(error: BaseException) -> str:
    """A short, credential-free description of a requests/urllib3 failure (its innermost reason)."""
    reason: BaseException = error
    for _ in range(4):
        inner = getattr(reason, "reason", None)
        if isinstance(inner, BaseException):
            reason = inner
            continue
        args = getattr(reason, "args", ())
        if args and isinstance(args[0], BaseException):
            reason = args[0]
            continue
        break
    text = _OBJECT_REPR.sub("", str(reason)).strip()
    text = re.sub(r"with url: \S+", "with url: <redacted>", text)
    text = text[:200]
    return f"{type(reason).__name__}: {text}" if text else type(reason).__name__


def download(
    session: requests.Session,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allow_http_loopback: bool = False,
    max_redirects: int = MAX_REDIRECTS,
    deadline: float = DEFAULT_DEADLINE,
    feed: str = "feed",
    sink: BodySink | None = None,
) -> tuple[int, Mapping[str, str], bytes]:
    """GET ``url`` and return ``(status, headers, body)`` of the final answer, whatever its status.

    A 2xx body over ``max_bytes`` raises :class:`FeedRejected` (checked against ``Content-Length`` before
    reading, and while streaming); other bodies are truncated to :data:`ERROR_BODY_BYTES`, they only feed
    the error message. Connection errors, timeouts and a blown ``deadline`` raise
    :class:`FeedUnavailable`; a URL the rules refuse raises :class:`ConfigError` (before any connection);
    a redirect the rules refuse, or one too many, raises :class:`FeedRejected`, and so does a host that
    resolves to a non-public address (:mod:`threatfeed.netpolicy`; also before any connection).

    With a ``sink``, a 2xx body goes to ``sink`` as it arrives (``begin`` with the status and headers, then
    ``write`` per chunk) and the returned body is empty: nothing but one chunk is held in memory, whatever the
    body's size. Error bodies are still returned, truncated, for the message.
    """
    why = url_problem(url, allow_http_loopback=allow_http_loopback)
    if why:
        raise ConfigError(f"feed {feed}: {why} ({redact_url(url)}); fix the URL in the catalogue")
    sent = dict(headers or {})
    started = time.monotonic()
    current = url
    previous: str | None = None
    for hop in range(max_redirects + 1):
        response = _get(session, current, sent, timeout, feed, allow_http_loopback=allow_http_loopback, via=previous)
        try:
            status = response.status_code
            location = response.headers.get("Location")
            logger.debug("GET %s -> %s", redact_url(current), status)
            if status in REDIRECT_STATUSES and location:
                target = urljoin(current, location)
                if hop >= max_redirects:
                    raise FeedRejected(
                        f"feed {feed}: more than {max_redirects} redirects (the last from {redact_url(current)} "
                        f"to {redact_url(target)}); point the catalogue at the final URL"
                    )
                refused = url_problem(target, allow_http_loopback=allow_http_loopback)
                if refused:
                    raise FeedRejected(
                        f"feed {feed}: {redact_url(current)} redirected to {redact_url(target)}, which is refused: "
                        f"{refused}"
                    )
                if _origin(target) != _origin(current):
                    sent = {k: v for k, v in sent.items() if k.lower() in SAFE_CROSS_ORIGIN_HEADERS}
                previous, current = current, target
                continue
            ok = 200 <= status < 300
            cap = max_bytes if ok else min(max_bytes, ERROR_BODY_BYTES)
            if ok and sink is not None:
                sink.begin(status, response.headers)
            body = _read_capped(
                response,
                cap,
                truncate=not ok,
                feed=feed,
                started=started,
                deadline=deadline,
                sink=sink if ok else None,
            )
            return status, response.headers, body
        finally:
            response.close()
    raise AssertionError("unreachable")  # pragma: no cover


def _get(
    session: requests.Session,
    url: str,
    headers: Mapping[str, str],
    timeout: float | tuple[float, float],
    feed: str,
    *,
    allow_http_loopback: bool,
    via: str | None,
) -> requests.Response:
    """One GET of ``url`` (reached by a redirect from ``via``), with every failure mapped to a threatfeed error."""
    where = redact_url(url)
    policy = _loopback_allowed.set(allow_http_loopback)
    try:
        return session.get(url, headers=headers, timeout=timeout, stream=True, allow_redirects=False)
    except AddressRefused as refused:
        lead = where if via is None else f"{redact_url(via)} redirected to {where}, which"
        raise FeedRejected(f"feed {feed}: {lead} {refused.refusal.verdict}; {refused.refusal.advice}") from None
    except ProxyRefused:
        raise ConfigError(
            f"feed {feed}: a proxy is set for {where} (HTTPS_PROXY, HTTP_PROXY or ALL_PROXY); threatfeed connects "
            "directly, so that it checks the address it connects to: unset the proxy or list the host in NO_PROXY"
        ) from None
    except requests.exceptions.SSLError as error:
        raise FeedRejected(
            f"feed {feed}: TLS with {where} failed ({describe_error(error)}); the certificate is not trusted or "
            "the host is not the one named; check the URL in the catalogue"
        ) from None
    except requests.exceptions.Timeout as error:
        raise FeedUnavailable(
            f"feed {feed}: {where} did not answer within the timeout ({describe_error(error)}); retrying later"
        ) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.RetryError) as error:
        described = describe_error(error)
        what = "did not answer within the timeout" if "TimeoutError" in described.split(":")[0] else "cannot be reached"
        raise FeedUnavailable(f"feed {feed}: {where} {what} ({described}); retrying later") from None
    except requests.exceptions.InvalidHeader:
        # requests' message quotes the header value: it may be a key, so it is not repeated here.
        raise ConfigError(
            f"feed {feed}: a request header is invalid (a value with a newline or leading space?); "
            "check the feed's secret"
        ) from None
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema):
        raise ConfigError(f"feed {feed}: the URL {where} is invalid; fix it in the catalogue") from None
    except requests.exceptions.RequestException as error:
        raise FeedUnavailable(f"feed {feed}: request to {where} failed ({describe_error(error)})") from None
    finally:
        _loopback_allowed.reset(policy)


def _read_capped(
    response: requests.Response,
    cap: int,
    *,
    truncate: bool,
    feed: str,
    started: float,
    deadline: float,
    sink: BodySink | None = None,
) -> bytes:
    declared = response.headers.get("Content-Length", "")
    encoded = response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
    if not truncate and declared.isdigit() and int(declared) > cap and not encoded:
        raise FeedRejected(
            f"feed {feed}: the body is {int(declared)} bytes, over the {cap}-byte cap; raise options.max_bytes "
            "in the catalogue if the feed really is that large"
        )
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.iter_content(_CHUNK):
            total += len(chunk)
            if total > cap:
                if truncate:
                    chunks.append(chunk[: len(chunk) - (total - cap)])
                    break
                raise FeedRejected(
                    f"feed {feed}: the body is over the {cap}-byte cap; raise options.max_bytes in the catalogue "
                    "if the feed really is that large"
                )
            if sink is not None:
                sink.write(chunk)
            else:
                chunks.append(chunk)
            if time.monotonic() - started > deadline:
                raise FeedUnavailable(f"feed {feed}: the download took longer than {deadline:.0f} s; retrying later")
    except requests.exceptions.ContentDecodingError as error:
        raise FeedRejected(
            f"feed {feed}: the body's Content-Encoding cannot be decoded ({describe_error(error)})"
        ) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
        raise FeedUnavailable(
            f"feed {feed}: the connection broke while reading the body ({describe_error(error)}); retrying later"
        ) from None
    except requests.exceptions.RequestException as error:
        raise FeedUnavailable(f"feed {feed}: reading the body failed ({describe_error(error)})") from None
    return b"".join(chunks)

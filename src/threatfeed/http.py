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
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from threatfeed import __version__
from threatfeed.catalogue import redact_url, url_problem
from threatfeed.errors import ConfigError, FeedRejected, FeedUnavailable

logger = logging.getLogger(__name__)

USER_AGENT = f"threatfeed/{__version__}"
#: Default cap on a feed body (after Content-Encoding is undone). GuardDuty takes 35 MB per list.
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


class _Retry(Retry):
    """urllib3's Retry, honouring ``Retry-After`` only on 429 and 503 (not on 413: a too-large request
    does not get smaller by waiting)."""

    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})


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
    adapter = HTTPAdapter(max_retries=retry)
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
) -> tuple[int, Mapping[str, str], bytes]:
    """GET ``url`` and return ``(status, headers, body)`` of the final answer, whatever its status.

    A 2xx body over ``max_bytes`` raises :class:`FeedRejected` (checked against ``Content-Length`` before
    reading, and while streaming); other bodies are truncated to :data:`ERROR_BODY_BYTES`, they only feed
    the error message. Connection errors, timeouts and a blown ``deadline`` raise
    :class:`FeedUnavailable`; a URL the rules refuse raises :class:`ConfigError` (before any connection);
    a redirect the rules refuse, or one too many, raises :class:`FeedRejected`.
    """
    why = url_problem(url, allow_http_loopback=allow_http_loopback)
    if why:
        raise ConfigError(f"feed {feed}: {why} ({redact_url(url)}); fix the URL in the catalogue")
    sent = dict(headers or {})
    started = time.monotonic()
    current = url
    for hop in range(max_redirects + 1):
        response = _get(session, current, sent, timeout, feed)
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
                current = target
                continue
            ok = 200 <= status < 300
            cap = max_bytes if ok else min(max_bytes, ERROR_BODY_BYTES)
            body = _read_capped(response, cap, truncate=not ok, feed=feed, started=started, deadline=deadline)
            return status, response.headers, body
        finally:
            response.close()
    raise AssertionError("unreachable")  # pragma: no cover


def _get(
    session: requests.Session, url: str, headers: Mapping[str, str], timeout: float | tuple[float, float], feed: str
) -> requests.Response:
    where = redact_url(url)
    try:
        return session.get(url, headers=headers, timeout=timeout, stream=True, allow_redirects=False)
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


def _read_capped(
    response: requests.Response, cap: int, *, truncate: bool, feed: str, started: float, deadline: float
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

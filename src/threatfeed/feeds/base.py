"""What every adapter shares: the one download call, the catalogue URL as an API root, option reading, status
interpretation and the "does this body look like the declared format" check that stops an error page from becoming
a threat list (the seed's first fault). An adapter holds only what its API does differently.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Collection, Mapping, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import requests

from threatfeed.errors import ConfigError, FeedRejected, FeedUnavailable
from threatfeed.feeds.context import FetchContext
from threatfeed.feeds.registry import FeedEntry
from threatfeed.http import DEFAULT_DEADLINE, DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, MAX_REDIRECTS, BodySink, download

#: Formats whose bodies are lines of text (CSV-like or one indicator a line).
TEXT_FORMATS = frozenset({"txt", "csv", "otx", "alienvault", "proofpoint", "fireeye", "tor"})
#: Statuses worth retrying later (the state machine's Retry on FeedUnavailable).
RETRYABLE_STATUSES = frozenset({408, 425, 429})
_HEAD_BYTES = 8192
_GZIP = b"\x1f\x8b"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_ERROR_KEYS = frozenset({"error", "errors", "fault", "exception"})
_MESSAGE_KEYS = frozenset({"message", "msg", "detail", "details", "description", "reason", "error_description"})
_DATA_KEYS = frozenset({"objects", "response", "attribute", "attributes", "indicators", "data", "results", "iocs"})


def max_bytes_of(entry: FeedEntry, default: int | None = None) -> int:
    """The entry's body cap: ``options.max_bytes``, else ``default`` (a streamed list: the stack's MaxFeedBytes),
    else :data:`~threatfeed.http.DEFAULT_MAX_BYTES` (a body assembled in memory)."""
    return int(entry.options.get("max_bytes", default or DEFAULT_MAX_BYTES))


def timeout_of(entry: FeedEntry) -> float | tuple[float, float]:
    value = entry.options.get("timeout")
    return (DEFAULT_TIMEOUT[0], float(value)) if value else DEFAULT_TIMEOUT


def content_type_of(headers: Mapping[str, str]) -> str:
    return str(headers.get("Content-Type", "")).strip()


def get(
    entry: FeedEntry,
    context: FetchContext,
    url: str,
    *,
    headers: Mapping[str, str],
    max_bytes: int | None = None,
    sink: BodySink | None = None,
    session: requests.Session | None = None,
    max_redirects: int = MAX_REDIRECTS,
    deadline: float = DEFAULT_DEADLINE,
) -> tuple[int, Mapping[str, str], bytes]:
    """One :func:`threatfeed.http.download` for ``entry``: its timeout, its body cap (unless ``max_bytes``), the
    context's session and loopback policy, messages naming the feed. Every adapter request goes through here, so
    a rule of :mod:`threatfeed.http` cannot be skipped by one adapter."""
    return download(
        session or context.session,
        url,
        headers=headers,
        timeout=timeout_of(entry),
        max_bytes=max_bytes_of(entry) if max_bytes is None else max_bytes,
        allow_http_loopback=context.allow_http_loopback,
        max_redirects=max_redirects,
        deadline=deadline,
        feed=entry.name,
        sink=sink,
    )


def url_parts(entry: FeedEntry, what: str) -> SplitResult:
    """The catalogue URL, split; :class:`ConfigError` when it has a query string or fragment: an API URL names a
    place (``what``), options go in ``options`` and credentials in the secret."""
    parts = urlsplit(entry.url)
    if parts.query or parts.fragment:
        raise ConfigError(
            f"feed {entry.name}: a {entry.type} URL is {what}, without a query string; options go in 'options' and "
            "credentials in the secret"
        )
    return parts


def api_root(entry: FeedEntry, *, strip: Sequence[str] = ()) -> str:
    """The catalogue URL as an API root: ``scheme://host[:port][/prefix]`` without a trailing slash, query or
    fragment. A trailing endpoint path in ``strip`` (e.g. ``/v4/indicator``) is allowed and removed."""
    parts = url_parts(entry, "the API root (e.g. https://<host>)")
    path = parts.path.rstrip("/")
    for suffix in strip:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def window_days(feed: str, days: int, *, max_days: int = 30) -> int:
    """``days`` when it is a whole number of days in 1..``max_days``, else :class:`ConfigError` naming the feed."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= max_days:
        raise ConfigError(
            f"feed {feed}: days_requested={days!r} is outside 1..{max_days}; fix the catalogue option or "
            "THREATFEED_DAYS_REQUESTED"
        )
    return days


def _redact(text: str, secrets: Collection[str]) -> str:
    for value in secrets:
        if value and len(value) >= 4:
            text = text.replace(value, "REDACTED")
    return text


def excerpt(body: bytes, secrets: Collection[str] = (), limit: int = 160) -> str:
    """A one-line, printable excerpt of an error body for a message (secret values masked)."""
    if not body or body[:2] == _GZIP or body[:4] in _ZIP:
        return ""
    text = body[:2048].decode("utf-8", "replace")
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    text = _redact(text, secrets)
    return text[:limit] + ("…" if len(text) > limit else "")


def status_phrase(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def raise_for_status(
    feed: str,
    status: int,
    body: bytes,
    *,
    source: str,
    auth_hint: str,
    secrets: Collection[str] = (),
) -> None:
    """Return for 2xx (except 206); raise :class:`FeedUnavailable` for 408/425/429/5xx and
    :class:`FeedRejected` for everything else, naming the feed, the status and what to do."""
    if 200 <= status < 300 and status != 206:
        return
    said = excerpt(body, secrets)
    said = f" ({said})" if said else ""
    head = f"feed {feed}: {source} answered {status_phrase(status)}{said}"
    if status in RETRYABLE_STATUSES or 500 <= status < 600:
        raise FeedUnavailable(f"{head}; the feed is unavailable or throttling, the run retries it later")
    if status in (401, 403, 407):
        raise FeedRejected(f"{head}; {auth_hint}")
    if status in (404, 410):
        raise FeedRejected(f"{head}; check the feed's URL in the catalogue")
    if 300 <= status < 400:
        raise FeedRejected(f"{head} without a usable Location; check the feed's URL in the catalogue")
    if status == 206:
        raise FeedRejected(f"{head}: a partial body was not asked for and would truncate the list")
    raise FeedRejected(f"{head}; not retried: check the feed's URL, options and secret")


# ----------------------------------------------------------------------------------------- body check
def _head_text(body: bytes) -> tuple[str, bool]:
    """The body's first few kilobytes as text (gunzipped if gzip), and whether it is compressed."""
    if body[:2] == _GZIP:
        head = body
        # One nested layer too (a list gzipped twice), as the engine unpacks it: the two must agree.
        for _ in range(2):
            if head[:2] != _GZIP:
                break
            try:
                head = zlib.decompressobj(wbits=31).decompress(head[: 64 * 1024], _HEAD_BYTES)
            except zlib.error:
                return "", True  # corrupt gzip: the engine says so, with its own error
        return _decode(head), True
    if body[:4] in _ZIP:
        return "", True
    return _decode(body[:_HEAD_BYTES]), False


def _decode(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", "replace")
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    return data.decode("utf-8", "replace")


def _json_error(body: bytes, head: str) -> str | None:
    """The message of a JSON error object (``{"error": …}``, ``{"message": …}``, ``{"success": false}``)."""
    if len(body) > 1024 * 1024:
        return None
    try:
        document: Any = json.loads(body.decode("utf-8-sig", "replace"))
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return None
    keys = {str(k).lower() for k in document}
    if keys & _DATA_KEYS and not keys & _ERROR_KEYS:
        return None
    if keys & _ERROR_KEYS or document.get("success") is False or (keys & _MESSAGE_KEYS and len(keys) <= 5):
        for key in ("message", "error", "errors", "detail", "error_description", "msg", "description", "reason"):
            for original, value in document.items():
                if str(original).lower() == key and value:
                    return json.dumps(value)[:160] if not isinstance(value, str) else value[:160]
        return head[:160]
    return None


def check_body(
    feed: str, body: bytes, fmt: str, *, content_type: str = "", source: str = "", secrets: Collection[str] = ()
) -> None:
    """Raise :class:`FeedRejected` when ``body`` is clearly not a ``fmt`` feed: an HTML page, a JSON error
    object, JSON or XML where text is expected, or binary data that is neither gzip nor zip.

    Deliberately lenient otherwise: the engine reads and counts what is inside, line by line.
    """
    if not body.strip():
        return
    head, compressed = _head_text(body)
    if compressed and not head:
        return
    start = head.lstrip().lower()
    where = f" from {source}" if source else ""
    declared = f" (Content-Type {content_type})" if content_type else ""
    lowered = start[:2048]
    if start.startswith(("<!doctype html", "<html")) or any(tag in lowered for tag in ("<html", "<head>", "<body")):
        raise FeedRejected(
            f"feed {feed}: the answer{where} is an HTML page{declared}, not a {fmt} feed (a login, error or "
            "captcha page?); check the URL and the credentials"
        )
    if start.startswith(("{", "[")):
        message = _json_error(body, head) if not compressed else None
        if message is not None:
            raise FeedRejected(
                f"feed {feed}: the answer{where} is a JSON error object: {_redact(message, secrets)}; "
                "check the URL, the options and the credentials"
            )
        if fmt in TEXT_FORMATS:
            raise FeedRejected(
                f"feed {feed}: the answer{where} is JSON{declared} where {fmt} text was declared; fix the "
                "format in the catalogue or the URL"
            )
    elif start.startswith("<") and fmt in TEXT_FORMATS:
        raise FeedRejected(
            f"feed {feed}: the answer{where} is XML or markup{declared} where {fmt} text was declared; fix the "
            "format in the catalogue or the URL"
        )
    sample = head[:4096]
    if sample:
        controls = sum(1 for ch in sample if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\t\n\r\f\v"))
        has_nul = "\x00" in sample[:512]
        if (has_nul and controls * 20 > len(sample)) or controls * 10 > len(sample):
            raise FeedRejected(
                f"feed {feed}: the answer{where} is binary data{declared}, not {fmt} text; if the feed is "
                "compressed it must be gzip or zip"
            )
    if fmt == "fireeye":
        _check_fireeye_header(feed, head, where)


def _check_fireeye_header(feed: str, head: str, where: str) -> None:
    for line in head.split("\n"):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        columns = {"".join(ch for ch in c.lower() if ch.isalnum()) for c in line.split(",")}
        if not columns & {"ip", "cidr", "domain"}:
            raise FeedRejected(
                f"feed {feed}: the answer{where} is not iSIGHT/FireEye CSV: its first line has no ip, cidr or "
                "domain column"
            )
        return

"""What the JSON API adapters (``mandiant``, ``taxii``, ``misp``, ``otx``) share, on top of
:func:`threatfeed.http.download`: they never open a connection any other way.

* :func:`call`: one API request through ``download()``, so every rule of :mod:`threatfeed.http` applies (https
  only, URL checks before connecting, size cap, deadline, redirects checked and credentials dropped on a
  cross-origin hop, errors as ``FeedUnavailable``/``FeedRejected``/``ConfigError``). POST included: see
  :class:`_PostOnce`. On 429 (and, for a POST, which the session never retries, 502/503/504) it waits the
  ``Retry-After`` (capped) or an exponential back-off and tries again, a bounded number of times; the wait
  function is a parameter so tests never sleep.
* :class:`Budget`: the pages, bytes and seconds one fetch may spend across all its requests, so a paging API
  cannot run a Lambda into its timeout or its memory.
* :func:`follow_pages`: the paging loop every paged adapter runs, with a "read one page" function of its own;
  :func:`items_and_next` reads the usual page envelope (a list of items and a ``next``).
* :func:`stix_bundle`: the STIX 2.1 bundle the STIX-writing adapters (``mandiant``, ``taxii``) deliver.
* :func:`json_document`: an API body as JSON, or :class:`FeedRejected` for an HTML page, a JSON error object or
  something that is not JSON at all.
* option and secret readers that fail with :class:`ConfigError` naming the feed and what to fix.

Credential values never appear in URLs (they are sent as headers), in messages (error excerpts are masked with
:func:`threatfeed.feeds.base.excerpt`) or in logs.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import requests

from threatfeed.errors import ConfigError, FeedRejected, FeedUnavailable
from threatfeed.feeds.base import check_body, content_type_of, get, max_bytes_of, raise_for_status, window_days
from threatfeed.feeds.context import FetchContext
from threatfeed.feeds.registry import FeedEntry
from threatfeed.http import DEFAULT_DEADLINE, MAX_REDIRECTS
from threatfeed.urls import redact_url

#: Extra attempts after a 429 (or a POST's 502/503/504) once the session's own retries are spent.
RATE_LIMIT_RETRIES = 2
#: Back-off before retry *n* when the answer has no ``Retry-After``: ``BACKOFF_BASE * 2**n`` seconds.
BACKOFF_BASE = 2.0
#: Longest single wait, whatever ``Retry-After`` asks for.
MAX_WAIT = 60.0
#: Default cap on the pages one fetch may request.
DEFAULT_MAX_PAGES = 100
_POST_RETRYABLE = frozenset({502, 503, 504})
#: Where a page is: a query, a URL, a page number, whatever the API pages by.
Where = TypeVar("Where")


# ------------------------------------------------------------------------------------------ options
def int_option(entry: FeedEntry, name: str, default: int, low: int, high: int) -> int:
    value = entry.options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"feed {entry.name}: options.{name} must be a whole number {low}..{high}, not {value!r}; fix the catalogue"
        )
    return value


def bool_option(entry: FeedEntry, name: str, default: bool) -> bool:
    value = entry.options.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"feed {entry.name}: options.{name} must be true or false, not {value!r}; fix the catalogue")
    return value


def str_option(entry: FeedEntry, name: str, default: str | None = None) -> str | None:
    value = entry.options.get(name, default)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"feed {entry.name}: options.{name} must be a non-empty string, not {value!r}")
    return value.strip() if isinstance(value, str) else None


def list_option(
    entry: FeedEntry, name: str, default: Sequence[str], allowed: Collection[str] | None = None
) -> tuple[str, ...]:
    """A list of strings (a comma-separated string is accepted too), checked against ``allowed``."""
    value = entry.options.get(name, list(default))
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"feed {entry.name}: options.{name} must be a list of strings, not {value!r}")
    items = tuple(dict.fromkeys(v.strip() for v in value))
    if not items:
        raise ConfigError(f"feed {entry.name}: options.{name} is empty; leave it out for the default")
    if allowed is not None:
        unknown = [v for v in items if v not in allowed]
        if unknown:
            raise ConfigError(
                f"feed {entry.name}: options.{name} has {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}"
            )
    return items


def secret_values(
    entry: FeedEntry, secret: Mapping[str, Any] | None, keys: Sequence[str], what: str
) -> tuple[str, ...]:
    """The values of ``keys`` in the feed's secret (stripped), or a :class:`ConfigError` naming the secret and the
    missing keys, never a value."""
    where = f"secret {entry.secret}" if entry.secret else "a secret (none is set in the catalogue)"
    shape = "{" + ", ".join(f'"{k}": "..."' for k in keys) + "}"
    if not secret:
        raise ConfigError(f"feed {entry.name}: {what} needs {where} holding {shape}")
    values = {k: str(secret.get(k) or "").strip() for k in keys}
    missing = [k for k, v in values.items() if not v]
    if missing:
        raise ConfigError(f"feed {entry.name}: {where} has no {' or '.join(missing)}; store {shape} in it")
    bad = [k for k, v in values.items() if any(ord(ch) < 32 or ord(ch) == 127 for ch in v)]
    if bad:
        raise ConfigError(
            f"feed {entry.name}: {where}: {', '.join(bad)} must be a single line without control characters"
        )
    return tuple(values[k] for k in keys)


# ----------------------------------------------------------------------------------------------- URLs
def with_query(url: str, params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> str:
    """``url`` with ``params`` appended (booleans as ``true``/``false``, ``None`` left out)."""
    if not params:
        return url
    items = params.items() if isinstance(params, Mapping) else params
    pairs = [(k, ("true" if v else "false") if isinstance(v, bool) else v) for k, v in items if v is not None]
    if not pairs:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(pairs, doseq=True)


def same_host(url: str, root: str) -> bool:
    """Whether ``url`` names the host of ``root``: a server's ``next`` link may only lead there. Scheme and port
    are not compared: a caller following the link keeps ``root``'s (so ``:443`` or ``http://`` in a link from a
    server behind a proxy changes nothing, and nothing is ever sent to another port)."""
    try:
        a, b = urlsplit(url), urlsplit(root)
        return bool(a.hostname) and (a.hostname or "").lower() == (b.hostname or "").lower()
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------- budget
class Budget:
    """Pages, bytes and seconds one fetch may spend, across every request it makes.

    ``max_bytes`` caps the sum of the bodies downloaded (the catalogue's ``options.max_bytes``), ``max_pages``
    the number of data pages (``options.max_pages``), ``deadline`` the wall time in seconds.
    """

    def __init__(
        self,
        feed: str,
        *,
        max_pages: int,
        max_bytes: int,
        deadline: float = DEFAULT_DEADLINE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.feed = feed
        self.max_pages = max_pages
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.clock = clock
        self.started = clock()
        self.pages = 0
        self.bytes = 0

    @classmethod
    def of(cls, entry: FeedEntry, *, default_pages: int = DEFAULT_MAX_PAGES) -> Budget:
        return cls(
            entry.name,
            max_pages=int_option(entry, "max_pages", default_pages, 1, 10_000),
            max_bytes=max_bytes_of(entry),
        )

    def next_page(self) -> int:
        """Count one more data page; :class:`FeedRejected` when that is one too many."""
        self.pages += 1
        if self.pages > self.max_pages:
            raise FeedRejected(
                f"feed {self.feed}: the answer has more than {self.max_pages} pages; narrow the query or raise "
                "options.max_pages in the catalogue (nothing from this run is used)"
            )
        return self.pages

    def spend(self, size: int) -> None:
        self.bytes += size

    def bytes_left(self) -> int:
        left = self.max_bytes - self.bytes
        if left <= 0:
            raise FeedRejected(
                f"feed {self.feed}: the answers add up to more than the {self.max_bytes}-byte cap; narrow the query "
                "or raise options.max_bytes in the catalogue"
            )
        return left

    def time_left(self) -> float:
        left = self.deadline - (self.clock() - self.started)
        if left <= 0:
            raise FeedUnavailable(
                f"feed {self.feed}: fetching took longer than {self.deadline:.0f} s ({self.pages} pages); "
                "retrying later"
            )
        return left


# --------------------------------------------------------------------------------------------- paging
def follow_pages(budget: Budget, first: Where, read_page: Callable[[Where], Where | None]) -> None:
    """Read pages from ``first`` on until ``read_page`` says there is no next one.

    ``read_page`` asks for the page at one place (a query, a URL, a page number: whatever the API pages by), keeps
    what it wants and returns where the next page is, or ``None`` to stop. Each page is counted against the budget
    before it is asked for, so an API that never stops paging (or pages in a circle) ends in
    :class:`FeedRejected` at ``options.max_pages`` instead of running the Lambda into its timeout; one loop for
    every adapter keeps that rule in one place.
    """
    where: Where | None = first
    while where is not None:
        budget.next_page()
        where = read_page(where)


def items_and_next(
    entry: FeedEntry,
    answer: Answer,
    key: str,
    *,
    source: str,
    hint: str,
    secrets: Collection[str],
    example: str,
) -> tuple[list[Any], str | None]:
    """The items of a page whose envelope is ``{key: [...], "next": "<token or link>"}``, and its ``next``, or
    ``None`` when paging ends; no items and no ``next`` for "nothing" (204, an empty body).

    A JSON answer without the list is almost always the wrong URL (a web page's API, another version), so the
    :class:`FeedRejected` points at the catalogue URL with ``example`` as the expected API root. An empty page
    ends paging even with a ``next``: a server that keeps linking to empty pages would otherwise be read up to
    the page cap.
    """
    doc = json_page(entry, answer, source=source, hint=hint, secrets=secrets)
    if doc is None:
        return [], None
    items = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise FeedRejected(
            f"feed {entry.name}: {source} answered without a {key!r} list; check the URL in the catalogue (the API "
            f"root, e.g. {example})"
        )
    link = doc.get("next")
    return items, link if items and isinstance(link, str) and link.strip() else None


# ------------------------------------------------------------------------------------------- requests
@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class _PostOnce:
    """Stands in for the session inside :func:`download`, which only GETs: its request is a POST with this body.

    So a POST goes through exactly the same checks as a GET (URL rules before connecting, size cap, deadline,
    error mapping, credential-free messages). :func:`call` passes ``max_redirects=0``: a POST is never replayed to
    another URL, a redirect is refused instead.
    """

    def __init__(self, session: requests.Session, data: bytes | Mapping[str, str]) -> None:
        self._session = session
        self._data = data

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self._session.post(url, data=self._data, **kwargs)


def retry_after(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date), ``None`` without one."""
    value = str(headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now())


def call(
    context: FetchContext,
    url: str,
    *,
    entry: FeedEntry,
    budget: Budget,
    headers: Mapping[str, str],
    params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
    data: bytes | Mapping[str, str] | None = None,
) -> Answer:
    """One request (a POST when ``data`` is given), retried on 429 after the ``Retry-After`` (capped at
    :data:`MAX_WAIT`) or an exponential back-off, at most :data:`RATE_LIMIT_RETRIES` times and never past the
    budget's deadline. Returns the final answer whatever its status: the caller interprets it (usually with
    :func:`threatfeed.feeds.base.raise_for_status`, which makes a 429 left over ``FeedUnavailable``)."""
    target = with_query(url, params)
    runner: Any = None if data is None else _PostOnce(context.session, data)
    retryable = {429} if data is None else {429, *_POST_RETRYABLE}
    attempt = 0
    while True:
        status, response_headers, body = get(
            entry,
            context,
            target,
            headers=headers,
            max_bytes=budget.bytes_left(),
            session=runner,
            max_redirects=MAX_REDIRECTS if data is None else 0,
            deadline=budget.time_left(),
        )
        budget.spend(len(body))
        if status not in retryable or attempt >= RATE_LIMIT_RETRIES:
            return Answer(status, response_headers, body)
        asked = retry_after(response_headers)
        wait = min(MAX_WAIT, BACKOFF_BASE * 2**attempt if asked is None else asked)
        if wait >= budget.time_left():
            return Answer(status, response_headers, body)
        context.sleep(wait)
        attempt += 1


def json_document(feed: str, body: bytes, *, source: str, content_type: str = "", secrets: Collection[str] = ()) -> Any:
    """``body`` parsed as JSON; :class:`FeedRejected` for an HTML page, a JSON error object or non-JSON."""
    check_body(feed, body, "json", content_type=content_type, source=source, secrets=secrets)
    try:
        return json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as error:
        raise FeedRejected(
            f"feed {feed}: the answer from {source} is not valid JSON ({type(error).__name__} near byte "
            f"{getattr(error, 'pos', '?')}); check the URL in the catalogue"
        ) from None


def json_page(entry: FeedEntry, answer: Answer, *, source: str, hint: str, secrets: Collection[str]) -> Any:
    """An API answer's JSON document, or ``None`` for "nothing" (204 or an empty body); a failed status raises
    per :func:`threatfeed.feeds.base.raise_for_status` (``hint`` says what to check on 401/403)."""
    raise_for_status(entry.name, answer.status, answer.body, source=source, auth_hint=hint, secrets=secrets)
    if answer.status == 204 or not answer.body.strip():
        return None
    return json_document(
        entry.name, answer.body, source=source, content_type=content_type_of(answer.headers), secrets=secrets
    )


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 timestamp (``Z`` or an offset; naive means UTC) as an aware datetime, ``None`` otherwise."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":" and text[-4:].isdigit():  # +0000 -> +00:00
        text = text[:-2] + ":" + text[-2:]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    """UTC, second precision, ``Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_start(now: datetime, days: int, feed: str, *, max_days: int = 30) -> datetime:
    """The start of the Days Requested window ending at the run's start time (``now``; naive means UTC)."""
    window_days(feed, days, max_days=max_days)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(now.timestamp()) - days * 86400, UTC)


def stix_bundle(objects: Sequence[Mapping[str, Any]]) -> bytes:
    """The objects as one STIX 2.1 bundle whose id is derived from the content: equal input gives equal output, so
    an unchanged feed gives a byte-equal body and the pipeline can tell nothing changed."""
    digest = hashlib.sha256(json.dumps(objects, sort_keys=True).encode()).hexdigest()
    bundle = {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid5(uuid.NAMESPACE_URL, 'threatfeed:' + digest)}",
        "objects": objects,
    }
    return json.dumps(bundle, separators=(",", ":")).encode()


def source_of(url: str) -> str:
    """A credential-free form of ``url`` for messages, logs and object metadata."""
    return redact_url(url)

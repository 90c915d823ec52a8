"""AlienVault OTX: the indicators of the pulses you subscribe to, modified in the Days Requested window.

Request (OTX DirectConnect API v1; the shapes of the OTX Python SDK and Elastic's ``ti_otx`` integration)::

    GET <url>/api/v1/pulses/subscribed?modified_since=<now - days, RFC 3339>&limit=<page_size>
    X-OTX-API-KEY: <api key>
    -> {"count": n, "next": "<url of the next page>" | null, "results": [{"id", "name", "modified",
        "indicators": [{"indicator", "type", "created", "expiration", "is_active", ...}]}]}

Paging follows ``next`` (a full URL) while it names the catalogue URL's host: the path and query are taken from
it, the scheme and host stay the catalogue's, so the key never leaves for another host and never travels over
http. ``options.max_pages`` (default 50) and ``options.max_bytes`` cap the download.

Kept: indicators whose ``type`` is in ``options.types`` (default ``IPv4, CIDR, domain, hostname``; ``URL`` may
be added: the engine reduces a URL to its host, a whole shared host, hence opt-in), that are active
(``is_active`` not 0) and not expired (``expiration`` after the run's start).

Output: an OTX_CSV body (``format: otx``): ``Indicator type,Indicator,Description`` with the pulse name as the
description; ``domain`` and ``hostname`` both become ``Domain name`` (GuardDuty's OTX_CSV spelling). No
indicator gives a 204 with an empty body. Secret: ``{"api_key": "<OTX key>"}``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from threatfeed.errors import FeedRejected
from threatfeed.feeds import api
from threatfeed.feeds.base import api_root
from threatfeed.feeds.context import FetchContext, FetchedFeed
from threatfeed.feeds.registry import FeedEntry

DEFAULT_URL = "https://otx.alienvault.com"
SUBSCRIBED_PATH = "/api/v1/pulses/subscribed"
#: OTX indicator type -> the OTX_CSV "Indicator type" written.
CSV_TYPES = {"IPv4": "IPv4", "CIDR": "CIDR", "domain": "Domain name", "hostname": "Domain name", "URL": "URL"}
DEFAULT_TYPES = ("IPv4", "CIDR", "domain", "hostname")
DEFAULT_PAGE_SIZE = 50
DEFAULT_MAX_PAGES = 50
HEADER = ("Indicator type", "Indicator", "Description")
_DESCRIPTION_CHARS = 120
#: Where a page is: its URL and the query to add (only the first page has one; ``next`` links carry theirs).
_Page = tuple[str, Mapping[str, Any] | None]


def fetch(entry: FeedEntry, context: FetchContext) -> FetchedFeed:
    """Download the subscribed pulses modified in the window and return their indicators as OTX_CSV."""
    (key,) = api.secret_values(entry, context.secret, ("api_key",), "OTX")
    now = context.now if context.now.tzinfo else context.now.replace(tzinfo=UTC)
    since = api.window_start(now, context.days_requested, entry.name)
    root = api_root(entry, strip=(SUBSCRIBED_PATH,))
    kinds = api.list_option(entry, "types", DEFAULT_TYPES, allowed=tuple(CSV_TYPES))
    page_size = api.int_option(entry, "page_size", DEFAULT_PAGE_SIZE, 1, 1000)
    budget = api.Budget.of(entry, default_pages=DEFAULT_MAX_PAGES)
    headers = {"X-OTX-API-KEY": key, "Accept": "application/json"}
    hint = f"check the api_key in secret {entry.secret} (OTX: Settings, OTX Key); not retried"
    url = root + SUBSCRIBED_PATH
    source = api.source_of(url)
    rows: dict[tuple[str, str], str] = {}

    def read_page(where: _Page) -> _Page | None:
        page_url, params = where
        answer = api.call(context, page_url, entry=entry, budget=budget, headers=headers, params=params)
        pulses, link = api.items_and_next(
            entry, answer, "results", source="OTX", hint=hint, secrets=(key,), example=DEFAULT_URL
        )
        for pulse in pulses:
            _collect(pulse, kinds, now, rows)
        return None if link is None else (_next_page(entry, root, link.strip()), None)

    first: _Page = (url, {"modified_since": api.rfc3339(since), "limit": page_size})
    api.follow_pages(budget, first, read_page)
    if not rows:
        return FetchedFeed.empty(entry.name, source)
    return FetchedFeed(entry.name, 200, otx_csv(rows), "text/csv; charset=utf-8", source)


def _next_page(entry: FeedEntry, root: str, link: str) -> str:
    """The next page's URL on the catalogue's scheme and host (its path and query from ``link``)."""
    if not api.same_host(link, root):
        raise FeedRejected(
            f"feed {entry.name}: OTX's next page is on {urlsplit(link).hostname or 'an unnamed host'}, not on the "
            "catalogue URL's host; the API key is not sent there. Check the URL in the catalogue"
        )
    ours, theirs = urlsplit(root), urlsplit(link)
    return urlunsplit((ours.scheme, ours.netloc, theirs.path, theirs.query, ""))


def _collect(pulse: Any, kinds: tuple[str, ...], now: datetime, rows: dict[tuple[str, str], str]) -> None:
    if not isinstance(pulse, dict):
        return
    description = _clean(pulse.get("name")) or f"OTX pulse {_clean(pulse.get('id'))}"
    for item in pulse.get("indicators") or []:
        if not isinstance(item, dict) or item.get("type") not in kinds:
            continue
        value = item.get("indicator")
        if not isinstance(value, str) or not value.strip():
            continue
        if item.get("is_active") in (0, False, "0"):
            continue
        expires = api.parse_time(item.get("expiration"))
        if expires is not None and expires <= now:
            continue
        rows.setdefault((CSV_TYPES[item["type"]], value.strip()), description)


def _clean(value: Any) -> str:
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in str(value or "")).split())
    return text[:_DESCRIPTION_CHARS]


def otx_csv(rows: Mapping[tuple[str, str], str]) -> bytes:
    """GuardDuty's OTX_CSV: ``Indicator type,Indicator,Description``, one row per indicator."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for (kind, value), description in rows.items():
        writer.writerow((kind, value, description))
    return out.getvalue().encode("utf-8")

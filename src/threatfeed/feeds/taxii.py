"""TAXII 2.1: the STIX objects added to one collection since the last run, as a STIX 2.1 bundle.

Requests (TAXII 2.1, sections 5.1 and 5.3; FACTS.md), all with ``Accept: application/taxii+json;version=2.1``::

    GET <api root>/collections/                  -> {"collections": [{"id", "title", "alias", "can_read", ...}]}
        (only when ``options.collection`` is a title or alias, not an id)
    GET <api root>/collections/<id>/objects/?added_after=<t>&limit=<n>&match[type]=indicator[&next=<token>]
        -> {"more": true|false, "next": "<token>", "objects": [...]},
           header X-TAXII-Date-Added-Last: the date_added of the last object of this page

Catalogue: ``url`` is the API root (``https://taxii.example.org/api1/``), or a collection URL
(``…/api1/collections/<id>/``); ``options.collection`` names the collection by id, title or alias. Other
options: ``page_size`` (``limit``, default 1000), ``match_type`` (default ``["indicator"]``; the engine also
reads ``ipv4-addr``, ``domain-name`` and ``url`` objects), ``max_pages`` (default 100), ``max_bytes``.

Incremental: the first run asks for what was added in the Days Requested window; each answer's latest
``X-TAXII-Date-Added-Last`` comes back as :attr:`FetchedFeed.cursor` ``{"added_after": "<timestamp>"}``. The
caller stores it and hands it back as ``entry.options["cursor"]``; the next run then asks only for what is newer
(never older than the window). So the body holds only new objects: set ``options.replace: false`` on a TAXII
feed, for the engine to keep earlier objects until they age out instead of treating the body as the whole
list (the pipeline's default for feeds that deliver). A cursor that cannot be read is ignored (the
window is used). Paging follows ``more``/``next``; a server that pages with ``more`` but no ``next`` is asked
again with ``added_after`` = that page's ``X-TAXII-Date-Added-Last`` (section 3.4).

Authentication, from the secret if one is named (the shapes of ``http_list``): ``{"username", "password"}``
(HTTP Basic), ``{"token"}`` (``Authorization: Bearer``), ``{"header", "value"}`` or ``{"headers": {...}}``
(e.g. ``Authorization: Token …`` for servers that want that scheme). Public servers need none.

Output keeps the object types the engine reads (``indicator``, ``ipv4-addr``, ``ipv6-addr``, ``domain-name``,
``url``), revocations included (an ``indicator`` with ``revoked: true``: the engine retracts it). Nothing new
gives a 204 with an empty body and the cursor unchanged.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlunsplit

from threatfeed.errors import ConfigError, FeedRejected
from threatfeed.feeds import api
from threatfeed.feeds.base import status_phrase, url_parts
from threatfeed.feeds.context import FetchContext, FetchedFeed
from threatfeed.feeds.http_list import auth_headers
from threatfeed.feeds.registry import FeedEntry

logger = logging.getLogger(__name__)

MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
DATE_ADDED_LAST = "X-TAXII-Date-Added-Last"
#: STIX object types the engine reads; the others are left out of the bundle.
KEPT_TYPES = frozenset({"indicator", "ipv4-addr", "ipv6-addr", "domain-name", "url"})
DEFAULT_MATCH_TYPES = ("indicator",)
_COLLECTION_IN_PATH = re.compile(r"^(?P<root>.*?)/collections/(?P<id>[^/]+)(?:/objects)?/?$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def locate(entry: FeedEntry) -> tuple[str, str]:
    """``(api root without trailing slash, collection id/title/alias)`` from the URL and ``options.collection``."""
    parts = url_parts(entry, "the API root or a collection URL (the collection may go in options.collection)")
    path = parts.path.rstrip("/")
    from_path = None
    match = _COLLECTION_IN_PATH.match(path)
    if match:
        path, from_path = match.group("root"), match.group("id")
    option = api.str_option(entry, "collection")
    if option and from_path and option != from_path:
        raise ConfigError(
            f"feed {entry.name}: the URL names collection {from_path!r} but options.collection is {option!r}; "
            "keep one of them"
        )
    collection = option or from_path
    if not collection:
        raise ConfigError(
            f"feed {entry.name}: a TAXII feed needs options.collection (the collection's id, title or alias); "
            "GET <api root>/collections/ lists them"
        )
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")), collection


def start_after(entry: FeedEntry, now: datetime, days: int) -> str:
    """``added_after`` for this run: the stored cursor, but never before the Days Requested window."""
    window = api.window_start(now, days, entry.name)
    cursor = entry.options.get("cursor")
    stored = cursor.get("added_after") if isinstance(cursor, Mapping) else None
    when = api.parse_time(stored)
    if cursor is not None and when is None:
        logger.warning("feed %s: the stored TAXII cursor is unreadable; fetching the whole window", entry.name)
    if when is not None and when > window:
        return str(stored).strip()
    return api.rfc3339(window)


def fetch(entry: FeedEntry, context: FetchContext) -> FetchedFeed:
    """Download the collection's objects added since the cursor (or in the window) as a STIX 2.1 bundle."""
    credentials = auth_headers(entry, context.secret)
    secrets = tuple(credentials.values())
    root, wanted = locate(entry)
    page_size = api.int_option(entry, "page_size", 1000, 1, 10_000)
    match_types = api.list_option(entry, "match_type", DEFAULT_MATCH_TYPES)
    added_after = start_after(entry, context.now, context.days_requested)
    budget = api.Budget.of(entry)
    headers = {"Accept": MEDIA_TYPE, **credentials}
    if entry.secret:
        hint = f"check the credentials in secret {entry.secret} and that they may read the collection; not retried"
    else:
        hint = "the server wants credentials: name a secret in the catalogue entry; not retried"

    def get(url: str, params: Mapping[str, Any] | None, what: str) -> tuple[Any, Mapping[str, str]]:
        answer = api.call(context, url, entry=entry, budget=budget, headers=headers, params=params)
        if answer.status == 406:
            raise FeedRejected(
                f"feed {entry.name}: {what} answered {status_phrase(406)} to {MEDIA_TYPE}: the server does not speak "
                "TAXII 2.1 (TAXII 2.0 and 1.x are not supported); check the URL in the catalogue"
            )
        doc = api.json_page(entry, answer, source=what, hint=hint, secrets=secrets)
        if doc is None:
            return {}, answer.headers
        if not isinstance(doc, dict):
            raise FeedRejected(f"feed {entry.name}: {what} answered JSON that is not a TAXII object; check the URL")
        return doc, answer.headers

    collection_id = wanted if _UUID.match(wanted) else _find_collection(entry, root, wanted, get)
    objects_url = f"{root}/collections/{quote(collection_id, safe='')}/objects/"
    source = api.source_of(objects_url)
    what = "the TAXII server"
    base = {"added_after": added_after, "limit": page_size, "match[type]": ",".join(match_types)}
    latest: tuple[datetime, str] | None = None  # the newest X-TAXII-Date-Added-Last seen: the next cursor
    kept: dict[tuple[str, str], dict[str, Any]] = {}

    def read_page(query: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal latest
        doc, response_headers = get(objects_url, query, what)
        page = doc.get("objects", [])
        if not isinstance(page, list):
            raise FeedRejected(f"feed {entry.name}: {what} answered an envelope whose 'objects' is not a list")
        for obj in page:
            _keep(obj, kept)
        last = str(response_headers.get(DATE_ADDED_LAST) or "").strip()
        last_time = api.parse_time(last)
        if last_time is not None and (latest is None or last_time > latest[0]):
            latest = (last_time, last)
        if doc.get("more") is not True or not page:
            return None
        token = doc.get("next")
        if isinstance(token, str) and token:
            return {**base, "next": token}
        if last_time is not None and last != query.get("added_after"):
            return {**base, "added_after": last}
        raise FeedRejected(
            f"feed {entry.name}: {what} says there is more but gives neither 'next' nor {DATE_ADDED_LAST}; "
            "the server cannot be paged"
        )

    api.follow_pages(budget, dict(base), read_page)
    cursor = {"added_after": latest[1] if latest else added_after}
    if not kept:
        return FetchedFeed.empty(entry.name, source, cursor=cursor)
    return FetchedFeed(entry.name, 200, api.stix_bundle(list(kept.values())), STIX_MEDIA_TYPE, source, cursor=cursor)


def _find_collection(entry: FeedEntry, root: str, wanted: str, get: Any) -> str:
    """The id of the collection whose id, title or alias is ``wanted`` (``GET <root>/collections/``)."""
    doc, _ = get(f"{root}/collections/", None, "the TAXII server's collection list")
    listed = doc.get("collections") or []
    if not isinstance(listed, list):
        raise FeedRejected(f"feed {entry.name}: the TAXII collection list is not a list; check the URL (the API root)")
    found = [c for c in listed if isinstance(c, dict) and wanted in (c.get("id"), c.get("title"), c.get("alias"))]
    ids = sorted({str(c.get("id")) for c in found if c.get("id")})
    if not ids:
        titles = ", ".join(sorted(str(c.get("title") or c.get("id")) for c in listed if isinstance(c, dict))) or "none"
        raise ConfigError(
            f"feed {entry.name}: the TAXII server has no collection {wanted!r} readable with these credentials "
            f"(collections: {titles}); fix options.collection"
        )
    if len(ids) > 1:
        raise ConfigError(
            f"feed {entry.name}: {len(ids)} TAXII collections are called {wanted!r} ({', '.join(ids)}); put the id "
            "in options.collection"
        )
    if any(c.get("can_read") is False for c in found):
        raise FeedRejected(
            f"feed {entry.name}: TAXII collection {wanted!r} cannot be read with these credentials (can_read is "
            "false); ask the server's operator for read access"
        )
    return ids[0]


def _keep(obj: Any, kept: dict[tuple[str, str], dict[str, Any]]) -> None:
    """Keep one object per (id, modified): a TAXII page may repeat versions; the engine orders them."""
    if not isinstance(obj, dict) or obj.get("type") not in KEPT_TYPES:
        return
    key = (str(obj.get("id") or json.dumps(obj, sort_keys=True)), str(obj.get("modified") or ""))
    kept[key] = obj

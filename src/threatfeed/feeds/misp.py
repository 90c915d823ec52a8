"""MISP: network attributes flagged for detection, from ``/attributes/restSearch``.

Request (MISP automation API; FACTS.md)::

    POST <url>/attributes/restSearch
    Authorization: <auth key>        Accept: application/json        Content-Type: application/json
    {"returnFormat": "json", "type": ["ip-src", "ip-dst", "ip-dst|port", "domain", "hostname"],
     "to_ids": true, "last": "<days>d", "enforceWarninglist": true, "limit": 5000, "page": 1}
    -> {"response": {"Attribute": [{"id", "event_id", "uuid", "type", "value", "to_ids", "deleted", ...}]}}

``last`` is the Days Requested window (events published in the last N days). Paging: ``page`` 1, 2, ... while a
page is full (``options.page_size``, default 5000; ``options.max_pages``, default 20). MISP reports some errors
as a JSON object with status 200 (``{"errors": ...}``, ``{"name": ..., "message": ..., "url": ...}``): those
are :class:`FeedRejected`, never an empty list (older MISP answered an empty search with such an object whose
message is "No matches.": that one is an empty result).

Options: ``types`` (default ``ip-src, ip-dst, ip-src|port, ip-dst|port, domain, hostname``; ``url`` and
``domain|ip`` may be added: the engine reduces a URL to its host, a whole shared host, hence opt-in),
``to_ids`` (default true; with false also set the engine's ``misp_to_ids: false``), ``enforce_warninglist``
(default true), ``tags`` (list, MISP tag filter), ``published`` (true/false, unset = both).

Output: ``{"response": {"Attribute": [...]}}`` (``format: misp``), attributes trimmed to the fields the engine
reads. No attribute gives a 204 with an empty body. Secret: ``{"key": "<MISP auth key>"}``.
"""

from __future__ import annotations

import json
from typing import Any

from threatfeed.errors import FeedRejected
from threatfeed.feeds import api
from threatfeed.feeds.base import api_root, window_days
from threatfeed.feeds.context import FetchContext, FetchedFeed
from threatfeed.feeds.registry import FeedEntry
from threatfeed.misp_document import attributes

SEARCH_PATH = "/attributes/restSearch"
#: Attribute types the engine reads (``threatfeed.engine.formats.misp``).
ALLOWED_TYPES = (
    "ip-src",
    "ip-dst",
    "ip-src|port",
    "ip-dst|port",
    "domain",
    "hostname",
    "hostname|port",
    "domain|ip",
    "url",
    "uri",
)
DEFAULT_TYPES = ("ip-src", "ip-dst", "ip-src|port", "ip-dst|port", "domain", "hostname")
#: Attribute fields kept in the output (what the engine and a person reading the raw body need).
KEPT_FIELDS = ("id", "event_id", "uuid", "type", "category", "value", "to_ids", "deleted", "timestamp")
DEFAULT_PAGE_SIZE = 5000
DEFAULT_MAX_PAGES = 20


def search_body(entry: FeedEntry, days: int, page: int, page_size: int) -> dict[str, Any]:
    """The restSearch filters of one page."""
    body: dict[str, Any] = {
        "returnFormat": "json",
        "type": list(api.list_option(entry, "types", DEFAULT_TYPES, allowed=ALLOWED_TYPES)),
        "to_ids": api.bool_option(entry, "to_ids", True),
        "last": f"{days}d",
        "enforceWarninglist": api.bool_option(entry, "enforce_warninglist", True),
        "limit": page_size,
        "page": page,
    }
    if "tags" in entry.options:
        body["tags"] = list(api.list_option(entry, "tags", ()))
    if "published" in entry.options:
        body["published"] = api.bool_option(entry, "published", True)
    return body


def fetch(entry: FeedEntry, context: FetchContext) -> FetchedFeed:
    """Download the MISP attributes of the window's days up to the run's start time."""
    (key,) = api.secret_values(entry, context.secret, ("key",), "MISP")
    days = window_days(entry.name, context.days_requested)
    url = api_root(entry, strip=(SEARCH_PATH,)) + SEARCH_PATH
    source = api.source_of(url)
    page_size = api.int_option(entry, "page_size", DEFAULT_PAGE_SIZE, 1, 100_000)
    budget = api.Budget.of(entry, default_pages=DEFAULT_MAX_PAGES)
    headers = {"Authorization": key, "Accept": "application/json", "Content-Type": "application/json"}
    hint = (
        f"check the auth key in secret {entry.secret} (MISP: My Profile, Auth keys) and that its user may use the "
        "API; not retried"
    )
    kept: list[dict[str, Any]] = []

    def read_page(page: int) -> int | None:
        body = json.dumps(search_body(entry, days, page, page_size)).encode()
        answer = api.call(context, url, entry=entry, budget=budget, headers=headers, data=body)
        if _no_matches(answer.body):
            return None
        doc = api.json_page(entry, answer, source="MISP", hint=hint, secrets=(key,))
        if doc is None:
            return None
        if not isinstance(doc, dict) or "response" not in doc:
            raise FeedRejected(
                f"feed {entry.name}: MISP answered JSON without a 'response' (keys: "
                f"{', '.join(sorted(map(str, doc))) if isinstance(doc, dict) else type(doc).__name__}); check the URL "
                "(the MISP base URL) in the catalogue"
            )
        found = list(attributes(doc["response"]))
        kept.extend({k: attr[k] for k in KEPT_FIELDS if k in attr} for attr in found)
        return None if len(found) < page_size else page + 1  # a full page: there may be more

    api.follow_pages(budget, 1, read_page)
    if not kept:
        return FetchedFeed.empty(entry.name, source)
    output = json.dumps({"response": {"Attribute": kept}}, separators=(",", ":")).encode()
    return FetchedFeed(entry.name, 200, output, "application/json", source)


def _no_matches(body: bytes) -> bool:
    """Older MISP answers an empty search with ``{"name": "No matches.", "message": "No matches.", ...}``."""
    if not body.lstrip().startswith(b"{") or len(body) > 4096:
        return False
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and str(doc.get("message") or doc.get("name") or "").strip().lower() in (
        "no matches",
        "no matches.",
    )

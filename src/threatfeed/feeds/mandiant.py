"""Mandiant Threat Intelligence API v4 (iSIGHT's successor): scored indicators of the Days Requested window.

Requests (FACTS.md; shapes as in Google's ``mandiant-ti-client`` and its recorded fixtures)::

    POST <url>/token                       Authorization: Basic base64(key_id:key_secret)
         grant_type=client_credentials     -> {"access_token": "...", "token_type": "Bearer", "expires_in": n}
    GET  <url>/v4/indicator?start_epoch=<now - days*86400>&end_epoch=<now>&limit=<page_size>
                           &gte_mscore=<50>&exclude_osint=<false>&include_misp=false
         Authorization: Bearer <token>, Accept: application/json, X-App-Name: threatfeed
         -> {"indicators": [{"id", "type": "ipv4|fqdn|url|md5", "value", "mscore", "first_seen", "last_seen",
             "last_updated", "sources": [...]}, ...], "next": "<opaque>"}   (204: no indicators)
    GET  <url>/v4/indicator?next=<opaque>&include_misp=false     (the other parameters travel inside ``next``)

Paging stops on an empty page or a page without ``next``; :class:`~threatfeed.feeds.api.Budget` caps pages
(``options.max_pages``, default 100), bytes (``options.max_bytes``) and time. A 401 from the indicator endpoint
gets one fresh token and one retry (tokens expire); 429 waits for ``Retry-After`` (:func:`threatfeed.feeds.api.call`).
``include_misp=false`` leaves out Mandiant's per-indicator MISP warning-list block (about 5 KB each).

Output: a STIX 2.1 bundle (``format: stix``), one ``indicator`` per kept value with ``confidence`` = mscore (the
engine uses it when lists overflow), ``valid_from`` = first seen. Kept types: ``options.types``, default
``["ipv4", "fqdn"]``; add ``"url"`` to list URL indicators, which the engine reduces to their host: a phishing
page on a shared host (``sites.google.com``) would then list the whole host, hence opt-in. No indicator at all
gives a 204 with an empty body (the pipeline keeps the feed's previous entries).

Secret: ``{"key_id": "...", "key_secret": "..."}`` (Mandiant Advantage, Settings, API Access and Keys).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from threatfeed.errors import FeedRejected
from threatfeed.feeds import api
from threatfeed.feeds.base import api_root, status_phrase
from threatfeed.feeds.context import FetchContext, FetchedFeed
from threatfeed.feeds.registry import FeedEntry

DEFAULT_URL = "https://api.intelligence.mandiant.com"
TOKEN_PATH = "/token"
INDICATOR_PATH = "/v4/indicator"
APP_NAME = "threatfeed"
SECRET_KEYS = ("key_id", "key_secret")
#: Mandiant indicator type -> the STIX cyber-observable its value is.
STIX_TYPES = {"ipv4": "ipv4-addr", "fqdn": "domain-name", "url": "url"}
DEFAULT_TYPES = ("ipv4", "fqdn")
DEFAULT_MSCORE = 50
MAX_PAGE_SIZE = 1000
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
_ACCEPT = "application/json"


class _Session:
    """The bearer token of one fetch: fetched on first use, refreshed on a 401."""

    def __init__(
        self, entry: FeedEntry, root: str, key_id: str, key_secret: str, *, context: FetchContext, budget: api.Budget
    ) -> None:
        self.entry = entry
        self.root = root
        self.basic = base64.b64encode(f"{key_id}:{key_secret}".encode()).decode("ascii")
        self.context = context
        self.budget = budget
        self.token = ""
        self.secrets: list[str] = [key_id, key_secret, self.basic]

    @property
    def auth_hint(self) -> str:
        return (
            f"check key_id and key_secret in secret {self.entry.secret} (Mandiant Advantage: Settings, API Access "
            "and Keys) and that the key may use the Threat Intelligence API; not retried"
        )

    def refresh(self) -> str:
        answer = api.call(
            self.context,
            self.root + TOKEN_PATH,
            entry=self.entry,
            budget=self.budget,
            headers={
                "Authorization": f"Basic {self.basic}",
                "Accept": _ACCEPT,
                "Content-Type": "application/x-www-form-urlencoded",
                "X-App-Name": APP_NAME,
            },
            data=b"grant_type=client_credentials",
        )
        where = "the Mandiant token endpoint"
        if answer.status == 400:  # OAuth2 answers invalid_client/invalid_grant with 400 as often as with 401
            raise FeedRejected(f"feed {self.entry.name}: {where} answered {status_phrase(400)}; {self.auth_hint}")
        doc = api.json_page(self.entry, answer, source=where, hint=self.auth_hint, secrets=self.secrets)
        token = doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise FeedRejected(
                f"feed {self.entry.name}: {where} answered without an access_token; check the URL in the catalogue "
                f"(the API root, e.g. {DEFAULT_URL})"
            )
        self.token = token.strip()
        self.secrets.append(self.token)
        return self.token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token or self.refresh()}", "Accept": _ACCEPT, "X-App-Name": APP_NAME}


def fetch(entry: FeedEntry, context: FetchContext) -> FetchedFeed:
    """Download the Mandiant indicators of the window's days up to the run's start time as a STIX 2.1 bundle."""
    now = context.now
    key_id, key_secret = api.secret_values(entry, context.secret, SECRET_KEYS, "Mandiant")
    root = api_root(entry, strip=(INDICATOR_PATH, TOKEN_PATH))
    start = api.window_start(now, context.days_requested, entry.name)
    end = int((now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp())
    min_score = api.int_option(entry, "gte_mscore", DEFAULT_MSCORE, 0, 100)
    kinds = api.list_option(entry, "types", DEFAULT_TYPES, allowed=tuple(STIX_TYPES))
    first_query: dict[str, Any] = {
        "start_epoch": int(start.timestamp()),
        "end_epoch": end,
        "limit": api.int_option(entry, "page_size", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE),
        "gte_mscore": min_score,
        "exclude_osint": api.bool_option(entry, "exclude_osint", False),
        "include_misp": False,
    }
    budget = api.Budget.of(entry)
    auth = _Session(entry, root, key_id, key_secret, context=context, budget=budget)
    url = root + INDICATOR_PATH
    source = api.source_of(url)
    kept: dict[tuple[str, str], dict[str, Any]] = {}

    def read_page(query: dict[str, Any]) -> dict[str, Any] | None:
        answer = api.call(context, url, entry=entry, budget=budget, headers=auth.headers(), params=query)
        if answer.status == 401:  # an expired token: one fresh token, one more try (not another page)
            auth.refresh()
            answer = api.call(context, url, entry=entry, budget=budget, headers=auth.headers(), params=query)
        page, token = api.items_and_next(
            entry,
            answer,
            "indicators",
            source="the Mandiant API",
            hint=auth.auth_hint,
            secrets=auth.secrets,
            example=DEFAULT_URL,
        )
        for item in page:
            _keep(item, kinds, min_score, kept)
        return None if token is None else {"next": token, "include_misp": False}

    api.follow_pages(budget, first_query, read_page)
    if not kept:
        return FetchedFeed.empty(entry.name, source)
    return FetchedFeed(entry.name, 200, stix_bundle(kept.values(), now), STIX_MEDIA_TYPE, source)


def _keep(item: Any, kinds: tuple[str, ...], min_score: int, kept: dict[tuple[str, str], dict[str, Any]]) -> None:
    if not isinstance(item, dict):
        return
    kind, value = item.get("type"), item.get("value")
    if kind not in kinds or not isinstance(value, str) or not value.strip():
        return
    score = item.get("mscore")
    if isinstance(score, (int, float)) and not isinstance(score, bool) and score < min_score:
        return
    key = (kind, value.strip())
    current = kept.get(key)
    if current is None or _score(item) > _score(current):
        kept[key] = item


def _score(item: Mapping[str, Any]) -> int:
    score = item.get("mscore")
    return max(0, min(100, int(score))) if isinstance(score, (int, float)) and not isinstance(score, bool) else -1


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def pattern_literal(value: str) -> str:
    """``value`` as a STIX pattern string literal (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def stix_bundle(indicators: Any, now: datetime) -> bytes:
    """Mandiant v4 indicators as a STIX 2.1 bundle (ids derived from Mandiant's, so equal input gives equal
    output)."""
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    objects = []
    for item in indicators:
        kind, value = item["type"], item["value"].strip()
        first = api.parse_time(item.get("first_seen")) or now
        first = min(first, now)
        modified = api.parse_time(item.get("last_updated")) or api.parse_time(item.get("last_seen")) or first
        modified = max(min(modified, now), first)
        obj: dict[str, Any] = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{_uuid_of(item, kind, value)}",
            "created": _stamp(first),
            "modified": _stamp(modified),
            "name": f"{kind} {value}",
            "pattern": f"[{STIX_TYPES[kind]}:value = {pattern_literal(value)}]",
            "pattern_type": "stix",
            "valid_from": _stamp(first),
        }
        score = _score(item)
        if score >= 0:
            obj["confidence"] = score
        objects.append(obj)
    objects.sort(key=lambda o: o["id"])
    return api.stix_bundle(objects)


def _uuid_of(item: Mapping[str, Any], kind: str, value: str) -> uuid.UUID:
    """The UUID part of Mandiant's id (``ipv4--<uuid>``), or one derived from type and value."""
    ident = item.get("id")
    if isinstance(ident, str) and "--" in ident:
        try:
            return uuid.UUID(ident.split("--", 1)[1])
        except ValueError:
            pass
    return uuid.uuid5(uuid.NAMESPACE_URL, f"mandiant:{kind}:{value}")

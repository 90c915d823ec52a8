"""FireEye iSIGHT v2 (``api.isightpartners.com``): the seed's feed, as a signed GET of ``/view/iocs``.

Request (FACTS.md)::

    GET <url>/view/iocs?startDate=<now - days*86400>&endDate=<now>&format=csv     (epoch seconds)
    X-Auth: <public key>
    X-Auth-Hash: hex(HMAC-SHA256(private key, query + Accept-Version + Accept + Date))
    Accept-Version: 2.6
    Accept: text/csv
    Date: <RFC 2822>
    X-App-Name: threatfeed

where ``query`` is the path with its query string, exactly as sent. The secret is JSON with the keys
``public_key`` and ``private_key``. 204 means "no results"; any other non-2xx is a failure, and a 200
that is not iSIGHT CSV (an HTML page, a JSON error) is rejected rather than published.

The window ends at the run's start time (``now``) so a retried run asks for the same indicators; the
``Date`` header is the wall clock, because the API checks it against its own.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any
from urllib.parse import urlencode, urlsplit

from threatfeed.errors import ConfigError
from threatfeed.feeds.base import api_root, check_body, content_type_of, get, raise_for_status, window_days
from threatfeed.feeds.context import FetchContext, FetchedFeed
from threatfeed.feeds.registry import FeedEntry

ACCEPT_VERSION = "2.6"
ACCEPT = "text/csv"
APP_NAME = "threatfeed"
ENDPOINT = "/view/iocs"
SECRET_KEYS = ("public_key", "private_key")
MAX_DAYS = 30


def sign(private_key: str, query: str, accept_version: str, accept: str, date: str) -> str:
    """``X-Auth-Hash``: hex HMAC-SHA256 keyed with the private key over query, Accept-Version, Accept, Date."""
    message = f"{query}{accept_version}{accept}{date}".encode()
    return hmac.new(private_key.encode(), message, hashlib.sha256).hexdigest()


def window(now: datetime, days: int) -> tuple[int, int]:
    """``(startDate, endDate)`` in epoch seconds: ``days`` whole days ending at ``now`` (naive = UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    end = int(now.timestamp())
    return end - days * 86400, end


def ioc_query(base_path: str, now: datetime, days: int) -> str:
    """The path with its query string, as sent and as signed."""
    start, end = window(now, days)
    return f"{base_path}{ENDPOINT}?{urlencode({'startDate': start, 'endDate': end, 'format': 'csv'})}"


def signed_headers(public_key: str, private_key: str, query: str, date: str) -> dict[str, str]:
    return {
        "X-Auth": public_key,
        "X-Auth-Hash": sign(private_key, query, ACCEPT_VERSION, ACCEPT, date),
        "Accept-Version": ACCEPT_VERSION,
        "Accept": ACCEPT,
        "Date": date,
        "X-App-Name": APP_NAME,
    }


def keys_from_secret(entry: FeedEntry, secret: Mapping[str, Any] | None) -> tuple[str, str]:
    where = f"secret {entry.secret}" if entry.secret else "the feed's secret (none is set in the catalogue)"
    if not secret:
        raise ConfigError(f"feed {entry.name}: iSIGHT needs {where} with JSON keys public_key and private_key")
    values = {k: str(secret.get(k) or "").strip() for k in SECRET_KEYS}
    missing = [k for k, v in values.items() if not v]
    if missing:
        raise ConfigError(
            f"feed {entry.name}: {where} has no {' or '.join(missing)}; store "
            '{"public_key": "...", "private_key": "..."} in it, or disable the feed'
        )
    return values["public_key"], values["private_key"]


def _base(entry: FeedEntry) -> tuple[str, str]:
    """``(scheme://host[:port], path prefix)`` of the catalogue URL (a trailing ``/view/iocs`` is allowed)."""
    root = urlsplit(api_root(entry, strip=(ENDPOINT,)))
    return f"{root.scheme}://{root.netloc}", root.path


def fetch(entry: FeedEntry, context: FetchContext) -> FetchedFeed:
    """Download the iSIGHT indicators of the window's days up to the run's start time."""
    days = window_days(entry.name, context.days_requested, max_days=MAX_DAYS)
    public_key, private_key = keys_from_secret(entry, context.secret)
    origin, prefix = _base(entry)
    query = ioc_query(prefix, context.now, days)
    url = origin + query
    headers = signed_headers(public_key, private_key, query, formatdate(context.clock(), usegmt=True))
    status, response_headers, body = get(entry, context, url, headers=headers)
    secrets = (public_key, private_key)
    raise_for_status(
        entry.name,
        status,
        body,
        source="iSIGHT",
        auth_hint=(
            f"check the iSIGHT keys (public_key, private_key) in secret {entry.secret} and that the "
            "function's clock is right (the Date header is signed); not retried"
        ),
        secrets=secrets,
    )
    content_type = content_type_of(response_headers)
    if status == 204:
        return FetchedFeed.empty(entry.name, url, content_type)
    check_body(
        entry.name,
        body,
        "fireeye" if entry.format == "auto" else entry.format,
        content_type=content_type,
        source="iSIGHT",
        secrets=secrets,
    )
    return FetchedFeed(entry.name, status, body, content_type, url)

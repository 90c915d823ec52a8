"""Source adapters: one module per feed ``type``, registered here by name (IntelMQ's collector idea).

Adding a feed type = one module under ``threatfeed.feeds`` with a ``fetch`` function of the signature of
:func:`fetch_feed` (plus a ``session`` keyword) and one :data:`FEED_TYPES` entry. The registry is plain data
and adapter modules are imported only when a feed of their type is fetched, so the catalogue (the Plan
function) can validate types without importing ``requests``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    import requests

    from threatfeed.catalogue import FeedEntry
    from threatfeed.config import Settings
    from threatfeed.http import BodySink


@dataclass(frozen=True)
class FeedType:
    """What the catalogue needs to know about a feed type, without importing its adapter."""

    module: str
    #: Formats a feed of this type may declare (``None``: any format the engine knows).
    formats: tuple[str, ...] | None = None
    #: Whether a catalogue entry of this type must name a Secrets Manager secret.
    needs_secret: bool = False
    #: Keys the secret JSON must hold (documentation and the error message when they are missing).
    secret_keys: tuple[str, ...] = ()
    #: Whether the adapter streams its body to a sink (``fetch(..., sink=...)``): one download of a list that may
    #: be large. API adapters assemble a document from pages in memory (capped at ``max_bytes``) and return it.
    streams: bool = False


FEED_TYPES: Mapping[str, FeedType] = {
    "isight": FeedType(
        "threatfeed.feeds.isight",
        formats=("fireeye", "auto"),
        needs_secret=True,
        secret_keys=("public_key", "private_key"),
    ),
    "http_list": FeedType("threatfeed.feeds.http_list", streams=True),
    # API adapters (docs/SOURCES.md). A TAXII secret is optional: some servers are public.
    "mandiant": FeedType(
        "threatfeed.feeds.mandiant",
        formats=("stix", "auto"),
        needs_secret=True,
        secret_keys=("key_id", "key_secret"),
    ),
    "taxii": FeedType("threatfeed.feeds.taxii", formats=("stix", "auto")),
    "misp": FeedType("threatfeed.feeds.misp", formats=("misp", "auto"), needs_secret=True, secret_keys=("key",)),
    "otx": FeedType("threatfeed.feeds.otx", formats=("otx", "auto"), needs_secret=True, secret_keys=("api_key",)),
    # A named public list (threatfeed.feeds.presets): the catalogue fills in its URL and format.
    "preset": FeedType("threatfeed.feeds.presets", formats=("txt", "tor", "csv", "json", "auto"), streams=True),
}


@dataclass(frozen=True)
class FetchedFeed:
    """One feed's answer: the body as downloaded (no parsing), for the Fetch stage to store in S3.

    ``status`` 204 means "no results" and comes with an empty body. ``source_url`` is safe to log and to
    keep in object metadata: it never holds credentials or secret query parameters.

    ``cursor`` is where an incremental feed stopped (e.g. TAXII: ``{"added_after": "<X-TAXII-Date-Added-Last>"}``),
    small JSON-safe strings and never a credential; ``None`` for feeds that fetch a whole window each run. The
    caller keeps it and hands it back on the next run as ``entry.options["cursor"]``.

    ``streamed``: the body went to the sink given to :func:`fetch_feed` (``body`` is then empty).
    """

    feed: str
    status: int
    body: bytes
    content_type: str
    source_url: str
    cursor: Mapping[str, str] | None = None
    streamed: bool = False


def adapter_for(feed_type: str) -> ModuleType:
    """The adapter module of ``feed_type`` (imported on first use)."""
    from threatfeed.errors import ConfigError

    spec = FEED_TYPES.get(feed_type)
    if spec is None:
        raise ConfigError(f"Unknown feed type {feed_type!r}; known types: {', '.join(sorted(FEED_TYPES))}")
    return importlib.import_module(spec.module)


def fetch_feed(
    entry: FeedEntry,
    *,
    now: datetime,
    days_requested: int,
    secret: Mapping[str, str] | None,
    settings: Settings,
    session: requests.Session | None = None,
    sink: BodySink | None = None,
) -> FetchedFeed:
    """Download ``entry`` as of ``now`` with its type's adapter.

    Raises :class:`~threatfeed.errors.FeedUnavailable` (retry later: connection error, timeout, 429, 5xx),
    :class:`~threatfeed.errors.FeedRejected` (the feed answered, but not with usable data) or
    :class:`~threatfeed.errors.ConfigError` (the catalogue entry or its secret is wrong). ``session``
    defaults to the process-wide one of :func:`threatfeed.http.default_session`. ``sink``: where an adapter that
    streams (:attr:`FeedType.streams`) writes a 2xx body as it arrives (the result then says ``streamed``); other
    adapters ignore it and return their body.
    """
    adapter = adapter_for(entry.type)
    if session is None:
        from threatfeed.http import default_session

        session = default_session()
    extra = {"sink": sink} if sink is not None and FEED_TYPES[entry.type].streams else {}
    return adapter.fetch(
        entry, now=now, days_requested=days_requested, secret=secret, settings=settings, session=session, **extra
    )


__all__ = ["FEED_TYPES", "FeedType", "FetchedFeed", "adapter_for", "fetch_feed"]

"""Source adapters: one module per feed ``type``, registered by name (IntelMQ's collector idea).

Every adapter is ``fetch(entry, context) -> FetchedFeed`` (:mod:`threatfeed.feeds.context`); the registry
(:mod:`threatfeed.feeds.registry`) is plain data naming the module of each type, and adapter modules are imported
only when a feed of their type is fetched, so the catalogue (the Plan function) can validate types without
importing ``requests``. :func:`fetch_feed` is the one place a :class:`FetchContext` is built.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from threatfeed.errors import ConfigError
from threatfeed.feeds.context import Adapter, FetchContext, FetchedFeed, Sleep
from threatfeed.feeds.registry import FEED_TYPES, FeedEntry, FeedType

if TYPE_CHECKING:  # pragma: no cover - typing only: requests is the Fetch function's, not the Plan function's
    import requests

    from threatfeed.config import Settings
    from threatfeed.http import BodySink


def adapter_for(feed_type: str) -> Adapter:
    """The adapter module of ``feed_type`` (imported on first use)."""
    spec = FEED_TYPES.get(feed_type)
    if spec is None:
        raise ConfigError(f"Unknown feed type {feed_type!r}; known types: {', '.join(sorted(FEED_TYPES))}")
    return cast(Adapter, importlib.import_module(spec.module))


def fetch_feed(
    entry: FeedEntry,
    *,
    now: datetime,
    days_requested: int,
    secret: Mapping[str, Any] | None,
    settings: Settings,
    session: requests.Session | None = None,
    sink: BodySink | None = None,
    sleep: Sleep = time.sleep,
    clock: Callable[[], float] = time.time,
) -> FetchedFeed:
    """Download ``entry`` as of ``now`` with its type's adapter.

    Raises :class:`~threatfeed.errors.FeedUnavailable` (retry later: connection error, timeout, 429, 5xx),
    :class:`~threatfeed.errors.FeedRejected` (the feed answered, but not with usable data) or
    :class:`~threatfeed.errors.ConfigError` (the catalogue entry or its secret is wrong). ``session``
    defaults to the process-wide one of :func:`threatfeed.http.default_session`. ``sink``: where an adapter that
    streams (:attr:`FeedType.streams`) writes a 2xx body as it arrives (the result then says ``streamed``); other
    adapters never see it and return their body.
    """
    adapter = adapter_for(entry.type)
    if session is None:
        from threatfeed.http import default_session  # lazy: cold start (requests), the Plan function imports us

        session = default_session()
    context = FetchContext(
        now=now,
        days_requested=days_requested,
        session=session,
        secret=secret,
        allow_http_loopback=settings.allow_http_loopback,
        sleep=sleep,
        clock=clock,
        sink=sink if FEED_TYPES[entry.type].streams else None,
        max_feed_bytes=settings.max_feed_bytes,
    )
    return adapter.fetch(entry, context)


__all__ = ["FEED_TYPES", "FeedType", "FetchContext", "FetchedFeed", "adapter_for", "fetch_feed"]

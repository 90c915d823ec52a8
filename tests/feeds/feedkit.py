"""Helpers the feed tests share (imported by ``conftest.py`` for its fixtures and by the test modules for the
per-file ``fetch`` shorthands): one way to fetch an entry or to build the context an adapter takes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from embedded_aws.feed_server import FeedServer
from threatfeed.catalogue import FeedEntry
from threatfeed.config import Settings
from threatfeed.feeds import FetchContext, FetchedFeed, fetch_feed


@dataclass(frozen=True)
class Fetcher:
    """Fetches an entry the way the Fetch stage does (:func:`fetch_feed`), or builds the context an adapter's
    ``fetch(entry, context)`` takes, against the test session and a loopback-allowing deployment."""

    session: requests.Session
    settings: Settings
    now: datetime

    def context(
        self,
        secret: Mapping[str, Any] | None = None,
        *,
        days_requested: int = 7,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> FetchContext:
        return FetchContext(
            now=self.now,
            days_requested=days_requested,
            session=self.session,
            secret=secret,
            allow_http_loopback=self.settings.allow_http_loopback,
            sleep=sleep,
            clock=clock,
        )

    def __call__(self, entry: FeedEntry, secret: Mapping[str, Any] | None = None, **kw: Any) -> FetchedFeed:
        kw.setdefault("days_requested", 7)
        return fetch_feed(entry, now=self.now, secret=secret, settings=self.settings, session=self.session, **kw)


def api_entry(server: FeedServer, feed_type: str, fmt: str, **options: Any) -> FeedEntry:
    """An API feed of ``feed_type`` whose root is the loopback server, its secret named ``tf/<type>``."""
    return FeedEntry(feed_type, feed_type, server.url(""), format=fmt, secret=f"tf/{feed_type}", options=dict(options))

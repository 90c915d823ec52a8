"""The adapter protocol: ``fetch(entry, context) -> FetchedFeed``, the same for every feed type.

:class:`FetchContext` is everything an adapter may use besides its catalogue entry: the run's clock and window,
the feed's secret, the HTTP session, the loopback policy, how to wait, and where a streamed body goes. It is built
in one place (:func:`threatfeed.feeds.fetch_feed`), so an adapter never sees the deployment's whole ``Settings``
and a test hands it a fake clock or a ``sleep`` that records instead of waiting. Standard library only at run
time: the Plan function imports this package.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from threatfeed.feeds.registry import FeedEntry

if TYPE_CHECKING:  # pragma: no cover - typing only: requests is the Fetch function's, not the Plan function's
    import requests

    from threatfeed.http import BodySink

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class FetchContext:
    """What one fetch of one feed may use (see the module docstring)."""

    #: The run's start time: the end of the Days Requested window (naive means UTC), the same on a retried run.
    now: datetime
    #: The window in days (1..30): the catalogue's ``options.days_requested`` or the stack's.
    days_requested: int
    session: requests.Session
    #: The feed's secret (the Secrets Manager JSON), ``None`` when the entry names none.
    secret: Mapping[str, Any] | None = None
    #: Whether loopback feeds may be fetched (the embedded AWS only).
    allow_http_loopback: bool = False
    #: How a rate-limited adapter waits (tests record instead of sleeping).
    sleep: Sleep = time.sleep
    #: The wall clock, for what an API checks against its own (iSIGHT's signed ``Date``), not for the window.
    clock: Callable[[], float] = time.time
    #: Where a streaming adapter writes a 2xx body as it arrives (``None``: return it in memory).
    sink: BodySink | None = None
    #: The cap of a streamed body (the stack's MaxFeedBytes) unless the entry sets ``options.max_bytes``.
    max_feed_bytes: int | None = None


@dataclass(frozen=True)
class FetchedFeed:
    """One feed's answer: the body as downloaded (no parsing), for the Fetch stage to store in S3.

    ``status`` 204 means "no results" and comes with an empty body (:meth:`empty`). ``source_url`` is safe to log
    and to keep in object metadata: it never holds credentials or secret query parameters.

    ``cursor`` is where an incremental feed stopped (e.g. TAXII: ``{"added_after": "<X-TAXII-Date-Added-Last>"}``),
    small JSON-safe strings and never a credential; ``None`` for feeds that fetch a whole window each run. The
    caller keeps it and hands it back on the next run as ``entry.options["cursor"]``.

    ``streamed``: the body went to the context's sink (``body`` is then empty).
    """

    feed: str
    status: int
    body: bytes
    content_type: str
    source_url: str
    cursor: Mapping[str, str] | None = None
    streamed: bool = False

    @classmethod
    def empty(
        cls, feed: str, source_url: str, content_type: str = "", cursor: Mapping[str, str] | None = None
    ) -> FetchedFeed:
        """The explicit "nothing new" answer (204, no body): the pipeline keeps the feed's previous entries."""
        return cls(feed, 204, b"", content_type, source_url, cursor=cursor)


class Adapter(Protocol):
    """A feed type's module, as :func:`threatfeed.feeds.fetch_feed` calls it."""

    def fetch(self, entry: FeedEntry, context: FetchContext) -> FetchedFeed: ...


__all__ = ["Adapter", "FetchContext", "FetchedFeed", "Sleep"]

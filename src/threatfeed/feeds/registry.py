"""What a feed is (:class:`FeedEntry`, one catalogue entry) and which feed types exist (:data:`FEED_TYPES`).

Plain data on the standard library only. The catalogue (the Plan function) validates entries against it without
importing ``requests`` or any adapter, and the adapters read :class:`FeedEntry` from here rather than from the
catalogue, so neither side imports the other. Adding a feed type = one adapter module with a
``fetch(entry, context)`` (:class:`threatfeed.feeds.context.Adapter`) and one entry here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FeedEntry:
    """One catalogue entry (:mod:`threatfeed.catalogue` says the rules each field follows)."""

    name: str
    type: str
    url: str
    format: str = "auto"
    secret: str | None = None
    enabled: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)


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
    #: Whether the adapter streams its body to the context's sink: one download of a list that may be large. API
    #: adapters assemble a document from pages in memory (capped at ``max_bytes``) and return it.
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

__all__ = ["FEED_TYPES", "FeedEntry", "FeedType"]

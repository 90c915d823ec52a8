"""The engine's public data types: what goes in, what comes out.

These are the contract with the transform Lambda and the CLI, so they stay plain frozen dataclasses of
built-in types: a result can be logged, compared in tests and turned into the run manifest without any
engine internals leaking out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from threatfeed.engine.decode import BodySource

#: Formats a feed body may be declared as; ``auto`` sniffs one of the others.
FORMATS = ("auto", "txt", "csv", "stix", "otx", "alienvault", "proofpoint", "fireeye", "misp", "tor", "json")

#: GuardDuty's hard limits for one threat list (FACTS.md): 250,000 entries, 35 MB.
GUARDDUTY_MAX_ENTRIES = 250_000
GUARDDUTY_MAX_BYTES = 35 * 1024 * 1024
#: Entities (names, and addresses sent there) per threat entity list: the GuardDuty quotas page lists 1,000,
#: far below the IP list's 250,000. Publishing more risks the list going to ERROR, which would leave no
#: domain detection at all; the overflow policy keeps the best 1,000 instead (a setting, should the quota
#: of an account differ).
GUARDDUTY_MAX_ENTITIES = 1_000

#: Why /12 is the default minimum prefix length (see :attr:`EngineSettings.min_prefix_len`).
DEFAULT_MIN_PREFIX_LEN = 12


@dataclass(frozen=True)
class FeedBody:
    """One feed's body as downloaded this run.

    ``options`` understood by the engine: ``column`` / ``columns`` (CSV column name or 0-based index),
    ``delimiter`` (CSV), ``priority`` (int, higher wins when lists overflow, default 0), ``confidence``
    (0-100, default 50, used when the format carries none), ``misp_to_ids`` (bool, default True: only
    MISP attributes flagged for detection), ``replace`` (bool, default ``EngineSettings.replace_delivered``:
    the body is the feed's complete current list, so what it no longer lists is delisted at once instead
    of aging out), ``records`` / ``select`` / ``confidence_select`` (JMESPath, format ``json``), ``zero_padded``
    (bool: dotted quads with leading zeros are decimal; default: as the body's header declares), ``kinds``
    (``["ipv4", "domain"]``, the default: what the feed may contribute). ``threatfeed.catalogue.ENGINE_OPTIONS``
    describes each; ``engine_option_problems`` checks them.
    """

    feed: str
    #: the bytes, or where to stream them from (a large body: ``threatfeed.engine.decode.BodySource``)
    body: bytes | BodySource
    format: str = "auto"
    options: Mapping[str, Any] = field(default_factory=dict)
    fetched_at: datetime | None = None
    #: the body's SHA-256 (hex) when the caller already has it (a streamed body hashed as it was fetched): a body
    #: equal to the last run's reuses its parsed contribution (:mod:`threatfeed.engine.reuse`)
    sha256: str | None = None


@dataclass(frozen=True)
class EngineSettings:
    """How one run filters, ages and packs.

    ``min_prefix_len`` defaults to /12 (1,048,576 addresses): a single feed line covering more than a large
    ISP's allocation is far more often a feed or parsing error (``0.0.0.0/0``, a netmask read as a prefix,
    a bogon aggregate) than intelligence, and even when genuine it would drown every other finding in
    noise. Broader entries are rejected as ``prefix_too_broad`` with samples, so a deployment that trusts a
    feed with wider blocks can lower it knowingly. ``0.0.0.0/0`` can never get through whatever the
    setting, because 0.0.0.0/8 is carved out as a bogon.

    ``allow_list`` holds CIDRs, ranges, addresses and domains; ``allow_list_files`` holds extra allow-list
    bodies (same text syntax, one entry per line). Allow-listing is by overlap: listed ranges have the
    allowed part carved out; a domain allow-lists itself and its subdomains.

    ``replace_delivered``: by default a feed that delivers keeps its earlier indicators until they age out
    (absence from one body is not a retraction, and a truncated body cannot delist anything); with it, a
    delivered body replaces the feed's contribution, so what the feed stopped listing is delisted at once
    (pair it with a sudden-drop guard). A feed's ``options["replace"]`` (True/False) overrides it.

    ``max_entities_per_list`` caps each threat entity list (:data:`GUARDDUTY_MAX_ENTITIES`) as
    ``max_entries_per_list`` caps each list of any kind.

    ``warninglists``: which MISP warninglists suppress benign infrastructure (:mod:`.warninglists`: list and
    group names, ``default``, ``-name``; empty: none); ``warninglist_files``: a user's own lists, name -> body in
    the allow-list's syntax, counted as ``custom/<name>``.

    Expiry per indicator type: an address not seen for ``days_requested`` days is dropped, a name after
    ``domain_max_age_days`` (default: ``days_requested``; the transform uses 30): addresses change hands far
    faster than names. The same ages weigh an indicator's score (:mod:`.packing`).
    """

    now: datetime
    days_requested: int = 7
    min_prefix_len: int = DEFAULT_MIN_PREFIX_LEN
    allow_list: Sequence[str] = ()
    max_entries_per_list: int = GUARDDUTY_MAX_ENTRIES
    max_bytes_per_list: int = GUARDDUTY_MAX_BYTES
    ip_list_slots: int = 1
    ip_destination: str = "ip_set"
    allow_list_files: Sequence[bytes] = ()
    replace_delivered: bool = False
    max_entities_per_list: int = GUARDDUTY_MAX_ENTITIES
    warninglists: Sequence[str] = ()
    warninglist_files: Mapping[str, bytes] = field(default_factory=dict)
    domain_max_age_days: int | None = None

    @property
    def domain_days(self) -> int:
        """Days a name stays listed once no feed lists it any more."""
        return self.domain_max_age_days or self.days_requested

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            object.__setattr__(self, "now", self.now.replace(tzinfo=UTC))
        if not 0 <= self.min_prefix_len <= 32:
            raise ValueError(f"min_prefix_len={self.min_prefix_len} must be 0..32")
        if self.domain_max_age_days is not None and self.domain_max_age_days < 1:
            raise ValueError(f"domain_max_age_days={self.domain_max_age_days} must be at least 1")
        if self.days_requested < 1:
            raise ValueError(f"days_requested={self.days_requested} must be at least 1")
        if self.ip_destination not in ("ip_set", "entity_set"):
            raise ValueError(f"ip_destination={self.ip_destination!r} must be 'ip_set' or 'entity_set'")
        if self.max_entries_per_list < 1 or self.max_bytes_per_list < 64 or self.max_entities_per_list < 1:
            raise ValueError("max_entries_per_list, max_entities_per_list and max_bytes_per_list must be positive")

    def summary(self) -> dict[str, Any]:
        """JSON-safe view for the manifest (allow-list sizes, not contents)."""
        return {
            "now": iso(self.now),
            "days_requested": self.days_requested,
            "min_prefix_len": self.min_prefix_len,
            "allow_list_entries": len(self.allow_list),
            "allow_list_files": len(self.allow_list_files),
            "max_entries_per_list": self.max_entries_per_list,
            "max_entities_per_list": self.max_entities_per_list,
            "max_bytes_per_list": self.max_bytes_per_list,
            "ip_list_slots": self.ip_list_slots,
            "ip_destination": self.ip_destination,
            "replace_delivered": self.replace_delivered,
            "domain_max_age_days": self.domain_days,
            "warninglists": list(self.warninglists),
            "warninglist_files": sorted(self.warninglist_files),
        }


@dataclass
class FeedStats:
    """Accounting for one feed in one run.

    ``reasons`` maps every reason to its count, rejections and corrections alike (see
    :mod:`threatfeed.engine.reasons`); ``rejected`` is the sum of the rejection reasons only.
    ``samples`` keeps up to 5 lines per reason: ``{"feed", "line", "text", "reason"}`` where ``line`` is the
    1-based line number (for JSON formats: the 1-based position of the record).
    """

    feed: str
    format: str = ""
    lines: int = 0
    skipped: int = 0  # blank lines, comments, headers, record types that carry no indicator
    accepted: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    ipv4: int = 0
    domains: int = 0
    ipv6: int = 0
    carried_over: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "feed": self.feed,
            "format": self.format,
            "lines": self.lines,
            "skipped": self.skipped,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "reasons": dict(sorted(self.reasons.items())),
            "samples": list(self.samples),
            "ipv4": self.ipv4,
            "domains": self.domains,
            "ipv6": self.ipv6,
            "carried_over": self.carried_over,
            "error": self.error,
        }


@dataclass(frozen=True)
class ListOutput:
    """One GuardDuty list ready to upload: ``kind`` is ``ip`` (threat IP set) or ``domain`` (entity set)."""

    kind: str
    index: int
    format: str
    body: bytes
    entries: int
    sha256: str

    @classmethod
    def of(cls, kind: str, index: int, lines: Sequence[str]) -> ListOutput:
        """Render ``lines`` (already sorted) as a TXT list: one entry per line, trailing newline."""
        return cls.of_body(kind, index, ("\n".join(lines) + "\n").encode("ascii") if lines else b"", len(lines))

    @classmethod
    def of_body(cls, kind: str, index: int, body: bytes, entries: int) -> ListOutput:
        """A TXT list of ``entries`` lines already rendered as ``body`` (each line ending in a newline)."""
        return cls(kind, index, "TXT", body, entries, hashlib.sha256(body).hexdigest())

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "index": self.index,
            "format": self.format,
            "entries": self.entries,
            "bytes": len(self.body),
            "sha256": self.sha256,
        }


@dataclass
class EngineResult:
    """Everything one run produced; ``state`` goes back in as the next run's ``previous_state``."""

    lists: list[ListOutput]
    feeds: dict[str, FeedStats]
    dropped: dict[str, int]
    state: dict[str, Any]
    settings: EngineSettings | None = None
    carry_over: Collection[str] = ()
    #: the warninglists applied (:meth:`WarnIndex.summary`) and, per list, how many indicators each suppressed
    warninglists: dict[str, Any] = field(default_factory=dict)
    #: what the lists' quotas left out, by score band and feed (:func:`~threatfeed.engine.packing.pack`)
    left_out: dict[str, Any] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        """JSON-safe summary of the run: per-feed stats, per-list entries and sha256, dropped, settings."""
        return {
            "engine_version": 1,
            "generated_at": iso(self.settings.now) if self.settings else None,
            "public_suffix_list": _suffix_list_version(),
            "settings": self.settings.summary() if self.settings else {},
            "feeds": {name: self.feeds[name].to_dict() for name in sorted(self.feeds)},
            "lists": [lst.summary() for lst in self.lists],
            "dropped": dict(sorted(self.dropped.items())),
            "left_out": self.left_out,
            "warninglists": self.warninglists,
            "totals": {
                "accepted": sum(s.accepted for s in self.feeds.values()),
                "rejected": sum(s.rejected for s in self.feeds.values()),
                "entries": {
                    kind: sum(lst.entries for lst in self.lists if lst.kind == kind) for kind in ("ip", "domain")
                },
            },
        }


def _suffix_list_version() -> dict[str, str]:
    """Which Public Suffix List judged the run's names (:func:`threatfeed.engine.domains.suffix_list_version`)."""
    from threatfeed.engine.domains import suffix_list_version

    return suffix_list_version()


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with a ``Z``, second precision (stable across runs and platforms)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc(moment: datetime | None, default: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (naive means UTC), or ``default``."""
    if moment is None:
        return default
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

"""Provenance that survives between runs: which feed listed what, first and last seen.

Per feed, indicators are grouped into *rows* sharing ``(first_seen, last_seen, confidence)``; a row holds
an IPv4 address set and a set of names. Within one feed the rows never overlap, so every address has
exactly one first/last seen per feed, and "which feeds listed it" is the set of feeds holding it. Rows keep
the state small whatever the feed size (a run adds at most a few rows per feed) and the address sets are
stored as zlib-compressed, base64 big-endian ``start,end`` pairs: a million /32s take a few MB of JSON
instead of tens. A row's names are stored as one text, sorted and space-separated (``names``; a name never
holds a space): a million names read back as one string, not a million, and become strings only a block at a
time where a run needs them (:class:`StoredNames`). Version 1 stored them as a list (``domains``); it still
loads.

What a run keeps per feed:

- a feed that delivered: its current indicators (``last_seen`` = this run, ``first_seen`` kept from
  earlier rows) plus its earlier indicators until they age out. Many feeds only publish what is new since
  the last query (iSIGHT windows, TAXII ``added_after``, MISP ``last``), and a truncated body must not
  delist what was published: absence from today's body is not a retraction. With
  ``EngineSettings.replace_delivered`` (or a feed's ``options["replace"]``) the body is instead the feed's
  complete current list: what it no longer lists is delisted at once;
- a carried-over feed (fetch failed, empty or unreadable body): its last good rows, aged;
- a feed neither delivered nor carried over (removed from the catalogue): nothing.

Aging: a row whose ``last_seen`` is older than ``days_requested`` before ``now`` loses its addresses, and
its names once older than ``domain_max_age_days`` (names change hands far more slowly than addresses). Explicit
retractions (STIX revoked or expired, MISP deleted) remove matching addresses and names at once.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping, Set
from dataclasses import dataclass, field
from itertools import chain, filterfalse
from typing import Any, TypeVar

import numpy as np

from threatfeed.engine.classify import UniformNames
from threatfeed.engine.parse import ParsedFeed
from threatfeed.engine.spans import Spans, split_by, subtract, to_array, union, view

STATE_VERSION = 2
#: The versions :func:`load` reads (1: names as a JSON list).
READABLE_VERSIONS = (1, 2)
ENCODING = "u32be-(start-previous_end,end-start)-pairs/zlib/base64"


_S = TypeVar("_S")

#: What separates the names of a row in the state's text (:data:`~threatfeed.engine.domains.NAME` has no space).
NAME_SEPARATOR = " "
#: About how many characters of a row's stored names :meth:`StoredNames.blocks` makes into strings at a time: few
#: enough (some 700 names) that what a block's lookups touch in the parse's set is still in the core's cache when
#: :func:`_claim` takes them out (1.15 million names: 0.70 s in blocks of 16 KiB, 1.10 s in blocks of 1 MiB).
NAME_BLOCK_CHARS = 1 << 14


class StoredNames(Set[str]):
    """A row's names in sorted order, as the state stores them (one text), made into strings only when needed.

    A big feed's state holds a million names. As JSON strings they would cost some 85 MB before the run has
    even parsed the feed, and the parse makes its own copies. Kept as one text, a run makes a block of them at a
    time (:meth:`blocks`) when it looks for the names listed again (:func:`_claim`): it keeps the row's string
    of each and lets the parse's go, and it knows their order without sorting them (:meth:`of_sorted`). Any
    other use (membership, iteration) makes them into a frozenset once."""

    __slots__ = ("_count", "_set", "_sorted", "_text")

    def __init__(self, text: str) -> None:
        self._text: str | None = text
        self._count: int | None = None
        self._set: frozenset[str] | None = None
        self._sorted: list[str] | None = None

    @classmethod
    def of_sorted(cls, ordered: list[str]) -> StoredNames:
        """The names ``ordered`` (sorted, each once: the caller's to give away)."""
        names = cls("")
        names._text, names._sorted = None, ordered  # a set of them only if one is asked for
        return names

    def __len__(self) -> int:
        if self._set is not None:
            return len(self._set)
        if self._sorted is not None:
            return len(self._sorted)
        if self._count is None:
            self._count = self.text.count(NAME_SEPARATOR) + 1 if self.text else 0
        return self._count

    def __contains__(self, name: object) -> bool:
        return name in self.materialized()

    def __iter__(self) -> Iterator[str]:
        return iter(self.materialized())

    @property
    def text(self) -> str:
        """The names as the state stores them."""
        if self._text is None:
            self._text = NAME_SEPARATOR.join(self._sorted or ())
        return self._text

    @property
    def is_materialized(self) -> bool:
        return self._set is not None

    @property
    def in_order(self) -> bool:
        """Whether :meth:`blocks` gives the names in order (not when only a frozenset of them is at hand)."""
        return self._sorted is not None or self._set is None

    def materialized(self) -> frozenset[str]:
        """The names as a frozenset, made once."""
        if self._set is None:
            self._set = frozenset(self._sorted if self._sorted is not None else split_names(self.text))
        return self._set

    def blocks(self) -> Iterator[Collection[str]]:
        """The names a block at a time, in order (see :attr:`in_order`); the strings the row holds where it holds
        them, else each block's made for the caller alone."""
        if self._sorted is not None or self._set is not None:
            yield self._sorted if self._sorted is not None else self.materialized()
            return
        text, pos, n = self.text, 0, len(self.text)
        while pos < n:
            cut = text.find(NAME_SEPARATOR, min(pos + NAME_BLOCK_CHARS, n))
            if cut == -1:
                cut = n
            yield text[pos:cut].split(NAME_SEPARATOR)
            pos = cut + 1

    def sorted(self) -> list[str]:
        """The names in order (the text is sorted)."""
        if self._sorted is None:
            self._sorted = sorted(self._set) if self._set is not None else split_names(self.text)
        return self._sorted

    def difference(self, *others: Collection[str]) -> frozenset[str]:
        return self.materialized().difference(*others)

    def intersection(self, *others: Collection[str]) -> frozenset[str]:
        return self.materialized().intersection(*others)

    def union(self, *others: Collection[str]) -> frozenset[str]:
        return self.materialized().union(*others)

    @classmethod
    def _from_iterable(cls, it: Iterable[_S]) -> Set[_S]:  # the Set operators (``-``, ``&``, ``|``) give frozensets
        return frozenset(it)


#: A row's names: a set made in this run, or those the state stored.
Names = frozenset[str] | StoredNames


@dataclass
class Row:
    """Indicators of one feed sharing first/last seen (epoch seconds) and confidence."""

    first: int
    last: int
    confidence: int
    ipv4: Spans = field(default_factory=Spans)
    domains: Names = frozenset()
    _sorted: list[str] | None = field(default=None, init=False, repr=False, compare=False)

    def empty(self) -> bool:
        return not self.ipv4 and not self.domains

    def sorted_domains(self) -> list[str]:
        """The names in order, sorted once (the state and, for a single row, the entity list need it)."""
        if self._sorted is None:
            names = self.domains
            self._sorted = names.sorted() if isinstance(names, StoredNames) else sorted(names)
        return self._sorted

    def name_set(self) -> frozenset[str]:
        """The names as a frozenset (a stored row's made once)."""
        names = self.domains
        return names.materialized() if isinstance(names, StoredNames) else names

    def names_text(self) -> str:
        """The names as the state stores them (:class:`StoredNames`)."""
        if isinstance(self.domains, StoredNames):
            return self.domains.text
        names = self.sorted_domains()
        text = NAME_SEPARATOR.join(names)
        if names and text.count(NAME_SEPARATOR) != len(names) - 1:
            raise ValueError(f"engine state: a name holds {NAME_SEPARATOR!r}, which separates names; not stored")
        return text


def row_names(row: Mapping[str, Any]) -> list[str]:
    """The names of a row of a state written by :func:`dump` (any readable version), for readers of the JSON."""
    if "names" in row:
        return split_names(row["names"])
    return list(row.get("domains", ()))


def split_names(text: str) -> list[str]:
    """The names of a stored text (none in an empty one)."""
    return text.split(NAME_SEPARATOR) if text else []


@dataclass
class FeedState:
    """One feed's retained contribution."""

    priority: int = 0
    last_success: int | None = None
    rows: list[Row] = field(default_factory=list)
    #: what the rows were last built from, when it can be reused (:mod:`threatfeed.engine.reuse`); else None
    body: dict[str, Any] | None = None

    def all_ipv4(self) -> Spans:
        return union(*(r.ipv4 for r in self.rows))


def load(previous: Mapping[str, Any] | None) -> dict[str, FeedState]:
    """Read a state written by :func:`dump`; anything else (None, another version) is an empty state."""
    if not previous or previous.get("version") not in READABLE_VERSIONS:
        return {}
    out: dict[str, FeedState] = {}
    for name, data in (previous.get("feeds") or {}).items():
        rows = [
            Row(
                int(r["first"]),
                int(r["last"]),
                int(r.get("confidence", 50)),
                decode_spans(r.get("ipv4", "")),
                StoredNames(r["names"]) if "names" in r else frozenset(r.get("domains", ())),
            )
            for r in data.get("rows", ())
        ]
        mark = data.get("body")
        out[name] = FeedState(
            int(data.get("priority", 0)), data.get("last_success"), rows, mark if isinstance(mark, dict) else None
        )
    return out


def dump(feeds: Mapping[str, FeedState], now: int, clean_under: str | None = None) -> dict[str, Any]:
    """JSON-serializable state (sorted keys and rows: equal input gives equal state). ``clean_under``: the
    digest of the settings and engine under which every row was parsed or brought under the warninglists (see
    :func:`threatfeed.engine.build.build_lists`)."""
    return {
        "version": STATE_VERSION,
        "updated_at": now,
        "ipv4_encoding": ENCODING,
        **({"clean_under": clean_under} if clean_under else {}),
        "feeds": {
            name: {
                "priority": fs.priority,
                "last_success": fs.last_success,
                "rows": [
                    {
                        "first": r.first,
                        "last": r.last,
                        "confidence": r.confidence,
                        "ipv4": encode_spans(r.ipv4),
                        "addresses": r.ipv4.addresses(),
                        "names": r.names_text(),
                    }
                    for r in sorted(fs.rows, key=lambda r: (r.first, r.last, r.confidence))
                ],
                **({"body": fs.body} if fs.body else {}),
            }
            for name, fs in sorted(feeds.items())
        },
    }


def encode_spans(spans: Spans) -> str:
    """Delta-encoded (each start relative to the previous end, each end relative to its start), so the
    high bytes are mostly zero and zlib's run-length matching shrinks them well. Both deltas are never negative
    in a canonical set; each interval is stored as the big-endian u32 pair ``(gap, size)``."""
    if not spans:
        return ""
    starts, ends = view(spans.starts), view(spans.ends)
    pairs = np.empty(2 * len(starts), dtype=">u4")
    pairs[0::2] = starts - np.concatenate(([0], ends[:-1])).astype(np.uint32)
    pairs[1::2] = ends - starts
    # run-length matching only (a plain zlib stream): twice as fast as level 1's full matching on these bytes,
    # and smaller (23 against 51 ms, 1.46 against 1.61 MB for 480,000 intervals)
    packer = zlib.compressobj(1, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_RLE)
    return base64.b64encode(packer.compress(pairs.tobytes()) + packer.flush()).decode("ascii")


def decode_spans(text: str) -> Spans:
    if not text:
        return Spans()
    pairs = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=">u4").astype(np.int64)
    gaps, sizes = pairs[0::2], pairs[1::2]
    # end[i] = end[i-1] + gap[i] + size[i]; start[i] = end[i] - size[i]
    ends = np.cumsum(gaps + sizes)
    if len(ends) and int(ends[-1]) > 0xFFFFFFFF:
        raise ValueError("engine state: an address set runs past 255.255.255.255; the state object is corrupt")
    return Spans(to_array(ends - sizes), to_array(ends))


def age(fs: FeedState, cutoff: int, name_cutoff: int | None = None) -> FeedState:
    """Drop what was last seen before ``cutoff`` (addresses) or ``name_cutoff`` (names; default ``cutoff``)."""
    return FeedState(fs.priority, fs.last_success, aged(fs.rows, cutoff, name_cutoff))


def aged(rows: list[Row], cutoff: int, name_cutoff: int | None = None) -> list[Row]:
    """``rows`` without the addresses last seen before ``cutoff`` and the names last seen before ``name_cutoff``."""
    names_until = cutoff if name_cutoff is None else name_cutoff
    out = []
    for r in rows:
        ip, names = r.last >= cutoff, r.last >= names_until
        if not (ip and names):
            r = Row(r.first, r.last, r.confidence, r.ipv4 if ip else Spans(), r.domains if names else frozenset())
        if not r.empty():
            out.append(r)
    return out


_Groups = dict[tuple[int, int, int], tuple[list[Spans], set[str] | Names]]
"""(first, last, confidence) -> the address sets and the names with those times: the rows being built."""


def _slot(groups: _Groups, first: int, last: int, conf: int) -> tuple[list[Spans], set[str] | Names]:
    return groups.setdefault((first, last, conf), ([], set()))


def _names_to_add_to(groups: _Groups, first: int, last: int, conf: int) -> set[str]:
    """The names of a row being built, as a set that may be added to (a set given whole is copied first)."""
    spans, names = _slot(groups, first, last, conf)
    if not isinstance(names, set):
        names = set(names)
        groups[(first, last, conf)] = (spans, names)
    return names


def _put_spans(groups: _Groups, first: int, last: int, conf: int, spans: Spans) -> None:
    slot = _slot(groups, first, last, conf)  # created even when empty: the rows keep their first-seen order
    if spans:
        slot[0].append(spans)


def advance(
    old: FeedState | None,
    parsed: ParsedFeed,
    seen: int,
    cutoff: int,
    priority: int,
    replace: bool = False,
    name_cutoff: int | None = None,
) -> FeedState:
    """The feed's state after delivering ``parsed`` at ``seen``: current indicators get ``last = seen``
    and keep their earlier ``first``; earlier indicators stay until they age out (retractions remove them
    at once), unless ``replace``: then the body is the feed's whole contribution.

    ``parsed`` is used up: when its names are one set at one confidence, the names listed again are taken out
    of that set as they are found (:func:`_place_current_names`)."""
    rows = list(old.rows) if old else []
    if parsed.revoked_ipv4 or parsed.revoked_domains:
        gone_ip, gone_names = parsed.revoked_ipv4, parsed.revoked_domains
        rows = [
            Row(r.first, r.last, r.confidence, subtract(r.ipv4, gone_ip), r.domains.difference(gone_names))
            for r in rows
        ]
    groups: _Groups = {}
    window = aged(rows, cutoff, name_cutoff)
    if not replace:
        _keep_earlier(groups, window, parsed.all_ipv4(), parsed.domains)
    _place_current_addresses(groups, window, parsed, seen)
    _place_current_names(groups, window, parsed.domains, seen)
    new_rows = []
    for key in list(groups):  # each group let go as its row is made: a million names are a 32 MB set table
        (first, last, conf), (spans_list, name_set) = key, groups.pop(key)
        kept = name_set if isinstance(name_set, StoredNames) else frozenset(name_set)  # its order known
        row = Row(first, last, conf, union(*spans_list) if spans_list else Spans(), kept)
        del spans_list, name_set
        if not row.empty():
            new_rows.append(row)
    return FeedState(priority, seen, new_rows)


def _keep_earlier(groups: _Groups, window: list[Row], current: Spans, names: Mapping[str, int]) -> None:
    """Earlier rows: what is not current stays as it was while in the window."""
    for r in window:
        _put_spans(groups, r.first, r.last, r.confidence, subtract(r.ipv4, current) if current else r.ipv4)
        if isinstance(r.domains, StoredNames):  # the names not listed again, as the row's strings
            blocks = r.domains.blocks()
            gone: Collection[str] = list(chain.from_iterable(filterfalse(names.__contains__, b) for b in blocks))
        else:
            gone = r.domains.difference(names)
        if gone:
            _names_to_add_to(groups, r.first, r.last, r.confidence).update(gone)


def _place_current_addresses(groups: _Groups, window: list[Row], parsed: ParsedFeed, seen: int) -> None:
    """Current addresses, split by the first-seen they already had."""
    old_rows = [r for r in window if r.ipv4]
    for conf, spans in parsed.ipv4.items():
        remaining = spans
        for r in old_rows:
            if not remaining:
                break
            common, rest = split_by(remaining, r.ipv4)
            if common:
                _put_spans(groups, min(r.first, seen), seen, conf, common)
                remaining = rest
        _put_spans(groups, seen, seen, conf, remaining)


def _place_current_names(groups: _Groups, window: list[Row], names: Mapping[str, int], seen: int) -> None:
    """Current names: first-seen is the earliest of the rows holding them (rows in first-seen order), grouped by
    confidence (usually one for the whole body).

    A parse whose names are one set at one confidence (:class:`UniformNames`) gives that set over: each name an
    earlier row holds leaves it as the row's string is kept, so a million names listed again are never held
    twice; what is left are the new names."""
    by_first: list[tuple[int, set[str] | Names]] = []
    owned = isinstance(names, UniformNames) and isinstance(names.names, set)
    # otherwise no copy of the names up front, and what is left shrinks into a new set each time (a set never
    # shrinks its table): with a million names each copy is a 32 MB table
    left: Collection[str] = names.names if isinstance(names, UniformNames) else names.keys()
    for r in sorted((r for r in window if r.domains), key=lambda r: r.first):
        if not left:
            break
        held: set[str] | Names
        if isinstance(left, set) and owned:
            held = _claim(r.domains, left)
        else:
            held = r.domains.intersection(left)  # the lookups in C
            if held:
                left = set(filterfalse(held.__contains__, left))
        if held:
            by_first.append((min(r.first, seen), held))
    if left:
        by_first.append((seen, left if isinstance(left, set) else set(left)))
    confidences = {names.confidence} if isinstance(names, UniformNames) else set(names.values())
    for first, group in by_first:
        if len(confidences) == 1:
            _put_names(groups, first, seen, next(iter(confidences)), group)
        else:
            for n in group:
                _names_to_add_to(groups, first, seen, names[n]).add(n)


def _claim(row: Names, left: set[str]) -> frozenset[str] | StoredNames:
    """The names of ``left`` that ``row`` holds, taken out of ``left``: the row's string of each is kept and the
    parse's let go as soon as it is found. A stored row's names are made into strings a block at a time, in
    order, so what it keeps is known sorted (:meth:`StoredNames.of_sorted`: a million names are not sorted
    again)."""
    if not isinstance(row, StoredNames):
        held = row.intersection(left)
        left.difference_update(held)
        return held
    ordered = row.in_order
    claimed: list[str] = []
    for block in row.blocks():
        found = list(filter(left.__contains__, block))  # the row's strings, in the row's order
        left.difference_update(found)
        claimed.extend(found)
    return StoredNames.of_sorted(claimed) if ordered else frozenset(claimed)


def _put_names(groups: _Groups, first: int, last: int, conf: int, names: set[str] | Names) -> None:
    """Add ``names`` (the caller's to give away) to a row being built: as its set when it has none yet (no copy)."""
    slot = _slot(groups, first, last, conf)
    if slot[1]:
        _names_to_add_to(groups, first, last, conf).update(names)
    else:
        groups[(first, last, conf)] = (slot[0], names)

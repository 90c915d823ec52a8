"""Provenance that survives between runs: which feed listed what, first and last seen.

Per feed, indicators are grouped into *rows* sharing ``(first_seen, last_seen, confidence)``; a row holds
an IPv4 address set and a list of names. Within one feed the rows never overlap, so every address has
exactly one first/last seen per feed, and "which feeds listed it" is the set of feeds holding it. Rows keep
the state small whatever the feed size (a run adds at most a few rows per feed) and the address sets are
stored as zlib-compressed, base64 big-endian ``start,end`` pairs: a million /32s take a few MB of JSON
instead of tens.

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
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from itertools import filterfalse
from typing import Any

import numpy as np

from threatfeed.engine.classify import UniformNames
from threatfeed.engine.parse import ParsedFeed
from threatfeed.engine.spans import Spans, split_by, subtract, to_array, union, view

STATE_VERSION = 1
ENCODING = "u32be-(start-previous_end,end-start)-pairs/zlib/base64"


@dataclass
class Row:
    """Indicators of one feed sharing first/last seen (epoch seconds) and confidence."""

    first: int
    last: int
    confidence: int
    ipv4: Spans = field(default_factory=Spans)
    domains: frozenset[str] = frozenset()
    _sorted: list[str] | None = field(default=None, init=False, repr=False, compare=False)

    def empty(self) -> bool:
        return not self.ipv4 and not self.domains

    def sorted_domains(self) -> list[str]:
        """The names in order, sorted once (the state and, for a single row, the entity list need it)."""
        if self._sorted is None:
            self._sorted = sorted(self.domains)
        return self._sorted


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
    if not previous or previous.get("version") != STATE_VERSION:
        return {}
    out: dict[str, FeedState] = {}
    for name, data in (previous.get("feeds") or {}).items():
        rows = [
            Row(
                int(r["first"]),
                int(r["last"]),
                int(r.get("confidence", 50)),
                decode_spans(r.get("ipv4", "")),
                frozenset(r.get("domains", ())),
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
                        "domains": list(r.sorted_domains()),
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
    high bytes are mostly zero and zlib's fastest level shrinks them well. Both deltas are never negative
    in a canonical set; each interval is stored as the big-endian u32 pair ``(gap, size)``."""
    if not spans:
        return ""
    starts, ends = view(spans.starts), view(spans.ends)
    pairs = np.empty(2 * len(starts), dtype=">u4")
    pairs[0::2] = starts - np.concatenate(([0], ends[:-1])).astype(np.uint32)
    pairs[1::2] = ends - starts
    return base64.b64encode(zlib.compress(pairs.tobytes(), 1)).decode("ascii")


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


_Groups = dict[tuple[int, int, int], tuple[list[Spans], set[str] | frozenset[str]]]
"""(first, last, confidence) -> the address sets and the names with those times: the rows being built."""


def _slot(groups: _Groups, first: int, last: int, conf: int) -> tuple[list[Spans], set[str] | frozenset[str]]:
    return groups.setdefault((first, last, conf), ([], set()))


def _names_to_add_to(groups: _Groups, first: int, last: int, conf: int) -> set[str]:
    """The names of a row being built, as a set that may be added to (a set given whole is copied first)."""
    spans, names = _slot(groups, first, last, conf)
    if isinstance(names, frozenset):
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
    at once), unless ``replace``: then the body is the feed's whole contribution."""
    rows = list(old.rows) if old else []
    if parsed.revoked_ipv4 or parsed.revoked_domains:
        gone_ip, gone_names = parsed.revoked_ipv4, parsed.revoked_domains
        rows = [Row(r.first, r.last, r.confidence, subtract(r.ipv4, gone_ip), r.domains - gone_names) for r in rows]
    groups: _Groups = {}
    window = aged(rows, cutoff, name_cutoff)
    if not replace:
        _keep_earlier(groups, window, parsed.all_ipv4(), parsed.domains)
    _place_current_addresses(groups, window, parsed, seen)
    _place_current_names(groups, window, parsed.domains, seen)
    new_rows = []
    for key in list(groups):  # each group let go as its row is made: a million names are a 32 MB set table
        (first, last, conf), (spans_list, name_set) = key, groups.pop(key)
        row = Row(first, last, conf, union(*spans_list) if spans_list else Spans(), frozenset(name_set))
        del spans_list, name_set
        if not row.empty():
            new_rows.append(row)
    return FeedState(priority, seen, new_rows)


def _keep_earlier(groups: _Groups, window: list[Row], current: Spans, names: Mapping[str, int]) -> None:
    """Earlier rows: what is not current stays as it was while in the window."""
    for r in window:
        _put_spans(groups, r.first, r.last, r.confidence, subtract(r.ipv4, current) if current else r.ipv4)
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
    """Current names: first-seen is the earliest of the rows holding them (set operations per row, rows in
    first-seen order), grouped by confidence (usually one for the whole body)."""
    by_first: list[tuple[int, set[str] | frozenset[str]]] = []
    # no copy of the names up front, and what is left shrinks into a new set each time (a set never shrinks its
    # table): with a million names each copy is a 32 MB table
    left: Collection[str] = names.names if isinstance(names, UniformNames) else names.keys()
    for r in sorted((r for r in window if r.domains), key=lambda r: r.first):
        if not left:
            break
        held = r.domains.intersection(left)  # the lookups in C; the names are those of ``left``
        if held:
            by_first.append((min(r.first, seen), held))
            left = set(filterfalse(held.__contains__, left))
    if left:
        by_first.append((seen, set(left)))
    confidences = {names.confidence} if isinstance(names, UniformNames) else set(names.values())
    for first, group in by_first:
        if len(confidences) == 1:
            _put_names(groups, first, seen, next(iter(confidences)), group)
        else:
            for n in group:
                _names_to_add_to(groups, first, seen, names[n]).add(n)


def _put_names(groups: _Groups, first: int, last: int, conf: int, names: set[str] | frozenset[str]) -> None:
    """Add ``names`` (the caller's to give away) to a row being built: as its set when it has none yet (no copy)."""
    slot = _slot(groups, first, last, conf)
    if slot[1]:
        _names_to_add_to(groups, first, last, conf).update(names)
    else:
        groups[(first, last, conf)] = (slot[0], names)

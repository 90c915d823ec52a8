"""Aggregate what every feed retained and pack it into GuardDuty lists.

Aggregation: the union of all feeds' addresses minus bogons and the allow-list, converted to the minimal
set of CIDR blocks (adjacent and contained blocks merge by construction); names deduplicated, names under a
listed wildcard dropped, allow-listed names removed.

Overflow policy, when the entries do not fit the lists available (``ip_list_slots`` lists of at most
``max_entries_per_list`` entries and ``max_bytes_per_list`` bytes, entity lists also at most
``max_entities_per_list`` entries; one entity list for names, or
``ip_list_slots`` entity lists for both when ``ip_destination="entity_set"``): every retained indicator has
a rank ``(feed priority, score, last seen)``, the best over the feeds that list it. Whole rank tiers
are kept from the best down as long as they fit; the first tier that does not fit is kept in part (in
address / name order, so the cut is deterministic); everything below is dropped. What was cut is counted
in ``dropped`` as ``<kind>_over_entry_limit`` or ``<kind>_over_byte_limit`` (entries of the unpacked
aggregate minus entries published), and in the ``report`` by score band and feed (:func:`left_out_report`).

The **score** (0-100, :func:`score`) of an indicator in a feed: the feed's declared confidence (STIX
``confidence``, Mandiant ``mscore``, a list's ``confidence`` option; 50 when none), weighed down with age (at
its expiry, ``days_requested`` for addresses and ``domain_max_age_days`` for names, it counts half), plus
:data:`CORROBORATION` points for each further feed that lists it (at most two): independent sources agreeing
are the best evidence a list can have. Feed priority stays first: it is the operator's own word.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain, filterfalse, groupby, islice
from operator import eq
from typing import Any

import numpy as np

from threatfeed.engine import domains as D
from threatfeed.engine.ipv4 import block_text, scan_address_lines
from threatfeed.engine.model import EngineSettings, ListOutput
from threatfeed.engine.policy import Policy
from threatfeed.engine.spans import (
    Spans,
    block_arrays,
    block_counts,
    cidr_blocks,
    count_blocks,
    from_bounds,
    interval_blocks,
    subtract,
    union,
    view,
)
from threatfeed.engine.state import FeedState, Row

Rank = tuple[int, int, int]
#: Longest IP list line: "255.255.255.255/32" plus the newline.
IP_LINE_MAX = 19
#: Longest entity list line: a wildcard (``*.``) on the longest name a list takes (253 characters), plus the newline.
NAME_LINE_MAX = 2 + 253 + 1
#: Score points for each further feed listing an indicator (two at most count).
CORROBORATION = 15
#: Score bands of the manifest's ``left_out`` report.
BANDS = ((75, "75-100"), (50, "50-74"), (25, "25-49"), (0, "0-24"))


def score(confidence: int, last: int, feeds: int, now: int, max_age_days: int) -> int:
    """An indicator's score, 0-100 (see the module docstring)."""
    age = max(0, now - last) / 86400
    freshness = max(0.0, 1.0 - age / max_age_days)
    value = confidence * (0.5 + 0.5 * freshness) + CORROBORATION * min(2, max(0, feeds - 1))
    return max(0, min(100, round(value)))


def band(value: int) -> str:
    return next(label for low, label in BANDS if value >= low)


@dataclass
class Tier:
    """Everything sharing one rank."""

    rank: Rank
    ipv4: list[Spans] = field(default_factory=list)
    name_rows: list[Row] = field(default_factory=list)  # the rows the names come from
    #: each feed's share of it: its address sets and its rows holding names
    by_feed: dict[str, tuple[list[Spans], list[Row]]] = field(default_factory=dict)
    _domains: set[str] | frozenset[str] | None = field(default=None, repr=False)

    @property
    def domains(self) -> set[str] | frozenset[str]:
        """The tier's names, as a set made only when asked (the lists are built from the rows' sorted names,
        :func:`merged_names`; a steady state's tier is a million names in two rows)."""
        if self._domains is None:
            self._domains = names_of(self.name_rows)
        return self._domains


def names_of(rows: Sequence[Row]) -> set[str] | frozenset[str]:
    """The names of ``rows``: a single row's own set (no copy), else their union."""
    if len(rows) == 1:
        return rows[0].name_set()
    return set().union(*(r.name_set() for r in rows))


def tiers_of(feeds: Mapping[str, FeedState], settings: EngineSettings | None = None) -> list[Tier]:
    """Tiers from best rank to worst. Without ``settings`` the rank is ``(priority, confidence, last)``."""
    by_rank: dict[Rank, Tier] = {}
    if settings is None:
        for name, fs in feeds.items():
            for row in fs.rows:
                _add(by_rank, (fs.priority, row.confidence, row.last), name, row.ipv4, row)
        return [by_rank[r] for r in sorted(by_rank, reverse=True)]
    now = int(settings.now.timestamp())
    ip_counts = _ip_counts(feeds)
    name_counts = _name_counts(feeds)
    for name, fs in feeds.items():
        for row in fs.rows:
            if row.ipv4:
                parts = _split_by_count(row.ipv4, ip_counts) if ip_counts else {1: row.ipv4}
                for n, spans in parts.items():
                    rank = (fs.priority, score(row.confidence, row.last, n, now, settings.days_requested), row.last)
                    _add(by_rank, rank, name, spans, None)
            if row.domains:
                groups: dict[int, list[str] | None] = {1: None}
                if name_counts:
                    groups = {}
                    for domain in row.domains:
                        listed = groups.setdefault(name_counts[domain], [])
                        assert listed is not None  # only the default group (before this loop) is None
                        listed.append(domain)
                for n, names in groups.items():
                    part = row
                    if names is not None and len(groups) > 1:
                        part = Row(row.first, row.last, row.confidence, Spans(), frozenset(names))
                    rank = (fs.priority, score(row.confidence, row.last, n, now, settings.domain_days), row.last)
                    _add(by_rank, rank, name, Spans(), part)
    return [by_rank[r] for r in sorted(by_rank, reverse=True)]


def _add(by_rank: dict[Rank, Tier], rank: Rank, feed: str, spans: Spans, names: Row | None) -> None:
    tier = by_rank.setdefault(rank, Tier(rank))
    own = tier.by_feed.setdefault(feed, ([], []))
    if spans:
        tier.ipv4.append(spans)
        own[0].append(spans)
    if names is not None and names.domains:
        tier.name_rows.append(names)
        own[1].append(names)


def _ip_counts(feeds: Mapping[str, FeedState]) -> tuple[np.ndarray, np.ndarray] | None:
    """How many feeds list each address, as bounds and counts (count ``c[j]`` on ``[b[j], b[j+1] - 1]``),
    when two feeds or more list addresses; else None. One sort of every feed's interval bounds."""
    sets = [s for s in (fs.all_ipv4() for fs in feeds.values()) if s]
    if len(sets) < 2:
        return None
    starts = np.concatenate([view(s.starts) for s in sets]).astype(np.int64)
    ends = np.concatenate([view(s.ends) for s in sets]).astype(np.int64) + 1
    pos = np.concatenate((starts, ends))
    order = np.argsort(pos, kind="stable")
    pos = pos[order]
    running = np.cumsum(np.concatenate((np.ones(len(starts)), -np.ones(len(ends))))[order].astype(np.int64))
    last = np.ones(len(pos), dtype=bool)
    last[:-1] = pos[1:] != pos[:-1]  # the count after every event at a position
    return pos[last], running[last]


def _split_by_count(spans: Spans, counts: tuple[np.ndarray, np.ndarray]) -> dict[int, Spans]:
    """``spans`` cut by how many feeds list each address (every address of ``spans`` is listed once at least)."""
    bounds, per = counts
    s, e = view(spans.starts).astype(np.int64), view(spans.ends).astype(np.int64)
    first = np.searchsorted(bounds, s, side="right") - 1
    lengths = np.searchsorted(bounds, e, side="right") - first
    if (lengths == 1).all():
        idx, ps, pe = first, s, e
    else:
        total = int(lengths.sum())
        idx = np.repeat(first - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        ps = np.maximum(np.repeat(s, lengths), bounds[idx])
        pe = np.minimum(np.repeat(e, lengths), bounds[idx + 1] - 1)
    n = np.maximum(per[idx], 1)
    levels = np.unique(n)
    if len(levels) == 1:
        return {int(levels[0]): spans}
    return {int(c): from_bounds(ps[n == c], pe[n == c]) for c in levels.tolist()}


def _name_counts(feeds: Mapping[str, FeedState]) -> Counter[str] | None:
    """How many feeds list each name, when two feeds or more list names; else None."""
    holding = [fs for fs in feeds.values() if any(r.domains for r in fs.rows)]
    if len(holding) < 2:  # decided before any union: one feed's million names are a 32 MB set table
        return None
    sets = [frozenset().union(*(r.domains for r in fs.rows)) for fs in holding]
    counts: Counter[str] = Counter()
    for names in sets:
        counts.update(names)
    return counts


def ip_lines(spans: Spans) -> list[str]:
    """List entries for an address set, in address order: its CIDR blocks
    (:func:`~threatfeed.engine.spans.block_arrays`) rendered all at once
    (:class:`Lines`)."""
    return Lines(spans, []).as_list()


class Lines:
    """A list's lines in order: the IP entries of an address set, rendered as one text
    (:func:`~threatfeed.engine.ipv4.block_text`), then names. A quarter of a million IP entries made into strings
    only to be joined into a list's body again cost more than rendering them; the body is cut from the text."""

    __slots__ = ("_ends", "ip", "ip_count", "names")

    def __init__(self, spans: Spans, names: list[str]) -> None:
        networks, prefixes = block_arrays(spans)
        self.ip = block_text(networks, prefixes)  # each entry ends in a newline
        self.ip_count = len(networks)
        self.names = names
        self._ends: np.ndarray | None = None

    def __len__(self) -> int:
        return self.ip_count + len(self.names)

    def as_list(self) -> list[str]:
        return self.ip.decode("ascii").split("\n")[:-1] + self.names

    def body(self, lo: int, hi: int) -> bytes:
        """Lines ``lo`` to ``hi - 1`` as a list body (each line ending in a newline)."""
        n = self.ip_count
        head = b""
        if hi <= lo:
            return head
        if lo < n:
            if lo == 0 and hi >= n:
                head = self.ip
            else:
                if self._ends is None:  # where each entry ends, past its newline
                    self._ends = np.flatnonzero(np.frombuffer(self.ip, dtype=np.uint8) == 10) + 1
                head = self.ip[int(self._ends[lo - 1]) if lo else 0 : int(self._ends[min(hi, n) - 1])]
        names = self.names[max(lo - n, 0) : max(hi - n, 0)]
        return head + ("\n".join(names) + "\n").encode("ascii") if names else head


def first_blocks(spans: Spans, limit: int) -> Spans:
    """The part of ``spans`` covered by its first ``limit`` CIDR blocks (address order)."""
    if limit <= 0:
        return Spans()
    # each interval needs at least one block: only the first ``limit`` intervals can matter
    running = np.cumsum(np.frombuffer(block_counts(spans), dtype=np.uint8)[:limit], dtype=np.int64)
    if running[-1] <= limit and len(running) == len(spans):
        return spans
    whole = int(np.searchsorted(running, limit, side="right"))  # intervals 0..whole-1 fit entirely
    out = Spans(spans.starts[:whole], spans.ends[:whole])
    assert spans.counts is not None and spans.ranged is not None  # block_counts (above) filled both caches
    out.counts = spans.counts[:whole]
    out.ranged = spans.ranged[: bisect_left(spans.ranged, whole)]
    left = limit - (int(running[whole - 1]) if whole else 0)
    if left:
        s, e = spans.starts[whole], spans.ends[whole]
        blocks = list(cidr_blocks(s, e))[:left]
        last_net, last_prefix = blocks[-1]
        end = last_net + (1 << (32 - last_prefix)) - 1
        out.starts.append(s)
        out.ends.append(end)
        out.counts.append(interval_blocks(s, end))
        if end != s:
            out.ranged.append(whole)
    return out


def _sorted_difference(names: list[str], less: list[str]) -> list[str]:
    """``names`` without ``less`` (both sorted, each name once), still sorted: no copy when ``less`` is empty, and
    never a set of ``names`` (a million of them)."""
    if not less:
        return names
    return list(filterfalse(set(less).__contains__, names))


def merged_names(rows: Sequence[Row], policy: Policy, disjoint: bool = False) -> list[str]:
    """The entity list lines of ``rows``: their names, each once, sorted. Each row's names are sorted already (a
    row read back from the state, :class:`~threatfeed.engine.state.StoredNames`) or sorted once and shared with
    the state, so the rows are merged (sorting sorted runs is one merge), not a set of all of them sorted
    afresh. Through :func:`domain_lines` when the policy filters names or a wildcard may cover others (``*``
    sorts before any character a name starts with, so a row holding one has it first). ``disjoint``: no two
    rows share a name (rows of one feed never do), so the merge holds each name once already."""
    if not rows:
        return []
    ordered = [r.sorted_domains() for r in rows]
    if not policy.allows_all_names() or any(names and names[0].startswith("*.") for names in ordered):
        return domain_lines(set().union(*ordered), policy)
    if len(ordered) == 1:
        return ordered[0]
    merged = sorted(chain.from_iterable(ordered))
    if not disjoint and any(map(eq, merged, islice(merged, 1, None))):  # rows of different feeds may share names
        merged = [name for name, _ in groupby(merged)]
    return merged


def domain_lines(names: set[str], policy: Policy) -> list[str]:
    kept = names if policy.allows_all_names() else {n for n in names if policy.judge_domain(n) is None}
    return sorted(D.collapse_wildcards(kept))


def chunk(lines: Sequence[str], max_entries: int, max_bytes: int, longest: int | None = None) -> list[list[str]]:
    """Split sorted lines into consecutive lists within both limits. ``longest``: a bound on any line's
    length plus its newline when the caller knows one (IP lines: :data:`IP_LINE_MAX`), else measured."""
    if not lines:
        return []
    if longest is None:
        longest = max(map(len, lines)) + 1
    if max_entries * longest <= max_bytes:  # only the entry limit can bind: plain slicing
        return [list(lines[i : i + max_entries]) for i in range(0, len(lines), max_entries)]
    out: list[list[str]] = []
    current: list[str] = []
    size = 0
    for line in lines:
        n = len(line) + 1
        if current and (len(current) >= max_entries or size + n > max_bytes):
            out.append(current)
            current, size = [], 0
        current.append(line)
        size += n
    if current:
        out.append(current)
    return out


class _Group:
    """One destination (IP lists, or entity lists) and the tiers competing for it."""

    def __init__(
        self, tiers: list[Tier], with_ip: bool, with_names: bool, policy: Policy, slots: int, settings: EngineSettings
    ) -> None:
        self.tiers = tiers
        self.with_ip = with_ip
        self.with_names = with_names
        self.policy = policy
        self.slots = max(0, slots)
        self.settings = settings
        #: entries per list: threat entity lists (those holding names) have their own, lower quota
        self.cap = settings.max_entries_per_list
        if with_names:
            self.cap = min(self.cap, settings.max_entities_per_list)
        self._content: dict[int, tuple[Spans, list[str]]] = {}
        self._bound: int | None = None
        self.cut_at: int | None = None  # the tier kept in part, once pack() cut entries

    def line_bound(self) -> int:
        """A bound on any line's length plus its newline in this group's lists: IP lines are at most
        :data:`IP_LINE_MAX`; names are measured once, on all tiers' names (every candidate content holds a
        subset of them)."""
        if self._bound is None:
            if not self.with_names or self.cap * NAME_LINE_MAX <= self.settings.max_bytes_per_list:
                # no name line can make the byte limit bind: no need to measure a million of them
                self._bound = NAME_LINE_MAX if self.with_names else IP_LINE_MAX
            else:
                names = self.content(len(self.tiers))[1]
                self._bound = max(IP_LINE_MAX, max(map(len, names), default=0) + 1)
        return self._bound

    def content(self, upto: int) -> tuple[Spans, list[str]]:
        """Aggregated addresses and names of the best ``upto`` tiers."""
        if upto not in self._content:
            self._content[upto] = self._aggregate(upto)
        return self._content[upto]

    def _aggregate(self, upto: int) -> tuple[Spans, list[str]]:
        chosen = self.tiers[:upto]
        spans = Spans()
        if self.with_ip:
            spans = subtract(union(*(s for t in chosen for s in t.ipv4)), self.policy.blocked)
        names: list[str] = []
        if self.with_names:
            rows = [r for t in chosen for r in t.name_rows]
            one_feed = len({feed for t in chosen for feed, (_, held) in t.by_feed.items() if held}) <= 1
            names = merged_names(rows, self.policy, disjoint=one_feed)
        return spans, names

    def fits(self, spans: Spans, names: list[str], entries: int | None = None) -> bool:
        """Whether the content fits the group's lists. Decided from counts whenever the byte limit
        cannot bind (every line short enough), which is always the case for IP lists."""
        n = (count_blocks(spans) if entries is None else entries) + len(names)
        cap = self.cap
        if n == 0:
            return True
        if n > self.slots * cap:
            return False
        if cap * self.line_bound() <= self.settings.max_bytes_per_list:
            return True
        return self.lines_fit(Lines(spans, names))

    def pack(self) -> tuple[Lines, int, str | None]:
        """``(lines, entries_cut, cause)``; when entries are cut, :attr:`cut_at` is the tier kept in part."""
        spans, names = self.content(len(self.tiers))
        full = count_blocks(spans) + len(names)
        self.cut_at = None
        if self.fits(spans, names, full - len(names)):
            return Lines(spans, names), 0, None
        cause = "entry_limit" if full > self.slots * self.cap else "byte_limit"
        # largest number of whole tiers that fits (binary search; merging can make the count only nearly
        # monotone, but the invariant "lo fits, hi does not" holds throughout)
        lo, hi = 0, len(self.tiers)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.fits(*self.content(mid)):
                lo = mid
            else:
                hi = mid
        base_spans, base_names = self.content(lo)
        next_spans, next_names = self.content(lo + 1)
        extra_ip = subtract(next_spans, base_spans)
        extra_names = _sorted_difference(next_names, base_names)
        n_ip_extra = count_blocks(extra_ip)
        room = self.slots * self.cap - count_blocks(base_spans) - len(base_names)

        def build(k: int) -> tuple[Spans, list[str]]:
            k_ip = min(k, n_ip_extra)
            spans = union(base_spans, first_blocks(extra_ip, k_ip)) if k_ip else base_spans
            # two sorted runs of distinct names, disjoint: one merge, no sets
            names = sorted([*base_names, *extra_names[: k - k_ip]]) if k > k_ip else base_names
            return spans, names

        def render(k: int) -> Lines:
            return Lines(*build(k))

        k = max(0, min(room, n_ip_extra + len(extra_names)))
        lines = render(k)
        if not self.lines_fit(lines):
            lo_k, hi_k = 0, k
            lines = render(0)
            while hi_k - lo_k > 1:
                mid = (lo_k + hi_k) // 2
                attempt = render(mid)
                if self.lines_fit(attempt):
                    lo_k, lines = mid, attempt
                else:
                    hi_k = mid
        self.cut_at = lo
        return lines, full - len(lines), cause

    def left_out(self, lines: Lines) -> list[tuple[Tier, int, dict[str, int]]]:
        """Per tier from the one kept in part down: the entries it holds that the published ``lines`` do not and
        no better tier already brought, and the same per feed of the tier (an entry several feeds of one tier
        list counts for each of them). Tiers past :data:`REPORT_TIERS` are not looked at one by one: what they
        add is credited to the first of them."""
        lo = self.cut_at
        if lo is None:
            return []
        rest = self.tiers[lo:]
        if len(rest) == 1 and len(rest[0].by_feed) == 1:  # one feed's tier kept in part: it lost all that was cut
            spans, names = self.content(len(self.tiers))
            lost = count_blocks(spans) + len(names) - len(lines)
            return [(rest[0], lost, {next(iter(rest[0].by_feed)): lost})]
        names = lines.names if self.with_names else []
        spans = _spans_of_text(lines.ip) if self.with_ip else Spans()
        seen = set(names)
        out: list[tuple[Tier, int, dict[str, int]]] = []
        for i, tier in enumerate(self.tiers[lo:], lo):
            if i - lo >= REPORT_TIERS:
                rest_spans, rest_names = self.content(len(self.tiers))
                lost = count_blocks(subtract(rest_spans, spans)) + len(set(rest_names) - seen)
                out.append((tier, lost, dict.fromkeys(tier.by_feed, lost)))
                break
            total = 0
            if self.with_ip and tier.ipv4:
                total += count_blocks(subtract(subtract(union(*tier.ipv4), self.policy.blocked), spans))
            if self.with_names:
                total += len(tier.domains - seen)
            per_feed: dict[str, int] = {}
            for feed, (feed_spans, feed_rows) in sorted(tier.by_feed.items()):
                lost = 0
                if self.with_ip and feed_spans:
                    lost += count_blocks(subtract(subtract(union(*feed_spans), self.policy.blocked), spans))
                if self.with_names and feed_rows:
                    lost += len(names_of(feed_rows) - seen)
                if lost:
                    per_feed[feed] = lost
            if self.with_ip and tier.ipv4:
                spans = union(spans, subtract(union(*tier.ipv4), self.policy.blocked))
            if self.with_names:
                seen |= tier.domains
            out.append((tier, total, per_feed))
        return out

    def lines_fit(self, lines: Lines) -> bool:
        return len(self.bounds(lines)) <= self.slots

    def bounds(self, lines: Lines) -> list[tuple[int, int]]:
        """Where ``lines`` are cut into lists (``[(lo, hi)]``): :func:`chunk` with the group's limits. Counted alone
        when the byte limit cannot bind (:meth:`line_bound`); else the lines are measured."""
        cap, n = self.cap, len(lines)
        if cap * self.line_bound() <= self.settings.max_bytes_per_list:
            return [(lo, min(lo + cap, n)) for lo in range(0, n, cap)]
        parts = chunk(lines.as_list(), cap, self.settings.max_bytes_per_list, self.line_bound())
        ends = list(accumulate(map(len, parts)))
        return list(zip([0, *ends][:-1], ends, strict=True))


def pack(
    feeds: Mapping[str, FeedState], policy: Policy, settings: EngineSettings, report: dict[str, Any] | None = None
) -> tuple[list[ListOutput], dict[str, int]]:
    """The lists to publish and what packing cut. Index 0 of each destination kind is always returned,
    possibly empty (``entries == 0``), so the caller can tell "nothing to list" from "not produced".
    ``report`` (optional) receives what was left out by score band and feed (:func:`left_out_report`)."""
    tiers = tiers_of(feeds, settings)
    dropped: dict[str, int] = {}
    lists: list[ListOutput] = []
    slots = settings.ip_list_slots
    if settings.ip_destination == "entity_set":
        groups = [("domain", "entity", _Group(tiers, True, True, policy, max(1, slots), settings))]
    else:
        groups = [
            ("ip", "ip", _Group(tiers, True, False, policy, slots, settings)),
            ("domain", "domain", _Group(tiers, False, True, policy, 1, settings)),
        ]
    for kind, label, group in groups:
        lines, cut, cause = group.pack()
        if cut:
            dropped[f"{label}_over_{cause}"] = cut
            if report is not None:
                report[label] = left_out_report(group.left_out(lines), cut)
        if group.slots <= 0:
            continue
        parts = group.bounds(lines) or [(0, 0)]
        lists.extend(ListOutput.of_body(kind, i, lines.body(lo, hi), hi - lo) for i, (lo, hi) in enumerate(parts))
    return lists, dropped


#: Tiers below the one kept in part whose losses are reported one by one (the rest are added together).
REPORT_TIERS = 200


def left_out_report(losses: Sequence[tuple[Tier, int, Mapping[str, int]]], cut: int) -> dict[str, Any]:
    """``{"entries", "by_band", "by_feed"}``: entries the quota left out (``entries``, as in ``dropped``), by score
    band, and by feed and band (:meth:`_Group.left_out`: an entry several feeds list counts for each of them)."""
    by_band: dict[str, int] = {}
    by_feed: dict[str, dict[str, int]] = {}
    for tier, total, per_feed in losses:
        label = band(tier.rank[1])
        if total:
            by_band[label] = by_band.get(label, 0) + total
        for feed, lost in per_feed.items():
            per = by_feed.setdefault(feed, {})
            per[label] = per.get(label, 0) + lost
    order = [label for _, label in BANDS]
    return {
        "entries": cut,
        "by_band": {b: by_band[b] for b in order if b in by_band},
        "by_feed": {f: {b: per[b] for b in order if b in per} for f, per in sorted(by_feed.items())},
    }


def _spans_of_text(text: bytes) -> Spans:
    """The addresses rendered IP entries (:attr:`Lines.ip`) cover."""
    if not text:
        return Spans()
    found = scan_address_lines(text)
    starts = [found.quad_values[~found.quad_over].astype(np.int64)]
    ends = [starts[0]]
    ok = ~found.cidr_over & (found.cidr_prefixes <= 32)
    nets = found.cidr_values[ok].astype(np.int64)
    size = np.left_shift(np.int64(1), 32 - found.cidr_prefixes[ok].astype(np.int64))
    starts.append(nets)
    ends.append(nets + size - 1)
    return from_bounds(np.concatenate(starts), np.concatenate(ends))

"""Aggregate what every feed retained and pack it into GuardDuty lists.

Aggregation: the union of all feeds' addresses minus bogons and the allow-list, converted to the minimal
set of CIDR blocks (adjacent and contained blocks merge by construction); names deduplicated, names under a
listed wildcard dropped, allow-listed names removed.

Overflow policy, when the entries do not fit the lists available (``ip_list_slots`` lists of at most
``max_entries_per_list`` entries and ``max_bytes_per_list`` bytes, entity lists also at most
``max_entities_per_list`` entries; one entity list for names, or
``ip_list_slots`` entity lists for both when ``ip_destination="entity_set"``): every retained indicator has
a rank ``(feed priority, confidence, last seen)``, the best over the feeds that list it. Whole rank tiers
are kept from the best down as long as they fit; the first tier that does not fit is kept in part (in
address / name order, so the cut is deterministic); everything below is dropped. What was cut is counted
in ``dropped`` as ``<kind>_over_entry_limit`` or ``<kind>_over_byte_limit`` (entries of the unpacked
aggregate minus entries published).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from threatfeed.engine import domains as D
from threatfeed.engine.ipv4 import block_texts
from threatfeed.engine.model import EngineSettings, ListOutput
from threatfeed.engine.policy import Policy
from threatfeed.engine.spans import (
    Spans,
    block_arrays,
    block_counts,
    cidr_blocks,
    count_blocks,
    interval_blocks,
    subtract,
    union,
)
from threatfeed.engine.state import FeedState, Row

Rank = tuple[int, int, int]
#: Longest IP list line: "255.255.255.255/32" plus the newline.
IP_LINE_MAX = 19


@dataclass
class Tier:
    """Everything sharing one rank."""

    rank: Rank
    ipv4: list[Spans] = field(default_factory=list)
    domains: set[str] = field(default_factory=set)
    name_rows: list[Row] = field(default_factory=list)  # the rows the names come from


def tiers_of(feeds: Mapping[str, FeedState]) -> list[Tier]:
    """Tiers from best rank to worst."""
    by_rank: dict[Rank, Tier] = {}
    for fs in feeds.values():
        for row in fs.rows:
            rank = (fs.priority, row.confidence, row.last)
            tier = by_rank.setdefault(rank, Tier(rank))
            if row.ipv4:
                tier.ipv4.append(row.ipv4)
            if row.domains:
                tier.domains |= row.domains
                tier.name_rows.append(row)
    return [by_rank[r] for r in sorted(by_rank, reverse=True)]


def ip_lines(spans: Spans) -> list[str]:
    """List entries for an address set, in address order: its CIDR blocks
    (:func:`~threatfeed.engine.spans.block_arrays`) rendered all at once
    (:func:`~threatfeed.engine.ipv4.block_texts`)."""
    return block_texts(*block_arrays(spans))


def first_blocks(spans: Spans, limit: int) -> Spans:
    """The part of ``spans`` covered by its first ``limit`` CIDR blocks (address order)."""
    if limit <= 0:
        return Spans()
    # each interval needs at least one block: only the first ``limit`` intervals can matter
    running = list(accumulate(block_counts(spans)[:limit]))
    if running[-1] <= limit and len(running) == len(spans):
        return spans
    whole = bisect_right(running, limit)  # intervals 0..whole-1 fit entirely
    out = Spans(spans.starts[:whole], spans.ends[:whole])
    out.counts = spans.counts[:whole]  # type: ignore[index]
    out.ranged = spans.ranged[: bisect_left(spans.ranged, whole)]  # type: ignore[arg-type,index]
    left = limit - (running[whole - 1] if whole else 0)
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

    def line_bound(self) -> int:
        """A bound on any line's length plus its newline in this group's lists: IP lines are at most
        :data:`IP_LINE_MAX`; names are measured once, on all tiers' names (every candidate content holds a
        subset of them)."""
        if self._bound is None:
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
            if len(rows) == 1 and self.policy.allows_all_names():
                # one feed, one row (a single run's body): its sorted names, shared with the state; a
                # wildcard would sort first ("*" precedes every character a name starts with)
                names = rows[0].sorted_domains()
                if names and names[0].startswith("*."):
                    names = domain_lines(set(names), self.policy)
            else:
                raw: set[str] = set()
                for t in chosen:
                    raw |= t.domains
                names = domain_lines(raw, self.policy)
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
        rendered = ip_lines(spans) + names
        return len(chunk(rendered, cap, self.settings.max_bytes_per_list)) <= self.slots

    def pack(self) -> tuple[list[str], int, str | None]:
        """``(lines, entries_cut, cause)``."""
        spans, names = self.content(len(self.tiers))
        full = count_blocks(spans) + len(names)
        if self.fits(spans, names, full - len(names)):
            return ip_lines(spans) + names, 0, None
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
        extra_names = sorted(set(next_names) - set(base_names))
        n_ip_extra = count_blocks(extra_ip)
        room = self.slots * self.cap - count_blocks(base_spans) - len(base_names)

        def build(k: int) -> tuple[Spans, list[str]]:
            k_ip = min(k, n_ip_extra)
            spans = union(base_spans, first_blocks(extra_ip, k_ip)) if k_ip else base_spans
            names = sorted(set(base_names) | set(extra_names[: k - k_ip])) if k > k_ip else base_names
            return spans, names

        def render(k: int) -> list[str]:
            spans, names = build(k)
            return ip_lines(spans) + names

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
        return lines, full - len(lines), cause

    def lines_fit(self, lines: list[str]) -> bool:
        return len(self.chunk(lines)) <= self.slots

    def chunk(self, lines: list[str]) -> list[list[str]]:
        """:func:`chunk` with the group's limits and :meth:`line_bound`."""
        longest = self.line_bound()
        return chunk(lines, self.cap, self.settings.max_bytes_per_list, longest)


def pack(
    feeds: Mapping[str, FeedState], policy: Policy, settings: EngineSettings
) -> tuple[list[ListOutput], dict[str, int]]:
    """The lists to publish and what packing cut. Index 0 of each destination kind is always returned,
    possibly empty (``entries == 0``), so the caller can tell "nothing to list" from "not produced"."""
    tiers = tiers_of(feeds)
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
        if group.slots <= 0:
            continue
        parts = group.chunk(lines) or [[]]
        lists.extend(ListOutput.of(kind, i, part) for i, part in enumerate(parts))
    return lists, dropped

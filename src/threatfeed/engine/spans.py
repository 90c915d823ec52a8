"""Sets of IPv4 addresses as sorted, disjoint ``[start, end]`` integer intervals.

Everything after parsing works on these instead of ``ipaddress`` objects: a million addresses fit in two
``array('I')`` (8 MB) instead of a gigabyte of objects, and union, subtraction and CIDR conversion are one
sort plus a linear sweep. Intervals are inclusive, kept sorted by start, never overlapping and never
adjacent (adjacent ones are merged), so two equal address sets always have equal representations.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from itertools import compress, repeat
from operator import add, and_, eq, gt, le, lshift, lt, not_, or_, rshift

MASK32 = 0xFFFFFFFF
#: key = start << 32 | end packs an interval into one int, so sorting intervals is sorting ints.
SHIFT = 32
_SINGLE = (1 << SHIFT) + 1  # ip * _SINGLE == ip << 32 | ip


class Spans:
    """An immutable-by-convention set of IPv4 addresses (see the module docstring)."""

    __slots__ = ("blocks", "ends", "starts")

    def __init__(self, starts: array | None = None, ends: array | None = None) -> None:
        self.starts = starts if starts is not None else array("I")
        self.ends = ends if ends is not None else array("I")
        self.blocks: int | None = None  # cache of count_blocks()

    def __len__(self) -> int:
        return len(self.starts)

    def __bool__(self) -> bool:
        return len(self.starts) > 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Spans) and self.starts == other.starts and self.ends == other.ends

    def __repr__(self) -> str:
        shown = ", ".join(f"{s}-{e}" for s, e in zip(self.starts[:4], self.ends[:4], strict=True))
        return f"Spans({len(self)} intervals: {shown}{', ...' if len(self) > 4 else ''})"

    def pairs(self) -> Iterator[tuple[int, int]]:
        return zip(self.starts, self.ends, strict=True)

    def interval_keys(self) -> list[int]:
        """The intervals as sortable ``start << 32 | end`` ints."""
        return array("Q", map(or_, map(lshift, self.starts, repeat(SHIFT)), self.ends))  # type: ignore[return-value]

    def addresses(self) -> int:
        """How many addresses the set holds."""
        return sum(self.ends) - sum(self.starts) + len(self.starts)

    def covers(self, start: int, end: int) -> bool:
        """True when every address of ``[start, end]`` is in the set."""
        i = bisect_right(self.starts, start) - 1
        return i >= 0 and self.ends[i] >= end

    def overlaps(self, start: int, end: int) -> bool:
        """True when at least one address of ``[start, end]`` is in the set."""
        i = bisect_right(self.starts, end) - 1
        return i >= 0 and self.ends[i] >= start


def from_keys(keys: Iterable[int]) -> Spans:
    """Build a set from ``start << 32 | end`` keys in any order, with overlaps and duplicates."""
    ks = array("Q", sorted(keys))
    if not ks:
        return Spans()
    return _sweep(array("I", map(rshift, ks, repeat(SHIFT))), array("I", map(and_, ks, repeat(MASK32))))


def from_singles(addresses: Iterable[int]) -> Spans:
    """Build a set from single addresses (any order, duplicates allowed)."""
    return sweep_sorted(array("I", sorted(addresses)))


def sweep_sorted(addresses: array) -> Spans:
    """Build a set from an ``array("I")`` of single addresses already sorted (duplicates allowed)."""
    if not addresses:
        return Spans()
    return _sweep(addresses, addresses)


def _sweep(starts: array, ends: array) -> Spans:
    """Merge intervals sorted by start into disjoint, non-adjacent ones with C-level ``map``, ``compress``
    (and a running maximum when intervals nest) instead of a Python loop. Data stays in arrays: iterating
    contiguous machine ints is several times faster than chasing a list of scattered int objects.

    An interval starts a new run when it begins beyond the running maximum end + 1; a run ends with the
    running maximum just before the next run starts."""
    if len(starts) == 1:
        return Spans(array("I", starts), array("I", ends))
    reach = ends
    if ends is not starts and not all(map(le, ends[:-1], ends[1:])):  # nested intervals
        reach = _running_max(ends)
    fresh = list(map(gt, starts[1:], map(add, reach[:-1], repeat(1))))
    if False not in fresh:
        return Spans(array("I", starts), array("I", ends))
    out_s = array("I", starts[:1])
    out_s.extend(compress(starts[1:], fresh))
    out_e = array("I", compress(reach, fresh))
    out_e.append(reach[-1])
    return Spans(out_s, out_e)


def _running_max(ends: array) -> array:
    """``accumulate(ends, max)``, but only the nested stretches (where the running maximum exceeds the
    interval's own end) are visited in Python: they are few even when ``ends`` is long."""
    reach = array("I", ends)
    n = len(reach)
    for j in compress(range(1, n), map(lt, ends[1:], ends[:-1])):
        k = j
        while k < n and reach[k] < reach[k - 1]:
            reach[k] = reach[k - 1]
            k += 1
    return reach


def union(*sets: Spans) -> Spans:
    """The union of several sets. A few intervals merged into a big set cost bisections and slice copies
    (:func:`merge_into`); otherwise the sorted key lists are concatenated, and the sort (timsort merging
    already-sorted runs, linear) plus :func:`_sweep` do the rest."""
    present = [s for s in sets if s]
    if not present:
        return Spans()
    if len(present) == 1:
        return present[0]
    present.sort(key=len, reverse=True)
    big, rest = present[0], present[1:]
    if len(rest) == 1 and len(rest[0]) * 64 < len(big):
        return merge_into(big, rest[0])
    keys = array("Q")
    for s in present:
        keys.extend(s.interval_keys())
    return from_keys(keys)


def merge_into(big: Spans, small: Spans) -> Spans:
    """``big`` union ``small`` in O(len(small) * log(len(big))) plus copying."""
    bs, be = big.starts, big.ends
    out_s = array("I")
    out_e = array("I")
    pos = 0
    for s, e in zip(small.starts, small.ends, strict=True):
        # big intervals touching [s, e] (overlapping or adjacent): end >= s - 1 and start <= e + 1
        lo = bisect_left(be, s - 1, pos)
        hi = bisect_right(bs, e + 1, lo)
        out_s.extend(bs[pos:lo])
        out_e.extend(be[pos:lo])
        if hi > lo:
            s = min(s, bs[lo])
            e = max(e, be[hi - 1])
        if out_e and out_e[-1] + 1 >= s:  # touches what was just written
            if e > out_e[-1]:
                out_e[-1] = e
        else:
            out_s.append(s)
            out_e.append(e)
        pos = max(hi, pos)
    # what is left of big starts after the last merged piece's end + 1 (big is non-adjacent)
    out_s.extend(bs[pos:])
    out_e.extend(be[pos:])
    return Spans(out_s, out_e)


def subtract(base: Spans, cut: Spans) -> Spans:
    """``base`` minus ``cut``. Untouched runs of ``base`` are copied as array slices, so a small cut
    (bogons, an allow-list) over a big base costs a few bisections and copies, not a Python loop over
    every interval."""
    if not base or not cut:
        return base
    bs, be = base.starts, base.ends
    n = len(bs)
    out_s = array("I")
    out_e = array("I")
    pos = 0
    head = bs[0]  # start of what remains of base[pos] (a cut may have trimmed its left part)
    for c_s, c_e in zip(cut.starts, cut.ends, strict=True):
        lo = bisect_left(be, c_s, pos)  # first interval (from pos) that ends at or after the cut's start
        if lo >= n:
            break
        if lo > pos:
            out_s.append(head)
            out_e.append(be[pos])
            out_s.extend(bs[pos + 1 : lo])
            out_e.extend(be[pos + 1 : lo])
            pos = lo
            head = bs[lo]
        while pos < n:
            e = be[pos]
            if head > c_e:
                break
            if head < c_s:
                out_s.append(head)
                out_e.append(c_s - 1)
            if e > c_e:
                head = c_e + 1
                break
            pos += 1
            if pos < n:
                head = bs[pos]
    if pos < n:
        out_s.append(head)
        out_e.append(be[pos])
        out_s.extend(bs[pos + 1 :])
        out_e.extend(be[pos + 1 :])
    return Spans(out_s, out_e)


def intersect(a: Spans, b: Spans) -> Spans:
    """``a`` and ``b`` (linear two-pointer sweep)."""
    starts = array("I")
    ends = array("I")
    i = j = 0
    a_s, a_e, b_s, b_e = a.starts, a.ends, b.starts, b.ends
    na, nb = len(a_s), len(b_s)
    while i < na and j < nb:
        s = max(a_s[i], b_s[j])
        e = min(a_e[i], b_e[j])
        if s <= e:
            starts.append(s)
            ends.append(e)
        if a_e[i] < b_e[j]:
            i += 1
        else:
            j += 1
    return Spans(starts, ends)


def cidr_blocks(start: int, end: int) -> Iterator[tuple[int, int]]:
    """The minimal CIDR blocks covering exactly ``[start, end]``, as ``(network, prefix_len)``."""
    while start <= end:
        low = start & -start if start else 1 << 32  # largest block aligned at start
        room = end - start + 1
        size = low if low <= room else 1 << (room.bit_length() - 1)
        yield start, 33 - size.bit_length()
        start += size


def single_block(start: int, end: int) -> int | None:
    """The prefix length when ``[start, end]`` is exactly one CIDR block (the usual case), else None."""
    size = end - start + 1
    if size & (size - 1) or start & (size - 1):
        return None
    return 33 - size.bit_length()


def interval_blocks(start: int, end: int) -> int:
    """How many CIDR blocks ``[start, end]`` needs."""
    if start == end or single_block(start, end) is not None:
        return 1
    return sum(1 for _ in cidr_blocks(start, end))


def count_blocks(spans: Spans) -> int:
    """How many CIDR entries the set needs (without building them); cached on the set."""
    if spans.blocks is not None:
        return spans.blocks
    singles = list(map(eq, spans.starts, spans.ends))
    total = singles.count(True)
    if total != len(singles):
        starts, ends = spans.starts, spans.ends
        for i in compress(range(len(singles)), map(not_, singles)):
            total += interval_blocks(starts[i], ends[i])
    spans.blocks = total
    return total

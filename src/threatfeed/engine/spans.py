"""Sets of IPv4 addresses as sorted, disjoint ``[start, end]`` integer intervals.

Everything after parsing works on these instead of ``ipaddress`` objects: a million addresses fit in two
``array('I')`` (8 MB) instead of a gigabyte of objects, and union, subtraction and CIDR conversion are one
sort plus a linear sweep. Intervals are inclusive, kept sorted by start, never overlapping and never
adjacent (adjacent ones are merged), so two equal address sets always have equal representations.

The bulk operations (sorting, merging, counting CIDR blocks) run in NumPy on views of those arrays
(:func:`view`, no copy): they touch every address, and a Python object per address is what made the naive
path slow. Operations that touch only a few intervals (subtracting bogons or an allow-list, bisections)
stay on the arrays themselves.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from typing import Literal

import numpy as np

MASK32 = 0xFFFFFFFF
#: key = start << 32 | end packs an interval into one int, so sorting intervals is sorting ints.
SHIFT = 32
_SINGLE = (1 << SHIFT) + 1  # ip * _SINGLE == ip << 32 | ip


class Spans:
    """An immutable-by-convention set of IPv4 addresses (see the module docstring)."""

    __slots__ = ("blocks", "coarse", "counts", "ends", "ranged", "starts")

    def __init__(self, starts: array[int] | None = None, ends: array[int] | None = None) -> None:
        self.starts = starts if starts is not None else array("I")
        self.ends = ends if ends is not None else array("I")
        self.blocks: int | None = None  # cache of count_blocks()
        self.counts: array[int] | None = None  # cache of block_counts()
        self.ranged: list[int] | None = None  # positions of the intervals that are not a single address
        self.coarse: np.ndarray | None = None  # cache of screen(): which /20s the set touches

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

    def addresses(self) -> int:
        """How many addresses the set holds."""
        return int(view(self.ends).sum(dtype=np.int64) - view(self.starts).sum(dtype=np.int64)) + len(self.starts)

    def covers(self, start: int, end: int) -> bool:
        """True when every address of ``[start, end]`` is in the set."""
        i = bisect_right(self.starts, start) - 1
        return i >= 0 and self.ends[i] >= end

    def overlaps(self, start: int, end: int) -> bool:
        """True when at least one address of ``[start, end]`` is in the set."""
        i = bisect_right(self.starts, end) - 1
        return i >= 0 and self.ends[i] >= start


def view(values: array[int]) -> np.ndarray:
    """An ``array("I")`` as a ``uint32`` NumPy array sharing its memory (no copy)."""
    return np.frombuffer(values, dtype=np.uint32) if len(values) else np.empty(0, dtype=np.uint32)


def to_array(values: np.ndarray) -> array[int]:
    """A NumPy array of addresses as an ``array("I")`` (one copy of the bytes)."""
    out = array("I")
    _extend(out, values)
    return out


def from_bounds(
    starts: np.ndarray | Iterable[int],
    ends: np.ndarray | Iterable[int],
    *,
    scratch: bool = False,
    runs: bool = False,
) -> Spans:
    """The union of intervals given by their starts and their ends, each in any order, duplicates and
    overlaps allowed: only the two multisets matter. How many intervals cover address ``x`` is
    ``#(starts <= x) - #(ends < x)`` whichever start goes with whichever end, so pairing the i-th smallest
    start with the i-th smallest end describes the same set (and the i-th smallest start is never after
    the i-th smallest end). With both sorted no interval nests in another, so :func:`_sweep` needs no
    running maximum, and two sorts of 32-bit values replace one of 64-bit keys. ``scratch``: the arrays are the
    caller's to discard (``uint32`` NumPy arrays): they are sorted in place, with no copy. ``runs``: each is a
    few sorted runs one after the other (sets concatenated): NumPy's stable sort (timsort) merges runs in linear
    time, some 25 times faster than sorting afresh."""
    s, e = _u32(starts), _u32(ends)
    if not len(s):
        return Spans()
    kind: Literal["stable", "quicksort"] = "stable" if runs else "quicksort"
    if scratch and isinstance(starts, np.ndarray) and isinstance(ends, np.ndarray):
        s.sort(kind=kind)
        e.sort(kind=kind)
        return _sweep(s, e)
    return _sweep(np.sort(s, kind=kind), np.sort(e, kind=kind))


def _u32(values: np.ndarray | Iterable[int]) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values.astype(np.uint32, copy=False)
    if isinstance(values, array):
        return view(values)
    return np.fromiter(values, dtype=np.uint32)


def key_bounds(keys: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """``start << 32 | end`` keys -> their starts and their ends (``uint32`` arrays)."""
    if isinstance(keys, array) and keys.typecode == "Q":
        k = np.frombuffer(keys, dtype=np.uint64) if len(keys) else np.empty(0, dtype=np.uint64)
    else:
        k = np.array(keys if isinstance(keys, list) else list(keys), dtype=np.uint64)
    return (k >> np.uint64(SHIFT)).astype(np.uint32), (k & np.uint64(MASK32)).astype(np.uint32)


def from_keys(keys: Iterable[int]) -> Spans:
    """Build a set from ``start << 32 | end`` keys in any order, with overlaps and duplicates."""
    starts, ends = key_bounds(keys)
    return from_bounds(starts, ends, scratch=True)


def from_singles(addresses: Iterable[int]) -> Spans:
    """Build a set from single addresses (any order, duplicates allowed)."""
    return _sweep_singles(np.sort(_u32(addresses)))


def sweep_sorted(addresses: array[int] | np.ndarray) -> Spans:
    """Build a set from single addresses already sorted (duplicates allowed)."""
    return _sweep_singles(_u32(addresses))


def _sweep_singles(addresses: np.ndarray) -> Spans:
    if not len(addresses):
        return Spans()
    return _sweep(addresses, addresses)


def _sweep(starts: np.ndarray, ends: np.ndarray) -> Spans:
    """Merge intervals into disjoint, non-adjacent ones; ``starts`` and ``ends`` are each sorted (see
    :func:`from_bounds`). Interval ``i`` opens a new run when it starts more than one address after
    interval ``i - 1`` ends; a run ends where the next one opens."""
    opens = np.empty(len(starts), dtype=bool)
    opens[0] = True
    # starts[i] > ends[i - 1] + 1 in 32 bits (no 64-bit copies: at ten million intervals those were 240 MB): the
    # difference is taken only where the start is past the end, so it never wraps
    later, gap = starts[1:], ends[:-1]
    np.greater(later, gap, out=opens[1:])
    gap = np.subtract(later, gap, where=opens[1:], out=np.zeros(len(later), dtype=np.uint32))
    np.greater(gap, 1, out=opens[1:])
    del gap
    closes = np.empty_like(opens)
    closes[:-1] = opens[1:]
    closes[-1] = True
    return Spans(to_array(starts[opens]), to_array(ends[closes]))


def union(*sets: Spans) -> Spans:
    """The union of several sets. A few intervals merged into a big set cost bisections and slice copies
    (:func:`merge_into`); otherwise the starts and the ends are concatenated (:func:`from_bounds`: timsort
    merges the already-sorted runs in linear time)."""
    present = [s for s in sets if s]
    if not present:
        return Spans()
    if len(present) == 1:
        return present[0]
    present.sort(key=len, reverse=True)
    big, rest = present[0], present[1:]
    if len(rest) == 1 and len(rest[0]) * 64 < len(big):
        return merge_into(big, rest[0])
    starts = np.concatenate([view(s.starts) for s in present])
    return from_bounds(starts, np.concatenate([view(s.ends) for s in present]), scratch=True, runs=True)


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
    """``base`` minus ``cut``: ``base`` intersected with the gaps of ``cut`` (NumPy, no Python loop over
    intervals: a scheduled run subtracts a whole feed's current addresses from its earlier rows). Taken
    :data:`INTERSECT_BLOCK` intervals of ``base`` at a time, each against the gaps of only the part of ``cut``
    that reaches it: the gaps of a ten-million-interval ``cut`` are never built whole."""
    if not base or not cut:
        return base
    b_s, b_e = view(base.starts), view(base.ends)
    c_s, c_e = view(cut.starts), view(cut.ends)
    out_s, out_e = array("I"), array("I")
    for lo in range(0, len(b_s), INTERSECT_BLOCK):
        a_s, a_e = b_s[lo : lo + INTERSECT_BLOCK], b_e[lo : lo + INTERSECT_BLOCK]
        g_s, g_e = _gaps_within(c_s, c_e, int(a_s[0]), int(a_e[-1]))
        _intersect_block(a_s, a_e, g_s, g_e, out_s, out_e)
    if len(out_s) == len(b_s) and out_s == base.starts and out_e == base.ends:
        return base  # nothing of base was cut: the set itself, as before
    return Spans(out_s, out_e) if out_s else Spans()


def split_by(a: Spans, b: Spans) -> tuple[Spans, Spans]:
    """``(a & b, a - b)`` at once. A scheduled run meets mostly the intervals it met the day before: those of ``a``
    that are exactly an interval of ``b`` pass whole (one bisection each, :data:`INTERSECT_BLOCK` at a time), and
    only the others are cut by :func:`intersect` and :func:`subtract`."""
    if not a or not b:
        return Spans(), a
    a_s, a_e = view(a.starts), view(a.ends)
    b_s, b_e = view(b.starts), view(b.ends)
    exact = np.empty(len(a_s), dtype=bool)
    for lo in range(0, len(a_s), INTERSECT_BLOCK):
        hi = lo + INTERSECT_BLOCK
        at = np.minimum(np.searchsorted(b_s, a_s[lo:hi]), len(b_s) - 1)
        exact[lo:hi] = (b_s[at] == a_s[lo:hi]) & (b_e[at] == a_e[lo:hi])
    if exact.all():
        return a, Spans()
    if not exact.any():
        return intersect(a, b), subtract(a, b)
    other = ~exact
    rest = Spans(to_array(a_s[other]), to_array(a_e[other]))
    del other
    cut, left = intersect(rest, b), subtract(rest, b)
    # whole intervals and pieces of others of a: disjoint and never adjacent (a's gaps lie between them), so the
    # i-th smallest start goes with the i-th smallest end and the sorted bounds are their union as they stand;
    # two sorted runs each, merged in place by the stable sort (no 8-byte index per interval)
    return Spans(_merged(a_s, exact, view(cut.starts)), _merged(a_e, exact, view(cut.ends))), left


def _merged(values: np.ndarray, keep: np.ndarray, more: np.ndarray) -> array[int]:
    """``values[keep]`` and ``more`` (each sorted) as one sorted ``array("I")``, with one array's room in between."""
    kept = int(np.count_nonzero(keep))
    out = np.empty(kept + len(more), dtype=np.uint32)
    np.compress(keep, values, out=out[:kept])
    out[kept:] = more
    out.sort(kind="stable")
    return to_array(out)


def _gaps_within(c_s: np.ndarray, c_e: np.ndarray, low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
    """The addresses of ``[low, high]`` that the sorted, disjoint intervals ``c_s``/``c_e`` do not hold, as
    sorted ``uint32`` interval bounds (64-bit arithmetic on the part of ``cut`` inside the range only)."""
    i = int(np.searchsorted(c_e, low, side="left"))  # first interval ending at or after low
    j = int(np.searchsorted(c_s, high, side="right"))  # past the last starting at or before high
    inner_s, inner_e = c_s[i:j].astype(np.int64), c_e[i:j].astype(np.int64)
    starts = np.concatenate(([low], inner_e + 1))
    ends = np.concatenate((inner_s - 1, [high]))
    keep = starts <= ends
    return starts[keep].astype(np.uint32), ends[keep].astype(np.uint32)


def _extend(out: array[int], values: np.ndarray) -> None:
    """Append ``values`` (``uint32``) to ``out`` through the buffer, with no intermediate copy."""
    out.frombytes(np.ascontiguousarray(values, dtype=np.uint32).data.cast("B"))


#: Intervals of ``a`` that :func:`intersect` pairs at a time: its index arrays are 8 bytes per pair, so a whole
#: ten-million-interval set at once would take hundreds of MB.
INTERSECT_BLOCK = 1 << 20


def intersect(a: Spans, b: Spans) -> Spans:
    """``a`` and ``b``: for each interval of ``a``, the run of ``b``'s intervals it overlaps (two bisections),
    expanded into pairs and clipped, in NumPy, :data:`INTERSECT_BLOCK` intervals of ``a`` at a time. Both are
    sorted and disjoint, so the pairs come out sorted and disjoint, and there are at most ``len(a) + len(b)``."""
    if not a or not b:
        return Spans()
    a_s, a_e = view(a.starts), view(a.ends)
    b_s, b_e = view(b.starts), view(b.ends)
    out_s, out_e = array("I"), array("I")
    for lo in range(0, len(a_s), INTERSECT_BLOCK):
        hi = lo + INTERSECT_BLOCK
        _intersect_block(a_s[lo:hi], a_e[lo:hi], b_s, b_e, out_s, out_e)
    return Spans(out_s, out_e) if out_s else Spans()


def _intersect_block(
    a_s: np.ndarray, a_e: np.ndarray, b_s: np.ndarray, b_e: np.ndarray, out_s: array[int], out_e: array[int]
) -> None:
    """The pieces of ``[a_s, a_e]`` inside ``b``'s intervals, appended in order to ``out_s`` / ``out_e``."""
    first = np.searchsorted(b_e, a_s, side="left")  # first interval of b ending at or after a's start
    stop = np.searchsorted(b_s, a_e, side="right")  # past the last interval of b starting at or before a's end
    counts = np.maximum(stop - first, 0)
    del stop
    total = int(counts.sum())
    if total == 0:
        return
    if total == len(counts) and bool((counts == 1).all()):  # each meets one interval of b: no expansion
        _extend(out_s, np.maximum(a_s, b_s[first]))
        _extend(out_e, np.minimum(a_e, b_e[first]))
        return
    which_a = np.repeat(np.arange(len(a_s)), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    which_b = np.repeat(first, counts) + offsets
    del offsets, first
    _extend(out_s, np.maximum(a_s[which_a], b_s[which_b]))
    _extend(out_e, np.minimum(a_e[which_a], b_e[which_b]))


#: From this many intervals :func:`covers` screens values by the /20s a set touches; below, by the /8s.
COARSE_FROM = 4096
_COARSE_SHIFT = 12  # a /20 holds 2**12 addresses: a table of 2**20 of them
_SMALL_SHIFT = 24  # a /8: a table of 256


def holds(spans: Spans, values: np.ndarray) -> np.ndarray:
    """Which of ``values`` (``uint32``) the set holds (:func:`covers` of one-address intervals)."""
    return covers(spans, values, values)


def covers(spans: Spans, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which intervals ``[starts[k], ends[k]]`` (``uint32``) lie entirely inside the set. A big set (the
    warninglists: some 60,000 intervals) first screens the intervals by the /20 of their start (a 1 MB table,
    made once per set): most addresses are in none of them (the default warninglists touch 7 % of the /20s),
    and a bisection per value into a big set costs more than the table lookup."""
    if not spans:
        return np.zeros(len(starts), dtype=bool)
    set_starts, set_ends = view(spans.starts), view(spans.ends)
    coarse, shift = screen(spans)
    out = np.zeros(len(starts), dtype=bool)
    maybe = np.flatnonzero(coarse[starts >> shift])
    if len(maybe):
        out[maybe] = _bisect_covers(set_starts, set_ends, starts[maybe], ends[maybe])
    return out


def _bisect_covers(set_starts: np.ndarray, set_ends: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    slot = np.searchsorted(set_starts, starts, side="right") - 1
    inside: np.ndarray = (slot >= 0) & (set_ends[np.maximum(slot, 0)] >= ends)
    return inside


def screen(spans: Spans) -> tuple[np.ndarray, np.uint32]:
    """The table :func:`covers` screens values by, and the shift that gives a value's entry in it: the /20s a big set
    touches (a 1 MB table, cached on the set: a set kept for the life of a process, the warninglists, has it made
    when it is loaded, not in a run), the /8s a small one does (the bogons touch a sixth of them: 256 entries,
    made afresh each time)."""
    if len(spans.starts) < COARSE_FROM:
        return _touched(view(spans.starts), view(spans.ends), _SMALL_SHIFT), np.uint32(_SMALL_SHIFT)
    if spans.coarse is None:
        spans.coarse = _touched(view(spans.starts), view(spans.ends), _COARSE_SHIFT)
    return spans.coarse, np.uint32(_COARSE_SHIFT)


def _touched(starts: np.ndarray, ends: np.ndarray, shift: int) -> np.ndarray:
    """Which blocks of ``2**shift`` addresses the intervals touch (a boolean per block): +1 at each interval's first
    block, -1 past its last."""
    size = (1 << (32 - shift)) + 1
    opened = np.bincount(starts >> np.uint32(shift), minlength=size)
    closed = np.bincount((ends >> np.uint32(shift)).astype(np.int64) + 1, minlength=size)
    touched: np.ndarray = np.cumsum(opened[:-1] - closed[:-1]) > 0
    return touched


def cidr_blocks(start: int, end: int) -> Iterator[tuple[int, int]]:
    """The minimal CIDR blocks covering exactly ``[start, end]``, as ``(network, prefix_len)``."""
    while start <= end:
        low = start & -start if start else 1 << 32  # largest block aligned at start
        room = end - start + 1
        size = low if low <= room else 1 << (room.bit_length() - 1)
        yield start, 33 - size.bit_length()
        start += size


def interval_blocks(start: int, end: int) -> int:
    """How many CIDR blocks ``[start, end]`` needs (the decomposition of :func:`cidr_blocks`). With
    ``y = end + 1``, ``h`` the highest bit where ``start`` and ``y`` differ and ``m`` = ``y`` with the bits
    below ``h`` cleared (so ``start < m <= y``), the blocks climb from ``start`` to the aligned ``m`` (one
    per set bit of ``m - start``) and descend from ``m`` to ``y`` (one per set bit of ``y - m``)."""
    y = end + 1
    h = (start ^ y).bit_length() - 1
    m = (y >> h) << h
    return (m - start).bit_count() + (y - m).bit_count()


def block_counts(spans: Spans) -> array[int]:
    """How many CIDR entries each interval needs (``array("B")``; cached on the set, with the positions
    of the intervals that are not a single address in ``spans.ranged``). Only those get
    :func:`interval_blocks`'s formula, vectorized (``frexp`` gives the bit length, exact below 2**53)."""
    if spans.counts is not None:
        return spans.counts
    starts, ends = view(spans.starts), view(spans.ends)
    counts = np.ones(len(starts), dtype=np.uint8)
    ranged = np.flatnonzero(starts != ends)
    if len(ranged):
        x = starts[ranged].astype(np.int64)
        y = ends[ranged].astype(np.int64) + 1
        h = _bit_length(x ^ y) - 1
        m = (y >> h) << h
        counts[ranged] = np.bitwise_count(m - x) + np.bitwise_count(y - m)
    spans.blocks = int(counts.sum(dtype=np.int64))
    spans.counts = array("B", counts.tobytes())
    spans.ranged = ranged.tolist()
    return spans.counts


def block_arrays(spans: Spans) -> tuple[np.ndarray, np.ndarray]:
    """Every CIDR block of the set (:func:`cidr_blocks` of each interval), in address order: the networks
    and the prefix lengths. Intervals that are one block are converted at once; the others are cut in
    rounds, each round taking the next block of every interval still unfinished (at most 32 rounds)."""
    counts = np.frombuffer(block_counts(spans), dtype=np.uint8).astype(np.int64)
    offsets = np.cumsum(counts) - counts
    networks = np.empty(int(counts.sum()), dtype=np.int64)
    prefixes = np.empty_like(networks)
    starts, ends = view(spans.starts).astype(np.int64), view(spans.ends).astype(np.int64)
    one = np.flatnonzero(counts == 1)
    networks[offsets[one]] = starts[one]
    prefixes[offsets[one]] = 33 - _bit_length(ends[one] - starts[one] + 1)
    several = np.flatnonzero(counts > 1)
    start, end, at = starts[several], ends[several], offsets[several]
    while len(start):
        aligned = np.where(start == 0, 1 << 32, start & -start)  # largest block aligned at start
        room = end - start + 1
        size = np.where(aligned <= room, aligned, 1 << (_bit_length(room) - 1))
        networks[at] = start
        prefixes[at] = 33 - _bit_length(size)
        start = start + size
        left = start <= end
        start, end, at = start[left], end[left], at[left] + 1
    return networks, prefixes


def _bit_length(values: np.ndarray) -> np.ndarray:
    """``int.bit_length`` of positive integers below 2**53 (``frexp``'s exponent is exact there)."""
    return np.frexp(values.astype(np.float64))[1].astype(np.int64)


def count_blocks(spans: Spans) -> int:
    """How many CIDR entries the set needs (without building them); cached on the set."""
    if spans.blocks is None:
        block_counts(spans)
    assert spans.blocks is not None  # block_counts fills the cache
    return spans.blocks

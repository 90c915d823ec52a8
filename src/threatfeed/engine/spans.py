"""Sets of IPv4 addresses as sorted, disjoint ``[start, end]`` integer intervals.

Everything after parsing works on these instead of ``ipaddress`` objects: a million addresses fit in two
``array('I')`` (8 MB) instead of a gigabyte of objects, and union, subtraction and CIDR conversion are one
sort plus a linear sweep. Intervals are inclusive, kept sorted by start, never overlapping and never
adjacent (adjacent ones are merged), so two equal address sets always have equal representations.

The sweeps that would otherwise run a ``map`` step per address work on :func:`slots`: an array held as one
big integer with a 64-bit slot per value, so one big-integer subtraction compares every value with its
neighbour in C.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import chain, compress, repeat
from operator import add, and_, lshift, rshift, sub, xor

MASK32 = 0xFFFFFFFF
#: key = start << 32 | end packs an interval into one int, so sorting intervals is sorting ints.
SHIFT = 32
_SINGLE = (1 << SHIFT) + 1  # ip * _SINGLE == ip << 32 | ip


class Spans:
    """An immutable-by-convention set of IPv4 addresses (see the module docstring)."""

    __slots__ = ("blocks", "counts", "ends", "ranged", "starts")

    def __init__(self, starts: array | None = None, ends: array | None = None) -> None:
        self.starts = starts if starts is not None else array("I")
        self.ends = ends if ends is not None else array("I")
        self.blocks: int | None = None  # cache of count_blocks()
        self.counts: array | None = None  # cache of block_counts()
        self.ranged: list[int] | None = None  # positions of the intervals that are not a single address

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
        return sum(self.ends) - sum(self.starts) + len(self.starts)

    def covers(self, start: int, end: int) -> bool:
        """True when every address of ``[start, end]`` is in the set."""
        i = bisect_right(self.starts, start) - 1
        return i >= 0 and self.ends[i] >= end

    def overlaps(self, start: int, end: int) -> bool:
        """True when at least one address of ``[start, end]`` is in the set."""
        i = bisect_right(self.starts, end) - 1
        return i >= 0 and self.ends[i] >= start


#: 0 <-> 1 (``bytes.translate``): flags of ranges -> flags of single addresses.
_FLIP = bytes([1, 0]) + bytes(254)
#: For :func:`sorted_addresses`: a byte with its top two bits cleared; 1 where the top two bits are ``k``;
#: the byte with its top two bits set to ``k``.
_LOW6 = bytes(range(64)) * 4
_TOP2_IS = tuple(bytes(1 if b >> 6 == k else 0 for b in range(256)) for k in range(4))
_TOP2_SET = tuple(bytes((b & 63) | (k << 6) for b in range(256)) for k in range(4))


def sorted_addresses(packed: bytes) -> array:
    """Addresses packed 4 bytes each, big-endian (``inet_aton``), as a sorted ``array("I")``.

    CPython sorts ints below 2**30 (one internal digit) about twice as fast as larger ones, and most
    addresses are larger. So the addresses are split by their top two bits into four buckets, which are
    sorted with those bits cleared and then get them back. Clearing, selecting and restoring work on the
    bytes (strided slices, ``bytes.translate``, ``compress``), with no Python-level loop over addresses.
    """
    top = packed[0::4]
    low = bytearray(packed)
    low[0::4] = top.translate(_LOW6)
    values = array("I")
    values.frombytes(low)
    del low
    if sys.byteorder == "little":
        values.byteswap()
    out = bytearray()
    for k in range(4):
        part = array("I", sorted(compress(values, top.translate(_TOP2_IS[k]))))
        if sys.byteorder == "little":
            part.byteswap()
        raw = bytearray(part.tobytes())
        raw[0::4] = raw[0::4].translate(_TOP2_SET[k])
        out += raw
    result = array("I")
    result.frombytes(out)
    if sys.byteorder == "little":
        result.byteswap()
    return result


def slots(values: array) -> int:
    """The integer whose 64-bit slots (most significant first) hold ``values`` (u32 each).

    Arithmetic on such integers works on every value at once, in C, without a Python object per value: as
    long as each slot's result stays within ``[0, 2**64)`` no carry or borrow crosses a slot, so slot ``i``
    of ``a - b`` is ``a[i] - b[i]``, and ``a >> 64`` moves every value one slot down (slot ``i`` then holds
    ``a[i - 1]``, slot 0 holds 0)."""
    words = array("I", values)
    if sys.byteorder == "little":
        words.byteswap()
    raw = words.tobytes()
    wide = bytearray(2 * len(raw))
    for k in range(4):
        wide[4 + k :: 8] = raw[k::4]
    return int.from_bytes(wide, "big")


def fill(n: int, value: int) -> int:
    """``n`` slots all holding ``value``."""
    return int.from_bytes(value.to_bytes(8, "big") * n, "big")


def slot_bits(value: int, n: int, bit: int) -> bytes:
    """Byte ``i`` is bit ``bit`` of slot ``i`` of ``value`` (``n`` slots, each below ``2**64``)."""
    return ((value >> bit) & fill(n, 1)).to_bytes(8 * n, "big")[7::8]


def from_bounds(starts: Iterable[int], ends: Iterable[int]) -> Spans:
    """The union of intervals given by their starts and their ends, each in any order, duplicates and
    overlaps allowed: only the two multisets matter. How many intervals cover address ``x`` is
    ``#(starts <= x) - #(ends < x)`` whichever start goes with whichever end, so pairing the i-th smallest
    start with the i-th smallest end describes the same set (and the i-th smallest start is never after
    the i-th smallest end). With both sorted no interval nests in another, so :func:`_sweep` needs no
    running maximum, and two sorts of 32-bit values replace one of 64-bit keys."""
    s = array("I", sorted(starts))
    if not s:
        return Spans()
    return _sweep(s, array("I", sorted(ends)))


def from_keys(keys: Iterable[int]) -> Spans:
    """Build a set from ``start << 32 | end`` keys in any order, with overlaps and duplicates."""
    ks = keys if isinstance(keys, list | array) else list(keys)
    return from_bounds(map(rshift, ks, repeat(SHIFT)), map(and_, ks, repeat(MASK32)))


def from_singles(addresses: Iterable[int]) -> Spans:
    """Build a set from single addresses (any order, duplicates allowed)."""
    return sweep_sorted(array("I", sorted(addresses)))


def sweep_sorted(addresses: array) -> Spans:
    """Build a set from an ``array("I")`` of single addresses already sorted (duplicates allowed)."""
    if not addresses:
        return Spans()
    return _sweep(addresses, addresses)


def _sweep(starts: array, ends: array) -> Spans:
    """Merge intervals into disjoint, non-adjacent ones; ``starts`` and ``ends`` are each sorted (see
    :func:`from_bounds`). Interval ``i`` opens a new run when it starts more than one address after
    interval ``i - 1`` ends; a run ends where the next one opens. The test runs on all intervals at once on
    :func:`slots`: slot ``i`` of ``starts + 2**33 - 2 - (ends >> 64)`` is ``starts[i] - ends[i-1] - 2 +
    2**33``, within ``[2**32 - 1, 2**34)``, and its bit 33 is the answer. Only the two ``compress`` passes
    that pick the runs' bounds touch the values one by one (in C)."""
    n = len(starts)
    if n == 1:
        return Spans(array("I", starts), array("I", ends))
    gap = slots(starts) + fill(n, 2**33 - 2) - (slots(ends) >> 64)
    opens = bytearray(slot_bits(gap, n, 33))
    opens[0] = 1
    if 0 not in opens:
        return Spans(array("I", starts), array("I", ends))
    closes = opens[1:] + b"\x01"
    return Spans(array("I", compress(starts, opens)), array("I", compress(ends, closes)))


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
    return from_bounds(chain.from_iterable(s.starts for s in present), chain.from_iterable(s.ends for s in present))


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


def interval_blocks(start: int, end: int) -> int:
    """How many CIDR blocks ``[start, end]`` needs (the decomposition of :func:`cidr_blocks`). With
    ``y = end + 1``, ``h`` the highest bit where ``start`` and ``y`` differ and ``m`` = ``y`` with the bits
    below ``h`` cleared (so ``start < m <= y``), the blocks climb from ``start`` to the aligned ``m`` (one
    per set bit of ``m - start``) and descend from ``m`` to ``y`` (one per set bit of ``y - m``)."""
    y = end + 1
    h = (start ^ y).bit_length() - 1
    m = (y >> h) << h
    return (m - start).bit_count() + (y - m).bit_count()


def block_counts(spans: Spans) -> array:
    """How many CIDR entries each interval needs (``array("B")``; cached on the set, with the positions
    of the intervals that are not a single address in ``spans.ranged``). Those are found on
    :func:`slots` (bit 32 of ``ends - starts + 2**32 - 1``); only they get :func:`interval_blocks`'s
    formula, as C-level ``map`` steps over all of them at once."""
    if spans.counts is not None:
        return spans.counts
    starts, ends = spans.starts, spans.ends
    n = len(starts)
    counts = array("B")
    ranged: list[int] = []
    if n:
        is_range = slot_bits(slots(ends) - slots(starts) + fill(n, 2**32 - 1), n, 32)
        counts.frombytes(is_range.translate(_FLIP))  # 1 for a single address, 0 for a range (set below)
        ranged = list(compress(range(n), is_range))
    if ranged:
        x = list(map(starts.__getitem__, ranged))
        y = list(map(add, map(ends.__getitem__, ranged), repeat(1)))
        h = list(map(sub, map(int.bit_length, map(xor, x, y)), repeat(1)))
        m = list(map(lshift, map(rshift, y, h), h))
        blocks = map(add, map(int.bit_count, map(sub, m, x)), map(int.bit_count, map(sub, y, m)))
        deque(map(counts.__setitem__, ranged, blocks), maxlen=0)
    spans.counts = counts
    spans.ranged = ranged
    return counts


def count_blocks(spans: Spans) -> int:
    """How many CIDR entries the set needs (without building them); cached on the set."""
    if spans.blocks is None:
        spans.blocks = sum(block_counts(spans))
    return spans.blocks

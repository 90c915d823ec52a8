"""How much address space a list or a feed covers, and how much of a feed's contribution a run kept.

The guards weigh lists by the addresses they make GuardDuty alert on, not by their lines: one ``/12`` line is
1,048,576 addresses, as many as a million ``/32`` lines. Counting is done on the interval sets and NumPy
(:func:`~threatfeed.engine.ipv4.scan_address_lines`, :meth:`~threatfeed.engine.spans.Spans.addresses`), never
an object per address.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from threatfeed.engine.ipv4 import scan_address_lines
from threatfeed.engine.spans import Spans, count_blocks, union
from threatfeed.engine.state import FeedState, load


def list_addresses(body: bytes) -> int:
    """Addresses a rendered TXT list covers: one per bare address, ``2**(32 - n)`` per ``/n`` line; names
    cover none. The engine renders disjoint CIDR blocks, so the sum is exact."""
    lines = scan_address_lines(body)
    singles = int(np.count_nonzero(~lines.quad_over))
    valid = ~lines.cidr_over & (lines.cidr_prefixes <= 32)
    sizes = np.left_shift(np.int64(1), 32 - lines.cidr_prefixes[valid].astype(np.int64))
    return singles + int(sizes.sum(dtype=np.int64))


def contributions(
    previous_state: Mapping[str, Any] | None, state: Mapping[str, Any], delivered: Collection[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Each feed's contribution in ``state`` and in ``previous_state`` (engine states, as dumped): its
    ``entries`` (CIDR blocks plus names, before the lists' quotas) and ``addresses``. A ``delivered`` feed
    present in both also gets ``overlap``: the Jaccard index of the two contributions, counting each address
    and each name as one (1.0 the same, 0.0 nothing in common)."""
    old, new = load(previous_state), load(state)
    sets_old = {name: _sets(fs) for name, fs in old.items()}
    current: dict[str, dict[str, Any]] = {}
    for name, fs in new.items():
        spans, names = _sets(fs)
        current[name] = _measure(spans, names)
        if name in delivered and name in sets_old:
            current[name]["overlap"] = jaccard((spans, names), sets_old[name])
    previous = {name: _measure(*sets) for name, sets in sets_old.items()}
    return current, previous


def jaccard(a: tuple[Spans, frozenset[str]], b: tuple[Spans, frozenset[str]]) -> float:
    """Shared addresses and names over all of them (rounded to 4 places; 1.0 when both are empty). Addresses
    in both are counted as ``|A| + |B| - |A or B|``: the union is one NumPy sweep, an intersection a Python loop."""
    either = union(a[0], b[0]).addresses() + len(a[1] | b[1])
    both = a[0].addresses() + b[0].addresses() + len(a[1]) + len(b[1]) - either
    return round(both / either, 4) if either else 1.0


def _sets(fs: FeedState) -> tuple[Spans, frozenset[str]]:
    return fs.all_ipv4(), frozenset().union(*(row.domains for row in fs.rows))


def _measure(spans: Spans, names: frozenset[str]) -> dict[str, Any]:
    return {"entries": count_blocks(spans) + len(names), "addresses": spans.addresses()}


def overlap_with(state: Mapping[str, Any], reference: Collection[str]) -> dict[str, dict[str, Any]]:
    """How much of each feed's addresses (in an engine ``state``) the ``reference`` feeds also list: per feed its
    ``addresses``, those the reference holds (``shared``) and their ``share`` (the reference feeds themselves
    included: 1.0). Used for GuardDuty's own intelligence, which a Tor exit list among the feeds stands for."""
    feeds = load(state)
    ref = union(*(feeds[name].all_ipv4() for name in reference if name in feeds))
    out: dict[str, dict[str, Any]] = {}
    if not ref:
        return out
    total_ref = ref.addresses()
    for name, fs in sorted(feeds.items()):
        spans = fs.all_ipv4()
        n = spans.addresses()
        if not n:
            continue
        shared = n + total_ref - union(spans, ref).addresses()
        out[name] = {"addresses": n, "shared": shared, "share": round(shared / n, 4)}
    return out

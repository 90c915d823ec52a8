"""What may be listed: bogons, the minimum prefix and the allow-list, checked per value.

The actual removal of bogon and allow-listed addresses happens once, on the aggregated set (a subtraction
of intervals); the per-value checks here exist for the accounting: a value entirely inside filtered space
is rejected with its reason and line, a value that merely overlaps is accepted and its line counted as
carved. Bogon policy: **carve, don't reject** — ``100.0.0.0/8`` keeps everything but 100.64.0.0/10,
because throwing away the routable part of a listed range would silently weaken the list, while
publishing the reserved part would be wrong (and GuardDuty ignores it anyway).

MISP warninglists (:mod:`.warninglists`) judge values, as MISP does: a value entirely inside the selected lists
is rejected, named after its list (``warninglist:<list>``); one that only overlaps them stays whole. Carving a
resolver's address out of a listed /16 would turn one entry into sixteen, for an address that, inside a block a
feed calls malicious, is no better than its neighbours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from threatfeed.engine import domains as D
from threatfeed.engine import reasons as R
from threatfeed.engine.ipv4 import to_int
from threatfeed.engine.model import DEFAULT_MIN_PREFIX_LEN
from threatfeed.engine.spans import Spans, from_keys, union

if TYPE_CHECKING:
    from threatfeed.engine.warninglists import WarnIndex

#: Reserved, private and otherwise non-routable IPv4 space (RFC 1122, 1918, 6598, 3927, 6890, 5737,
#: 2544, 5771, 1112): never published, whatever a feed says.
BOGON_CIDRS = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
)


def cidr_key(cidr: str) -> int:
    """``"10.0.0.0/8"`` -> interval key (trusted input: constants and already-validated text)."""
    net, _, plen = cidr.partition("/")
    prefix = int(plen) if plen else 32
    start = to_int(net)
    return (start << 32) | (start + (1 << (32 - prefix)) - 1)


BOGONS = from_keys(cidr_key(c) for c in BOGON_CIDRS)


@dataclass(frozen=True)
class Policy:
    """The per-run filtering rules, precomputed for fast lookups."""

    min_prefix_len: int = DEFAULT_MIN_PREFIX_LEN
    allow: Spans = field(default_factory=Spans)
    allow_domains: frozenset[str] = frozenset()  # a name and all its subdomains
    allow_wildcards: frozenset[str] = frozenset()  # base names whose subdomains (only) are allowed
    bogons: Spans = field(default_factory=lambda: BOGONS)
    warn: WarnIndex | None = None  # the run's warninglists (None: none applied)
    blocked: Spans = field(init=False, repr=False, compare=False)
    max_size: int = field(init=False, repr=False, compare=False)
    blocked_starts: np.ndarray = field(init=False, repr=False, compare=False)
    blocked_ends_ext: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        blocked = union(self.bogons, self.allow)
        object.__setattr__(self, "blocked", blocked)
        object.__setattr__(self, "max_size", 1 << (32 - self.min_prefix_len))
        # for membership tests of a batch at once (made once per policy): ends_ext[searchsorted(starts, ip)] >= ip
        object.__setattr__(self, "blocked_starts", np.array(blocked.starts, dtype=np.int64))
        object.__setattr__(self, "blocked_ends_ext", np.array([-1, *blocked.ends], dtype=np.int64))

    @classmethod
    def permissive(cls) -> Policy:
        """No filtering at all: used to read allow-lists themselves."""
        return cls(min_prefix_len=0, bogons=Spans())

    def judge(self, start: int, end: int) -> tuple[str | None, tuple[str, ...]]:
        """``(rejection, corrections)`` for the interval ``[start, end]``."""
        if end - start >= self.max_size:
            return R.PREFIX_TOO_BROAD, ()
        blocked = self.blocked
        if not blocked.overlaps(start, end):
            return self.warned(start, end), ()
        if blocked.covers(start, end):
            if self.bogons.covers(start, end):
                return R.BOGON, ()
            return R.ALLOW_LISTED, ()
        notes = []
        if self.bogons.overlaps(start, end):
            notes.append(R.BOGON_CARVED)
        if self.allow.overlaps(start, end):
            notes.append(R.ALLOW_LIST_CARVED)
        warned = self.warned(start, end)
        return warned, () if warned else tuple(notes)

    def warned(self, start: int, end: int) -> str | None:
        """``warninglist:<list>`` when ``[start, end]`` lies entirely inside the selected warninglists, else None."""
        warn = self.warn
        if warn is None or not warn.spans.covers(start, end):
            return None
        return R.WARNINGLIST_PREFIX + (warn.label(start) or "")

    def warn_name(self, name: str) -> str | None:
        """``warninglist:<list>`` for a name a selected warninglist matches, else None."""
        if self.warn is None or not self.warn.has_names:
            return None
        listed = self.warn.label_name(name)
        return None if listed is None else R.WARNINGLIST_PREFIX + listed

    def allows_all_names(self) -> bool:
        """True when no domain is allow-listed (names then need no per-name check)."""
        return not self.allow_domains and not self.allow_wildcards

    def judge_domain(self, name: str) -> str | None:
        """Rejection reason for a domain the allow-list covers or (wildcards) overlaps, else None."""
        if not self.allow_domains and not self.allow_wildcards:
            return None
        wildcard = name.startswith("*.")
        base = name[2:] if wildcard else name
        ups = D.parents(base)
        if base in self.allow_domains or any(p in self.allow_domains for p in ups):
            return R.ALLOW_LISTED
        if any(p in self.allow_wildcards for p in ups) or (wildcard and base in self.allow_wildcards):
            return R.ALLOW_LISTED
        if wildcard:
            suffix = "." + base
            for allowed in self.allow_domains | self.allow_wildcards:
                if allowed.endswith(suffix):
                    return R.ALLOW_LIST_OVERLAP
        return None


def allow_sets(names: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """Split normalized allow-listed names into (exact-and-below, wildcard bases)."""
    exact, wild = set(), set()
    for n in names:
        if n.startswith("*."):
            wild.add(n[2:])
        else:
            exact.add(n)
    return frozenset(exact), frozenset(wild)

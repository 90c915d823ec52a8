"""Turn one candidate value into an accepted indicator or a counted rejection.

Every format funnels its values through :class:`Collector`, so the rules (what an address, a range or a
name is, what is filtered, how it is counted) exist once. Accepted IPv4 values are kept as interval keys
(``start << 32 | end``) grouped by confidence; bare addresses from the text fast path are kept packed
(4 bytes each) until the feed is finished. Nothing here builds ``ipaddress`` objects except to recognise
IPv6, which is off the hot path.
"""

from __future__ import annotations

import re
import sys
from array import array
from bisect import bisect_left, bisect_right
from itertools import compress, repeat
from operator import ge, is_not, mul, not_, or_
from socket import AF_INET6, inet_aton, inet_pton

from threatfeed.engine import domains as D
from threatfeed.engine import reasons as R
from threatfeed.engine.ipv4 import (
    DIGITS_AND_DOTS,
    LOOSE_CIDR,
    LOOSE_QUAD,
    LOOSE_RANGE,
    judge_quad,
    prefix_from_text,
    to_text,
)
from threatfeed.engine.policy import Policy
from threatfeed.engine.refang import host_of, looks_defanged, looks_like_url, refang
from threatfeed.engine.spans import MASK32, Spans, from_keys, subtract, sweep_sorted

DEFAULT_CONFIDENCE = 50
_SINGLE = (1 << 32) + 1  # ip * _SINGLE is the interval key of the single address ip
#: A token with none of the characters any indicator (or defanged indicator) needs.
_PLAIN_WORD = re.compile(r"[^.:/\[\](){}@\s]+").fullmatch
_HEXISH_V6 = re.compile(r"[0-9A-Fa-f:.]+(?:/\d{1,3})?(?:%\w+)?")


def _count_inside(ordered: array, spans: Spans) -> int:
    """How many entries of the sorted ``ordered`` fall inside ``spans``."""
    total = 0
    for s, e in spans.pairs():
        total += bisect_right(ordered, e) - bisect_left(ordered, s)
    return total


def _aton(dotted: str) -> bytes | None:
    try:
        return inet_aton(dotted)
    except OSError:
        return None


# (kind, start-or-name, end, corrections)
_Verdict = tuple[str, object, int, tuple[str, ...]]


class Collector:
    """Accumulates one feed's indicators, rejections and counters while a format parser feeds it."""

    def __init__(self, feed: str, policy: Policy, confidence: int = DEFAULT_CONFIDENCE) -> None:
        self.feed = feed
        self.policy = policy
        self.confidence = confidence
        self.tally = R.Tally(feed)
        self.quad_batches: list[tuple[bytes, array]] = []  # bulk addresses (packed) and their line numbers
        self.keys: dict[int, list[int]] = {}  # confidence -> interval keys
        self.domains: dict[str, int] = {}  # name -> best confidence
        self.default_names: set[str] = set()  # names at the default confidence (bulk path)
        self.revoked_keys: list[int] = []
        self.revoked_domains: set[str] = set()
        self.lines = 0
        self.first_content = 0  # line number of a text body's first data line (for header detection)
        self.skipped = 0
        self.accepted = 0
        self.ipv4 = 0
        self.n_domains = 0
        self.ipv6 = 0

    # -- counting -------------------------------------------------------------------------------------------
    def reject(self, line: int, text: str, reason: str) -> None:
        self.tally.count(reason, line, text)

    def skip(self, n: int = 1) -> None:
        self.skipped += n

    def add_quads(self, quads: list[str], numbers: list[int]) -> None:
        """Many lines that are exactly a dotted quad (no leading zeros; see ``formats.text``), with their
        line numbers. They are only packed here (``inet_aton``, 4 bytes each); bogons and allow-listed
        addresses are found later on the sorted whole, a few bisections instead of one per address
        (:meth:`_finish_quads`)."""
        packed = list(map(_aton, quads))
        if None in packed:  # an octet over 255
            keep = list(map(is_not, packed, repeat(None)))
            for i in compress(range(len(packed)), map(not_, keep)):
                self.add(numbers[i], quads[i])
            packed = list(compress(packed, keep))
            numbers = list(compress(numbers, keep))
        self.quad_batches.append((b"".join(packed), array("I", numbers)))  # type: ignore[arg-type]
        self.accepted += len(packed)
        self.ipv4 += len(packed)

    def _finish_quads(self) -> array:
        """Sort the bulk addresses, cut out and count those inside bogons or the allow-list."""
        addresses = array("I")
        addresses.frombytes(b"".join(packed for packed, _ in self.quad_batches))
        if sys.byteorder == "little":
            addresses.byteswap()
        ordered = array("I", sorted(addresses))
        del addresses
        p = self.policy
        found = {
            R.BOGON: _count_inside(ordered, p.bogons),
            R.ALLOW_LISTED: _count_inside(ordered, subtract(p.allow, p.bogons)) if p.allow else 0,
        }
        total = sum(found.values())
        if total:
            self.accepted -= total
            self.ipv4 -= total
            for reason, n in found.items():
                self.tally.add_count(reason, n)
            self._sample_inside({r: min(n, R.SAMPLES_PER_REASON) for r, n in found.items() if n})
            kept = array("I")
            pos = 0
            for s, e in p.blocked.pairs():
                lo = bisect_left(ordered, s, pos)
                hi = bisect_right(ordered, e, lo)
                kept.extend(ordered[pos:lo])
                pos = hi
            kept.extend(ordered[pos:])
            ordered = kept
        return ordered

    def _sample_inside(self, wanted: dict[str, int]) -> None:
        """First lines (by line number) of the bulk addresses that were filtered, as samples."""
        p = self.policy
        for packed, numbers in self.quad_batches:
            batch = array("I")
            batch.frombytes(packed)
            if sys.byteorder == "little":
                batch.byteswap()
            slots = map(bisect_right, repeat(p.blocked_starts), batch)
            for i in compress(range(len(batch)), map(ge, map(p.blocked_ends_ext.__getitem__, slots), batch)):
                ip = batch[i]
                reason = R.BOGON if p.bogons.covers(ip, ip) else R.ALLOW_LISTED
                if wanted.get(reason, 0) > 0:
                    wanted[reason] -= 1
                    self.tally.add_sample(reason, numbers[i], to_text(ip))
                    if not any(wanted.values()):
                        return

    def add_quad(self, line: int, dotted: str, text: str) -> None:
        """One value that is exactly a dotted quad without leading zeros."""
        try:
            ip = int.from_bytes(inet_aton(dotted), "big")
        except OSError:
            self.add(line, dotted, text)
            return
        rejection, _ = self.policy.judge(ip, ip)
        if rejection is not None:
            self.reject(line, text, rejection)
            return
        self.keys.setdefault(self.confidence, []).append(ip * _SINGLE)
        self.accepted += 1
        self.ipv4 += 1

    def add_cidr_line(self, line: int, value: str, text: str | None = None) -> None:
        """A value that is exactly ``a.b.c.d/nn`` (no leading zeros)."""
        self.add_cidrs([value], [line], text)

    def add_cidrs(self, values: list[str], numbers: list[int], text: str | None = None) -> None:
        """Values that are exactly ``a.b.c.d/nn`` (no leading zeros); ``text`` is the sample for a single
        value taken from a longer line."""
        keys = self.keys.setdefault(self.confidence, [])
        judge = self.policy.judge
        count = self.tally.count
        accepted = 0
        for line, value in zip(numbers, values, strict=True):
            sample = value if text is None else text
            ip, _, plen = value.partition("/")
            prefix = int(plen)
            try:
                addr = int.from_bytes(inet_aton(ip), "big")
            except OSError:
                self.add(line, value, sample)
                continue
            if prefix > 32:
                count(R.INVALID_PREFIX, line, sample)
                continue
            size = 1 << (32 - prefix)
            network = addr & (MASK32 ^ (size - 1))
            end = network + size - 1
            rejection, carved = judge(network, end)
            if rejection is not None:
                count(rejection, line, sample)
                continue
            keys.append((network << 32) | end)
            accepted += 1
            if network != addr:
                count(R.HOST_BITS_SET, line, sample)
            for note in carved:
                count(note, line, sample)
        self.accepted += accepted
        self.ipv4 += accepted

    def add_names(self, names: list[str], numbers: list[int]) -> None:
        """Values that are exactly a lower-case LDH name (matched :data:`domains.NAME`)."""
        if max(map(len, names)) > 253 or not self.policy.allows_all_names():
            for line, name in zip(numbers, names, strict=True):
                self.add(line, name)
            return
        reserved = list(
            map(or_, map(str.endswith, names, repeat(D.RESERVED_SUFFIXES)), map(D.RESERVED_NAMES.__contains__, names))
        )
        if True in reserved:
            hits = list(compress(range(len(names)), reserved))
            self.tally.count_many(R.RESERVED_DOMAIN, len(hits), map(numbers.__getitem__, hits), names)
            names = list(compress(names, map(not_, reserved)))
        self.default_names.update(names)
        self.n_domains += len(names)
        self.accepted += len(names)

    # -- the slow path --------------------------------------------------------------------------------------
    def add(
        self,
        line: int,
        value: str,
        text: str | None = None,
        confidence: int | None = None,
        retract: str | None = None,
    ) -> bool:
        """Classify ``value`` (from ``line``; ``text`` is the sample shown on rejection).

        With ``retract`` (``revoked``/``expired``) a valid value is not listed but remembered as retracted
        (removed from earlier runs too) and counted under that reason. Returns True when accepted.
        """
        if text is None:
            text = value
        v = value.strip()
        if not v:
            self.reject(line, text, R.EMPTY_VALUE)
            return False
        notes: list[str] = []
        kind, a, b, more = self._classify(v)
        if kind == "reject":
            if a == R.IPV6_NOT_SUPPORTED:
                self.ipv6 += 1
            self.reject(line, text, a)  # type: ignore[arg-type]
            return False
        notes.extend(more)
        if kind == "ipv4":
            start, end = a, b  # type: ignore[assignment]
            rejection, carved = self.policy.judge(start, end)
            if rejection is not None:
                self.reject(line, text, rejection)
                return False
            notes.extend(carved)
            if retract:
                self.revoked_keys.append((start << 32) | end)
                self.reject(line, text, retract)
                return False
            conf = self.confidence if confidence is None else confidence
            self.keys.setdefault(conf, []).append((start << 32) | end)
            self.ipv4 += 1
        else:
            name: str = a  # type: ignore[assignment]
            rejection = self.policy.judge_domain(name)
            if rejection is not None:
                self.reject(line, text, rejection)
                return False
            if retract:
                self.revoked_domains.add(name)
                self.reject(line, text, retract)
                return False
            conf = self.confidence if confidence is None else confidence
            if self.domains.get(name, -1) < conf:
                self.domains[name] = conf
            self.n_domains += 1
        self.accepted += 1
        for note in notes:
            self.tally.count(note, line, text)
        return True

    def _classify(self, v: str) -> _Verdict:
        if _PLAIN_WORD(v):  # no dot, colon, slash or bracket: cannot be an address, a name or a URL
            return "reject", R.SINGLE_LABEL_DOMAIN if D.LABEL(v) else R.UNRECOGNIZED, 0, ()
        if v.count(":") >= 2 and "://" not in v and "[.]" not in v:
            return _ipv6_or_garbage(v)
        notes: list[str] = []
        for _ in range(4):  # at most: refang, reduce URL, strip port: then it must be final
            if LOOSE_QUAD.fullmatch(v):
                addr, reason = judge_quad(v)
                if reason:
                    return "reject", reason, 0, ()
                return "ipv4", addr, addr, tuple(notes)  # type: ignore[return-value]
            if "/" in v and (m := LOOSE_CIDR.fullmatch(v)):
                return _cidr(m.group(1), m.group(2), notes)
            if "-" in v and (m := LOOSE_RANGE.fullmatch(v)):
                return _range(m.group(1), m.group(2), notes)
            if looks_defanged(v):
                fixed = refang(v)
                if fixed != v:
                    notes.append(R.DEFANGED)
                    v = fixed.strip()
                    continue
            if v.count(":") >= 2 and "://" not in v:
                return _ipv6_or_garbage(v)
            if looks_like_url(v):
                host = host_of(v)
                if host and host != v:
                    if R.URL_HOST not in notes:
                        notes.append(R.URL_HOST)
                    v = host
                    continue
                if host is None:
                    return "reject", R.UNRECOGNIZED, 0, ()
            break
        if ":" in v:
            return _ipv6_or_garbage(v)
        if DIGITS_AND_DOTS.fullmatch(v):
            return "reject", R.INVALID_IPV4, 0, ()
        name, reason, used_idna = D.normalize(v)
        if name is None:
            return "reject", reason, 0, ()  # type: ignore[return-value]
        if used_idna:
            notes.append(R.IDNA)
        return "domain", name, 0, tuple(notes)

    # -- results --------------------------------------------------------------------------------------------
    def ipv4_by_confidence(self) -> dict[int, Spans]:
        """Accepted addresses as merged interval sets, by confidence (finishes the bulk path)."""
        out: dict[int, Spans] = {}
        bulk = self._finish_quads() if self.quad_batches else None
        self.quad_batches = []
        for conf, keys in self.keys.items():
            if conf == self.confidence and bulk:
                # one merge of two sorted runs (timsort is linear on that) instead of two sweeps and a union
                keys.sort()
                merged = array("Q", map(mul, bulk, repeat(_SINGLE)))
                merged.extend(keys)
                out[conf] = from_keys(merged)
                bulk = None
            else:
                out[conf] = from_keys(keys)
        if bulk:
            out[self.confidence] = sweep_sorted(bulk)
        return out

    def names(self) -> dict[str, int]:
        """Accepted names with their best confidence."""
        out = dict.fromkeys(self.default_names, self.confidence)
        for name, conf in self.domains.items():
            if out.get(name, -1) < conf:
                out[name] = conf
        return out

    def revoked(self) -> Spans:
        return from_keys(self.revoked_keys)


def _cidr(ip_text: str, prefix_text: str, notes: list[str]) -> _Verdict:
    addr, reason = judge_quad(ip_text)
    if reason:
        return "reject", reason, 0, ()
    prefix = prefix_from_text(prefix_text)
    if prefix is None:
        return "reject", R.INVALID_PREFIX, 0, ()
    size = 1 << (32 - prefix)
    network = addr & ~(size - 1) & MASK32  # type: ignore[operator]
    if network != addr:
        notes.append(R.HOST_BITS_SET)
    return "ipv4", network, network + size - 1, tuple(notes)


def _range(first: str, last: str, notes: list[str]) -> _Verdict:
    start, reason = judge_quad(first)
    if reason:
        return "reject", reason, 0, ()
    end, reason = judge_quad(last)
    if reason:
        return "reject", reason, 0, ()
    if start > end:  # type: ignore[operator]
        return "reject", R.INVALID_RANGE, 0, ()
    return "ipv4", start, end, tuple(notes)  # type: ignore[return-value]


def _ipv6_or_garbage(v: str) -> _Verdict:
    text = v[1:-1] if v.startswith("[") and v.endswith("]") else v
    if _HEXISH_V6.fullmatch(text):
        address, _, prefix = text.split("%", 1)[0].partition("/")
        try:
            inet_pton(AF_INET6, address)
        except (OSError, ValueError):
            return "reject", R.UNRECOGNIZED, 0, ()
        if prefix and not (prefix.isdigit() and int(prefix) <= 128):
            return "reject", R.INVALID_PREFIX, 0, ()
        return "reject", R.IPV6_NOT_SUPPORTED, 0, ()
    return "reject", R.UNRECOGNIZED, 0, ()

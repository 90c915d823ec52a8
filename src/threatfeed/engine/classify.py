"""Turn one candidate value into an accepted indicator or a counted rejection.

Every format funnels its values through :class:`Collector`, so the rules (what an address, a range or a
name is, what is filtered, how it is counted) exist once. Accepted IPv4 values are kept as interval keys
(``start << 32 | end``) grouped by confidence; bare addresses from the text fast path stay in NumPy
``uint32`` arrays (4 bytes each) until the feed is finished. Nothing here builds ``ipaddress`` objects
except to recognise IPv6, which is off the hot path.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import compress, repeat
from operator import is_
from socket import AF_INET6, inet_aton, inet_pton
from typing import Any, cast, overload

import numpy as np

from threatfeed.engine import domains as D
from threatfeed.engine import reasons as R
from threatfeed.engine.ipv4 import (
    DIGITS_AND_DOTS,
    LOOSE_CIDR,
    LOOSE_QUAD,
    LOOSE_RANGE,
    AddressLines,
    judge_quad,
    prefix_from_text,
    to_text,
)
from threatfeed.engine.policy import Policy
from threatfeed.engine.refang import host_of, looks_defanged, looks_like_url, refang
from threatfeed.engine.spans import (
    MASK32,
    Spans,
    from_bounds,
    from_keys,
    holds,
    key_bounds,
    sweep_sorted,
)

DEFAULT_CONFIDENCE = 50
#: The indicator kinds a list can hold (``options.kinds`` picks among them).
KINDS = frozenset({"ipv4", "domain"})
_SINGLE = (1 << 32) + 1  # ip * _SINGLE is the interval key of the single address ip
#: A token with none of the characters any indicator (or defanged indicator) needs.
_PLAIN_WORD = re.compile(r"[^.:/\[\](){}@\s]+").fullmatch
_ASN = re.compile(r"(?:AS|ASN)[0-9]{1,10}", re.IGNORECASE).fullmatch
_CVE = re.compile(r"CVE-[0-9]{4}-[0-9]{4,}", re.IGNORECASE).fullmatch
_HASH = re.compile(r"[0-9A-Fa-f]{32}|[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64}").fullmatch
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+").fullmatch
#: Octets written with leading zeros (read as decimal where a feed declares zero-padded addresses).
_PADDED = re.compile(r"(?:^|\.)0[0-9]").search
_HEXISH_V6 = re.compile(r"[0-9A-Fa-f:.]+(?:/\d{1,3})?(?:%\w+)?")


#: Network and host masks by prefix length.
_NETMASK = tuple(MASK32 ^ ((1 << (32 - p)) - 1) for p in range(33))
_HOSTMASK = tuple((1 << (32 - p)) - 1 for p in range(33))
_NETMASKS = np.array(_NETMASK, dtype=np.int64)
_HOSTMASKS = np.array(_HOSTMASK, dtype=np.int64)
#: Every reason a batch of intervals can get, in the order the one-by-one path notes them for one value
#: (a value gets one rejection, or host bits and carvings: see :meth:`Tally.count_batch`).
_INTERVAL_REASONS = (
    R.INVALID_IPV4,
    R.LEADING_ZERO,
    R.INVALID_RANGE,
    R.INVALID_PREFIX,
    R.PREFIX_TOO_BROAD,
    R.BOGON,
    R.ALLOW_LISTED,
    R.HOST_BITS_SET,
    R.BOGON_CARVED,
    R.ALLOW_LIST_CARVED,
)


def plain_reason(token: str) -> str:
    """Why a token without dots, colons, slashes, brackets or ``@`` is no indicator, saying what it is: a
    digest (``hash``), a bare number, an AS number (``asn``), a single DNS label, or nothing recognizable."""
    if _HASH(token):
        return R.HASH
    if token.isascii() and token.isdigit():
        return R.NUMBER
    if _ASN(token):
        return R.ASN
    if _CVE(token):
        return R.CVE
    return R.SINGLE_LABEL_DOMAIN if D.LABEL(token) else R.UNRECOGNIZED


def interval_events() -> dict[str, list[int]]:
    """An empty ``reason -> positions`` record for :meth:`Collector.add_intervals`."""
    return {reason: [] for reason in _INTERVAL_REASONS}


def converted(values: Iterable[str], convert: Callable[[str], Any]) -> tuple[list[Any], list[int]]:
    """``convert`` (a C function such as ``inet_aton`` that raises ``OSError``/``ValueError`` on bad input)
    over ``values`` at C speed: the results of the accepted values, and the positions of the refused ones.
    ``list.extend`` keeps what it appended before the exception, so each refusal costs one restart."""
    out: list[Any] = []
    bad: list[int] = []
    it = iter(values)
    while True:
        try:
            out.extend(map(convert, it))
            return out, bad
        except (OSError, ValueError):
            bad.append(len(out) + len(bad))


def without(values: Sequence[Any], positions: list[int]) -> list[Any]:
    """``values`` minus the items at ``positions``."""
    keep = bytearray(b"\x01") * len(values)
    for i in positions:
        keep[i] = 0
    return list(compress(values, keep))


def packed_ints(packed: list[bytes]) -> np.ndarray:
    """``inet_aton`` results -> the addresses (``uint32``)."""
    return np.frombuffer(b"".join(packed), dtype=">u4").astype(np.uint32)


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """``values`` sorted, each once: ``np.unique`` by a sort and a comparison of neighbours (NumPy 2.3+'s
    ``np.unique`` hashes first, several times slower on a million addresses)."""
    return distinct(np.sort(values))


def distinct(ordered: np.ndarray) -> np.ndarray:
    """Sorted ``ordered`` with each value once."""
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


class LinesAt(Sequence[str]):
    """The lines at ``positions`` of a chunk, each cut out (``lines_at``) only when it is read: a batch's texts
    are read for its samples alone, a few per reason, and cutting out a hundred thousand CIDR lines to read
    five of them cost more than judging them."""

    __slots__ = ("lines_at", "positions")

    def __init__(self, lines_at: Callable[[np.ndarray], list[str]], positions: np.ndarray) -> None:
        self.lines_at = lines_at
        self.positions = positions

    def __len__(self) -> int:
        return len(self.positions)

    @overload
    def __getitem__(self, k: int) -> str: ...
    @overload
    def __getitem__(self, k: slice) -> list[str]: ...
    def __getitem__(self, k: int | slice) -> str | list[str]:
        if isinstance(k, slice):
            return self.lines_at(self.positions[k])
        return self.lines_at(self.positions[[k]])[0]


# (kind, start-or-name, end, corrections)
_Verdict = tuple[str, object, int, tuple[str, ...]]


class Collector:
    """Accumulates one feed's indicators, rejections and counters while a format parser feeds it."""

    def __init__(
        self,
        feed: str,
        policy: Policy,
        confidence: int = DEFAULT_CONFIDENCE,
        *,
        zero_padded: bool = False,
        kinds: frozenset[str] = KINDS,
    ) -> None:
        self.feed = feed
        self.policy = policy
        self.confidence = confidence
        #: The feed declares zero-padded dotted quads (``061.067.077.098``): read them as decimal.
        self.zero_padded = zero_padded
        #: The indicator kinds the feed may contribute (``options.kinds``); others are ``kind_filtered``.
        self.kinds = kinds
        self.all_kinds = kinds >= KINDS
        self.tally = R.Tally(feed)
        # bulk addresses kept, per chunk: sorted and deduplicated (uint32); a body repeating addresses costs memory
        # for its distinct ones only
        self.quad_batches: list[np.ndarray] = []
        # bulk addresses taken out (bogons, allow-list, warninglists: few) with their line positions in a chunk
        # whose first line is the int, for the counts and the samples
        self.gone_batches: list[tuple[np.ndarray, np.ndarray, int]] = []
        #: confidence -> interval keys, 8 bytes each (a million CIDRs as Python ints would be 44 MB)
        self.keys: dict[int, array[int]] = {}
        self.domains: dict[str, int] = {}  # name -> best confidence
        self.default_names: set[str] = set()  # names at the default confidence (bulk path)
        self.revoked_keys: list[int] = []
        self.revoked_domains: set[str] = set()
        self.lines = 0
        self.first_content = 0  # line number of a text body's first data line (for header detection)
        self.skipped = 0
        #: Records or lines with content that carried no candidate value (a record type that is no network
        #: indicator, an empty indicator field): skipped too. A body of nothing else was not understood.
        self.ignored = 0
        self.accepted = 0
        self.ipv4 = 0
        self.n_domains = 0
        self.ipv6 = 0

    def keys_at(self, confidence: int) -> array[int]:
        """The interval keys kept at ``confidence`` (``array("Q")``)."""
        keys = self.keys.get(confidence)
        if keys is None:
            keys = self.keys[confidence] = array("Q")
        return keys

    # -- counting -------------------------------------------------------------------------------------------
    def reject(self, line: int, text: str, reason: str) -> None:
        self.tally.count(reason, line, text)

    def skip(self, n: int = 1) -> None:
        self.skipped += n

    def ignore(self, n: int = 1) -> None:
        """Content that carries no candidate value: skipped, and remembered (see :attr:`ignored`)."""
        self.skipped += n
        self.ignored += n

    def add_address_lines(self, found: AddressLines, lines_at: Callable[[np.ndarray], list[str]], first: int) -> None:
        """The lines of a chunk (``lines_at``: the lines at given positions, the first being line ``first``) that
        are exactly an address or a CIDR without leading zeros (``found``:
        :func:`~threatfeed.engine.ipv4.scan_address_lines`). Only the lines a sample or a CIDR's text needs are
        cut out.
        Addresses are only kept here, with their positions for the samples; bogons and allow-listed ones
        are found later on the sorted whole (:meth:`_finish_quads`). CIDRs are judged as one batch."""
        over = found.quad_over
        if over.any():
            bad = found.quad_at[over]
            numbers = (bad + first).tolist()
            self.tally.count_many(R.INVALID_IPV4, len(numbers), numbers, lines_at(bad))
            values, at = found.quad_values[~over], found.quad_at[~over]
        else:
            values, at = found.quad_values, found.quad_at
        if len(values):
            self.accepted += len(values)
            self.ipv4 += len(values)
            blocked = self._blocked(values)
            if blocked.any():
                self.gone_batches.append((values[blocked], at[blocked], first))
                values = values[~blocked]
            self.quad_batches.append(sorted_distinct(values))
        if len(found.cidr_at):
            texts = LinesAt(lines_at, found.cidr_at)  # only the samples' lines are ever cut out
            numbers = (found.cidr_at + first).tolist()
            self.add_cidr_values(found.cidr_values, found.cidr_prefixes, found.cidr_over, numbers, texts)

    def _blocked(self, values: np.ndarray) -> np.ndarray:
        """Which bulk addresses bogons, the allow-list or a warninglist take out."""
        blocked = holds(self.policy.blocked, values)
        warn = self.policy.warn
        if warn is not None and warn.spans:
            blocked |= holds(warn.spans, values)
        return blocked

    def _finish_quads(self) -> np.ndarray:
        """The bulk addresses kept, sorted and distinct; those taken out (found chunk by chunk) are counted by
        reason, and the first lines of each reason are its samples."""
        if self.gone_batches:
            gone = np.sort(np.concatenate([batch[0] for batch in self.gone_batches]))
            codes, names = self._blocked_reasons(gone)
            counts = np.bincount(codes, minlength=len(names))
            total = len(gone)
            self.accepted -= total
            self.ipv4 -= total
            wanted = {}
            for c in np.flatnonzero(counts).tolist():
                self.tally.add_count(names[c], int(counts[c]))
                wanted[names[c]] = min(int(counts[c]), R.SAMPLES_PER_REASON)
            self._sample_gone(gone, codes, names, wanted)
            self.gone_batches = []
        batches, self.quad_batches = self.quad_batches, []
        if len(batches) == 1:
            return batches[0]
        merged = np.concatenate(batches)
        del batches  # the chunks' arrays let go before the sort (tens of MB at ten million lines)
        merged.sort(kind="stable")  # sorted runs, one per chunk: merged in place
        return distinct(merged)

    def _sample_gone(self, gone: np.ndarray, codes: np.ndarray, names: list[str], wanted: dict[str, int]) -> None:
        """The first lines (in line order) of the bulk addresses taken out, ``gone`` (sorted, with the reason
        ``names[codes[i]]`` of each), as samples: the batches are scanned in order until every reason has its
        samples."""
        for values, at, first in self.gone_batches:
            slot = np.minimum(np.searchsorted(gone, values), len(gone) - 1)
            hit = np.flatnonzero(gone[slot] == values)
            if not len(hit):
                continue
            hit_codes = codes[slot[hit]]
            for reason in list(wanted):
                c = names.index(reason)
                if wanted[reason] > 0:
                    for i in hit[hit_codes == c][: wanted[reason]].tolist():
                        wanted[reason] -= 1
                        self.tally.add_sample(reason, int(at[i]) + first, to_text(int(values[i])))
            done = [names.index(reason) for reason in wanted if not wanted[reason]]
            if len(done) == len(wanted):
                return
            if done:  # look only for the values of the reasons still short of samples: a smaller, cached array
                keep = ~np.isin(codes, done)
                gone, codes = gone[keep], codes[keep]
                if not len(gone):
                    return

    def _blocked_reasons(self, values: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Why each of ``values`` (addresses inside bogons, the allow-list or a warninglist) is taken out, as codes
        into the returned names: a bogon, allow-listed, or the warninglist holding it (no loop per address)."""
        p = self.policy
        names = [R.ALLOW_LISTED, R.BOGON]
        codes = holds(p.bogons, values).astype(np.intp)
        if p.warn is not None:
            listed = (codes == 0) & ~holds(p.allow, values)
            if listed.any():
                labels, slots = p.warn.label_codes(values[listed])
                names.extend(R.WARNINGLIST_PREFIX + label for label in labels)
                codes[listed] = np.where(slots < 0, 0, slots + 2)
        return codes, names

    def add_quad(self, line: int, dotted: str, text: str) -> None:
        """One value that is exactly a dotted quad without leading zeros."""
        if "ipv4" not in self.kinds:
            self.reject(line, text, R.KIND_FILTERED)
            return
        try:
            ip = int.from_bytes(inet_aton(dotted), "big")
        except OSError:
            self.add(line, dotted, text)
            return
        rejection, _ = self.policy.judge(ip, ip)
        if rejection is not None:
            self.reject(line, text, rejection)
            return
        self.keys_at(self.confidence).append(ip * _SINGLE)
        self.accepted += 1
        self.ipv4 += 1

    def add_cidr_line(self, line: int, value: str, text: str | None = None) -> None:
        """A value that is exactly ``a.b.c.d/nn`` (no leading zeros): :meth:`add_cidrs` for one value,
        without the batch machinery."""
        sample = value if text is None else text
        if "ipv4" not in self.kinds:
            self.reject(line, sample, R.KIND_FILTERED)
            return
        ip, _, plen = value.partition("/")
        prefix = int(plen)
        try:
            addr = int.from_bytes(inet_aton(ip), "big")
        except OSError:
            self.add(line, value, sample)
            return
        if prefix > 32:
            self.reject(line, sample, R.INVALID_PREFIX)
            return
        network = addr & _NETMASK[prefix]
        end = network | _HOSTMASK[prefix]
        rejection, carved = self.policy.judge(network, end)
        if rejection is not None:
            self.reject(line, sample, rejection)
            return
        self.keys_at(self.confidence).append((network << 32) | end)
        self.accepted += 1
        self.ipv4 += 1
        if network != addr:
            self.tally.count(R.HOST_BITS_SET, line, sample)
        for note in carved:
            self.tally.count(note, line, sample)

    def add_cidrs(self, values: list[str], numbers: list[int], texts: Sequence[str] | None = None) -> None:
        """Values that are exactly ``a.b.c.d/nn`` (no leading zeros), with their line numbers; ``texts``
        (default: the values) are the samples shown per value."""
        parts = "/".join(values).split("/")
        packed, bad = converted(parts[0::2], inet_aton)
        over = np.zeros(len(values), dtype=bool)
        over[bad] = True
        addrs = np.zeros(len(values), dtype=np.int64)
        addrs[~over] = packed_ints(packed)
        prefixes = np.array(list(map(int, parts[1::2])), dtype=np.int64)
        self.add_cidr_values(addrs, prefixes, over, numbers, values if texts is None else texts)

    def add_cidr_values(
        self, addrs: np.ndarray, prefixes: np.ndarray, over: np.ndarray, numbers: list[int], texts: Sequence[str]
    ) -> None:
        """CIDRs already converted: addresses, prefix lengths as written, and which had an octet over 255
        (rejected as invalid). Masked and screened as a batch; only values touching bogons or the
        allow-list are judged one by one (:meth:`add_intervals`)."""
        events = interval_events()
        keep = ~over
        if over.any():  # an octet over 255 (the shapes admit no leading zero)
            events[R.INVALID_IPV4] = np.flatnonzero(over).tolist()
        wide = prefixes > 32
        if wide.any():
            events[R.INVALID_PREFIX] = np.flatnonzero(keep & wide).tolist()
            keep &= ~wide
        positions = np.flatnonzero(keep)
        addrs, prefixes = addrs[positions], prefixes[positions]
        networks = addrs & _NETMASKS[prefixes]
        ends = networks | _HOSTMASKS[prefixes]
        self.add_intervals(positions, networks, ends, networks != addrs, events)
        self.tally.count_batch(events, numbers, texts)

    def add_intervals(
        self,
        positions: np.ndarray,
        starts: np.ndarray,
        ends: np.ndarray,
        host_bits: np.ndarray,
        events: dict[str, list[int]],
    ) -> None:
        """Judge and keep the intervals ``[starts[k], ends[k]]`` (``int64`` arrays) of a batch (at the batch's
        ``positions``) at the collector's confidence; what they get (rejections, host bits, carvings) is recorded in
        ``events`` for :meth:`Tally.count_batch`. Breadth, overlap with bogons or the allow-list and lying inside a
        warninglist are tested in NumPy for the whole batch; :meth:`Policy.judge` runs only on the intervals
        flagged, in batch order."""
        if not len(starts):
            return
        p = self.policy
        slot = np.searchsorted(p.blocked_starts, ends, side="right")
        flagged = (p.blocked_ends_ext[slot] >= starts) | (ends - starts >= p.max_size)
        accept = ~flagged
        warn = p.warn
        if warn is not None and warn.spans:  # values entirely inside a warninglist (the flagged: judged below)
            first, last = starts.astype(np.uint32), ends.astype(np.uint32)
            at = np.flatnonzero(warn.covered(first, last) & accept)
            if len(at):
                accept[at] = False
                for k, label in zip(at.tolist(), warn.labels(first[at]), strict=True):
                    # inside a listed range: never an unlabelled piece
                    events.setdefault(R.WARNINGLIST_PREFIX + cast(str, label), []).append(int(positions[k]))
        if flagged.any():
            for k in np.flatnonzero(flagged).tolist():
                rejection, carved = p.judge(int(starts[k]), int(ends[k]))
                if rejection is not None:
                    events.setdefault(rejection, []).append(int(positions[k]))  # warninglist:<list> is not preset
                    continue
                accept[k] = True
                for note in carved:
                    events.setdefault(note, []).append(int(positions[k]))
        events[R.HOST_BITS_SET] = positions[accept & host_bits].tolist()
        n = int(np.count_nonzero(accept))
        if n:
            keys = (starts[accept].astype(np.uint64) << np.uint64(32)) | ends[accept].astype(np.uint64)
            self.keys_at(self.confidence).frombytes(keys.tobytes())
            self.accepted += n
            self.ipv4 += n

    def add_names(self, names: list[str], numbers: list[int]) -> None:
        """Values that are exactly a lower-case LDH name (matched :data:`domains.NAME`)."""
        if max(map(len, names)) > 253 or not self.policy.allows_all_names():
            for line, name in zip(numbers, names, strict=True):
                self.add(line, name)
            return
        names, numbers = self._without_unlistable(names, numbers)
        names = self._without_warned(names, numbers)
        self._take_default_names(names)

    def _take_default_names(self, names: list[str]) -> None:
        """Accept ``names`` at the collector's confidence."""
        self.default_names.update(names)
        self.n_domains += len(names)
        self.accepted += len(names)

    def _without_unlistable(self, names: list[str], numbers: list[int]) -> tuple[list[str], list[int]]:
        """``names`` (and their ``numbers``) less the reserved ones and those that do not end in a real public
        suffix (:func:`~threatfeed.engine.domains.name_verdicts`), counted."""
        verdicts = D.name_verdicts(names)
        if verdicts.count(None) == len(verdicts):
            return names, numbers
        events: dict[str, list[int]] = {}
        for k, verdict in enumerate(verdicts):
            if verdict is not None:
                events.setdefault(verdict, []).append(k)
        self.tally.count_batch(events, numbers, names)
        kept = list(map(is_, verdicts, repeat(None)))
        return list(compress(names, kept)), list(compress(numbers, kept))

    def _without_warned(self, names: list[str], numbers: Sequence[int] | None) -> list[str]:
        """``names`` less those a warninglist matches, which are counted (``numbers``: their lines, if known)."""
        warn = self.policy.warn
        if warn is None or not warn.has_names or not names:
            return names
        labels = warn.label_names(names)
        if not any(labels):
            return names
        by_list: dict[str, list[int]] = {}
        for k, label in enumerate(labels):
            if label is not None:
                by_list.setdefault(label, []).append(k)
        for label, hits in by_list.items():
            lines = map(numbers.__getitem__, hits) if numbers is not None else repeat(0)
            self.tally.count_many(R.WARNINGLIST_PREFIX + label, len(hits), lines, map(names.__getitem__, hits))
        return list(compress(names, map(is_, labels, repeat(None))))

    def add_default_names(self, names: list[str]) -> None:
        """Names already normalized and judged, accepted at the collector's confidence (less those a
        warninglist matches: the caller does not know their lines, so their samples show line 0)."""
        self._take_default_names(self._without_warned(names, None))

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
            self.reject(line, text, cast(str, a))  # a rejection verdict carries its reason
            return False
        if kind not in self.kinds:
            self.reject(line, text, R.KIND_FILTERED)
            return False
        notes.extend(more)
        conf = self.confidence if confidence is None else confidence
        if kind == "ipv4":
            # an ipv4 verdict carries the interval's first and last address
            accepted = self._add_ipv4(line, text, cast(int, a), b, conf, retract, notes)
        else:
            accepted = self._add_domain(line, text, cast(str, a), conf, retract, notes)
        if not accepted:
            return False
        self.accepted += 1
        for note in notes:
            self.tally.count(note, line, text)
        return True

    def _add_ipv4(
        self, line: int, text: str, start: int, end: int, conf: int, retract: str | None, notes: list[str]
    ) -> bool:
        rejection, carved = self.policy.judge(start, end)
        if rejection is not None:
            self.reject(line, text, rejection)
            return False
        notes.extend(carved)
        if retract:
            self.revoked_keys.append((start << 32) | end)
            self.reject(line, text, retract)
            return False
        self.keys_at(conf).append((start << 32) | end)
        self.ipv4 += 1
        return True

    def _add_domain(self, line: int, text: str, name: str, conf: int, retract: str | None, notes: list[str]) -> bool:
        rejection = self.policy.judge_domain(name) or self.policy.warn_name(name)
        if rejection is not None:
            self.reject(line, text, rejection)
            return False
        if retract:
            self.revoked_domains.add(name)
            self.reject(line, text, retract)
            return False
        names = [name]
        if R.SUBDOMAINS in notes and not name.startswith("*."):  # ".name": the name and its subdomains
            wildcard = "*." + name
            refused = self.policy.judge_domain(wildcard) or self.policy.warn_name(wildcard)
            if refused is None:
                names.append(wildcard)
            else:  # the name alone is listed; why its subdomains are not is said
                notes.remove(R.SUBDOMAINS)
                self.tally.count(refused, line, text)
        for listed in names:
            if self.domains.get(listed, -1) < conf:
                self.domains[listed] = conf
        self.n_domains += len(names)
        return True

    def _classify(self, v: str) -> _Verdict:
        if _PLAIN_WORD(v):  # no dot, colon, slash or bracket: cannot be an address, a name or a URL
            return "reject", plain_reason(v), 0, ()
        if v[0] in ".|@":  # zone and blocklist notations: ".name", "||name^", "@@||name^"
            zoned = self._zoned(v)
            if zoned is not None:
                return zoned
        if v.count(":") >= 2 and "://" not in v and "[.]" not in v:
            return ipv6_verdict(v)
        notes: list[str] = []
        for _ in range(4):  # at most: refang, reduce URL, strip port: then it must be final
            verdict = self._address_verdict(v, notes)
            if verdict is not None:
                return verdict
            step = _unwrap(v, notes)
            if step is None:
                break
            if isinstance(step, tuple):
                return step
            v = step
        return _name_verdict(v, notes)

    def _zoned(self, v: str) -> _Verdict | None:
        """A zone or blocklist notation's verdict (``.name``: the name and its subdomains), None if not one."""
        zoned = zone_notation(v)
        if zoned is None:
            return None
        rest, shape = zoned
        if shape != R.SUBDOMAINS:
            return "reject", shape, 0, ()
        verdict = self._classify(rest)
        if verdict[0] == "domain":
            return "domain", verdict[1], 0, (*verdict[3], R.SUBDOMAINS)
        return verdict

    def _address_verdict(self, v: str, notes: list[str]) -> _Verdict | None:
        """The verdict on a dotted quad, CIDR or range (None: ``v`` is none of them)."""
        if LOOSE_QUAD.fullmatch(v):
            addr, reason = judge_quad(self._unpadded(v, notes))
            if reason:
                return "reject", reason, 0, ()
            return "ipv4", addr, cast(int, addr), tuple(notes)
        if "/" in v and (m := LOOSE_CIDR.fullmatch(v)):
            return _cidr(self._unpadded(m.group(1), notes), m.group(2), notes)
        if "-" in v and (m := LOOSE_RANGE.fullmatch(v)):
            first, last = self._unpadded(m.group(1), notes), self._unpadded(m.group(2), notes)
            return range_verdict(first, last, notes)
        return None

    def _unpadded(self, quad: str, notes: list[str]) -> str:
        """``quad`` (a loose dotted quad) read as decimal when the feed declares zero-padded octets."""
        if not self.zero_padded or not _PADDED(quad):
            return quad
        if R.ZERO_PADDED not in notes:
            notes.append(R.ZERO_PADDED)
        return ".".join(str(int(octet)) for octet in quad.split("."))

    # -- results --------------------------------------------------------------------------------------------
    def ipv4_by_confidence(self) -> dict[int, Spans]:
        """Accepted addresses as merged interval sets, by confidence (finishes the bulk path)."""
        out: dict[int, Spans] = {}
        bulk = self._finish_quads() if self.quad_batches else None
        self.quad_batches = []
        if bulk is not None and not len(bulk):
            bulk = None
        keyed, self.keys = self.keys, {}  # each confidence's keys are let go as soon as they are read
        for conf in list(keyed):
            keys = keyed.pop(conf)
            if conf == self.confidence and bulk is not None:
                # one union of the bulk addresses (their own starts and ends) and the other intervals' bounds
                starts, ends = key_bounds(keys)
                del keys
                starts.sort()  # two sorted runs: merged below in linear time
                ends.sort()
                all_starts = np.concatenate((bulk, starts))
                del starts
                all_ends = np.concatenate((bulk, ends))
                del ends
                bulk = None
                out[conf] = from_bounds(all_starts, all_ends, scratch=True, runs=True)
            else:
                out[conf] = from_keys(keys)
        if bulk is not None:
            out[self.confidence] = sweep_sorted(bulk)
        return out

    def names(self) -> Mapping[str, int]:
        """Accepted names with their best confidence: when all took the bulk path, the set itself at the collector's
        confidence (a dict of a million names would be some 50 MB more while the state is advanced)."""
        if not self.domains:
            return UniformNames(self.default_names, self.confidence)  # the collector is done with it: no copy
        out = dict.fromkeys(self.default_names, self.confidence)
        for name, conf in self.domains.items():
            if out.get(name, -1) < conf:
                out[name] = conf
        return out

    def revoked(self) -> Spans:
        return from_keys(self.revoked_keys)


class UniformNames(Mapping[str, int]):
    """Names all at one confidence, as a set: the mapping name -> confidence with no entry per name."""

    __slots__ = ("confidence", "names")

    def __init__(self, names: set[str] | frozenset[str], confidence: int) -> None:
        self.names = names
        self.confidence = confidence

    def __getitem__(self, name: str) -> int:
        if name in self.names:
            return self.confidence
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names


_ADBLOCK = re.compile(r"\|\|([^|^$/*]+\.[^|^$/*]+)\^\|?").fullmatch


def zone_notation(value: str) -> tuple[str, str] | None:
    """The zone and blocklist notations that start with ``.``, ``||`` or ``@@``: ``(name, "subdomains")`` for
    ``.evil.example`` (rbldnsd, SURBL, squid: the name and every subdomain) and ``||evil.example^`` (Adblock:
    the same), ``(value, "excluded")`` for an Adblock exception (``@@||good.example^``), ``(value,
    "unsupported_format")`` for another Adblock rule (``||x^$third-party``), None for anything else."""
    if value[0] == "." and len(value) > 1 and value[1] not in ".[" and not DIGITS_AND_DOTS.fullmatch(value):
        return value[1:], R.SUBDOMAINS
    if value.startswith("@@"):
        return value, R.EXCLUDED
    if value.startswith("||"):
        m = _ADBLOCK(value)
        if m:
            return m.group(1), R.SUBDOMAINS
        if "." in value:
            return value, R.UNSUPPORTED_FORMAT
    return None


def _cidr(ip_text: str, prefix_text: str, notes: list[str]) -> _Verdict:
    addr, reason = judge_quad(ip_text)
    if reason:
        return "reject", reason, 0, ()
    prefix = prefix_from_text(prefix_text)
    if prefix is None:
        return "reject", R.INVALID_PREFIX, 0, ()
    size = 1 << (32 - prefix)
    network = cast(int, addr) & ~(size - 1) & MASK32  # no reason: judge_quad gave the address
    if network != addr:
        notes.append(R.HOST_BITS_SET)
    return "ipv4", network, network + size - 1, tuple(notes)


def range_verdict(first: str, last: str, notes: list[str]) -> _Verdict:
    """``first``-``last`` (loose dotted quads) as an interval, or its rejection."""
    start, reason = judge_quad(first)
    if reason:
        return "reject", reason, 0, ()
    end, reason = judge_quad(last)
    if reason:
        return "reject", reason, 0, ()
    first_address, last_address = cast(int, start), cast(int, end)  # no reason: judge_quad gave both addresses
    if first_address > last_address:
        return "reject", R.INVALID_RANGE, 0, ()
    return "ipv4", first_address, last_address, tuple(notes)


def _unwrap(v: str, notes: list[str]) -> str | _Verdict | None:
    """One step towards the indicator inside ``v``: the refanged or URL-reduced value (noted), a verdict when
    ``v`` can only be rejected or is IPv6, or None when ``v`` is as reduced as it gets."""
    if looks_defanged(v):
        fixed = refang(v)
        if fixed != v:
            notes.append(R.DEFANGED)
            return fixed.strip()
    if v.count(":") >= 2 and "://" not in v:
        return ipv6_verdict(v)
    if "@" in v and _EMAIL(v):
        return "reject", R.EMAIL_ADDRESS, 0, ()
    if looks_like_url(v):
        host = host_of(v)
        if host and host != v:
            if R.URL_HOST not in notes:
                notes.append(R.URL_HOST)
            return host
        if host is None:
            return "reject", R.URL_PATH if v[0] == "/" else R.UNRECOGNIZED, 0, ()
    return None


def _name_verdict(v: str, notes: list[str]) -> _Verdict:
    """The verdict on a value that is neither an address nor a wrapper: a domain name, or why not."""
    if ":" in v:
        return ipv6_verdict(v)
    if DIGITS_AND_DOTS.fullmatch(v):
        return "reject", R.INVALID_IPV4, 0, ()
    name, reason, used_idna = D.normalize(v)
    if name is None:
        return "reject", reason, 0, ()
    if used_idna:
        notes.append(R.IDNA)
    return "domain", name, 0, tuple(notes)


def ipv6_verdict(v: str) -> _Verdict:
    """The rejection of a value with two colons or more: IPv6 (not supported), a bad prefix, or garbage."""
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

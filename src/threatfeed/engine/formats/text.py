"""Line-oriented text feeds: plain lists, hosts files, DShield ranges, Spamhaus DROP, Tor exit lists.

This is the hot path (most feeds, and the million-line benchmark, are plain text), so lines are sorted into
classes in bulk before any Python code looks at one. Each chunk's bytes are scanned once in NumPy
(:func:`~threatfeed.engine.ipv4.scan_address_lines`) for the lines that are exactly a dotted quad or
``a.b.c.d/nn`` with no leading zeros (the bulk of most feeds), converted there too; NumPy also tells the
blank and comment lines and those that are exactly a lower-case domain name (:func:`_line_kinds`): cheap to
match, but numerous, and a regular expression costs a call per line. The other lines are classified by one
regular expression (:data:`_TXT_CLASSES`, through ``map``): for plain text the common irregular shapes (a
value with an inline comment, digits-and-dots garbage, ``a.b.c.d-e.f.g.h`` ranges, ``hxxp://`` URLs, IPv6,
words...), each handled in bulk with exactly the outcome the one-line path (:func:`_txt_line`) gives it.
Only what no class recognised is looked at one line at a time. Rejections and corrections of each irregular
shape are counted into their own :class:`~threatfeed.engine.reasons.Tally` and folded in line order
(:meth:`~threatfeed.engine.reasons.Tally.absorb`), so counts and samples are those of a line-by-line pass.
Lines are processed in chunks of about 1 MB so the list of line strings never holds a whole large feed at
once.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from itertools import compress, product, repeat
from operator import and_, eq, ge, is_, methodcaller, not_
from socket import AF_INET6, inet_pton
from typing import Any, cast

import numpy as np

from threatfeed.engine import reasons as R
from threatfeed.engine.classify import (
    Collector,
    converted,
    interval_events,
    ipv6_verdict,
    plain_reason,
    range_verdict,
    without,
)
from threatfeed.engine.domains import LABEL, NAME, name_verdicts, normalize
from threatfeed.engine.ipv4 import LOOSE_QUAD, AddressLines, judge_quad, scan_address_lines
from threatfeed.engine.refang import looks_defanged

CHUNK_CHARS = 1 << 20
#: Value "shapes" for the one-line path: every non-zero digit becomes 9, so ``203.0.113.7`` -> ``999.0.999.9``;
#: a set lookup then tells an exact dotted quad (or ``a.b.c.d/nn``) without leading zeros, the same shapes
#: :func:`~threatfeed.engine.ipv4.scan_address_lines` finds in bulk.
_SHAPE = str.maketrans("123456789", "999999999")
_OCTET_SHAPES = ("0", "9", "99", "90", "999", "990", "909", "900")
QUAD_SHAPES = frozenset(".".join(p) for p in product(_OCTET_SHAPES, repeat=4))
CIDR_SHAPES = frozenset(f"{q}/{p}" for q in QUAD_SHAPES for p in ("0", "9", "99", "90"))
_INLINE_COMMENT = re.compile(r"[#;]|\s//").search
#: The address part of hosts-file lines ("0.0.0.0 evil.example"): the names are the indicators.
HOSTS_SINKS = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1", "0"})

_Q = r"(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}"  # dotted quad shape, no leading zeros
_LOOSE_Q = r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}"
#: Printable ASCII but for the characters any indicator (or a defanged one) needs, comment marks and comma.
_PLAIN = "".join(re.escape(chr(c)) for c in range(0x21, 0x7F) if chr(c) not in ".:/[](){}@#;,")
_PLAIN_NO_QUERY = _PLAIN.replace(re.escape("?"), "")
#: How the lines that are not an address or a CIDR are told apart: one regular expression, one pass, only the name
#: of the (empty, trailing) group of the branch that matched is kept: holding every Match object would cost
#: more than matching, and a branch that starts with a plain character class is skipped on its first
#: character. Classes are disjoint (but for a lone ``!``, ``skip`` and ``plain``), so the order
#: of the branches only matters for speed (:data:`_TXT_ORDER`):
#:
#: - ``skip``: blank, or a whole-line comment (``#``, ``;``, ``//``, Adblock's ``!`` and ``! ...``: both text
#:   parsers skip those);
#: - ``name``: exactly a lower-case name (:data:`~threatfeed.engine.domains.NAME`).
#:
#: For plain text the irregular shapes are handled in bulk too (ASCII only, whole line, no surrounding
#: blanks), each chosen so that every line of it takes one known route through :func:`_txt_line` and
#: ``Collector.add`` (the handlers in :data:`_SHAPE_HANDLERS` give exactly that route's outcome):
#:
#: - ``cmt``: a dotted quad or ``a.b.c.d/nn`` and an inline comment: the value alone counts;
#: - ``dd``: digits and dots that are not an address (``1.2.3``, ``01.2.3.4``): rejected;
#: - ``rng``: ``a.b.c.d-e.f.g.h``: a range;
#: - ``url``: ``hxxp(s)://host/path`` with a plain host (``[.]`` allowed): the host is the indicator;
#: - ``v6``: hex, dots and two or more colons (optional ``/len``, ``%zone``): IPv6 or garbage, rejected;
#: - ``word``: words (the first starting with a letter), e.g. a sentence: a single label, rejected;
#: - ``plain``: one token without dots, colons, slashes, brackets or ``@``: a single label or garbage;
#: - ``at``: the same with ``@`` (and no ``?``), ``user@host``-like: the host after the last ``@`` is judged.
_BRANCHES = {
    "skip": r"(?:[#;]|//|![ \t]).*|!?",
    "name": NAME.pattern,
}
_SHAPE_BRANCHES = {
    "cmt": rf"{_Q}(?:/(?:0|[1-9][0-9]?))?(?:[ \t]*[#;]|[ \t]+//).*",
    "dd": r"[0-9.]*\.[0-9.]*",
    "rng": rf"{_LOOSE_Q}-{_LOOSE_Q}",
    "url": r"hxxps?://[A-Za-z0-9-]+(?:(?:\[\.\]|\.)[A-Za-z0-9-]+)+(?:/[A-Za-z0-9._~!$&'*+=/%@?-]*)?",
    "v6": r"[0-9A-Fa-f.]*:[0-9A-Fa-f.:]*:[0-9A-Fa-f.:]*(?:/[0-9]{1,3})?(?:%[0-9A-Za-z_]+)?",
    "word": r"[A-Za-z][A-Za-z0-9-]*(?:[ \t]+[A-Za-z0-9]+)+",
    "plain": rf"[{_PLAIN}]+",
    "at": rf"[{_PLAIN_NO_QUERY}@]*@[{_PLAIN_NO_QUERY}@]*",
}


def _classes(branches: Mapping[str, str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{body})(?P<{kind}>)" for kind, body in branches.items()))


#: The shapes are tried first, skipped lines and names last: NumPy takes nearly all of those before the regular
#: expression runs (:func:`_line_kinds`), so every branch tried before the one that matches is time lost. But
#: ``skip`` before ``plain``: a lone ``!`` is both (the one exception to disjoint classes).
_TXT_ORDER = ("cmt", "v6", "url", "rng", "dd", "word", "skip", "plain", "at", "name")
_TXT_CLASSES = _classes({kind: {**_BRANCHES, **_SHAPE_BRANCHES}[kind] for kind in _TXT_ORDER})
_TOR_CLASSES = _classes(_BRANCHES)
_SKIP_CLASSES = _classes({"skip": _BRANCHES["skip"]})
#: The value of a ``cmt`` line (it ends where the blank or comment mark starts), the host of a ``url`` line.
_VALUE = re.compile(r"[0-9./]+").match
_URL_HOST = re.compile(r"hxxps?://([^/]+)").match
_inet_pton6 = partial(inet_pton, AF_INET6)


def parse_txt(text: str, col: Collector, options: Mapping[str, Any], now: datetime) -> None:
    """Plain text: one indicator per line, comments ``#``, ``;``, ``//`` (whole-line or inline)."""
    _walk(text, col, _txt_slow(col), irregular=True)


def parse_txt_chunks(
    chunks: Iterable[str], col: Collector, options: Mapping[str, Any], now: datetime, first_content: int
) -> None:
    """:func:`parse_txt` of a body given as consecutive runs of whole lines (each without its last newline), so
    that a large body is never one string; ``first_content``: the body's first content line."""
    _walk_chunks(chunks, col, _txt_slow(col), irregular=True, first_content=first_content)


def _txt_slow(col: Collector) -> Callable[[int, str], None]:
    def slow(no: int, line: str) -> None:
        _txt_line(col, no, line)

    return slow


def parse_tor(text: str, col: Collector, options: Mapping[str, Any], now: datetime) -> None:
    """Tor ``exit-addresses``: only ``ExitAddress <ip> <date> <time>`` lines carry indicators."""
    _walk(text, col, _tor_slow(col))


def parse_tor_chunks(
    chunks: Iterable[str], col: Collector, options: Mapping[str, Any], now: datetime, first_content: int
) -> None:
    """:func:`parse_tor` of a body given as runs of whole lines (see :func:`parse_txt_chunks`)."""
    _walk_chunks(chunks, col, _tor_slow(col), first_content=first_content)


def _tor_slow(col: Collector) -> Callable[[int, str], None]:
    def slow(no: int, line: str) -> None:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "ExitAddress":
            col.add(no, parts[1], line)
        elif not parts:
            col.skip()
        elif parts[0] in ("ExitNode", "Published", "LastStatus"):  # a relay's description: content, no address
            col.ignore()
        else:  # a plain address list served as "tor" (the bulk exit list) still works
            _txt_line(col, no, line)

    return slow


def split_chunks(text: str) -> Iterator[str]:
    """``text`` (without its final newline) as runs of whole lines of about :data:`CHUNK_CHARS` characters each,
    cut at the first newline at or after that many characters (the cut newline belongs to neither run)."""
    n = len(text)
    pos = 0
    while pos <= n:
        cut = text.find("\n", min(pos + CHUNK_CHARS, n))
        if cut == -1:
            cut = n
        yield text[pos:cut]
        pos = cut + 1


def _walk(text: str, col: Collector, slow: Callable[[int, str], None], irregular: bool = False) -> None:
    """:func:`_walk_chunks` of a whole text."""
    if text.endswith("\n"):
        text = text[:-1]
    if not text:
        return
    _walk_chunks(split_chunks(text), col, slow, irregular, first_content_line(text))


def _walk_chunks(
    chunks: Iterable[str],
    col: Collector,
    slow: Callable[[int, str], None],
    irregular: bool = False,
    first_content: int = 0,
) -> None:
    """Classify lines in bulk, hand each class to the collector in one call, and loop in Python only over
    the lines no bulk class recognised. ``irregular``: ``slow`` is :func:`_txt_line`, so the shapes of
    :data:`_SHAPE_BRANCHES` may be handled in bulk too. ``chunks``: the body as runs of whole lines (see
    :func:`split_chunks`), one held at a time.

    Whatever the classification, the classes are handed over in a fixed order per chunk (addresses,
    CIDRs, names, then everything else in line order), which fixes the order rejections are counted in
    and so which lines become samples."""
    col.first_content = first_content
    classes = _TXT_CLASSES if irregular else _TOR_CLASSES
    if not col.all_kinds:  # options.kinds: every value takes the one-line path, which filters kinds
        classes = _SKIP_CLASSES
    base = 0
    for chunk in chunks:
        first = base + 1
        data = chunk.encode("utf-8", "surrogatepass")
        found = scan_address_lines(data if col.all_kinds else b"")
        ends = found.line_ends if col.all_kinds else _line_ends(data)
        lines = ChunkLines(chunk, data, ends)
        col.add_address_lines(found, lines.at, first)
        kinds, named = _line_kinds(data, ends, found, lines, named="name" in classes.groupindex)
        col.skipped += int(np.count_nonzero(kinds == _SKIP))
        rest_at = np.flatnonzero(kinds == _OTHER)
        rest = rest_at.tolist()
        rest_lines = lines.at(rest)
        groups = _classified(rest_lines, classes)
        regex_named = groups["name"]
        regex_lines = list(map(rest_lines.__getitem__, regex_named))
        _add_names(col, first, named, list(map(rest.__getitem__, regex_named)), regex_lines)
        col.skipped += len(groups["skip"])
        if rest and irregular:

            def numbers(ks: list[int], line_numbers: np.ndarray = rest_at + first) -> list[int]:
                return cast(list[int], line_numbers[ks].tolist())

            k = bisect_left(rest, col.first_content - first)
            header = k if k < len(rest) and rest[k] == col.first_content - first else None
            _irregular(col, groups, rest_lines, numbers, slow, header)
        else:
            for k in groups[None]:
                slow(first + rest[k], rest_lines[k])
        base += len(lines)
    col.lines += base


class ChunkLines:
    """A chunk's lines, cut out of it only when asked for: most lines are addresses, read from the bytes alone,
    and a million short strings made only to be dropped cost more than the scan. Byte offsets are character
    offsets only in an ASCII chunk; any other is split whole."""

    def __init__(self, chunk: str, data: bytes, ends: np.ndarray) -> None:
        self._text = chunk
        self._split = chunk.split("\n") if len(data) != len(chunk) else None
        self._starts = ends[:-1] + 1  # line i is text[starts[i]:stops[i]]
        self._stops = ends[1:]

    def __len__(self) -> int:
        return len(self._stops)

    def at(self, positions: Sequence[int] | np.ndarray) -> list[str]:
        """The lines at ``positions``, in that order."""
        if self._split is not None:
            return list(map(self._split.__getitem__, positions))
        starts, stops = self._starts[positions].tolist(), self._stops[positions].tolist()
        return list(map(self._text.__getitem__, map(slice, starts, stops)))


def _classified(lines: list[str], classes: re.Pattern[str]) -> dict[str | None, list[int]]:
    """The positions in ``lines`` of each class of ``classes`` (``None``: no class), ascending."""
    groups: dict[str | None, list[int]] = {kind: [] for kind in _GROUPS}
    kinds = map(getattr, map(classes.fullmatch, lines), repeat("lastgroup"), repeat(None))
    deque(map(list.append, map(groups.__getitem__, kinds), range(len(lines))), maxlen=0)
    return groups


def _add_names(
    col: Collector, first: int, bulk: tuple[np.ndarray, list[str]], matched: list[int], matched_lines: list[str]
) -> None:
    """The name lines of a chunk, in line order, in one call: those NumPy recognised (``bulk``: positions and
    lines, as :func:`_line_kinds` cut them out) and those the regular expression did (``matched`` and its
    lines: ``*.`` names, and names whose last character is no letter, which :func:`_line_kinds` leaves to it)."""
    at, names = bulk
    if matched:  # few: merged into line order
        at = np.concatenate((at, np.asarray(matched, dtype=at.dtype)))
        order = np.argsort(at, kind="stable").tolist()
        every = names + matched_lines
        names, at = [every[k] for k in order], at[order]
    if len(at):
        col.add_names(names, (at + first).tolist())


#: What :func:`_line_kinds` tells of a line.
_OTHER, _ADDRESS, _SKIP, _NAME = 0, 1, 2, 3


def _line_ends(data: bytes) -> np.ndarray:
    """Where each line of ``data`` ends, after a virtual ``-1`` (as :attr:`AddressLines.line_ends`)."""
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    return np.concatenate(([-1], newlines, [len(data)]))


def _line_kinds(
    data: bytes, ends: np.ndarray, found: AddressLines, lines: ChunkLines, named: bool
) -> tuple[np.ndarray, tuple[np.ndarray, list[str]]]:
    """What each line of a chunk (``data``, split into ``lines`` at ``ends``) is, as far as NumPy can tell
    without a regular expression: an address or a CIDR (``found``), exactly the ``skip`` class (blank, or a
    whole-line comment), exactly a lower-case name (:func:`_are_names`; when ``named``), else ``_OTHER``, for
    the regular expression. A skipped or a name line is cheap to match, but there are many of them: the
    per-line cost of the regular expression is in the calls, not in the matching. Also the name lines'
    positions and text (cut out once, to be judged and then taken)."""
    buf = np.frombuffer(data + b"\n\n", dtype=np.uint8)  # two bytes past any line start
    address = np.zeros(len(ends) - 1, dtype=bool)
    address[found.quad_at] = True
    address[found.cidr_at] = True
    other = np.flatnonzero(~address)  # the address lines are told: only the others are looked at (few, in a list)
    kinds = np.full(len(address), _ADDRESS, dtype=np.int8)
    starts = ends[other] + 1
    length = ends[other + 1] - starts
    c0, c1 = buf[starts], buf[starts + 1]
    skip = (length == 0) | (c0 == ord("#")) | (c0 == ord(";")) | ((c0 == ord("/")) & (c1 == ord("/")))
    skip |= (c0 == ord("!")) & ((length == 1) | (c1 == ord(" ")) | (c1 == ord("\t")))
    kinds[other] = np.where(skip, _SKIP, _OTHER)
    names: tuple[np.ndarray, list[str]] = (np.empty(0, dtype=np.intp), [])
    if named:  # a name starts with a letter or digit; most end in a letter (xn-- ones may not: the regex tells)
        last = buf[np.maximum(ends[other + 1] - 1, 0)]
        maybe = ~skip & (length >= 4) & _LOWER_OR_DIGIT[c0] & _LOWER[last]
        at = other[maybe]
        if len(at):
            candidates = lines.at(at)
            are = _are_names(candidates)
            kinds[at[are]] = _NAME
            names = (at[are], list(compress(candidates, are.tolist())))
    return kinds, names


#: Which bytes are lower-case letters, and which lower-case letters or digits.
_LOWER = np.zeros(256, dtype=bool)
_LOWER[ord("a") : ord("z") + 1] = True
_LOWER_OR_DIGIT = _LOWER.copy()
_LOWER_OR_DIGIT[ord("0") : ord("9") + 1] = True


def _are_names(values: list[str]) -> np.ndarray:
    """Which of ``values`` :data:`~threatfeed.engine.domains.NAME` matches exactly, but for ``*.`` names (never
    told: the regular expression takes them), read from the joined bytes with NumPy: only letters, digits, dots
    and hyphens; a dot, each one preceded by a label of 1-63 characters that starts and ends with a letter or
    digit; a last label of 2-63 letters, or ``xn--`` and 1-59 letters, digits or hyphens."""
    data = "\n".join(values).encode("utf-8", "surrogatepass") + b"\n"
    padded = np.frombuffer(data + bytes(4), dtype=np.uint8)  # the xn-- test reads 4 bytes from any label start
    buf = padded[: len(data)]
    ends = np.flatnonzero(buf == 10)
    if len(ends) != len(values):  # a value holding a newline (not a line of text): no verdict
        return np.zeros(len(values), dtype=bool)
    starts = np.concatenate(([0], ends[:-1] + 1))
    letter = buf - np.uint8(ord("a")) < 26  # uint8 arithmetic wraps: one comparison tells a range
    alnum = letter | (buf - np.uint8(ord("0")) < 10)
    dot = buf == ord(".")
    other = ~(alnum | dot | (buf == ord("-")))  # the newline ending each value is one
    ok: np.ndarray = (np.add.reduceat(other, starts, dtype=np.int32) == 1) & alnum[starts]
    dots = np.flatnonzero(dot)
    line = np.searchsorted(ends, dots)  # the value holding each dot
    previous = np.maximum(np.concatenate(([-1], dots[:-1])), starts[line] - 1)  # the dot or newline before
    ok[line[~alnum[dots - 1] | ~alnum[dots + 1] | (dots - previous > 64)]] = False
    last = np.flatnonzero(np.diff(line, append=len(values)))  # each value's last dot (in those holding one)
    tld = np.full(len(values), -1, dtype=np.int64)  # where the last label starts
    tld[line[last]] = dots[last] + 1
    at = np.flatnonzero(ok & (tld >= 0))
    ok[:] = False
    if len(at):
        first, end = tld[at], ends[at]
        size = end - first
        letters = np.add.reduceat(~letter, np.stack([first, end], axis=1).ravel(), dtype=np.int32)[::2] == 0
        xn = np.ones(len(at), dtype=bool)
        for k, byte in enumerate(b"xn--"):
            xn &= padded[first + k] == byte
        ok[at] = ((size >= 2) & letters | (size >= 5) & xn) & (size <= 63)
    return ok


def _irregular(
    col: Collector,
    groups: dict[str | None, list[int]],
    lines: list[str],
    numbers: Callable[[list[int]], list[int]],
    slow: Callable[[int, str], None],
    header: int | None,
) -> None:
    """The lines of a chunk left after addresses, CIDRs, names and comments (``groups``: positions in
    ``lines`` by class): each shape of :data:`_SHAPE_BRANCHES` in bulk, the rest (``groups[None]``) one by
    one through ``slow``, in line order. Every part counts into its own tally, folded into the collector's
    in line order at the end. ``header``: the position of the feed's first data line, which may be a
    column header that only :func:`_txt_line` recognises."""
    leftover = groups[None]
    if header is not None:
        for kind in _SHAPE_HANDLERS:
            ks = groups[kind]
            i = bisect_left(ks, header)
            if i < len(ks) and ks[i] == header:
                leftover.append(ks.pop(i))
    main = col.tally
    parts: list[R.Tally] = []
    try:
        for kind, handler in _SHAPE_HANDLERS.items():
            ks = groups[kind]
            if not ks:
                continue
            col.tally = R.Tally(col.feed)
            parts.append(col.tally)
            refused = handler(col, numbers(ks), list(map(lines.__getitem__, ks)))
            leftover.extend(map(ks.__getitem__, refused))
        if leftover:
            col.tally = R.Tally(col.feed)
            parts.append(col.tally)
            leftover.sort()
            for no, line in zip(numbers(leftover), map(lines.__getitem__, leftover), strict=True):
                slow(no, line)
    finally:
        col.tally = main
    main.absorb(parts)


def _by_reason(reasons: Iterable[str | None]) -> tuple[dict[str, list[int]], list[int]]:
    """Positions grouped by reason (``None``: refused, for the one-line path): one pass in C per distinct reason
    (a batch has few), not a Python step per position."""
    listed = list(reasons)
    positions = range(len(listed))
    events: dict[str, list[int]] = {}
    refused: list[int] = []
    for reason in set(listed):
        if reason is None:
            refused = list(compress(positions, map(is_, listed, repeat(None))))
        else:
            events[reason] = list(compress(positions, map(eq, listed, repeat(reason))))
    return events, refused


def _commented(col: Collector, numbers: list[int], lines: list[str]) -> list[int]:
    """``1.2.3.0/24 ; SBL123``: the value is added as the line's only token (a bare address as its /32,
    which is judged and counted the same way), the whole line is the sample."""
    values = [v if "/" in v else v + "/32" for v in map(methodcaller("group"), map(_VALUE, lines))]
    col.add_cidrs(values, numbers, lines)
    return []


def _digits(col: Collector, numbers: list[int], lines: list[str]) -> list[int]:
    """Digits and dots, not an address: a quad with a leading zero or a big octet, else invalid."""

    if col.zero_padded:  # padded quads are read as decimal, one by one
        return list(range(len(lines)))

    def reason(line: str) -> str | None:
        if LOOSE_QUAD.fullmatch(line):
            return judge_quad(line)[1]  # None (a valid address) cannot happen here: refused, to be safe
        return R.INVALID_IPV4

    events, refused = _by_reason(map(reason, lines))
    col.tally.count_batch(events, numbers, lines)
    return refused


def _ranges(col: Collector, numbers: list[int], lines: list[str]) -> list[int]:
    """``a.b.c.d-e.f.g.h``: both bounds read in bulk (:func:`~threatfeed.engine.ipv4.scan_address_lines` on the
    bounds one a line), judged in NumPy; a bound that is no valid address (rare) is judged alone for its reason."""
    if col.zero_padded:  # padded quads are read as decimal, one by one
        return list(range(len(lines)))
    events = interval_events()
    bounds = "-".join(lines).split("-")  # the shape has exactly one "-", and only digits and dots besides
    found = scan_address_lines("\n".join(bounds).encode("ascii"))
    valid = np.zeros(len(bounds), dtype=bool)
    value = np.zeros(len(bounds), dtype=np.int64)
    good = found.quad_at[~found.quad_over]
    valid[good] = True
    value[good] = found.quad_values[~found.quad_over]
    starts, ends = value[0::2], value[1::2]
    ok = valid[0::2] & valid[1::2] & (starts <= ends)
    for k in np.flatnonzero(~ok).tolist():  # in range order, as one by one
        reason = cast(str, range_verdict(bounds[2 * k], bounds[2 * k + 1], [])[1])  # a rejection carries it
        events.setdefault(reason, []).append(k)
    at = np.flatnonzero(ok)
    col.add_intervals(at, starts[at], ends[at], np.zeros(len(at), dtype=bool), events)
    col.tally.count_batch(events, numbers, lines)
    return []


def _urls(col: Collector, numbers: list[int], lines: list[str]) -> list[int]:
    """``hxxp://evil[.]example/x.php``: refanged (``defanged``), reduced to its host (``url_host``), a
    name. Hosts that would take another route (too long, not a name, defanged again) are refused."""
    hosts = map(methodcaller("group", 1), map(_URL_HOST, lines))
    names = list(map(str.lower, map(methodcaller("replace", "[.]", "."), hosts)))
    usable = map(and_, map(bool, map(NAME.fullmatch, names)), map(ge, repeat(253), map(len, names)))
    refused = list(compress(range(len(names)), map(not_, map(and_, usable, map(not_, map(looks_defanged, names))))))
    taken: Sequence[int]
    if refused:
        taken = without(range(len(names)), refused)
        names = without(names, refused)
    else:
        taken = range(len(names))
    events: dict[str, list[int]] = {R.RESERVED_DOMAIN: [], R.ALLOW_LISTED: [], R.ALLOW_LIST_OVERLAP: []}
    unlistable = name_verdicts(names)  # reserved, or not under a real public suffix
    if unlistable.count(None) != len(unlistable):
        for k, verdict in zip(taken, unlistable, strict=True):
            if verdict is not None:
                events.setdefault(verdict, []).append(k)
        keep = list(map(is_, unlistable, repeat(None)))
        taken, names = list(compress(taken, keep)), list(compress(names, keep))
    if not col.policy.allows_all_names():
        verdicts = list(map(col.policy.judge_domain, names))
        for k, verdict in zip(taken, verdicts, strict=True):
            if verdict is not None:
                events[verdict].append(k)
        keep = list(map(is_, verdicts, repeat(None)))
        taken, names = list(compress(taken, keep)), list(compress(names, keep))
    col.add_default_names(names)
    events[R.DEFANGED] = events[R.URL_HOST] = list(taken)
    col.tally.count_batch(events, numbers, lines)
    return refused


def _ipv6(col: Collector, numbers: list[int], lines: list[str]) -> list[int]:
    """IPv6 (counted, not supported) or garbage that looks like it. rbldnsd's default value lines
    (``:127.0.0.2:``) are refused: the one-line path skips them."""
    rbldnsd = [k for k, line in enumerate(lines) if _RBLDNSD_DEFAULT(line)] if "\n:" in "\n" + "\n".join(lines) else []
    if rbldnsd:
        keep = without(range(len(lines)), rbldnsd)
        handled = _ipv6(col, list(map(numbers.__getitem__, keep)), list(map(lines.__getitem__, keep)))
        return sorted([*rbldnsd, *map(keep.__getitem__, handled)])
    plain = [k for k, line in enumerate(lines) if "/" not in line and "%" not in line]
    reasons: list[str | None] = [None] * len(lines)
    if len(plain) == len(lines):
        _, bad = converted(lines, _inet_pton6)
        reasons = [R.IPV6_NOT_SUPPORTED] * len(lines)
    else:
        _, bad = converted(map(lines.__getitem__, plain), _inet_pton6)
        bad = [plain[b] for b in bad]
        for k in plain:
            reasons[k] = R.IPV6_NOT_SUPPORTED
        for k, line in enumerate(lines):
            if reasons[k] is None:
                reasons[k] = str(ipv6_verdict(line)[1])  # a rejection verdict carries its reason
    for k in bad:
        reasons[k] = R.UNRECOGNIZED
    events, refused = _by_reason(reasons)
    col.ipv6 += len(events.get(R.IPV6_NOT_SUPPORTED, ()))
    col.tally.count_batch(events, numbers, lines)
    return refused


def _words(col: Collector, numbers: list[int], lines: list[str]) -> list[int]:
    """Words: the first is the value, a single label (``malware botnet``), an AS number (``AS13335 CN``) or a
    digest followed by words."""
    named = list(map(_NAMED_WORD, lines))
    if named.count(None) == len(named):
        col.tally.count_many(R.SINGLE_LABEL_DOMAIN, len(lines), numbers, lines)
        return []
    reasons = [
        R.SINGLE_LABEL_DOMAIN if m is None else plain_reason(line.split()[0])
        for m, line in zip(named, lines, strict=True)
    ]
    events, refused = _by_reason(reasons)
    col.tally.count_batch(events, numbers, lines)
    return refused


def _plain(col: Collector, numbers: list[int], lines: list[str]) -> list[int]:
    """One token that cannot be an address, a name or a URL: a digest, a number, an AS number, a single label,
    or unrecognized (:func:`~threatfeed.engine.classify.plain_reason`)."""
    events, refused = _by_reason(_plain_reasons(lines))
    col.tally.count_batch(events, numbers, lines)
    return refused


#: Tokens :func:`~threatfeed.engine.classify.plain_reason` names by what they are (digests, numbers, AS numbers,
#: CVE ids): only those take the one-by-one call.
#: A line of words (the ``word`` shape) whose first word is one of those.
_NAMED_WORD = re.compile(
    r"(?:[0-9A-Fa-f]{32,64}|(?:AS|ASN)[0-9]{1,10}|CVE-[0-9]{4}-[0-9]{4,})[ \t]", re.IGNORECASE
).match
_NAMED_TOKEN = re.compile(
    r"[0-9A-Fa-f]{32,64}|[0-9]+|(?:AS|ASN)[0-9]{1,10}|CVE-[0-9]{4}-[0-9]{4,}", re.IGNORECASE
).fullmatch


def _plain_reasons(tokens: list[str]) -> list[str]:
    """:func:`~threatfeed.engine.classify.plain_reason` of each token: a single label or unrecognized, unless the
    token is a digest, a number, an AS number or a CVE id (those alone take the one-by-one call)."""
    reasons = [R.SINGLE_LABEL_DOMAIN if m else R.UNRECOGNIZED for m in map(LABEL, tokens)]
    named = list(map(_NAMED_TOKEN, tokens))
    if named.count(None) != len(named):
        for k in compress(range(len(tokens)), named):
            reasons[k] = plain_reason(tokens[k])
    return reasons


def _at(col: Collector, numbers: list[int], lines: list[str]) -> list[int]:
    """``user@host`` without dots: reduced to the host after the last ``@`` (as a URL's user info is),
    which has no dot either, so it is rejected: ``unrecognized`` when empty, else as ``normalize`` (or
    the digits rule) judges it. Lines that also look defanged are refused (refanging comes first)."""

    def reason(line: str) -> str | None:
        if looks_defanged(line):
            return None
        if line.startswith("@@"):  # an Adblock exception
            return R.EXCLUDED
        host = line.rpartition("@")[2]
        if not host:
            return R.UNRECOGNIZED
        if host.isdigit():
            return R.INVALID_IPV4
        return normalize(host)[1]

    events, refused = _by_reason(map(reason, lines))
    col.tally.count_batch(events, numbers, lines)
    return refused


_SHAPE_HANDLERS: dict[str, Callable[[Collector, list[int], list[str]], list[int]]] = {
    "cmt": _commented,
    "dd": _digits,
    "rng": _ranges,
    "url": _urls,
    "v6": _ipv6,
    "word": _words,
    "plain": _plain,
    "at": _at,
}
_GROUPS = (None, "name", "skip", *_SHAPE_HANDLERS)


def first_content_line(text: str) -> int:
    """Line number of the first line that is neither blank nor a comment (0 if none)."""
    for no, line in enumerate(text.split("\n", 200)[:200], 1):
        s = line.strip()
        if s and s[0] not in "#;" and not s.startswith("//"):
            return no
    return 0


def _txt_line(col: Collector, no: int, line: str) -> None:
    s = line.strip()
    if not s or s[0] in "#;" or s.startswith(("//", "! ", "!\t")) or s == "!":
        col.skip()
        return
    if s[0] in "$:![{" and _other_notation(col, no, s, line):
        return
    m = _INLINE_COMMENT(s)
    if m:
        s = s[: m.start()]
    tokens = s.split()
    if not tokens:
        col.skip()
        return
    # a column header as the first line of data ("Start End Netblock Attacks ..."): plain words only. Content
    # all the same: a body of nothing else was not understood.
    if no == col.first_content and len(tokens) >= 2 and all(t.replace("_", "").isalpha() for t in tokens):
        col.ignore()
        return
    first = tokens[0]
    if len(tokens) == 1:
        value = _first_field(first)
        shape = value.translate(_SHAPE)
        if shape in QUAD_SHAPES:
            col.add_quad(no, value, line)
        elif shape in CIDR_SHAPES:
            col.add_cidr_line(no, value, line)
        else:
            col.add(no, value, line)
        return
    second = tokens[1]
    if second == "-" and len(tokens) >= 3:  # "a.b.c.d - e.f.g.h"
        col.add(no, f"{first}-{tokens[2]}", line)
    elif LOOSE_QUAD.fullmatch(first) and LOOSE_QUAD.fullmatch(second):  # DShield: start end netblock ...
        col.add(no, f"{first}-{second}", line)
    elif first in HOSTS_SINKS:  # hosts file: "0.0.0.0 name [name ...]"
        for name in tokens[1:]:
            col.add(no, name, line)
    else:  # a value followed by free text
        col.add(no, _first_field(first), line)


#: rbldnsd data file lines that are no entry: ``$SOA``/``$NS``/``$TTL``/``$DATASET`` directives and the default
#: A and TXT value (``:127.0.0.2:Listed, see ...``); Adblock list headers and ``! `` comments.
_RBLDNSD_DIRECTIVE = re.compile(r"\$[A-Z]+\s").match
_RBLDNSD_DEFAULT = re.compile(r":[0-9]{1,3}(?:\.[0-9]{1,3}){3}:").match
_ADBLOCK_HEADER = re.compile(r"\[Adblock", re.IGNORECASE).match


def _other_notation(col: Collector, no: int, s: str, line: str) -> bool:
    """Lines of the rbldnsd and Adblock list notations that hold no entry, exclusions (``!name``) and JSON
    records in a text list; True when ``s`` (``line`` stripped) was one of them and has been counted."""
    if _RBLDNSD_DIRECTIVE(s) or _RBLDNSD_DEFAULT(s) or _ADBLOCK_HEADER(s):
        col.skip()
        return True
    if s[0] == "!" and "." in s and " " not in s:  # rbldnsd: the name is excluded from the zone
        col.reject(no, line, R.EXCLUDED)
        return True
    if s[0] == "{" and s.endswith("}"):  # a JSON record: the feed is JSON lines (format json)
        col.reject(no, line, R.UNSUPPORTED_FORMAT)
        return True
    return False


def _first_field(token: str) -> str:
    """``1.2.3.4,botnet`` -> ``1.2.3.4`` (a stray CSV row in a text list); URLs keep their commas."""
    if "," in token and "/" not in token:
        return token.split(",", 1)[0]
    return token

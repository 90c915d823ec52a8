"""Line-oriented text feeds: plain lists, hosts files, DShield ranges, Spamhaus DROP, Tor exit lists.

This is the hot path (most feeds, and the million-line benchmark, are plain text), so lines are sorted into
classes in bulk before any Python code looks at one: each chunk is translated once into "shapes" (every
non-zero digit becomes 9) and set lookups, run in C through ``map``, pick out the lines that are exactly a
dotted quad, exactly ``a.b.c.d/nn`` and (one regular expression, still through ``map``) exactly a
lower-case domain name. Each class goes to the collector in one call; only the lines no class recognised
(inline comments, ranges, URLs, defanged values, IPv6, garbage) are looked at one by one. Lines are
processed in chunks of about 1 MB so the list of line strings never holds a whole large feed at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from itertools import compress, product, repeat
from operator import add, not_
from typing import Any

from threatfeed.engine.classify import Collector
from threatfeed.engine.domains import NAME
from threatfeed.engine.ipv4 import LOOSE_QUAD

CHUNK_CHARS = 1 << 20
#: Line "shapes": every non-zero digit becomes 9, so ``203.0.113.7`` -> ``999.0.999.9``. One C-level
#: ``translate`` per chunk and a set lookup per line then find the lines that are exactly a dotted quad
#: (or ``a.b.c.d/nn``) with no leading zeros, without running a regular expression on every line.
_SHAPE = str.maketrans("123456789", "999999999")
_OCTET_SHAPES = ("0", "9", "99", "90", "999", "990", "909", "900")
QUAD_SHAPES = frozenset(".".join(p) for p in product(_OCTET_SHAPES, repeat=4))
CIDR_SHAPES = frozenset(f"{q}/{p}" for q in QUAD_SHAPES for p in ("0", "9", "99", "90"))
_INLINE_COMMENT = re.compile(r"[#;]|\s//").search
#: The address part of hosts-file lines ("0.0.0.0 evil.example"): the names are the indicators.
HOSTS_SINKS = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1", "0"})


def parse_txt(text: str, col: Collector, options: Mapping[str, Any], now: datetime) -> None:
    """Plain text: one indicator per line, comments ``#``, ``;``, ``//`` (whole-line or inline)."""

    def slow(no: int, line: str) -> None:
        _txt_line(col, no, line)

    _walk(text, col, slow)


def parse_tor(text: str, col: Collector, options: Mapping[str, Any], now: datetime) -> None:
    """Tor ``exit-addresses``: only ``ExitAddress <ip> <date> <time>`` lines carry indicators."""

    def slow(no: int, line: str) -> None:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "ExitAddress":
            col.add(no, parts[1], line)
        elif (parts and parts[0] in ("ExitNode", "Published", "LastStatus")) or not parts:
            col.skip()
        else:  # a plain address list served as "tor" (the bulk exit list) still works
            _txt_line(col, no, line)

    _walk(text, col, slow)


def _walk(text: str, col: Collector, slow: Callable[[int, str], None]) -> None:
    """Classify lines by shape in bulk, hand each class to the collector in one call, and loop in Python
    only over the lines no bulk class recognised."""
    if text.endswith("\n"):
        text = text[:-1]
    if not text:
        return
    col.first_content = _first_content_line(text)
    n = len(text)
    pos = 0
    base = 0
    while pos <= n:
        cut = text.find("\n", min(pos + CHUNK_CHARS, n))
        if cut == -1:
            cut = n
        chunk = text[pos:cut]
        lines = chunk.split("\n")
        shapes = chunk.translate(_SHAPE).split("\n")
        first = base + 1
        is_quad = list(map(QUAD_SHAPES.__contains__, shapes))
        if True in is_quad:
            col.add_quads(list(compress(lines, is_quad)), list(compress(range(first, first + len(lines)), is_quad)))
        rest = list(compress(range(len(lines)), map(not_, is_quad)))
        if rest:
            rest_lines = list(map(lines.__getitem__, rest))
            is_cidr = list(map(CIDR_SHAPES.__contains__, map(shapes.__getitem__, rest)))
            if True in is_cidr:
                col.add_cidrs(list(compress(rest_lines, is_cidr)), list(_numbers(compress(rest, is_cidr), first)))
                keep = list(map(not_, is_cidr))
                rest = list(compress(rest, keep))
                rest_lines = list(compress(rest_lines, keep))
            is_name = list(map(bool, map(NAME.fullmatch, rest_lines)))
            if True in is_name:
                col.add_names(list(compress(rest_lines, is_name)), list(_numbers(compress(rest, is_name), first)))
                keep = list(map(not_, is_name))
                rest = list(compress(rest, keep))
                rest_lines = list(compress(rest_lines, keep))
            for i, line in zip(rest, rest_lines, strict=True):
                if not line or line[0] in "#;":
                    col.skipped += 1
                else:
                    slow(first + i, line)
        base += len(lines)
        pos = cut + 1
    col.lines += base


def _first_content_line(text: str) -> int:
    """Line number of the first line that is neither blank nor a comment (0 if none)."""
    for no, line in enumerate(text.split("\n", 200)[:200], 1):
        s = line.strip()
        if s and s[0] not in "#;" and not s.startswith("//"):
            return no
    return 0


def _numbers(indexes: Iterable[int], first: int) -> Iterator[int]:
    return map(add, indexes, repeat(first))


def _txt_line(col: Collector, no: int, line: str) -> None:
    s = line.strip()
    if not s or s[0] in "#;" or s.startswith("//"):
        col.skip()
        return
    m = _INLINE_COMMENT(s)
    if m:
        s = s[: m.start()]
    tokens = s.split()
    if not tokens:
        col.skip()
        return
    # a column header as the first line of data ("Start End Netblock Attacks ..."): plain words only
    if no == col.first_content and len(tokens) >= 2 and all(t.replace("_", "").isalpha() for t in tokens):
        col.skip()
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


def _first_field(token: str) -> str:
    """``1.2.3.4,botnet`` -> ``1.2.3.4`` (a stray CSV row in a text list); URLs keep their commas."""
    if "," in token and "/" not in token:
        return token.split(",", 1)[0]
    return token

"""IPv4 text <-> integers, without ``ipaddress`` objects on the hot path.

Strictness lives in the regular expressions (decimal octets 0-255, no leading zeros), so the C helpers
``inet_aton``/``inet_ntoa`` only ever see canonical dotted quads; ``inet_aton`` alone would also accept
``1.2.3``, ``0x7f.1`` or octal ``010.0.0.1``, which feeds do not mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from socket import inet_aton, inet_ntoa

import numpy as np

OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
DOTTED = rf"{OCTET}\.{OCTET}\.{OCTET}\.{OCTET}"

#: A dotted quad of any 1-3 digit groups: matched loosely, then judged (so ``300.1.1.1`` is reported as an
#: invalid IPv4 address rather than "unrecognized").
LOOSE_QUAD = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")
LOOSE_CIDR = re.compile(r"(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})/(\S+)")
LOOSE_RANGE = re.compile(r"(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\s*-\s*(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})")
#: Dotted numbers that are not four octets: "1.2.3", "1.2.3.4.5": invalid addresses, not domains.
DIGITS_AND_DOTS = re.compile(r"[\d.]+")
STRICT_QUAD = re.compile(DOTTED)


def to_int(dotted: str) -> int:
    """Canonical dotted quad (already validated) -> int."""
    return int.from_bytes(inet_aton(dotted), "big")


def to_text(value: int) -> str:
    """int -> dotted quad."""
    return inet_ntoa(value.to_bytes(4, "big"))


def judge_quad(text: str) -> tuple[int | None, str | None]:
    """``(address, None)`` for a valid dotted quad, ``(None, reason)`` otherwise; ``text`` matched
    :data:`LOOSE_QUAD`."""
    if STRICT_QUAD.fullmatch(text):
        return to_int(text), None
    parts = text.split(".")
    if any(int(p) > 255 for p in parts):
        return None, "invalid_ipv4"
    return None, "leading_zero"


def prefix_from_text(text: str) -> int | None:
    """The prefix length of ``/24`` or ``/255.255.255.0``; None if invalid (``/33``, holes in a mask)."""
    if text.isdigit():
        if len(text) > 2 or (len(text) == 2 and text[0] == "0"):
            return None
        value = int(text)
        return value if value <= 32 else None
    if STRICT_QUAD.fullmatch(text):
        mask = to_int(text)
        inverted = ~mask & 0xFFFFFFFF
        if inverted & (inverted + 1):  # not of the form 0..01..1: holes in the mask
            return None
        return 32 - inverted.bit_length()
    return None


def _words(texts: list[str]) -> np.ndarray:
    """Each of ``texts`` (at most 4 ASCII bytes) as one little-endian 32-bit word, padded with NUL."""
    return np.array([int.from_bytes(t.encode().ljust(4, b"\0"), "little") for t in texts], dtype="<u4")


#: For :func:`block_text`: the first three octets with their dot, the last octet, and each ``/prefix`` suffix
#: (none for /32), each padded with NUL to one 32-bit word (no entry contains NUL: the padding is dropped afterwards).
_OCTET_DOT_WORDS = _words([f"{i}." for i in range(256)])
_OCTET_WORDS = _words([str(i) for i in range(256)])
_SUFFIX_WORDS = _words([f"/{p}" if p < 32 else "" for p in range(33)])


def block_text(networks: np.ndarray, prefixes: np.ndarray) -> bytes:
    """List entries for CIDR blocks as one ASCII text, each ending in a newline: a bare address for a /32 (the form
    every GuardDuty example uses), else ``network/prefix``. Each entry is laid out in a row of five 32-bit words
    (three octets with their dot, the last octet, the suffix and its newline), each word taken whole from a
    lookup table above, and dropping the padding leaves the entries: no Python object per entry (a word per
    part, not a byte, is what makes the lookups cheap)."""
    n = len(networks)
    if not n:
        return b""
    rows = np.empty((n, 5), dtype="<u4")
    rows[:, 0] = _OCTET_DOT_WORDS[networks >> 24]
    rows[:, 1] = _OCTET_DOT_WORDS[(networks >> 16) & 255]
    rows[:, 2] = _OCTET_DOT_WORDS[(networks >> 8) & 255]
    rows[:, 3] = _OCTET_WORDS[networks & 255]
    rows[:, 4] = _SUFFIX_WORDS[prefixes]
    flat = rows.view(np.uint8).ravel()
    flat[19::20] = ord("\n")  # a suffix is 3 bytes at most: the word's last byte is free for the newline
    text: bytes = flat[flat != 0].tobytes()
    return text


@dataclass(frozen=True)
class AddressLines:
    """The lines of a text (split on ``\\n``) that are exactly ``a.b.c.d`` or ``a.b.c.d/nn``, octets of 1-3
    digits and a prefix of 1-2, none with a leading zero (the shapes the text parser takes in bulk).

    ``*_at`` are line positions (ascending); ``*_values`` the addresses, meaningful where ``*_over`` is False
    (an octet over 255 makes the line an invalid address of the same shape); ``cidr_prefixes`` the prefix
    lengths as written (0-99: one over 32 is the caller's rejection to count). ``line_ends``: where each line
    ends (its newline, or the end of the text), after a virtual ``-1`` before the text: line ``i`` is
    ``data[line_ends[i] + 1 : line_ends[i + 1]]`` (the scan finds them anyway; the text parser reuses them)."""

    lines: int
    quad_at: np.ndarray
    quad_values: np.ndarray
    quad_over: np.ndarray
    cidr_at: np.ndarray
    cidr_values: np.ndarray
    cidr_prefixes: np.ndarray
    cidr_over: np.ndarray
    line_ends: np.ndarray = field(default_factory=lambda: np.array([-1, 0]))


def scan_address_lines(data: bytes) -> AddressLines:
    """Find and convert the address lines of ``data`` (UTF-8) with no Python object per line or per byte.

    Every byte below ``'0'`` is a separator (newline, blank, dot, slash, punctuation); one pass finds them
    all. A line is a candidate when exactly its 3 (dotted quad) or 4 (CIDR) inner separators are dots (and
    the slash); its octets and prefix are then the runs between those separators, each checked (1-3
    digits, no leading zero) and converted from at most 3 gathered bytes."""
    buf = np.frombuffer(data + b"\0\0\0", dtype=np.uint8)  # padded: 3-byte gathers never run off the end
    n = len(data)
    inner = np.flatnonzero(buf[:n] < 48)
    # a virtual line end before the text and after it: line i runs between line ends i and i + 1
    sep = np.concatenate(([-1], inner, [n]))
    kind = np.concatenate(([10], buf[inner], [10]))
    ends = np.flatnonzero(kind == 10)
    count = np.diff(ends) - 1  # separators inside each line

    def part(start: np.ndarray, width: np.ndarray, widest: int, ok: np.ndarray) -> np.ndarray:
        """The decimal number of ``width`` digits at ``start``; clears ``ok`` where it is not 1-``widest``
        digits without a leading zero."""
        c0, c1, c2 = buf[start], buf[start + 1], buf[start + 2]
        d0, d1, d2 = (c.astype(np.int32) - 48 for c in (c0, c1, c2))
        digit0, digit1, digit2 = (c - np.uint8(48) < 10 for c in (c0, c1, c2))
        ok &= digit0 & (digit1 | (width < 2)) & (digit2 | (width < 3))
        ok &= (width >= 1) & (width <= widest) & ((width == 1) | (d0 != 0))
        values: np.ndarray = np.where(width == 1, d0, np.where(width == 2, d0 * 10 + d1, d0 * 100 + d1 * 10 + d2))
        return values

    def parse(separators: int) -> tuple[np.ndarray, ...]:
        lines = np.flatnonzero(count == separators)
        first = ends[lines]  # index in sep of the line end before each line
        ok = (kind[first + 1] == 46) & (kind[first + 2] == 46) & (kind[first + 3] == 46)
        if separators == 4:
            ok &= kind[first + 4] == 47
        bounds = [sep[first + k] for k in range(separators + 2)]
        value = np.zeros(len(lines), dtype=np.int64)
        over = np.zeros(len(lines), dtype=bool)
        for k in range(4):
            octet = part(bounds[k] + 1, bounds[k + 1] - bounds[k] - 1, 3, ok)
            over |= octet > 255
            value = (value << 8) | (octet & 255)
        prefix = np.zeros(len(lines), dtype=np.int32)
        if separators == 4:
            prefix = part(bounds[4] + 1, bounds[5] - bounds[4] - 1, 2, ok)
        return lines[ok], value[ok], over[ok], prefix[ok]

    quad_at, quad_values, quad_over, _ = parse(3)
    cidr_at, cidr_values, cidr_over, cidr_prefixes = parse(4)
    return AddressLines(
        lines=len(ends) - 1,
        quad_at=quad_at,
        quad_values=quad_values.astype(np.uint32),
        quad_over=quad_over,
        cidr_at=cidr_at,
        cidr_values=cidr_values,
        cidr_prefixes=cidr_prefixes,
        cidr_over=cidr_over,
        line_ends=sep[ends],
    )

"""IPv4 text <-> integers, without ``ipaddress`` objects on the hot path.

Strictness lives in the regular expressions (decimal octets 0-255, no leading zeros), so the C helpers
``inet_aton``/``inet_ntoa`` only ever see canonical dotted quads; ``inet_aton`` alone would also accept
``1.2.3``, ``0x7f.1`` or octal ``010.0.0.1``, which feeds do not mean.
"""

from __future__ import annotations

import re
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


def block_text(network: int, prefix: int) -> str:
    """One list entry: a bare address for a /32 (the form every GuardDuty example uses), else CIDR."""
    if prefix == 32:
        return inet_ntoa(network.to_bytes(4, "big"))
    return f"{inet_ntoa(network.to_bytes(4, 'big'))}/{prefix}"


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


#: For :func:`block_texts`: each octet's digits and each ``/prefix`` suffix (none for /32) in 3 bytes,
#: padded with NUL (which no entry contains: the padding is dropped afterwards).
_OCTET_BYTES = np.array([list(str(i).encode().ljust(3, b"\0")) for i in range(256)], dtype=np.uint8)
_SUFFIX_BYTES = np.array([list((f"/{p}" if p < 32 else "").encode().ljust(3, b"\0")) for p in range(33)], np.uint8)


def block_texts(networks: np.ndarray, prefixes: np.ndarray) -> list[str]:
    """:func:`block_text` for many blocks at once: each entry is laid out in a fixed-width row (octets and
    suffix padded), every row is filled column by column from the lookup tables above, and dropping the
    padding leaves the entries separated by newlines: no Python object per entry until the final split."""
    n = len(networks)
    if not n:
        return []
    rows = np.zeros((n, 19), dtype=np.uint8)
    for k, shift in enumerate((24, 16, 8, 0)):
        rows[:, 4 * k : 4 * k + 3] = _OCTET_BYTES[(networks >> shift) & 255]
        rows[:, 4 * k + 3] = ord(".")
    rows[:, 15:18] = _SUFFIX_BYTES[prefixes]
    rows[:, 18] = ord("\n")
    flat = rows.ravel()
    return flat[flat != 0].tobytes().decode("ascii").split("\n")[:-1]

"""Domain names: normalization (IDNA to punycode, lower case, trailing dot) and the validity rules.

GuardDuty entity lists match names as DNS sees them, so every name is reduced to its ASCII (punycode),
lower-case, dot-less-root form; two spellings of one name then dedupe to one entry. Names a public
resolver can never answer for (single labels, special-use TLDs, documentation names) are rejected: they
would only ever match noise.
"""

from __future__ import annotations

import re
from itertools import repeat

import idna

from threatfeed.engine import reasons as R

#: LDH labels (RFC 1035/1123), a final label that is alphabetic or an IDNA A-label; optional "*." label.
#: The labels are matched possessively (``++``): the final label holds no dot, so giving a label back can
#: never make a full match, and digit-led lines that are not names ("1.2.3.4-...") fail without
#: backtracking through every split of their labels.
NAME = re.compile(r"(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)++(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})")

#: One LDH label (a single-label "name" such as "localhost").
LABEL = re.compile(r"[a-zA-Z0-9-]+").fullmatch

#: Special-use and private-use top-level names (RFC 2606, 6761, 6762, 7686, ICANN ".internal").
RESERVED_TLDS = frozenset(
    {"local", "localhost", "test", "example", "invalid", "onion", "internal", "arpa", "localdomain", "alt"}
)
#: Documentation names (RFC 2606): feeds and samples use them as placeholders.
RESERVED_NAMES = frozenset({"example.com", "example.net", "example.org"})
#: Suffixes that mark a reserved name, for ``str.endswith`` (one C call per name in the bulk path).
RESERVED_SUFFIXES = tuple(sorted("." + t for t in RESERVED_TLDS)) + tuple(sorted("." + n for n in RESERVED_NAMES))


def normalize(value: str) -> tuple[str | None, str | None, bool]:
    """``(name, None, used_idna)`` for a valid name, ``(None, reason, False)`` otherwise."""
    name = value.strip()
    if name.endswith("."):
        name = name[:-1]
    name = name.lower()
    used_idna = False
    if not name.isascii():
        ascii_name = to_ascii(name)
        if ascii_name is None:
            return None, R.INVALID_DOMAIN, False
        name, used_idna = ascii_name, True
    if NAME.fullmatch(name):
        if len(name) > 253:
            return None, R.DOMAIN_TOO_LONG, False
        if reserved(name):
            return None, R.RESERVED_DOMAIN, False
        return name, None, used_idna
    return None, _diagnose(name), False


#: Characters IDNA 2003 maps away (to "ss", a plain sigma, or nothing) where IDNA 2008 keeps them: the two name
#: different domains for a name holding one (sharp s, final sigma, the zero-width joiner and non-joiner).
_DEVIATIONS = frozenset("\u00df\u03c2\u200c\u200d")


def to_ascii(name: str) -> str | None:
    """The A-label form of an internationalized name, as clients resolve it, or None when it has none.

    That is IDNA 2008 with the UTS #46 mapping, non-transitional (what browsers and current resolvers
    use): ``faß.de`` is ``xn--fa-hia.de``; IDNA 2003 (Python's own ``idna`` codec) would give ``fass.de``, a
    different domain, so it would block a name nobody listed. Symbols such as emoji are not valid IDNA 2008
    but are registered and resolved all the same (UTS #46 allows them): only those fall back to IDNA 2003,
    which encodes them identically, unless the name holds a character the two standards map differently."""
    try:
        return idna.encode(name, uts46=True, transitional=False).decode("ascii")
    except idna.InvalidCodepoint:
        if _DEVIATIONS.intersection(name):
            return None
        try:
            return name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    except (idna.IDNAError, UnicodeError):
        return None


def reserved(name: str) -> bool:
    return name.endswith(RESERVED_SUFFIXES) or name in RESERVED_NAMES


def _diagnose(name: str) -> str:
    if "*" in name:
        return R.INVALID_WILDCARD
    labels = name.split(".")
    if len(name) > 253 or any(len(label) > 63 for label in labels):
        return R.DOMAIN_TOO_LONG
    if len(labels) == 1:
        return R.SINGLE_LABEL_DOMAIN if LABEL(name) else R.UNRECOGNIZED
    return R.INVALID_DOMAIN


def parents(name: str) -> list[str]:
    """``a.b.example.org`` -> ``["b.example.org", "example.org", "org"]`` (strict parents)."""
    out = []
    pos = name.find(".")
    while pos != -1:
        out.append(name[pos + 1 :])
        pos = name.find(".", pos + 1)
    return out


def collapse_wildcards(names: set[str]) -> set[str]:
    """Drop names a listed wildcard already covers: ``*.x.org`` covers ``a.x.org`` and ``*.a.x.org`` (not
    ``x.org`` itself), so those entries would only cost list space."""
    if True not in map(str.startswith, names, repeat("*.")):
        return names
    bases = {n[2:] for n in names if n.startswith("*.")}
    kept = set()
    for n in names:
        plain = n[2:] if n.startswith("*.") else n
        if any(p in bases for p in parents(plain)):
            continue
        kept.add(n)
    return kept

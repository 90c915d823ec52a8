"""Domain names: normalization (IDNA to punycode, lower case, trailing dot) and the validity rules.

GuardDuty entity lists match names as DNS sees them, so every name is reduced to its ASCII (punycode),
lower-case, dot-less-root form; two spellings of one name then dedupe to one entry. Names a public
resolver can never answer for (single labels, special-use TLDs, documentation names) are rejected: they
would only ever match noise.

A name must also end in a real public suffix: its last label must be a top-level domain of the Public
Suffix List (``payload.js``, ``invoice.pdf`` and ``xmlhttp.onreadystatechange`` look like names but are file
names and code, and a list slot spent on them is a slot lost), and it must not *be* an ICANN public suffix
(``co.uk``; ``*.co.uk`` would cover every name under it). The list is the one bundled in the pinned
``publicsuffixlist`` package (no download at run time); :func:`suffix_list_version` names it for the
manifest. It is read once, on the first name judged (:func:`suffix_list`, about 30 ms once per process), not when
the module is imported: the transform's cold import stays lean, and a run without names never reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from itertools import compress, repeat
from operator import itemgetter, not_, or_

import idna
import numpy as np
import publicsuffixlist  # the module is small: its list is read (by suffix_list) only when a name is judged

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


#: File extensions that are no top-level domain: a "name" ending in one is a file name (``payload.js``). Only
#: used to word the rejection (``file_name`` rather than ``unknown_tld``); a real TLD (``.zip``, ``.py``) is
#: never rejected for it.
FILE_EXTENSIONS = frozenset(
    (  # noqa: SIM905 - a word list reads best as words
        "apk asp aspx bat bin cfg cgi class cmd conf cpl csv dat dll doc docm docx elf exe gif gz hta htm html ico "
        "img ini iso jar jpeg jpg js jse json jsp lnk log msi ocx pdf php pif png ppt pptx rar rtf scr svg sys tar tgz "
        "tmp txt vbe vbs wsf xls xlsm xlsx xml"
    ).split()
)


@dataclass(frozen=True)
class SuffixList:
    """What the engine needs of the Public Suffix List, as sets (one C-speed lookup per name).

    ``tlds``: the last label of every rule (ICANN and private sections, punycode too); ``icann``: the exact
    ICANN suffixes, the bases of wildcard rules included; ``wild``: ``X`` of every ICANN rule ``*.X`` (so
    every ``label.X`` is a suffix) and ``exceptions`` its ``!`` rules; ``wild_tlds``: the last labels of
    ``wild`` (only names under them need the per-name wildcard test)."""

    version: str
    tlds: frozenset[str]
    icann: frozenset[str]
    wild: frozenset[str]
    exceptions: frozenset[str]
    wild_tlds: frozenset[str]
    #: ``tlds`` less ``wild_tlds`` and the reserved TLDs: a name under one of them, not ``*.``, not in ``icann``
    #: and not under an ``example.`` name, is fine.
    plain_tlds: frozenset[str]
    #: ``tlds`` less the reserved TLDs.
    listable_tlds: frozenset[str]
    #: ``plain_tlds`` of up to 8 ASCII characters as sorted integer keys (:func:`tld_key`), and for each whether
    #: ICANN rules of several labels end in it (``com.cn``): only names under those can be an ICANN suffix.
    plain_keys: np.ndarray
    plain_multi: np.ndarray

    def is_icann_suffix(self, name: str) -> bool:
        if name in self.icann:
            return True
        parent = name.partition(".")[2]
        return parent in self.wild and name not in self.exceptions


def _ascii(rule: str) -> str:
    """A rule's labels in punycode (names are judged in their ASCII form)."""
    try:
        return rule.encode("idna").decode("ascii")
    except UnicodeError:
        return rule


@cache
def suffix_list() -> SuffixList:
    """The bundled Public Suffix List, read once."""
    tlds: set[str] = set()
    icann: set[str] = set()
    wild: set[str] = set()
    exceptions: set[str] = set()
    in_icann = False
    with open(publicsuffixlist.PSLFILE, encoding="utf-8") as data:
        for raw in data:
            line = raw.strip()
            if line.startswith("//"):
                if "===BEGIN ICANN DOMAINS===" in line:
                    in_icann = True
                elif "===END ICANN DOMAINS===" in line:
                    in_icann = False
                continue
            rule = line.split(" ", 1)[0].lower()
            if not rule:
                continue
            bare = rule.lstrip("!").removeprefix("*.")
            names = (bare,) if bare.isascii() else (bare, _ascii(bare))
            tlds.update(n.rpartition(".")[2] for n in names)
            if not in_icann:
                continue
            if rule.startswith("!"):
                exceptions.update(names)
            elif rule.startswith("*."):
                wild.update(names)
                icann.update(names)  # the base of a wildcard rule is a suffix too
            else:
                icann.update(names)
    wild_tlds = {w.rpartition(".")[2] for w in wild}
    multi_tlds = {rule.rpartition(".")[2] for rule in icann if "." in rule}
    short = (t for t in tlds - wild_tlds - RESERVED_TLDS if t.isascii() and len(t) <= 8)
    plain = sorted((tld_key(t), t in multi_tlds) for t in short)
    return SuffixList(
        version=str(getattr(publicsuffixlist, "__version__", "unknown")),
        tlds=frozenset(tlds),
        icann=frozenset(icann),
        wild=frozenset(wild),
        exceptions=frozenset(exceptions),
        wild_tlds=frozenset(wild_tlds),
        plain_tlds=frozenset(tlds - wild_tlds - RESERVED_TLDS),
        listable_tlds=frozenset(tlds - RESERVED_TLDS),
        plain_keys=np.array([key for key, _ in plain], dtype=np.uint64),
        plain_multi=np.array([multi for _, multi in plain], dtype=bool),
    )


def suffix_list_version() -> dict[str, str]:
    """Which Public Suffix List judged the names (for the manifest): the package, its version and the date of
    the list it bundles (the version's last part)."""
    version = str(getattr(publicsuffixlist, "__version__", "unknown"))
    date = version.rsplit(".", 1)[-1]
    listed = f"{date[:4]}-{date[4:6]}-{date[6:]}" if len(date) == 8 and date.isdigit() else "unknown"
    return {"package": "publicsuffixlist", "version": version, "list_date": listed}


def suffix_verdict(name: str) -> str | None:
    """Why a well-formed, lower-case ASCII name (``*.`` allowed) does not end in a real public suffix, or
    None: ``file_name`` / ``unknown_tld`` when its last label is no TLD, ``public_suffix`` when it (or a
    wildcard's base) is an ICANN public suffix itself."""
    psl = suffix_list()
    tld = name.rpartition(".")[2]
    if tld not in psl.tlds:
        return R.FILE_NAME if tld in FILE_EXTENSIONS else R.UNKNOWN_TLD
    return R.PUBLIC_SUFFIX if psl.is_icann_suffix(name.removeprefix("*.")) else None


_LAST = itemgetter(2)


def name_verdict(name: str) -> str | None:
    """Why a well-formed, lower-case ASCII name (``*.`` allowed) may not be listed: ``reserved_domain``, or
    :func:`suffix_verdict`'s reasons; None when it may."""
    return R.RESERVED_DOMAIN if reserved(name) else suffix_verdict(name)


def name_verdicts(names: list[str]) -> list[str | None]:
    """:func:`name_verdict` of many names. The common case (a TLD neither reserved nor with wildcard rules, no
    ``*.``, no ``example.``, not a suffix itself) is told by a few lookups per name at C speed; only the others
    are judged one by one."""
    psl = suffix_list()
    joined = "\n".join(names)
    simple, multi = _tld_classes(joined, len(names), psl)
    out: list[str | None] = [None] * len(names)
    odd: set[int] = set()
    if "example." in joined:
        odd.update(compress(range(len(names)), map(str.__contains__, names, repeat("example."))))
    others = np.flatnonzero(~(simple | multi)).tolist()
    if others:  # an unknown or long TLD, or one with wildcard rules (uk: *.sch.uk): is the parent a wildcard base?
        subset = list(map(names.__getitem__, others))
        known = map(psl.listable_tlds.__contains__, map(_LAST, map(str.rpartition, subset, repeat("."))))
        parents = map(_LAST, map(str.partition, subset, repeat(".")))
        odd.update(compress(others, map(or_, map(not_, known), map(psl.wild.__contains__, parents))))
        odd.update(compress(others, map(psl.icann.__contains__, subset)))
    # Only under a TLD with multi-label ICANN rules (cn: com.cn) can a name of two labels or more be a suffix.
    maybe = np.flatnonzero(multi).tolist()
    odd.update(compress(maybe, map(psl.icann.__contains__, map(names.__getitem__, maybe))))
    if "*" in joined:
        odd.update(k for k, name in enumerate(names) if name.startswith("*."))
    for k in odd:
        out[k] = name_verdict(names[k])
    return out


def _tld_classes(joined: str, count: int, psl: SuffixList) -> tuple[np.ndarray, np.ndarray]:
    """For each of the ``count`` names of ``joined`` (newline-separated), whether it ends in a TLD of
    ``psl.plain_tlds`` without (``simple``) or with (``multi``) multi-label ICANN rules under it, found without a
    Python object per name: the last label of each name is read from the bytes with NumPy, packed into an integer
    (TLDs of up to 8 letters; longer ones are in neither and judged one by one) and looked up in
    :attr:`SuffixList.plain_keys`. Non-ASCII text (never a well-formed name) is in neither."""
    neither = np.zeros(count, dtype=bool)
    try:
        data = joined.encode("ascii")
    except UnicodeEncodeError:
        return neither, neither
    buf = np.frombuffer(data + b"\n" + bytes(8), dtype=np.uint8)
    size = len(data) + 1
    ends = np.flatnonzero(buf[:size] == 10)  # the newline after each name
    dots = np.flatnonzero(buf[:size] == 46)
    if len(ends) != count or not len(dots):
        return neither, neither
    last_dot = dots[np.maximum(np.searchsorted(dots, ends) - 1, 0)]
    previous_end = np.concatenate(([-1], ends[:-1]))
    start = last_dot + 1
    length = ends - start
    key = np.zeros(count, dtype=np.uint64)
    for k in range(8):
        byte = buf[start + k].astype(np.uint64)
        byte[length <= k] = 0
        key |= byte << np.uint64(8 * k)
    keys = psl.plain_keys
    slot = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
    found = (keys[slot] == key) & (length <= 8) & (last_dot > previous_end)
    multi = psl.plain_multi[slot]
    return found & ~multi, found & multi


def tld_key(tld: str) -> int:
    """A TLD of up to 8 ASCII letters packed into an integer, as :func:`_plain_tld` reads it from bytes."""
    return int.from_bytes(tld.encode("ascii").ljust(8, b"\0"), "little")


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
        problem = suffix_verdict(name)
        if problem is not None:
            return None, problem, False
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

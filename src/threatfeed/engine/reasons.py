"""Why a line was rejected or corrected, and the bookkeeping that counts it.

Every candidate value a feed yields ends up either *accepted* (it contributed at least one indicator) or
*rejected*, and every rejection carries exactly one reason, so ``rejected == sum of rejection reasons`` in
each feed's stats: the manifest can then explain every missing indicator. A few reasons are *corrections*
(the value was accepted after an adjustment, e.g. host bits cleared): they are counted in the same
``reasons`` mapping because operators want to see them next to the rejections, but they never count as
rejected. Samples keep the first few offending lines per reason so a bad feed can be diagnosed from the
manifest alone, without downloading the raw body again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: How many sample lines are kept per reason.
SAMPLES_PER_REASON = 5
#: Sample text is cut to this many characters (a single garbage line can be megabytes long).
SAMPLE_TEXT_CHARS = 200

# --- rejections -------------------------------------------------------------------------------------------
INVALID_IPV4 = "invalid_ipv4"  # dotted quad with an octet > 255, too few octets, ...
LEADING_ZERO = "leading_zero"  # 010.1.2.3 is octal to inet_aton and decimal to humans: ambiguous
INVALID_PREFIX = "invalid_prefix"  # /33, a non-contiguous netmask, ...
INVALID_RANGE = "invalid_range"  # start after end
PREFIX_TOO_BROAD = "prefix_too_broad"  # broader than EngineSettings.min_prefix_len
BOGON = "bogon"  # entirely inside reserved, private or otherwise unroutable space
ALLOW_LISTED = "allow_listed"  # entirely covered by the allow-list
ALLOW_LIST_OVERLAP = "allow_list_overlap"  # a wildcard domain that covers an allow-listed name
IPV6_NOT_SUPPORTED = "ipv6_not_supported"  # GuardDuty lists take IPv4 only
INVALID_DOMAIN = "invalid_domain"  # bad characters, empty label, hyphen rules, numeric TLD
DOMAIN_TOO_LONG = "domain_too_long"  # more than 253 characters (or a label over 63)
SINGLE_LABEL_DOMAIN = "single_label_domain"  # "localhost", "intranet": not a public name
RESERVED_DOMAIN = "reserved_domain"  # .local, .test, .onion, example.com, ...
INVALID_WILDCARD = "invalid_wildcard"  # "*" anywhere but a whole leading label
UNRECOGNIZED = "unrecognized"  # not an indicator at all
UNSUPPORTED_PATTERN = "unsupported_pattern"  # STIX pattern with nothing a list can carry
REVOKED = "revoked"  # STIX revoked / MISP deleted: also retracted from earlier runs
EXPIRED = "expired"  # STIX valid_until in the past: also retracted from earlier runs
NOT_YET_VALID = "not_yet_valid"  # STIX valid_from in the future
NOT_TO_IDS = "not_to_ids"  # MISP attribute not flagged for detection
EMPTY_VALUE = "empty_value"  # a record whose indicator field is empty
NO_INDICATOR_COLUMN = "no_indicator_column"  # a CSV whose header names no indicator column (a hash feed?)
#: ``warninglist:<list>``: benign infrastructure a MISP warninglist (or a user's own list) holds, one reason per
#: list (threatfeed.engine.warninglists)
WARNINGLIST_PREFIX = "warninglist:"
UNKNOWN_TLD = "unknown_tld"  # a name whose last label is no TLD of the Public Suffix List (xmlhttp.onreadystatechange)
FILE_NAME = "file_name"  # a "name" ending in a file extension that is no TLD (payload.js, invoice.pdf)
PUBLIC_SUFFIX = "public_suffix"  # an ICANN public suffix itself (co.uk, *.co.uk): nobody's name
ASN = "asn"  # an AS number (AS13335): a network operator, not an address a list can hold
NUMBER = "number"  # a bare number (a count, an AS number, an integer address): not an indicator
HASH = "hash"  # an MD5, SHA-1 or SHA-256 digest: a file indicator, not a network one
EMAIL_ADDRESS = "email_address"  # user@example.net: a mailbox, not a host to list
EXCLUDED = "excluded"  # an exclusion entry (rbldnsd "!name", Adblock "@@||name^"): not a listing
UNSUPPORTED_FORMAT = "unsupported_format"  # a line of another format (a JSON record or an Adblock rule in a text list)
KIND_FILTERED = "kind_filtered"  # a valid indicator of a kind the feed's options.kinds leaves out
INVALID_JSON = "invalid_json"  # a line of a JSON lines body that is no JSON
CVE = "cve"  # a vulnerability id (CVE-2026-12345), as IOC documents carry them
URL_PATH = "url_path"  # a URL path without a host (/gate.php): nothing a list can hold

# --- corrections (accepted after an adjustment) ------------------------------------------------------------
HOST_BITS_SET = "host_bits_set"  # 192.0.2.7/24 -> 192.0.2.0/24
BOGON_CARVED = "bogon_carved"  # a range that overlaps reserved space: that part is cut out
ALLOW_LIST_CARVED = "allow_list_carved"  # a range that overlaps the allow-list: that part is cut out
DEFANGED = "defanged"  # 1.2.3[.]4, hxxp://, [dot]
URL_HOST = "url_host"  # a URL (or host:port) reduced to its host
IDNA = "idna"  # an internationalized name converted to punycode
INVALID_UTF8 = "invalid_utf8"  # the line had bytes that are not UTF-8 (replaced before parsing)
NUL_BYTES = "nul_bytes"  # the line had NUL bytes (removed before parsing)
ZERO_PADDED = "zero_padded"  # 109.230.155.061 read as decimal, where the feed declares zero-padded octets
SUBDOMAINS = "subdomains"  # ".evil.example" / "||evil.example^": the name and its subdomains (name and *.name)

CORRECTIONS = frozenset(
    {
        HOST_BITS_SET,
        BOGON_CARVED,
        ALLOW_LIST_CARVED,
        DEFANGED,
        URL_HOST,
        IDNA,
        INVALID_UTF8,
        NUL_BYTES,
        ZERO_PADDED,
        SUBDOMAINS,
    }
)


def is_correction(reason: str) -> bool:
    """True when ``reason`` describes an accepted-after-adjustment value, not a rejection."""
    return reason in CORRECTIONS


class Tally:
    """Counts reasons for one feed and keeps the first samples of each.

    Kept separate from the parsers so every format reports in exactly the same shape.
    """

    __slots__ = ("feed", "reasons", "samples")

    def __init__(self, feed: str) -> None:
        self.feed = feed
        self.reasons: dict[str, int] = {}
        self.samples: dict[str, list[dict[str, Any]]] = {}

    def count(self, reason: str, line: int, text: str, n: int = 1) -> None:
        """Count ``n`` occurrences of ``reason``; keep ``text`` as a sample while there is room."""
        self.reasons[reason] = self.reasons.get(reason, 0) + n
        kept = self.samples.setdefault(reason, [])
        if len(kept) < SAMPLES_PER_REASON:
            kept.append(
                {"feed": self.feed, "line": line, "text": clip(text), "reason": reason},
            )

    def add_count(self, reason: str, n: int) -> None:
        """Count ``n`` occurrences without samples (see :meth:`add_sample`)."""
        if n:
            self.reasons[reason] = self.reasons.get(reason, 0) + n

    def add_sample(self, reason: str, line: int, text: str) -> None:
        """Offer a sample found out of line order: the lowest line numbers are kept."""
        kept = self.samples.setdefault(reason, [])
        kept.append({"feed": self.feed, "line": line, "text": clip(text), "reason": reason})
        kept.sort(key=lambda s: s["line"])
        del kept[SAMPLES_PER_REASON:]

    def count_many(self, reason: str, n: int, lines: Iterable[int], texts: Iterable[str]) -> None:
        """Count ``n`` values under ``reason``; the first of ``lines``/``texts`` become samples."""
        if n <= 0:
            return
        self.reasons[reason] = self.reasons.get(reason, 0) + n
        kept = self.samples.setdefault(reason, [])
        for line, text in zip(lines, texts, strict=False):
            if len(kept) >= SAMPLES_PER_REASON:
                break
            kept.append({"feed": self.feed, "line": line, "text": clip(text), "reason": reason})

    def count_batch(self, events: Mapping[str, list[int]], lines: Sequence[int], texts: Sequence[str]) -> None:
        """Count what one batch of values produced, as if they had been counted one by one in batch order.

        ``events`` maps each reason to the positions (indexes into ``lines`` and ``texts``) of the values it
        applies to, ascending. Reasons new to the tally are entered in the order of their first position;
        ties (several reasons of one value) keep the order of ``events``, which lists a value's reasons in
        the order the one-by-one path notes them.
        """
        firsts = sorted((idx[0], order, reason) for order, (reason, idx) in enumerate(events.items()) if idx)
        for _, _, reason in firsts:
            idx = events[reason]
            self.count_many(reason, len(idx), map(lines.__getitem__, idx), map(texts.__getitem__, idx))

    def absorb(self, parts: Sequence[Tally]) -> None:
        """Fold in tallies that each counted, in line order, their own share of one run of lines: the result
        is what counting the whole run in line order into this tally gives (same counts, same first samples
        per reason, new reasons entered in the order of their first line)."""
        firsts = []
        for p, part in enumerate(parts):
            for order, reason in enumerate(part.reasons):
                kept = part.samples.get(reason)
                firsts.append((kept[0]["line"] if kept else float("inf"), p, order, reason))
        firsts.sort(key=lambda f: f[:3])
        done: set[str] = set()
        for *_, reason in firsts:
            if reason in done:  # several parts counted it: folded at its first line
                continue
            done.add(reason)
            total = sum(part.reasons.get(reason, 0) for part in parts)
            self.reasons[reason] = self.reasons.get(reason, 0) + total
            kept = self.samples.setdefault(reason, [])
            room = SAMPLES_PER_REASON - len(kept)
            if room > 0:
                offered = [s for part in parts for s in part.samples.get(reason, ())]
                offered.sort(key=lambda s: s["line"])  # stable: one part's samples of a line keep their order
                kept.extend(offered[:room])

    def rejected(self) -> int:
        """How many values were rejected (corrections excluded)."""
        return sum(n for r, n in self.reasons.items() if r not in CORRECTIONS)

    def flat_samples(self) -> list[dict[str, Any]]:
        """All samples, ordered by reason then line number (deterministic for the manifest)."""
        out: list[dict[str, Any]] = []
        for reason in sorted(self.samples):
            out.extend(sorted(self.samples[reason], key=lambda s: s["line"]))
        return out


def clip(text: str) -> str:
    """Cut ``text`` to :data:`SAMPLE_TEXT_CHARS` characters and make it printable JSON-safe text."""
    text = text[:SAMPLE_TEXT_CHARS]
    # Lone surrogates (from undecodable bytes) cannot be encoded to UTF-8 JSON: show them as U+FFFD.
    return text.encode("utf-8", "replace").decode("utf-8") if not text.isascii() else text

"""One feed body -> :class:`ParsedFeed`: unpack, decode, pick the format, collect, account.

This is the per-feed step of :func:`~threatfeed.engine.build.build_lists`, exposed on its own for the CLI
and the tests. It applies the per-value policy (bogons, minimum prefix, allow-list) so rejections carry
line numbers; the aggregate carving happens later, on the merged set.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from threatfeed.engine import reasons as R
from threatfeed.engine.classify import DEFAULT_CONFIDENCE, KINDS, Collector
from threatfeed.engine.decode import (
    MAX_DECOMPRESSED,
    BodyNotUnderstood,
    BodySource,
    BodyTooLarge,
    to_text,
    unpack,
    unpacked_blocks,
)
from threatfeed.engine.formats import CHUNK_PARSERS, parser_for, sniff
from threatfeed.engine.formats.text import CHUNK_CHARS, first_content_line
from threatfeed.engine.model import EngineSettings, FeedStats
from threatfeed.engine.policy import Policy, allow_sets
from threatfeed.engine.spans import Spans, subtract, union
from threatfeed.errors import ConfigError

_SURROGATES = re.compile("[\ud800-\udfff]")
#: A feed's own header saying its dotted quads are zero-padded (DShield: "Source IP is 0 padded so each byte is
#: three digits long"): such a feed declares them decimal.
_DECLARES_PADDING = re.compile(
    r"^\s*(?:#|;|//).*(?<!not )(?<!no )(?<!non-)\b(?:0|zero)[ -]?padded\b", re.IGNORECASE | re.MULTILINE
)
#: What to set, per format, when a body was not understood.
_OPTION_HINTS = {
    "csv": "options.column / options.columns (the indicator column), options.delimiter",
    "json": "options.records (JMESPath to the records) and options.select (JMESPath to the value in a record)",
}
#: Allow-list entries that can never match a published entry anyway: ignored rather than fatal.
_MOOT = frozenset(
    {R.IPV6_NOT_SUPPORTED, R.RESERVED_DOMAIN, R.SINGLE_LABEL_DOMAIN, R.UNKNOWN_TLD, R.FILE_NAME, R.PUBLIC_SUFFIX}
)


@dataclass
class ParsedFeed:
    """What one feed body yielded: accepted IPv4 by confidence (disjoint sets), names with their
    confidence, retractions, and the accounting."""

    feed: str
    format: str
    stats: FeedStats
    ipv4: dict[int, Spans] = field(default_factory=dict)
    domains: Mapping[str, int] = field(default_factory=dict)
    revoked_ipv4: Spans = field(default_factory=Spans)
    revoked_domains: frozenset[str] = frozenset()

    def all_ipv4(self) -> Spans:
        return union(*self.ipv4.values())

    def merge(self, other: ParsedFeed) -> ParsedFeed:
        """Two bodies of one feed (e.g. pages) combined; stats add up."""
        by_conf = dict(self.ipv4)
        for conf, spans in other.ipv4.items():
            by_conf[conf] = union(by_conf.get(conf, Spans()), spans)
        names = dict(self.domains)
        for name, conf in other.domains.items():
            names[name] = max(conf, names.get(name, conf))
        a, b = self.stats, other.stats
        reasons = dict(a.reasons)
        for k, v in b.reasons.items():
            reasons[k] = reasons.get(k, 0) + v
        stats = FeedStats(
            feed=a.feed,
            format=a.format if a.format == b.format else f"{a.format}+{b.format}",
            lines=a.lines + b.lines,
            skipped=a.skipped + b.skipped,
            accepted=a.accepted + b.accepted,
            rejected=a.rejected + b.rejected,
            reasons=reasons,
            samples=_merge_samples(a.samples, b.samples),
            ipv4=a.ipv4 + b.ipv4,
            domains=a.domains + b.domains,
            ipv6=a.ipv6 + b.ipv6,
        )
        return ParsedFeed(
            self.feed,
            stats.format,
            stats,
            disjoint_by_confidence(by_conf),
            names,
            union(self.revoked_ipv4, other.revoked_ipv4),
            self.revoked_domains | other.revoked_domains,
        )


def _merge_samples(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    per: dict[str, int] = {}
    for s in [*a, *b]:
        if per.get(s["reason"], 0) < R.SAMPLES_PER_REASON:
            per[s["reason"]] = per.get(s["reason"], 0) + 1
            out.append(s)
    return sorted(out, key=lambda s: (s["reason"], s["line"]))


def disjoint_by_confidence(by_conf: Mapping[int, Spans]) -> dict[int, Spans]:
    """An address listed at several confidences keeps only the highest."""
    out: dict[int, Spans] = {}
    taken = Spans()
    for conf in sorted(by_conf, reverse=True):
        rest = subtract(by_conf[conf], taken)
        if rest:
            out[conf] = rest
            taken = union(taken, rest)
    return out


def policy_for(settings: EngineSettings | None) -> Policy:
    """The run's :class:`Policy`: minimum prefix and the parsed allow-list (entries and files).

    An allow-list entry that cannot be read fails the run (``ConfigError``): silently ignoring a typo in
    the allow-list would publish the very address someone meant to protect.
    """
    if settings is None:
        return Policy()
    if not settings.allow_list and not settings.allow_list_files:
        return Policy(min_prefix_len=settings.min_prefix_len)
    reader = Collector("allow-list", Policy.permissive())
    for i, entry in enumerate(settings.allow_list, 1):
        reader.add(i, str(entry))
    for j, body in enumerate(settings.allow_list_files, 1):
        text, _ = to_text(unpack(bytes(body), f"allow-list file {j}"))
        parser_for("txt")(text, reader, {}, datetime.now(UTC))
    bad = {r: n for r, n in reader.tally.reasons.items() if not R.is_correction(r) and r not in _MOOT}
    if bad:
        samples = [s["text"] for s in reader.tally.flat_samples() if s["reason"] in bad][:3]
        raise ConfigError(f"allow-list has entries that are neither IPv4 nor domains {bad}, e.g. {samples}")
    exact, wild = allow_sets(reader.names())
    return Policy(
        min_prefix_len=settings.min_prefix_len,
        allow=union(*reader.ipv4_by_confidence().values()),
        allow_domains=exact,
        allow_wildcards=wild,
    )


def parse_body(
    body: bytes | BodySource,
    *,
    feed: str = "file",
    format: str = "auto",
    options: Mapping[str, Any] | None = None,
    settings: EngineSettings | None = None,
    policy: Policy | None = None,
) -> ParsedFeed:
    """Parse one feed body. ``settings`` (optional) supplies the filtering policy and ``now``; without it
    the defaults apply (bogons, minimum prefix /12, no allow-list, now = UTC now). Raises
    :class:`~threatfeed.errors.FeedRejected` subclasses for bodies that cannot be read at all
    (decompression bomb, corrupt archive, invalid JSON).

    ``body``: bytes, or a :class:`~threatfeed.engine.decode.BodySource` read as a stream. Line-oriented formats
    (:data:`~threatfeed.engine.formats.CHUNK_PARSERS`) are decompressed, decoded and parsed chunk by chunk: the
    body is never one string, and a streamed one never held whole. The others read the whole document."""
    options = dict(options or {})
    now = settings.now if settings is not None else datetime.now(UTC)
    if policy is None:
        policy = policy_for(settings)
    blocks, compressed = unpacked_blocks(body, feed)
    pieces = line_pieces(blocks)
    first = next(pieces, b"")
    if first[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16: decoded whole
        head, fmt = "", ""
    else:
        head = _decode_piece(first[3:] if first[:3] == b"\xef\xbb\xbf" else first)[0]
        fmt = sniff(head) if format == "auto" else format
    chunked = CHUNK_PARSERS.get(fmt)
    if chunked is None:
        data = b"".join(itertools.chain([first], pieces))
        if not compressed and len(data) > MAX_DECOMPRESSED:
            raise BodyTooLarge(f"feed {feed}: body of {len(data)} bytes is over the {MAX_DECOMPRESSED}-byte cap")
        text, bad_utf8 = to_text(data)
        del data
        head = text
        fmt = fmt or (sniff(text) if format == "auto" else format)
    confidence = options.get("confidence", DEFAULT_CONFIDENCE)
    padded = options.get("zero_padded")
    if padded is None:
        start = head[:8192]
        padded = ("added" in start or "ADDED" in start) and bool(_DECLARES_PADDING.search(start))
    kinds = frozenset(options.get("kinds") or KINDS)
    col = Collector(feed, policy, max(0, min(100, int(confidence))), zero_padded=bool(padded), kinds=kinds)
    if chunked is None:
        parser_for(fmt)(_clean(text, bad_utf8, col), col, options, now)
    else:
        chunked(_text_chunks(first, pieces, col), col, options, now, first_content_line(head))
    if col.accepted == 0 and not col.tally.rejected() and col.ignored:
        raise BodyNotUnderstood(not_understood(feed, format, fmt, col))
    ipv4 = disjoint_by_confidence(col.ipv4_by_confidence())  # finishes the bulk path's accounting too
    stats = FeedStats(
        feed=feed,
        format=fmt,
        lines=col.lines,
        skipped=col.skipped,
        accepted=col.accepted,
        rejected=col.tally.rejected(),
        reasons=dict(sorted(col.tally.reasons.items())),
        samples=col.tally.flat_samples(),
        ipv4=col.ipv4,
        domains=col.n_domains,
        ipv6=col.ipv6,
    )
    return ParsedFeed(
        feed=feed,
        format=fmt,
        stats=stats,
        ipv4=ipv4,
        domains=col.names(),
        revoked_ipv4=col.revoked(),
        revoked_domains=frozenset(col.revoked_domains),
    )


def line_pieces(blocks: Iterable[bytes], size: int | None = None) -> Iterator[bytes]:
    """The decompressed body as pieces of whole lines: each cut just after the first newline at or after ``size``
    bytes (default :data:`~threatfeed.engine.formats.text.CHUNK_CHARS`; the last piece: the rest). For ASCII text
    these are exactly the runs of :func:`~threatfeed.engine.formats.text.split_chunks`, so a body parses the same
    however it is read."""
    size = size or CHUNK_CHARS
    buf = b""
    for block in blocks:
        buf = buf + block if buf else block
        while len(buf) > size:
            cut = buf.find(b"\n", size)
            if cut == -1:
                break
            yield buf[: cut + 1]
            buf = buf[cut + 1 :]
    if buf:
        yield buf


def _decode_piece(piece: bytes) -> tuple[str, bool]:
    """:func:`~threatfeed.engine.decode.to_text` of one piece (UTF-8; CR and CRLF become LF)."""
    try:
        text, bad = piece.decode("utf-8"), False
    except UnicodeDecodeError:
        text, bad = piece.decode("utf-8", "surrogateescape"), True
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, bad


def _text_chunks(first: bytes, rest: Iterator[bytes], col: Collector) -> Iterator[str]:
    """The pieces as text, each without its last newline and cleaned (:func:`_clean`, with its line numbers): what
    a parser of :data:`~threatfeed.engine.formats.CHUNK_PARSERS` reads. A body of one empty line has no line, as
    :func:`~threatfeed.engine.formats.text.split_chunks` has it."""
    if first[:3] == b"\xef\xbb\xbf":
        first = first[3:]
    lines = 0
    for piece in itertools.chain([first], rest):
        text, bad = _decode_piece(piece)
        if text.endswith("\n"):
            text = text[:-1]
        if not text and lines == 0:  # only a piece under CHUNK_CHARS can be empty: the whole body
            return
        yield _clean(text, bad, col, lines)
        # the piece's own newlines when no carriage return was turned into one: NumPy counts them 10x faster
        newlines = text.count("\n") if b"\r" in piece else _newlines(piece) - piece.endswith(b"\n")
        lines += newlines + 1


def not_understood(feed: str, declared: str, fmt: str, col: Collector) -> str:
    """Why a body with content gave nothing, accepted or rejected, and what to set."""
    how = f"read as {fmt} (detected)" if declared == "auto" else f"read as {fmt}"
    hint = _OPTION_HINTS.get(fmt)
    todo = f"set the feed's format or {hint}" if hint else "set the feed's format (and its options)"
    return (
        f"feed {feed}: nothing in the body was accepted or rejected: {col.ignored} of its {col.lines} lines or "
        f"records hold content but no value the {fmt} parser takes ({how}); {todo}, and try it with "
        f"threatfeed parse FILE --format F --option key=value; previous contribution kept"
    )


def _newlines(data: bytes) -> int:
    """How many newline bytes ``data`` holds."""
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 10))


def _clean(text: str, bad_utf8: bool, col: Collector, offset: int = 0) -> str:
    """Remove NULs and replace undecodable bytes, counting each affected line once (rare: only bodies that
    need it pay for the per-line pass). ``offset``: lines before ``text`` in the body."""
    if not bad_utf8 and "\x00" not in text:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if "\x00" in line:
            line = line.replace("\x00", "")
            col.tally.count(R.NUL_BYTES, offset + i + 1, line)
        if bad_utf8 and _SURROGATES.search(line):
            line = _SURROGATES.sub("\ufffd", line)
            col.tally.count(R.INVALID_UTF8, offset + i + 1, line)
        lines[i] = line
    return "\n".join(lines)

"""Delimited feeds: generic CSV/TSV and GuardDuty's own CSV-like formats (OTX, AlienVault, Proofpoint,
FireEye iSIGHT).

Columns are found by header name whenever a header exists, never by position alone: vendors add and
reorder columns (iSIGHT's export has 47 of them) and a positional read silently turns a description column
into garbage indicators.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from itertools import chain, islice
from typing import Any

from threatfeed.engine import reasons as R
from threatfeed.engine.classify import Collector
from threatfeed.engine.decode import BodyUnreadable
from threatfeed.engine.ipv4 import LOOSE_QUAD

#: Header names that hold a host name or a URL, in preference order (the JSON reader's record fields end the same).
NAME_COLUMNS = ("domain", "domainname", "hostname", "host", "fqdn", "url", "uri")
#: Header names (lower case, spaces/underscores/dashes removed) that hold indicators, in preference order.
INDICATOR_COLUMNS = (
    "indicator",
    "ioc",
    "value",
    "observable",
    "ip",
    "ipaddress",
    "ipaddr",
    "saddr",
    "srcaddr",
    "daddr",
    "dstaddr",
    "iocvalue",
    "ipv4",
    "ipv4address",
    "address",
    "addr",
    "srcip",
    "dstip",
    "sourceip",
    "destinationip",
    "cidr",
    "network",
    "netblock",
    "subnet",
    "range",
    *NAME_COLUMNS,
)


def norm_header(name: str) -> str:
    return "".join(ch for ch in name.strip().lower() if ch.isalnum())


def is_comment(line: str, delimiter: str = ",") -> bool:
    """A whole-line comment of a delimited feed: ``#``, ``//``, or ``;`` unless ``;`` is the delimiter."""
    s = line.lstrip()
    return s.startswith(("#", "//")) or (s.startswith(";") and delimiter != ";")


#: The separator of a "pipe table" as DataPlane documents it: a pipe with at least two blanks on either side
#: (a single pipe inside a field, e.g. an AS name, is then no separator).
_PADDED_PIPE = re.compile(r"\s{2,}\|\s{2,}")


def rows(text: str, col: Collector, delimiter: str) -> Iterator[tuple[int, list[str], str]]:
    """``(line_number, cells, raw_text)`` for every non-blank, non-comment row. Pipe-separated tables are
    split without quoting rules (they have none; see :func:`_pipe_rows`)."""
    lines = text.split("\n")
    if delimiter == "|":
        yield from _pipe_rows(lines, col)
        col.lines += len(lines) - (1 if text.endswith("\n") else 0)
        return
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True)
    seen = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise BodyUnreadable(f"feed {col.feed}: CSV is malformed near line {reader.line_num} ({exc})") from None
        no = reader.line_num
        seen = no
        raw = lines[no - 1] if no - 1 < len(lines) else ""
        if not cells or not any(c.strip() for c in cells):
            col.skip()
            continue
        if is_comment(cells[0], delimiter):
            col.skip()
            continue
        yield no, cells, raw
    col.lines += max(seen, len(lines) - (1 if text.endswith("\n") else 0))


def _pipe_rows(lines: list[str], col: Collector) -> Iterator[tuple[int, list[str], str]]:
    """Rows of a pipe table (``ASN  |  ASname  |  ipaddr  |  ...``), cells stripped of their padding. Where the
    table pads its separators with two blanks or more, a lone pipe inside a field does not split it."""
    padded = None
    for no, raw in enumerate(lines, 1):
        s = raw.strip()
        if not s or is_comment(s, "|"):
            if s or no < len(lines):
                col.skip()
            continue
        if padded is None:
            padded = bool(_PADDED_PIPE.search(s))
        parts = _PADDED_PIPE.split(s) if padded and _PADDED_PIPE.search(s) else s.split("|")
        yield no, [p.strip() for p in parts], raw


def sniff_delimiter(text: str) -> str:
    """The delimiter of the first data row (comments and blank lines before it are passed over, however many)."""
    for line in text[:65536].split("\n"):
        s = line.strip()
        if not s or s[0] in "#;" or s.startswith("//"):
            continue
        counts = {d: s.count(d) for d in ("\t", ",", ";", "|")}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","
    return ","


def commented_header(text: str, delimiter: str, width: int) -> list[str] | None:
    """A header kept in the comment block before the first row (``# first_seen_utc,dst_ip,dst_port,...``,
    ``# ASN  |  ASname  |  ipaddr  |  ...``): the last comment line of that block that splits into ``width``
    cells that read as a header. None when there is none."""
    found = None
    for line in text[:65536].split("\n"):
        s = line.strip()
        if not s:
            continue
        if not is_comment(s, delimiter):
            break
        body = s.lstrip("#;/").strip()
        if delimiter == "|":
            cells = [c.strip() for c in body.split("|")]
        else:
            try:
                cells = next(csv.reader([body], delimiter=delimiter, skipinitialspace=True), [])
            except csv.Error:
                continue
        if len(cells) == width and width > 1 and is_header(cells) and all(c.strip() for c in cells):
            found = cells
    return found


def is_header(cells: list[str]) -> bool:
    """A header has words and no indicator-looking cell (no dots: addresses, names and URLs all have one)."""
    stripped = [c.strip() for c in cells]
    return any(c and c[0].isalpha() for c in stripped) and not any("." in c or ":" in c for c in stripped)


def _int(text: str) -> int | None:
    try:
        return int(float(text.strip()))
    except (ValueError, OverflowError):
        return None


def parse_csv(text: str, col: Collector, options: Mapping[str, Any], now: datetime) -> None:
    """Generic CSV/TSV: ``options["column"]`` (name or 0-based index, or ``columns``: a list) picks the
    indicator columns; otherwise a header's known names, otherwise the column that looks like indicators.
    ``options["confidence_column"]`` optionally names a 0-100 confidence column."""
    delimiter = options.get("delimiter") or sniff_delimiter(text)
    wanted = options.get("columns") or options.get("column")
    if wanted is not None and not isinstance(wanted, (list, tuple)):
        wanted = [wanted]
    it = rows(text, col, delimiter)
    head = list(islice(it, 20))
    header: list[str] | None = None
    if head and is_header(head[0][1]):
        header = [norm_header(c) for c in head.pop(0)[1]]
        col.skip()
    width = len(header) if header else _usual_width(head)
    if header is None and head:
        kept = commented_header(text, delimiter, width)
        header = [norm_header(c) for c in kept] if kept else None
    indexes = _pick_columns(col.feed, header, wanted, head)
    conf_index: int | None = None
    if options.get("confidence_column") is not None and header:
        name = norm_header(str(options["confidence_column"]))
        conf_index = header.index(name) if name in header else None
    for no, cells, raw in chain(head, it):
        if width and len(cells) > width:
            cells = _aligned(cells, width, indexes)
        _emit(col, no, cells, raw, indexes, conf_index)


def _usual_width(sample: list[tuple[int, list[str], str]]) -> int:
    """The commonest number of cells in the sampled rows (0 without rows)."""
    widths = Counter(len(cells) for _, cells, _ in sample)
    return max(widths, key=lambda w: (widths[w], -w)) if widths else 0


def _aligned(cells: list[str], width: int, indexes: list[int]) -> list[str]:
    """A row with more cells than the table (an unquoted delimiter inside a free-text field, such as an AS name
    holding a comma or a pipe): when an indicator column's cell does not look like an indicator but the cell
    as far from the end of the row does, the extra cells belong to a field before it, and the row is read
    aligned on its end."""
    extra = len(cells) - width
    for i in indexes:
        if i + extra < len(cells) and not _indicator_like(cells[i]) and _indicator_like(cells[i + extra]):
            return cells[:i] + cells[i + extra :]
    return cells


def _indicator_like(cell: str) -> bool:
    c = cell.strip()
    return bool(c) and ("." in c or ":" in c) and " " not in c


def _emit(col: Collector, no: int, cells: list[str], raw: str, indexes: list[int], conf_index: int | None) -> None:
    if not indexes:
        col.reject(no, raw, R.NO_INDICATOR_COLUMN)
        return
    conf = None
    if conf_index is not None and conf_index < len(cells):
        value = _int(cells[conf_index])
        conf = max(0, min(100, value)) if value is not None else None
    emitted = False
    for i in indexes:
        if i < len(cells) and cells[i].strip():
            col.add(no, cells[i], raw, confidence=conf)
            emitted = True
    if not emitted:
        col.ignore()  # a row with its indicator fields empty


def _pick_columns(
    feed: str,
    header: list[str] | None,
    wanted: Sequence[Any] | None,
    sample: list[tuple[int, list[str], str]],
) -> list[int]:
    """The indicator columns: as configured, else by header name, else (header-less bodies only) the
    column whose sampled cells look most like indicators. A header naming no indicator column gives no
    column at all: guessing there turns file names ("payload.js") into domains."""
    if wanted:
        out = []
        for w in wanted:
            if isinstance(w, int) or (isinstance(w, str) and w.isdigit()):
                out.append(int(w))
            elif header is not None and norm_header(str(w)) in header:
                out.append(header.index(norm_header(str(w))))
            else:
                raise BodyUnreadable(
                    f"feed {feed}: the CSV has no column {w!r} (header: {', '.join(header or [])}); the feed "
                    "changed its format or the catalogue's column option is wrong"
                )
        return out
    if header is not None:
        for name in INDICATOR_COLUMNS:
            if name in header:
                return [header.index(name)]
        # unknown names: only a column of unmistakable IPv4 values is taken
        return _guess(sample, ipv4_only=True)
    return _guess(sample, ipv4_only=False)


def _guess(sample: list[tuple[int, list[str], str]], ipv4_only: bool) -> list[int]:
    width = max((len(c) for _, c, _ in sample), default=0)
    scores = [0] * width
    for _, cells, _ in sample:
        for i, cell in enumerate(cells):
            c = cell.strip()
            if LOOSE_QUAD.match(c):
                scores[i] += 2
            elif not ipv4_only and "." in c and " " not in c and not c.replace(".", "").isdigit():
                scores[i] += 1
    if not width:
        return []
    best = max(range(width), key=lambda i: (scores[i], -i))
    needed = 2 * len(sample) * 0.8 if ipv4_only else len(sample) * 0.5
    return [best] if sample and scores[best] >= needed else []


def parse_otx(text: str, col: Collector, options: Mapping[str, Any], now: datetime) -> None:
    """OTX_CSV: ``Indicator type, Indicator, Description``. Non-network types (hashes, e-mail, CVE, ...)
    carry nothing a list can hold: they are skipped, not rejected."""
    type_i, value_i = 0, 1
    for no, cells, raw in rows(text, col, sniff_delimiter(text)):
        header = [norm_header(c) for c in cells]
        if is_header(cells) and "indicator" in header:  # not a row of a type without dots (a hash, a CVE)
            type_i = header.index("indicatortype") if "indicatortype" in header else type_i
            type_i = header.index("type") if "type" in header else type_i
            value_i = header.index("indicator") if "indicator" in header else value_i
            col.skip()
            continue
        kind = norm_header(cells[type_i]) if type_i < len(cells) else ""
        value = cells[value_i] if value_i < len(cells) else ""
        if kind in ("ipv4", "cidr", "domainname", "domain", "hostname", "url", "uri", "ipv6"):
            col.add(no, value, raw)
        else:
            col.ignore()


def parse_alienvault(text: str, col: Collector, options: Mapping[str, Any], now: datetime) -> None:
    """ALIEN_VAULT reputation: ``ip#reliability#risk#type#country#city#latlon#?``; reliability (1-10)
    becomes the confidence (x10)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for no, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s.startswith(("#", "//")):
            col.skip()
            continue
        fields = s.split("#")
        reliability = _int(fields[1]) if len(fields) > 1 else None
        conf = max(0, min(100, reliability * 10)) if reliability is not None else None
        col.add(no, fields[0], line, confidence=conf)
    col.lines += len(lines)


def parse_proofpoint(text: str, col: Collector, options: Mapping[str, Any], now: datetime) -> None:
    """PROOF_POINT: ``ip, category, score, first_seen, last_seen, ports``; the ET score (0-127) becomes the
    confidence."""
    ip_i, score_i = 0, 2
    for no, cells, raw in rows(text, col, ","):
        if is_header(cells):
            header = [norm_header(c) for c in cells]
            ip_i = header.index("ip") if "ip" in header else ip_i
            score_i = header.index("score") if "score" in header else score_i
            col.skip()
            continue
        score = _int(cells[score_i]) if score_i < len(cells) else None
        conf = max(0, min(100, score * 100 // 127)) if score is not None else None
        col.add(no, cells[ip_i] if ip_i < len(cells) else "", raw, confidence=conf)


def parse_fireeye(text: str, col: Collector, options: Mapping[str, Any], now: datetime) -> None:
    """FIRE_EYE (iSIGHT CSV): the ``ip``, ``cidr`` and ``domain`` columns, found by header name (the
    export has 47 columns and their order is not guaranteed). Rows with none of them (hashes, e-mail
    indicators) are skipped."""
    indexes: list[int] | None = None
    for no, cells, raw in rows(text, col, ","):
        if indexes is None:
            header = [norm_header(c) for c in cells]
            indexes = [header.index(n) for n in ("ip", "cidr", "domain") if n in header]
            if not indexes:
                raise BodyUnreadable("FIRE_EYE body has no ip, cidr or domain column in its header")
            col.skip()
            continue
        _emit(col, no, cells, raw, indexes, None)

"""Format registry and sniffing.

A parser reads decoded text and feeds values to a :class:`~threatfeed.engine.classify.Collector`; it never
judges values itself. ``auto`` looks at the first few kilobytes only, so sniffing costs nothing on large
bodies, and falls back to plain text, the most forgiving parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from threatfeed.engine.classify import Collector
from threatfeed.engine.formats.jsondoc import parse_json
from threatfeed.engine.formats.misp import parse_misp
from threatfeed.engine.formats.stix import parse_stix
from threatfeed.engine.formats.tabular import (
    INDICATOR_COLUMNS,
    norm_header,
    parse_alienvault,
    parse_csv,
    parse_fireeye,
    parse_otx,
    parse_proofpoint,
)
from threatfeed.engine.formats.text import parse_tor, parse_tor_chunks, parse_txt, parse_txt_chunks

Parser = Callable[[str, Collector, Mapping[str, Any], datetime], None]
#: A line-oriented parser fed runs of whole lines (``threatfeed.engine.formats.text.split_chunks``) and the body's
#: first content line, so that a large body is read chunk by chunk and never held whole as text.
ChunkParser = Callable[[Iterable[str], Collector, Mapping[str, Any], datetime, int], None]

PARSERS: dict[str, Parser] = {
    "txt": parse_txt,
    "csv": parse_csv,
    "stix": parse_stix,
    "otx": parse_otx,
    "alienvault": parse_alienvault,
    "proofpoint": parse_proofpoint,
    "fireeye": parse_fireeye,
    "misp": parse_misp,
    "tor": parse_tor,
    "json": parse_json,
}

#: Formats read chunk by chunk (the others need the whole document: CSV headers, JSON, XML).
CHUNK_PARSERS: dict[str, ChunkParser] = {"txt": parse_txt_chunks, "tor": parse_tor_chunks}

_ALIENVAULT = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}#\d*#\d*#")
_SNIFF_CHARS = 16384


def sniff(text: str) -> str:
    """Guess the format of ``text`` from its beginning."""
    head = text[:_SNIFF_CHARS]
    start = head.lstrip()
    if start.startswith("{") or (start.startswith("[") and start[1:].lstrip()[:1] in ("", *'{["-]0123456789tfn')):
        return _sniff_json(start)  # not "[Adblock Plus 2.0]", a list header
    if start.startswith("<"):
        return "stix"
    content = [
        line.strip() for line in head.split("\n") if line.strip() and not line.lstrip().startswith(("#", "//", ";"))
    ]
    if not content:
        return "txt"
    if any(line.startswith(("ExitNode ", "ExitAddress ")) for line in content[:20]):
        return "tor"
    first = content[0]
    header = [norm_header(c) for c in re.split(r"[,\t;|]", first)]
    if "indicatortype" in header and "indicator" in header:
        return "otx"
    if "reportid" in header and any(c in header for c in ("ip", "cidr", "domain")):
        return "fireeye"
    if header[:1] == ["ip"] and "category" in header and "score" in header:
        return "proofpoint"
    if _ALIENVAULT.match(first):
        return "alienvault"
    sample = content[:50]
    if "," in first and sum("," in line for line in sample) >= 0.8 * len(sample):
        return "csv"
    if first.count("|") >= 2 and sum(line.count("|") >= 2 for line in sample) >= 0.8 * len(sample):  # a pipe table
        return "csv"
    if "\t" in first and any(h in INDICATOR_COLUMNS for h in header) and "netblock" not in header:
        return "csv"
    return "txt"


def _sniff_json(start: str) -> str:
    """MISP and STIX by their own keys; any other JSON document or JSON lines is read by the generic ``json``
    parser (records and fields found by name, or chosen with ``options.records`` / ``options.select``)."""
    probe = start[:_SNIFF_CHARS]
    if '"Event"' in probe or '"Attribute"' in probe or '"to_ids"' in probe:
        return "misp"
    if '"spec_version"' in probe or '"pattern"' in probe or '"bundle"' in probe or '"objects"' in probe:
        return "stix"
    if '"category"' in probe and '"value"' in probe and '"type"' in probe:
        return "misp"
    return "json"


def parser_for(fmt: str) -> Parser:
    try:
        return PARSERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; use one of auto, {', '.join(PARSERS)}") from None

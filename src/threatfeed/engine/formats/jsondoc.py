"""Generic JSON: any JSON document, or JSON lines (one JSON value a line), with a field selector.

Public feeds publish JSON in many shapes: abuse.ch Feodo Tracker (a list of objects with ``ip_address``),
ThreatFox and URLhaus exports (objects keyed by an id, each holding a list of one record), Spamhaus DROP
``drop_v4.json`` and OpenPhish (JSON lines), PhishTank (a list of objects with ``url``), vendor "IOC" documents
(``{"indicators": [{"type": ..., "indicator": ...}]}``). This parser reads them all the same way:

1. the **records**: ``options["records"]`` (a JMESPath expression on the document; JSON lines are the list of
   their values), or else the document itself when it is a list, the list under a data key (``data``,
   ``indicators``, ``results``, ``urls``, ...), the concatenated lists when every member is a list (the
   abuse.ch exports), or the document as one record;
2. in each record, the **values**: ``options["select"]`` (JMESPath on the record: a string, a number or a list
   of them), or else the record itself when it is a string or number, or else the first field of a record
   object whose name says it holds an indicator (:data:`VALUE_KEYS`, by preference: ``ip_address`` before
   ``hostname``, never ``reference`` or ``urlhaus_link``);
3. ``options["confidence_select"]``: JMESPath on the record giving a 0-100 confidence (ThreatFox's
   ``confidence_level``).

Each value then goes through the collector like any other (so a hash is ``hash``, an AS number ``asn``...). A
record that yields no value (Spamhaus's closing ``{"type": "metadata", ...}`` line, a ``null`` field) carries no
candidate: it is counted as content ignored, and a body of nothing else is an error that says which options to
set. Samples and line numbers are the record's line (JSON lines) or its position (documents).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from threatfeed.engine import reasons as R
from threatfeed.engine.classify import Collector
from threatfeed.engine.decode import BodyNotUnderstood, BodyUnreadable
from threatfeed.engine.formats.tabular import NAME_COLUMNS, norm_header

#: Record fields that hold an indicator (names lower case without ``_``/``-``/blanks), most specific first.
VALUE_KEYS = (
    "indicator",
    "ioc",
    "iocvalue",
    "observable",
    "ipaddress",
    "ip",
    "ipv4",
    "ipaddr",
    "ipv4address",
    "srcip",
    "dstip",
    "address",
    "cidr",
    "network",
    "netblock",
    "prefix",
    "subnet",
    "range",
    "asn",  # before names: an AS-number record's "domain" is its operator's web site (Spamhaus ASN-DROP)
    "asnumber",
    *NAME_COLUMNS,
    "value",
)
#: Fields holding an AS number, read as ``AS<n>`` so that an AS-number feed (Spamhaus ASN-DROP) says what it is
#: (``asn``) instead of listing its operators' web sites or parsing to nothing.
ASN_KEYS = frozenset({"asn", "asnumber"})
#: Members of a document object that hold its records.
DATA_KEYS = ("data", "indicators", "iocs", "results", "records", "entries", "items", "urls", "objects", "response")
_SAMPLE = 200


def parse_json(text: str, col: Collector, options: Mapping[str, Any], now: datetime) -> None:
    """A JSON document or JSON lines: records, values, confidences (see the module docstring)."""
    for option in ("records", "select", "confidence_select"):  # a bad expression fails the feed whatever the body
        if options.get(option):
            _compiled(col.feed, option, str(options[option]))
    records, lines, numbers = _load(text, col)
    records_expr = options.get("records")
    if records_expr:
        found = _search(col.feed, "records", str(records_expr), records if lines else records[0])
        if found is None or found == []:
            if _has_content(records):
                col.ignore()  # the expression matched nothing in a body that has content
            col.lines += lines
            return
        selected = found if isinstance(found, list) else [found]
        if numbers is not None:  # JSON lines: a selected record keeps its line number
            line_of = {id(value): no for value, no in zip(records, numbers, strict=True)}
            numbers = [line_of.get(id(r), k) for k, r in enumerate(selected, 1)]
        records = selected
    elif not lines:  # a document: where its records are
        records = _default_records(records[0]) if records else []
    select = options.get("select")
    confidence = options.get("confidence_select")
    count = 0
    for count, record in enumerate(records, 1):
        no = numbers[count - 1] if numbers is not None else count
        values = _values(col.feed, record, select)
        if not values:
            col.ignore()
            continue
        conf = None
        if confidence and isinstance(record, dict):
            score = _search(col.feed, "confidence_select", str(confidence), record)
            if isinstance(score, (int, float)) and not isinstance(score, bool):
                conf = max(0, min(100, int(score)))
        sample = _sample(record)
        for value in values:
            col.add(no, value, sample, confidence=conf)
    col.lines += lines or count


def _load(text: str, col: Collector) -> tuple[list[Any], int, list[int] | None]:
    """``(values, lines, line_numbers)``: a document as ``[document]`` with ``lines`` 0, or JSON lines as their
    values with the body's line count and each value's line number (blank and ``#`` lines skipped, a line that is
    no JSON rejected as ``invalid_json``)."""
    try:
        return [json.loads(text)], 0, None
    except ValueError as exc:
        if "Extra data" not in str(exc) and not text.lstrip().startswith(("#", "//")):
            raise BodyUnreadable(
                f"feed {col.feed}: the body is neither a JSON document nor JSON lines ({exc}); check the URL, "
                "or set the feed's format"
            ) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    values: list[Any] = []
    numbers: list[int] = []
    for no, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s.startswith(("#", "//")):
            col.skip()
            continue
        try:
            values.append(json.loads(s))
        except ValueError:
            col.reject(no, line, R.INVALID_JSON)
            continue
        numbers.append(no)
    return values, len(lines), numbers


def _default_records(doc: Any) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        lowered = {norm_header(str(k)): v for k, v in doc.items()}
        for key in DATA_KEYS:
            records = lowered.get(key)
            if isinstance(records, list):
                return records
        if doc and all(isinstance(v, list) for v in doc.values()):  # {"<id>": [record], ...}
            return [r for v in doc.values() for r in v]
        if len(doc) > 1 and all(isinstance(v, dict) for v in doc.values()):  # {"<id>": record, ...}
            return list(doc.values())
        return [doc] if doc else []
    return [doc]


def _has_content(records: list[Any]) -> bool:
    return any(r not in (None, [], {}, "") for r in records)


def _values(feed: str, record: Any, select: Any) -> list[str]:
    """The candidate values of one record (strings; numbers as their text)."""
    if select:
        return _flat(_search(feed, "select", str(select), record))
    if isinstance(record, dict):
        lowered: dict[str, Any] = {}
        for k, v in record.items():
            lowered.setdefault(norm_header(str(k)), v)
        for key in VALUE_KEYS:
            found = _flat(lowered.get(key))
            if found:
                return [v if v[:2].upper() == "AS" else f"AS{v}" for v in found] if key in ASN_KEYS else found
        return []
    return _flat(record)


def _flat(value: Any) -> list[str]:
    if value is None or isinstance(value, bool):
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, (int, float)):
        return [str(value)]
    if isinstance(value, list):
        return [v for item in value for v in _flat(item) if not isinstance(item, list)]
    return []


def _sample(record: Any) -> str:
    text = record if isinstance(record, str) else json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    return text[:_SAMPLE]


@lru_cache(maxsize=64)
def compile_expression(expression: str) -> Any:
    """A compiled JMESPath expression; ``ValueError`` (with JMESPath's message) when it is not one."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        raise ValueError(str(exc).replace("\n", " ")) from None


def _compiled(feed: str, option: str, expression: str) -> Any:
    try:
        return compile_expression(expression)
    except ValueError as exc:
        raise BodyNotUnderstood(
            f"feed {feed}: options.{option} {expression!r} is no JMESPath expression ({exc})"
        ) from None


def _search(feed: str, option: str, expression: str, data: Any) -> Any:
    from jmespath.exceptions import JMESPathError

    compiled = _compiled(feed, option, expression)
    try:
        return compiled.search(data)
    except JMESPathError as exc:
        raise BodyNotUnderstood(f"feed {feed}: options.{option} {expression!r} failed on the body ({exc})") from None

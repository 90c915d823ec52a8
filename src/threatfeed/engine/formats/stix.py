"""STIX: 2.1 JSON bundles (and TAXII envelopes), plus the STIX 1.x XML GuardDuty itself accepts.

STIX objects are versioned: the same ``id`` may appear several times and only the latest ``modified``
counts, so a revocation (a later version with ``revoked: true``) wins over the original even when both are
in one bundle. Revoked and expired (``valid_until`` passed) indicators are *retracted*: not listed, and
removed from what earlier runs contributed for this feed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from threatfeed.engine import reasons as R
from threatfeed.engine.classify import Collector
from threatfeed.engine.decode import BodyUnreadable

_LITERAL = r"'(?:[^'\\]|\\.)*'"
_COMPARISON = re.compile(
    r"(?P<path>ipv4-addr:value|ipv6-addr:value|domain-name:value|url:value"
    r"|network-traffic:(?:dst|src)_ref\.value)\s*"
    rf"(?P<op>NOT\s+)?(?P<cmp>=|!=|IN|ISSUBSET|MATCHES|LIKE)\s*(?P<rhs>{_LITERAL}|\((?:\s*{_LITERAL}\s*,?)*\))"
)
_LITERALS = re.compile(_LITERAL)
_SCO_TYPES = ("ipv4-addr", "ipv6-addr", "domain-name", "url")
_XML_VALUES = re.compile(
    r"<(?:\w+:)?(?:Address_Value|Value|URL_Value|Domain_Name)\b[^>]*>\s*(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?\s*</",
    re.DOTALL,
)


def parse_stix(text: str, col: Collector, options: Mapping[str, Any], now: datetime) -> None:
    stripped = text.lstrip()
    if stripped.startswith("<"):
        _parse_xml(text, col)
        return
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise BodyUnreadable(f"feed {col.feed}: STIX body is not valid JSON ({exc})") from None
    objects = _objects(doc, col.feed)
    col.lines += len(objects)
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    for pos, obj in enumerate(objects, 1):
        if not isinstance(obj, dict):
            col.ignore()
            continue
        kind = obj.get("type")
        if kind == "indicator":
            key = str(obj.get("id", f"#{pos}"))
            seen = latest.get(key)
            if seen is None or _newer(obj, seen[1]):
                if seen is not None:
                    col.skip()  # superseded version
                latest[key] = (pos, obj)
            else:
                col.skip()
        elif kind in _SCO_TYPES and isinstance(obj.get("value"), str):
            col.add(pos, obj["value"], obj["value"])
        else:  # identities, marking definitions, malware, relationships...: content, no indicator
            col.ignore()
    for pos, obj in sorted(latest.values(), key=lambda item: item[0]):
        _indicator(col, pos, obj, now)


#: Every member of a TAXII 2.1 envelope is optional: ``{}`` and ``{"more": false}`` are envelopes with no object.
_ENVELOPE_KEYS = frozenset({"more", "next", "objects"})


def _objects(doc: Any, feed: str) -> list[Any]:
    """The objects of a bundle, an envelope, a list or a single object. Any other JSON (``{"error": ...}``,
    a number) is not an empty feed but an answer that is no STIX at all: unreadable, so the feed is kept."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        objects = doc.get("objects")
        if isinstance(objects, list):
            return objects
        if doc.get("type"):
            return [doc]
        if set(doc) <= _ENVELOPE_KEYS and doc.get("objects") is None:
            return []
        keys = ", ".join(sorted(map(str, doc))[:6])
        raise BodyUnreadable(
            f"feed {feed}: the JSON body is no STIX bundle, TAXII envelope or STIX object (its keys: {keys}); "
            "an error answer? Check the feed's URL and credentials, or set its format"
        )
    raise BodyUnreadable(f"feed {feed}: the JSON body is a bare {type(doc).__name__}, not STIX")


def _newer(candidate: dict[str, Any], current: dict[str, Any]) -> bool:
    a = _when(candidate.get("modified") or candidate.get("created"))
    b = _when(current.get("modified") or current.get("created"))
    if a == b:
        return bool(candidate.get("revoked")) and not current.get("revoked")
    return (a or datetime.min.replace(tzinfo=UTC)) > (b or datetime.min.replace(tzinfo=UTC))


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _indicator(col: Collector, pos: int, obj: dict[str, Any], now: datetime) -> None:
    pattern = obj.get("pattern")
    text = pattern if isinstance(pattern, str) else json.dumps(obj)[:200]
    if obj.get("pattern_type", "stix") != "stix" or not isinstance(pattern, str):
        col.reject(pos, text, R.UNSUPPORTED_PATTERN)
        return
    values = extract(pattern)
    if not values:
        col.reject(pos, text, R.UNSUPPORTED_PATTERN)
        return
    retract = None
    if obj.get("revoked") is True:
        retract = R.REVOKED
    else:
        until = _when(obj.get("valid_until"))
        if until is not None and until <= now:
            retract = R.EXPIRED
        else:
            start = _when(obj.get("valid_from"))
            if start is not None and start > now:
                for _ in values:
                    col.reject(pos, text, R.NOT_YET_VALID)
                return
    confidence = obj.get("confidence")
    conf = max(0, min(100, int(confidence))) if isinstance(confidence, (int, float)) else None
    for value in values:
        col.add(pos, value, text, confidence=conf, retract=retract)


def extract(pattern: str) -> list[str]:
    """The literal values a STIX pattern compares ``ipv4-addr``/``ipv6-addr``/``domain-name``/``url``/
    ``network-traffic`` references with (``=``, ``IN``, ``ISSUBSET``). Regular-expression and negated
    comparisons are skipped: they do not name a listable value."""
    out: list[str] = []
    for m in _COMPARISON.finditer(pattern):
        if m.group("op") or m.group("cmp") in ("!=", "MATCHES", "LIKE"):
            continue
        for lit in _LITERALS.findall(m.group("rhs")):
            value = re.sub(r"\\(.)", r"\1", lit[1:-1])
            if value not in out:
                out.append(value)
    return out


_HTML = re.compile(r"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.IGNORECASE)


def _parse_xml(text: str, col: Collector) -> None:
    """STIX 1.x XML (GuardDuty's "STIX"): address, domain and URL object values. Read with a regular
    expression, never an XML parser, so entity-expansion bombs cannot explode. An HTML page is no feed (a login,
    error or captcha page answered with 200); markup without any object value was not understood."""
    if _HTML.search(text[:4096]):
        raise BodyUnreadable(
            f"feed {col.feed}: the body is an HTML page, not a feed (a login, error or captcha page?); check the "
            "feed's URL and credentials; previous contribution kept"
        )
    col.lines += text.count("\n") + 1
    if not _XML_VALUES.search(text) and text.strip():
        col.ignore()
        return
    for m in _XML_VALUES.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        value = m.group(1).strip()
        for part in value.split("##comma##"):
            col.add(line, part, value)

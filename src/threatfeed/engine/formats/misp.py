"""MISP JSON: events, event lists, ``restSearch`` responses and bare attribute lists.

Only network attribute types are read (``ip-src``, ``ip-dst``, their ``|port`` forms, ``domain``,
``hostname``, ``domain|ip``, ``url``); other types (hashes, e-mail, ...) are skipped, not rejected. MISP's
own ``to_ids`` flag says whether an attribute is meant for detection: attributes without it are rejected
(``not_to_ids``) unless ``options["misp_to_ids"]`` is false. Deleted attributes are retracted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from threatfeed.engine import reasons as R
from threatfeed.engine.classify import Collector
from threatfeed.engine.decode import BodyUnreadable
from threatfeed.misp_document import attributes

_SIMPLE = frozenset({"ip-src", "ip-dst", "domain", "hostname", "url", "uri"})
_PORTED = frozenset({"ip-src|port", "ip-dst|port", "hostname|port"})


def parse_misp(text: str, col: Collector, options: Mapping[str, Any], now: datetime) -> None:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise BodyUnreadable(f"feed {col.feed}: MISP body is not valid JSON ({exc})") from None
    if not _misp_shaped(doc):
        keys = ", ".join(sorted(map(str, doc))[:6]) if isinstance(doc, dict) else type(doc).__name__
        raise BodyUnreadable(
            f"feed {col.feed}: the JSON body is no MISP event, attribute list or restSearch answer ({keys}); "
            "an error answer? Check the feed's URL and key"
        )
    to_ids_only = options.get("misp_to_ids", True)
    count = 0
    for count, attr in enumerate(attributes(doc), 1):
        kind = str(attr.get("type", ""))
        value = attr.get("value")
        if not isinstance(value, str):
            col.ignore()
            continue
        if kind in _SIMPLE:
            values = [value]
        elif kind in _PORTED:
            values = [value.split("|", 1)[0]]
        elif kind == "domain|ip":
            values = value.split("|")
        else:  # hashes, e-mail addresses, ...: content, no network indicator
            col.ignore()
            continue
        text_sample = f"{kind} {value}"
        deleted = attr.get("deleted") in (True, "1", 1)
        if not deleted and to_ids_only and attr.get("to_ids") in (False, "0", 0):
            for _ in values:
                col.reject(count, text_sample, R.NOT_TO_IDS)
            continue
        for v in values:
            col.add(count, v, text_sample, retract=R.REVOKED if deleted else None)
    col.lines += count


def _misp_shaped(doc: Any) -> bool:
    """Whether ``doc`` has one of the shapes :func:`~threatfeed.misp_document.attributes` reads (an empty one
    included: ``[]`` or ``{"response": []}`` is a MISP answer with nothing in it)."""
    if isinstance(doc, list):
        return True
    return isinstance(doc, dict) and (
        bool({"response", "Event", "Attribute", "Object"} & set(doc)) or ("type" in doc and "value" in doc)
    )

"""Where MISP puts attributes in its JSON documents (events, event lists, ``restSearch`` responses,
objects, bare attribute lists).

Shared by the MISP adapter (``threatfeed.feeds.misp``, to count and trim what it downloads) and the
engine's MISP parser. It lives outside ``threatfeed.engine`` so the fetch function can use it without
importing the engine (and NumPy, which only the transform function ships).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def attributes(doc: Any) -> Iterator[dict[str, Any]]:
    """Every attribute dict, wherever MISP nests it."""
    if isinstance(doc, list):
        for item in doc:
            yield from attributes(item)
        return
    if not isinstance(doc, dict):
        return
    if "response" in doc:
        yield from attributes(doc["response"])
        return
    if "Event" in doc:
        yield from attributes(doc["Event"])
        return
    if "Attribute" in doc or "Object" in doc:
        attrs = doc.get("Attribute") or []
        for attr in attrs if isinstance(attrs, list) else [attrs]:
            if isinstance(attr, dict):
                yield attr
        for obj in doc.get("Object") or []:
            if isinstance(obj, dict):
                yield from attributes(obj)
        return
    if "type" in doc and "value" in doc:
        yield doc

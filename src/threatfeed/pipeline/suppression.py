"""How a run's summary tells what the warninglists kept out of GuardDuty (``threatfeed local run``, the demo)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def suppression_text(summary: Mapping[str, Any], top: int = 6) -> str:
    """Lines for a run's summary: indicators suppressed as benign infrastructure, per warninglist (the commonest
    ``top``) and per feed; empty when nothing was suppressed."""
    per_list = summary.get("suppressed") or {}
    if not per_list:
        return ""
    total = sum(per_list.values())
    ranked = sorted(per_list.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{name} {n}" for name, n in ranked[:top])
    if len(ranked) > top:
        shown += f", {len(ranked) - top} more lists {sum(n for _, n in ranked[top:])}"
    feeds = ", ".join(
        f"{name} {feed['suppressed']}"
        for name, feed in sorted((summary.get("feeds") or {}).items())
        if feed.get("suppressed")
    )
    return (
        f"\nSuppressed as benign infrastructure (MISP warninglists): {total}\n  by list: {shown}\n  by feed: {feeds}\n"
    )

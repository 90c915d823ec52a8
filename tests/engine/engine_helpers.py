"""Plain helpers for the engine tests (a fixed clock, settings, list contents)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from threatfeed.engine import EngineResult, EngineSettings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def settings(**overrides: Any) -> EngineSettings:
    overrides.setdefault("now", NOW)
    return EngineSettings(**overrides)


def lines_of(result: EngineResult, kind: str) -> list[str]:
    out: list[str] = []
    for lst in result.lists:
        if lst.kind == kind:
            out.extend(lst.body.decode("ascii").splitlines())
    return out

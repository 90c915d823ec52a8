"""Markers of the pipeline tests."""

from __future__ import annotations

from typing import Any


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers", "slow: a run at catalogue scale (minutes); `make test` runs it, `-m 'not slow'` leaves it out"
    )

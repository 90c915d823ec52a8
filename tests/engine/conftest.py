"""Shared helpers for the engine tests: a fixed clock and one-call wrappers around the public API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from engine_helpers import lines_of, settings

from threatfeed.engine import EngineResult, FeedBody, build_lists


@pytest.fixture
def run() -> Callable[..., EngineResult]:
    """``run(body, fmt="auto", feed="f", options=None, **settings)`` -> EngineResult for one feed."""

    def _run(
        body: bytes | str, fmt: str = "auto", feed: str = "f", options: dict[str, Any] | None = None, **kw: Any
    ) -> EngineResult:
        data = body.encode() if isinstance(body, str) else body
        return build_lists([FeedBody(feed, data, fmt, options or {})], settings(**kw))

    return _run


@pytest.fixture
def ips() -> Callable[[EngineResult], list[str]]:
    return lambda result: lines_of(result, "ip")


@pytest.fixture
def names() -> Callable[[EngineResult], list[str]]:
    return lambda result: lines_of(result, "domain")

"""Shared fixtures: the embedded AWS, started fresh for each test that asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from embedded_aws.runtime import EmbeddedAws

# Property tests check what is computed, never how fast: no per-example wall-clock deadline (a shared 2-core
# machine under load made a 200 ms deadline fail now and then). Timing is `make bench`'s job.
settings.register_profile("threatfeed", deadline=None)
settings.load_profile("threatfeed")


_EMBEDDED_NAMES = ("EmbeddedAws", "mock_aws", "FeedServer")


def _uses_the_embedded_aws(item: pytest.Item) -> bool:
    """Whether a test starts moto, the embedded AWS or a loopback server, itself or through a fixture: those are
    the seconds-long tests that ``make test-fast`` leaves out."""
    module = getattr(item, "module", None)
    if module is not None and any(name in vars(module) for name in _EMBEDDED_NAMES):
        return True
    info = getattr(item, "_fixtureinfo", None)
    for defs in info.name2fixturedefs.values() if info else ():
        for fixturedef in defs:
            func_globals = getattr(fixturedef.func, "__globals__", {})
            if any(name in func_globals for name in _EMBEDDED_NAMES):
                return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "embedded: starts the embedded AWS or a loopback server (added by tests/conftest.py)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _uses_the_embedded_aws(item):
            item.add_marker(pytest.mark.embedded)


@pytest.fixture
def embedded() -> Iterator[EmbeddedAws]:
    """The whole stack on moto over two Regions, as template.yaml deploys it; waits take simulated time."""
    with EmbeddedAws(regions=("us-east-1", "eu-west-1"), retry_sleep=False) as aws:
        yield aws

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


@pytest.fixture
def embedded() -> Iterator[EmbeddedAws]:
    """The whole stack on moto over two Regions, as template.yaml deploys it; waits take simulated time."""
    with EmbeddedAws(regions=("us-east-1", "eu-west-1"), retry_sleep=False) as aws:
        yield aws

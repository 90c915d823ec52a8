"""Shared fixtures: the embedded AWS, started fresh for each test that asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from embedded_aws.runtime import EmbeddedAws


@pytest.fixture
def embedded() -> Iterator[EmbeddedAws]:
    """The whole stack on moto over two Regions, as template.yaml deploys it; waits take simulated time."""
    with EmbeddedAws(regions=("us-east-1", "eu-west-1"), retry_sleep=False) as aws:
        yield aws

"""Markers and shared fixtures of the pipeline tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

#: The data bucket of the tests that use the ``s3`` fixture.
BUCKET = "tf-data"


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers", "slow: a run at catalogue scale (minutes); `make test` runs it, `-m 'not slow'` leaves it out"
    )


@pytest.fixture
def s3() -> Iterator[Any]:
    """An S3 client on moto with the data bucket :data:`BUCKET` created and versioned, as the stack creates it:
    the catalogue's write-once rule and the Region lease both rely on versioned, conditional writes."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client

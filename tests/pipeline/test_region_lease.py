"""The per-Region publish lease: a run releases only its own lease."""

from __future__ import annotations

import json
from typing import Any

import pytest

from threatfeed.storage import LeaseHeld, RegionLease, lease_key

BUCKET = "tf-data"


def holder(s3: Any) -> str | None:
    try:
        body = s3.get_object(Bucket=BUCKET, Key=lease_key("eu-west-1"))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return str(json.loads(body)["holder"])


def test_a_run_that_overran_its_lease_does_not_release_its_successor_s(s3: Any) -> None:
    slow = RegionLease(s3, BUCKET, "eu-west-1", "run-a", seconds=300, now=1000.0)
    slow.__enter__()
    # run-a is still working 10 minutes later; its lease expired and run-b took it over
    successor = RegionLease(s3, BUCKET, "eu-west-1", "run-b", seconds=300, now=1600.0)
    successor.__enter__()
    assert holder(s3) == "run-b"

    slow.__exit__(None, None, None)

    assert holder(s3) == "run-b"
    with pytest.raises(LeaseHeld):
        RegionLease(s3, BUCKET, "eu-west-1", "run-c", seconds=300, now=1700.0).__enter__()
    successor.__exit__(None, None, None)
    assert holder(s3) is None


def test_a_released_lease_can_be_taken_at_once(s3: Any) -> None:
    with RegionLease(s3, BUCKET, "eu-west-1", "run-a", seconds=300, now=1000.0):
        assert holder(s3) == "run-a"
    assert holder(s3) is None
    with RegionLease(s3, BUCKET, "eu-west-1", "run-b", seconds=300, now=1001.0):
        assert holder(s3) == "run-b"

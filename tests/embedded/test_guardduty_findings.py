"""The embedded GuardDuty raises findings from its ACTIVE lists and CloudTrail events for list changes, and
EventBridge delivers both to the stack's functions, with their execution roles, as AWS does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from embedded_aws.guardduty.findings import IP_FINDING
from embedded_aws.runtime import EmbeddedAws
from threatfeed.guardduty import parse_s3_location


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    """One published run (lists ACTIVE in both Regions)."""
    with EmbeddedAws(regions=("us-east-1", "eu-west-1"), retry_sleep=False) as embedded:
        result = embedded.run()
        assert result.status == "SUCCEEDED", result.cause
        embedded.last_summary = result.output  # type: ignore[attr-defined]
        yield embedded


def listed(aws: EmbeddedAws, kind: str, region: str = "us-east-1") -> list[str]:
    """The entries of the run's list of ``kind`` in ``region``, from the object GuardDuty points at."""
    item = next(i for i in aws.last_summary["regions"][region]["lists"] if i["kind"] == kind)  # type: ignore[attr-defined]
    bucket, key = parse_s3_location(item["location"]) or ("", "")
    body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [line for line in body.splitlines() if line and "/" not in line]


def sighting(aws: EmbeddedAws, key: str) -> dict[str, Any]:
    body = aws.client("s3").get_object(Bucket=aws.stack.bucket, Key=key)["Body"].read()
    return dict(json.loads(body))


def test_a_listed_address_raises_the_custom_finding_and_the_sightings_function_records_its_feeds(
    aws: EmbeddedAws,
) -> None:
    address = listed(aws, "ip")[0]
    checked_before = aws.iam.checked

    result = aws.finding(address)

    assert result.raised, result.reason
    assert result.finding is not None and result.finding["type"] == IP_FINDING
    details = result.finding["service"]["evidence"]["threatIntelligenceDetails"]
    assert [d["threatListName"] for d in details] == ["threatfeed-threatfeed-ip-1"]
    [delivery] = result.deliveries
    assert delivery["outcome"] == "ok", delivery
    assert "SightingsFunction" in delivery["function"]
    recorded = delivery["result"]
    assert recorded["outcome"] == "recorded" and recorded["feeds"], recorded
    stored = sighting(aws, recorded["key"])
    assert stored["indicator"] == address and stored["feeds"] == recorded["feeds"]
    assert stored["lists"] == ["threatfeed-threatfeed-ip-1"]
    # The function ran with its execution role: its S3 calls were authorized, none denied.
    assert aws.iam.checked > checked_before
    assert not [d for d in aws.iam.denials if "Sightings" in d.caller.role_arn]


def test_the_same_activity_again_updates_the_one_finding_and_its_one_sighting(aws: EmbeddedAws) -> None:
    address = listed(aws, "ip")[1]

    first = aws.finding(address)
    second = aws.finding(address)

    assert first.finding and second.finding
    assert first.finding["id"] == second.finding["id"]
    assert second.finding["service"]["count"] == 2
    assert second.deliveries[0]["result"]["outcome"] == "updated"
    keys = [
        o["Key"]
        for o in aws.client("s3").list_objects_v2(Bucket=aws.stack.bucket, Prefix="sightings/")["Contents"]
        if first.finding["id"] in o["Key"]
    ]
    assert len(keys) == 1 and sighting(aws, keys[0])["count"] == 2


def test_a_listed_domain_raises_the_dns_finding(aws: EmbeddedAws) -> None:
    name = next(n for n in listed(aws, "domain") if not n.startswith("*."))

    result = aws.finding(name)

    assert result.raised and result.finding is not None
    assert result.finding["type"] == "Impact:EC2/MaliciousDomainRequest.Custom"
    assert result.finding["service"]["action"]["dnsRequestAction"]["domain"] == name
    assert result.deliveries[0]["result"]["indicator"] == name


def test_an_address_in_no_active_list_raises_nothing_and_says_why(aws: EmbeddedAws) -> None:
    delivered = len(aws.deliveries.items)

    result = aws.finding("192.0.2.250")

    assert not result.raised
    assert "no ACTIVE threat list" in result.reason and "192.0.2.250" in result.reason
    assert result.event_id is None
    aws.deliveries.wait()
    assert len(aws.deliveries.items) == delivered


def test_a_finding_in_another_region_reaches_no_rule_of_the_stack(aws: EmbeddedAws) -> None:
    """EventBridge rules are regional: the stack's rule (us-east-1) does not see eu-west-1's findings."""
    result = aws.finding(listed(aws, "ip", "eu-west-1")[0], "eu-west-1")

    assert result.raised
    assert result.deliveries == []


def test_the_next_runs_manifest_carries_the_periods_findings_per_feed(aws: EmbeddedAws) -> None:
    recorded = aws.finding(listed(aws, "ip")[2]).deliveries[0]["result"]

    result = aws.run()

    manifest_uri = (result.output or {})["manifest"]
    bucket, _, key = manifest_uri.removeprefix("s3://").partition("/")
    manifest = json.loads(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    hits = manifest["hits"]
    assert hits["days"] == 30 and hits["findings"] >= 1
    assert all(hits["feeds"][feed] >= 1 for feed in recorded["feeds"])
    assert set(hits["feeds"]) == {"isight", "blocklist", "csv-list", "taxii-hvi", "misp"}

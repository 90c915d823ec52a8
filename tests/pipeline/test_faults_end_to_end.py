"""A fault per AWS service and kind, injected for the next N calls: the run retries or fails cleanly, and the
list GuardDuty uses is never lost (its object still exists, and it is the last good one)."""

from __future__ import annotations

import pytest

from embedded_aws.faults import fast_retries, inject_fault
from embedded_aws.runtime import EmbeddedAws
from threatfeed.guardduty import parse_s3_location
from threatfeed.secrets import reset_secret_cache


def _lists(aws: EmbeddedAws) -> dict[str, str]:
    """Region -> Location of the project's IP list, after checking the object it names exists."""
    out = {}
    for region in aws.regions:
        gd = aws.client("guardduty", region)
        detector = gd.list_detectors()["DetectorIds"][0]
        (set_id,) = gd.list_threat_intel_sets(DetectorId=detector)["ThreatIntelSetIds"]
        info = gd.get_threat_intel_set(DetectorId=detector, ThreatIntelSetId=set_id)
        bucket, key = parse_s3_location(info["Location"])
        aws.client("s3").head_object(Bucket=bucket, Key=key)
        out[region] = info["Location"]
    return out


@pytest.mark.parametrize(
    ("service", "kind", "count", "operations", "expected_status", "expected_error", "list_after"),
    [
        # Retried (botocore's attempts, then the state machine's Retry), then the run goes through.
        ("guardduty", "5xx", 3, {"UpdateThreatIntelSet"}, "SUCCEEDED", None, "new"),
        ("guardduty", "timeout", 3, {"UpdateThreatIntelSet"}, "SUCCEEDED", None, "new"),
        ("s3", "throttle", 3, {"PutObject"}, "SUCCEEDED", None, "new"),
        ("s3", "5xx", 3, {"GetObject"}, "SUCCEEDED", None, "new"),
        ("secretsmanager", "throttle", 3, {"GetSecretValue"}, "SUCCEEDED", None, "new"),
        # The notification itself is retried: a failed feed is still reported, the others still publish.
        ("sns", "5xx", 2, {"Publish"}, "FAILED", "FeedsFailed", "new"),
        # Refused: the run fails cleanly and names the cause; what GuardDuty uses stays as it was.
        ("guardduty", "access_denied", 50, {"UpdateThreatIntelSet"}, "FAILED", "RegionsFailed", "kept"),
        ("s3", "access_denied", 50, {"PutObject"}, "FAILED", "AwsAccessDenied", "kept"),
        # The iSIGHT secret is unreadable: that feed fails and keeps its entries, the others publish.
        ("secretsmanager", "access_denied", 50, {"GetSecretValue"}, "FAILED", "FeedsFailed", "new"),
    ],
)
def test_a_fault_is_retried_or_fails_cleanly_and_the_published_list_survives(
    embedded: EmbeddedAws, service, kind, count, operations, expected_status, expected_error, list_after
) -> None:
    first = embedded.run()
    assert first.status == "SUCCEEDED"
    before = _lists(embedded)
    # Something to publish, so the faulted run reaches every service.
    embedded.feed_server.set_route("/samples/blocklist.txt", body=b"45.9.20.1\n45.9.20.2\n185.220.101.7\n")
    if service == "sns":
        embedded.feed_server.set_route("/samples/indicators.csv", status=500, body=b"down")

    reset_secret_cache()  # a cold Lambda container: the fetch reads the secret again
    with fast_retries(), inject_fault(service, kind=kind, count=count, operations=operations) as fault:
        result = embedded.run({"trigger": "manual", "force": True})

    assert fault.fired >= 1
    assert result.status == expected_status, (result.error, result.cause)
    assert result.error == expected_error
    after = _lists(embedded)  # every Region still points at an existing object
    if list_after == "kept":
        assert after == before
    else:
        assert all(after[r] != before[r] for r in embedded.regions)

"""End-to-end executions of the real state machine on the embedded AWS, with the real handlers."""

from __future__ import annotations

import json

from embedded_aws.faults import fast_retries, inject_fault
from embedded_aws.runtime import EmbeddedAws


def _list_objects(aws: EmbeddedAws, prefix: str) -> list[str]:
    s3 = aws.client("s3")
    return [o["Key"] for o in s3.list_objects_v2(Bucket=aws.stack.bucket, Prefix=prefix).get("Contents", [])]


def test_a_run_publishes_active_lists_in_both_regions(embedded: EmbeddedAws) -> None:
    result = embedded.run({"trigger": "manual"})

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    summary = result.output
    assert summary["ok"] is True
    assert set(summary["regions"]) == {"us-east-1", "eu-west-1"}
    for region in ("us-east-1", "eu-west-1"):
        lists = summary["regions"][region]["lists"]
        assert lists, region
        assert {item["status"] for item in lists} == {"ACTIVE"}
        gd = embedded.client("guardduty", region)
        detector = gd.list_detectors()["DetectorIds"][0]
        ip_sets = gd.list_threat_intel_sets(DetectorId=detector)["ThreatIntelSetIds"]
        assert len(ip_sets) == 1
        got = gd.get_threat_intel_set(DetectorId=detector, ThreatIntelSetId=ip_sets[0])
        assert got["Status"] == "ACTIVE"
        assert got["Tags"]["threatfeed:stack"] == embedded.stack_name
    assert {"isight", "blocklist", "csv-list"} <= set(summary["feeds"])
    assert all(feed["accepted"] > 0 for feed in summary["feeds"].values())
    manifest_key = summary["manifest"].split("/", 3)[3]
    manifest = json.loads(
        embedded.client("s3").get_object(Bucket=embedded.stack.bucket, Key=manifest_key)["Body"].read()
    )
    assert manifest["lists"] and all(item["sha256"] for item in manifest["lists"])
    # The polling loop ran in the state machine, not in a sleeping Lambda.
    assert "WaitForActivation" in result.entered_states()


def test_feed_bodies_stay_in_s3_and_out_of_the_execution_history(embedded: EmbeddedAws) -> None:
    result = embedded.run({"trigger": "manual"})

    assert result.status == "SUCCEEDED"
    raw = _list_objects(embedded, f"raw/{result.name}/")
    assert len(raw) == 5
    body = embedded.client("s3").get_object(Bucket=embedded.stack.bucket, Key=raw[0])["Body"].read()
    history = json.dumps(result.events, default=str)
    assert body[:200].decode(errors="replace") not in history


def test_a_second_run_with_the_same_feeds_changes_nothing(embedded: EmbeddedAws) -> None:
    first = embedded.run({"trigger": "manual"})
    second = embedded.run({"trigger": "manual"})

    assert first.status == second.status == "SUCCEEDED"
    assert second.output["published"] is False
    assert "unchanged" in second.output["reason"]


def test_throttled_guardduty_is_retried_and_the_run_succeeds(embedded: EmbeddedAws) -> None:
    # Six throttles: each Region's first invocation uses its 3 botocore attempts on them and fails with
    # AwsThrottled, so the state machine's Retry (not botocore's) has to bring the run to success.
    with (
        fast_retries(),
        inject_fault("guardduty", kind="throttle", count=6, operations={"CreateThreatIntelSet"}) as fault,
    ):
        result = embedded.run({"trigger": "manual"})

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert fault.fired == 6
    failed = [e["taskFailedEventDetails"]["error"] for e in result.events if e["type"] == "TaskFailed"]
    assert failed.count("AwsThrottled") == 2
    assert {item["status"] for r in result.output["regions"].values() for item in r["lists"]} == {"ACTIVE"}


def test_a_failing_feed_notifies_through_sns_and_fails_the_run_naming_the_state(embedded: EmbeddedAws) -> None:
    sqs = embedded.client("sqs")
    queue_url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    embedded.client("sns").subscribe(TopicArn=embedded.stack.topic_arn, Protocol="sqs", Endpoint=queue_arn)
    embedded.feed_server.set_route("/samples/blocklist.txt", status=500, body=b"upstream broke")

    result = embedded.run({"trigger": "manual"})

    assert result.status == "FAILED"
    assert result.error == "FeedsFailed"
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    body = json.loads(messages[0]["Body"])
    assert "failed in state FetchFeed" in body["Message"]
    assert "blocklist" in body["Message"]
    assert result.name in body["Message"]
    # The other feeds were still published.
    gd = embedded.client("guardduty", "us-east-1")
    detector = gd.list_detectors()["DetectorIds"][0]
    assert gd.list_threat_intel_sets(DetectorId=detector)["ThreatIntelSetIds"]


def test_bad_execution_input_fails_at_plan_with_no_side_effect(embedded: EmbeddedAws) -> None:
    result = embedded.run({"trigger": "manual", "feeds": ["no-such-feed"]})

    assert result.status == "FAILED"
    assert result.error == "ConfigError"
    assert "no-such-feed" in (result.cause or "")
    assert _list_objects(embedded, "raw/") == []


def test_metrics_are_written_as_emf_records_the_alarms_can_match(embedded: EmbeddedAws) -> None:
    embedded.run({"trigger": "manual"})

    records = [json.loads(line) for line in embedded.log_lines() if line.startswith("{") and '"_aws"' in line]
    by_name: dict[str, list[dict]] = {}
    for record in records:
        for metric in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            by_name.setdefault(metric["Name"], []).append(record)
    assert {r["feed"] for r in by_name["FeedIndicatorsAccepted"]} == {
        "isight",
        "blocklist",
        "csv-list",
        "taxii-hvi",
        "misp",
    }
    assert {r["region"] for r in by_name["RegionPublished"]} == {"us-east-1", "eu-west-1"}
    assert by_name["RunDurationSeconds"][0]["RunDurationSeconds"][0] > 0
    assert all(r["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "threatfeed" for r in records)

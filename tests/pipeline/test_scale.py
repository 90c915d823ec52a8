"""500 feeds x 17 Regions in one run, within every Step Functions limit, on the embedded AWS.

The fetch fan-out is a Distributed Map: feed items come from S3, results go to S3, and every state payload carries
pointers and counts. With an inline Map, 500 feeds' results (a third of them failure causes) would pass the 256 KiB
payload limit (``States.DataLimitExceeded``). Two runs: the first fetches every feed and publishes in 17 Regions;
in the second a third of the feeds fail (404 and 500), and the run ends as the guards say: FeedsFailed, the failed
feeds' previous entries kept (so the lists are unchanged), one bounded notification naming the first few.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from typing import Any

import pytest

from embedded_aws.runtime import REPO_ROOT, EmbeddedAws, ExecutionResult

pytestmark = pytest.mark.slow

FEEDS = 500
REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
)
PAYLOAD_BUDGET = 64 * 1024  # a quarter of Step Functions' 256 KiB
HISTORY_EVENTS = 25_000  # a Standard execution's history
FAIL_CAUSE_CHARS = 32_768  # a Fail state's cause
SNS_MESSAGE_BYTES = 256 * 1024
PAYLOAD_FIELDS = ("input", "output", "parameters", "cause")


def _name(i: int) -> str:
    return f"feed-{i:03d}"


def _body(i: int) -> bytes:
    return f"45.{i // 200}.{i % 200}.1\n45.{i // 200}.{i % 200}.2\nevil-c2-{i}.xyz\n".encode()


def _failing(i: int) -> bool:
    return i % 3 == 2


def _catalogue(server: Any, _secret: str) -> dict[str, Any]:
    return {
        "feeds": [
            {"name": _name(i), "type": "http_list", "url": server.url(f"/feeds/{i}.txt"), "format": "txt"}
            for i in range(FEEDS)
        ]
    }


def _largest_payload(events: list[dict[str, Any]]) -> tuple[int, str]:
    largest, where = 0, ""
    for event in events:
        for key, details in event.items():
            if not (key.endswith("EventDetails") and isinstance(details, dict)):
                continue
            for field in PAYLOAD_FIELDS:
                value = details.get(field)
                if isinstance(value, str) and len(value.encode()) > largest:
                    largest, where = len(value.encode()), f"{event['type']} {details.get('name', '')}".strip()
    return largest, where


def _run_cost_tool() -> Any:
    spec = importlib.util.spec_from_file_location("run_cost", REPO_ROOT / "tools" / "run_cost.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("run_cost", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _report(label: str, aws: EmbeddedAws, result: ExecutionResult, seconds: float, invocations: list[Any]) -> str:
    largest, where = _largest_payload(result.events)
    children = max((run.largest_payload for run in aws.map_runs.of(result.arn)), default=0)
    cost = _run_cost_tool().run_cost(result.events, aws.map_runs.transitions(result.arn), invocations)
    lines = [
        f"{label}: {result.status} {result.error or ''} in {seconds:.1f} s wall time",
        f"  history: {len(result.events)} events; largest state payload {largest:,} bytes ({where}); "
        f"largest in a child execution {children:,} bytes",
        *(f"  {line}" for line in cost.lines()),
    ]
    return "\n".join(lines)


def _subscribe(aws: EmbeddedAws) -> str:
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="scale-notifications")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=aws.stack.topic_arn, Protocol="sqs", Endpoint=arn)
    return queue_url


def _s3_json(aws: EmbeddedAws, uri_or_key: str) -> Any:
    key = uri_or_key.split("/", 3)[3] if uri_or_key.startswith("s3://") else uri_or_key
    return json.loads(aws.client("s3").get_object(Bucket=aws.stack.bucket, Key=key)["Body"].read())


def test_500_feeds_in_17_regions_stay_within_step_functions_limits_and_fail_as_the_guards_say(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with EmbeddedAws(regions=REGIONS, catalogue=_catalogue, retry_sleep=False) as aws:
        queue_url = _subscribe(aws)
        for i in range(FEEDS):
            aws.feed_server.set_route(f"/feeds/{i}.txt", body=_body(i))

        started = time.monotonic()
        first = aws.run(timeout=1800)
        first_seconds = time.monotonic() - started
        first_calls = list(aws.registry.invocations)

        failing = [i for i in range(FEEDS) if _failing(i)]
        for i in failing:
            aws.feed_server.set_route(f"/feeds/{i}.txt", status=404 if i % 2 else 500, body=b"gone")
        started = time.monotonic()
        second = aws.run(timeout=1800)
        second_seconds = time.monotonic() - started
        second_calls = list(aws.registry.invocations)[len(first_calls) :]

        with capsys.disabled():
            print()
            size = f"{FEEDS} feeds x {len(REGIONS)} Regions"
            print(_report(f"{size}, all fetched", aws, first, first_seconds, first_calls))
            print(_report(f"{size}, {len(failing)} failing", aws, second, second_seconds, second_calls))

        # the first run fetched every feed and published in every Region
        assert first.status == "SUCCEEDED", (first.error, (first.cause or "")[:500])
        assert first.output["published"] is True and first.output["feed_counts"]["ok"] == FEEDS
        assert set(first.output["regions"]) == set(REGIONS)
        assert all(
            item["status"] == "ACTIVE" for region in first.output["regions"].values() for item in region["lists"]
        )

        # every state payload, the execution's and its child executions', stays far under 256 KiB
        for result in (first, second):
            assert _largest_payload(result.events)[0] < PAYLOAD_BUDGET
            assert len(result.events) < HISTORY_EVENTS
            runs = aws.map_runs.of(result.arn)
            assert [run.counts()["SUCCEEDED"] for run in runs] == [FEEDS]  # each child's own Catch took its error
            assert all(run.largest_payload < PAYLOAD_BUDGET for run in runs)

        # the second run: FeedsFailed, naming how many and the first few, pointing at the manifest
        assert second.status == "FAILED" and second.error == "FeedsFailed"
        cause = second.cause or ""
        assert len(cause) < FAIL_CAUSE_CHARS
        assert cause.startswith(f"{len(failing)} of {FEEDS} feed(s) failed; their previous entries were kept.")
        assert _name(failing[0]) in cause and _name(failing[1]) in cause
        assert _name(failing[-1]) not in cause and "more feeds" in cause
        manifest_uri = f"s3://{aws.stack.bucket}/manifests/{second.name}.json"
        assert manifest_uri in cause
        manifest = _s3_json(aws, manifest_uri)
        fetched = {item["feed"]: item for item in manifest["fetched"]}
        assert len(fetched) == FEEDS
        assert {name for name, item in fetched.items() if item["outcome"] == "failed"} == {_name(i) for i in failing}
        assert fetched[_name(failing[-1])]["error"] in ("FeedRejected", "FeedUnavailable")

        # the failed feeds' previous entries were kept: the same lists, so nothing to publish again
        details = _s3_json(aws, f"s3://{aws.stack.bucket}/runs/{second.name}/summary.json")
        assert details["published"] is False and "unchanged" in details["reason"]
        assert len(details["feeds"]) == FEEDS
        ip_list = next(item for item in manifest["lists"] if item["kind"] == "ip")
        body = aws.client("s3").get_object(Bucket=aws.stack.bucket, Key=ip_list["key"])["Body"].read().decode()
        kept = failing[-1]
        assert f"45.{kept // 200}.{kept % 200}.1" in body

        # exactly one notification, bounded, with the counts and the pointer
        sqs = aws.client("sqs")
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        notification = json.loads(messages[0]["Body"])["Message"]
        assert len(messages) == 1 and len(notification.encode()) < SNS_MESSAGE_BYTES
        assert f"{len(failing)} of {FEEDS} feed(s) failed" in notification and manifest_uri in notification

        assert aws.iam.denials == []  # every call, the ItemReader's, the ResultWriter's and the children's, allowed

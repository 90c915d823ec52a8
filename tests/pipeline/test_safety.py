"""Never lose a good list, never publish a bad one: guards, concurrency, secrets, partial failures."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator

import pytest

from embedded_aws import guardduty
from embedded_aws.runtime import EmbeddedAws
from threatfeed.guardduty import parse_s3_location

PUBLIC_KEY = "pk-5f1d2c9e-visible-nowhere"
PRIVATE_KEY = "sk-9a8b7c6d5e4f-never-in-any-log"


def ip_list(aws: EmbeddedAws, region: str) -> dict:
    gd = aws.client("guardduty", region)
    detector = gd.list_detectors()["DetectorIds"][0]
    (set_id,) = gd.list_threat_intel_sets(DetectorId=detector)["ThreatIntelSetIds"]
    return gd.get_threat_intel_set(DetectorId=detector, ThreatIntelSetId=set_id)


def list_body(aws: EmbeddedAws, location: str) -> bytes:
    bucket, key = parse_s3_location(location)
    return aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def big_blocklist(count: int, start: int = 10) -> bytes:
    return "".join(f"45.{start + i // 250}.{i % 250}.1\n" for i in range(count)).encode()


@pytest.fixture
def one_feed() -> Iterator[EmbeddedAws]:
    """One plain-text feed, so a test controls exactly what the list should hold."""

    def catalogue(server, _secret):
        return {"feeds": [{"name": "main", "type": "http_list", "url": server.url("/main.txt"), "format": "txt"}]}

    with EmbeddedAws(
        regions=("us-east-1", "eu-west-1"),
        catalogue=catalogue,
        retry_sleep=False,
    ) as aws:
        yield aws


def test_a_sudden_drop_keeps_the_active_list_notifies_and_force_overrides(one_feed: EmbeddedAws) -> None:
    aws = one_feed
    aws.feed_server.set_route("/main.txt", body=big_blocklist(100))
    first = aws.run()
    assert first.status == "SUCCEEDED"
    before = ip_list(aws, "us-east-1")["Location"]

    aws.feed_server.set_route("/main.txt", body=big_blocklist(10))
    guarded = aws.run()

    assert guarded.status == "FAILED"
    assert guarded.error == "SuddenDropGuard"
    assert "from 100 to 10 entries" in guarded.cause
    assert ip_list(aws, "us-east-1")["Location"] == before

    forced = aws.run({"trigger": "urgent", "force": True})
    assert forced.status == "SUCCEEDED"
    after = ip_list(aws, "us-east-1")
    assert after["Location"] != before
    assert len(list_body(aws, after["Location"]).splitlines()) == 10


def test_unchanged_content_writes_nothing_and_updates_nothing(one_feed: EmbeddedAws) -> None:
    aws = one_feed
    aws.feed_server.set_route("/main.txt", body=big_blocklist(20))
    aws.run()
    location = ip_list(aws, "us-east-1")["Location"]
    lists_before = aws.client("s3").list_object_versions(Bucket=aws.stack.bucket, Prefix="lists/")

    second = aws.run()

    assert second.status == "SUCCEEDED"
    assert second.output["published"] is False and second.output["reason"].startswith("unchanged")
    assert ip_list(aws, "us-east-1")["Location"] == location
    lists_after = aws.client("s3").list_object_versions(Bucket=aws.stack.bucket, Prefix="lists/")
    assert lists_after.get("Versions") == lists_before.get("Versions")
    # Every run checks the lists GuardDuty has (drift repair, issue 13): unchanged ACTIVE lists are left alone.
    assert {i["action"] for r in second.output["regions"].values() for i in r["lists"]} == {"unchanged"}


def test_an_html_page_with_200_never_replaces_the_published_list(one_feed: EmbeddedAws) -> None:
    aws = one_feed
    aws.feed_server.set_route("/main.txt", body=big_blocklist(30))
    aws.run()
    before = ip_list(aws, "eu-west-1")["Location"]
    aws.feed_server.set_route(
        "/main.txt", body=b"<html><body>Please log in</body></html>", headers={"Content-Type": "text/html"}
    )

    result = aws.run()

    assert result.status == "FAILED"
    assert result.error == "FeedsFailed"
    assert ip_list(aws, "eu-west-1")["Location"] == before


def test_two_executions_at_once_never_leave_an_older_list_over_a_newer_one(one_feed: EmbeddedAws) -> None:
    aws = one_feed
    # The older run's download is held until the newer run has published: the worst interleaving, on purpose.
    release = threading.Event()
    requests: list[int] = []

    def main_list(_request):
        requests.append(1)
        if len(requests) == 1:  # the older run
            assert release.wait(60), "the newer run never finished"
            return 200, {"Content-Type": "text/plain"}, big_blocklist(40, start=10)
        return 200, {"Content-Type": "text/plain"}, big_blocklist(40, start=90)

    aws.feed_server.set_handler("/main.txt", main_list)
    older = aws.start({"trigger": "scheduled"}, name="scheduled-older")
    while not requests:
        threading.Event().wait(0.02)
    newer = aws.wait(aws.start({"trigger": "urgent"}, name="urgent-newer"))
    release.set()
    older_result = aws.wait(older)

    assert newer.status == older_result.status == "SUCCEEDED"
    for region in aws.regions:
        current = ip_list(aws, region)
        body = list_body(aws, current["Location"])  # the object GuardDuty points at exists...
        assert body.startswith(b"45.90.") and b"45.10." not in body  # ...and it is the newer run's list
        assert older_result.output["regions"][region]["outcome"] == "superseded"
        assert newer.output["regions"][region]["outcome"] == "published"


def test_secrets_appear_in_no_log_no_history_event_and_no_s3_object() -> None:
    with EmbeddedAws(
        parameters={"PublicKey": PUBLIC_KEY, "PrivateKey": PRIVATE_KEY},
        retry_sleep=False,
    ) as aws:
        good = aws.run()
        aws.feed_server.set_route("/view/iocs", status=500, body=b"boom")
        bad = aws.run()
        assert good.status == "SUCCEEDED" and good.output["feeds"]["isight"]["accepted"] > 0
        assert bad.status == "FAILED"

        haystacks = list(aws.log_lines())
        assert len(haystacks) > 10
        for result in (good, bad):
            haystacks.extend(json.dumps(e, default=str) for e in result.events)
        s3 = aws.client("s3")
        for version in s3.list_object_versions(Bucket=aws.stack.bucket).get("Versions", []):
            obj = s3.get_object(Bucket=aws.stack.bucket, Key=version["Key"], VersionId=version["VersionId"])
            haystacks.append(obj["Body"].read().decode("utf-8", "replace"))
            haystacks.append(json.dumps(obj.get("Metadata", {})))
        haystacks.extend(r.path + json.dumps(r.headers) for r in aws.feed_server.requests)

        secretsmanager = aws.client("secretsmanager")
        taxii = json.loads(secretsmanager.get_secret_value(SecretId=aws.demo_apis.taxii_secret)["SecretString"])
        misp = json.loads(secretsmanager.get_secret_value(SecretId=aws.demo_apis.misp_secret)["SecretString"])
        others = [taxii["password"], misp["key"]]
        for secret in (PUBLIC_KEY, PRIVATE_KEY, *others):
            leaks = [h[:200] for h in haystacks if secret in h]
            assert not leaks, f"{secret[:6]}… leaked: {leaks[:3]}"
        private_hash = hashlib.sha256(PRIVATE_KEY.encode()).hexdigest()
        assert not [h for h in haystacks if private_hash in h]


def test_a_list_in_error_fails_its_region_while_the_other_region_publishes(one_feed: EmbeddedAws) -> None:
    aws = one_feed
    aws.feed_server.set_route("/main.txt", body=big_blocklist(10))
    sqs = aws.client("sqs")
    queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=aws.stack.topic_arn, Protocol="sqs", Endpoint=arn)

    with guardduty.forced_error("eu-west-1", "the object is not a valid TXT list"):
        result = aws.run()

    assert result.status == "FAILED"
    assert result.error == "RegionsFailed"
    regions = json.loads(json.dumps(result.events[-1], default=str))
    assert regions
    assert ip_list(aws, "us-east-1")["Status"] == "ACTIVE"
    assert ip_list(aws, "eu-west-1")["Status"] == "ERROR"
    message = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])["Message"]
    assert "eu-west-1" in message and "ERROR" in message


def test_failed_regions_up_to_the_tolerated_number_do_not_fail_the_run() -> None:
    def catalogue(server, _secret):
        return {"feeds": [{"name": "main", "type": "http_list", "url": server.url("/main.txt"), "format": "txt"}]}

    parameters = {"ToleratedRegionFailures": "1"}
    with EmbeddedAws(parameters=parameters, catalogue=catalogue, retry_sleep=False) as aws:
        aws.feed_server.set_route("/main.txt", body=big_blocklist(10))
        with guardduty.forced_error("eu-west-1", "not a valid list"):
            result = aws.run()

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output["failed_regions"] == ["eu-west-1"]
    assert result.output["regions"]["us-east-1"]["outcome"] == "published"
    assert "into ERROR" in result.output["regions"]["eu-west-1"]["cause"]

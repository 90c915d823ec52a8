"""The guards on the embedded AWS: what the old entry-count guard let through is held (or reported), GuardDuty
keeps its list, and the notification names the feed and the guard."""

from __future__ import annotations

import gzip
import ipaddress
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from embedded_aws.runtime import EmbeddedAws
from threatfeed.engine.policy import Policy
from threatfeed.guardduty import parse_s3_location


class Alerts:
    """The notification topic, read through an SQS queue subscribed to it (as an e-mail subscriber would)."""

    def __init__(self, aws: EmbeddedAws) -> None:
        self.sqs = aws.client("sqs")
        self.queue = self.sqs.create_queue(QueueName="alerts")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]
        aws.client("sns").subscribe(TopicArn=aws.stack.topic_arn, Protocol="sqs", Endpoint=arn["QueueArn"])

    def received(self) -> list[dict[str, Any]]:
        """Every notification since the last call: ``Subject`` and ``Message``."""
        out = []
        while messages := self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                out.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        return out


def catalogue_of(feeds: dict[str, dict[str, Any]]) -> Any:
    def catalogue(server: Any, _secret: str) -> dict[str, Any]:
        return {
            "feeds": [
                {"name": name, "type": "http_list", "url": server.url(f"/{name}"), "format": "txt", **entry}
                for name, entry in feeds.items()
            ]
        }

    return catalogue


@contextmanager
def embedded(entry: dict[str, Any] | None = None, **parameters: str) -> Iterator[tuple[EmbeddedAws, Alerts]]:
    """One Region, one feed ``main`` (catalogue ``entry``: format, options), the stack ``parameters``."""
    catalogue = catalogue_of({"main": entry or {}})
    with EmbeddedAws(regions=("us-east-1",), catalogue=catalogue, parameters=parameters, retry_sleep=False) as aws:
        yield aws, Alerts(aws)


@pytest.fixture
def main_feed() -> Iterator[tuple[EmbeddedAws, Alerts]]:
    with embedded() as both:
        yield both


def big_blocklist(count: int, start: int = 10) -> bytes:
    return "".join(f"45.{start + i // 250}.{i % 250}.1\n" for i in range(count)).encode()


def published_list(aws: EmbeddedAws) -> str:
    """Where the IP list GuardDuty uses points."""
    gd = aws.client("guardduty", "us-east-1")
    detector = gd.list_detectors()["DetectorIds"][0]
    (set_id,) = gd.list_threat_intel_sets(DetectorId=detector)["ThreatIntelSetIds"]
    return gd.get_threat_intel_set(DetectorId=detector, ThreatIntelSetId=set_id)["Location"]


def list_body(aws: EmbeddedAws, location: str) -> bytes:
    bucket, key = parse_s3_location(location)
    return aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def slash12s(count: int) -> list[str]:
    """``count`` routable /12s none adjacent to another (each the first of its /8), so the list keeps one entry
    per line however much they cover."""
    blocked = Policy().blocked
    out = []
    for first in range(1, 224):
        net = ipaddress.ip_network(f"{first}.0.0.0/12")
        if not blocked.overlaps(int(net.network_address), int(net.broadcast_address)):
            out.append(str(net))
    assert len(out) >= count
    return out[:count]


#: Public resolvers and a few cloud ranges: what a feed that lists "everything seen" would sweep in.
RESOLVERS_AND_CLOUDS = [
    "8.8.8.8", "8.8.4.4", "9.9.9.9", "149.112.112.112", "208.67.222.222", "208.67.220.220",
    "3.5.140.0/22", "13.32.0.0/15", "52.94.0.0/22", "35.190.0.0/17", "20.33.0.0/16", "104.16.0.0/13",
    "34.64.0.0/10",
]  # fmt: skip


def test_a_coverage_explosion_is_held_names_the_feed_and_force_overrides(main_feed) -> None:
    aws, alerts = main_feed
    healthy = big_blocklist(200)
    aws.feed_server.set_route("/main", body=healthy)
    assert aws.run().status == "SUCCEEDED"
    before = published_list(aws)
    alerts.received()

    # The same feed plus 1.0.0.0/8 as sixteen /12s, resolvers and cloud ranges: ~230 lines, ~21 million addresses.
    sixteen = [f"1.{16 * i}.0.0/12" for i in range(16)]
    exploded = healthy + "".join(f"{line}\n" for line in sixteen + RESOLVERS_AND_CLOUDS).encode()
    aws.feed_server.set_route("/main", body=exploded)
    held = aws.run()

    assert held.status == "FAILED" and held.error == "CoverageGuard"
    assert "coverage ceiling" in held.cause and "address space from feed(s): main" in held.cause
    assert published_list(aws) == before
    (notification,) = alerts.received()
    assert "CoverageGuard" in notification["Message"] and "main" in notification["Message"]

    forced = aws.run({"trigger": "urgent", "force": True})
    assert forced.status == "SUCCEEDED" and published_list(aws) != before


def test_a_list_of_slash_12s_as_long_as_the_published_one_is_held_by_what_it_covers() -> None:
    # no warninglists: they would carve cloud and CDN ranges out of these /12s (the count below is of whole /12s)
    with embedded(Warninglists="none") as (aws, alerts):
        _slash_12s_held(aws, alerts)


def _slash_12s_held(aws: EmbeddedAws, alerts: Alerts) -> None:
    aws.feed_server.set_route("/main", body=big_blocklist(200))
    aws.run()
    before = published_list(aws)
    alerts.received()

    # 200 lines again, so the entry count does not move: 200 /12s spread over the whole routable space.
    aws.feed_server.set_route("/main", body="".join(f"{net}\n" for net in slash12s(200)).encode())
    held = aws.run()

    assert held.status == "FAILED" and held.error == "CoverageGuard"
    assert "209,715,200 addresses" in held.cause and "main" in held.cause
    assert published_list(aws) == before
    (notification,) = alerts.received()
    assert "CoverageGuard" in notification["Message"] and "main" in notification["Message"]


def test_a_slow_drift_of_individually_allowed_drops_is_held(main_feed) -> None:
    aws, alerts = main_feed
    aws.feed_server.set_route("/main", body=big_blocklist(200))
    aws.run()
    aws.feed_server.set_route("/main", body=big_blocklist(120))
    step = aws.run()  # -40%: within the 50% the sudden-drop guard allows
    assert step.status == "SUCCEEDED" and step.output["published"]
    before = published_list(aws)
    alerts.received()

    aws.feed_server.set_route("/main", body=big_blocklist(72))  # -40% again, -64% from 200
    held = aws.run()

    assert held.status == "FAILED" and held.error == "DriftGuard"
    assert "72 entries against 200" in held.cause and "feed(s) that shrank: main" in held.cause
    assert published_list(aws) == before
    assert len(list_body(aws, before).splitlines()) == 120
    (notification,) = alerts.received()
    assert "DriftGuard" in notification["Message"] and "main" in notification["Message"]


def flap(aws: EmbeddedAws, runs: int) -> list[Any]:
    """Runs in which the feed alternates between two disjoint sets of 50 addresses."""
    results = []
    for i in range(runs):
        aws.feed_server.set_route("/main", body=big_blocklist(50, start=10 if i % 2 == 0 else 90))
        results.append(aws.run())
    return results


def test_a_flapping_feed_is_published_and_reported(main_feed) -> None:
    aws, alerts = main_feed
    first = flap(aws, 3)  # two replacements in a row: not yet flapping
    assert all(r.status == "SUCCEEDED" and "attention" not in r.output for r in first)
    assert alerts.received() == []

    aws.feed_server.set_route("/main", body=big_blocklist(50, start=90))
    third_replacement = aws.run()

    assert third_replacement.status == "SUCCEEDED" and third_replacement.output["published"]
    assert third_replacement.output["attention"]["error"] == "FlappingGuard"
    assert third_replacement.output["feeds"]["main"]["overlap"] == 0.0
    (notification,) = alerts.received()
    assert notification["Subject"] == "threatfeed run needs attention"
    assert "FlappingGuard" in notification["Message"] and "flapping feed: main" in notification["Message"]


def test_a_flapping_feed_holds_the_lists_when_so_configured() -> None:
    with embedded(FlapAction="hold") as (aws, alerts):
        assert [r.status for r in flap(aws, 3)] == ["SUCCEEDED"] * 3
        before = published_list(aws)
        alerts.received()

        aws.feed_server.set_route("/main", body=big_blocklist(50, start=90))
        held = aws.run()

        assert held.status == "FAILED" and held.error == "FlappingGuard" and "flapping feed: main" in held.cause
        assert published_list(aws) == before
        (notification,) = alerts.received()
        assert "FlappingGuard" in notification["Message"] and "main" in notification["Message"]


UNUSABLE = {
    "truncated-gzip": ({"format": "auto"}, gzip.compress(big_blocklist(30))[:40], "gzip body is truncated"),
    # No "error" or "message" key: the fetch lets it through as no error object; the JSON reader finds no value.
    "json-error-object": (
        {"format": "auto"},
        b'{"status": "throttled", "code": 429, "retry_after": 60}',
        "no value the json parser takes",
    ),
    "csv-column-renamed": (
        {"format": "csv", "options": {"column": "ip"}},
        b"address,score\n45.10.0.1,5\n45.10.1.1,7\n",
        "the CSV has no column 'ip'",
    ),
}


@pytest.mark.parametrize("case", list(UNUSABLE), ids=list(UNUSABLE))
def test_an_unusable_body_fails_its_feed_keeps_the_list_and_notifies(case: str) -> None:
    entry, body, why = UNUSABLE[case]
    good = b"ip,score\n" + b"".join(f"45.10.{i}.1,5\n".encode() for i in range(30))
    with embedded(entry) as (aws, alerts):
        aws.feed_server.set_route("/main", body=good if entry["format"] == "csv" else big_blocklist(30))
        assert aws.run().status == "SUCCEEDED"
        before = published_list(aws)
        alerts.received()

        aws.feed_server.set_route("/main", body=body, headers={"Content-Type": "application/octet-stream"})
        result = aws.run()

        assert result.status == "FAILED" and result.error == "FeedsFailed"
        assert result.cause.startswith("1 of 1 feed(s) failed; their previous entries were kept. main: FeedRejected:")
        assert why in result.cause
        assert published_list(aws) == before
        (notification,) = alerts.received()
        assert "FeedsFailed" in notification["Message"] and "main" in notification["Message"]


def test_an_explicitly_empty_body_is_empty_not_failed(main_feed) -> None:
    aws, alerts = main_feed
    aws.feed_server.set_route("/main", body=big_blocklist(30))
    aws.run()
    before = published_list(aws)
    alerts.received()

    aws.feed_server.set_route("/main", body=b"# no indicator today\n# generated 2026-12-07\n\n")
    result = aws.run()

    assert result.status == "SUCCEEDED"
    assert result.output["feeds"]["main"]["outcome"] == "empty"
    assert published_list(aws) == before
    assert alerts.received() == []

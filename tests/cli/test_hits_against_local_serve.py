"""Issue 13's "done when", as an operator does it: a run against `threatfeed local serve`, then `threatfeed local
finding <a listed address>`, then `threatfeed hits --json` shows the indicator, its finding count and its feeds."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import boto3
import pytest

from embedded_aws.runtime import EmbeddedAws
from threatfeed.guardduty import parse_s3_location


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[EmbeddedAws, str]]:
    with EmbeddedAws(regions=("us-east-1",), retry_sleep=False) as aws:
        yield aws, aws.serve(port=0)


def threatfeed(*args: str) -> tuple[int, str, str]:
    process = subprocess.run(
        [sys.executable, "-m", "threatfeed.cli", *args], capture_output=True, text=True, timeout=300
    )
    return process.returncode, process.stdout, process.stderr


def first_listed_address(aws: EmbeddedAws, summary: dict) -> str:
    item = next(i for i in summary["regions"]["us-east-1"]["lists"] if i["kind"] == "ip")
    bucket, key = parse_s3_location(item["location"]) or ("", "")
    body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return next(line for line in body.splitlines() if line and "/" not in line)


def test_a_finding_for_a_listed_address_shows_in_hits_with_its_count_and_feeds(
    served: tuple[EmbeddedAws, str],
) -> None:
    aws, endpoint = served
    code, out, err = threatfeed("start", "--json", "--endpoint-url", endpoint, "--region", "us-east-1")
    assert code == 0, out + err
    summary = json.loads(aws.client("s3").get_object(Bucket=aws.stack.bucket, Key=_summary_key(aws))["Body"].read())
    address = first_listed_address(aws, summary)

    code, out, err = threatfeed("local", "finding", address, "--endpoint-url", endpoint)
    assert code == 0, out + err
    assert "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom" in out and "sighting recorded" in out
    code, out, err = threatfeed("hits", "--json", "--endpoint-url", endpoint, "--region", "us-east-1")

    assert code == 0, out + err
    hits = json.loads(out)
    [row] = [i for i in hits["indicators"] if i["indicator"] == address]
    assert row["findings"] == 1 and row["feeds"], row
    assert {f["feed"] for f in hits["feeds"]} == set(row["feeds"])
    assert set(hits["silent"]).isdisjoint(row["feeds"])
    code, out, err = threatfeed("feeds", "--json", "--endpoint-url", endpoint, "--region", "us-east-1")
    assert code == 0, out + err
    assert {f["name"]: f["hits"] for f in json.loads(out)}[row["feeds"][0]] == 1


def test_an_address_in_no_list_raises_nothing_and_the_cli_says_so(served: tuple[EmbeddedAws, str]) -> None:
    _, endpoint = served

    code, _out, err = threatfeed("local", "finding", "192.0.2.99", "--endpoint-url", endpoint)

    assert code == 1
    assert "no finding for 192.0.2.99 in us-east-1" in err and "GuardDuty raises nothing" in err


def test_hits_of_a_feed_the_catalogue_lacks_names_the_feeds_it_has(served: tuple[EmbeddedAws, str]) -> None:
    _, endpoint = served

    code, _out, err = threatfeed("hits", "--feed", "nosuch", "--endpoint-url", endpoint, "--region", "us-east-1")

    assert code == 2
    assert "no feed 'nosuch'" in err and "blocklist" in err


def test_a_list_deactivated_through_the_served_endpoint_reaches_the_tamper_watch(
    served: tuple[EmbeddedAws, str],
) -> None:
    aws, endpoint = served
    gd = boto3.client(
        "guardduty",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="someone",
        aws_secret_access_key="else",
    )
    detector = gd.list_detectors()["DetectorIds"][0]
    set_id = gd.list_threat_intel_sets(DetectorId=detector)["ThreatIntelSetIds"][0]

    gd.update_threat_intel_set(DetectorId=detector, ThreatIntelSetId=set_id, Activate=False)
    aws.deliveries.wait()

    notified = [d for d in aws.deliveries.to("TamperFunction") if d.result and d.result["outcome"] == "notified"]
    assert len(notified) == 1
    assert "deactivated threat IP list 'threatfeed-threatfeed-ip-1'" in notified[0].result["message"]
    assert notified[0].event["detail"]["userIdentity"]["accessKeyId"] == "someone"


def _summary_key(aws: EmbeddedAws) -> str:
    keys = aws.client("s3").list_objects_v2(Bucket=aws.stack.bucket, Prefix="runs/")["Contents"]
    return next(k["Key"] for k in keys if k["Key"].endswith("/summary.json"))

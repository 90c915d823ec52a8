"""Every operator verb, run as a separate process against the embedded AWS served on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from embedded_aws.runtime import EmbeddedAws


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[EmbeddedAws, str]]:
    with EmbeddedAws(retry_sleep=False) as aws:
        yield aws, aws.serve(port=0)


def threatfeed(endpoint: str, *args: str) -> tuple[int, str]:
    process = subprocess.run(
        [sys.executable, "-m", "threatfeed.cli", *args, "--endpoint-url", endpoint, "--region", "us-east-1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return process.returncode, process.stdout + process.stderr


def test_start_runs_an_urgent_execution_and_reports_its_summary(served: tuple[EmbeddedAws, str]) -> None:
    _, endpoint = served
    code, out = threatfeed(endpoint, "start", "--urgent", "--json")

    assert code == 0, out
    row = json.loads(out.strip().splitlines()[-1])
    assert row["name"].startswith("urgent-")
    assert row["status"] == "SUCCEEDED"
    assert row["regions"] == {"us-east-1": "published", "eu-west-1": "published"}
    assert row["feeds"]["blocklist"]["accepted"] > 0


def test_start_shows_state_transitions_in_the_readable_form(served: tuple[EmbeddedAws, str]) -> None:
    _, endpoint = served
    code, out = threatfeed(endpoint, "start", "--dry-run", "--feeds", "blocklist")

    assert code == 0, out
    assert "→ Plan" in out and "→ Transform" in out
    assert "SUCCEEDED" in out
    assert "dry run" in out


def test_history_lists_runs_newest_first_with_counts(served: tuple[EmbeddedAws, str]) -> None:
    _, endpoint = served
    threatfeed(endpoint, "start", "--json")
    code, out = threatfeed(endpoint, "history", "-n", "5", "--json")

    assert code == 0, out
    rows = json.loads(out)
    assert len(rows) >= 2
    assert rows == sorted(rows, key=lambda r: r["start"], reverse=True)
    assert {"name", "start", "duration_s", "status", "feeds", "regions"} <= set(rows[0])
    code, table = threatfeed(endpoint, "history")
    assert code == 0 and "NAME" in table and rows[0]["name"] in table


def test_status_shows_each_regions_lists_active_with_entries(served: tuple[EmbeddedAws, str]) -> None:
    aws, endpoint = served
    threatfeed(endpoint, "start", "--json")
    code, out = threatfeed(endpoint, "status", "--json")

    assert code == 0, out
    rows = json.loads(out)
    assert {r["region"] for r in rows} == set(aws.regions)
    assert all(r["status"] == "ACTIVE" and r["entries"] > 0 for r in rows)
    assert {r["type"] for r in rows} == {"threat_intel_set", "threat_entity_set"}


def test_diff_shows_entries_added_and_removed_between_two_runs(served: tuple[EmbeddedAws, str]) -> None:
    aws, endpoint = served
    _, first = threatfeed(endpoint, "start", "--json")
    aws.feed_server.set_route("/samples/blocklist.txt", status=200, body=b"45.9.20.1\n185.220.101.7\n")
    try:
        code, second = threatfeed(endpoint, "start", "--json", "--force")
        assert code == 0, second
    finally:
        aws.feed_server.clear_route("/samples/blocklist.txt")
    run_a = json.loads(first.strip().splitlines()[-1])["name"]
    run_b = json.loads(second.strip().splitlines()[-1])["name"]

    code, out = threatfeed(endpoint, "diff", run_a, run_b, "--json")

    assert code == 0, out
    result = json.loads(out)
    assert "45.9.20.1/32" in result["added"]["ip"] or "45.9.20.1" in result["added"]["ip"]
    assert result["removed"]["ip"]


def test_feeds_lists_the_catalogue_with_last_outcomes(served: tuple[EmbeddedAws, str]) -> None:
    _, endpoint = served
    threatfeed(endpoint, "start", "--json")
    code, out = threatfeed(endpoint, "feeds", "--json")

    assert code == 0, out
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == {"isight", "blocklist", "csv-list", "taxii-hvi", "misp"}
    assert rows["isight"]["last_outcome"] == "ok"


def test_an_unknown_stack_is_a_clear_error_with_exit_code_2(served: tuple[EmbeddedAws, str]) -> None:
    _, endpoint = served
    code, out = threatfeed(endpoint, "history", "--stack-name", "nope")

    assert code == 2
    assert "No stack 'nope'" in out


def test_rollback_republishes_the_previous_list_through_the_state_machine(served: tuple[EmbeddedAws, str]) -> None:
    aws, endpoint = served
    aws.feed_server.set_route("/samples/blocklist.txt", status=200, body=b"45.9.20.1\n45.9.20.2\n")
    try:
        _, first = threatfeed(endpoint, "start", "--json", "--force")
        aws.feed_server.set_route("/samples/blocklist.txt", status=200, body=b"45.9.30.1\n45.9.30.2\n")
        code, second = threatfeed(endpoint, "start", "--json", "--force")
        assert code == 0, second
    finally:
        aws.feed_server.clear_route("/samples/blocklist.txt")
    run_a = json.loads(first.strip().splitlines()[-1])["name"]

    code, out = threatfeed(endpoint, "rollback", "--json")

    assert code == 0, out
    row = json.loads(out.strip().splitlines()[-1])
    assert row["name"].startswith("rollback-") and row["status"] == "SUCCEEDED"
    manifest = json.loads(
        aws.client("s3").get_object(Bucket=aws.stack.bucket, Key=f"manifests/{run_a}.json")["Body"].read()
    )
    wanted = {item["kind"]: item["key"] for item in manifest["lists"]}
    code, status_out = threatfeed(endpoint, "status", "--json")
    for list_row in json.loads(status_out):
        kind = "ip" if list_row["type"] == "threat_intel_set" else "domain"
        assert list_row["location"].endswith(wanted[kind]), list_row

"""``threatfeed local run --scenario``: the shipped drop-guard scenario, as a user would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from embedded_aws.scenario import ScenarioError, load_scenario

SCENARIO = Path(__file__).resolve().parents[1] / "examples" / "scenarios" / "drop-guard.json"


def test_the_drop_guard_scenario_holds_the_list_then_force_publishes() -> None:
    process = subprocess.run(
        [sys.executable, "-m", "threatfeed.cli", "local", "run", "--scenario", str(SCENARIO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    # Failed runs are reported in the JSON lines; moto's own dump of its interpreter state is no user's business.
    assert "FailureEventException" not in process.stderr and "StateFail|" not in process.stderr, process.stderr[:500]
    runs = [json.loads(line) for line in process.stdout.splitlines() if line.startswith("{")]
    assert [r["status"] for r in runs] == ["SUCCEEDED", "FAILED", "FAILED", "SUCCEEDED"]
    good, dropped, login, forced = runs
    good_lists = {region: entry["sha256"] for region, entry in good["lists"].items()}
    assert set(good_lists) == {"us-east-1", "eu-west-1"}
    assert all(entry["status"] == "ACTIVE" for entry in good["lists"].values())
    # The sudden drop and the login page change nothing GuardDuty uses, and say why.
    assert {r: e["sha256"] for r, e in dropped["lists"].items()} == good_lists
    assert "sudden drop" in dropped["reason"]
    assert {r: e["sha256"] for r, e in login["lists"].items()} == good_lists
    assert "main" in login["reason"]
    # The urgent forced run publishes the smaller list in both Regions.
    assert forced["published"] is True
    assert all(e["sha256"] != good_lists[r] and e["status"] == "ACTIVE" for r, e in forced["lists"].items())


def test_a_malformed_scenario_is_refused_with_the_place_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"runs": [{"feeds": [{"format": "txt"}]}]}))

    with pytest.raises(ScenarioError, match="run 1"):
        load_scenario(bad)

"""Scenario runner: rehearse "what happens if my feed returns X" on the embedded AWS.

A scenario file lists Regions and runs; each run says what every feed answers (status, headers, body file)
and the execution input. One embedded AWS is kept across the runs of a file, so the second run sees what
the first one published. For each run, one JSON line: the execution status, what each Region's list points
at (status and the sha256 of the S3 object), why nothing was published when nothing was, and what a guard
that only reports found.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from embedded_aws.runtime import EmbeddedAws


class ScenarioError(ValueError):
    """The scenario file is malformed; the message says where."""


def load_scenario(path: Path) -> dict[str, Any]:
    try:
        scenario = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ScenarioError(f"{path}: cannot read the scenario: {error}") from None
    if not isinstance(scenario, dict) or not isinstance(scenario.get("runs"), list) or not scenario["runs"]:
        raise ScenarioError(f"{path}: a scenario is an object with a non-empty 'runs' list")
    for number, run in enumerate(scenario["runs"], 1):
        feeds = run.get("feeds")
        if not isinstance(feeds, list) or not feeds:
            raise ScenarioError(f"{path}: run {number} needs a non-empty 'feeds' list")
        for feed in feeds:
            if "name" not in feed or ("body_path" not in feed and "body" not in feed and feed.get("status") != 204):
                raise ScenarioError(f"{path}: run {number}: each feed needs 'name' and 'body_path' (or 'body')")
    return scenario


def _catalogue(server: Any, feeds: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "feeds": [
            {
                "name": feed["name"],
                "type": "http_list",
                "url": server.url(f"/scenario/{feed['name']}"),
                "format": feed.get("format", "auto"),
                "enabled": True,
                "options": feed.get("options", {}),
            }
            for feed in feeds
        ]
    }


def _serve_feeds(aws: EmbeddedAws, base: Path, feeds: list[dict[str, Any]]) -> None:
    for feed in feeds:
        if "body_path" in feed:
            body = (base / feed["body_path"]).read_bytes()
        else:
            body = str(feed.get("body", "")).encode()
        aws.feed_server.set_route(
            f"/scenario/{feed['name']}",
            status=int(feed.get("status", 200)),
            body=body,
            headers=feed.get("headers", {"Content-Type": "text/plain"}),
        )


def region_lists(aws: EmbeddedAws) -> dict[str, dict[str, Any]]:
    """Per Region, the project's IP list: its status and the sha256 of the object its Location names."""
    from threatfeed.guardduty import iter_sets, parse_s3_location

    s3 = aws.client("s3")
    out: dict[str, dict[str, Any]] = {}
    for region in aws.regions:
        gd = aws.client("guardduty", region)
        detector = gd.list_detectors()["DetectorIds"][0]
        for api, _set_id, info in iter_sets(gd, detector, region):
            parts = parse_s3_location(info.get("Location", ""))
            digest = None
            if parts:
                try:
                    digest = hashlib.sha256(s3.get_object(Bucket=parts[0], Key=parts[1])["Body"].read()).hexdigest()
                except Exception:
                    digest = None
            key = region if api.set_type == "threat_intel_set" else f"{region}/{info.get('Name')}"
            out[key] = {"status": info.get("Status"), "sha256": digest, "name": info.get("Name")}
    return out


def run_scenario(
    path: Path, *, retry_sleep: bool = False, on_finish: Callable[[EmbeddedAws], None] | None = None
) -> Iterator[dict[str, Any]]:
    """Carry out every run of the scenario at ``path``; yields one result per run. ``on_finish(aws)`` is called
    after the last run, while the embedded AWS still holds every run (``--report``)."""
    from embedded_aws.faults import inject_fault

    scenario = load_scenario(path)
    base = path.parent
    regions = scenario.get("regions") or ["us-east-1"]
    first_feeds = scenario["runs"][0]["feeds"]
    parameters = dict(scenario.get("parameters", {}))
    with EmbeddedAws(
        regions=regions,
        parameters=parameters,
        catalogue=lambda server, _secret: _catalogue(server, first_feeds),
        retry_sleep=retry_sleep,
    ) as aws:
        for number, run in enumerate(scenario["runs"], 1):
            aws.put_catalogue(_catalogue(aws.feed_server, run["feeds"]))
            _serve_feeds(aws, base, run["feeds"])
            with ExitStack() as faults:
                for fault in run.get("faults", []):
                    faults.enter_context(
                        inject_fault(
                            fault["service"],
                            kind=fault["kind"],
                            count=int(fault.get("count", 1)),
                            operations=set(fault["operations"]) if fault.get("operations") else None,
                        )
                    )
                result = aws.run(run.get("input") or {"trigger": "manual"}, name=f"scenario-{number}")
            summary = result.output or {}
            reason = summary.get("reason") or ""
            if result.status != "SUCCEEDED":
                reason = "; ".join(part for part in (f"{result.error}: {result.cause}", reason) if part)
            yield {
                "run": number,
                "execution": result.name,
                "status": result.status,
                "error": result.error,
                "lists": region_lists(aws),
                "published": bool(summary.get("published")),
                "reason": reason,
                "feeds": summary.get("feeds", {}),
                "attention": summary.get("attention"),  # a guard that only reports (a flapping feed)
            }
        if on_finish is not None:
            on_finish(aws)

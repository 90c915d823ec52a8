"""Publish: put the run's lists into GuardDuty in one Region and check their status; summarize the run.

The summary (:func:`summarize_run`) is a pure function of the stages' results; what it implies for S3 (the
published pointers and the guards' history) is written by :func:`record_published`. Both run in the Summarize
function (``functions/summarize``), with its own role.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from threatfeed.errors import PublishInProgress
from threatfeed.guardduty import GuardDutyLists
from threatfeed.pipeline.contracts import (
    Attention,
    Failure,
    FetchResult,
    ListPointer,
    RegionResult,
    Run,
    Summary,
    TransformResult,
)
from threatfeed.pipeline.guards import append_history, history_record
from threatfeed.storage import HISTORY_KEY, LeaseHeld, RegionLease, Store, published_key, region_pointer_key

LEASE_SECONDS = 300
"""Long enough for one Region's create/update calls; a run that dies holding it blocks others no longer."""


def publish_region(
    gd: Any,
    store: Store,
    region: str,
    run: Run,
    lists: Sequence[ListPointer],
    *,
    stack_name: str,
    now: float | None = None,
) -> RegionResult:
    """Create or update each of the project's lists in ``region``; the state machine then polls their status.

    Runs can overlap (the schedule and an urgent run). Under the Region's lease, each list's pointer records
    which run last published it; a run never replaces a list published by a run that started after it, so
    an older list can never land over a newer one, whatever the interleaving.
    """
    target = GuardDutyLists(gd, region, stack_name)
    generation = [run["started_at"], run["id"]]
    states: list[dict[str, Any]] = []
    try:
        with RegionLease(store.client, store.bucket, region, run["id"], seconds=LEASE_SECONDS, now=now or time.time()):
            for spec in lists:
                pointer_key = region_pointer_key(region, spec["name"])
                pointer = store.get_json(pointer_key) or {}
                if pointer.get("generation", []) > generation:
                    state = target.current(dict(spec))
                    state.action = "superseded"
                    state.error = None
                    state.superseded_by = pointer.get("run")
                    states.append(state.as_dict())
                    continue
                state = target.publish(
                    dict(spec), force=bool(run.get("force")), run_id=run["id"], last_published=pointer.get("key")
                )
                store.put_json(
                    pointer_key,
                    {"generation": generation, "run": run["id"], "sha256": spec["sha256"], "key": spec["key"]},
                )
                states.append(state.as_dict())
    except LeaseHeld as held:
        raise PublishInProgress(
            f"Run {held.holder} is publishing to {region} right now; retrying after it finishes"
        ) from None
    return _region_result(region, target.detector_id, states, checks=0)


def check_region(
    gd: Any,
    store: Store,
    region: str,
    run: Run,
    specs: Sequence[ListPointer],
    lists: Sequence[Mapping[str, Any]],
    checks: int,
    *,
    stack_name: str,
    now: float | None = None,
) -> RegionResult:
    """One step of the Wait/Choice loop: read the status of the lists published in ``region``, and publish
    those that were ``waiting`` for GuardDuty to finish a change in progress (``specs`` are the run's lists)."""
    waiting = {item["name"] for item in lists if item.get("action") == "waiting"}
    retried: dict[str, dict[str, Any]] = {}
    if waiting:
        again = publish_region(
            gd, store, region, run, [spec for spec in specs if spec["name"] in waiting], stack_name=stack_name, now=now
        )
        retried = {item["name"]: item for item in again["lists"]}
    target = GuardDutyLists(gd, region, stack_name)
    states = [
        retried[item["name"]] if item["name"] in retried else target.refresh(dict(item)).as_dict() for item in lists
    ]
    return _region_result(region, target.detector_id, states, checks=checks)


def _region_result(region: str, detector_id: str, lists: list[dict[str, Any]], *, checks: int) -> RegionResult:
    """A Region's outcome from its lists' states: failed on any list in ERROR, activating while a list is
    ACTIVATING or waiting for GuardDuty, superseded when a newer run published every list."""
    own = [item for item in lists if item.get("action") != "superseded"]
    errors = [item["error"] for item in own if item.get("status") == "ERROR"]
    waiting = [item["name"] for item in own if item.get("action") == "waiting"]
    pending = not errors and (bool(waiting) or any(item.get("status") == "ACTIVATING" for item in own))
    if errors:
        outcome = "failed"
    elif pending:
        outcome = "activating"
    elif lists and not own:
        outcome = "superseded"
    elif lists and all(item.get("action") == "unchanged" for item in own):
        outcome = "unchanged"
    else:
        outcome = "published"
    result = RegionResult(
        region=region, detector_id=detector_id, outcome=outcome, pending=pending, checks=checks, lists=lists
    )
    if waiting:
        result["waiting"] = waiting
    if errors:
        result["error"] = "ListInError"
        result["cause"] = "; ".join(errors)
    return result


def summarize_run(
    run: Run,
    fetched: Sequence[FetchResult],
    transform: TransformResult,
    published: Sequence[RegionResult],
    *,
    tolerated_region_failures: int = 0,
) -> Summary:
    """Pure: the run's output: feeds and counts, per-Region lists and status, the manifest; ``ok`` false on any
    failure. A guard that only reports (a flapping feed) becomes ``attention``: the state machine notifies without
    failing the run. What GuardDuty now uses is recorded apart, by :func:`record_published`."""
    feeds = feed_entries(fetched, transform.get("feeds", {}))
    regions = {result["region"]: region_entry(result) for result in published}
    failed_regions = [name for name, entry in regions.items() if entry["outcome"] == "failed"]
    failure = run_failure(fetched, transform, feeds, regions, failed_regions, tolerated_region_failures)
    reported = [f for f in transform.get("findings", []) if not f.get("hold")]
    attention = None
    if reported and not run.get("dry_run"):
        attention = Attention(
            error=reported[0]["guard"], cause=bounded_cause([f["message"] for f in reported], "feeds")
        )
        if failure:  # one notification per run: the failure's carries the report too
            failure["cause"] = f"{failure['cause']}; also: {attention['cause']}"[:MAX_CAUSE_CHARS]
            attention = None
    manifest: Mapping[str, Any] | None = transform.get("manifest")
    summary = Summary(
        run=run["id"],
        trigger=run.get("trigger"),
        ok=failure is None,
        published=bool(transform.get("publish")),
        reason=transform.get("reason", ""),
        feeds=feeds,
        regions=regions,
        failed_regions=failed_regions,
        dropped=transform.get("dropped", {}),
        suppressed=transform.get("suppressed", {}),
        guards=[{k: f.get(k) for k in ("guard", "hold", "list", "feeds")} for f in transform.get("findings", [])],
        manifest=f"s3://{manifest['bucket']}/{manifest['key']}" if manifest else None,
    )
    repaired = repairs(published)
    if repaired:
        summary["repaired"] = repaired
    if failure:
        summary["failure"] = failure
    if attention:
        summary["attention"] = attention
    return summary


def feed_entries(fetched: Sequence[FetchResult], feed_stats: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Per feed, its fetch outcome overridden by the transform's (a body with nothing usable failed), with the
    first line of a failed fetch's cause."""
    feeds: dict[str, Any] = {}
    for result in fetched:
        name = result["feed"]
        entry: dict[str, Any] = {"outcome": result.get("outcome", "failed")}
        entry.update(feed_stats.get(name, {}))
        if result.get("outcome") == "failed":
            entry["error"] = result.get("error")
            entry["cause"] = _first_line(result.get("cause"))
        feeds[name] = entry
    return feeds


def region_entry(result: RegionResult) -> dict[str, Any]:
    """One Region in the summary: its outcome, its lists (drift only where there was some), its error."""
    return {
        "outcome": result.get("outcome"),
        "lists": [
            {
                k: item.get(k)
                for k in ("name", "kind", "id", "status", "action", "entries", "sha256", "location", "drift")
                if k != "drift" or item.get("drift")
            }
            for item in result.get("lists", [])
        ],
        **({"error": result["error"], "cause": _first_line(result.get("cause"))} if result.get("error") else {}),
    }


def run_failure(
    fetched: Sequence[FetchResult],
    transform: TransformResult,
    feeds: Mapping[str, Mapping[str, Any]],
    regions: Mapping[str, Mapping[str, Any]],
    failed_regions: Sequence[str],
    tolerated_region_failures: int,
) -> Failure | None:
    """Why the run failed, if it did, blaming one state: a guard that held the lists (Transform), more failed
    Regions than tolerated (PublishLists), or failed feeds (FetchFeed, or Transform for a body with nothing
    usable)."""
    failed_feeds = [name for name, entry in feeds.items() if entry["outcome"] == "failed"]
    if transform.get("guarded"):
        return Failure(
            state="Transform",
            error=transform.get("guard") or "SuddenDropGuard",
            cause=transform.get("reason", ""),
        )
    if len(failed_regions) > tolerated_region_failures:
        return Failure(
            state="PublishLists",
            error="RegionsFailed",
            cause=bounded_cause(
                [f"{r}: {regions[r].get('error')}: {regions[r].get('cause')}" for r in failed_regions], "Regions"
            ),
        )
    if failed_feeds:
        fetch_failed = any(r.get("outcome") == "failed" for r in fetched if r["feed"] in failed_feeds)
        manifest = transform.get("manifest")
        return Failure(
            state="FetchFeed" if fetch_failed else "Transform",
            error="FeedsFailed",
            cause=feeds_failed_cause(failed_feeds, feeds, dict(manifest) if manifest else None),
        )
    return None


def lists_in_use(transform: TransformResult, published: Sequence[RegionResult]) -> list[ListPointer]:
    """Pure: the run's lists GuardDuty now uses (ACTIVE with this content) in at least one Region, one per slot.
    A run that only verified unchanged lists (and repaired drift) published no new content: none."""
    active: dict[tuple[str, int], ListPointer] = {}
    for spec in transform.get("lists", []) if transform.get("publish") else []:
        in_use = any(
            item.get("status") == "ACTIVE" and item.get("sha256") == spec["sha256"] and item.get("name") == spec["name"]
            for result in published
            for item in result.get("lists", [])
        )
        if in_use:
            active[(spec["kind"], spec["index"])] = spec
    return list(active.values())


def record_published(
    run: Run, transform: TransformResult, published: Sequence[RegionResult], *, store: Store
) -> list[ListPointer]:
    """Write what GuardDuty now uses: per list slot, the published pointer (the next run compares against it to
    detect unchanged content), and the run in the guards' history (their baseline). Returns the lists recorded."""
    active = lists_in_use(transform, published)
    for spec in active:
        store.put_json(
            published_key(spec["kind"], spec["index"]),
            {
                "sha256": spec["sha256"],
                "key": spec["key"],
                "entries": spec["entries"],
                "addresses": spec.get("addresses"),
                "run": run["id"],
                "manifest": transform.get("manifest"),
            },
        )
    if active:
        record = history_record(run, active, transform.get("feeds", {}))
        store.put_json(HISTORY_KEY, append_history(store.get_json(HISTORY_KEY), record))
    return active


def repairs(published: Sequence[RegionResult]) -> list[dict[str, Any]]:
    """The lists this run put back after someone changed them outside threatfeed, each with a sentence."""
    out = []
    for result in published:
        for item in result.get("lists", []):
            if item.get("action") == "repaired":
                out.append(
                    {
                        "region": result["region"],
                        "name": item.get("name"),
                        "drift": item.get("drift"),
                        "message": f"{item.get('name')} in {result['region']} had been {item.get('drift')} outside "
                        f"threatfeed; put back as published (now {item.get('status')})",
                    }
                )
    return out


MAX_CAUSE_CHARS = 8_000
"""A run's failure cause travels in the Fail state (Step Functions caps a cause at 32,768 characters) and in the
SNS notification: keep it readable and far below both, whatever the number of failed feeds or Regions."""


def bounded_cause(parts: Sequence[str], what: str, limit: int = MAX_CAUSE_CHARS) -> str:
    """``parts`` joined with "; ", as many as fit in ``limit`` characters, then how many more there are (each is
    in the run's output and manifest)."""
    shown: list[str] = []
    size = 0
    for part in parts:
        part = part if len(part) <= limit // 4 else part[: limit // 4 - 1] + "…"
        if shown and size + len(part) + 2 > limit - 120:
            break
        shown.append(part)
        size += len(part) + 2
    text = "; ".join(shown)
    hidden = len(parts) - len(shown)
    if hidden:
        text += f"; and {hidden} more {what} ({len(parts)} in all: see the run's output and manifest)"
    return text


FEW_FEEDS_CHARS = 6_000
"""The failed feeds a notification names, with their errors: the first few (each cut at a quarter of this), then
how many more."""


def feeds_failed_cause(
    failed: Sequence[str], feeds: Mapping[str, Mapping[str, Any]], manifest: Mapping[str, Any] | None
) -> str:
    """How many feeds failed, the first few by name with their error, and where every feed's error is: the same
    few thousand characters whether 1 or 1,000 feeds failed (under the Fail state's 32,768 and SNS's 256 KB)."""
    parts = [f"{f}: {feeds[f].get('error')}: {feeds[f].get('cause')}" for f in failed]
    text = f"{len(failed)} of {len(feeds)} feed(s) failed; their previous entries were kept. " + bounded_cause(
        parts, "feeds", limit=FEW_FEEDS_CHARS
    )
    if manifest and manifest.get("key"):
        text += f". Every feed's outcome and error: s3://{manifest.get('bucket')}/{manifest['key']}"
    return text


def _first_line(text: Any) -> str:
    """Lambda error causes are JSON with a stack trace; the notification needs the message only."""
    if not text:
        return ""
    line = str(text)
    try:
        decoded = json.loads(line)
        if isinstance(decoded, dict) and "errorMessage" in decoded:
            return str(decoded["errorMessage"])
    except ValueError:
        pass
    return line.splitlines()[0][:1000]

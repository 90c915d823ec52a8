"""A run's feeds and per-feed results live in S3; its state payloads carry pointers and counts.

Step Functions caps a state's input and output at 256 KiB and a Standard execution's history at 25,000 events,
and an inline Map runs at most 40 iterations at once. So the fetch fan-out is a Distributed Map:

* the plan writes the run's feed items to ``runs/<run>/feeds.json`` (:func:`stage_items`); the Map's
  ``ItemReader`` reads them from there, and only ``{"bucket", "key", "count"}`` travels;
* each feed is fetched in a child execution whose own Catch turns any error into a ``failed`` result, and the
  Map's ``ResultWriter`` writes the child executions' results to S3 (``fetched/<map run id>/``): the Map's
  output is the pointer to its ``manifest.json``;
* the transform and the summary read those results (:func:`fetch_results`), in the plan's order, and write their
  whole results to S3; the state payload keeps what the next states need, per-feed detail bounded
  (:func:`compact_transform`, :func:`compact_summary`).

A payload's size then depends on the number of Regions and lists (both bounded), never on the number of feeds.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, cast

from threatfeed.pipeline.contracts import (
    FetchResult,
    Plan,
    Summary,
    SummaryPayload,
    TransformPayload,
    TransformResult,
)
from threatfeed.storage import S3Pointer, Store, run_items_key

INLINE_FEEDS = 50
"""Up to this many feeds, a run's output lists every feed (as it always did); above it, the failed ones first, up
to :data:`SHOWN_FEEDS`, with the counts. Every feed is always in the summary object (``details``)."""
SHOWN_FEEDS = 20
FEED_CAUSE_CHARS = 300
"""A feed's cause in the run's output (its first line, cut here); the whole cause is in the manifest."""
SHOWN_FINDINGS = 10
"""Guard findings a state payload keeps (each names feeds and lists); all of them are in the transform result."""

RESULT_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING")


def stage_items(plan: Plan, store: Store) -> Plan:
    """Write the plan's feed items where the fetch Map's ``ItemReader`` reads them; the plan keeps a pointer.

    The run document drops its list of feed names (``run.feed_count`` instead): it travels into every state, and
    the names are in the items, the manifest and the summary.
    """
    run = plan["run"]
    feeds = list(plan.pop("feeds"))
    pointer = store.put_json(run_items_key(run["id"]), feeds)
    run.pop("feeds", None)
    run["feed_count"] = len(feeds)
    plan["items"] = {"bucket": pointer.bucket, "key": pointer.key, "count": len(feeds)}
    return plan


def planned_feeds(store: Store, items: Mapping[str, Any] | None) -> list[str] | None:
    """The names of the run's feeds, in the plan's order (None without a pointer to the items)."""
    if not items:
        return None
    return [str(feed.get("name")) for feed in store.get_json(items["key"], default=[])]


def fetch_results(store: Store, fetched: Any, items: Mapping[str, Any] | None = None) -> list[FetchResult]:
    """One fetch result per planned feed, in the plan's order, from what the fetch Map's ``ResultWriter`` wrote.

    ``fetched`` is the Map's output reduced to ``{"bucket", "key"}`` of the ``manifest.json`` (a list of results,
    from an inline Map or a test, is returned as it is). A child execution that SUCCEEDED gives its output (the
    fetch result, or the ``failed`` result its Catch made); one that FAILED, TIMED_OUT or was ABORTED becomes a
    ``failed`` result with its error and cause; a planned feed with no result at all (never run) too. Every one
    of these keeps the feed's previous entries, like any failed fetch.
    """
    if isinstance(fetched, list):
        return [cast(FetchResult, dict(result)) for result in fetched]  # JSON from the state payload
    manifest = store.get_json(fetched["key"])
    if manifest is None:
        raise ValueError(f"No ResultWriter manifest at s3://{store.bucket}/{fetched['key']}")
    by_feed: dict[str, FetchResult] = {}
    unnamed: list[FetchResult] = []
    for status in RESULT_STATUSES:
        for result_file in (manifest.get("ResultFiles") or {}).get(status) or []:
            for entry in json.loads(store.get_bytes(result_file["Key"])):
                result = child_result(status, entry)
                if result.get("feed"):
                    by_feed[str(result["feed"])] = result
                else:
                    unnamed.append(result)
    order = planned_feeds(store, items)
    if order is None:
        return [*by_feed.values(), *unnamed]
    out: list[FetchResult] = []
    for name in order:
        out.append(
            by_feed.get(name)
            or FetchResult(
                feed=name,
                outcome="failed",
                error="NoFetchResult",
                cause=f"The fetch of feed {name!r} left no result in the map run's results "
                f"(s3://{store.bucket}/{fetched['key']}); its previous entries were kept.",
            )
        )
    return out


def child_result(status: str, entry: Mapping[str, Any]) -> FetchResult:
    """A fetch result from one entry of a ``ResultWriter`` results file (``Input``/``Output`` are JSON text)."""
    feed = _feed_name(entry.get("Input"))
    if status == "SUCCEEDED":
        included = (entry.get("OutputDetails") or {}).get("Included", True)
        output = _json(entry.get("Output")) if included else None
        if isinstance(output, dict) and output.get("feed"):
            return cast(FetchResult, dict(output))  # the fetch function's own result, as JSON
        return _failed(
            feed,
            "FetchResultUnreadable",
            "The fetch succeeded but its result is not in the map run's results file"
            + ("" if included else " (larger than Step Functions includes)"),
        )
    return _failed(
        feed,
        entry.get("Error") or f"States.{status.title().replace('_', '')}",
        entry.get("Cause") or f"The child execution of this feed ended {status}.",
    )


def _failed(feed: str | None, error: str, cause: str) -> FetchResult:
    """A ``failed`` fetch result; ``feed`` is None only when the child's input named no feed (kept unnamed)."""
    return cast(FetchResult, {"feed": feed, "outcome": "failed", "error": error, "cause": cause})


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


def _feed_name(text: Any) -> str | None:
    document = _json(text)
    feed = document.get("feed") if isinstance(document, dict) else None
    if isinstance(feed, dict):
        return feed.get("name")
    return feed if isinstance(feed, str) else None


def outcome_counts(feeds: Mapping[str, Mapping[str, Any]] | Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many feeds ended ``ok``, ``empty`` or ``failed`` (and in all)."""
    entries = feeds.values() if isinstance(feeds, Mapping) else feeds
    counts = Counter(str(entry.get("outcome") or "failed") for entry in entries)
    known = {name: counts.get(name, 0) for name in ("ok", "empty", "failed")}
    return {**known, **counts, "total": sum(counts.values())}


def load_details(store: Store, result: TransformPayload) -> TransformResult:
    """The transform's whole result, from the object its compacted one's ``details`` names (else the compacted
    result itself, which has every key but the per-feed results)."""
    details: Any = result.get("details")
    if isinstance(details, Mapping) and details.get("key"):
        whole = store.get_json(str(details["key"]))
        if whole is not None:
            return cast(TransformResult, dict(whole))  # written by the transform function (contract)
    return cast(TransformResult, dict(result))


def compact_transform(result: TransformResult, pointer: S3Pointer) -> TransformPayload:
    """What the transform passes on in the state payload: the decision, the lists to publish, the manifest, counts;
    per-feed results and guard findings beyond the first few stay in the transform result object (``details``)."""
    findings = list(result.get("findings") or [])
    out: dict[str, Any] = {k: v for k, v in result.items() if k not in ("feeds", "findings")}
    out["findings"] = findings[:SHOWN_FINDINGS]
    if len(findings) > SHOWN_FINDINGS:
        out["findings_omitted"] = len(findings) - SHOWN_FINDINGS
    out["feed_counts"] = outcome_counts(result.get("feeds") or {})
    out["details"] = pointer.as_dict()
    # Nothing new to publish, yet the lists GuardDuty should have are checked anyway: the publish step leaves
    # ACTIVE lists alone and puts back one deactivated, repointed or deleted outside threatfeed (the state
    # machine's ShouldPublish; never on a dry run or a guarded run).
    lists = list(result.get("lists") or [])
    out["verify"] = bool(
        not result.get("publish") and not result.get("guarded") and lists and all(i.get("unchanged") for i in lists)
    )
    return cast(TransformPayload, out)  # every key of the result but feeds, and the ones added here


def compact_summary(summary: Summary, pointer: S3Pointer) -> SummaryPayload:
    """The run's output: the summary with every feed while there are at most :data:`INLINE_FEEDS`, else the first
    :data:`SHOWN_FEEDS` failed ones; always the counts and ``details``, the summary object with every feed."""
    feeds: dict[str, dict[str, Any]] = dict(summary.get("feeds") or {})
    out: dict[str, Any] = dict(summary)
    if len(feeds) <= INLINE_FEEDS:
        out["feeds"] = {name: _brief(entry) for name, entry in feeds.items()}
    else:
        failed = [name for name, entry in feeds.items() if entry.get("outcome") == "failed"]
        out["feeds"] = {name: _brief(feeds[name]) for name in failed[:SHOWN_FEEDS]}
        out["feeds_omitted"] = len(feeds) - len(out["feeds"])
    guards = list(summary.get("guards") or [])
    if len(guards) > SHOWN_FINDINGS:
        out["guards"] = guards[:SHOWN_FINDINGS]
        out["guards_omitted"] = len(guards) - SHOWN_FINDINGS
    out["feed_counts"] = outcome_counts(feeds)
    out["details"] = pointer.uri
    return cast(SummaryPayload, out)  # the summary's keys, bounded, and the ones added here


def _brief(entry: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(entry)
    cause = out.get("cause")
    if isinstance(cause, str) and len(cause) > FEED_CAUSE_CHARS:
        out["cause"] = cause[: FEED_CAUSE_CHARS - 1] + "…"
    return out

"""CloudWatch metrics (Powertools EMF) the stages emit; the template's alarms and dashboard read them.

Each metric is written as its own EMF record with exactly the dimensions named here, because the alarms
match on dimensions: ``service`` always, plus ``feed``, ``list`` or ``region`` where it says so.
``ListInError`` is also written with ``service`` alone, so one alarm covers every Region.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "threatfeed"


def _emit(name: str, value: float, unit: MetricUnit = MetricUnit.Count, **dimensions: str) -> None:
    with single_metric(name=name, unit=unit, value=value, default_dimensions={"service": SERVICE}) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)


def record_transform(result: Mapping[str, Any]) -> None:
    """Accepted and rejected indicators per feed, entries per list, entries the lists' quotas left out."""
    for feed, stats in result.get("feeds", {}).items():
        _emit("FeedIndicatorsAccepted", stats.get("accepted", 0), feed=feed)
        _emit("FeedIndicatorsRejected", stats.get("rejected", 0), feed=feed)
    for item in result.get("lists", []):
        _emit("ListEntries", item["entries"], list=item["name"])
    for cause, count in result.get("dropped", {}).items():
        _emit("ListEntriesOverLimit", count, cause=cause)


def record_summary(summary: Mapping[str, Any], started_at: str, now: datetime | None = None) -> None:
    """Per Region the publish outcome and lists in ERROR (from the summary, which also sees the Regions
    whose publish step failed outright), and the run's duration."""
    for region, outcome in summary.get("regions", {}).items():
        if outcome.get("outcome") == "failed":
            _emit("RegionPublishFailed", 1, region=region)
        else:
            _emit("RegionPublished", 1, region=region)
        errors = sum(1 for item in outcome.get("lists", []) if item.get("status") == "ERROR")
        if errors:
            _emit("ListInError", errors, region=region)
            _emit("ListInError", errors)
    started = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    seconds = max(0.0, ((now or datetime.now(UTC)) - started).total_seconds())
    _emit("RunDurationSeconds", round(seconds, 3), MetricUnit.Seconds)

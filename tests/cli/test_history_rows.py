"""`threatfeed history` from a run's output, including a run too large to carry every feed in its output."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from threatfeed.cli.ops import _print_run
from threatfeed.operate import run_row
from threatfeed.pipeline.items import compact_summary
from threatfeed.storage import S3Pointer


def _described(output: dict[str, Any]) -> dict[str, Any]:
    start = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    return {
        "name": "run-1",
        "startDate": start,
        "stopDate": start + timedelta(seconds=90),
        "status": "FAILED",
        "error": "FeedsFailed",
        "output": json.dumps(output),
    }


def _summary(n: int) -> dict[str, Any]:
    feeds = {
        f"feed-{i:03d}": {"outcome": "failed", "error": "FeedUnavailable", "cause": "503"}
        if i % 4 == 0
        else {"outcome": "ok", "accepted": 10, "rejected": 1}
        for i in range(n)
    }
    return {"run": "run-1", "ok": False, "feeds": feeds, "regions": {"us-east-1": {"outcome": "published"}}}


def test_history_of_a_large_run_counts_every_feed_and_points_to_the_full_summary() -> None:
    output = compact_summary(_summary(200), S3Pointer("bucket-1", "runs/run-1/summary.json"))

    row = run_row(_described(output))
    printed = io.StringIO()
    _print_run(row, printed)

    assert row["feed_counts"] == {"ok": 150, "empty": 0, "failed": 50, "total": 200}
    assert row["feeds_omitted"] == 180
    text = printed.getvalue()
    assert "200 feeds: 150 ok, 0 empty, 50 failed" in text, text
    assert "180 more feeds (only failed ones shown) in s3://bucket-1/runs/run-1/summary.json" in text, text


def test_history_of_a_small_run_shows_every_feed_and_no_omission() -> None:
    output = compact_summary(_summary(8), S3Pointer("bucket-1", "runs/run-1/summary.json"))

    row = run_row(_described(output))
    printed = io.StringIO()
    _print_run(row, printed)

    assert len(row["feeds"]) == 8 and row["feeds_omitted"] == 0
    assert "more feeds" not in printed.getvalue()
    assert "8 feeds: 6 ok, 0 empty, 2 failed" in printed.getvalue()

"""A run's feeds and per-feed results in S3, pointers and bounded counts in its payloads (threatfeed.pipeline.items)."""

from __future__ import annotations

import json
from typing import Any

from threatfeed.pipeline.items import compact_summary, compact_transform, fetch_results, stage_items
from threatfeed.pipeline.publish import feeds_failed_cause
from threatfeed.storage import S3Pointer

BUCKET = "data"


class FakeStore:
    """The few Store methods the items module uses, over a dict."""

    bucket = BUCKET

    def __init__(self, objects: dict[str, Any] | None = None) -> None:
        self.objects = {k: v if isinstance(v, bytes) else json.dumps(v).encode() for k, v in (objects or {}).items()}

    def put_json(self, key: str, document: Any) -> S3Pointer:
        self.objects[key] = json.dumps(document).encode()
        return S3Pointer(BUCKET, key, "v1")

    def get_json(self, key: str, default: Any = None) -> Any:
        return json.loads(self.objects[key]) if key in self.objects else default

    def get_bytes(self, key: str, version_id: str | None = None) -> bytes:
        return self.objects[key]


def _entry(status: str, feed: str, **fields: Any) -> dict[str, Any]:
    return {"Status": status, "Input": json.dumps({"feed": {"name": feed}, "run": {"id": "r"}}), **fields}


def test_the_plan_keeps_a_pointer_to_its_feed_items_not_the_items() -> None:
    store = FakeStore()
    feeds = [{"name": f"feed-{i}", "type": "http_list", "url": f"https://x/{i}"} for i in range(300)]
    plan = {"run": {"id": "r", "feeds": [f["name"] for f in feeds]}, "feeds": feeds, "regions": ["us-east-1"]}

    staged = stage_items(plan, store)

    assert staged["items"] == {"bucket": BUCKET, "key": "runs/r/feeds.json", "count": 300}
    assert "feeds" not in staged and "feeds" not in staged["run"] and staged["run"]["feed_count"] == 300
    assert json.loads(store.objects["runs/r/feeds.json"]) == feeds
    assert len(json.dumps(staged)) < 500


def test_each_planned_feed_gets_a_result_in_plan_order_even_from_a_failed_or_missing_child() -> None:
    ok = {"feed": "b", "outcome": "ok", "raw": {"bucket": BUCKET, "key": "raw/r/b"}}
    caught = {"feed": "c", "outcome": "failed", "error": "FeedUnavailable", "cause": "503"}
    succeeded = [
        _entry("SUCCEEDED", "c", Output=json.dumps(caught), OutputDetails={"Included": True}),
        _entry("SUCCEEDED", "b", Output=json.dumps(ok), OutputDetails={"Included": True}),
    ]
    failed = [_entry("FAILED", "a", Error="States.Runtime", Cause="The JSONPath '$.x' could not be found")]
    manifest = {
        "DestinationBucket": BUCKET,
        "ResultFiles": {
            "SUCCEEDED": [{"Key": "fetched/m/SUCCEEDED_0.json", "Size": 1}],
            "FAILED": [{"Key": "fetched/m/FAILED_0.json", "Size": 1}],
            "PENDING": [],
        },
    }
    store = FakeStore(
        {
            "runs/r/feeds.json": [{"name": name} for name in "abcd"],
            "fetched/m/manifest.json": manifest,
            "fetched/m/SUCCEEDED_0.json": succeeded,
            "fetched/m/FAILED_0.json": failed,
        }
    )

    results = fetch_results(store, {"bucket": BUCKET, "key": "fetched/m/manifest.json"}, {"key": "runs/r/feeds.json"})

    assert [r["feed"] for r in results] == ["a", "b", "c", "d"]
    assert results[0] == {
        "feed": "a",
        "outcome": "failed",
        "error": "States.Runtime",
        "cause": "The JSONPath '$.x' could not be found",
    }
    assert results[1] == ok and results[2] == caught
    assert results[3]["outcome"] == "failed" and results[3]["error"] == "NoFetchResult"


def test_the_run_output_lists_every_feed_up_to_fifty_then_only_the_first_failed_ones() -> None:
    def summary(n: int) -> dict[str, Any]:
        feeds = {
            f"feed-{i:04d}": {"outcome": "failed", "error": "FeedUnavailable", "cause": "x" * 1000}
            if i % 3 == 2
            else {"outcome": "ok", "accepted": 3, "rejected": 0}
            for i in range(n)
        }
        return {"run": "r", "ok": False, "feeds": feeds, "regions": {}, "guards": []}

    pointer = S3Pointer(BUCKET, "runs/r/summary.json")
    small = compact_summary(summary(40), pointer)
    large = compact_summary(summary(1000), pointer)

    assert len(small["feeds"]) == 40 and "feeds_omitted" not in small
    assert all(len(entry.get("cause", "")) <= 300 for entry in small["feeds"].values())
    assert list(large["feeds"]) == [f"feed-{i:04d}" for i in range(2, 60, 3)]
    assert large["feeds_omitted"] == 980
    assert large["feed_counts"] == {"ok": 667, "empty": 0, "failed": 333, "total": 1000}
    assert large["details"] == f"s3://{BUCKET}/runs/r/summary.json"
    assert len(json.dumps(large)) < 10_000


def test_the_transform_passes_on_counts_and_a_pointer_not_every_feed() -> None:
    result = {
        "publish": True,
        "reason": "",
        "lists": [{"name": "ip-1"}],
        "feeds": {f"feed-{i}": {"outcome": "ok", "accepted": 3} for i in range(1000)},
        "findings": [{"guard": "FlappingGuard", "message": "m" * 200, "feeds": [f"feed-{i}"]} for i in range(300)],
    }

    compact = compact_transform(result, S3Pointer(BUCKET, "runs/r/transform.json", "v1"))

    assert "feeds" not in compact and compact["feed_counts"]["ok"] == 1000
    assert len(compact["findings"]) == 10 and compact["findings_omitted"] == 290
    assert compact["details"] == {"bucket": BUCKET, "key": "runs/r/transform.json", "version_id": "v1"}
    assert compact["lists"] == result["lists"] and len(json.dumps(compact)) < 5_000


def test_a_feeds_failed_cause_is_the_same_size_for_one_or_a_thousand_failed_feeds() -> None:
    feeds = {f"feed-{i:04d}": {"error": "FeedUnavailable", "cause": "connection reset " * 60} for i in range(1000)}
    manifest = {"bucket": BUCKET, "key": "manifests/r.json"}

    one = feeds_failed_cause(["feed-0000"], feeds, manifest)
    thousand = feeds_failed_cause(list(feeds), feeds, manifest)

    assert one.startswith("1 of 1000 feed(s) failed") and thousand.startswith("1000 of 1000 feed(s) failed")
    assert len(one) < 6_500 and len(thousand) < 6_500 < 32_768
    assert "feed-0000: FeedUnavailable" in thousand and "feed-0999" not in thousand
    assert "more feeds (1000 in all" in thousand
    assert thousand.endswith(f"s3://{BUCKET}/manifests/r.json")

"""Publish handler: create/update the project's GuardDuty lists in one Region, poll them, or summarize the run."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from threatfeed.aws import client
from threatfeed.config import load_settings, require
from threatfeed.observability import record_summary
from threatfeed.pipeline.items import compact_summary, fetch_results, load_details
from threatfeed.pipeline.publish import check_region, publish_region, summarize_run
from threatfeed.storage import Store, summary_key

logger = Logger()


@logger.inject_lambda_context(correlation_id_path="run.id")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = load_settings()
    action = event.get("action")
    if action == "publish":
        region = event["region"]
        store = Store(client("s3"), require(settings.bucket, "THREATFEED_BUCKET"))
        result = publish_region(
            client("guardduty", region), store, region, event["run"], event["lists"], stack_name=settings.stack_name
        )
    elif action == "check":
        region = event["region"]
        store = Store(client("s3"), require(settings.bucket, "THREATFEED_BUCKET"))
        result = check_region(
            client("guardduty", region),
            store,
            region,
            event["run"],
            event["specs"],
            event["lists"],
            int(event.get("checks", 0)),
            stack_name=settings.stack_name,
        )
    elif action == "summarize":
        store = Store(client("s3"), require(settings.bucket, "THREATFEED_BUCKET"))
        # Every feed's result and the transform's whole result are in S3; the event carries pointers to them.
        result = summarize_run(
            event["run"],
            fetch_results(store, event["fetched"], event.get("items")),
            load_details(store, event["transform"]),
            event["published"],
            store=store,
            tolerated_region_failures=settings.tolerated_region_failures,
        )
        record_summary(result, event["run"]["started_at"])
        result = compact_summary(result, store.put_json(summary_key(event["run"]["id"]), result))
    else:
        raise ValueError(f"Unknown publish action {action!r}; the state machine sends publish, check or summarize")
    logger.info(f"{action} done", extra={"result": {k: v for k, v in result.items() if k != "lists"}})
    return result

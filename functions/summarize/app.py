"""Summarize handler: record what GuardDuty now uses and build the run's output (the last Task state).

Its own function, with a role that reads the run's results and writes the published state and the summary, and
can call no GuardDuty API: summarizing needs none of the publish role's GuardDuty rights.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from threatfeed.aws import client
from threatfeed.config import load_settings, require
from threatfeed.observability import record_summary
from threatfeed.pipeline.contracts import SummaryPayload
from threatfeed.pipeline.items import compact_summary, fetch_results, load_details
from threatfeed.pipeline.publish import record_published, summarize_run
from threatfeed.storage import Store, summary_key

logger = Logger()


@logger.inject_lambda_context(correlation_id_path="run.id")
def handler(event: dict[str, Any], context: Any) -> SummaryPayload:
    settings = load_settings()
    store = Store(client("s3"), require(settings.bucket, "THREATFEED_BUCKET"))
    run = event["run"]
    # Every feed's result and the transform's whole result are in S3; the event carries pointers to them.
    fetched = fetch_results(store, event["fetched"], event.get("items"))
    transform = load_details(store, event["transform"])
    published = event["published"]
    recorded = record_published(run, transform, published, store=store)
    summary = summarize_run(
        run, fetched, transform, published, tolerated_region_failures=settings.tolerated_region_failures
    )
    record_summary(summary, run["started_at"])
    result = compact_summary(summary, store.put_json(summary_key(run["id"]), summary))
    logger.info(
        "summarize done",
        extra={"result": {k: v for k, v in result.items() if k != "lists"}, "recorded": [s["name"] for s in recorded]},
    )
    return result

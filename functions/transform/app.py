"""Transform handler: build the GuardDuty lists and the manifest from the run's raw feed bodies."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from threatfeed.aws import client
from threatfeed.config import load_settings, require
from threatfeed.observability import record_transform
from threatfeed.pipeline.contracts import TransformPayload
from threatfeed.pipeline.items import compact_transform, fetch_results, outcome_counts
from threatfeed.pipeline.transform import transform_run
from threatfeed.storage import Store, transform_result_key

logger = Logger()


@logger.inject_lambda_context(correlation_id_path="run.id")
def handler(event: dict[str, Any], context: Any) -> TransformPayload:
    settings = load_settings()
    store = Store(client("s3"), require(settings.bucket, "THREATFEED_BUCKET"))
    # The fetch results are in S3 (the fetch Map's ResultWriter), not in the event; so is the whole result below.
    fetched = fetch_results(store, event["fetched"], event.get("items"))
    result = transform_run(event["run"], fetched, settings=settings, store=store)
    logger.info(
        "lists built",
        extra={
            "publish": result["publish"],
            "reason": result["reason"],
            "feeds": outcome_counts(result["feeds"]),
            "lists": [{k: item[k] for k in ("name", "entries", "sha256")} for item in result["lists"]],
        },
    )
    record_transform(result)
    pointer = store.put_json(transform_result_key(event["run"]["id"]), result)
    return compact_transform(result, pointer)

"""Transform handler: build the GuardDuty lists and the manifest from the run's raw feed bodies."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from threatfeed.aws import client
from threatfeed.config import load_settings, require
from threatfeed.observability import record_transform
from threatfeed.pipeline.transform import transform_run
from threatfeed.storage import Store

logger = Logger()


@logger.inject_lambda_context(correlation_id_path="run.id")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = load_settings()
    store = Store(client("s3"), require(settings.bucket, "THREATFEED_BUCKET"))
    result = transform_run(event["run"], event["fetched"], settings=settings, store=store)
    logger.info(
        "lists built",
        extra={
            "publish": result["publish"],
            "reason": result["reason"],
            "feeds": result["feeds"],
            "lists": [{k: item[k] for k in ("name", "entries", "sha256")} for item in result["lists"]],
        },
    )
    record_transform(result)
    return result

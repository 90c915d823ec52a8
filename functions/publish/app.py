"""Publish handler: create/update the project's GuardDuty lists in one Region, or poll their status."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from threatfeed.aws import client
from threatfeed.config import load_settings, require
from threatfeed.pipeline.contracts import RegionResult
from threatfeed.pipeline.publish import check_region, publish_region
from threatfeed.storage import Store

logger = Logger()


@logger.inject_lambda_context(correlation_id_path="run.id")
def handler(event: dict[str, Any], context: Any) -> RegionResult:
    settings = load_settings()
    action = event.get("action")
    region = event["region"]
    store = Store(client("s3"), require(settings.bucket, "THREATFEED_BUCKET"))
    if action == "publish":
        result = publish_region(
            client("guardduty", region), store, region, event["run"], event["lists"], stack_name=settings.stack_name
        )
    elif action == "check":
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
    else:
        # Summarize has its own function (functions/summarize) and role since issue 15.
        raise ValueError(f"Unknown publish action {action!r}; the state machine sends publish or check")
    logger.info(f"{action} done", extra={"result": {k: v for k, v in result.items() if k != "lists"}})
    return result

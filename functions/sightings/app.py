"""Sightings handler: record a GuardDuty finding raised from one of this stack's lists (EventBridge rule target)."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger

from threatfeed.aws import client
from threatfeed.config import load_settings, require
from threatfeed.sightings import NotASighting, record_finding
from threatfeed.storage import Store

logger = Logger()


@logger.inject_lambda_context(correlation_id_path="id")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = load_settings()
    store = Store(client("s3"), require(settings.bucket, "THREATFEED_BUCKET"))
    try:
        result = record_finding(store, event, settings.stack_name, now=time.time())
    except NotASighting as error:
        # The rule's pattern lets only this stack's lists through; anything else is logged, not retried.
        logger.warning(f"not recorded: {error}")
        return {"outcome": "ignored", "reason": str(error)}
    if "warning" in result:
        logger.warning(result["warning"], extra={"finding": result["finding_id"]})
    logger.info(f"sighting {result['outcome']}", extra={"sighting": result})
    return result

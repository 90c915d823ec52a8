"""Plan handler: validate the execution input and settle the run's feeds and Regions."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from threatfeed.aws import client
from threatfeed.config import load_settings, require
from threatfeed.pipeline.contracts import Plan
from threatfeed.pipeline.items import stage_items
from threatfeed.pipeline.plan import add_own_addresses, default_catalogue, load_catalogue, plan_run
from threatfeed.storage import Store

logger = Logger()


@logger.inject_lambda_context(correlation_id_path="execution")
def handler(event: dict[str, Any], context: Any) -> Plan:
    settings = load_settings()
    store = Store(client("s3"), require(settings.bucket, "THREATFEED_BUCKET"))
    plan = plan_run(event, settings, load_catalogue(store, default_catalogue(settings)))
    plan = add_own_addresses(plan, settings, client)
    logger.info("run planned", extra={"feeds": plan["run"].get("feeds"), "regions": plan["regions"]})
    for skipped in plan["run"].get("skipped", []):
        logger.warning(skipped["reason"], extra={"feed": skipped["feed"]})
    # The feed items go to S3 for the fetch Map's ItemReader: the state payload keeps a pointer and a count.
    return stage_items(plan, store)

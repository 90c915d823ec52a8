"""Plan handler: validate the execution input and settle the run's feeds and Regions."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from threatfeed.config import load_settings
from threatfeed.pipeline.plan import plan_run, read_catalogue

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(correlation_id_path="execution")
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = load_settings()
    plan = plan_run(event, settings, read_catalogue(settings))
    logger.info("run planned", extra={"feeds": plan["run"]["feeds"], "regions": plan["regions"]})
    return plan

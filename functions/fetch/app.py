"""Fetch handler: download one feed into S3 and return a pointer to it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from threatfeed.aws import client
from threatfeed.config import load_settings, require
from threatfeed.pipeline.contracts import FetchResult
from threatfeed.pipeline.fetch import fetch_feed_to_s3
from threatfeed.secrets import get_secret_json
from threatfeed.storage import Store

logger = Logger()


@logger.inject_lambda_context(correlation_id_path="run.id")
def handler(event: dict[str, Any], context: Any) -> FetchResult:
    settings = load_settings()
    store = Store(client("s3"), require(settings.bucket, "THREATFEED_BUCKET"))
    result = fetch_feed_to_s3(event["feed"], event["run"], settings=settings, store=store, get_secret=get_secret_json)
    logger.info("feed fetched", extra={k: result.get(k) for k in ("feed", "outcome", "status", "bytes", "sha256")})
    return result

"""Tamper handler: notify when someone other than threatfeed updates or deletes one of this stack's GuardDuty
lists (EventBridge rule on CloudTrail's GuardDuty management events)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from threatfeed.aws import aws_errors, client
from threatfeed.config import load_settings, require
from threatfeed.guardduty import SET_APIS
from threatfeed.tamper import Change, handle

logger = Logger()


def _get_list(change: Change) -> dict[str, Any]:
    api = SET_APIS[change.set_type]
    with aws_errors(f"GuardDuty in {change.region}"):
        return dict(
            getattr(client("guardduty", change.region), api.get)(
                DetectorId=change.detector_id, **{api.id_param: change.set_id}
            )
        )


@logger.inject_lambda_context(correlation_id_path="id")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = load_settings()
    topic = require(settings.topic_arn, "THREATFEED_TOPIC_ARN")

    def notify(subject: str, body: str) -> None:
        with aws_errors("SNS"):
            client("sns").publish(TopicArn=topic, Subject=subject, Message=body)

    result = handle(
        event,
        stack_name=settings.stack_name,
        publish_role_arn=settings.publish_role_arn,
        get_list=_get_list,
        notify=notify,
    )
    (logger.warning if result["outcome"] == "notified" else logger.info)(
        f"tamper watch: {result['outcome']}", extra={"result": result}
    )
    return result

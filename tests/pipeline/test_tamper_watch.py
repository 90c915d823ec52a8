"""Tamper watch: a list changed outside threatfeed is notified (who, what, where) through the CloudTrail event
EventBridge delivers to the tamper function, and the next run puts it back, saying so in its summary."""

from __future__ import annotations

import json
from typing import Any

from embedded_aws.clock import clock
from embedded_aws.runtime import EmbeddedAws


def subscribe(aws: EmbeddedAws) -> tuple[Any, str]:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="tamper-notifications")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=aws.stack.topic_arn, Protocol="sqs", Endpoint=arn)
    return sqs, url


def messages(sqs: Any, url: str) -> list[str]:
    answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"])["Message"] for m in answer.get("Messages", [])]


def test_a_list_deactivated_by_hand_is_notified_and_the_next_run_puts_it_back() -> None:
    with EmbeddedAws(regions=("us-east-1",), retry_sleep=False) as aws:
        assert aws.run().status == "SUCCEEDED"
        sqs, url = subscribe(aws)
        gd = aws.client("guardduty")
        detector = gd.list_detectors()["DetectorIds"][0]
        set_id = gd.list_threat_intel_sets(DetectorId=detector)["ThreatIntelSetIds"][0]

        gd.update_threat_intel_set(DetectorId=detector, ThreatIntelSetId=set_id, Activate=False)
        aws.deliveries.wait()

        [notice] = messages(sqs, url)
        assert "deactivated threat IP list 'threatfeed-threatfeed-ip-1'" in notice
        assert "arn:aws:iam::123456789012:user/moto" in notice  # who
        assert "us-east-1" in notice and detector in notice  # where
        [tamper] = [d for d in aws.deliveries.to("TamperFunction") if d.event["detail"]["eventName"].startswith("Up")]
        assert tamper.outcome == "ok" and tamper.result["outcome"] == "notified"

        repair = aws.run()

        assert repair.status == "SUCCEEDED", repair.cause
        output = repair.output or {}
        assert output["published"] is False and output["reason"].startswith("unchanged")
        assert [(r["name"], r["drift"]) for r in output["repaired"]] == [("threatfeed-threatfeed-ip-1", "deactivated")]
        assert "had been deactivated outside threatfeed" in output["repaired"][0]["message"]
        assert gd.get_threat_intel_set(DetectorId=detector, ThreatIntelSetId=set_id)["Status"] == "ACTIVE"
        # The repair is threatfeed's own update (the publish role): it reached the tamper watch, which let it be.
        aws.deliveries.wait()
        own = [d for d in aws.deliveries.to("TamperFunction") if d.result and d.result["outcome"] == "ignored"]
        assert own and all("publish role" in d.result["reason"] for d in own)
        assert messages(sqs, url) == []


def test_a_deleted_list_is_recreated_by_the_next_run_which_says_so() -> None:
    with EmbeddedAws(regions=("us-east-1",), retry_sleep=False) as aws:
        assert aws.run().status == "SUCCEEDED"
        gd = aws.client("guardduty")
        detector = gd.list_detectors()["DetectorIds"][0]
        set_id = gd.list_threat_entity_sets(DetectorId=detector)["ThreatEntitySetIds"][0]
        gd.delete_threat_entity_set(DetectorId=detector, ThreatEntitySetId=set_id)
        aws.deliveries.wait()
        [tamper] = [d for d in aws.deliveries.to("TamperFunction") if d.result and d.result["outcome"] == "notified"]
        assert "deleted threat entity list 'threatfeed-threatfeed-domain-1'" in tamper.result["message"]
        clock.advance(20 * 60)  # DELETE_PENDING until GuardDuty is done

        repair = aws.run()

        assert repair.status == "SUCCEEDED", repair.cause
        assert [(r["name"], r["drift"]) for r in (repair.output or {})["repaired"]] == [
            ("threatfeed-threatfeed-domain-1", "deleted")
        ]
        ids = gd.list_threat_entity_sets(DetectorId=detector)["ThreatEntitySetIds"]
        assert len(ids) == 1 and ids[0] != set_id

"""What a real account does on the first runs, which a kind emulator once hid (issue 10): each test here failed
on the code before its fix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from embedded_aws import guardduty
from embedded_aws.clock import clock
from embedded_aws.runtime import EmbeddedAws


def _domains_and_ips(server: Any, _secret: str) -> dict[str, Any]:
    return {"feeds": [{"name": "main", "type": "http_list", "url": server.url("/main.txt"), "format": "txt"}]}


@pytest.fixture
def mixed_feed() -> Iterator[EmbeddedAws]:
    """One feed of addresses and domains: a threat IP list and a threat entity list in each Region."""
    with EmbeddedAws(regions=("us-east-1", "eu-west-1"), catalogue=_domains_and_ips, retry_sleep=False) as aws:
        aws.feed_server.set_route("/main.txt", body=b"45.10.0.1\n45.10.0.2\nevil-c2-panel.xyz\nbad-update.top\n")
        yield aws


def _sets(aws: EmbeddedAws, region: str) -> dict[str, dict[str, Any]]:
    gd = aws.client("guardduty", region)
    detector = gd.list_detectors()["DetectorIds"][0]
    found = {}
    for set_id in gd.list_threat_intel_sets(DetectorId=detector)["ThreatIntelSetIds"]:
        found["ip"] = {"id": set_id, **gd.get_threat_intel_set(DetectorId=detector, ThreatIntelSetId=set_id)}
    for set_id in gd.list_threat_entity_sets(DetectorId=detector)["ThreatEntitySetIds"]:
        found["domain"] = {"id": set_id, **gd.get_threat_entity_set(DetectorId=detector, ThreatEntitySetId=set_id)}
    return found


def test_an_entity_list_in_error_reports_guardduty_s_reason_not_a_python_error(mixed_feed: EmbeddedAws) -> None:
    # GetThreatEntitySet returns ErrorDetails as a string (botocore's model); the check once called .get on it.
    # Only the entity list is refused: with both refused, whichever settles first fails the Region, and the check
    # under test might never see the entity list.
    with guardduty.forced_error("eu-west-1", "the object is not a valid TXT list", kind="ThreatEntitySet"):
        result = mixed_feed.run()

    assert result.status == "FAILED"
    assert result.error == "RegionsFailed"
    cause = result.cause or ""
    assert "AttributeError" not in cause, cause
    assert "threat_entity_set" in cause and "The object is not a valid TXT list" in cause, cause


def test_a_list_busy_with_a_change_is_waited_for_then_published(mixed_feed: EmbeddedAws) -> None:
    aws = mixed_feed
    first = aws.run()
    assert first.status == "SUCCEEDED", (first.error, first.cause)

    # Someone (or an earlier run's activation) keeps the IP list busy for 25 minutes: GuardDuty refuses any
    # change meanwhile. The run must wait in the state machine, then publish, then wait for its activation.
    ip = _sets(aws, "us-east-1")["ip"]
    gd = aws.client("guardduty", "us-east-1")
    with guardduty.activation(delay_seconds=25 * 60):
        gd.update_threat_intel_set(
            DetectorId=gd.list_detectors()["DetectorIds"][0], ThreatIntelSetId=ip["id"], Activate=False
        )
    assert _sets(aws, "us-east-1")["ip"]["Status"] == "DEACTIVATING"
    before = clock.now()

    second = aws.run({"trigger": "urgent", "force": True})

    assert second.status == "SUCCEEDED", (second.error, second.cause)
    assert clock.now() - before >= 25 * 60 + 15 * 60  # waited out the change, then its own activation
    assert _sets(aws, "us-east-1")["ip"]["Status"] == "ACTIVE"
    failed = [e for e in second.events if e["type"] in ("TaskFailed", "LambdaFunctionFailed")]
    assert not failed, failed
    checks = [e for e in second.events if e["type"] == "TaskStateEntered"]
    assert any(e["stateEnteredEventDetails"]["name"] == "CheckLists" for e in checks)


def test_a_list_still_activating_when_the_polls_run_out_fails_the_region_by_name(mixed_feed: EmbeddedAws) -> None:
    with guardduty.activation(delay_seconds=10 * 3600):  # far beyond 45 checks of 120 s
        result = mixed_feed.run()

    assert result.status == "FAILED"
    assert "ActivationTimedOut" in (result.cause or "")


def test_a_run_overtaken_by_a_newer_run_still_checks_its_lists() -> None:
    # A run that finds a list already published by a newer run marks it superseded_by that run; the polling
    # step must accept its own state back (it once raised TypeError on the extra key).
    from threatfeed.guardduty import ListState

    state = ListState("n", "ip", "threat_intel_set", "id", "ACTIVE", "s3://b/k", "0" * 64, action="superseded")
    state.superseded_by = "run-2"
    again = ListState(**state.as_dict())
    assert again.superseded_by == "run-2"


def test_timeouts_and_out_of_memory_are_not_retried(embedded: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> None:
    # Lambda reports a function time-out or out-of-memory to Step Functions as Lambda.Unknown: retrying a 900 s
    # time-out four times turns one failure into more than an hour. It must fail (and notify) at once.
    registry = embedded.registry
    real_invoke = registry.invoke
    calls: list[str] = []
    transform = embedded.stack.functions["TransformFunction"].name

    def invoke(fn: Any, event: Any) -> tuple[str, bool, str]:
        if fn.function_name == transform:
            calls.append(fn.function_name)
            payload = {"errorType": "Lambda.Unknown", "errorMessage": "Task timed out after 900.00 seconds"}
            return json.dumps(payload), True, ""
        return real_invoke(fn, event)

    monkeypatch.setattr(registry, "invoke", invoke)
    result = embedded.run()

    assert result.status == "FAILED"
    assert len(calls) == 1
    assert "TransformFailed" in result.entered_states()


def test_every_lambda_task_retries_what_aws_recommends_and_never_lambda_unknown() -> None:
    from embedded_aws.runtime import REPO_ROOT

    definition = json.loads((REPO_ROOT / "statemachine" / "threatfeed.asl.json").read_text())
    recommended = {
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.ClientExecutionTimeoutException",
    }

    def tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        for name, state in states.items():
            if state.get("Resource") == "arn:aws:states:::lambda:invoke":
                yield name, state
            for nested in ("ItemProcessor", "Iterator"):
                if nested in state:
                    yield from tasks(state[nested]["States"])

    found = list(tasks(definition["States"]))
    assert len(found) >= 5
    for name, state in found:
        retried = {error for rule in state.get("Retry", []) for error in rule["ErrorEquals"]}
        assert recommended <= retried, name
        assert not retried & {"Lambda.Unknown", "States.ALL", "States.TaskFailed", "States.Timeout"}, name

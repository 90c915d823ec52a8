"""IAM as AWS enforces it, end to end: every call of the four functions, the state machine and the triggers is
authorized against the roles template.yaml deploys. A permission removed from a copy of the template fails the
run with an AccessDenied that names the action and the role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from embedded_aws.runtime import REPO_ROOT, TEMPLATE, EmbeddedAws, ExecutionResult

ONE_FEED_BODY = b"45.10.0.1\n45.10.0.2\nevil-c2-panel.xyz\n"


def _one_feed(server: Any, _secret: str) -> dict[str, Any]:
    return {"feeds": [{"name": "main", "type": "http_list", "url": server.url("/main.txt"), "format": "txt"}]}


def template_copy(tmp_path: Path, old: str, new: str) -> Path:
    """template.yaml with ``old`` replaced by ``new`` (exactly once), its local paths made absolute."""
    text = TEMPLATE.read_text()
    assert text.count(old) == 1, f"{old!r} is not exactly once in template.yaml"
    text = text.replace(old, new)
    text = text.replace("CodeUri: functions/", f"CodeUri: {REPO_ROOT}/functions/")
    text = text.replace("DefinitionUri: statemachine/", f"DefinitionUri: {REPO_ROOT}/statemachine/")
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return path


def run_with(template: Path) -> tuple[EmbeddedAws, ExecutionResult]:
    """Start the embedded AWS on ``template`` and run once; the caller exits it (after reading its denials)."""
    aws = EmbeddedAws(regions=("us-east-1",), catalogue=_one_feed, retry_sleep=False, template=template)
    aws.__enter__()
    aws.feed_server.set_route("/main.txt", body=ONE_FEED_BODY)
    return aws, aws.run()


def test_the_demo_runs_with_every_call_authorized_and_none_denied() -> None:
    with EmbeddedAws(regions=("us-east-1",), retry_sleep=False) as aws:
        result = aws.run()

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert aws.iam.denials == []
    assert aws.iam.checked > 50  # the functions' and the state machine's calls really went through IAM


@pytest.mark.parametrize(
    ("old", "new", "action", "role"),
    [
        # the fetch function may no longer write raw bodies
        (
            '                - s3:AbortMultipartUpload\n              Resource: !Sub "${DataBucket.Arn}/raw/*"',
            '                - s3:AbortMultipartUpload\n              Resource: !Sub "${DataBucket.Arn}/elsewhere/*"',
            "s3:PutObject",
            "FetchFunctionRole",
        ),
        # the publish function may no longer create threat entity lists
        (
            "                - guardduty:CreateThreatEntitySet\n",
            "",
            "guardduty:CreateThreatEntitySet",
            "PublishFunction",
        ),
        # ... nor let GuardDuty write the inline policy an IP list needs on its service-linked role
        ("                - iam:PutRolePolicy\n", "", "iam:PutRolePolicy", "PublishFunction"),
        # the plan function may no longer read the catalogue
        (
            "                - s3:GetObject\n                - s3:PutObject\n              Resource: !Sub "
            '"${DataBucket.Arn}/config/catalogue.json"',
            '                - s3:PutObject\n              Resource: !Sub "${DataBucket.Arn}/config/catalogue.json"',
            "s3:GetObject",
            "PlanFunction",
        ),
        # the plan may no longer write the run's feed items for the fetch Map
        (
            "- Sid: WriteRunItems\n              Effect: Allow\n              Action: s3:PutObject",
            "- Sid: WriteRunItems\n              Effect: Allow\n              Action: s3:GetObject",
            "s3:PutObject",
            "PlanFunction",
        ),
        # the state machine may no longer start its own child executions (the Distributed Map's)
        (
            "- Sid: StartFetchChildExecutions\n            Effect: Allow\n            Action: states:StartExecution",
            "- Sid: StartFetchChildExecutions\n            Effect: Allow\n            Action: states:ListExecutions",
            "states:StartExecution",
            "ThreatfeedStateMachineRole",
        ),
        # ... nor read the feed items (ItemReader)
        (
            "- Sid: ReadRunItems\n              Effect: Allow\n              Action: s3:GetObject",
            "- Sid: ReadRunItems\n              Effect: Allow\n              Action: s3:GetObjectVersion",
            "s3:GetObject",
            "ThreatfeedStateMachineRole",
        ),
        # ... nor write the fetch results (ResultWriter)
        (
            "              Action:\n                - s3:PutObject\n                - s3:GetObject\n"
            "                - s3:ListMultipartUploadParts",
            "              Action:\n                - s3:GetObject\n                - s3:ListMultipartUploadParts",
            "s3:PutObject",
            "ThreatfeedStateMachineRole",
        ),
    ],
    ids=[
        "fetch-put-raw",
        "publish-create-entity-set",
        "publish-guardduty-slr",
        "plan-read-catalogue",
        "plan-put-run-items",
        "machine-start-child-executions",
        "machine-read-items",
        "machine-write-results",
    ],
)
def test_a_permission_removed_from_the_template_fails_the_run_naming_action_and_role(
    tmp_path: Path, old: str, new: str, action: str, role: str
) -> None:
    aws, result = run_with(template_copy(tmp_path, old, new))
    try:
        assert result.status == "FAILED"
        history = json.dumps(result.events, default=str)
        assert "AccessDenied" in history
        denied = [d for d in aws.iam.denials if d.permission and d.permission.action == action]
        assert denied, [d.message for d in aws.iam.denials]
        assert role in denied[0].message and action in denied[0].message
        assert action in history and role in history  # the run's own error says it, not just the harness
    finally:
        aws.__exit__(None, None, None)


def test_a_state_machine_that_may_not_invoke_a_function_fails_naming_lambda_invoke(tmp_path: Path) -> None:
    template = template_copy(tmp_path, "                - !GetAtt TransformFunction.Arn\n", "")
    aws, result = run_with(template)
    try:
        assert result.status == "FAILED"
        denied = [d for d in aws.iam.denials if d.permission and d.permission.action == "lambda:InvokeFunction"]
        assert denied and "ThreatfeedStateMachineRole" in denied[0].message
        assert "TransformFailed" in result.entered_states()
    finally:
        aws.__exit__(None, None, None)


def test_a_missing_cursor_without_list_bucket_is_access_denied_as_on_aws(tmp_path: Path) -> None:
    # The fetch role once had ListBucket only under the condition s3:prefix = state/cursors/*. A GetObject carries
    # no s3:prefix, so on AWS the grant did not count and every feed without a cursor yet (every run of every
    # non-TAXII feed) read its missing cursor as 403 AccessDenied, not 404, and failed.
    old = "              Action: s3:ListBucket\n              Resource: !GetAtt DataBucket.Arn\n\n  TransformLogGroup:"
    new = (
        "              Action: s3:ListBucket\n              Resource: !GetAtt DataBucket.Arn\n"
        '              Condition:\n                StringLike:\n                  "s3:prefix": "state/cursors/*"\n'
        "\n  TransformLogGroup:"
    )
    aws, result = run_with(template_copy(tmp_path, old, new))
    try:
        assert result.status == "FAILED"
        assert result.error == "FeedsFailed"
        assert "AccessDenied" in (result.cause or "")
        assert any(
            d.permission is not None and d.permission.action == "s3:ListBucket" and "FetchFunctionRole" in d.message
            for d in aws.iam.denials
        )
    finally:
        aws.__exit__(None, None, None)


def test_the_schedule_and_the_deployment_rule_start_runs_with_their_own_roles(tmp_path: Path) -> None:
    with EmbeddedAws(regions=("us-east-1",), catalogue=_one_feed, retry_sleep=False) as aws:
        aws.feed_server.set_route("/main.txt", body=ONE_FEED_BODY)
        scheduled = aws.wait(aws.trigger("RunSchedule"))
        deployed = aws.wait(aws.trigger("Deployed"))
    assert scheduled.status == deployed.status == "SUCCEEDED"
    assert scheduled.name.startswith("scheduled-")

    old = "                Action: states:StartExecution\n                Resource: !Ref ThreatfeedStateMachine"
    new = "                Action: states:DescribeExecution\n                Resource: !Ref ThreatfeedStateMachine"
    changed = template_copy(tmp_path, old, new)
    with (
        EmbeddedAws(regions=("us-east-1",), catalogue=_one_feed, retry_sleep=False, template=changed) as aws,
        pytest.raises(Exception, match="AccessDenied") as refused,
    ):
        aws.trigger("RunSchedule")
    assert "states:StartExecution" in str(refused.value) and "RunScheduleRole" in str(refused.value)

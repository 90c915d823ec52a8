"""template.yaml deployed into moto's CloudFormation by embedded_aws.stack (no handler code involved)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from embedded_aws.stack import (
    EMULATED_TYPES,
    DeployedStack,
    StackDeployError,
    _statement_may_apply,
    check_parameters,
    deploy_stack,
    load_template,
    moto_supported_types,
    substitute_definition,
)
from template_helpers import DEFINITION_SUBSTITUTIONS

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
REAL_DEFINITION = ROOT / "statemachine" / "threatfeed.asl.json"
CONTRACT_SUBSTITUTIONS = DEFINITION_SUBSTITUTIONS

#: Pass states only: runs on moto without any handler, and echoes every substitution in its output.
ECHO_DEFINITION = """{
  "Comment": "placeholder: echoes the DefinitionSubstitutions",
  "StartAt": "Echo",
  "States": {
    "Echo": {
      "Type": "Pass",
      "Parameters": {
        "trigger.$": "$.trigger",
        "functions": ["${PlanFunctionArn}", "${FetchFunctionArn}", "${TransformFunctionArn}", "${PublishFunctionArn}",
                      "${SummarizeFunctionArn}"],
        "topic": "${NotificationTopicArn}",
        "numbers": [${FeedConcurrency}, ${RegionConcurrency}, ${ActivationPollSeconds}, ${ActivationPollAttempts}]
      },
      "Next": "Wait"
    },
    "Wait": {"Type": "Wait", "Seconds": 0, "Next": "Done"},
    "Done": {"Type": "Succeed"}
  }
}
"""

PARAMETERS = {
    "PublicKey": "public-key",
    "PrivateKey": "private-key-0123",
    "DaysRequested": "9",
    "Regions": "us-east-1,eu-west-1",
    "RegionConcurrency": "3",
    "ActivationPollSeconds": "30",
    "NotificationEmail": "soc@example.com",
}


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def definition_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real definition once it exists, else a placeholder using every substitution."""
    if REAL_DEFINITION.is_file():
        return REAL_DEFINITION
    path = tmp_path_factory.mktemp("asl") / "threatfeed.asl.json"
    path.write_text(ECHO_DEFINITION, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def stack(aws: None, definition_path: Path) -> DeployedStack:
    return deploy_stack(TEMPLATE, stack_name="tf-test", parameters=PARAMETERS, definition_path=definition_path)


@pytest.fixture(scope="module")
def echo_stack(aws: None, tmp_path_factory: pytest.TempPathFactory) -> DeployedStack:
    path = tmp_path_factory.mktemp("echo") / "echo.asl.json"
    path.write_text(ECHO_DEFINITION, encoding="utf-8")
    return deploy_stack(TEMPLATE, stack_name="tf-echo", region="eu-west-1", definition_path=path)


def client(service: str, region: str = "us-east-1") -> Any:
    return boto3.client(service, region_name=region)


def expected_logical_ids(stack: DeployedStack, parameters: dict[str, str]) -> set[str]:
    """The transformed template's resources whose Condition holds for these parameters."""
    conditions = {"NotificationEmailGiven": bool(parameters.get("NotificationEmail"))}
    return {
        logical_id
        for logical_id, resource in stack.template["Resources"].items()
        if conditions.get(resource.get("Condition", ""), True)
    }


# --------------------------------------------------------------------------- the stack


def test_every_resource_of_the_transformed_template_is_created(stack: DeployedStack) -> None:
    created = {r.logical_id: r for r in stack.resources}
    assert set(created) == expected_logical_ids(stack, PARAMETERS)
    # moto's AWS::Lambda::Permission model (EventBridge's right to invoke the event functions) has no physical ID
    assert all(
        r.status == "CREATE_COMPLETE" and (r.physical_id or r.resource_type == "AWS::Lambda::Permission")
        for r in created.values()
    )
    assert "NotificationSubscription" in created


def test_moto_gaps_are_filled_explicitly(stack: DeployedStack) -> None:
    types = {r["Type"] for r in stack.template["Resources"].values()}
    native = moto_supported_types() - set(EMULATED_TYPES)
    # what moto 5.2.5 cannot create by itself is exactly what this module emulates
    assert types - native == {
        "AWS::SecretsManager::Secret",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::Subscription",
        "AWS::Scheduler::Schedule",
        "AWS::CloudWatch::Alarm",
    }
    assert set(stack.emulated.values()) == types - native
    assert types <= moto_supported_types()


def test_no_subscription_without_an_email(echo_stack: DeployedStack) -> None:
    created = {r.logical_id for r in echo_stack.resources}
    assert "NotificationSubscription" not in created
    assert created == expected_logical_ids(echo_stack, {})
    assert client("sns", "eu-west-1").list_subscriptions_by_topic(TopicArn=echo_stack.topic_arn)["Subscriptions"] == []


def test_outputs_and_named_resources(stack: DeployedStack) -> None:
    assert set(stack.outputs) == {
        "DataBucketName",
        "StateMachineArn",
        "NotificationTopicArn",
        "CatalogueLocation",
        "IsightSecretArn",
        "DashboardName",
    }
    assert stack.catalogue_location == f"s3://{stack.bucket}/config/catalogue.json"
    assert ":secret:threatfeed/tf-test/isight" in stack.secret_arn
    assert stack.topic_arn.startswith("arn:aws:sns:us-east-1:")
    assert stack.state_machine_arn.startswith("arn:aws:states:us-east-1:")
    assert stack.triggers == {"RunSchedule": {"trigger": "scheduled"}, "Deployed": {"trigger": "deploy"}}
    assert set(stack.trigger_roles) == set(stack.triggers)
    assert all(arn.startswith("arn:aws:iam::") and ":role/" in arn for arn in stack.trigger_roles.values())


def test_functions_carry_the_resolved_environment(stack: DeployedStack) -> None:
    assert set(stack.functions) == {
        "PlanFunction",
        "FetchFunction",
        "TransformFunction",
        "PublishFunction",
        "SummarizeFunction",
        "SightingsFunction",
        "TamperFunction",
    }
    lam = client("lambda")
    for logical_id, info in stack.functions.items():
        assert info.code_dir == Path("functions") / logical_id.removesuffix("Function").lower()
        assert stack.function(info.code_dir.name) is info
        assert (info.handler, info.runtime, info.architectures) == ("app.handler", "python3.13", ("arm64",))
        config = lam.get_function_configuration(FunctionName=info.name)
        assert config["FunctionArn"] == info.arn
        assert config["Environment"]["Variables"] == info.environment
        assert all(isinstance(v, str) for v in info.environment.values())
        assert info.environment["THREATFEED_BUCKET"] == stack.bucket
        assert info.environment["THREATFEED_STACK_NAME"] == "tf-test"
        assert info.environment["POWERTOOLS_SERVICE_NAME"] == "threatfeed"
        assert info.environment["POWERTOOLS_METRICS_NAMESPACE"] == "threatfeed"
        assert info.tracing == "Active"
    plan = stack.function("plan").environment
    assert plan["THREATFEED_ISIGHT_SECRET"] == stack.secret_arn
    assert plan["THREATFEED_ISIGHT_ENABLED"] == "true"
    assert plan["THREATFEED_REGIONS"] == "us-east-1,eu-west-1"
    assert plan["THREATFEED_DAYS_REQUESTED"] == "9"
    assert stack.function("fetch").environment["THREATFEED_ALLOW_HTTP_LOOPBACK"] == "false"
    assert stack.function("transform").timeout == 900


def test_catalogue_secret_and_bucket_as_deployed(stack: DeployedStack, echo_stack: DeployedStack) -> None:
    secret = client("secretsmanager").get_secret_value(SecretId=stack.secret_arn)["SecretString"]
    assert json.loads(secret) == {"public_key": "public-key", "private_key": "private-key-0123"}
    # no keys: the plan will not run the iSIGHT feed, its secret still exists
    assert echo_stack.function("plan").environment["THREATFEED_ISIGHT_ENABLED"] == "false"

    s3 = client("s3")
    assert s3.get_bucket_versioning(Bucket=stack.bucket)["Status"] == "Enabled"
    assert s3.get_bucket_encryption(Bucket=stack.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    block = s3.get_public_access_block(Bucket=stack.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    policy = json.loads(s3.get_bucket_policy(Bucket=stack.bucket)["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    rules = s3.get_bucket_lifecycle_configuration(Bucket=stack.bucket)["Rules"]
    assert {r["ID"] for r in rules} == {
        "expire-raw-bodies",
        "expire-old-versions",
        "clean-publish-leases",
        "expire-run-documents",
        "expire-fetch-results",
    }
    leases = next(r for r in rules if r["ID"] == "clean-publish-leases")
    assert leases["Expiration"] == {"ExpiredObjectDeleteMarker": True}


def test_tls_only_policy_lets_the_embedded_aws_in(stack: DeployedStack) -> None:
    """moto ignores policy conditions: the deny-unless-TLS statement must not deny everything."""
    s3 = client("s3")
    s3.put_object(Bucket=stack.bucket, Key="raw/run-1/feed", Body=b"198.51.100.1\n")
    assert s3.get_object(Bucket=stack.bucket, Key="raw/run-1/feed")["Body"].read() == b"198.51.100.1\n"
    # a policy set later through the API is enforced too, unconditional statements as moto does
    deny_raw = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{stack.bucket}/raw/*",
            }
        ],
    }
    original = s3.get_bucket_policy(Bucket=stack.bucket)["Policy"]
    s3.put_bucket_policy(Bucket=stack.bucket, Policy=json.dumps(deny_raw))
    try:
        with pytest.raises(s3.exceptions.ClientError):
            s3.get_object(Bucket=stack.bucket, Key="raw/run-1/feed")
    finally:
        s3.put_bucket_policy(Bucket=stack.bucket, Policy=original)
    assert s3.get_object(Bucket=stack.bucket, Key="raw/run-1/feed")["Body"].read()


@pytest.mark.parametrize(
    ("condition", "applies"),
    [
        (None, True),
        ({"Bool": {"aws:SecureTransport": "false"}}, False),
        ({"Bool": {"aws:SecureTransport": "true"}}, True),
        ({"Bool": {"aws:SecureTransport": False}}, False),
        ({"StringEquals": {"aws:SourceVpce": "vpce-1"}}, True),
    ],
)
def test_bucket_policy_conditions_in_the_embedded_aws(condition: Any, applies: bool) -> None:
    statement = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}
    if condition is not None:
        statement["Condition"] = condition
    assert _statement_may_apply(statement) is applies


def test_schedule_and_deploy_rule_target_the_state_machine(stack: DeployedStack) -> None:
    (schedule,) = client("scheduler").list_schedules()["Schedules"]
    described = client("scheduler").get_schedule(Name=schedule["Name"])
    assert described["ScheduleExpression"] == "rate(6 days)"
    assert described["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:sfn:startExecution"
    call = json.loads(described["Target"]["Input"])
    assert call["StateMachineArn"] == stack.state_machine_arn  # resolved by CloudFormation
    assert call["Name"].startswith("scheduled-")
    assert json.loads(call["Input"]) == {"trigger": "scheduled"}
    events = client("events")
    rule_name = stack.physical_id("ThreatfeedStateMachineDeployed")
    pattern = json.loads(events.describe_rule(Name=rule_name)["EventPattern"])
    assert pattern["detail"]["stack-id"] == [stack.stack_id]
    (target,) = events.list_targets_by_rule(Rule=rule_name)["Targets"]
    assert target["Arn"] == stack.state_machine_arn
    assert json.loads(target["Input"]) == {"trigger": "deploy"}


# --------------------------------------------------------------------------- observability


def test_alarms_watch_this_stack_and_notify_its_topic(stack: DeployedStack) -> None:
    cloudwatch = client("cloudwatch")
    described = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert set(stack.alarms.values()) <= set(described)
    assert len(stack.alarms) == 11  # one per function (summarize has its own since issue 15), four for the run
    watched = set()
    for logical_id, name in stack.alarms.items():
        alarm = described[name]
        assert name.startswith("tf-test-"), name
        assert alarm["AlarmActions"] == [stack.topic_arn], logical_id
        assert alarm["TreatMissingData"] == "notBreaching"
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        watched.add((alarm["Namespace"], alarm["MetricName"], tuple(sorted(dimensions.items()))))
    machine = (("StateMachineArn", stack.state_machine_arn),)
    assert {
        ("AWS/States", "ExecutionsFailed", machine),
        ("AWS/States", "ExecutionsTimedOut", machine),
        ("AWS/States", "ExecutionsAborted", machine),
        ("threatfeed", "ListInError", (("service", "threatfeed"),)),
    } | {("AWS/Lambda", "Errors", (("FunctionName", info.name),)) for info in stack.functions.values()} == watched


def test_dashboard_shows_this_stack(stack: DeployedStack) -> None:
    (name,) = stack.dashboards.values()
    assert name == stack.outputs["DashboardName"] == "tf-test-us-east-1"
    body = client("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"]
    assert "${" not in body.replace("${PROP(", "")  # only CloudWatch's own dynamic labels are left
    dashboard = json.loads(body)
    text = json.dumps(dashboard)
    assert stack.state_machine_arn in text
    assert all(info.name in text for info in stack.functions.values())
    (alarms,) = [w["properties"]["alarms"] for w in dashboard["widgets"] if w["type"] == "alarm"]
    cloudwatch = client("cloudwatch")
    assert sorted(alarms) == sorted(
        a["AlarmArn"] for a in cloudwatch.describe_alarms()["MetricAlarms"] if a["AlarmName"] in stack.alarms.values()
    )


# --------------------------------------------------------------------------- the state machine


def test_state_machine_is_executable_with_substitutions_resolved(stack: DeployedStack) -> None:
    sfn = client("stepfunctions")
    described = sfn.describe_state_machine(stateMachineArn=stack.state_machine_arn)
    assert described["type"] == "STANDARD"
    assert described["tracingConfiguration"] == {"enabled": True}
    assert described["roleArn"] == stack.state_machine_role_arn
    assert described["definition"] == stack.definition
    assert "${" not in stack.definition
    json.loads(stack.definition)
    assert set(stack.substitutions) == CONTRACT_SUBSTITUTIONS
    for logical_id, info in stack.functions.items():
        if logical_id in ("SightingsFunction", "TamperFunction"):  # EventBridge rules invoke them, not the workflow
            continue
        assert stack.substitutions[f"{logical_id}Arn"] == info.arn
    assert stack.substitutions["NotificationTopicArn"] == stack.topic_arn
    assert stack.substitutions["DataBucketName"] == stack.bucket
    assert stack.substitutions["FeedConcurrency"] == "4"
    assert stack.substitutions["RegionConcurrency"] == "3"
    assert stack.substitutions["ActivationPollSeconds"] == "30"
    assert stack.substitutions["ActivationPollAttempts"] == "45"


def test_echo_execution_runs_in_moto_with_every_substitution(echo_stack: DeployedStack) -> None:
    sfn = client("stepfunctions", "eu-west-1")
    started = sfn.start_execution(
        stateMachineArn=echo_stack.state_machine_arn, name="echo-1", input=json.dumps(echo_stack.triggers["Deployed"])
    )
    described = sfn.describe_execution(executionArn=started["executionArn"])
    for _ in range(200):
        if described["status"] != "RUNNING":
            break
        time.sleep(0.05)
        described = sfn.describe_execution(executionArn=started["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["trigger"] == "deploy"
    assert output["functions"] == [
        echo_stack.functions[f"{n}Function"].arn for n in ("Plan", "Fetch", "Transform", "Publish", "Summarize")
    ]
    assert output["topic"] == echo_stack.topic_arn
    assert output["numbers"] == [4, 4, 120, 45]


# --------------------------------------------------------------------------- pieces


def test_parameters_are_checked_like_cloudformation() -> None:
    template = load_template(TEMPLATE)
    check_parameters(template, {})
    check_parameters(template, PARAMETERS)
    for bad in (
        {"DaysRequested": "31"},
        {"Frequency": "0"},
        {"Regions": "us-east-1, eu-west-1"},
        {"PublicKey": 'with"quote'},
        {"NotificationEmail": "not-an-address"},
        {"Unknown": "x"},
    ):
        with pytest.raises(StackDeployError, match=next(iter(bad))):
            check_parameters(template, bad)


def test_substitution_is_textual_like_cloudformation() -> None:
    assert substitute_definition('{"a": ${N}, "b": "${Arn}"}', {"N": "4", "Arn": "arn:x"}) == '{"a": 4, "b": "arn:x"}'
    assert substitute_definition('{"m": "$$.Map.Item.Value"}', {}) == '{"m": "$$.Map.Item.Value"}'
    with pytest.raises(StackDeployError, match="Missing"):
        substitute_definition('"${Missing}"', {})

"""template.yaml, samconfig.toml, build.mk and tools/asl_lint.py: shape and contracts, without the SAM CLI."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from embedded_aws.stack import load_template, transform
from template_helpers import DEFINITION_SUBSTITUTIONS
from threatfeed.errors import RETRYABLE_ERRORS

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = ROOT / "template.yaml"
FUNCTIONS = {
    "PlanFunction": "plan",
    "FetchFunction": "fetch",
    "TransformFunction": "transform",
    "PublishFunction": "publish",
    "SummarizeFunction": "summarize",
    "SightingsFunction": "sightings",
    "TamperFunction": "tamper",
}
#: Functions EventBridge rules invoke (GuardDuty findings, CloudTrail list changes), not the state machine.
EVENT_FUNCTIONS = {"SightingsFunction", "TamperFunction"}
SUBSTITUTIONS = DEFINITION_SUBSTITUTIONS
#: Allow statements on Resource "*" are limited to actions that support no resource-level permissions.
STAR_RESOURCE_ACTIONS = {
    # the plan's own-address discovery: EC2 describe actions have no resource-level permissions
    "ec2:DescribeAddresses",
    "ec2:DescribeNatGateways",
    "guardduty:ListDetectors",
    "guardduty:ListThreatIntelSets",
    "guardduty:ListThreatEntitySets",
    "guardduty:ListTrustedEntitySets",
    "guardduty:CreateThreatIntelSet",
    "guardduty:CreateThreatEntitySet",
    "guardduty:CreateTrustedEntitySet",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
#: Managed policies SAM attaches: Lambda's basic execution role, and X-Ray's write-only policy (Tracing).
ALLOWED_MANAGED_POLICIES = {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}
#: The custom metrics the handlers emit (Powertools EMF, namespace threatfeed): name -> dimension sets
#: (every set also carries service=threatfeed). What the alarms and the dashboard may refer to.
CUSTOM_METRICS = {
    "FeedIndicatorsAccepted": [{"feed"}],
    "FeedIndicatorsRejected": [{"feed"}],
    "ListEntries": [{"list"}],
    "ListEntriesOverLimit": [{"cause"}],
    "RegionPublished": [{"region"}],
    "RegionPublishFailed": [{"region"}],
    "ListInError": [{"region"}, set()],  # per Region, and the aggregate the alarm watches
    "RunDurationSeconds": [set()],
}
METRICS_NAMESPACE = "threatfeed"
SERVICE = "threatfeed"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


@pytest.fixture(scope="module")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    """The plain CloudFormation SAM makes of it (local CodeUri/DefinitionUri swapped for S3 URIs)."""
    packaged = json.loads(json.dumps(template))
    for logical_id, resource in packaged["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://bucket/{logical_id}.zip"
        if resource["Type"] == "AWS::Serverless::StateMachine":
            resource["Properties"]["DefinitionUri"] = "s3://bucket/definition.asl.json"
    return transform(packaged, region="us-east-1", parameters={})


def effective(template: dict[str, Any], logical_id: str, key: str) -> Any:
    """A function property as SAM applies it: the function's own value, else Globals."""
    props = template["Resources"][logical_id]["Properties"]
    if key in props:
        return props[key]
    return template.get("Globals", {}).get("Function", {}).get(key)


def environment(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    globals_env = template["Globals"]["Function"]["Environment"]["Variables"]
    own = template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    return {**globals_env, **own}


def architecture_env_table() -> dict[str, set[str]]:
    """docs/ARCHITECTURE.md's environment table: variable -> functions ("all" expanded)."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("### Environment variables", 1)[1].split("\n### ", 1)[0]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        names = re.findall(r"`([A-Z0-9_]+)`", cells[0]) if cells else []
        if not names or len(cells) < 2:
            continue
        users = {u.strip() for u in cells[1].split(",")}
        for name in names:
            table[name] = set(FUNCTIONS.values()) if users == {"all"} else users
    return table


def iam_statements(node: Any) -> list[dict[str, Any]]:
    """Every statement of every IAM policy document (roles' inline policies, managed/inline policies)."""
    found: list[dict[str, Any]] = []
    for resource in node["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                found.extend(policy["PolicyDocument"]["Statement"])
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            found.extend(props["PolicyDocument"]["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------- workflow


def test_state_machine_is_a_standard_workflow_with_the_contract_substitutions(resources: dict[str, Any]) -> None:
    machines = {k: r for k, r in resources.items() if r["Type"] == "AWS::Serverless::StateMachine"}
    assert list(machines) == ["ThreatfeedStateMachine"]
    props = machines["ThreatfeedStateMachine"]["Properties"]
    assert props["Type"] == "STANDARD"
    assert props["DefinitionUri"] == "statemachine/threatfeed.asl.json"
    subs = props["DefinitionSubstitutions"]
    assert set(subs) == SUBSTITUTIONS
    for name in ("PlanFunction", "FetchFunction", "TransformFunction", "PublishFunction", "SummarizeFunction"):
        assert subs[f"{name}Arn"] == {"Fn::GetAtt": [name, "Arn"]}
    assert subs["NotificationTopicArn"] == {"Ref": "NotificationTopic"}
    assert subs["DataBucketName"] == {"Ref": "DataBucket"}
    for name in ("FeedConcurrency", "RegionConcurrency", "ActivationPollSeconds", "ActivationPollAttempts"):
        assert subs[name] == {"Ref": name}
    destinations = props["Logging"]["Destinations"]
    assert destinations[0]["CloudWatchLogsLogGroup"]["LogGroupArn"] == {"Fn::GetAtt": ["StateMachineLogGroup", "Arn"]}


def test_state_machine_invokes_exactly_the_five_functions_and_publishes_to_the_topic(
    resources: dict[str, Any],
) -> None:
    statements = resources["ThreatfeedStateMachine"]["Properties"]["Policies"][0]["Statement"]
    invoke = [s for s in statements if "lambda:InvokeFunction" in as_list(s["Action"])]
    assert len(invoke) == 1
    assert invoke[0]["Resource"] == [{"Fn::GetAtt": [name, "Arn"]} for name in FUNCTIONS if name not in EVENT_FUNCTIONS]
    publish = [s for s in statements if "sns:Publish" in as_list(s["Action"])]
    assert [s["Resource"] for s in publish] == [{"Ref": "NotificationTopic"}]
    kms = [s for s in statements if any(a.startswith("kms:") for a in as_list(s["Action"]))]
    assert kms and all(s["Resource"] == {"Fn::GetAtt": ["NotificationKey", "Arn"]} for s in kms)


def test_runs_on_a_schedule_and_once_after_every_deployment(resources: dict[str, Any]) -> None:
    schedule = resources["RunSchedule"]
    assert schedule["Type"] == "AWS::Scheduler::Schedule"
    target = schedule["Properties"]["Target"]
    assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:sfn:startExecution"
    call = json.loads(target["Input"]["Fn::Sub"])
    assert call["StateMachineArn"] == "${ThreatfeedStateMachine}"
    assert call["Name"] == "scheduled-<aws.scheduler.execution-id>"  # readable run names in the history
    assert json.loads(call["Input"]) == {"trigger": "scheduled"}
    expression = schedule["Properties"]["ScheduleExpression"]["Fn::If"]
    assert expression[0] == "RunsDaily"
    assert expression[1] == "rate(1 day)"
    assert expression[2] == {"Fn::Sub": "rate(${Frequency} days)"}
    assert "Name" not in schedule["Properties"]  # two stacks in one account do not collide
    events = resources["ThreatfeedStateMachine"]["Properties"]["Events"]
    assert set(events) == {"Deployed"}
    deployed = events["Deployed"]
    assert deployed["Type"] == "EventBridgeRule"
    assert json.loads(deployed["Properties"]["Input"]) == {"trigger": "deploy"}
    pattern = deployed["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.cloudformation"]
    assert pattern["detail-type"] == ["CloudFormation Stack Status Change"]
    assert pattern["detail"]["stack-id"] == [{"Ref": "AWS::StackId"}]
    assert set(pattern["detail"]["status-details"]["status"]) == {"CREATE_COMPLETE", "UPDATE_COMPLETE"}


def test_event_roles_may_only_start_this_state_machine(transformed: dict[str, Any]) -> None:
    for logical_id in ("RunScheduleRole", "ThreatfeedStateMachineDeployedRole"):
        role = transformed["Resources"][logical_id]["Properties"]
        statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
        assert [as_list(s["Action"]) for s in statements] == [["states:StartExecution"]]
        assert [s["Resource"] for s in statements] == [{"Ref": "ThreatfeedStateMachine"}]


# --------------------------------------------------------------------------- functions


@pytest.mark.parametrize(("logical_id", "folder"), sorted(FUNCTIONS.items()))
def test_function_runtime_and_build(template: dict[str, Any], logical_id: str, folder: str) -> None:
    resource = template["Resources"][logical_id]
    assert resource["Type"] == "AWS::Serverless::Function"
    assert effective(template, logical_id, "Runtime") == "python3.13"
    assert effective(template, logical_id, "Architectures") == ["arm64"]
    assert effective(template, logical_id, "Handler") == "app.handler"
    assert resource["Properties"]["CodeUri"] == f"functions/{folder}"
    build = {k: v for k, v in resource["Metadata"].items() if k != "checkov"}
    assert build == {"BuildMethod": "makefile", "ContextPath": ".", "WorkingDirectory": "."}
    assert 1 <= effective(template, logical_id, "Timeout") <= 900
    assert (ROOT / "functions" / folder).is_dir()
    log_group = resource["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert template["Resources"][log_group]["Properties"]["RetentionInDays"] > 0


def test_transform_sized_for_a_million_lines(template: dict[str, Any]) -> None:
    assert effective(template, "TransformFunction", "MemorySize") >= 1024
    assert effective(template, "TransformFunction", "Timeout") == 900


def test_environment_follows_architecture_md(template: dict[str, Any]) -> None:
    table = architecture_env_table()
    assert "THREATFEED_BUCKET" in table and "POWERTOOLS_LOG_LEVEL" in table
    for logical_id, folder in FUNCTIONS.items():
        env = environment(template, logical_id)
        expected = {name for name, users in table.items() if folder in users}
        assert set(env) == expected, f"{logical_id}: {sorted(set(env) ^ expected)}"
    assert environment(template, "PlanFunction")["THREATFEED_ISIGHT_SECRET"] == {"Ref": "IsightSecret"}
    assert environment(template, "PlanFunction")["THREATFEED_ISIGHT_ENABLED"] == {
        "Fn::If": ["IsightKeysGiven", "true", "false"]
    }
    assert environment(template, "PlanFunction")["THREATFEED_REGIONS"] == {"Ref": "Regions"}
    assert environment(template, "FetchFunction")["THREATFEED_ALLOW_HTTP_LOOPBACK"] == "false"
    assert environment(template, "FetchFunction")["THREATFEED_BUCKET"] == {"Ref": "DataBucket"}


# --------------------------------------------------------------------------- data, secret, catalogue


def test_bucket_survives_the_stack_and_is_locked_down(resources: dict[str, Any]) -> None:
    bucket = resources["DataBucket"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"
    props = bucket["Properties"]
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(
        props["PublicAccessBlockConfiguration"][k] is True
        for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    # lists GuardDuty points at must never expire
    for rule in props["LifecycleConfiguration"]["Rules"]:
        if "ExpirationInDays" in rule:
            assert rule["Prefix"] in ("raw/", "runs/", "fetched/")  # bodies and a run's working documents

    policy = resources["DataBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "DataBucket"}
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Principal"] == "*"
    assert deny["Resource"] == [{"Fn::GetAtt": ["DataBucket", "Arn"]}, {"Fn::Sub": "${DataBucket.Arn}/*"}]


def test_isight_keys_are_secret_and_optional(template: dict[str, Any], resources: dict[str, Any]) -> None:
    params = template["Parameters"]
    for name in ("PublicKey", "PrivateKey"):
        assert params[name]["NoEcho"] is True
        assert params[name]["Default"] == ""
        pattern = re.compile(params[name]["AllowedPattern"])
        assert pattern.fullmatch("")
        assert pattern.fullmatch("0123456789abcdefABCDEF-_.=+/")
        assert not pattern.fullmatch('ab"c'), "a quote would break the secret's JSON"
    secret = resources["IsightSecret"]["Properties"]
    assert secret["Name"] == {"Fn::Sub": "threatfeed/${AWS::StackName}/isight"}
    rendered = secret["SecretString"]["Fn::Sub"].replace("${PublicKey}", "pub").replace("${PrivateKey}", "priv")
    assert json.loads(rendered) == {"public_key": "pub", "private_key": "priv"}
    outputs_text = json.dumps(template["Outputs"])
    assert "PublicKey" not in outputs_text and "PrivateKey" not in outputs_text


def test_the_stack_owns_no_catalogue_so_user_edits_survive_updates(resources: dict[str, Any]) -> None:
    # A parameter (or object) whose value the stack sets is rewritten by every stack update that changes it, and
    # an SSM Standard parameter holds 4 KB (about 30 feeds): the catalogue is a bucket object the stack never sets.
    assert not [r for r in resources.values() if r["Type"] == "AWS::SSM::Parameter"]
    assert "catalogue" not in json.dumps(resources["DataBucket"]).lower()


def test_parameters(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    expected = {
        "DaysRequested": (7, 1, 30),
        "Frequency": (6, 1, 29),
        "RegionConcurrency": (4, 1, 40),
        "ActivationPollSeconds": (120, 10, 3600),
        "ActivationPollAttempts": (45, 1, 500),
    }
    for name, (default, low, high) in expected.items():
        assert params[name]["Type"] == "Number"
        assert params[name]["Default"] == default
        if low is not None:
            assert (params[name]["MinValue"], params[name]["MaxValue"]) == (low, high)
    # GuardDuty takes up to 40 minutes to settle a change and accepts none meanwhile: the default polling must
    # cover waiting out a change in progress and then this run's own activation.
    budget = params["ActivationPollSeconds"]["Default"] * params["ActivationPollAttempts"]["Default"]
    assert budget >= 2 * 40 * 60
    regions = re.compile(params["Regions"]["AllowedPattern"])
    assert params["Regions"]["Default"] == ""
    for ok in ("", "us-east-1", "us-east-1,eu-west-1,ap-southeast-2", "us-gov-west-1"):
        assert regions.fullmatch(ok), ok
    for bad in ("us-east-1, eu-west-1", ",us-east-1", "us-east-1,", "US-EAST-1", "useast1"):
        assert not regions.fullmatch(bad), bad
    email = re.compile(params["NotificationEmail"]["AllowedPattern"])
    assert params["NotificationEmail"]["Default"] == ""
    assert email.fullmatch("") and email.fullmatch("soc@example.com") and not email.fullmatch("soc@")


def test_guard_parameters_match_the_defaults_and_ranges_the_transform_reads(template: dict[str, Any]) -> None:
    from threatfeed.config import GuardSettings, load_guards

    params = template["Parameters"]
    defaults = GuardSettings()
    numbers = {
        "MaxDropPercent": ("max_drop_percent", 1, 100),
        "MaxGrowthPercent": ("max_growth_percent", 1, 100_000),
        "MaxCoveredAddresses": ("max_covered_addresses", 1, 1 << 32),
        "BaselineRuns": ("baseline_runs", 1, 20),
        "FlapOverlapPercent": ("flap_overlap_percent", 0, 100),
        "FlapRuns": ("flap_runs", 2, 20),
    }
    env = environment(template, "TransformFunction")
    for name, (field, low, high) in numbers.items():
        assert params[name]["Type"] == "Number"
        assert params[name]["Default"] == getattr(defaults, field), name
        assert (params[name]["MinValue"], params[name]["MaxValue"]) == (low, high), name
        variable = next(key for key, value in env.items() if value == {"Ref": name})
        assert getattr(load_guards({variable: str(high)}), field) == high, variable
    assert params["FlapAction"]["AllowedValues"] == ["notify", "hold"] and params["FlapAction"]["Default"] == "notify"
    assert not defaults.hold_flapping


def test_optional_email_subscription_and_encrypted_topic(template: dict[str, Any], resources: dict[str, Any]) -> None:
    subscription = resources["NotificationSubscription"]
    assert subscription["Condition"] == "NotificationEmailGiven"
    assert template["Conditions"]["NotificationEmailGiven"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "NotificationEmail"}, ""]}]
    }
    assert subscription["Properties"]["Protocol"] == "email"
    assert resources["NotificationTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "NotificationKey"}
    assert resources["NotificationKey"]["Properties"]["EnableKeyRotation"] is True


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["DataBucketName"]["Value"] == {"Ref": "DataBucket"}
    assert outputs["StateMachineArn"]["Value"] == {"Ref": "ThreatfeedStateMachine"}
    assert outputs["NotificationTopicArn"]["Value"] == {"Ref": "NotificationTopic"}
    assert outputs["CatalogueLocation"]["Value"] == {"Fn::Sub": "s3://${DataBucket}/config/catalogue.json"}
    assert outputs["IsightSecretArn"]["Value"] == {"Ref": "IsightSecret"}
    assert outputs["DashboardName"]["Value"] == {"Ref": "Dashboard"}


# --------------------------------------------------------------------------- observability

PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "tf-stack",
}
STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:ThreatfeedStateMachine"


def render_sub(template: dict[str, Any], text: str) -> tuple[str, set[str]]:
    """An ``Fn::Sub`` string as CloudFormation renders it, with plausible values; and the names it uses.

    ``${!x}`` is the literal ``${x}``; ``${X.Arn}`` of an alarm is its ARN, ``${X}`` a parameter's default,
    the state machine's ARN or ``ref-<X>``.
    """
    used: set[str] = set()

    def value(match: re.Match[str]) -> str:
        if match.group(1):
            return "${" + match.group(2) + "}"
        name = match.group(2)
        used.add(name)
        if name in PSEUDO:
            return PSEUDO[name]
        target, _, attr = name.partition(".")
        if target in template["Parameters"]:
            return str(template["Parameters"][target]["Default"])
        assert target in template["Resources"], f"${{{name}}} names nothing in the template"
        if attr:
            assert attr == "Arn", name
            return f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{target}"
        if target == "ThreatfeedStateMachine":
            return STATE_MACHINE_ARN
        return f"ref-{target}"

    return re.sub(r"\$\{(!?)([^}]+)\}", value, text), used


def alarms_of(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def alarm_metric(props: dict[str, Any]) -> tuple[str, str, str]:
    dimensions = {d["Name"]: d["Value"] for d in props["Dimensions"]}
    return props["Namespace"], props["MetricName"], json.dumps(dimensions, sort_keys=True)


def test_functions_and_state_machine_are_traced(template: dict[str, Any], transformed: dict[str, Any]) -> None:
    for logical_id in FUNCTIONS:
        assert effective(template, logical_id, "Tracing") == "Active"
        assert transformed["Resources"][logical_id]["Properties"]["TracingConfig"] == {"Mode": "Active"}
    machine = template["Resources"]["ThreatfeedStateMachine"]["Properties"]
    assert machine["Tracing"] == {"Enabled": True}
    assert transformed["Resources"]["ThreatfeedStateMachine"]["Properties"]["TracingConfiguration"] == {"Enabled": True}


def test_powertools_metrics_namespace_and_service(template: dict[str, Any]) -> None:
    for logical_id in FUNCTIONS:
        env = environment(template, logical_id)
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == METRICS_NAMESPACE, logical_id
        assert env["POWERTOOLS_SERVICE_NAME"] == SERVICE, logical_id


def test_alarms_cover_failed_runs_lists_in_error_and_function_errors(resources: dict[str, Any]) -> None:
    machine = {"StateMachineArn": {"Ref": "ThreatfeedStateMachine"}}
    expected = {
        ("AWS/States", "ExecutionsFailed", json.dumps(machine)),
        ("AWS/States", "ExecutionsTimedOut", json.dumps(machine)),
        ("AWS/States", "ExecutionsAborted", json.dumps(machine)),
        (METRICS_NAMESPACE, "ListInError", json.dumps({"service": SERVICE})),
    } | {("AWS/Lambda", "Errors", json.dumps({"FunctionName": {"Ref": name}})) for name in FUNCTIONS}
    metrics = [alarm_metric(props) for props in alarms_of(resources).values()]
    assert len(metrics) == len(set(metrics)), "two alarms watch the same metric"
    assert set(metrics) == expected


def test_every_alarm_notifies_the_topic_on_the_first_occurrence(resources: dict[str, Any]) -> None:
    alarms = alarms_of(resources)
    assert alarms
    names = set()
    for logical_id, props in alarms.items():
        assert props["AlarmActions"] == [{"Ref": "NotificationTopic"}], logical_id
        assert props.get("ActionsEnabled", True) is True, logical_id
        assert props["TreatMissingData"] == "notBreaching", logical_id
        assert (props["Statistic"], props["Threshold"], props["ComparisonOperator"]) == (
            "Sum",
            1,
            "GreaterThanOrEqualToThreshold",
        ), logical_id
        assert props["EvaluationPeriods"] == 1 and props.get("DatapointsToAlarm", 1) == 1, logical_id
        assert 60 <= props["Period"] <= 3600, logical_id
        assert "OKActions" not in props and "InsufficientDataActions" not in props, logical_id
        assert props["AlarmDescription"], logical_id
        name = props["AlarmName"]["Fn::Sub"]
        assert name.startswith("${AWS::StackName}-"), logical_id
        names.add(name)
    assert len(names) == len(alarms)


def test_cloudwatch_may_use_the_topic_key_for_this_stacks_alarms_only(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    statements = resources["NotificationKey"]["Properties"]["KeyPolicy"]["Statement"]
    (grant,) = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert grant["Effect"] == "Allow"
    assert set(as_list(grant["Action"])) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert set(grant["Condition"]) == {"StringEquals", "ArnEquals"}
    assert grant["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    allowed = [render_sub(template, arn["Fn::Sub"])[0] for arn in grant["Condition"]["ArnEquals"]["aws:SourceArn"]]
    alarms = []
    for props in alarms_of(resources).values():
        name, _ = render_sub(template, props["AlarmName"]["Fn::Sub"])
        alarms.append(f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}")
    # an alarm missing here could not publish to the encrypted topic: its notifications would be dropped
    assert sorted(allowed) == sorted(alarms)


def test_custom_metric_alarms_use_emitted_metrics(resources: dict[str, Any]) -> None:
    custom = [props for props in alarms_of(resources).values() if props["Namespace"] == METRICS_NAMESPACE]
    assert custom
    for props in custom:
        dimensions = {d["Name"]: d["Value"] for d in props["Dimensions"]}
        assert dimensions.pop("service") == SERVICE
        assert set(dimensions) in CUSTOM_METRICS[props["MetricName"]], props["MetricName"]


def dashboard_metrics(body: dict[str, Any]) -> tuple[list[tuple[str, str, dict[str, str]]], list[str]]:
    """(namespace, metric, dimensions) of every metric row, and every expression, of the dashboard."""
    rows: list[tuple[str, str, dict[str, str]]] = []
    expressions: list[str] = []
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            values = [v for v in row if not isinstance(v, dict)]
            options = [v for v in row if isinstance(v, dict)]
            if not values:
                expressions.extend(o["expression"] for o in options if "expression" in o)
                continue
            assert "." not in values, "write metric rows in full"
            namespace, metric, *pairs = values
            rows.append((namespace, metric, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return rows, expressions


SEARCH = re.compile(r"""SEARCH\('\{([^}]*)\} MetricName="(\w+)"(?: (\w+)="([^"]*)")*', '(\w+)', (\d+)\)""")


def test_dashboard_body_is_json_and_shows_the_run(template: dict[str, Any], resources: dict[str, Any]) -> None:
    props = resources["Dashboard"]["Properties"]
    assert props["DashboardName"] == {"Fn::Sub": "${AWS::StackName}-${AWS::Region}"}
    text, used = render_sub(template, props["DashboardBody"]["Fn::Sub"])
    body = json.loads(text)
    assert "ThreatfeedStateMachine" in used
    for widget in body["widgets"]:
        assert {"type", "x", "y", "width", "height", "properties"} <= set(widget)
        assert widget["x"] + widget["width"] <= 24
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == "us-east-1"
            assert widget["properties"]["title"]

    rows, expressions = dashboard_metrics(body)
    machine = {"StateMachineArn": STATE_MACHINE_ARN}
    for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionTime"):
        assert ("AWS/States", metric, machine) in rows, metric
    assert (METRICS_NAMESPACE, "RunDurationSeconds", {"service": SERVICE}) in rows
    for name in FUNCTIONS:
        assert ("AWS/Lambda", "Errors", {"FunctionName": f"ref-{name}"}) in rows

    searched = set()
    for expression in expressions:
        match = SEARCH.fullmatch(expression)
        if not match:
            continue
        namespace, *keys = [k.strip() for k in match.group(1).split(",")]
        assert namespace == METRICS_NAMESPACE
        assert "service" in keys and set(keys) - {"service"} in CUSTOM_METRICS[match.group(2)], expression
        assert match.group(3, 4) == ("service", SERVICE)
        searched.add(match.group(2))
    assert {
        "FeedIndicatorsAccepted",
        "FeedIndicatorsRejected",
        "ListEntries",
        "RegionPublished",
        "RegionPublishFailed",
        "ListInError",
    } <= searched
    for namespace, metric, dimensions in rows:
        if namespace == METRICS_NAMESPACE:
            assert dimensions.pop("service") == SERVICE
            assert set(dimensions) in CUSTOM_METRICS[metric]

    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(
        f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{k}" for k in alarms_of(resources)
    )


def test_every_checkov_suppression_is_justified(resources: dict[str, Any]) -> None:
    skipped = 0
    for logical_id, resource in resources.items():
        for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), logical_id
            assert len(skip.get("comment", "")) >= 60, f"{logical_id}: {skip['id']} needs a reason"
            skipped += 1
    assert skipped


# --------------------------------------------------------------------------- IAM


def test_no_allow_statement_has_a_wildcard_action(transformed: dict[str, Any]) -> None:
    statements = iam_statements(transformed)
    assert len(statements) > 10
    for statement in statements:
        if statement["Effect"] != "Allow":
            continue
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"wildcard action {action} in {statement}"


def test_star_resources_only_where_iam_allows_nothing_narrower(transformed: dict[str, Any]) -> None:
    for statement in iam_statements(transformed):
        if statement["Effect"] == "Allow" and "*" in as_list(statement["Resource"]):
            extra = set(as_list(statement["Action"])) - STAR_RESOURCE_ACTIONS
            assert not extra, f"{sorted(extra)} on Resource '*'"
            if any(a.startswith("guardduty:Create") for a in as_list(statement["Action"])):
                assert "aws:RequestTag/threatfeed:stack" in statement["Condition"]["StringEquals"]


def test_only_the_basic_execution_and_xray_managed_policies(transformed: dict[str, Any]) -> None:
    xray = set()
    for logical_id, resource in transformed["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for arn in resource["Properties"].get("ManagedPolicyArns", []):
            text = json.dumps(arn)
            assert any(name in text for name in ALLOWED_MANAGED_POLICIES), text
            if "AWSXrayWriteOnlyAccess" in text:
                xray.add(logical_id)
    # tracing roles only: the four functions' and the state machine's, not the event sources'
    assert xray == {f"{name}Role" for name in FUNCTIONS} | {"ThreatfeedStateMachineRole"}


def function_statements(resources: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    return [s for p in resources[logical_id]["Properties"]["Policies"] for s in p["Statement"]]


def grants(statements: list[dict[str, Any]]) -> dict[str, list[str]]:
    """action -> resources (as JSON text, for pattern checks)."""
    out: dict[str, list[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            out.setdefault(action, []).extend(json.dumps(r) for r in as_list(statement["Resource"]))
    return out


def objects(*prefixes: str) -> list[str]:
    """The grants on ``<prefix>/*`` of the data bucket, as ``grants`` renders them, sorted."""
    return sorted(json.dumps({"Fn::Sub": f"${{DataBucket.Arn}}/{p}/*"}) for p in prefixes)


def run_object(name: str) -> str:
    """The grant on one document of every run (``runs/<execution>/<name>``), as ``grants`` renders it."""
    return json.dumps({"Fn::Sub": f"${{DataBucket.Arn}}/runs/*/{name}"})


def test_the_state_machine_may_read_only_the_run_items_and_write_only_the_fetch_results(
    resources: dict[str, Any],
) -> None:
    statements = resources["ThreatfeedStateMachine"]["Properties"]["Policies"][0]["Statement"]
    s3 = grants([s for s in statements if any(a.startswith("s3:") for a in as_list(s["Action"]))])
    assert s3 == {
        "s3:GetObject": [run_object("feeds.json"), *objects("fetched")],  # ItemReader; ResultWriter (multipart)
        "s3:PutObject": objects("fetched"),
        "s3:ListMultipartUploadParts": objects("fetched"),
        "s3:AbortMultipartUpload": objects("fetched"),
    }


def test_the_state_machine_may_start_and_watch_only_its_own_child_executions(resources: dict[str, Any]) -> None:
    policy = resources["ThreatfeedStateMachineChildExecutionsPolicy"]
    assert policy["Type"] == "AWS::IAM::Policy"
    assert policy["Properties"]["Roles"] == [{"Ref": "ThreatfeedStateMachineRole"}]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    executions = statements[1]["Resource"]
    assert grants(statements) == {
        "states:StartExecution": [json.dumps({"Ref": "ThreatfeedStateMachine"})],
        "states:DescribeExecution": [json.dumps(executions)],
        "states:StopExecution": [json.dumps(executions)],
    }
    assert executions["Fn::Sub"].endswith(":execution:${ThreatfeedStateMachine.Name}:*")


def test_every_storage_prefix_is_granted(resources: dict[str, Any]) -> None:
    """Each top-level key prefix threatfeed.storage writes is covered by some function's grants."""
    from threatfeed import storage

    prefixes = {value.strip("/").split("/")[0] for name, value in vars(storage).items() if name.endswith("_PREFIX")}
    if hasattr(storage, "lease_key"):
        prefixes.add(storage.lease_key("us-east-1").split("/")[0])
    assert {"raw", "lists", "manifests", "state"} <= prefixes
    granted = json.dumps([function_statements(resources, f) for f in FUNCTIONS])
    for prefix in prefixes:
        assert f"${{DataBucket.Arn}}/{prefix}/" in granted, f"no function may touch {prefix}/"


def test_least_privilege_per_function(resources: dict[str, Any]) -> None:
    plan = grants(function_statements(resources, "PlanFunction"))
    assert set(plan) == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "ec2:DescribeAddresses",
        "ec2:DescribeNatGateways",
    }
    assert plan["ec2:DescribeAddresses"] == plan["ec2:DescribeNatGateways"] == [json.dumps("*")]
    catalogue = [json.dumps({"Fn::Sub": "${DataBucket.Arn}/config/catalogue.json"})]
    assert plan["s3:GetObject"] == catalogue
    assert plan["s3:PutObject"] == [*catalogue, run_object("feeds.json")]  # the fetch Map's items
    assert plan["s3:ListBucket"] == [json.dumps({"Fn::GetAtt": ["DataBucket", "Arn"]})]

    fetch = grants(function_statements(resources, "FetchFunction"))
    assert set(fetch) == {
        "secretsmanager:GetSecretValue",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:GetObject",
        "s3:ListBucket",
    }
    assert "secret:threatfeed/${AWS::StackName}/*" in fetch["secretsmanager:GetSecretValue"][0]
    assert fetch["s3:PutObject"] == [json.dumps({"Fn::Sub": "${DataBucket.Arn}/raw/*"})]
    # A body streamed as a multipart upload and then refused is abandoned: its parts never become an object.
    assert fetch["s3:AbortMultipartUpload"] == fetch["s3:PutObject"]
    assert fetch["s3:GetObject"] == [json.dumps({"Fn::Sub": "${DataBucket.Arn}/state/cursors/*"})]
    # Unconditioned: GetObject carries no s3:prefix, and without ListBucket a missing cursor is a 403, not a 404.
    listing = [s for s in function_statements(resources, "FetchFunction") if s.get("Action") == "s3:ListBucket"]
    assert fetch["s3:ListBucket"] == [json.dumps({"Fn::GetAtt": ["DataBucket", "Arn"]})]
    assert "Condition" not in listing[0]

    transform_ = grants(function_statements(resources, "TransformFunction"))
    assert set(transform_) == {"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:ListBucket"}
    assert sorted(transform_["s3:GetObject"]) == sorted(
        [
            *objects("raw", "lists", "state", "manifests", "config/warninglists", "fetched", "sightings"),
            run_object("feeds.json"),
        ]
    )
    assert transform_["s3:GetObjectVersion"] == objects("raw")
    assert sorted(transform_["s3:PutObject"]) == sorted(
        [*objects("lists", "state", "manifests"), run_object("transform.json")]
    )
    assert transform_["s3:ListBucket"] == [json.dumps({"Fn::GetAtt": ["DataBucket", "Arn"]})]

    publish = grants(function_statements(resources, "PublishFunction"))
    assert set(publish) == {
        "guardduty:ListDetectors",
        "guardduty:ListThreatIntelSets",
        "guardduty:ListThreatEntitySets",
        "guardduty:ListTrustedEntitySets",
        "guardduty:CreateThreatIntelSet",
        "guardduty:CreateThreatEntitySet",
        "guardduty:CreateTrustedEntitySet",
        "guardduty:GetThreatIntelSet",
        "guardduty:GetThreatEntitySet",
        "guardduty:GetTrustedEntitySet",
        "guardduty:ListTagsForResource",
        "guardduty:UpdateThreatIntelSet",
        "guardduty:UpdateThreatEntitySet",
        "guardduty:UpdateTrustedEntitySet",
        "guardduty:TagResource",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
    }
    slr = "role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty"
    assert all(slr in r for r in publish["iam:PutRolePolicy"] + publish["iam:DeleteRolePolicy"])
    # The run's results and its summary are Summarize's (its own function since issue 15), no longer publish's.
    assert sorted(publish["s3:GetObject"]) == sorted(objects("lists", "state", "locks"))
    assert sorted(publish["s3:PutObject"]) == sorted(objects("state", "locks"))
    assert publish["s3:DeleteObject"] == objects("locks")

    summarize = grants(function_statements(resources, "SummarizeFunction"))
    assert set(summarize) == {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}  # no GuardDuty, no deletes
    state = json.dumps({"Fn::Sub": "${DataBucket.Arn}/state/history.json"})
    assert sorted(summarize["s3:GetObject"]) == sorted(
        [*objects("fetched"), run_object("feeds.json"), run_object("transform.json"), state]
    )
    assert sorted(summarize["s3:PutObject"]) == sorted(
        [json.dumps({"Fn::Sub": "${DataBucket.Arn}/state/published-*"}), state, run_object("summary.json")]
    )
    assert summarize["s3:ListBucket"] == [json.dumps({"Fn::GetAtt": ["DataBucket", "Arn"]})]
    updates = [
        s for s in function_statements(resources, "PublishFunction") if "guardduty:UpdateThreatIntelSet" in s["Action"]
    ]
    assert updates[0]["Condition"]["StringEquals"] == {"aws:ResourceTag/threatfeed:stack": {"Ref": "AWS::StackName"}}


# --------------------------------------------------------------------------- build and deploy config


def test_samconfig_defaults() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    build = config["default"]["build"]["parameters"]
    assert build.get("use_container", False) is False
    deploy = config["default"]["deploy"]["parameters"]
    assert deploy["stack_name"] == "threatfeed"
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is True


def test_build_mk_has_a_target_per_function_and_cross_installs() -> None:
    text = (ROOT / "build.mk").read_text(encoding="utf-8")
    for logical_id in FUNCTIONS:
        assert re.search(rf"^build-{logical_id}:", text, re.MULTILINE), logical_id
        assert re.search(rf"^DEPS_{logical_id} :=", text, re.MULTILINE), logical_id
    for flag in (
        "--platform $(LAMBDA_PLATFORM)",
        "--python-version $(LAMBDA_PYTHON_VERSION)",
        "--implementation cp",
        "--only-binary=:all:",
    ):
        assert flag in text
    assert "LAMBDA_PLATFORM := manylinux2014_aarch64" in text
    assert "LAMBDA_PYTHON_VERSION := 3.13" in text


def test_runtime_requirements_are_pinned() -> None:
    lines = (ROOT / "functions" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    requirements = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert requirements
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[A-Za-z0-9_.+-]+", r) for r in requirements), requirements
    names = {r.split("==")[0].lower() for r in requirements}
    assert {"aws-lambda-powertools", "requests"} <= names
    # boto3/botocore are pinned too: the publish function ships them (tests/test_build_check.py)


def test_no_artifact_ships_the_x_ray_sdk_lambda_traces_on_its_own() -> None:
    """Lambda's active tracing needs no SDK; the X-Ray SDK is in maintenance and cost every cold start >100 ms."""
    text = (ROOT / "build.mk").read_text(encoding="utf-8")
    pinned = (ROOT / "functions" / "requirements.txt").read_text(encoding="utf-8")
    assert not re.search(r"^(aws-xray-sdk|wrapt)==", pinned, re.MULTILINE)
    for logical_id, folder in FUNCTIONS.items():
        deps = re.search(rf"^DEPS_{logical_id} := (.*)$", text, re.MULTILINE)
        assert deps and not {"aws-xray-sdk", "wrapt"} & set(deps.group(1).split()), logical_id
        handler = (ROOT / "functions" / folder / "app.py").read_text(encoding="utf-8")
        assert "Tracer" not in handler and "aws_xray_sdk" not in handler, folder


def test_make_test_scans_the_template_and_builds() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    (prerequisites,) = re.findall(r"^test: (.*)$", makefile, re.MULTILINE)
    assert {"lint", "sam-validate", "asl-lint", "security", "build-check", "pytest"} <= set(prerequisites.split())
    assert "tools/security_scan.py" in makefile
    build_mk = (ROOT / "build.mk").read_text(encoding="utf-8")
    recipe = build_mk.split("\nbuild-check:", 1)[1].split("\n\n", 1)[0]
    assert "--build-dir" in recipe and "trap 'rm -rf" in recipe, "build-check must build outside .aws-sam"
    assert "tools/check_build.py" in recipe
    pins = (ROOT / "tools" / "requirements-security.txt").read_text(encoding="utf-8")
    assert re.search(r"^checkov==\d+\.\d+\.\d+$", pins, re.MULTILINE)


# --------------------------------------------------------------------------- tools/security_scan.py


def load_tool(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def fake_checkov(tmp_path: Path, report: dict[str, Any]) -> str:
    """A stand-in for checkov printing ``report`` for whatever files it is given (checkov is not in .venv)."""
    script = tmp_path / "checkov"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "if '--version' in sys.argv: print('0.0.0'); sys.exit(0)\n"
        "files = [sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == '--file']\n"
        f"report = json.loads({json.dumps(json.dumps(report))})\n"
        "for group in report['results'].values():\n"
        "    for check in group:\n"
        "        check['file_path'] = '/' + files[check.pop('file')].rsplit('/', 1)[-1]\n"
        "print(json.dumps(report))\n"
        "sys.exit(1 if report['results']['failed_checks'] else 0)\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return str(script)


def check(check_id: str, resource: str, file: int, comment: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"result": "SKIPPED" if comment is not None else "PASSED"}
    if comment is not None:
        result["suppress_comment"] = comment
    return {
        "check_id": check_id,
        "check_name": "a check",
        "resource": resource,
        "file": file,
        "file_line_range": [1, 2],
        "check_result": result,
    }


@pytest.mark.parametrize(
    ("failed", "comment", "code", "expected"),
    [
        ([], "a reason long enough to be one", 0, "security_scan: OK"),
        ([], "No comment provided", 1, "suppression without a reason: CKV_AWS_18 AWS::S3::Bucket.DataBucket"),
        ([check("CKV_AWS_26", "AWS::SNS::Topic.NotificationTopic", 1)], "a reason long enough", 1, "FAILED CKV_AWS_26"),
    ],
)
def test_security_scan_verdict(
    tmp_path: Path, capsys: Any, failed: list[dict[str, Any]], comment: str, code: int, expected: str
) -> None:
    scan = load_tool("security_scan")
    report = {
        "check_type": "cloudformation",
        "results": {
            "passed_checks": [
                check("CKV_AWS_21", "AWS::S3::Bucket.DataBucket", 0),
                check("CKV_AWS_60", "AWS::IAM::Role.PlanFunctionRole", 1),
            ],
            "failed_checks": failed,
            "skipped_checks": [check("CKV_AWS_18", "AWS::S3::Bucket.DataBucket", 0, comment)],
            "parsing_errors": [],
        },
    }
    assert scan.main(["--checkov", fake_checkov(tmp_path, report), str(TEMPLATE_PATH)]) == code
    out = capsys.readouterr().out
    assert expected in out
    assert "template.yaml: 1 passed" in out and "SAM-transformed template.yaml: 1 passed" in out


def test_security_scan_transform_exposes_the_generated_roles() -> None:
    transformed = load_tool("security_scan").transformed_template(TEMPLATE_PATH)
    types = {r["Type"] for r in transformed["Resources"].values()}
    assert "AWS::IAM::Role" in types and "AWS::Lambda::Function" in types
    assert not any(t.startswith("AWS::Serverless::") for t in types)
    # SAM carries a function's Metadata (its checkov suppressions) to the function it generates
    for logical_id in FUNCTIONS:
        assert (
            transformed["Resources"][logical_id]["Metadata"]["checkov"]
            == (load_template(TEMPLATE_PATH)["Resources"][logical_id]["Metadata"]["checkov"])
        )


# --------------------------------------------------------------------------- tools/check_build.py


def elf(machine: int) -> bytes:
    return b"\x7fELF\x02\x01" + bytes(12) + machine.to_bytes(2, "little") + bytes(40)


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"wrapt/_wrappers.cpython-313-aarch64-linux-gnu.so": elf(183)}, None),
        ({"wrapt/_wrappers.cpython-313-x86_64-linux-gnu.so": elf(62)}, "is not built for ['arm64']"),
        ({"wrapt/_wrappers.cpython-311-aarch64-linux-gnu.so": elf(183)}, "is not built for python3.13"),
        ({"botocore/__init__.py": b""}, "ships its own botocore"),
        # a wheel's bundled C library (auditwheel's <package>.libs/) has no CPython tag, only an architecture
        ({"numpy.libs/libscipy_openblas64_-1a2b3c4d.so": elf(183)}, None),
        ({"numpy.libs/libscipy_openblas64_-1a2b3c4d.so": elf(62)}, "is not built for ['arm64']"),
    ],
)
def test_check_build(tmp_path: Path, capsys: Any, files: dict[str, bytes], problem: str | None) -> None:
    tool = load_tool("check_build")
    (tmp_path / "template.yaml").write_text(
        "Globals: {Function: {Runtime: python3.13, Architectures: [arm64]}}\n"
        "Resources: {PlanFunction: {Type: AWS::Serverless::Function, Properties: {CodeUri: PlanFunction}}}\n",
        encoding="utf-8",
    )
    artifact = tmp_path / "PlanFunction"
    for name, content in {"app.py": b"", "threatfeed/__init__.py": b"", **files}.items():
        (artifact / name).parent.mkdir(parents=True, exist_ok=True)
        (artifact / name).write_bytes(content)
    code = tool.main([str(tmp_path)])
    out = capsys.readouterr().out
    assert code == (0 if problem is None else 1), out
    if problem:
        assert problem in out


# --------------------------------------------------------------------------- tools/asl_lint.py

PLACEHOLDER_ASL = {
    "StartAt": "Plan",
    "States": {
        "Plan": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${PlanFunctionArn}", "Payload.$": "$"},
            "Retry": [{"ErrorEquals": list(RETRYABLE_ERRORS), "MaxAttempts": 2}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Notify"}],
            "Next": "Feeds",
        },
        "Feeds": {
            "Type": "Map",
            "ItemsPath": "$.feeds",
            "MaxConcurrency": "@FeedConcurrency@",
            "ItemProcessor": {
                "StartAt": "Fetch",
                "States": {
                    "Fetch": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {
                            "FunctionName": "${FetchFunctionArn}",
                            "Payload": {
                                "next": "${TransformFunctionArn}",
                                "then": "${PublishFunctionArn}",
                                "last": "${SummarizeFunctionArn}",
                                "bucket": "${DataBucketName}",
                            },
                        },
                        "End": True,
                    }
                },
            },
            "Next": "Wait",
        },
        "Wait": {"Type": "Wait", "Seconds": "@ActivationPollSeconds@", "Next": "Check"},
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericLessThan": "@ActivationPollAttempts@", "Next": "Done"}],
            "Default": "Regions",
        },
        "Regions": {
            "Type": "Map",
            "MaxConcurrency": "@RegionConcurrency@",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
        "Notify": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {"TopicArn": "${NotificationTopicArn}", "Message": "failed"},
            "Next": "Failed",
        },
        "Failed": {"Type": "Fail", "Error": "RunFailed"},
    },
}


def asl_text(definition: dict[str, Any]) -> str:
    """JSON with unquoted ``${Number}`` substitutions, as a definition file holds them."""
    return re.sub(r'"@(\w+)@"', r"${\1}", json.dumps(definition, indent=2))


@pytest.fixture(scope="module")
def asl_lint() -> Any:
    spec = importlib.util.spec_from_file_location("asl_lint", ROOT / "tools" / "asl_lint.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def lint(asl_lint: Any, tmp_path: Path, definition: dict[str, Any] | str, capsys: Any) -> tuple[int, str]:
    shutil.copy(TEMPLATE_PATH, tmp_path / "template.yaml")
    (tmp_path / "statemachine").mkdir(exist_ok=True)
    text = definition if isinstance(definition, str) else asl_text(definition)
    (tmp_path / "statemachine" / "threatfeed.asl.json").write_text(text, encoding="utf-8")
    code = asl_lint.main([str(tmp_path / "statemachine"), "--template", str(tmp_path / "template.yaml")])
    return code, capsys.readouterr().out


def mutated(**changes: Any) -> dict[str, Any]:
    definition = json.loads(json.dumps(PLACEHOLDER_ASL))
    for path, value in changes.items():
        node = definition
        *parents, last = path.split("__")
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return definition


def test_asl_lint_accepts_a_consistent_definition(asl_lint: Any, tmp_path: Path, capsys: Any) -> None:
    code, out = lint(asl_lint, tmp_path, PLACEHOLDER_ASL, capsys)
    assert code == 0, out


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"States__Wait__Next": "Nowhere"}, "Next -> 'Nowhere' is not a state of this scope"),
        ({"States__Check__Default": "Fetch"}, "Default -> 'Fetch' is not a state of this scope"),
        ({"States__Orphan": {"Type": "Pass", "End": True}}, "state 'Orphan' is unreachable"),
        ({"StartAt": "Missing"}, "StartAt 'Missing' is not a state"),
        ({"States__Regions__ItemProcessor__States__P__End": None}, "has neither Next nor End"),
        (
            {"States__Plan__Retry": [{"ErrorEquals": ["FeedUnavailable"]}]},
            "is in threatfeed.errors.RETRYABLE_ERRORS but no Retry clause names it",
        ),
        ({"States__Plan__Retry": [{"ErrorEquals": [*RETRYABLE_ERRORS, "ConfigError"]}]}, "retries ConfigError"),
        ({"States__Regions__MaxConcurrency": "${RegionConcurrency}"}, "must be a number"),
        ({"States__Done__Assign": {"x": 1}}, "Assign"),
        ({"States__Notify__Parameters__TopicArn": "${OtherTopicArn}"}, "${OtherTopicArn} is used but not"),
        ({"States__Notify__Parameters__TopicArn": "arn:aws:sns:us-east-1:123456789012:t"}, "NotificationTopicArn"),
        ({"States__Wait__Type": "Sleep"}, "E3601"),
        # a Distributed Map whose children's outputs would all come back into the 256 KiB payload
        (
            {"States__Feeds__ItemProcessor__ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}},
            "a Distributed Map without ResultWriter",
        ),
        ({"States__Feeds__ResultWriter": {"Resource": "arn:aws:states:::s3:putObject"}}, "need ProcessorConfig Mode"),
        (
            {
                "States__Feeds__ItemProcessor__ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "States__Feeds__ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Key": "k"}},
                "States__Feeds__ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket.$": "$.bucket", "Prefix": "p"},
                },
            },
            "ItemsPath is ignored when an ItemReader gives the items",
        ),
        (
            {
                "States__Feeds__ItemProcessor__ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "States__Feeds__ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket.$": "$.bucket", "Prefix": "p"},
                },
            },
            "ResultWriter Parameters with paths",
        ),
    ],
)
def test_asl_lint_rejects(asl_lint: Any, tmp_path: Path, capsys: Any, changes: dict[str, Any], expected: str) -> None:
    code, out = lint(asl_lint, tmp_path, mutated(**changes), capsys)
    assert code == 1, out
    assert expected in out


def test_asl_lint_rejects_invalid_json(asl_lint: Any, tmp_path: Path, capsys: Any) -> None:
    code, out = lint(asl_lint, tmp_path, '{"StartAt": "A", "States": {', capsys)
    assert code == 1
    assert "not JSON once substitutions are applied" in out


def test_the_event_functions_may_do_only_their_one_job(resources: dict[str, Any]) -> None:
    """Sightings: read the provenance and its own records, write its records. Tamper: read lists, notify."""
    sightings = grants(function_statements(resources, "SightingsFunction"))
    assert set(sightings) == {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}
    assert sorted(sightings["s3:GetObject"]) == sorted(
        [json.dumps({"Fn::Sub": "${DataBucket.Arn}/state/engine.json"}), *objects("sightings")]
    )
    assert sightings["s3:PutObject"] == objects("sightings")
    tamper = grants(function_statements(resources, "TamperFunction"))
    assert set(tamper) == {
        "guardduty:GetThreatIntelSet",
        "guardduty:GetThreatEntitySet",
        "guardduty:GetTrustedEntitySet",
        "sns:Publish",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    }
    assert tamper["sns:Publish"] == [json.dumps({"Ref": "NotificationTopic"})]


REAL_ASL = ROOT / "statemachine" / "threatfeed.asl.json"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"$.transform.result.verify"', '"$.transform.result.verified"', "'verified' is not a key of TransformPayload"),
        ("$.summary.result.attention.cause", "$.summary.result.attention.why", "'why' is not a key of Attention"),
        ('"$.plan.items.key"', '"$.plan.items.path"', "'path' is not a key of ItemsPointer"),
        ('"$.publish.result.checks"', '"$.publish.result.check_count"', "'check_count' is not a key of RegionResult"),
    ],
)
def test_asl_lint_checks_reads_against_the_stage_contracts(
    asl_lint: Any, tmp_path: Path, capsys: Any, old: str, new: str, expected: str
) -> None:
    """A key renamed in the state machine (or in a stage's result) fails the lint, not the run."""
    text = REAL_ASL.read_text(encoding="utf-8")
    assert old in text
    code, out = lint(asl_lint, tmp_path, text.replace(old, new, 1), capsys)
    assert code == 1, out
    assert expected in out


def test_asl_lint_contract_check_catches_a_key_renamed_in_the_contract(asl_lint: Any) -> None:
    """The other direction: the transform's contract renames ``publish``; the ShouldPublish Choice still reads it."""
    from typing import TypedDict

    class Renamed(TypedDict):
        publish_now: bool
        verify: bool

    definition = json.loads(REAL_ASL.read_text(encoding="utf-8"))
    report = asl_lint.Report()
    asl_lint.check_contracts(
        definition,
        "asl",
        report,
        {"${TransformFunctionArn}": "TransformFunctionArn"},
        {"TransformFunctionArn": Renamed},
    )
    assert any(
        "reads $.transform.result.publish" in e and "'publish' is not a key of Renamed" in e for e in report.errors
    )


def test_the_transform_s_glibc_tunables_are_ones_glibc_knows(template: dict[str, Any]) -> None:
    # glibc ignores a tunable it does not know without a word: a misspelt name would silently undo the setting
    # (docs/ARCHITECTURE.md, tools/bench.py), so the names are held to glibc's malloc tunables and the values to sizes
    known = {"glibc.malloc.mmap_threshold", "glibc.malloc.trim_threshold", "glibc.malloc.top_pad"}
    tunables = environment(template, "TransformFunction")["GLIBC_TUNABLES"]
    pairs = dict(item.split("=", 1) for item in tunables.split(":"))
    assert set(pairs) <= known and pairs
    assert all(value.isdigit() and int(value) <= 1 << 30 for value in pairs.values())

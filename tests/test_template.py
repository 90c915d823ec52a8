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
from threatfeed.errors import RETRYABLE_ERRORS

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = ROOT / "template.yaml"
FUNCTIONS = {
    "PlanFunction": "plan",
    "FetchFunction": "fetch",
    "TransformFunction": "transform",
    "PublishFunction": "publish",
}
SUBSTITUTIONS = {
    "PlanFunctionArn",
    "FetchFunctionArn",
    "TransformFunctionArn",
    "PublishFunctionArn",
    "NotificationTopicArn",
    "FeedConcurrency",
    "RegionConcurrency",
    "ActivationPollSeconds",
    "ActivationPollAttempts",
}
#: Allow statements on Resource "*" are limited to actions that support no resource-level permissions.
STAR_RESOURCE_ACTIONS = {
    "guardduty:ListDetectors",
    "guardduty:ListThreatIntelSets",
    "guardduty:ListThreatEntitySets",
    "guardduty:CreateThreatIntelSet",
    "guardduty:CreateThreatEntitySet",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
ALLOWED_MANAGED_POLICIES = {"AWSLambdaBasicExecutionRole"}


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
    for name in ("PlanFunction", "FetchFunction", "TransformFunction", "PublishFunction"):
        assert subs[f"{name}Arn"] == {"Fn::GetAtt": [name, "Arn"]}
    assert subs["NotificationTopicArn"] == {"Ref": "NotificationTopic"}
    assert isinstance(subs["FeedConcurrency"], int)
    for name in ("RegionConcurrency", "ActivationPollSeconds", "ActivationPollAttempts"):
        assert subs[name] == {"Ref": name}
    destinations = props["Logging"]["Destinations"]
    assert destinations[0]["CloudWatchLogsLogGroup"]["LogGroupArn"] == {"Fn::GetAtt": ["StateMachineLogGroup", "Arn"]}


def test_state_machine_invokes_exactly_the_four_functions_and_publishes_to_the_topic(
    resources: dict[str, Any],
) -> None:
    statements = resources["ThreatfeedStateMachine"]["Properties"]["Policies"][0]["Statement"]
    invoke = [s for s in statements if "lambda:InvokeFunction" in as_list(s["Action"])]
    assert len(invoke) == 1
    assert invoke[0]["Resource"] == [{"Fn::GetAtt": [name, "Arn"]} for name in FUNCTIONS]
    publish = [s for s in statements if "sns:Publish" in as_list(s["Action"])]
    assert [s["Resource"] for s in publish] == [{"Ref": "NotificationTopic"}]
    kms = [s for s in statements if any(a.startswith("kms:") for a in as_list(s["Action"]))]
    assert kms and all(s["Resource"] == {"Fn::GetAtt": ["NotificationKey", "Arn"]} for s in kms)


def test_runs_on_a_schedule_and_once_after_every_deployment(resources: dict[str, Any]) -> None:
    events = resources["ThreatfeedStateMachine"]["Properties"]["Events"]
    scheduled = events["Scheduled"]
    assert scheduled["Type"] == "ScheduleV2"
    assert json.loads(scheduled["Properties"]["Input"]) == {"trigger": "scheduled"}
    expression = scheduled["Properties"]["ScheduleExpression"]["Fn::If"]
    assert expression[0] == "RunsDaily"
    assert expression[1] == "rate(1 day)"
    assert expression[2] == {"Fn::Sub": "rate(${Frequency} days)"}
    deployed = events["Deployed"]
    assert deployed["Type"] == "EventBridgeRule"
    assert json.loads(deployed["Properties"]["Input"]) == {"trigger": "deploy"}
    pattern = deployed["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.cloudformation"]
    assert pattern["detail-type"] == ["CloudFormation Stack Status Change"]
    assert pattern["detail"]["stack-id"] == [{"Ref": "AWS::StackId"}]
    assert set(pattern["detail"]["status-details"]["status"]) == {"CREATE_COMPLETE", "UPDATE_COMPLETE"}


def test_event_roles_may_only_start_this_state_machine(transformed: dict[str, Any]) -> None:
    for logical_id in ("ThreatfeedStateMachineScheduledRole", "ThreatfeedStateMachineDeployedRole"):
        role = transformed["Resources"][logical_id]["Properties"]
        statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
        assert [as_list(s["Action"]) for s in statements] == [["states:StartExecution"]]
        assert [s["Resource"] for s in statements] == [{"Ref": "ThreatfeedStateMachine"}]
    schedule = transformed["Resources"]["ThreatfeedStateMachineScheduled"]
    assert schedule["Type"] == "AWS::Scheduler::Schedule"
    assert schedule["Properties"]["Target"]["Arn"] == {"Ref": "ThreatfeedStateMachine"}
    assert "Name" not in schedule["Properties"]  # OmitName: two stacks in one account do not collide


# --------------------------------------------------------------------------- functions


@pytest.mark.parametrize(("logical_id", "folder"), sorted(FUNCTIONS.items()))
def test_function_runtime_and_build(template: dict[str, Any], logical_id: str, folder: str) -> None:
    resource = template["Resources"][logical_id]
    assert resource["Type"] == "AWS::Serverless::Function"
    assert effective(template, logical_id, "Runtime") == "python3.13"
    assert effective(template, logical_id, "Architectures") == ["arm64"]
    assert effective(template, logical_id, "Handler") == "app.handler"
    assert resource["Properties"]["CodeUri"] == f"functions/{folder}"
    assert resource["Metadata"] == {"BuildMethod": "makefile", "ContextPath": ".", "WorkingDirectory": "."}
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
    assert environment(template, "PlanFunction")["THREATFEED_CATALOGUE_PARAMETER"] == {"Ref": "CatalogueParameter"}
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
            assert rule["Prefix"] == "raw/"

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


def render_catalogue(resources: dict[str, Any], *, secret: str, enabled: str, days: str) -> dict[str, Any]:
    body, variables = resources["CatalogueParameter"]["Properties"]["Value"]["Fn::Sub"]
    assert variables["IsightEnabled"] == {"Fn::If": ["IsightKeysGiven", "true", "false"]}
    text = body.replace("${IsightSecret}", secret).replace("${IsightEnabled}", enabled)
    return json.loads(text.replace("${DaysRequested}", days))


def test_catalogue_parameter_holds_the_architecture_catalogue(resources: dict[str, Any]) -> None:
    props = resources["CatalogueParameter"]["Properties"]
    assert props["Type"] == "String"
    for enabled in ("true", "false"):
        catalogue = render_catalogue(resources, secret="arn:secret", enabled=enabled, days="9")
        feeds = {f["name"]: f for f in catalogue["feeds"]}
        assert feeds["isight"] == {
            "name": "isight",
            "type": "isight",
            "url": "https://api.isightpartners.com",
            "secret": "arn:secret",
            "format": "fireeye",
            "enabled": enabled == "true",
            "options": {"days_requested": 9},
        }
        assert feeds["feodo"]["type"] == "http_list" and feeds["feodo"]["enabled"] is True


def test_parameters(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    expected = {
        "DaysRequested": (7, 1, 30),
        "Frequency": (6, 1, 29),
        "RegionConcurrency": (4, 1, 40),
        "ActivationPollSeconds": (60, None, None),
        "ActivationPollAttempts": (15, None, None),
    }
    for name, (default, low, high) in expected.items():
        assert params[name]["Type"] == "Number"
        assert params[name]["Default"] == default
        if low is not None:
            assert (params[name]["MinValue"], params[name]["MaxValue"]) == (low, high)
    regions = re.compile(params["Regions"]["AllowedPattern"])
    assert params["Regions"]["Default"] == ""
    for ok in ("", "us-east-1", "us-east-1,eu-west-1,ap-southeast-2", "us-gov-west-1"):
        assert regions.fullmatch(ok), ok
    for bad in ("us-east-1, eu-west-1", ",us-east-1", "us-east-1,", "US-EAST-1", "useast1"):
        assert not regions.fullmatch(bad), bad
    email = re.compile(params["NotificationEmail"]["AllowedPattern"])
    assert params["NotificationEmail"]["Default"] == ""
    assert email.fullmatch("") and email.fullmatch("soc@example.com") and not email.fullmatch("soc@")


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
    assert outputs["CatalogueParameterName"]["Value"] == {"Ref": "CatalogueParameter"}
    assert outputs["IsightSecretArn"]["Value"] == {"Ref": "IsightSecret"}


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


def test_only_the_basic_execution_managed_policy(transformed: dict[str, Any]) -> None:
    for resource in transformed["Resources"].values():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for arn in resource["Properties"].get("ManagedPolicyArns", []):
            text = json.dumps(arn)
            assert any(name in text for name in ALLOWED_MANAGED_POLICIES), text


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


def test_every_storage_prefix_is_granted(resources: dict[str, Any]) -> None:
    """Each top-level key prefix threatfeed.storage writes is covered by some function's grants."""
    from threatfeed import storage

    prefixes = {value.strip("/").split("/")[0] for name, value in vars(storage).items() if name.endswith("_PREFIX")}
    if hasattr(storage, "lease_key"):
        prefixes.add(storage.lease_key("us-east-1").split("/")[0])
    assert {"raw", "lists", "manifests", "state"} <= prefixes
    granted = json.dumps([function_statements(resources, f) for f in FUNCTIONS])
    for prefix in prefixes:
        assert f"${{DataBucket.Arn}}/{prefix}/*" in granted, f"no function may touch {prefix}/"


def test_least_privilege_per_function(resources: dict[str, Any]) -> None:
    plan = grants(function_statements(resources, "PlanFunction"))
    assert set(plan) == {"ssm:GetParameter"}
    assert "parameter${CatalogueParameter}" in plan["ssm:GetParameter"][0]

    fetch = grants(function_statements(resources, "FetchFunction"))
    assert set(fetch) == {"secretsmanager:GetSecretValue", "s3:PutObject"}
    assert "secret:threatfeed/${AWS::StackName}/*" in fetch["secretsmanager:GetSecretValue"][0]
    assert fetch["s3:PutObject"] == [json.dumps({"Fn::Sub": "${DataBucket.Arn}/raw/*"})]

    transform_ = grants(function_statements(resources, "TransformFunction"))
    assert set(transform_) == {"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:ListBucket"}
    assert sorted(transform_["s3:GetObject"]) == objects("raw", "lists", "state", "manifests")
    assert transform_["s3:GetObjectVersion"] == objects("raw")
    assert sorted(transform_["s3:PutObject"]) == objects("lists", "state", "manifests")
    assert transform_["s3:ListBucket"] == [json.dumps({"Fn::GetAtt": ["DataBucket", "Arn"]})]

    publish = grants(function_statements(resources, "PublishFunction"))
    assert set(publish) == {
        "guardduty:ListDetectors",
        "guardduty:ListThreatIntelSets",
        "guardduty:ListThreatEntitySets",
        "guardduty:CreateThreatIntelSet",
        "guardduty:CreateThreatEntitySet",
        "guardduty:GetThreatIntelSet",
        "guardduty:GetThreatEntitySet",
        "guardduty:ListTagsForResource",
        "guardduty:UpdateThreatIntelSet",
        "guardduty:UpdateThreatEntitySet",
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
    assert sorted(publish["s3:GetObject"]) == objects("lists", "state", "locks")
    assert sorted(publish["s3:PutObject"]) == objects("state", "locks")
    assert publish["s3:DeleteObject"] == objects("locks")
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
    assert not names & {"boto3", "botocore"}, "the Lambda runtime provides boto3"


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
                            "Payload": {"next": "${TransformFunctionArn}", "then": "${PublishFunctionArn}"},
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

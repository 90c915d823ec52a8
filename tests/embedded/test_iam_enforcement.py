"""IAM enforcement in the embedded AWS (embedded_aws.iam): boto3 calls signed with a role's key are checked
against that role's policies in moto's IAM, and refused with the error AWS sends, before moto answers."""

from __future__ import annotations

import json
import os
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from embedded_aws import guardduty
from embedded_aws.iam import (
    NoAuthorizationRule,
    Principals,
    ResourceState,
    attach_managed_policies,
    attach_template_managed_policies,
    fake_credentials,
    iam_enforced,
    required_permissions,
    role_policies,
    watch_client,
)
from embedded_aws.lambdas import HandlerRegistry, thread_environ

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "threatfeed-data"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
SLR = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty"
HARNESS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def allow(action: Any, resource: Any = "*", condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


class Env:
    """One test's embedded AWS: moto, a registry of principals, and IAM enforcement switched on."""

    def __init__(self, principals: Principals, enforcement: Any) -> None:
        self.principals = principals
        self.enforcement = enforcement
        self.iam = boto3.client("iam", region_name=REGION, **HARNESS)
        self._roles = 0

    def admin(self, service: str, region: str = REGION) -> Any:
        """A client of the operator (key "testing": not registered, so unrestricted)."""
        return boto3.client(service, region_name=region, **HARNESS)

    def role(self, *statements: dict[str, Any], name: str | None = None) -> str:
        self._roles += 1
        name = name or f"role-{self._roles}"
        arn = self.iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        if statements:
            self.put_policy(name, *statements)
        return arn

    def put_policy(self, role_name: str, *statements: dict[str, Any]) -> None:
        document = {"Version": "2012-10-17", "Statement": list(statements)}
        self.iam.put_role_policy(RoleName=role_name, PolicyName="policy", PolicyDocument=json.dumps(document))

    def client_for(self, role_arn: str, service: str, region: str = REGION, session: str = "fn") -> Any:
        """A client signed with a role session's key, as a Lambda handler's would be."""
        creds = self.principals.credentials_for(role_arn, session)
        return boto3.client(
            service,
            region_name=region,
            aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=creds["AWS_SESSION_TOKEN"],
        )


@pytest.fixture
def env() -> Iterator[Env]:
    guardduty.install()
    with mock_aws():
        principals = Principals()
        with iam_enforced(principals) as enforcement:
            world = Env(principals, enforcement)
            s3 = world.admin("s3")
            s3.create_bucket(Bucket=BUCKET)
            s3.put_object(Bucket=BUCKET, Key="state/cursors/taxii", Body=b"{}")
            yield world


def error_of(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return {**response["Error"], "Status": response["ResponseMetadata"]["HTTPStatusCode"]}


# --------------------------------------------------------------------------- S3


def test_s3_allows_what_the_role_policy_grants_and_denies_the_rest_with_aws_error(env: Env) -> None:
    s3 = env.client_for(env.role(allow("s3:GetObject", f"{BUCKET_ARN}/state/*"), name="fetch-role"), "s3")
    assert s3.get_object(Bucket=BUCKET, Key="state/cursors/taxii")["Body"].read() == b"{}"
    error = error_of(lambda: s3.put_object(Bucket=BUCKET, Key="state/cursors/taxii", Body=b"x"))
    assert (error["Code"], error["Status"]) == ("AccessDenied", 403)
    assert error["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/fetch-role/fn is not authorized to perform: s3:PutObject on "
        f'resource: "{BUCKET_ARN}/state/cursors/taxii" because no identity-based policy allows the s3:PutObject '
        "action"
    )
    assert env.admin("s3").get_object(Bucket=BUCKET, Key="state/cursors/taxii")["Body"].read() == b"{}"


def test_get_object_of_a_missing_key_is_403_naming_list_bucket_without_it(env: Env) -> None:
    s3 = env.client_for(env.role(allow("s3:GetObject", f"{BUCKET_ARN}/*")), "s3")
    error = error_of(lambda: s3.get_object(Bucket=BUCKET, Key="state/cursors/new-feed"))
    assert (error["Code"], error["Status"]) == ("AccessDenied", 403)
    assert f'perform: s3:ListBucket on resource: "{BUCKET_ARN}"' in error["Message"]
    head = error_of(lambda: s3.head_object(Bucket=BUCKET, Key="state/cursors/new-feed"))
    assert (head["Code"], head["Status"]) == ("403", 403)  # S3 sends no body with a HEAD error


def test_get_object_of_a_missing_key_is_404_with_list_bucket_on_the_bucket(env: Env) -> None:
    role = env.role(allow("s3:GetObject", f"{BUCKET_ARN}/*"), allow("s3:ListBucket", BUCKET_ARN))
    s3 = env.client_for(role, "s3")
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=BUCKET, Key="state/cursors/new-feed")
    assert error_of(lambda: s3.head_object(Bucket=BUCKET, Key="state/cursors/new-feed"))["Status"] == 404


def test_list_bucket_conditioned_on_s3_prefix_does_not_turn_a_missing_key_into_404(env: Env) -> None:
    prefix_only = allow("s3:ListBucket", BUCKET_ARN, {"StringLike": {"s3:prefix": "state/cursors/*"}})
    s3 = env.client_for(env.role(allow("s3:GetObject", f"{BUCKET_ARN}/state/cursors/*"), prefix_only), "s3")
    error = error_of(lambda: s3.get_object(Bucket=BUCKET, Key="state/cursors/new-feed"))
    assert (error["Code"], error["Status"]) == ("AccessDenied", 403)
    assert "s3:ListBucket" in error["Message"]
    # The same grant does allow listing under the prefix: ListObjectsV2 carries s3:prefix.
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="state/cursors/")["KeyCount"] == 1
    assert error_of(lambda: s3.list_objects_v2(Bucket=BUCKET))["Code"] == "AccessDenied"
    assert error_of(lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix="raw/"))["Code"] == "AccessDenied"


def test_reading_a_version_needs_get_object_version(env: Env) -> None:
    admin = env.admin("s3")
    admin.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    version = admin.put_object(Bucket=BUCKET, Key="raw/run/feed", Body=b"body")["VersionId"]
    reader = env.client_for(env.role(allow("s3:GetObject", f"{BUCKET_ARN}/raw/*")), "s3")
    assert reader.get_object(Bucket=BUCKET, Key="raw/run/feed")["Body"].read() == b"body"
    error = error_of(lambda: reader.get_object(Bucket=BUCKET, Key="raw/run/feed", VersionId=version))
    assert "s3:GetObjectVersion" in error["Message"]
    versioned = env.client_for(env.role(allow("s3:GetObjectVersion", f"{BUCKET_ARN}/raw/*")), "s3")
    assert versioned.get_object(Bucket=BUCKET, Key="raw/run/feed", VersionId=version)["Body"].read() == b"body"


def test_list_object_versions_needs_list_bucket_versions(env: Env) -> None:
    s3 = env.client_for(env.role(allow("s3:ListBucket", BUCKET_ARN)), "s3")
    assert "s3:ListBucketVersions" in error_of(lambda: s3.list_object_versions(Bucket=BUCKET))["Message"]
    lister = env.client_for(env.role(allow("s3:ListBucketVersions", BUCKET_ARN)), "s3")
    assert lister.list_object_versions(Bucket=BUCKET, Prefix="state/")["Versions"]


def test_delete_of_a_version_needs_delete_object_version(env: Env) -> None:
    s3 = env.client_for(env.role(allow("s3:DeleteObject", f"{BUCKET_ARN}/locks/*")), "s3")
    s3_admin = env.admin("s3")
    s3_admin.put_object(Bucket=BUCKET, Key="locks/us-east-1", Body=b"lease")
    error = error_of(lambda: s3.delete_object(Bucket=BUCKET, Key="locks/us-east-1", VersionId="null"))
    assert "s3:DeleteObjectVersion" in error["Message"]
    s3.delete_object(Bucket=BUCKET, Key="locks/us-east-1")


def test_conditional_put_context_key_if_none_match_is_supplied(env: Env) -> None:
    only_conditional = allow("s3:PutObject", f"{BUCKET_ARN}/locks/*", {"Null": {"s3:if-none-match": "false"}})
    s3 = env.client_for(env.role(only_conditional), "s3")
    s3.put_object(Bucket=BUCKET, Key="locks/eu-west-1", Body=b"lease", IfNoneMatch="*")
    assert error_of(lambda: s3.put_object(Bucket=BUCKET, Key="locks/eu-west-1", Body=b"x"))["Code"] == "AccessDenied"


def test_copy_object_needs_read_on_the_source_and_write_on_the_target(env: Env) -> None:
    reader = allow("s3:GetObject", f"{BUCKET_ARN}/state/*")
    s3 = env.client_for(env.role(reader), "s3")
    source = {"Bucket": BUCKET, "Key": "state/cursors/taxii"}
    error = error_of(lambda: s3.copy_object(Bucket=BUCKET, Key="lists/copy", CopySource=source))
    assert f'perform: s3:PutObject on resource: "{BUCKET_ARN}/lists/copy"' in error["Message"]
    both = env.client_for(env.role(reader, allow("s3:PutObject", f"{BUCKET_ARN}/lists/*")), "s3")
    both.copy_object(Bucket=BUCKET, Key="lists/copy", CopySource=f"{BUCKET}/state/cursors/taxii")
    assert env.admin("s3").get_object(Bucket=BUCKET, Key="lists/copy")["Body"].read() == b"{}"


def test_an_explicit_deny_in_the_bucket_policy_is_reported_as_resource_based(env: Env) -> None:
    deny_raw = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"{BUCKET_ARN}/raw/*",
    }
    env.admin("s3").put_bucket_policy(
        Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny_raw]})
    )
    env.admin("s3").put_object(Bucket=BUCKET, Key="raw/x", Body=b"x")
    s3 = env.client_for(env.role(allow("s3:*", "*")), "s3")
    error = error_of(lambda: s3.get_object(Bucket=BUCKET, Key="raw/x"))
    assert error["Message"].endswith("with an explicit deny in a resource-based policy")


def test_a_bucket_policy_naming_the_role_grants_and_sees_aws_secure_transport_true(env: Env) -> None:
    role = env.role(name="reader-by-bucket-policy")

    def grant(secure: str) -> None:
        statement = {
            "Effect": "Allow",
            "Principal": {"AWS": role},
            "Action": "s3:GetObject",
            "Resource": f"{BUCKET_ARN}/*",
            "Condition": {"Bool": {"aws:SecureTransport": secure}},
        }
        document = {"Version": "2012-10-17", "Statement": [statement]}
        env.admin("s3").put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(document))

    s3 = env.client_for(role, "s3")
    grant("false")
    assert error_of(lambda: s3.get_object(Bucket=BUCKET, Key="state/cursors/taxii"))["Code"] == "AccessDenied"
    grant("true")
    assert s3.get_object(Bucket=BUCKET, Key="state/cursors/taxii")["Body"].read() == b"{}"


# --------------------------------------------------------------------------- GuardDuty


def test_list_detectors_is_granted_only_by_resource_star(env: Env) -> None:
    scoped = env.client_for(
        env.role(allow("guardduty:ListDetectors", f"arn:aws:guardduty:*:{ACCOUNT}:detector/*")), "guardduty"
    )
    error = error_of(scoped.list_detectors)
    assert (error["Code"], error["Status"]) == ("AccessDeniedException", 403)
    assert "perform: guardduty:ListDetectors because no identity-based policy allows" in error["Message"]
    anywhere = env.client_for(env.role(allow("guardduty:ListDetectors")), "guardduty")
    assert anywhere.list_detectors()["DetectorIds"] == []


def _publish_role(env: Env, stack: str = "tf") -> str:
    """The publish function's GuardDuty statements of template.yaml, for stack ``stack``."""
    own = {"StringEquals": {"aws:RequestTag/threatfeed:stack": stack}}
    return env.role(
        allow(["guardduty:ListDetectors", "guardduty:ListThreatIntelSets", "guardduty:ListThreatEntitySets"]),
        allow(["guardduty:CreateThreatIntelSet", "guardduty:CreateThreatEntitySet"], "*", own),
        allow(
            ["guardduty:GetThreatIntelSet", "guardduty:GetThreatEntitySet"], f"arn:aws:guardduty:*:{ACCOUNT}:detector/*"
        ),
        allow(
            ["guardduty:UpdateThreatIntelSet", "guardduty:UpdateThreatEntitySet"],
            f"arn:aws:guardduty:*:{ACCOUNT}:detector/*",
            {"StringEquals": {"aws:ResourceTag/threatfeed:stack": stack}},
        ),
        allow("guardduty:TagResource", f"arn:aws:guardduty:*:{ACCOUNT}:detector/*", own),
        allow(["iam:PutRolePolicy", "iam:DeleteRolePolicy"], SLR),
        allow("s3:GetObject", f"{BUCKET_ARN}/lists/*"),
        allow("s3:ListBucket", BUCKET_ARN),
        name="publish-role",
    )


def test_creating_a_list_needs_the_request_tag_the_policy_conditions_on(env: Env) -> None:
    detector = env.admin("guardduty").create_detector(Enable=True)["DetectorId"]
    env.admin("s3").put_object(Bucket=BUCKET, Key="lists/ips.txt", Body=b"198.51.100.1\n")
    gd = env.client_for(_publish_role(env), "guardduty")
    location = f"https://s3.amazonaws.com/{BUCKET}/lists/ips.txt"
    args = {"DetectorId": detector, "Format": "TXT", "Location": location, "Activate": True}
    error = error_of(lambda: gd.create_threat_intel_set(Name="tf-ips", **args))
    assert "perform: guardduty:CreateThreatIntelSet because no identity-based policy allows" in error["Message"]
    error = error_of(lambda: gd.create_threat_intel_set(Name="tf-ips", Tags={"threatfeed:stack": "other"}, **args))
    assert error["Code"] == "AccessDeniedException"
    created = gd.create_threat_intel_set(Name="tf-ips", Tags={"threatfeed:stack": "tf"}, **args)
    assert created["ThreatIntelSetId"]


def test_an_ip_list_needs_put_role_policy_on_guarddutys_service_linked_role(env: Env) -> None:
    detector = env.admin("guardduty").create_detector(Enable=True)["DetectorId"]
    role = env.role(allow("guardduty:CreateThreatIntelSet"), name="no-iam")
    gd = env.client_for(role, "guardduty")
    args = {"DetectorId": detector, "Name": "tf-ips", "Format": "TXT", "Activate": False}
    error = error_of(lambda: gd.create_threat_intel_set(Location=f"s3://{BUCKET}/lists/ips.txt", **args))
    assert f"perform: iam:PutRolePolicy on resource: {SLR}" in error["Message"]


def test_updating_a_list_checks_the_lists_own_tags(env: Env) -> None:
    admin_gd = env.admin("guardduty")
    detector = admin_gd.create_detector(Enable=True)["DetectorId"]
    env.admin("s3").put_object(Bucket=BUCKET, Key="lists/ips.txt", Body=b"198.51.100.1\n")
    location = f"s3://{BUCKET}/lists/ips.txt"

    def create(name: str, stack: str) -> str:
        return admin_gd.create_threat_intel_set(
            DetectorId=detector, Name=name, Format="TXT", Location=location, Activate=False,
            Tags={"threatfeed:stack": stack},
        )["ThreatIntelSetId"]  # fmt: skip

    ours, theirs = create("tf-ours", "tf"), create("tf-theirs", "other")
    gd = env.client_for(_publish_role(env), "guardduty")
    gd.update_threat_intel_set(DetectorId=detector, ThreatIntelSetId=ours, Location=location)
    error = error_of(
        lambda: gd.update_threat_intel_set(DetectorId=detector, ThreatIntelSetId=theirs, Location=location)
    )
    set_arn = f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/{detector}/threatintelset/{theirs}"
    assert f"perform: guardduty:UpdateThreatIntelSet on resource: {set_arn}" in error["Message"]


def test_activating_an_entity_list_needs_the_callers_own_s3_get_object_on_its_location(env: Env) -> None:
    detector = env.admin("guardduty").create_detector(Enable=True)["DetectorId"]
    env.admin("s3").put_object(Bucket=BUCKET, Key="state/domains.txt", Body=b"example.com\n")
    gd = env.client_for(_publish_role(env), "guardduty")
    args = {"DetectorId": detector, "Name": "tf-domains", "Format": "TXT", "Tags": {"threatfeed:stack": "tf"}}
    error = error_of(
        lambda: gd.create_threat_entity_set(Location=f"s3://{BUCKET}/state/domains.txt", Activate=True, **args)
    )
    assert f'perform: s3:GetObject on resource: "{BUCKET_ARN}/state/domains.txt"' not in error["Message"]
    assert f"perform: s3:GetObject on resource: {BUCKET_ARN}/state/domains.txt" in error["Message"]
    inactive = gd.create_threat_entity_set(Location=f"s3://{BUCKET}/state/domains.txt", Activate=False, **args)
    assert inactive["ThreatEntitySetId"]


# --------------------------------------------------------------------------- SSM, Secrets Manager, Lambda


def test_ssm_parameters_are_authorized_on_their_arn_without_the_leading_slash(env: Env) -> None:
    env.admin("ssm").put_parameter(Name="/threatfeed/tf/catalogue", Value="{}", Type="String")
    env.admin("ssm").put_parameter(Name="/other/secret", Value="x", Type="String")
    ssm = env.client_for(
        env.role(
            allow(["ssm:GetParameter", "ssm:GetParameters"], f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/threatfeed/*")
        ),
        "ssm",
    )
    assert ssm.get_parameter(Name="/threatfeed/tf/catalogue")["Parameter"]["Value"] == "{}"
    error = error_of(lambda: ssm.get_parameters(Names=["/threatfeed/tf/catalogue", "/other/secret"]))
    assert "parameter/other/secret because" in error["Message"]
    assert (error["Code"], error["Status"]) == ("AccessDeniedException", 400)


def test_a_secret_named_by_name_is_authorized_on_its_full_arn(env: Env) -> None:
    arn = env.admin("secretsmanager").create_secret(Name="threatfeed/tf/isight", SecretString="k")["ARN"]
    exact = env.client_for(env.role(allow("secretsmanager:GetSecretValue", arn)), "secretsmanager")
    assert exact.get_secret_value(SecretId="threatfeed/tf/isight")["SecretString"] == "k"
    wrong_suffix = env.client_for(
        env.role(
            allow(
                "secretsmanager:GetSecretValue",
                f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:threatfeed/tf/isight",
            )
        ),
        "secretsmanager",
    )
    assert (
        f"on resource: {arn} because"
        in error_of(lambda: wrong_suffix.get_secret_value(SecretId="threatfeed/tf/isight"))["Message"]
    )


def test_a_secret_that_does_not_exist_answers_access_denied_unless_allowed(env: Env) -> None:
    prefix = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:threatfeed/tf/*"
    allowed = env.client_for(env.role(allow("secretsmanager:GetSecretValue", prefix)), "secretsmanager")
    with pytest.raises(allowed.exceptions.ResourceNotFoundException):
        allowed.get_secret_value(SecretId="threatfeed/tf/missing")
    error = error_of(lambda: allowed.get_secret_value(SecretId="threatfeed/other/missing"))
    assert error["Code"] == "AccessDeniedException"
    assert "secret:threatfeed/other/missing because" in error["Message"]


def test_secret_resource_tags_are_in_the_request_context(env: Env) -> None:
    env.admin("secretsmanager").create_secret(
        Name="feeds/misp", SecretString="k", Tags=[{"Key": "threatfeed:stack", "Value": "tf"}]
    )
    env.admin("secretsmanager").create_secret(Name="feeds/other", SecretString="k")
    tagged = allow(
        "secretsmanager:GetSecretValue", "*", {"StringEquals": {"secretsmanager:ResourceTag/threatfeed:stack": "tf"}}
    )
    sm = env.client_for(env.role(tagged), "secretsmanager")
    assert sm.get_secret_value(SecretId="feeds/misp")["SecretString"] == "k"
    assert error_of(lambda: sm.get_secret_value(SecretId="feeds/other"))["Code"] == "AccessDeniedException"


def test_invoking_a_qualified_function_needs_a_grant_on_the_qualified_arn(env: Env) -> None:
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tf-plan"
    lam = env.client_for(env.role(allow("lambda:InvokeFunction", function)), "lambda")
    error = error_of(lambda: lam.invoke(FunctionName="tf-plan", Qualifier="live"))
    assert (error["Code"], error["Status"]) == ("AccessDeniedException", 403)
    assert f"on resource: {function}:live because" in error["Message"]
    unqualified = error_of(lambda: lam.invoke(FunctionName=function))  # allowed: moto then answers not found
    assert unqualified["Code"] == "ResourceNotFoundException"


# --------------------------------------------------------------------------- SNS and KMS


def _encrypted_topic(env: Env, key_policy: dict[str, Any] | None = None) -> tuple[str, str]:
    kms = env.admin("kms")
    key = kms.create_key(**({"Policy": json.dumps(key_policy)} if key_policy else {}))["KeyMetadata"]
    topic = env.admin("sns").create_topic(Name="tf-runs", Attributes={"KmsMasterKeyId": key["KeyId"]})["TopicArn"]
    return topic, key["Arn"]


def test_publishing_to_an_encrypted_topic_needs_the_key_via_sns(env: Env) -> None:
    topic, key_arn = _encrypted_topic(env)
    publish_only = env.client_for(env.role(allow("sns:Publish", topic)), "sns")
    error = error_of(lambda: publish_only.publish(TopicArn=topic, Message="run done"))
    assert (error["Code"], error["Status"]) == ("KMSAccessDenied", 400)
    assert f"perform: kms:GenerateDataKey on resource: {key_arn}" in error["Message"]
    via_sns = {"StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}}
    role = env.role(allow("sns:Publish", topic), allow(["kms:GenerateDataKey", "kms:Decrypt"], key_arn, via_sns))
    assert env.client_for(role, "sns").publish(TopicArn=topic, Message="run done")["MessageId"]


def test_a_topic_encrypted_with_the_aws_managed_key_needs_no_kms_permission(env: Env) -> None:
    attributes = {"KmsMasterKeyId": "alias/aws/sns"}
    topic = env.admin("sns").create_topic(Name="managed", Attributes=attributes)["TopicArn"]
    assert env.client_for(env.role(allow("sns:Publish", topic)), "sns").publish(TopicArn=topic, Message="x")


def test_the_sns_publish_denial_is_authorization_error_naming_sns_publish(env: Env) -> None:
    topic = env.admin("sns").create_topic(Name="plain")["TopicArn"]
    error = error_of(lambda: env.client_for(env.role(name="no-sns"), "sns").publish(TopicArn=topic, Message="x"))
    assert (error["Code"], error["Status"]) == ("AuthorizationError", 403)
    assert (
        f"perform: SNS:Publish on resource: {topic} because no identity-based policy allows the SNS:Publish"
        in (error["Message"])
    )


def test_a_key_policy_that_does_not_delegate_to_iam_refuses_even_an_allowed_role(env: Env) -> None:
    admin_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/admin"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    topic, _ = _encrypted_topic(env, admin_only)
    role = env.role(allow("sns:Publish", topic), allow("kms:*", "*"))
    error = error_of(lambda: env.client_for(role, "sns").publish(TopicArn=topic, Message="x"))
    assert "because no resource-based policy allows the kms:GenerateDataKey action" in error["Message"]


# --------------------------------------------------------------------------- the rest of the covered services


def test_step_functions_execution_actions_are_authorized_on_the_execution_arn(env: Env) -> None:
    execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:tf-machine:run-1"
    role = env.role(allow("states:StartExecution", f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:tf-machine"))
    sfn = env.client_for(role, "stepfunctions")
    error = error_of(lambda: sfn.describe_execution(executionArn=execution))
    assert (error["Code"], error["Status"]) == ("AccessDeniedException", 400)
    assert f"perform: states:DescribeExecution on resource: {execution}" in error["Message"]


def test_put_metric_data_is_checked_with_its_namespace(env: Env) -> None:
    own = allow("cloudwatch:PutMetricData", "*", {"StringEquals": {"cloudwatch:namespace": "threatfeed"}})
    cw = env.client_for(env.role(own), "cloudwatch")
    cw.put_metric_data(Namespace="threatfeed", MetricData=[{"MetricName": "ListEntries", "Value": 1}])
    error = error_of(lambda: cw.put_metric_data(Namespace="other", MetricData=[{"MetricName": "m", "Value": 1}]))
    assert (error["Code"], error["Status"]) == ("AccessDenied", 403)


def test_ec2_describe_denial_is_unauthorized_operation(env: Env) -> None:
    error = error_of(lambda: env.client_for(env.role(name="no-ec2"), "ec2").describe_nat_gateways())
    assert (error["Code"], error["Status"]) == ("UnauthorizedOperation", 403)
    assert error["Message"].startswith("You are not authorized to perform this operation. User: ")


def test_get_caller_identity_needs_no_permission(env: Env) -> None:
    assert env.client_for(env.role(name="nothing"), "sts").get_caller_identity()["Account"] == ACCOUNT


def test_an_operation_without_a_rule_is_denied_naming_where_to_add_one(env: Env) -> None:
    gd = env.client_for(env.role(allow("guardduty:*")), "guardduty")
    error = error_of(lambda: gd.list_filters(DetectorId="d" * 32))
    assert error["Code"] == "AccessDeniedException"
    assert "no authorization rule for guardduty ListFilters" in error["Message"]
    assert "src/embedded_aws/iam/requests.py" in error["Message"]
    assert env.enforcement.denials[-1].permission is None


# --------------------------------------------------------------------------- who is enforced, and when


def test_unregistered_keys_such_as_the_harness_are_unrestricted(env: Env) -> None:
    env.admin("s3").put_object(Bucket=BUCKET, Key="anything", Body=b"x")
    assert env.admin("guardduty").list_detectors()["DetectorIds"] == []
    assert env.enforcement.denials == []


def test_the_step_functions_interpreter_key_is_enforced_once_registered(env: Env) -> None:
    role = env.role(allow("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tf-*"), name="sm-role")
    env.principals.register("ak", role, "states-execution")
    lam = boto3.client("lambda", region_name=REGION, aws_access_key_id="ak", aws_secret_access_key="sk")
    error = error_of(lambda: lam.invoke(FunctionName="other-function"))
    assert (
        "assumed-role/sm-role/states-execution is not authorized to perform: lambda:InvokeFunction"
        in (error["Message"])
    )


def test_policy_changes_take_effect_on_the_next_request(env: Env) -> None:
    env.iam.create_role(RoleName="evolving", AssumeRolePolicyDocument="{}")
    s3 = env.client_for(f"arn:aws:iam::{ACCOUNT}:role/evolving", "s3")
    assert error_of(lambda: s3.get_object(Bucket=BUCKET, Key="state/cursors/taxii"))["Code"] == "AccessDenied"
    env.put_policy("evolving", allow("s3:GetObject", f"{BUCKET_ARN}/*"))
    assert s3.get_object(Bucket=BUCKET, Key="state/cursors/taxii")["Body"].read() == b"{}"


def test_attached_aws_managed_policies_count(env: Env) -> None:
    role = env.role(name="invoker")
    lam = env.client_for(role, "lambda")
    assert "lambda:InvokeFunction" in error_of(lambda: lam.invoke(FunctionName="tf-plan"))["Message"]
    attach_managed_policies(ACCOUNT, role, ["arn:aws:iam::aws:policy/service-role/AWSLambdaRole"])
    assert {"lambda:InvokeFunction"} <= set(role_policies(ACCOUNT, role)[0]["Statement"][0]["Action"])
    assert error_of(lambda: lam.invoke(FunctionName="tf-plan"))["Code"] == "ResourceNotFoundException"


def test_parameters_a_rule_cannot_read_are_refused_not_let_through(env: Env) -> None:
    caller = env.principals.register("ASIABROKENBROKENBROK", env.role(allow("s3:*")), "fn")
    denial = env.enforcement.decide(caller, "s3", "GetObject", {"Key": "k"}, REGION)
    assert denial is not None and denial.code == "AccessDenied"
    assert "could not work out its permissions" in denial.message


def test_template_managed_policy_arns_are_attached_as_cloudformation_would(env: Env) -> None:
    role = env.role(name="tf-FetchFunctionRole-X")
    managed = "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    stack = types.SimpleNamespace(
        account_id=ACCOUNT,
        region=REGION,
        template={
            "Resources": {
                "FetchFunctionRole": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {"ManagedPolicyArns": [{"Fn::Sub": managed}]},
                },
                "Other": {"Type": "AWS::SNS::Topic", "Properties": {}},
            }
        },
        physical_id=lambda logical_id: "tf-FetchFunctionRole-X",
    )
    attached = attach_template_managed_policies(stack)
    assert attached == {role: ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]}
    logs = env.client_for(role, "logs")
    logs.create_log_group(logGroupName="/aws/lambda/tf-fetch")
    assert "logs:CreateLogGroup" in role_policies(ACCOUNT, role)[0]["Statement"][0]["Action"]


def test_a_client_created_before_enforcement_is_enforced_once_watched() -> None:
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION, **HARNESS)
        role = iam.create_role(RoleName="late", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        principals = Principals()
        creds = principals.credentials_for(role, "fn")
        early = boto3.session.Session(
            aws_access_key_id=creds["AWS_ACCESS_KEY_ID"], aws_secret_access_key="x", region_name=REGION
        ).client("guardduty")
        with iam_enforced(principals):
            assert early.list_detectors()["DetectorIds"] == []  # its session predates the handlers
            watch_client(early)
            assert error_of(early.list_detectors)["Code"] == "AccessDeniedException"
        assert early.list_detectors()["DetectorIds"] == []  # enforcement ended with the block


def test_credentials_for_gives_each_role_session_a_distinct_registered_key() -> None:
    principals = Principals()
    plan = principals.credentials_for(f"arn:aws:iam::{ACCOUNT}:role/tf-PlanRole", "tf-plan")
    fetch = principals.credentials_for(f"arn:aws:iam::{ACCOUNT}:role/tf-FetchRole", "tf-fetch")
    assert plan["AWS_ACCESS_KEY_ID"] != fetch["AWS_ACCESS_KEY_ID"]
    assert plan["AWS_ACCESS_KEY_ID"].startswith("ASIA") and len(plan["AWS_ACCESS_KEY_ID"]) == 20
    assert plan == fake_credentials(f"arn:aws:iam::{ACCOUNT}:role/tf-PlanRole", "tf-plan")
    caller = principals.get(fetch["AWS_ACCESS_KEY_ID"])
    assert caller is not None
    assert caller.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/tf-FetchRole/tf-fetch"
    with pytest.raises(ValueError):
        principals.register("AKIA", "arn:aws:iam::123456789012:user/someone")


# --------------------------------------------------------------------------- the request mapping, without moto


class _Missing(ResourceState):
    def s3_object_exists(self, account: str, bucket: str, key: str, version_id: str | None) -> bool | None:
        return False


def test_required_permissions_of_a_get_of_a_missing_object_add_list_bucket_without_s3_prefix() -> None:
    needed = required_permissions(
        "s3", "GetObject", {"Bucket": BUCKET, "Key": "state/x"}, region=REGION, account=ACCOUNT, state=_Missing()
    )
    assert [(p.action, p.resource) for p in needed] == [
        ("s3:GetObject", f"{BUCKET_ARN}/state/x"),
        ("s3:ListBucket", BUCKET_ARN),
    ]
    assert "s3:prefix" not in needed[1].context


def test_required_permissions_of_list_objects_carry_prefix_delimiter_and_max_keys() -> None:
    params = {"Bucket": BUCKET, "Prefix": "state/", "Delimiter": "/", "MaxKeys": 10}
    (listing,) = required_permissions("s3", "ListObjectsV2", params, region=REGION, account=ACCOUNT)
    assert (listing.context["s3:prefix"], listing.context["s3:delimiter"], listing.context["s3:max-keys"]) == (
        "state/",
        "/",
        "10",
    )
    (unprefixed,) = required_permissions("s3", "ListObjectsV2", {"Bucket": BUCKET}, region=REGION, account=ACCOUNT)
    assert "s3:prefix" not in unprefixed.context


def test_required_permissions_of_guardduty_list_operations_per_the_service_authorization_reference() -> None:
    detector = "d" * 32
    create = required_permissions(
        "guardduty",
        "CreateIPSet",
        {"DetectorId": detector, "Tags": {"threatfeed:stack": "tf"}},
        region=REGION,
        account=ACCOUNT,
    )
    assert [(p.action, p.resource) for p in create] == [
        ("guardduty:CreateIPSet", "*"),
        ("guardduty:TagResource", f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/{detector}/ipset/*"),
        ("iam:PutRolePolicy", SLR),
    ]
    assert create[0].context == {"aws:RequestTag/threatfeed:stack": "tf", "aws:TagKeys": ["threatfeed:stack"]}
    delete = required_permissions(
        "guardduty",
        "DeleteThreatIntelSet",
        {"DetectorId": detector, "ThreatIntelSetId": "s1"},
        region=REGION,
        account=ACCOUNT,
    )
    assert [p.action for p in delete] == ["guardduty:DeleteThreatIntelSet", "iam:DeleteRolePolicy"]
    (listing,) = required_permissions(
        "guardduty", "ListTrustedEntitySets", {"DetectorId": detector}, region=REGION, account=ACCOUNT
    )
    assert listing.resource == "*"


def test_required_permissions_accept_the_states_prefix_and_raise_for_unknown_operations() -> None:
    (start,) = required_permissions(
        "states",
        "StartExecution",
        {"stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:m"},
        region=REGION,
        account=ACCOUNT,
    )
    assert start.action == "states:StartExecution"
    with pytest.raises(NoAuthorizationRule):
        required_permissions("guardduty", "CreateFilter", {}, region=REGION, account=ACCOUNT)


# --------------------------------------------------------------------------- Lambda credentials and client cache


def test_each_invocation_runs_with_its_functions_role_credentials(tmp_path: Path) -> None:
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(
        "import os\n"
        "def handler(event, context):\n"
        "    return {k: os.environ.get(k) for k in ('AWS_ACCESS_KEY_ID', 'AWS_SESSION_TOKEN', 'MODE')}\n"
    )
    principals = Principals()
    role = f"arn:aws:iam::{ACCOUNT}:role/tf-FetchRole"
    fn = types.SimpleNamespace(
        function_name="tf-fetch",
        function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tf-fetch",
        environment_vars={"MODE": "x", "AWS_ACCESS_KEY_ID": "from-config"},
        region=REGION,
        memory_size=128,
        handler="app.handler",
        role=role,
    )
    with thread_environ():
        os.environ["AWS_ACCESS_KEY_ID"] = "process-key"
        with_role = HandlerRegistry({"tf-fetch": code}, credentials=principals.credentials_for)
        seen = json.loads(with_role.invoke(fn, {})[0])
        assert seen["AWS_ACCESS_KEY_ID"] == fake_credentials(role, "tf-fetch")["AWS_ACCESS_KEY_ID"]
        assert seen["AWS_SESSION_TOKEN"].startswith("embedded-aws-session/") and seen["MODE"] == "x"
        assert principals.get(seen["AWS_ACCESS_KEY_ID"]) is not None
        without = json.loads(HandlerRegistry({"tf-fetch": code}).invoke(fn, {})[0])
        assert without["AWS_ACCESS_KEY_ID"] == "process-key"  # no callback: the process's, never the config's
        assert os.environ["AWS_ACCESS_KEY_ID"] == "process-key"


def test_threatfeed_clients_are_cached_per_access_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from threatfeed import aws

    aws.reset_clients()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAPLANPLANPLANPLAN")
    plan = aws.client("s3", REGION)
    assert aws.client("s3", REGION) is plan
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAFETCHFETCHFETCHF")
    fetch = aws.client("s3", REGION)
    assert fetch is not plan
    assert fetch._request_signer._credentials.access_key == "ASIAFETCHFETCHFETCHF"
    aws.reset_clients()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAPLANPLANPLANPLAN")
    assert aws.client("s3", REGION) is not plan

"""The IAM policy evaluator (embedded_aws.iam.policy): pure functions over policy documents, no moto."""

from __future__ import annotations

from typing import Any

import pytest

from embedded_aws.iam.policy import Decision, Policy, Principal, Request, conditions_hold, evaluate, resource_matches

ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/fetch-role"
SESSION_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/fetch-role/fetch"
PRINCIPAL = Principal(SESSION_ARN, ACCOUNT, ROLE_ARN)
BUCKET_ARN = "arn:aws:s3:::data-bucket"


def allow(action: Any, resource: Any = "*", condition: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": resource, **extra}
    if condition:
        statement["Condition"] = condition
    return statement


def deny(action: Any, resource: Any = "*", condition: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {**allow(action, resource, condition, **extra), "Effect": "Deny"}


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def decide(action: str, resource: str, *policies: dict[str, Any], **context: Any) -> Decision:
    return evaluate(Request(action, resource, context, PRINCIPAL), list(policies))


def holds(condition: dict[str, Any], **context: Any) -> bool:
    return conditions_hold(condition, context)


# --------------------------------------------------------------------------- actions, resources, effects


def test_an_allow_for_the_action_and_resource_allows_and_names_its_statement() -> None:
    decision = decide("s3:GetObject", f"{BUCKET_ARN}/raw/x", doc(allow("s3:GetObject", f"{BUCKET_ARN}/raw/*")))
    assert decision.allowed
    assert decision.statement is not None and decision.statement.index == 0


def test_no_allow_is_an_implicit_deny_in_aws_words() -> None:
    decision = decide("s3:PutObject", f"{BUCKET_ARN}/raw/x", doc(allow("s3:GetObject", f"{BUCKET_ARN}/raw/*")))
    assert not decision.allowed and not decision.explicit
    assert decision.reason("s3:PutObject") == "because no identity-based policy allows the s3:PutObject action"


def test_explicit_deny_beats_an_allow_and_names_the_denying_statement() -> None:
    policies = [
        Policy("allow-all", doc(allow("s3:*", "*"))),
        Policy("guard", doc({**deny("s3:DeleteObject", f"{BUCKET_ARN}/*"), "Sid": "NoDeletes"})),
    ]
    decision = evaluate(Request("s3:DeleteObject", f"{BUCKET_ARN}/k", {}, PRINCIPAL), policies)
    assert not decision.allowed and decision.explicit
    assert decision.statement is not None
    assert (decision.statement.policy, decision.statement.sid) == ("guard", "NoDeletes")
    assert decision.reason("s3:DeleteObject") == "with an explicit deny in an identity-based policy"


def test_actions_match_case_insensitively_and_with_wildcards() -> None:
    policy = doc(allow(["S3:getobject*", "guardduty:List*"], "*"))
    assert decide("s3:GetObjectVersion", "arn:aws:s3:::b/k", policy).allowed
    assert decide("guardduty:ListThreatIntelSets", "*", policy).allowed
    assert not decide("guardduty:GetThreatIntelSet", "*", policy).allowed


def test_resources_match_case_sensitively() -> None:
    policy = doc(allow("s3:GetObject", f"{BUCKET_ARN}/State/*"))
    assert decide("s3:GetObject", f"{BUCKET_ARN}/State/x", policy).allowed
    assert not decide("s3:GetObject", f"{BUCKET_ARN}/state/x", policy).allowed


def test_question_mark_matches_exactly_one_character() -> None:
    policy = doc(allow("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:*:{ACCOUNT}:secret:isight-??????"))
    assert decide(
        "secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:isight-AbC123", policy
    ).allowed
    assert not decide(
        "secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:isight-AbC12", policy
    ).allowed


def test_a_wildcard_in_one_arn_segment_does_not_reach_into_the_next() -> None:
    # As one string, "*" would swallow "us-east-1:999999999999:log-group:a" and match the other account's group.
    cross = f"arn:aws:logs:us-east-1:999999999999:log-group:a:{ACCOUNT}:b"
    assert not resource_matches(f"arn:aws:logs:*:{ACCOUNT}:*", cross)
    pattern = f"arn:aws:guardduty:*:{ACCOUNT}:detector/*"
    assert resource_matches(pattern, f"arn:aws:guardduty:eu-west-1:{ACCOUNT}:detector/d1/threatintelset/s1")
    assert not resource_matches(pattern, "arn:aws:guardduty:eu-west-1:999999999999:detector/d1")
    assert not resource_matches("arn:aws:guardduty:*:detector/*", f"arn:aws:guardduty:eu-west-1:{ACCOUNT}:x")


def test_an_action_without_resource_level_permissions_is_granted_only_by_resource_star() -> None:
    scoped = doc(allow("guardduty:ListDetectors", f"arn:aws:guardduty:*:{ACCOUNT}:detector/*"))
    assert not decide("guardduty:ListDetectors", "*", scoped).allowed
    assert decide("guardduty:ListDetectors", "*", doc(allow("guardduty:ListDetectors", "*"))).allowed


def test_not_action_and_not_resource_apply_to_everything_else() -> None:
    policy = doc(
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:*", "NotResource": f"{BUCKET_ARN}/*"},
    )
    assert decide("s3:GetObject", f"{BUCKET_ARN}/k", policy).allowed
    assert not decide("iam:PutRolePolicy", "arn:aws:iam::1:role/x", policy).allowed
    other = decide("s3:GetObject", "arn:aws:s3:::other/k", policy)
    assert not other.allowed and other.explicit


def test_statement_as_a_single_object_and_action_as_a_string_are_read() -> None:
    policy = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"}}
    assert decide("ssm:GetParameter", "arn:aws:ssm:us-east-1:1:parameter/x", policy).allowed


def test_policy_json_text_is_accepted_as_iam_apis_return_it() -> None:
    text = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}]}'
    assert evaluate(Request("sns:Publish", "arn:aws:sns:us-east-1:1:t"), [text]).allowed


def test_policy_variables_resolve_from_the_request_context() -> None:
    policy = doc(allow("s3:GetObject", f"{BUCKET_ARN}/home/${{aws:PrincipalTag/team}}/*"))
    assert decide("s3:GetObject", f"{BUCKET_ARN}/home/intel/x", policy, **{"aws:PrincipalTag/team": "intel"}).allowed
    assert not decide(
        "s3:GetObject", f"{BUCKET_ARN}/home/other/x", policy, **{"aws:PrincipalTag/team": "intel"}
    ).allowed
    assert not decide("s3:GetObject", f"{BUCKET_ARN}/home/intel/x", policy).allowed  # no value: matches nothing


# --------------------------------------------------------------------------- conditions


def test_values_of_one_key_are_ored() -> None:
    condition = {"StringEquals": {"aws:RequestTag/threatfeed:stack": ["blue", "green"]}}
    assert holds(condition, **{"aws:RequestTag/threatfeed:stack": "green"})
    assert not holds(condition, **{"aws:RequestTag/threatfeed:stack": "red"})


def test_keys_and_operators_are_anded() -> None:
    condition = {
        "StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com", "kms:CallerAccount": ACCOUNT},
        "Bool": {"aws:SecureTransport": "true"},
    }
    context = {"kms:ViaService": "sns.us-east-1.amazonaws.com", "kms:CallerAccount": ACCOUNT}
    assert holds(condition, **context, **{"aws:SecureTransport": True})
    assert not holds(condition, **context, **{"aws:SecureTransport": False})
    assert not holds(condition, **{**context, "kms:CallerAccount": "999999999999"}, **{"aws:SecureTransport": True})


def test_a_condition_on_a_key_absent_from_the_request_does_not_hold() -> None:
    assert not holds({"StringLike": {"s3:prefix": "state/cursors/*"}})
    assert not holds({"NumericLessThan": {"s3:max-keys": "10"}})


def test_negated_operators_hold_when_the_key_is_absent_as_the_iam_guide_says() -> None:
    assert holds({"StringNotEquals": {"aws:RequestTag/env": "prod"}})
    assert holds({"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*"}})
    assert not holds({"StringNotEquals": {"aws:RequestTag/env": "prod"}}, **{"aws:RequestTag/env": "prod"})


def test_if_exists_holds_when_the_key_is_absent_and_checks_it_when_present() -> None:
    condition = {"StringEqualsIfExists": {"s3:x-amz-server-side-encryption": "AES256"}}
    assert holds(condition)
    assert holds(condition, **{"s3:x-amz-server-side-encryption": "AES256"})
    assert not holds(condition, **{"s3:x-amz-server-side-encryption": "aws:kms"})


def test_null_tests_whether_the_key_is_present() -> None:
    assert holds({"Null": {"s3:if-none-match": "false"}}, **{"s3:if-none-match": "*"})
    assert not holds({"Null": {"s3:if-none-match": "false"}})
    assert holds({"Null": {"aws:RequestTag/x": "true"}})
    assert not holds({"Null": {"aws:RequestTag/x": "true"}}, **{"aws:RequestTag/x": "1"})


def test_for_all_values_holds_for_an_absent_key_and_needs_every_value_to_match() -> None:
    condition = {"ForAllValues:StringEquals": {"aws:TagKeys": ["threatfeed:stack", "owner"]}}
    assert holds(condition)
    assert holds(condition, **{"aws:TagKeys": ["owner"]})
    assert not holds(condition, **{"aws:TagKeys": ["owner", "cost-centre"]})


def test_for_any_value_needs_one_matching_value_and_fails_for_an_absent_key() -> None:
    condition = {"ForAnyValue:StringLike": {"aws:TagKeys": "threatfeed:*"}}
    assert holds(condition, **{"aws:TagKeys": ["owner", "threatfeed:stack"]})
    assert not holds(condition, **{"aws:TagKeys": ["owner"]})
    assert not holds(condition)


def test_string_operators() -> None:
    assert holds({"StringEqualsIgnoreCase": {"aws:RequestTag/env": "PROD"}}, **{"aws:RequestTag/env": "prod"})
    assert not holds({"StringEquals": {"aws:RequestTag/env": "PROD"}}, **{"aws:RequestTag/env": "prod"})
    assert holds({"StringLike": {"s3:prefix": "state/*"}}, **{"s3:prefix": "state/cursors/"})
    assert not holds({"StringNotLike": {"s3:prefix": "state/*"}}, **{"s3:prefix": "state/x"})


def test_arn_operators_compare_segment_by_segment() -> None:
    alarm = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:tf-executions-failed"
    assert holds({"ArnEquals": {"aws:SourceArn": alarm}}, **{"aws:SourceArn": alarm})
    assert holds(
        {"ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:*:{ACCOUNT}:alarm:tf-*"}}, **{"aws:SourceArn": alarm}
    )
    assert not holds({"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:*:1:alarm:*"}}, **{"aws:SourceArn": alarm})
    assert holds({"ArnNotEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:1:t"}}, **{"aws:SourceArn": alarm})
    assert not holds({"ArnNotLike": {"aws:SourceArn": "arn:aws:cloudwatch:*"}}, **{"aws:SourceArn": alarm})
    assert not holds({"ArnLike": {"aws:SourceArn": "*"}}, **{"aws:SourceArn": "not-an-arn"})


def test_bool_compares_true_and_false_whatever_their_type() -> None:
    assert holds({"Bool": {"aws:SecureTransport": "false"}}, **{"aws:SecureTransport": False})
    assert not holds({"Bool": {"aws:SecureTransport": "false"}}, **{"aws:SecureTransport": True})
    assert holds({"Bool": {"aws:SecureTransport": True}}, **{"aws:SecureTransport": "true"})


@pytest.mark.parametrize(
    ("operator", "policy_value", "holds_for"),
    [
        ("NumericEquals", "100", {"100"}),
        ("NumericNotEquals", "100", {"50", "150"}),
        ("NumericLessThan", "100", {"50"}),
        ("NumericLessThanEquals", "100", {"50", "100"}),
        ("NumericGreaterThan", "100", {"150"}),
        ("NumericGreaterThanEquals", "100", {"100", "150"}),
    ],
)
def test_numeric_operators(operator: str, policy_value: str, holds_for: set[str]) -> None:
    for value in ("50", "100", "150"):
        assert holds({operator: {"s3:max-keys": policy_value}}, **{"s3:max-keys": value}) is (value in holds_for)
    assert not holds({operator: {"s3:max-keys": policy_value}}, **{"s3:max-keys": "many"})


def test_date_and_ip_operators() -> None:
    assert holds(
        {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, **{"aws:CurrentTime": "2026-05-01T10:00:00Z"}
    )
    assert not holds({"DateGreaterThan": {"aws:EpochTime": "2030-01-01T00:00:00Z"}}, **{"aws:EpochTime": "1700000000"})
    assert holds({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, **{"aws:SourceIp": "203.0.113.9"})
    assert holds({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, **{"aws:SourceIp": "198.51.100.1"})


def test_condition_key_names_are_case_insensitive() -> None:
    assert holds({"StringEquals": {"AWS:RequestTag/Env": "prod"}}, **{"aws:requesttag/env": "prod"})


def test_an_unknown_operator_fails_closed_for_allow_and_deny() -> None:
    typo = {"StringEqualz": {"aws:RequestTag/env": "prod"}}
    assert not decide("sns:Publish", "*", doc(allow("sns:Publish", "*", typo))).allowed
    denied = decide("sns:Publish", "*", doc(allow("sns:Publish", "*"), deny("sns:Publish", "*", typo)))
    assert not denied.allowed and denied.explicit


def test_list_bucket_conditioned_on_prefix_does_not_count_for_a_get_object_request() -> None:
    """template.yaml's trap: a GetObject request has no s3:prefix key, so this grant is never in effect for it."""
    policy = doc(allow("s3:ListBucket", BUCKET_ARN, {"StringLike": {"s3:prefix": "state/cursors/*"}}))
    assert not decide("s3:ListBucket", BUCKET_ARN, policy, **{"aws:SecureTransport": True}).allowed
    assert decide("s3:ListBucket", BUCKET_ARN, policy, **{"s3:prefix": "state/cursors/feed"}).allowed


# --------------------------------------------------------------------------- resource-based policies

DENY_INSECURE = doc(
    {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
)


def test_the_templates_deny_insecure_transport_bucket_policy_denies_only_plain_http() -> None:
    identity = [doc(allow("s3:GetObject", f"{BUCKET_ARN}/*"))]
    over_tls = Request("s3:GetObject", f"{BUCKET_ARN}/k", {"aws:SecureTransport": True}, PRINCIPAL)
    over_http = Request("s3:GetObject", f"{BUCKET_ARN}/k", {"aws:SecureTransport": False}, PRINCIPAL)
    assert evaluate(over_tls, identity, resource_policy=DENY_INSECURE).allowed
    refused = evaluate(over_http, identity, resource_policy=DENY_INSECURE)
    assert not refused.allowed
    assert refused.reason("s3:GetObject") == "with an explicit deny in a resource-based policy"
    assert refused.statement is not None and refused.statement.sid == "DenyInsecureTransport"


def test_a_bucket_policy_naming_the_role_grants_without_an_identity_policy() -> None:
    bucket_policy = doc(allow("s3:GetObject", f"{BUCKET_ARN}/*", Principal={"AWS": ROLE_ARN}))
    request = Request("s3:GetObject", f"{BUCKET_ARN}/k", {}, PRINCIPAL)
    decision = evaluate(request, [], resource_policy=bucket_policy)
    assert decision.allowed and decision.policy_type == "resource-based"


def test_a_bucket_policy_naming_only_the_account_needs_an_identity_policy_too() -> None:
    bucket_policy = doc(allow("s3:GetObject", f"{BUCKET_ARN}/*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
    request = Request("s3:GetObject", f"{BUCKET_ARN}/k", {}, PRINCIPAL)
    assert not evaluate(request, [], resource_policy=bucket_policy).allowed
    assert evaluate(request, [doc(allow("s3:GetObject", "*"))], resource_policy=bucket_policy).allowed


def test_a_bucket_policy_for_another_principal_does_not_apply() -> None:
    bucket_policy = doc(deny("s3:*", "*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:role/someone-else"}))
    request = Request("s3:GetObject", f"{BUCKET_ARN}/k", {}, PRINCIPAL)
    assert evaluate(request, [doc(allow("s3:*", "*"))], resource_policy=bucket_policy).allowed


KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROOT_KEY_POLICY = doc(allow("kms:*", "*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
VIA_SNS = {"kms:ViaService": "sns.us-east-1.amazonaws.com", "kms:CallerAccount": ACCOUNT}


def test_a_key_policy_delegating_to_iam_needs_the_role_policy_with_its_via_service_condition() -> None:
    identity = [
        doc(
            allow(
                ["kms:GenerateDataKey", "kms:Decrypt"],
                KEY_ARN,
                {"StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"}},
            )
        )
    ]
    via_sns = Request("kms:GenerateDataKey", KEY_ARN, VIA_SNS, PRINCIPAL)
    direct = Request("kms:GenerateDataKey", KEY_ARN, {"kms:CallerAccount": ACCOUNT}, PRINCIPAL)
    assert evaluate(via_sns, identity, key_policy=ROOT_KEY_POLICY).allowed
    refused = evaluate(direct, identity, key_policy=ROOT_KEY_POLICY)
    assert not refused.allowed
    assert (
        refused.reason("kms:GenerateDataKey")
        == "because no identity-based policy allows the kms:GenerateDataKey action"
    )


def test_a_key_policy_that_neither_names_the_role_nor_delegates_allows_nothing() -> None:
    key_policy = doc(allow("kms:*", "*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:role/admin"}))
    request = Request("kms:Decrypt", KEY_ARN, VIA_SNS, PRINCIPAL)
    refused = evaluate(request, [doc(allow("kms:*", "*"))], key_policy=key_policy)
    assert not refused.allowed
    assert refused.reason("kms:Decrypt") == "because no resource-based policy allows the kms:Decrypt action"


def test_a_key_policy_naming_the_role_allows_without_an_identity_policy() -> None:
    key_policy = doc(allow("kms:Decrypt", "*", Principal={"AWS": ROLE_ARN}))
    assert evaluate(Request("kms:Decrypt", KEY_ARN, {}, PRINCIPAL), [], key_policy=key_policy).allowed


def test_a_permissions_boundary_caps_what_identity_policies_allow() -> None:
    request = Request("s3:PutObject", f"{BUCKET_ARN}/k", {}, PRINCIPAL)
    boundary = doc(allow("s3:GetObject", "*"))
    refused = evaluate(request, [doc(allow("s3:*", "*"))], permissions_boundary=boundary)
    assert not refused.allowed
    assert refused.reason("s3:PutObject") == "because no permissions boundary allows the s3:PutObject action"
    assert evaluate(request, [doc(allow("s3:*", "*"))], permissions_boundary=doc(allow("s3:*", "*"))).allowed

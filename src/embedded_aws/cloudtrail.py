"""CloudTrail's GuardDuty management events, for the embedded AWS.

In AWS every GuardDuty write call is a CloudTrail management event, and EventBridge receives it on the Region's
default bus as ``source: aws.guardduty``, ``detail-type: AWS API Call via CloudTrail``, with the caller in
``detail.userIdentity``. moto has no CloudTrail-to-EventBridge path, so the GuardDuty lists backend calls
:func:`record` after each create, update and delete it carries out, and the event goes through moto's EventBridge
to the stack's rules (``embedded_aws.events``): a list deactivated by hand, through boto3 in-process or the AWS CLI
against ``threatfeed local serve``, reaches the tamper watch as it would in AWS.

The caller is the request's access key: a key of :class:`embedded_aws.iam.Principals` (a function's execution
role, the state machine's) is an ``AssumedRole`` session of that role; any other key (the operator, the tests,
another process) is reported as moto's default identity, the IAM user ``moto`` of the account.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_principals: Any = None


@contextmanager
def management_events(principals: Any) -> Iterator[None]:
    """Emit GuardDuty management events for the block, naming ``principals``' callers by their role."""
    global _principals
    _principals = principals
    try:
        yield
    finally:
        _principals = None


def _access_key(headers: Mapping[str, str]) -> str | None:
    match = _CREDENTIAL.search(str(headers.get("Authorization") or headers.get("authorization") or ""))
    return match.group(1) if match else None


def user_identity(access_key: str | None, account: str) -> dict[str, Any]:
    """CloudTrail's ``userIdentity`` for the caller holding ``access_key``."""
    caller = _principals.get(access_key) if _principals is not None and access_key else None
    if caller is not None:
        role_id = "AROA" + uuid.uuid5(uuid.NAMESPACE_URL, caller.role_arn).hex[:17].upper()
        return {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{caller.session_name}",
            "arn": caller.arn,
            "accountId": caller.account,
            "accessKeyId": access_key,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": caller.role_arn,
                    "accountId": caller.account,
                    "userName": caller.role_name,
                },
                "attributes": {"mfaAuthenticated": "false"},
            },
        }
    return {
        "type": "IAMUser",
        "principalId": "AIDAEMBEDDEDAWSMOTO",
        "arn": f"arn:aws:iam::{account}:user/moto",
        "accountId": account,
        "accessKeyId": access_key or "",
        "userName": "moto",
    }


def record(
    *,
    account: str,
    region: str,
    event_name: str,
    headers: Mapping[str, str],
    request_parameters: Mapping[str, Any],
    response_elements: Mapping[str, Any] | None = None,
    source_ip: str = "127.0.0.1",
) -> str | None:
    """Put the CloudTrail event of a successful GuardDuty call on ``region``'s default bus; its event id (None
    while no embedded AWS is running, e.g. the GuardDuty backend's own unit tests)."""
    if _principals is None:
        return None
    import datetime

    from embedded_aws.events import put_event

    access_key = _access_key(headers)
    detail = {
        "eventVersion": "1.08",
        "userIdentity": user_identity(access_key, account),
        "eventTime": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "guardduty.amazonaws.com",
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": str(headers.get("User-Agent") or headers.get("user-agent") or ""),
        "requestParameters": dict(request_parameters),
        "responseElements": dict(response_elements) if response_elements else None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    return put_event(account, region, "aws.guardduty", "AWS API Call via CloudTrail", detail)

"""IAM enforcement for the embedded AWS, at the botocore client level: a request signed with a registered
role's access key is checked against that role's policies *before* moto sees it, and refused with the error
AWS sends (moto's own access control is partial and stays off).

    principals = Principals()
    env = principals.credentials_for(function_role_arn, "my-function")   # AWS_ACCESS_KEY_ID=ASIA..., ...
    principals.register("ak", state_machine_role_arn, "states-execution")  # moto's ASL interpreter's key
    with iam_enforced(principals) as enforcement:
        ...                      # enforcement.denials: every refusal, with the deciding statement

How: two handlers are put first in botocore's ``BUILTIN_HANDLERS`` (so every botocore session created while
enforcement is on has them, including the ``boto3.DEFAULT_SESSION`` that ``mock_aws`` recreates) and on the
current default session. ``before-parameter-build`` keeps the call's parameters as the caller passed them;
``before-call`` (emitted after parameter validation, before any ``before-send`` handler, so before moto's
``botocore_stubber``) identifies the caller from the request signer's access key id, and for a registered
one returns ``(http_response, parsed)``, which short-circuits the call: no request is sent, moto never answers
it, botocore raises the ``ClientError`` (modelled class where the service has one) from the parsed error.
Callers whose key is not registered (the operator, the test harness: key ``testing``) are unrestricted.
Clients created before enforcement was switched on lack the handlers: :func:`watch_client` adds them.

What a registered caller is checked against, at the time of each request: the role's inline policies and
attached managed policies as moto's IAM backend holds them (AWS managed ones included; moto's CloudFormation
ignores a role's ``ManagedPolicyArns``, see :func:`attach_template_managed_policies`), its permissions
boundary, and the resource's policy: the S3 bucket policy (``aws:SecureTransport`` is true: boto3's
endpoints are https) and the KMS key policy where a key is involved. What each request needs is
:mod:`embedded_aws.iam.requests`; an operation without a rule there is denied, naming where to add one.

Not enforced: requests that reach a ``ThreadedMotoServer`` over HTTP from outside this process, and anything
moto does internally without botocore.
"""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

import botocore.handlers
from botocore import parsers
from botocore.awsrequest import AWSResponse

from embedded_aws.iam.moto_state import MotoState
from embedded_aws.iam.policy import ContextValue, Decision, Policy, Principal, Request, evaluate
from embedded_aws.iam.requests import NoAuthorizationRule, Permission, ResourceState, required_permissions

__all__ = [
    "Caller",
    "Denial",
    "IamEnforcement",
    "Principals",
    "RolePolicies",
    "attach_managed_policies",
    "attach_template_managed_policies",
    "error_response",
    "fake_credentials",
    "iam_enforced",
    "role_policies",
    "role_policy_set",
    "watch_client",
]

logger = logging.getLogger(__name__)

_ROLE_ARN = re.compile(r"^arn:(?P<partition>[^:]+):iam::(?P<account>\d{12}):role/(?:.*/)?(?P<name>[^/]+)$")
_PARAMS_KEY = "embedded_aws.iam.params"  # where the call's parameters wait in botocore's request context


# --------------------------------------------------------------------------- principals


@dataclass(frozen=True)
class Caller:
    """A registered access key: the role session it stands for."""

    access_key_id: str
    role_arn: str
    session_name: str

    def _part(self, name: str) -> str:
        match = _ROLE_ARN.match(self.role_arn)
        assert match is not None  # checked by Principals.register
        return match.group(name)

    @property
    def account(self) -> str:
        return self._part("account")

    @property
    def partition(self) -> str:
        return self._part("partition")

    @property
    def role_name(self) -> str:
        return self._part("name")

    @property
    def arn(self) -> str:
        """The assumed-role session ARN AWS names in its errors (the role name without its path)."""
        return f"arn:{self.partition}:sts::{self.account}:assumed-role/{self.role_name}/{self.session_name}"

    def principal(self) -> Principal:
        return Principal(self.arn, self.account, self.role_arn)


def fake_credentials(role_arn: str, session_name: str) -> dict[str, str]:
    """Deterministic fake STS credentials for a role session: a distinct ``ASIA...`` key id per (role, session)."""
    seed = f"{role_arn}\n{session_name}".encode()
    key_id = "ASIA" + base64.b32encode(hashlib.sha256(b"key-id\n" + seed).digest()).decode()[:16]
    secret = base64.b64encode(hashlib.sha256(b"secret\n" + seed).digest()).decode()[:40]
    token = "embedded-aws-session/" + hashlib.sha256(b"token\n" + seed).hexdigest()
    return {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token}


class Principals:
    """The registry of enforced callers: access key id -> role session. Thread-safe."""

    def __init__(self) -> None:
        self._callers: dict[str, Caller] = {}
        self._lock = threading.Lock()

    def register(self, access_key_id: str, role_arn: str, session_name: str | None = None) -> Caller:
        """Enforce ``role_arn``'s policies on requests signed with ``access_key_id``."""
        match = _ROLE_ARN.match(role_arn)
        if match is None:
            raise ValueError(f"{role_arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        caller = Caller(access_key_id, role_arn, session_name or match.group("name"))
        with self._lock:
            self._callers[access_key_id] = caller
        return caller

    def credentials_for(self, role_arn: str, session_name: str | None = None) -> dict[str, str]:
        """Register a fake key for a session of ``role_arn`` and return it as the environment variables Lambda
        sets (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``). The session name
        defaults to the role's name; Lambda uses the function's name."""
        match = _ROLE_ARN.match(role_arn)
        session = session_name or (match.group("name") if match else "session")
        credentials = fake_credentials(role_arn, session)
        self.register(credentials["AWS_ACCESS_KEY_ID"], role_arn, session)
        return credentials

    def unregister(self, access_key_id: str) -> None:
        with self._lock:
            self._callers.pop(access_key_id, None)

    def get(self, access_key_id: str | None) -> Caller | None:
        if access_key_id is None:
            return None
        with self._lock:
            return self._callers.get(access_key_id)

    def callers(self) -> list[Caller]:
        with self._lock:
            return list(self._callers.values())

    def __contains__(self, access_key_id: object) -> bool:
        with self._lock:
            return access_key_id in self._callers


# --------------------------------------------------------------------------- the role's policies in moto


@dataclass(frozen=True)
class RolePolicies:
    """What moto's IAM holds for a role right now."""

    identity: list[Policy]
    boundary: Policy | None = None
    role_id: str | None = None
    found: bool = True


def _iam_backend(account_id: str, partition: str = "aws") -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account_id]["global" if partition == "aws" else partition]


def _find_role(backend: Any, role_arn: str) -> Any:
    return next((role for role in backend.roles.values() if role.arn == role_arn), None)


def _document(value: Any) -> Mapping[str, Any]:
    """A stored policy document: a dict (moto's CloudFormation) or JSON text, possibly URL-encoded."""
    if isinstance(value, Mapping):
        return value
    text = str(value)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(unquote(text))


def _aws_managed_data(policy_arn: str) -> dict[str, Any] | None:
    """An AWS managed policy from the copy bundled with moto (used when moto was not told to load them)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    if ":iam::aws:policy/" not in policy_arn:
        return None
    return json.loads(aws_managed_policies_data).get(policy_arn.rsplit("/", 1)[-1])


def _managed_document(backend: Any, policy_arn: str) -> Mapping[str, Any] | None:
    policy = backend.managed_policies.get(policy_arn)
    if policy is not None:
        default = next((v for v in policy.versions if v.is_default), None)
        return _document(default.document) if default is not None else None
    data = _aws_managed_data(policy_arn)
    return data["Document"] if data else None


def role_policy_set(account_id: str, role_arn: str) -> RolePolicies:
    """The role's inline and attached managed policies (and permissions boundary), named for messages."""
    match = _ROLE_ARN.match(role_arn)
    backend = _iam_backend(account_id, match.group("partition") if match else "aws")
    role = _find_role(backend, role_arn)
    if role is None:
        return RolePolicies([], found=False)
    identity = [Policy(f"inline policy {name} of {role.name}", _document(doc)) for name, doc in role.policies.items()]
    for arn in role.managed_policies:
        document = _managed_document(backend, arn)
        if document is not None:
            identity.append(Policy(f"managed policy {arn}", document))
    boundary = None
    if role.permissions_boundary_arn:
        document = _managed_document(backend, role.permissions_boundary_arn)
        # A boundary moto cannot resolve allows nothing: never kinder than AWS.
        boundary = Policy(f"permissions boundary {role.permissions_boundary_arn}", document or {"Statement": []})
    return RolePolicies(identity, boundary, role.id)


def role_policies(account_id: str, role_arn: str) -> list[dict[str, Any]]:
    """The documents of the role's inline and attached managed policies, as moto's IAM holds them now."""
    return [dict(policy.document) for policy in role_policy_set(account_id, role_arn).identity]


def attach_managed_policies(account_id: str, role_arn: str, policy_arns: Iterable[str]) -> None:
    """Attach managed policies to a role in moto's IAM. AWS managed ones moto has not loaded (it loads them only
    with ``config={"iam": {"load_aws_managed_policies": True}}``) are added from moto's bundled copy first."""
    from moto.iam.models import AWSManagedPolicy

    match = _ROLE_ARN.match(role_arn)
    backend = _iam_backend(account_id, match.group("partition") if match else "aws")
    role = _find_role(backend, role_arn)
    if role is None:
        raise KeyError(f"no role {role_arn} in moto's IAM")
    for arn in policy_arns:
        policy = backend.managed_policies.get(arn)
        if policy is None:
            data = _aws_managed_data(arn)
            if data is None:
                raise KeyError(f"no managed policy {arn} in moto's IAM")
            policy = AWSManagedPolicy.from_data(arn.rsplit("/", 1)[-1], account_id, backend.region_name, data)
            backend.managed_policies[policy.arn] = policy
        if arn not in role.managed_policies:
            policy.attach_to(role)


def attach_template_managed_policies(stack: Any) -> dict[str, list[str]]:
    """Attach each role's ``ManagedPolicyArns`` from a deployed stack's (transformed) template, which moto's
    CloudFormation ignores (SAM's AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess...).

    ``stack`` is an ``embedded_aws.stack.DeployedStack`` (``template``, ``physical_id()``, ``account_id``,
    ``region``). Returns role ARN -> the policy ARNs attached.
    """
    from embedded_aws.iam.requests import partition_of

    partition = partition_of(stack.region)
    backend = _iam_backend(stack.account_id, partition)
    attached: dict[str, list[str]] = {}
    for logical_id, resource in stack.template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        listed = resource.get("Properties", {}).get("ManagedPolicyArns", [])
        arns = [arn for arn in (_template_arn(value, partition) for value in listed) if arn]
        if not arns:
            continue
        role = backend.get_role(stack.physical_id(logical_id))
        attach_managed_policies(stack.account_id, role.arn, arns)
        attached[role.arn] = arns
    return attached


def _template_arn(value: Any, partition: str) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("Fn::Sub"), str):
        return value["Fn::Sub"].replace("${AWS::Partition}", partition)
    return None


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Denial:
    """A refused request: the AWS-format error and what decided it."""

    caller: Caller
    service: str
    operation: str
    code: str
    status: int
    message: str  # as the error carries it
    request_id: str
    permission: Permission | None  # None: the embedded AWS has no authorization rule for the operation
    decision: Decision | None

    def explain(self) -> str:
        """The message plus what the embedded AWS knows and AWS does not say (statement, why)."""
        details = [self.message]
        if self.permission is not None and self.permission.why:
            details.append(f"Needed because {self.permission.why}.")
        if self.decision is not None and self.decision.statement is not None:
            details.append(f"Denied by {self.decision.statement}.")
        return " ".join(details)


#: The error each service sends when IAM refuses a request: (code, HTTP status).
_SERVICE_ERRORS: dict[str, tuple[str, int]] = {
    "s3": ("AccessDenied", 403),
    "sns": ("AuthorizationError", 403),
    "sqs": ("AccessDenied", 403),
    "sts": ("AccessDenied", 403),
    "iam": ("AccessDenied", 403),
    "cloudwatch": ("AccessDenied", 403),
    "ec2": ("UnauthorizedOperation", 403),
    "lambda": ("AccessDeniedException", 403),
    "guardduty": ("AccessDeniedException", 403),
}
_PROTOCOL_ERRORS: dict[str, tuple[str, int]] = {
    "json": ("AccessDeniedException", 400),
    "rest-json": ("AccessDeniedException", 403),
    "query": ("AccessDenied", 403),
    "rest-xml": ("AccessDenied", 403),
    "ec2": ("UnauthorizedOperation", 403),
}


def _service_error(service: str, protocol: str | None) -> tuple[str, int]:
    if service in _SERVICE_ERRORS:
        return _SERVICE_ERRORS[service]
    return _PROTOCOL_ERRORS.get(protocol or "json", ("AccessDeniedException", 400))


def _message(caller: Caller, service: str, permission: Permission, decision: Decision, request_id: str) -> str:
    """AWS's wording: ``User: <session arn> is not authorized to perform: <action> on resource: <arn> because no
    identity-based policy allows the <action> action`` (S3 quotes the resource; SNS writes ``SNS:Publish``;
    actions without resource-level permissions name no resource; EC2 prefixes its own sentence)."""
    action = permission.action
    if service == "sns" and action.startswith("sns:"):
        action = "SNS:" + action[len("sns:") :]
    if permission.resource == "*":
        on = ""
    elif service == "s3" and action.startswith("s3:"):
        on = f' on resource: "{permission.resource}"'
    else:
        on = f" on resource: {permission.resource}"
    text = f"User: {caller.arn} is not authorized to perform: {action}{on} {decision.reason(action)}"
    if service == "ec2":
        text = "You are not authorized to perform this operation. " + text
    if permission.error is not None:
        text += permission.error.message_suffix.replace("{request_id}", request_id)
    return text


def _now_context(region: str) -> dict[str, ContextValue]:
    now = datetime.datetime.now(datetime.UTC)
    return {
        "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now.timestamp())),
        "aws:RequestedRegion": region,
    }


class IamEnforcement:
    """Decides requests of registered callers; keeps every denial in :attr:`denials`."""

    def __init__(self, principals: Principals, state: ResourceState | None = None) -> None:
        self.principals = principals
        self.state = state if state is not None else MotoState()
        self.denials: list[Denial] = []
        self.checked = 0  # requests of registered callers decided (allowed or not)
        self._lock = threading.Lock()

    def check(
        self, access_key_id: str, service: str, operation: str, params: Mapping[str, Any], region: str
    ) -> Denial | None:
        """The denial of this request, or None if it may proceed (unregistered keys always may)."""
        caller = self.principals.get(access_key_id)
        if caller is None:
            return None
        return self.decide(caller, service, operation, params, region)

    def decide(
        self,
        caller: Caller,
        service: str,
        operation: str,
        params: Mapping[str, Any],
        region: str,
        *,
        protocol: str | None = None,
    ) -> Denial | None:
        with self._lock:
            self.checked += 1
        request_id = str(uuid.uuid4())
        code, status = _service_error(service, protocol)
        try:
            permissions = required_permissions(
                service, operation, params, region=region, account=caller.account, state=self.state
            )
        except NoAuthorizationRule as missing:
            message = f"User: {caller.arn} is not authorized to perform {service} {operation}. {missing}"
            return self._record(Denial(caller, service, operation, code, status, message, request_id, None, None))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as broken:
            # Parameters a rule cannot read (moto's ASL interpreter skips botocore's validation): refuse, saying
            # why, rather than let through a request nobody authorized.
            message = (
                f"User: {caller.arn} is not authorized to perform {service} {operation}: the embedded AWS could not "
                f"work out its permissions from the request parameters ({type(broken).__name__}: {broken})."
            )
            return self._record(Denial(caller, service, operation, code, status, message, request_id, None, None))
        if not permissions:
            return None
        policies = role_policy_set(caller.account, caller.role_arn)
        base = self._base_context(caller, policies, region)
        for permission in permissions:
            decision = self._evaluate(caller, permission, base, policies)
            if decision.allowed:
                continue
            if permission.error is not None:
                code, status = permission.error.code, permission.error.status
            message = _message(caller, service, permission, decision, request_id)
            return self._record(
                Denial(caller, service, operation, code, status, message, request_id, permission, decision)
            )
        return None

    @staticmethod
    def _base_context(caller: Caller, policies: RolePolicies, region: str) -> dict[str, ContextValue]:
        """Global condition keys every request of a role session carries."""
        context: dict[str, ContextValue] = {
            **_now_context(region),
            "aws:SecureTransport": True,
            "aws:ViaAWSService": False,
            "aws:PrincipalArn": caller.role_arn,
            "aws:PrincipalAccount": caller.account,
            "aws:PrincipalType": "AssumedRole",
            "aws:ResourceAccount": caller.account,
        }
        if policies.role_id:
            context["aws:userid"] = f"{policies.role_id}:{caller.session_name}"
        return context

    @staticmethod
    def _evaluate(
        caller: Caller, permission: Permission, base: Mapping[str, ContextValue], policies: RolePolicies
    ) -> Decision:
        request = Request(permission.action, permission.resource, {**base, **permission.context}, caller.principal())
        resource_policy = key_policy = None
        source = permission.resource_policy
        if source is not None and source.document is not None:
            if source.kind == "kms-key":
                key_policy = Policy.of(source.document, f"key policy of {source.arn}")
            else:
                resource_policy = Policy.of(source.document, f"bucket policy of {source.arn}")
        return evaluate(
            request,
            policies.identity,
            resource_policy=resource_policy,
            key_policy=key_policy,
            permissions_boundary=policies.boundary,
        )

    def _record(self, denial: Denial) -> Denial:
        with self._lock:
            self.denials.append(denial)
        logger.info("embedded AWS IAM denied %s %s: %s", denial.service, denial.operation, denial.explain())
        return denial


# --------------------------------------------------------------------------- the error AWS sends


class _Body:
    """The raw body of an :class:`AWSResponse` (it reads ``raw.stream()``)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        if self._data:
            yield self._data


def _error_body(operation_model: Any, denial: Denial) -> tuple[dict[str, str], bytes]:
    """Headers and body of the service's error response, in its protocol."""
    protocol = operation_model.service_model.resolved_protocol
    rid, code, message = denial.request_id, denial.code, denial.message
    if protocol == "rest-xml":
        headers = {"x-amz-request-id": rid, "x-amz-id-2": base64.b64encode(rid.encode()).decode()}
        if operation_model.http.get("method") == "HEAD":
            return headers, b""  # S3 sends no body with a HEAD error: botocore reports code "403"
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(message)}</Message>'
            f"<RequestId>{rid}</RequestId><HostId>{headers['x-amz-id-2']}</HostId></Error>"
        )
        return {**headers, "Content-Type": "application/xml"}, xml.encode()
    if protocol == "query":
        xml = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{rid}</RequestId></ErrorResponse>"
        )
        return {"x-amzn-RequestId": rid, "Content-Type": "text/xml"}, xml.encode()
    if protocol == "ec2":
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error></Errors><RequestID>{rid}</RequestID></Response>"
        )
        return {"Content-Type": "text/xml;charset=UTF-8"}, xml.encode()
    if protocol == "rest-json":
        service = operation_model.service_model.service_name
        body = {"Type": "User", "Message": message} if service == "lambda" else {"message": message, "__type": code}
        headers = {"x-amzn-RequestId": rid, "x-amzn-ErrorType": code, "Content-Type": "application/json"}
        return headers, json.dumps(body).encode()
    version = operation_model.service_model.metadata.get("jsonVersion", "1.1")
    headers = {"x-amzn-RequestId": rid, "Content-Type": f"application/x-amz-json-{version}"}
    return headers, json.dumps({"__type": code, "message": message}).encode()


def error_response(operation_model: Any, denial: Denial) -> tuple[AWSResponse, dict[str, Any]]:
    """``(http_response, parsed)`` as botocore would have them from the service's error: the body is written
    in the service's protocol and parsed by botocore's own parser (modelled error fields included)."""
    headers, body = _error_body(operation_model, denial)
    http = AWSResponse("https://embedded-aws.iam.invalid/", denial.status, headers, _Body(body))
    protocol = operation_model.service_model.resolved_protocol
    if protocol in ("json", "rest-json", "query", "ec2", "rest-xml"):
        response_dict = {
            "headers": http.headers,
            "status_code": denial.status,
            "body": http.content,
            "context": {"operation_name": operation_model.name},
        }
        parser = parsers.create_parser(protocol)
        parsed = parser.parse(response_dict, operation_model.output_shape)
        error_shape = operation_model.service_model.shape_for_error_code(parsed.get("Error", {}).get("Code"))
        if error_shape is not None:
            parsed.update(parser.parse(response_dict, error_shape))
    else:  # e.g. CloudWatch's smithy-rpc-v2-cbor: what botocore's parser yields for a query-compatible error
        parsed = {
            "Error": {"Code": denial.code, "Message": denial.message, "Type": "Sender"},
            "ResponseMetadata": {
                "RequestId": denial.request_id,
                "HTTPStatusCode": denial.status,
                "HTTPHeaders": dict(http.headers),
            },
        }
    parsed.setdefault("ResponseMetadata", {})["RetryAttempts"] = 0
    return http, parsed


# --------------------------------------------------------------------------- the botocore handlers

_active: list[IamEnforcement] = []
_active_lock = threading.Lock()


def _current() -> IamEnforcement | None:
    return _active[-1] if _active else None


def _remember_params(params: Mapping[str, Any], context: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """``before-parameter-build``: keep the parameters as the caller passed them (later handlers rewrite some,
    e.g. S3's CopySource) for the ``before-call`` check."""
    if context is not None and _active:
        context[_PARAMS_KEY] = copy.copy(dict(params))


def _access_key_id(request_signer: Any) -> str | None:
    credentials = getattr(request_signer, "_credentials", None)
    if credentials is None:
        return None
    frozen = credentials.get_frozen_credentials() if hasattr(credentials, "get_frozen_credentials") else credentials
    return getattr(frozen, "access_key", None)


def _before_call(
    model: Any, request_signer: Any = None, context: dict[str, Any] | None = None, **kwargs: Any
) -> tuple[AWSResponse, dict[str, Any]] | None:
    """``before-call``: refuse a registered caller's request that its role may not make."""
    enforcement = _current()
    if enforcement is None:
        return None
    caller = enforcement.principals.get(_access_key_id(request_signer))
    if caller is None:
        return None
    context = context or {}
    region = context.get("client_region") or getattr(request_signer, "region_name", None) or "us-east-1"
    denial = enforcement.decide(
        caller,
        model.service_model.service_name,
        model.name,
        context.get(_PARAMS_KEY, {}),
        region,
        protocol=model.service_model.resolved_protocol,
    )
    return None if denial is None else error_response(model, denial)


_HANDLERS = (
    ("before-parameter-build", _remember_params, botocore.handlers.REGISTER_FIRST),
    ("before-call", _before_call, botocore.handlers.REGISTER_FIRST),
)


def _unique_id(event: str) -> str:
    return f"embedded_aws.iam.{event}"


def watch_client(client: Any) -> Any:
    """Add the enforcement handlers to a client created before :func:`iam_enforced` was entered."""
    for event, handler, _ in _HANDLERS:
        client.meta.events.register_first(event, handler, unique_id=_unique_id(event))
    return client


def _default_session_events() -> Any:
    import boto3

    session = boto3.DEFAULT_SESSION
    return session.events if session is not None else None


def _install() -> None:
    for spec in _HANDLERS:
        if spec not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.insert(0, spec)
    events = _default_session_events()
    if events is not None:
        for event, handler, _ in _HANDLERS:
            events.register_first(event, handler, unique_id=_unique_id(event))


def _uninstall() -> None:
    for spec in _HANDLERS:
        while spec in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.remove(spec)
    events = _default_session_events()
    if events is not None:
        for event, handler, _ in _HANDLERS:
            events.unregister(event, handler, unique_id=_unique_id(event))


@contextmanager
def iam_enforced(principals: Principals, *, state: ResourceState | None = None) -> Iterator[IamEnforcement]:
    """Enforce IAM on registered callers for the block (nested blocks: the innermost decides)."""
    enforcement = IamEnforcement(principals, state)
    with _active_lock:
        _active.append(enforcement)
        if len(_active) == 1:
            _install()
    try:
        yield enforcement
    finally:
        with _active_lock:
            _active.remove(enforcement)
            if not _active:
                _uninstall()

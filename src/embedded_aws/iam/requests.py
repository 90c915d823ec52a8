"""What AWS authorizes for an API request: (service, operation, params) -> the permissions it needs.

Each required :class:`Permission` is an IAM action, the resource ARN it is checked on (``"*"`` for actions
without resource-level permissions), the request-context condition keys the service supplies, and, where one
applies, the resource-based policy evaluated with it (an S3 bucket policy, a KMS key policy). An operation
without a rule here raises :class:`NoAuthorizationRule`: the embedded AWS then *denies* it, never allows it
silently, because it must never be kinder than AWS. To cover a new operation, add a function decorated with
``@rule("<botocore service name>", "<Operation>")`` that returns its permissions.

Existing resources (a GuardDuty list's tags, a secret's full ARN, a topic's KMS key, whether an S3 object
exists) come from a :class:`ResourceState`; this module itself imports neither moto nor boto
(``embedded_aws.iam.moto_state`` reads them from moto; the one moto-backed import, GuardDuty's location parser
``embedded_aws.guardduty.models.parse_location``, happens only when an entity list is activated).

Sources, and what is not confirmed
----------------------------------
Checked against the Service Authorization Reference (its machine-readable mirror in iann0036/iam-dataset,
``aws/iam_definition.json``, and AWS's pages):

* GuardDuty: ``ListDetectors`` and ``List*Sets``/``ListIPSets`` have no resource type (``*``);
  ``Create*Set``/``CreateIPSet`` have none either, take ``aws:RequestTag/${TagKey}`` and ``aws:TagKeys``, and
  list ``guardduty:TagResource`` as a dependent action; ``Get/Update/Delete`` are authorized on the set
  (``arn:${Partition}:guardduty:${Region}:${Account}:detector/${DetectorId}/<threatintelset|ipset|
  threatentityset|trustedentityset>/${Id}``) with ``aws:ResourceTag/${TagKey}``; ``TagResource``,
  ``UntagResource`` and ``ListTagsForResource`` on the tagged resource (detector or set) with
  ``aws:RequestTag``/``aws:TagKeys``/``aws:ResourceTag`` as listed there.
* S3: the ``s3:if-none-match``/``s3:if-match`` condition keys (S3 User Guide, "Enforce conditional writes").
* The access-denied message formats: ``User: <arn> is not authorized to perform: <action> on resource: <arn>
  because no identity-based policy allows the <action> action`` / ``with an explicit deny in a resource-based
  policy`` (IAM User Guide); S3 quotes the resource ARN, SNS writes the action ``SNS:Publish`` with code
  ``AuthorizationError`` (real error messages quoted in public issues). For a missing object S3 names
  ``s3:ListBucket`` on the bucket.
* CloudWatch Logs requires ``logs:TagResource`` too when ``CreateLogGroup`` has tags (its own error text).

Not confirmed in a primary source (from knowledge of AWS; check before relying on them):

* The GuardDuty user guide's ``iam:PutRolePolicy``/``iam:DeleteRolePolicy`` on the GuardDuty service-linked
  role for threat/trusted *IP* lists is applied to Create/Update (Put) and Delete; the Service Authorization
  Reference does not list it as a dependent action. Activating an *entity* list needs the caller's own
  ``s3:GetObject`` on its Location (FACTS.md). ``guardduty:TagResource`` on create-with-tags is checked on the
  new set's ARN with ``*`` for the id that does not exist yet. What GuardDuty itself answers when a dependent
  permission is missing is not known; the embedded AWS answers its AccessDeniedException naming it.
* Step Functions (``states:StartExecution``/``DescribeStateMachine``/``ListExecutions`` on the state machine,
  ``DescribeExecution``/``GetExecutionHistory``/``StopExecution`` on the execution), Lambda
  (``lambda:InvokeFunction`` on the function ARN, qualified ARN when a qualifier is given), SSM
  (``ssm:GetParameter(s)``/``PutParameter`` on ``parameter/<name>``; ``ssm:AddTagsToResource`` when tags are
  given), Secrets Manager (the secret's ARN; ``secretsmanager:SecretId``, ``...:ResourceTag``,
  ``...:VersionId``/``VersionStage``), KMS (``kms:CallerAccount``, ``kms:ViaService``,
  ``kms:EncryptionContext:<k>``, ``kms:EncryptionContextKeys``, ``kms:RequestAlias``), SNS (publishing to an
  encrypted topic needs ``kms:GenerateDataKey`` and ``kms:Decrypt`` via ``sns.<region>.amazonaws.com``, a denial
  reported as ``KMSAccessDenied``), CloudWatch (``cloudwatch:PutMetricData`` on ``*`` with
  ``cloudwatch:namespace``, code ``AccessDenied``), CloudWatch Logs (log-group actions checked on
  ``log-group:<name>:log-stream:``, stream actions on ``log-group:<name>:log-stream:<stream>``), EC2
  (``Describe*`` on ``*`` with ``ec2:Region``), S3 context keys ``s3:prefix``, ``s3:delimiter``,
  ``s3:max-keys``, ``s3:versionid``, ``s3:x-amz-*``, ``s3:RequestObjectTag/<k>``, and the tag permissions of
  ``PutObject``/``CopyObject``.
* A service using an AWS managed key (``alias/aws/<service>``) for the caller needs no KMS permission of it
  (that key's policy allows the account's principals through the service).
* Not modelled: SSE-KMS on S3 objects and KMS-encrypted SecureString parameters (kms:Decrypt via those
  services), ``s3:ExistingObjectTag``, principal tags, VPC endpoint and network condition keys.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote

from embedded_aws.iam.policy import ContextValue

__all__ = [
    "GUARDDUTY_SERVICE_ROLE",
    "RULES",
    "Call",
    "KmsKey",
    "NoAuthorizationRule",
    "Permission",
    "ResourcePolicy",
    "ResourceState",
    "SecretInfo",
    "ServiceError",
    "covered_operations",
    "partition_of",
    "required_permissions",
    "rule",
]

GUARDDUTY_SERVICE_ROLE = "role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty"
RULES_FILE = "src/embedded_aws/iam/requests.py"
#: botocore service names, plus the IAM prefixes people also use for them.
SERVICE_ALIASES = {"states": "stepfunctions", "sfn": "stepfunctions", "monitoring": "cloudwatch"}


# --------------------------------------------------------------------------- what a rule returns


@dataclass(frozen=True)
class ResourcePolicy:
    """A resource-based policy evaluated with a permission: an S3 bucket policy or a KMS key policy."""

    kind: Literal["s3-bucket", "kms-key"]
    arn: str
    document: Mapping[str, Any] | str | None  # None: the resource has no policy (a bucket without one)


@dataclass(frozen=True)
class ServiceError:
    """How the service reports this permission's denial when it differs from its usual access-denied error
    (SNS publishing to a topic whose KMS key the publisher may not use answers ``KMSAccessDenied``)."""

    code: str
    status: int
    message_suffix: str = ""  # appended to the message; ``{request_id}`` is replaced


@dataclass(frozen=True)
class Permission:
    """One thing AWS checks for a request: ``action`` on ``resource`` with ``context``."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    resource_policy: ResourcePolicy | None = None
    why: str = ""  # why it is needed when it is not the operation's own action (dependent action, missing key)
    error: ServiceError | None = None


class NoAuthorizationRule(LookupError):
    """The embedded AWS does not know what AWS authorizes for this operation, so it denies it."""

    def __init__(self, service: str, operation: str) -> None:
        super().__init__(service, operation)
        self.service = service
        self.operation = operation

    def __str__(self) -> str:
        return (
            f"The embedded AWS has no authorization rule for {self.service} {self.operation}, so it denies the "
            f"request rather than allow what AWS might refuse. Add a rule for ({self.service!r}, "
            f"{self.operation!r}) in {RULES_FILE} (the actions, resources and condition keys the Service "
            "Authorization Reference lists for it)."
        )


# --------------------------------------------------------------------------- existing resources


@dataclass(frozen=True)
class SecretInfo:
    arn: str
    tags: Mapping[str, str]
    kms_key_id: str | None  # None or the AWS managed key: nothing for the caller to be allowed


@dataclass(frozen=True)
class KmsKey:
    arn: str
    policy: Mapping[str, Any] | str | None
    aws_managed: bool = False  # an ``alias/aws/<service>`` key: its policy lets the account use it via the service


class ResourceState:
    """What the rules need to know about existing resources. This base knows nothing (every answer None:
    "unknown"), so rules fall back to what the request alone says; ``moto_state.MotoState`` reads moto."""

    def s3_bucket_policy(self, account: str, bucket: str) -> Mapping[str, Any] | str | None:
        return None

    def s3_object_exists(self, account: str, bucket: str, key: str, version_id: str | None) -> bool | None:
        return None

    def s3_object_tags(self, account: str, bucket: str, key: str, version_id: str | None) -> Mapping[str, str] | None:
        return None

    def guardduty_tags(self, account: str, region: str, arn: str) -> Mapping[str, str] | None:
        return None

    def guardduty_set_location(self, account: str, region: str, set_id: str) -> str | None:
        return None

    def secret(self, account: str, region: str, secret_id: str) -> SecretInfo | None:
        return None

    def sns_topic_kms_key(self, account: str, region: str, topic_arn: str) -> str | None:
        return None

    def kms_key(self, account: str, region: str, key_id: str) -> KmsKey | None:
        return None

    def kms_key_of_ciphertext(self, account: str, region: str, blob: bytes) -> KmsKey | None:
        return None


# --------------------------------------------------------------------------- the call and the registry


@dataclass(frozen=True)
class Call:
    """One API request as a rule sees it."""

    service: str
    operation: str
    params: Mapping[str, Any]
    region: str
    account: str
    state: ResourceState

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def arn(self, service: str, resource: str, *, region: str | None = None, account: str | None = None) -> str:
        """An ARN of this partition, in the call's Region and account unless told otherwise."""
        region = self.region if region is None else region
        account = self.account if account is None else account
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"


Rule = Callable[[Call], list[Permission]]
RULES: dict[tuple[str, str], Rule] = {}


def rule(service: str, *operations: str) -> Callable[[Rule], Rule]:
    """Register the decorated function as the rule of ``service``'s ``operations``."""

    def register(function: Rule) -> Rule:
        for operation in operations:
            RULES[(service, operation)] = function
        return function

    return register


def required_permissions(
    service: str,
    operation: str,
    params: Mapping[str, Any],
    *,
    region: str,
    account: str,
    state: ResourceState | None = None,
) -> list[Permission]:
    """The permissions AWS checks for ``operation`` (botocore's name, e.g. ``GetObject``) called with ``params``
    (as passed to the client) in ``region`` by a principal of ``account``. An empty list: nothing to check.
    Raises :class:`NoAuthorizationRule` for an operation this module does not cover."""
    service = SERVICE_ALIASES.get(service, service)
    function = RULES.get((service, operation))
    if function is None:
        raise NoAuthorizationRule(service, operation)
    return function(Call(service, operation, params, region, account, state or ResourceState()))


def covered_operations() -> list[tuple[str, str]]:
    return sorted(RULES)


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _arn_parts(arn: str) -> list[str] | None:
    parts = arn.split(":", 5)
    return parts if len(parts) == 6 and parts[0] == "arn" else None


def _tag_context(tags: Mapping[str, str] | None, prefix: str = "aws:RequestTag/") -> dict[str, ContextValue]:
    """``aws:RequestTag/<k>`` for each tag, and ``aws:TagKeys``, as a request that carries tags supplies them."""
    if not tags:
        return {}
    context: dict[str, ContextValue] = {f"{prefix}{k}": v for k, v in tags.items()}
    if prefix == "aws:RequestTag/":
        context["aws:TagKeys"] = list(tags)
    return context


def _resource_tags(tags: Mapping[str, str] | None, *prefixes: str) -> dict[str, ContextValue]:
    context: dict[str, ContextValue] = {}
    for prefix in prefixes or ("aws:ResourceTag/",):
        context.update({f"{prefix}{k}": v for k, v in (tags or {}).items()})
    return context


def _without_none(values: Mapping[str, Any]) -> dict[str, ContextValue]:
    return {k: v for k, v in values.items() if v is not None}


# --------------------------------------------------------------------------- S3

_S3_CONTEXT = {"s3:authType": "REST-HEADER", "s3:signatureversion": "AWS4-HMAC-SHA256"}
MISSING_OBJECT = (
    "the object does not exist: S3 answers 404 (NoSuchKey) only to a caller allowed s3:ListBucket on the bucket "
    "with this request's context (it has no s3:prefix), and 403 AccessDenied to others"
)


def _s3_bucket_arn(call: Call, bucket: str) -> str:
    return f"arn:{call.partition}:s3:::{bucket}"


def _s3_object_arn(call: Call, bucket: str, key: str) -> str:
    return f"arn:{call.partition}:s3:::{bucket}/{key}"


def _bucket_policy(call: Call, bucket: str) -> ResourcePolicy:
    return ResourcePolicy("s3-bucket", _s3_bucket_arn(call, bucket), call.state.s3_bucket_policy(call.account, bucket))


def _s3_context(call: Call, **extra: Any) -> dict[str, ContextValue]:
    return {**_S3_CONTEXT, "aws:ResourceAccount": call.account, **_without_none(extra)}


def _object_tag_context(tagging: str | None) -> dict[str, ContextValue]:
    """``s3:RequestObjectTag/<k>`` and ``s3:RequestObjectTagKeys`` from a ``Tagging`` query string."""
    if not tagging:
        return {}
    pairs = parse_qsl(tagging, keep_blank_values=True)
    context: dict[str, ContextValue] = {f"s3:RequestObjectTag/{k}": v for k, v in pairs}
    context["s3:RequestObjectTagKeys"] = [k for k, _ in pairs]
    return context


def _missing_object(
    call: Call, bucket: str, key: str, version_id: str | None, context: Mapping[str, ContextValue]
) -> list[Permission]:
    """S3's 403-instead-of-404: a read of a key that does not exist also needs s3:ListBucket on the bucket."""
    if call.state.s3_object_exists(call.account, bucket, key, version_id) is not False:
        return []
    return [
        Permission(
            "s3:ListBucket", _s3_bucket_arn(call, bucket), context, _bucket_policy(call, bucket), why=MISSING_OBJECT
        )
    ]


#: Reading an object: the action for the current version, and the one for a named version (``VersionId``).
_OBJECT_READS = {
    "GetObject": ("s3:GetObject", "s3:GetObjectVersion"),
    "HeadObject": ("s3:GetObject", "s3:GetObjectVersion"),
    "GetObjectTagging": ("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
}


@rule("s3", *_OBJECT_READS)
def _s3_read_object(call: Call) -> list[Permission]:
    bucket, key, version = call.params["Bucket"], call.params["Key"], call.params.get("VersionId")
    context = _s3_context(call, **{"s3:versionid": version})
    current, versioned = _OBJECT_READS[call.operation]
    own = Permission(
        versioned if version else current, _s3_object_arn(call, bucket, key), context, _bucket_policy(call, bucket)
    )
    return [own, *_missing_object(call, bucket, key, version, context)]


def _put_context(call: Call, params: Mapping[str, Any]) -> dict[str, ContextValue]:
    return _s3_context(
        call,
        **{
            "s3:if-none-match": params.get("IfNoneMatch"),
            "s3:if-match": params.get("IfMatch"),
            "s3:x-amz-server-side-encryption": params.get("ServerSideEncryption"),
            "s3:x-amz-server-side-encryption-aws-kms-key-id": params.get("SSEKMSKeyId"),
            "s3:x-amz-acl": params.get("ACL"),
            "s3:x-amz-storage-class": params.get("StorageClass"),
        },
    )


@rule("s3", "PutObject")
def _s3_put_object(call: Call) -> list[Permission]:
    bucket, key = call.params["Bucket"], call.params["Key"]
    tagging = call.params.get("Tagging")
    context = {**_put_context(call, call.params), **_object_tag_context(tagging)}
    arn, policy = _s3_object_arn(call, bucket, key), _bucket_policy(call, bucket)
    permissions = [Permission("s3:PutObject", arn, context, policy)]
    if tagging:
        permissions.append(Permission("s3:PutObjectTagging", arn, context, policy, why="PutObject with Tagging"))
    return permissions


@rule("s3", "CreateMultipartUpload")
def _s3_create_multipart_upload(call: Call) -> list[Permission]:
    """A multipart upload is authorized as the PutObject it ends in: s3:PutObject (and s3:PutObjectTagging with
    Tagging) on the object, with the same context keys (Service Authorization Reference, Amazon S3)."""
    return _s3_put_object(call)


@rule("s3", "UploadPart", "CompleteMultipartUpload")
def _s3_upload_part(call: Call) -> list[Permission]:
    """Each part, and completing the upload: s3:PutObject on the object (no s3:UploadPart action exists)."""
    bucket, key = call.params["Bucket"], call.params["Key"]
    arn, policy = _s3_object_arn(call, bucket, key), _bucket_policy(call, bucket)
    return [Permission("s3:PutObject", arn, _s3_context(call), policy)]


@rule("s3", "AbortMultipartUpload")
def _s3_abort_multipart_upload(call: Call) -> list[Permission]:
    """Abandoning an upload has its own action, which s3:PutObject does not grant."""
    bucket, key = call.params["Bucket"], call.params["Key"]
    arn, policy = _s3_object_arn(call, bucket, key), _bucket_policy(call, bucket)
    return [Permission("s3:AbortMultipartUpload", arn, _s3_context(call), policy)]


@rule("s3", "DeleteObject")
def _s3_delete_object(call: Call) -> list[Permission]:
    bucket, key, version = call.params["Bucket"], call.params["Key"], call.params.get("VersionId")
    action = "s3:DeleteObjectVersion" if version else "s3:DeleteObject"
    context = _s3_context(call, **{"s3:versionid": version})
    return [Permission(action, _s3_object_arn(call, bucket, key), context, _bucket_policy(call, bucket))]


def _list_context(call: Call) -> dict[str, ContextValue]:
    max_keys = call.params.get("MaxKeys")
    return _s3_context(
        call,
        **{
            "s3:prefix": call.params.get("Prefix"),
            "s3:delimiter": call.params.get("Delimiter"),
            "s3:max-keys": None if max_keys is None else str(max_keys),
        },
    )


@rule("s3", "ListObjectsV2", "ListObjects")
def _s3_list_objects(call: Call) -> list[Permission]:
    bucket = call.params["Bucket"]
    arn, context = _s3_bucket_arn(call, bucket), _list_context(call)
    return [Permission("s3:ListBucket", arn, context, _bucket_policy(call, bucket))]


@rule("s3", "ListObjectVersions")
def _s3_list_object_versions(call: Call) -> list[Permission]:
    bucket = call.params["Bucket"]
    arn, context = _s3_bucket_arn(call, bucket), _list_context(call)
    return [Permission("s3:ListBucketVersions", arn, context, _bucket_policy(call, bucket))]


def _copy_source(value: Any) -> tuple[str, str, str | None]:
    """(bucket, key, version) of ``CopySource``: ``"bucket/key?versionId=v"`` (URL-encoded) or a dict."""
    if isinstance(value, Mapping):
        return value["Bucket"], value["Key"], value.get("VersionId")
    text = str(value).lstrip("/")
    path, _, query = text.partition("?")
    bucket, _, key = path.partition("/")
    version = dict(parse_qsl(query)).get("versionId")
    return bucket, unquote(key), version


@rule("s3", "CopyObject")
def _s3_copy_object(call: Call) -> list[Permission]:
    source_bucket, source_key, source_version = _copy_source(call.params["CopySource"])
    source_context = _s3_context(call, **{"s3:versionid": source_version})
    source_arn, source_policy = _s3_object_arn(call, source_bucket, source_key), _bucket_policy(call, source_bucket)
    bucket, key = call.params["Bucket"], call.params["Key"]
    tagging = call.params.get("Tagging")
    target_context = {
        **_put_context(call, call.params),
        **_without_none(
            {
                "s3:x-amz-copy-source": f"{source_bucket}/{source_key}",
                "s3:x-amz-metadata-directive": call.params.get("MetadataDirective"),
            }
        ),
        **_object_tag_context(tagging),
    }
    target_arn, target_policy = _s3_object_arn(call, bucket, key), _bucket_policy(call, bucket)
    read = "s3:GetObjectVersion" if source_version else "s3:GetObject"
    permissions = [
        Permission(read, source_arn, source_context, source_policy, why="the copy source"),
        *_missing_object(call, source_bucket, source_key, source_version, source_context),
        Permission("s3:PutObject", target_arn, target_context, target_policy),
    ]
    if call.params.get("TaggingDirective") == "REPLACE":
        if tagging:
            why = "CopyObject with new tags"
            permissions.append(Permission("s3:PutObjectTagging", target_arn, target_context, target_policy, why=why))
    elif call.state.s3_object_tags(call.account, source_bucket, source_key, source_version):
        why = "CopyObject copies the source's tags"
        read_tags = "s3:GetObjectVersionTagging" if source_version else "s3:GetObjectTagging"
        permissions.append(Permission(read_tags, source_arn, source_context, source_policy, why=why))
        permissions.append(Permission("s3:PutObjectTagging", target_arn, target_context, target_policy, why=why))
    return permissions


# --------------------------------------------------------------------------- GuardDuty


@dataclass(frozen=True)
class _ListKind:
    name: str  # operation suffix
    segment: str  # ARN segment
    id_param: str
    ip_list: bool  # GuardDuty writes an inline policy per IP list into its service-linked role


_KINDS = (
    _ListKind("ThreatIntelSet", "threatintelset", "ThreatIntelSetId", True),
    _ListKind("IPSet", "ipset", "IpSetId", True),
    _ListKind("ThreatEntitySet", "threatentityset", "ThreatEntitySetId", False),
    _ListKind("TrustedEntitySet", "trustedentityset", "TrustedEntitySetId", False),
)


def _gd_detector_arn(call: Call, detector_id: str) -> str:
    return call.arn("guardduty", f"detector/{detector_id}")


def _gd_set_arn(call: Call, detector_id: str, kind: _ListKind, set_id: str) -> str:
    return call.arn("guardduty", f"detector/{detector_id}/{kind.segment}/{set_id}")


def _gd_resource_tags(call: Call, arn: str) -> dict[str, ContextValue]:
    return _resource_tags(call.state.guardduty_tags(call.account, call.region, arn))


def _gd_service_role(call: Call, action: str, operation: str) -> Permission:
    why = f"GuardDuty's dependent permission for {operation}: it keeps an inline policy per IP list in its role"
    return Permission(action, f"arn:{call.partition}:iam::{call.account}:{GUARDDUTY_SERVICE_ROLE}", why=why)


def _gd_read_location(call: Call, location: str | None, operation: str) -> list[Permission]:
    """Activating an entity list: GuardDuty reads its Location with the caller's own s3:GetObject."""
    if not location:
        return []
    try:
        from embedded_aws.guardduty.models import parse_location

        bucket, key = parse_location(location)
    except Exception:  # not an S3 location: GuardDuty rejects the request itself
        return []
    why = f"{operation} with Activate: GuardDuty reads an entity list with the caller's own permissions"
    arn, context = _s3_object_arn(call, bucket, key), _s3_context(call)
    return [Permission("s3:GetObject", arn, context, _bucket_policy(call, bucket), why=why)]


def _gd_create(kind: _ListKind) -> Rule:
    def create(call: Call) -> list[Permission]:
        tags = call.params.get("Tags") or {}
        context = _tag_context(tags)
        permissions = [Permission(f"guardduty:Create{kind.name}", "*", context)]
        if tags:
            pending = _gd_set_arn(call, call.params["DetectorId"], kind, "*")
            why = f"Create{kind.name} with tags (its dependent action)"
            permissions.append(Permission("guardduty:TagResource", pending, context, why=why))
        if kind.ip_list:
            permissions.append(_gd_service_role(call, "iam:PutRolePolicy", f"Create{kind.name}"))
        elif call.params.get("Activate"):
            permissions += _gd_read_location(call, call.params.get("Location"), f"Create{kind.name}")
        return permissions

    return create


def _gd_on_set(kind: _ListKind, verb: str) -> Rule:
    def on_set(call: Call) -> list[Permission]:
        detector_id, set_id = call.params["DetectorId"], call.params[kind.id_param]
        arn = _gd_set_arn(call, detector_id, kind, set_id)
        permissions = [Permission(f"guardduty:{verb}{kind.name}", arn, _gd_resource_tags(call, arn))]
        if kind.ip_list and verb in ("Update", "Delete"):
            action = "iam:PutRolePolicy" if verb == "Update" else "iam:DeleteRolePolicy"
            permissions.append(_gd_service_role(call, action, f"{verb}{kind.name}"))
        if not kind.ip_list and verb == "Update" and call.params.get("Activate"):
            location = call.params.get("Location") or call.state.guardduty_set_location(
                call.account, call.region, set_id
            )
            permissions += _gd_read_location(call, location, f"Update{kind.name}")
        return permissions

    return on_set


def _gd_list(kind: _ListKind) -> Rule:
    def list_sets(call: Call) -> list[Permission]:
        return [Permission(f"guardduty:List{kind.name}s", "*")]

    return list_sets


for _kind in _KINDS:
    rule("guardduty", f"Create{_kind.name}")(_gd_create(_kind))
    rule("guardduty", f"List{_kind.name}s")(_gd_list(_kind))
    for _verb in ("Get", "Update", "Delete"):
        rule("guardduty", f"{_verb}{_kind.name}")(_gd_on_set(_kind, _verb))


@rule("guardduty", "ListDetectors")
def _gd_list_detectors(call: Call) -> list[Permission]:
    return [Permission("guardduty:ListDetectors", "*")]


@rule("guardduty", "GetDetector")
def _gd_get_detector(call: Call) -> list[Permission]:
    arn = _gd_detector_arn(call, call.params["DetectorId"])
    return [Permission("guardduty:GetDetector", arn, _gd_resource_tags(call, arn))]


@rule("guardduty", "TagResource")
def _gd_tag_resource(call: Call) -> list[Permission]:
    arn = call.params["ResourceArn"]
    context = {**_gd_resource_tags(call, arn), **_tag_context(call.params.get("Tags") or {})}
    return [Permission("guardduty:TagResource", arn, context)]


@rule("guardduty", "UntagResource")
def _gd_untag_resource(call: Call) -> list[Permission]:
    arn = call.params["ResourceArn"]
    context: dict[str, ContextValue] = {**_gd_resource_tags(call, arn), "aws:TagKeys": list(call.params["TagKeys"])}
    return [Permission("guardduty:UntagResource", arn, context)]


@rule("guardduty", "ListTagsForResource")
def _gd_list_tags(call: Call) -> list[Permission]:
    arn = call.params["ResourceArn"]
    return [Permission("guardduty:ListTagsForResource", arn, _gd_resource_tags(call, arn))]


# --------------------------------------------------------------------------- SSM


def _ssm_parameter_arn(call: Call, name: str) -> str:
    """``arn:...:parameter/<name without its leading slash>``; a version/label selector is not part of it."""
    if name.startswith("arn:"):
        return name
    name = name.split(":", 1)[0]
    return call.arn("ssm", f"parameter/{name.lstrip('/')}")


@rule("ssm", "GetParameter")
def _ssm_get_parameter(call: Call) -> list[Permission]:
    return [Permission("ssm:GetParameter", _ssm_parameter_arn(call, call.params["Name"]))]


@rule("ssm", "GetParameters")
def _ssm_get_parameters(call: Call) -> list[Permission]:
    return [Permission("ssm:GetParameters", _ssm_parameter_arn(call, name)) for name in call.params["Names"]]


@rule("ssm", "PutParameter")
def _ssm_put_parameter(call: Call) -> list[Permission]:
    arn = _ssm_parameter_arn(call, call.params["Name"])
    tags = {t["Key"]: t["Value"] for t in call.params.get("Tags") or []}
    overwrite = call.params.get("Overwrite")
    context = {**_tag_context(tags), **({} if overwrite is None else {"ssm:Overwrite": bool(overwrite)})}
    permissions = [Permission("ssm:PutParameter", arn, context)]
    if tags:
        permissions.append(Permission("ssm:AddTagsToResource", arn, _tag_context(tags), why="PutParameter with Tags"))
    return permissions


# --------------------------------------------------------------------------- Secrets Manager


def _secret_permissions(call: Call, action: str, **extra: Any) -> list[Permission]:
    secret_id = call.params["SecretId"]
    info = call.state.secret(call.account, call.region, secret_id)
    if info is not None:
        arn, tags = info.arn, info.tags
    elif secret_id.startswith("arn:"):
        arn, tags = secret_id, {}
    else:
        arn, tags = call.arn("secretsmanager", f"secret:{secret_id}"), {}
    context = {
        "secretsmanager:SecretId": secret_id,
        **_resource_tags(tags, "aws:ResourceTag/", "secretsmanager:ResourceTag/"),
        **_without_none(extra),
    }
    permissions = [Permission(action, arn, context)]
    if info is not None and info.kms_key_id and action == "secretsmanager:GetSecretValue":
        permissions += _kms_via(call, info.kms_key_id, ("kms:Decrypt",), "secretsmanager", "the secret's KMS key")
    return permissions


@rule("secretsmanager", "GetSecretValue")
def _secretsmanager_get_secret_value(call: Call) -> list[Permission]:
    return _secret_permissions(
        call,
        "secretsmanager:GetSecretValue",
        **{
            "secretsmanager:VersionId": call.params.get("VersionId"),
            "secretsmanager:VersionStage": call.params.get("VersionStage"),
        },
    )


@rule("secretsmanager", "DescribeSecret")
def _secretsmanager_describe_secret(call: Call) -> list[Permission]:
    return _secret_permissions(call, "secretsmanager:DescribeSecret")


# --------------------------------------------------------------------------- KMS


def _kms_key(call: Call, key_id: str) -> tuple[str, ResourcePolicy | None]:
    """The key's ARN and key policy (None when the key is unknown: the service will answer NotFound)."""
    arn, policy, _ = _kms_key_info(call, key_id)
    return arn, policy


def _kms_key_info(call: Call, key_id: str) -> tuple[str, ResourcePolicy | None, bool]:
    parts = _arn_parts(key_id)
    region = parts[3] if parts else call.region
    key = call.state.kms_key(call.account, region, key_id)
    if key is not None:
        return key.arn, ResourcePolicy("kms-key", key.arn, key.policy), key.aws_managed
    aws_managed = "alias/aws/" in key_id
    if parts:
        return key_id, None, aws_managed
    resource = key_id if key_id.startswith("alias/") else f"key/{key_id}"
    return call.arn("kms", resource, region=region), None, aws_managed


def _kms_via(
    call: Call, key_id: str, actions: Sequence[str], service: str, why: str, error: ServiceError | None = None
) -> list[Permission]:
    """Permissions a service uses on the caller's behalf (``kms:ViaService``) with a KMS key. None for an AWS
    managed key (``alias/aws/<service>``): its key policy lets every principal of the account use it through
    that service, without an IAM permission."""
    arn, policy, aws_managed = _kms_key_info(call, key_id)
    if aws_managed:
        return []
    context: dict[str, ContextValue] = {
        "kms:ViaService": f"{service}.{call.region}.amazonaws.com",
        "kms:CallerAccount": call.account,
        "aws:ViaAWSService": True,
    }
    return [Permission(action, arn, context, policy, why=why, error=error) for action in actions]


def _kms_context(call: Call) -> dict[str, ContextValue]:
    context: dict[str, ContextValue] = {"kms:CallerAccount": call.account}
    encryption_context = call.params.get("EncryptionContext") or {}
    if encryption_context:
        context.update({f"kms:EncryptionContext:{k}": v for k, v in encryption_context.items()})
        context["kms:EncryptionContextKeys"] = list(encryption_context)
    if call.params.get("EncryptionAlgorithm"):
        context["kms:EncryptionAlgorithm"] = call.params["EncryptionAlgorithm"]
    key_id = str(call.params.get("KeyId") or "")
    if key_id.startswith("alias/") or ":alias/" in key_id:
        context["kms:RequestAlias"] = "alias/" + key_id.split("alias/", 1)[1]
    return context


@rule("kms", "Encrypt", "GenerateDataKey")
def _kms_with_key_id(call: Call) -> list[Permission]:
    arn, policy = _kms_key(call, call.params["KeyId"])
    return [Permission(f"kms:{call.operation}", arn, _kms_context(call), policy)]


@rule("kms", "Decrypt")
def _kms_decrypt(call: Call) -> list[Permission]:
    if call.params.get("KeyId"):
        arn, policy = _kms_key(call, call.params["KeyId"])
    else:
        key = call.state.kms_key_of_ciphertext(call.account, call.region, call.params["CiphertextBlob"])
        if key is not None:
            arn, policy = key.arn, ResourcePolicy("kms-key", key.arn, key.policy)
        else:
            arn, policy = call.arn("kms", "key/*"), None  # the key is unknown; only a wildcard grant covers it
    return [Permission("kms:Decrypt", arn, _kms_context(call), policy)]


# --------------------------------------------------------------------------- Lambda


def _lambda_function_arn(call: Call, function_name: str, qualifier: str | None) -> str:
    """The ARN ``Invoke`` is authorized on: from a name, ``name:qualifier``, a partial or a full ARN."""
    parts = function_name.split(":")
    region, account = call.region, call.account
    if function_name.startswith("arn:"):  # arn:aws:lambda:region:account:function:name[:qualifier]
        region, account, name = parts[3], parts[4], parts[6]
        qualifier = qualifier or (parts[7] if len(parts) > 7 else None)
    elif len(parts) >= 3 and parts[1] == "function":  # account:function:name[:qualifier]
        account, name = parts[0], parts[2]
        qualifier = qualifier or (parts[3] if len(parts) > 3 else None)
    else:  # name[:qualifier]
        name = parts[0]
        qualifier = qualifier or (parts[1] if len(parts) > 1 else None)
    arn = call.arn("lambda", f"function:{name}", region=region, account=account)
    return f"{arn}:{qualifier}" if qualifier else arn


@rule("lambda", "Invoke")
def _lambda_invoke(call: Call) -> list[Permission]:
    arn = _lambda_function_arn(call, call.params["FunctionName"], call.params.get("Qualifier"))
    return [Permission("lambda:InvokeFunction", arn)]


# --------------------------------------------------------------------------- SNS


@rule("sns", "Publish")
def _sns_publish(call: Call) -> list[Permission]:
    target = call.params.get("TopicArn") or call.params.get("TargetArn")
    if not target:  # an SMS to a phone number
        return [Permission("sns:Publish", "*")]
    permissions = [Permission("sns:Publish", target)]
    parts = _arn_parts(target)
    region = parts[3] if parts else call.region
    key_id = call.state.sns_topic_kms_key(call.account, region, target)
    if key_id:
        error = ServiceError(
            "KMSAccessDenied",
            400,
            " (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: {request_id}; "
            "Proxy: null)",
        )
        via_call = dataclasses.replace(call, region=region)
        actions = ("kms:GenerateDataKey", "kms:Decrypt")
        permissions += _kms_via(via_call, key_id, actions, "sns", "the topic's KMS key (SSE)", error)
    return permissions


# --------------------------------------------------------------------------- Step Functions


def _states(action: str, param: str) -> Rule:
    def check(call: Call) -> list[Permission]:
        resource = call.params.get(param)
        if resource is None and param == "stateMachineArn":
            resource = call.params.get("mapRunArn")
        return [Permission(f"states:{action}", resource or "*")]

    return check


for _operation, _param in (
    ("StartExecution", "stateMachineArn"),
    ("DescribeStateMachine", "stateMachineArn"),
    ("ListExecutions", "stateMachineArn"),
    ("DescribeExecution", "executionArn"),
    ("GetExecutionHistory", "executionArn"),
    ("StopExecution", "executionArn"),
):
    rule("stepfunctions", _operation)(_states(_operation, _param))


# --------------------------------------------------------------------------- CloudWatch, Logs, EC2, STS


@rule("cloudwatch", "PutMetricData")
def _cloudwatch_put_metric_data(call: Call) -> list[Permission]:
    return [Permission("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": call.params["Namespace"]})]


def _log_stream_arn(call: Call, group: str, stream: str = "") -> str:
    return call.arn("logs", f"log-group:{group}:log-stream:{stream}")


@rule("logs", "CreateLogGroup")
def _logs_create_log_group(call: Call) -> list[Permission]:
    arn = _log_stream_arn(call, call.params["logGroupName"])
    tags = call.params.get("tags") or {}
    permissions = [Permission("logs:CreateLogGroup", arn, _tag_context(tags))]
    if tags:
        permissions.append(Permission("logs:TagResource", arn, _tag_context(tags), why="CreateLogGroup with tags"))
    return permissions


@rule("logs", "CreateLogStream", "PutLogEvents")
def _logs_stream(call: Call) -> list[Permission]:
    arn = _log_stream_arn(call, call.params["logGroupName"], call.params["logStreamName"])
    return [Permission(f"logs:{call.operation}", arn)]


@rule("ec2", "DescribeAddresses", "DescribeNatGateways")
def _ec2_describe(call: Call) -> list[Permission]:
    return [Permission(f"ec2:{call.operation}", "*", {"ec2:Region": call.region})]


@rule("sts", "GetCallerIdentity")
def _sts_get_caller_identity(call: Call) -> list[Permission]:
    return []  # "No permissions are required to perform this operation" (STS API reference)

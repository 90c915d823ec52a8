"""Deploy ``template.yaml`` into moto's CloudFormation, as ``sam deploy`` would into an account.

Use inside an active moto mock (``mock_aws(config={"stepfunctions": {"execute_state_machine": True}})``)::

    stack = deploy_stack(REPO_ROOT / "template.yaml", parameters={"PublicKey": "...", "PrivateKey": "..."})
    stack.functions["FetchFunction"].environment    # as moto's Lambda holds it after CFN resolution
    stack.state_machine_arn                          # executable by moto's ASL interpreter

What happens, and where moto needs help:

1. The SAM template is read (short-form ``!Ref``/``!Sub``... expanded) and its local ``CodeUri`` and
   ``DefinitionUri`` are rewritten to objects uploaded to a staging bucket in moto's S3 (a zip of each
   ``functions/<name>`` folder; the handlers are never run from there), as ``sam package`` does.
2. ``samtranslator`` turns it into plain CloudFormation (roles, rules, schedules...).
3. ``create_stack`` in moto's CloudFormation. moto 5.2.5 has no CloudFormation model for
   ``AWS::SecretsManager::Secret``, ``AWS::S3::BucketPolicy``, ``AWS::SNS::Subscription``,
   ``AWS::Scheduler::Schedule`` and ``AWS::CloudWatch::Alarm`` (it would skip them with a warning and resolve
   references to them as ``None``); this module registers small models that create them in moto's own
   backends (see ``EMULATED_TYPES``). moto ignores a bucket policy's conditions, so the bucket policy is
   enforced with its ``aws:SecureTransport`` condition evaluated (see ``_statement_may_apply``); moto never
   evaluates an alarm (it stays OK) nor sends its actions. moto's bucket model applies only encryption and
   tags: versioning, public access block, ownership controls and lifecycle rules are applied afterwards
   through the S3 API. Where moto's models read a property differently from CloudFormation (an SSM
   parameter's Tags map, a KMS key's Key/Value tags, a Number parameter kept as an int in a Lambda
   environment) the input or the result is reshaped (``_work_around_moto``, ``_functions``). moto checks no
   parameter constraint: ``check_parameters`` rejects what CloudFormation would (MinValue, AllowedPattern...).
4. moto ignores ``DefinitionS3Location``/``DefinitionSubstitutions`` and keeps the state machine it creates
   in its non-executing backend. The definition file is therefore substituted here, exactly as
   CloudFormation does it (text replacement of ``${Name}``), with values resolved *by moto's CloudFormation
   itself* (each substitution is added to the stack as an extra output and read back), and the state machine
   is created through the Step Functions API under the same name, hence the same ARN the stack's outputs,
   rule and schedule point at.

Nothing here imports the handlers (``functions/*/app.py``) or the ``threatfeed`` library.
"""

from __future__ import annotations

import copy
import io
import json
import re
import secrets
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from moto.core.common_models import CloudFormationModel

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")
#: Outputs this module adds to the stack to have moto resolve values; hidden from ``DeployedStack.outputs``.
RESOLVE_OUTPUT_PREFIX = "EmbeddedAwsResolve"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
#: Output names of template.yaml that DeployedStack reads.
OUTPUT_BUCKET = "DataBucketName"
OUTPUT_STATE_MACHINE = "StateMachineArn"
OUTPUT_TOPIC = "NotificationTopicArn"
OUTPUT_CATALOGUE = "CatalogueLocation"
OUTPUT_SECRET = "IsightSecretArn"


class StackDeployError(RuntimeError):
    """The template could not be transformed or deployed into moto."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class FunctionInfo:
    """One Lambda function of the deployed stack."""

    logical_id: str
    name: str
    arn: str
    code_dir: Path  # relative to the template's folder, e.g. functions/plan
    handler: str
    runtime: str
    architectures: tuple[str, ...]
    memory_size: int
    timeout: int
    role_arn: str
    environment: dict[str, str]
    tracing: str = "PassThrough"  # TracingConfig.Mode as the template sets it ("Active": X-Ray)


@dataclass(frozen=True)
class StackResource:
    logical_id: str
    resource_type: str
    physical_id: str
    status: str


@dataclass
class DeployedStack:
    """What ``deploy_stack`` created, named the way the template and ARCHITECTURE.md name it."""

    stack_name: str
    stack_id: str
    region: str
    account_id: str
    functions: dict[str, FunctionInfo]
    state_machine_arn: str
    state_machine_role_arn: str
    definition: str  # the definition the state machine was created with (substitutions applied)
    substitutions: dict[str, str]  # DefinitionSubstitutions as resolved
    bucket: str
    topic_arn: str
    catalogue_location: str  # s3://bucket/config/catalogue.json
    secret_arn: str
    parameters: dict[str, str]  # the stack's parameter values (NoEcho ones included: it is moto)
    outputs: dict[str, str]  # the template's outputs
    resources: list[StackResource]  # moto's describe_stack_resources
    template: dict[str, Any]  # the transformed (plain CloudFormation) template that was deployed
    emulated: dict[str, str] = field(default_factory=dict)  # logical ID -> type created by EMULATED_TYPES
    triggers: dict[str, dict[str, Any]] = field(default_factory=dict)  # event name -> execution input
    trigger_roles: dict[str, str] = field(default_factory=dict)  # event name -> ARN of the role that starts it
    alarms: dict[str, str] = field(default_factory=dict)  # logical ID -> alarm name (in moto's CloudWatch)
    dashboards: dict[str, str] = field(default_factory=dict)  # logical ID -> dashboard name

    def function(self, name: str) -> FunctionInfo:
        """A function by logical ID (``FetchFunction``) or by folder (``fetch``)."""
        if name in self.functions:
            return self.functions[name]
        for info in self.functions.values():
            if info.code_dir.name == name:
                return info
        raise KeyError(f"no function {name!r}; the stack has {', '.join(self.functions)}")

    def physical_id(self, logical_id: str) -> str:
        for resource in self.resources:
            if resource.logical_id == logical_id:
                return resource.physical_id
        raise KeyError(f"no resource {logical_id!r} in stack {self.stack_name}")


# --------------------------------------------------------------------------- template reading


class _CfnLoader(yaml.SafeLoader):
    """YAML loader for CloudFormation: ``!Ref x`` -> ``{"Ref": "x"}``, ``!Sub`` -> ``{"Fn::Sub": ...}``."""


# Dates stay strings ("2012-10-17"), as CloudFormation reads them.
_CfnLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: str | Path) -> dict[str, Any]:
    """A CloudFormation/SAM YAML (or JSON) template as plain data, intrinsics in their long form."""
    with open(path, encoding="utf-8") as handle:
        loaded = yaml.load(handle, Loader=_CfnLoader)  # a SafeLoader subclass
    if not isinstance(loaded, dict):
        raise StackDeployError(f"{path}: not a template")
    return loaded


def substitute_definition(text: str, values: dict[str, str]) -> str:
    """Apply DefinitionSubstitutions the way CloudFormation does: ``${Name}`` replaced as text."""
    missing = sorted({m.group(1) for m in PLACEHOLDER.finditer(text)} - set(values))
    if missing:
        raise StackDeployError(f"the definition uses ${{{missing[0]}}}, which DefinitionSubstitutions lacks")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


# --------------------------------------------------------------------------- moto models for missing types


class _EmulatedModel:
    """Shared parts of the CloudFormation models moto 5.2.5 lacks (see EMULATED_TYPES).

    moto asks a model for its type, its name property and to create, update and delete it from the resource's
    template JSON, with untyped signatures. A model here states its type, name property and attributes with
    :func:`_emulates` and implements only :meth:`create` and :meth:`delete` on the resource's ``Properties``: the
    moto plumbing is in one place instead of in each model.
    """

    #: The CloudFormation resource type this model creates.
    CFN_TYPE = ""
    #: The property that names the resource ("" when the type has none: moto then passes the logical id).
    NAME_PROPERTY = ""
    #: What ``Fn::GetAtt`` may ask for.
    ATTRIBUTES: tuple[str, ...] = ()

    def __init__(self, physical_id: str, attributes: dict[str, str] | None = None) -> None:
        self._physical_id = physical_id
        self._attributes = attributes or {}

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.CFN_TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> str:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name in self._attributes:
            return self._attributes[attribute_name]
        raise UnformattedGetAttTemplateException()

    def is_created(self) -> bool:
        return True

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region: str) -> _EmulatedModel:
        """Create the resource named ``name`` (the name property, or moto's generated name) in moto."""
        raise NotImplementedError

    @classmethod
    def delete(cls, physical_id: str, props: dict[str, Any], account_id: str, region: str) -> None:
        """Delete the resource whose physical id is ``physical_id`` from moto."""
        raise NotImplementedError

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[no-untyped-def]
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        return cls.create(resource_name, cloudformation_json.get("Properties") or {}, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[no-untyped-def]
        cls, resource_name, cloudformation_json, account_id, region_name
    ):
        cls.delete(resource_name, cloudformation_json.get("Properties") or {}, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[no-untyped-def]
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        cls.delete_from_cloudformation_json(
            original_resource.physical_resource_id, cloudformation_json, account_id, region_name
        )
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)


_Model = TypeVar("_Model", bound=type[_EmulatedModel])


def _emulates(cfn_type: str, *, name: str = "", attributes: tuple[str, ...] = ()) -> Callable[[_Model], _Model]:
    """Declare what a model creates: its resource type, its name property and its ``Fn::GetAtt`` attributes
    (moto's model metaclass takes no class keywords, hence a decorator rather than class arguments)."""

    def declare(model: _Model) -> _Model:
        model.CFN_TYPE, model.NAME_PROPERTY, model.ATTRIBUTES = cfn_type, name, attributes
        return model

    return declare


@_emulates("AWS::SecretsManager::Secret", name="Name", attributes=("Id",))
class EmulatedSecret(_EmulatedModel, CloudFormationModel):
    """``AWS::SecretsManager::Secret`` in moto's Secrets Manager. Ref = ARN."""

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region: str) -> _EmulatedModel:
        from moto.secretsmanager.models import secretsmanager_backends

        secret_string = props.get("SecretString")
        if secret_string is None:
            generate = props.get("GenerateSecretString") or {}
            password = secrets.token_urlsafe(int(generate.get("PasswordLength", 32)))
            template = generate.get("SecretStringTemplate")
            key = generate.get("GenerateStringKey")
            secret_string = json.dumps({**json.loads(template), key: password}) if template and key else password
        tags = props.get("Tags")
        created = secretsmanager_backends[account_id][region].create_secret(
            name=name,
            secret_string=secret_string,
            secret_binary=None,
            description=props.get("Description"),
            tags=tags if isinstance(tags, list) else None,
            kms_key_id=props.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        arn = json.loads(created)["ARN"]
        return cls(arn, {"Id": arn})

    @classmethod
    def delete(cls, physical_id: str, props: dict[str, Any], account_id: str, region: str) -> None:
        from moto.secretsmanager.models import secretsmanager_backends

        secretsmanager_backends[account_id][region].delete_secret(
            physical_id, recovery_window_in_days=None, force_delete_without_recovery=True
        )


@_emulates("AWS::S3::BucketPolicy")
class EmulatedBucketPolicy(_EmulatedModel, CloudFormationModel):
    """``AWS::S3::BucketPolicy`` put on the bucket in moto's S3. Ref = bucket name."""

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region: str) -> _EmulatedModel:
        from moto.s3.models import s3_backends
        from moto.utilities.utils import get_partition

        bucket = props["Bucket"]
        policy = json.dumps(props["PolicyDocument"]).encode()
        backend = s3_backends[account_id][get_partition(region)]
        backend.put_bucket_policy(bucket, policy)
        _evaluate_policy_conditions(backend.get_bucket(bucket))
        return cls(bucket)

    @classmethod
    def delete(cls, physical_id: str, props: dict[str, Any], account_id: str, region: str) -> None:
        from moto.s3.models import s3_backends
        from moto.utilities.utils import get_partition

        bucket = props["Bucket"]
        s3_backends[account_id][get_partition(region)].delete_bucket_policy(bucket)


def _statement_may_apply(statement: dict[str, Any]) -> bool:
    """Whether a bucket-policy statement can match a request to the embedded AWS.

    moto enforces bucket policies but ignores their conditions, so the template's "deny unless TLS" would
    deny everything. Requests to the embedded AWS count as TLS (boto3's endpoints are https): a statement
    conditioned on ``aws:SecureTransport`` being false never applies. Other conditions are kept (moto then
    applies the statement unconditionally, as it always does).
    """
    condition = statement.get("Condition")
    if not condition:
        return True
    secure = (condition.get("Bool") or {}).get("aws:SecureTransport")
    if secure is None or set(condition) != {"Bool"} or set(condition["Bool"]) != {"aws:SecureTransport"}:
        return True
    return str(secure).lower() == "true"


def _evaluate_policy_conditions(bucket: Any) -> None:
    """Make moto enforce the bucket's policy (whatever it is later set to) with its conditions evaluated."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    def get_permission(action: str, resource: str) -> Any:
        if bucket.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(bucket.policy)
        statements = document.get("Statement", [])
        statements = [
            s for s in (statements if isinstance(statements, list) else [statements]) if _statement_may_apply(s)
        ]
        if not statements:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**document, "Statement": statements})).is_action_permitted(action, resource)

    bucket.get_permission = get_permission


@_emulates("AWS::SNS::Subscription", attributes=("Arn",))
class EmulatedSubscription(_EmulatedModel, CloudFormationModel):
    """``AWS::SNS::Subscription`` in moto's SNS. Ref = subscription ARN."""

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region: str) -> _EmulatedModel:
        from moto.sns.models import sns_backends

        topic_region = props["TopicArn"].split(":")[3] or region
        subscription = sns_backends[account_id][topic_region].subscribe(
            props["TopicArn"], props["Endpoint"], props["Protocol"]
        )
        return cls(subscription.arn, {"Arn": subscription.arn})

    @classmethod
    def delete(cls, physical_id: str, props: dict[str, Any], account_id: str, region: str) -> None:
        from moto.sns.models import sns_backends

        sns_backends[account_id][region].unsubscribe(physical_id)


@_emulates("AWS::Scheduler::Schedule", name="Name", attributes=("Arn",))
class EmulatedSchedule(_EmulatedModel, CloudFormationModel):
    """``AWS::Scheduler::Schedule`` in moto's EventBridge Scheduler (never fires). Ref = name."""

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region: str) -> _EmulatedModel:
        from moto.scheduler.models import scheduler_backends

        schedule = scheduler_backends[account_id][region].create_schedule(
            flexible_time_window=props["FlexibleTimeWindow"],
            name=name[:64],
            schedule_expression=props["ScheduleExpression"],
            state=props.get("State", "ENABLED"),
            target=props["Target"],
            action_after_completion=None,
            **_optional(
                props, "Description", "EndDate", "GroupName", "KmsKeyArn", "ScheduleExpressionTimezone", "StartDate"
            ),
        )
        return cls(schedule.name, {"Arn": schedule.arn})

    @classmethod
    def delete(cls, physical_id: str, props: dict[str, Any], account_id: str, region: str) -> None:
        from moto.scheduler.models import scheduler_backends

        group = props.get("GroupName")
        scheduler_backends[account_id][region].delete_schedule(group, physical_id)


@_emulates("AWS::CloudWatch::Alarm", name="AlarmName", attributes=("Arn",))
class EmulatedAlarm(_EmulatedModel, CloudFormationModel):
    """``AWS::CloudWatch::Alarm`` in moto's CloudWatch (a metric alarm; moto never evaluates it). Ref = name."""

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region: str) -> _EmulatedModel:
        from moto.cloudwatch.models import cloudwatch_backends

        alarm = cloudwatch_backends[account_id][region].put_metric_alarm(
            name=name,
            metric_data_queries=[_metric_data_query(q) for q in props.get("Metrics") or []] or None,
            comparison_operator=props["ComparisonOperator"],
            evaluation_periods=int(props["EvaluationPeriods"]),
            datapoints_to_alarm=int(props["DatapointsToAlarm"]) if "DatapointsToAlarm" in props else None,
            period=int(props["Period"]) if "Period" in props else None,  # type: ignore[arg-type]
            threshold=float(props["Threshold"]) if "Threshold" in props else None,  # type: ignore[arg-type]
            description=props.get("AlarmDescription"),
            dimensions=list(props.get("Dimensions") or []),
            alarm_actions=list(props.get("AlarmActions") or []),
            ok_actions=list(props.get("OKActions") or []),
            insufficient_data_actions=list(props.get("InsufficientDataActions") or []),
            actions_enabled=str(props.get("ActionsEnabled", True)).lower() == "true",
            tags=list(props.get("Tags") or []),
            **_optional(
                props,
                "Namespace",
                "MetricName",
                "Statistic",
                "ExtendedStatistic",
                "Unit",
                "TreatMissingData",
                "EvaluateLowSampleCountPercentile",
                "ThresholdMetricId",
            ),
        )
        return cls(alarm.name, {"Arn": alarm.alarm_arn})

    @classmethod
    def delete(cls, physical_id: str, props: dict[str, Any], account_id: str, region: str) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account_id][region].delete_alarms([physical_id])


def _optional(props: dict[str, Any], *names: str) -> dict[str, Any]:
    """Optional template properties as the keyword arguments moto's backends take: ``EndDate`` as ``end_date``,
    ``None`` where the template leaves one out. moto names its parameters after the API's, so one rule maps
    them all instead of a line per property in every model."""
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): props.get(name) for name in names}


def _metric_data_query(query: dict[str, Any]) -> Any:
    """An alarm's ``Metrics`` entry (CloudFormation shape) as moto's ``MetricDataQuery``."""
    from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat

    stat = query.get("MetricStat")
    metric_stat = None
    if stat:
        metric = stat["Metric"]
        dimensions = [Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions") or []]
        metric_stat = MetricStat(
            Metric(metric["MetricName"], metric.get("Namespace"), dimensions),  # type: ignore[arg-type]
            int(stat["Period"]),  # type: ignore[arg-type]
            stat["Stat"],
            stat.get("Unit"),  # type: ignore[arg-type]
        )
    return MetricDataQuery(
        query["Id"],
        query.get("Label"),  # type: ignore[arg-type]
        int(query["Period"]) if "Period" in query else None,  # type: ignore[arg-type]
        str(query.get("ReturnData", True)).lower() == "true",  # type: ignore[arg-type]
        expression=query.get("Expression"),
        metric_stat=metric_stat,
    )


#: Resource types moto 5.2.5's CloudFormation cannot create, and the models above that create them.
EMULATED_TYPES: dict[str, type[CloudFormationModel]] = {
    model.cloudformation_type(): model
    for model in (EmulatedSecret, EmulatedBucketPolicy, EmulatedSubscription, EmulatedSchedule, EmulatedAlarm)
}


def _register_emulated_models() -> None:
    """moto discovers models through ``CloudFormationModel.__subclasses__()``, cached: refresh the caches."""
    from moto.cloudformation import parsing

    for cached in ("get_model_list", "get_model_map", "get_name_type_map"):
        getattr(parsing, cached).cache_clear()
    missing = [t for t in EMULATED_TYPES if parsing.get_model_map().get(t) is not EMULATED_TYPES[t]]
    if missing:  # pragma: no cover - only if moto changes how it finds models
        raise StackDeployError(f"could not register CloudFormation models for {', '.join(missing)} in moto")


def moto_supported_types() -> set[str]:
    """Resource types moto's CloudFormation creates (its own models plus EMULATED_TYPES)."""
    from moto.cloudformation import parsing

    _register_emulated_models()
    return set(parsing.get_model_map())


# --------------------------------------------------------------------------- deploy


def deploy_stack(
    template_path: str | Path,
    *,
    stack_name: str = "threatfeed",
    region: str = "us-east-1",
    parameters: dict[str, str] | None = None,
    definition_path: str | Path | None = None,
    session: Any = None,
    endpoint_url: str | None = None,
) -> DeployedStack:
    """Deploy the SAM template into moto and return what it created.

    ``definition_path`` replaces the state machine's ``DefinitionUri`` file (e.g. a placeholder ASL in a
    test); by default the template's own file is used. ``session``/``endpoint_url`` choose the boto3
    session and endpoint (default: boto3's default session, in-process moto).
    """
    import boto3

    template_path = Path(template_path).resolve()
    base_dir = template_path.parent
    session = session or boto3.session.Session()

    def client(service: str) -> Any:
        return session.client(service, region_name=region, endpoint_url=endpoint_url)

    sam_template = load_template(template_path)
    check_parameters(sam_template, parameters or {})
    resources = sam_template.get("Resources") or {}
    machines = [k for k, r in resources.items() if r.get("Type") == "AWS::Serverless::StateMachine"]
    if len(machines) != 1:
        raise StackDeployError(f"{template_path}: expected one AWS::Serverless::StateMachine, found {machines}")
    machine_id = machines[0]
    machine_props = resources[machine_id].get("Properties") or {}
    definition_file = Path(definition_path) if definition_path else base_dir / machine_props["DefinitionUri"]
    if not definition_file.is_file():
        raise StackDeployError(f"state machine definition {definition_file} does not exist")
    definition_text = definition_file.read_text(encoding="utf-8")
    code_dirs = {
        logical_id: Path(resource["Properties"]["CodeUri"])
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::Function"
        and isinstance((resource.get("Properties") or {}).get("CodeUri"), str)
    }

    # 1. package: local paths -> objects in a staging bucket
    s3 = client("s3")
    account_id = client("sts").get_caller_identity()["Account"]
    staging = f"embedded-aws-sam-{account_id}-{region}"
    _ensure_bucket(s3, staging, region)
    packaged = copy.deepcopy(sam_template)
    for logical_id, code_dir in code_dirs.items():
        key = f"{stack_name}/{logical_id}.zip"
        s3.put_object(Bucket=staging, Key=key, Body=_zip_dir(base_dir / code_dir))
        packaged["Resources"][logical_id]["Properties"]["CodeUri"] = f"s3://{staging}/{key}"
    definition_key = f"{stack_name}/{machine_id}.asl.json"
    s3.put_object(Bucket=staging, Key=definition_key, Body=definition_text.encode())
    packaged["Resources"][machine_id]["Properties"]["DefinitionUri"] = f"s3://{staging}/{definition_key}"

    # 2. SAM -> CloudFormation
    cfn_template = transform(packaged, region=region, parameters=parameters or {})

    # 3. create the stack, with extra outputs that make moto resolve what the state machine needs
    cfn_machines = [
        k for k, r in cfn_template["Resources"].items() if r.get("Type") == "AWS::StepFunctions::StateMachine"
    ]
    if cfn_machines != [machine_id]:
        raise StackDeployError(f"transformed template has state machines {cfn_machines}, expected [{machine_id}]")
    machine_cfn_props = cfn_template["Resources"][machine_id]["Properties"]
    raw_substitutions = machine_cfn_props.get("DefinitionSubstitutions") or {}
    to_resolve = {
        f"Sub{_alnum(name)}": value for name, value in raw_substitutions.items() if isinstance(value, dict | list)
    }
    to_resolve["MachineRoleArn"] = machine_cfn_props["RoleArn"]
    deployed = copy.deepcopy(cfn_template)
    deployed.setdefault("Outputs", {})
    for key, value in to_resolve.items():
        deployed["Outputs"][f"{RESOLVE_OUTPUT_PREFIX}{key}"] = {"Value": value}

    _work_around_moto(deployed)
    _register_emulated_models()
    cfn = client("cloudformation")
    try:
        created = cfn.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(deployed),
            Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in (parameters or {}).items()],
            Capabilities=CAPABILITIES,
        )
    except Exception as exc:  # in decorator mode a failing moto model raises straight through botocore
        raise StackDeployError(f"moto's CloudFormation could not create stack {stack_name}: {exc!r}") from exc
    stack_id = created["StackId"]
    described = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
    if described["StackStatus"] != "CREATE_COMPLETE":
        reasons = [
            f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
            for e in cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
            if e.get("ResourceStatus", "").endswith("FAILED")
        ]
        raise StackDeployError(f"stack {stack_name} is {described['StackStatus']}: {'; '.join(reasons)}")
    all_outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in described.get("Outputs", [])}
    resolved = {
        k[len(RESOLVE_OUTPUT_PREFIX) :]: v for k, v in all_outputs.items() if k.startswith(RESOLVE_OUTPUT_PREFIX)
    }
    outputs = {k: v for k, v in all_outputs.items() if not k.startswith(RESOLVE_OUTPUT_PREFIX)}
    stack_parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    stack_resources = [
        StackResource(r["LogicalResourceId"], r["ResourceType"], r.get("PhysicalResourceId", ""), r["ResourceStatus"])
        for r in cfn.describe_stack_resources(StackName=stack_id)["StackResources"]
        if "LogicalResourceId" in r  # moto lists a resource whose Condition is false as an empty entry
    ]
    physical = {r.logical_id: r.physical_id for r in stack_resources}

    # 4. what moto's bucket model leaves out
    for logical_id, resource in cfn_template["Resources"].items():
        if resource.get("Type") == "AWS::S3::Bucket" and logical_id in physical:
            _complete_bucket(s3, physical[logical_id], resource.get("Properties") or {})

    # 5. the executable state machine
    substitutions = {
        name: _cfn_text(raw_substitutions[name], resolved.get(f"Sub{_alnum(name)}")) for name in raw_substitutions
    }
    definition = substitute_definition(definition_text, substitutions)
    state_machine_arn = _output(outputs, OUTPUT_STATE_MACHINE, template_path)
    role_arn = resolved["MachineRoleArn"]
    _put_state_machine(client("stepfunctions"), state_machine_arn, definition, role_arn, machine_cfn_props)

    functions = _functions(client("lambda"), cfn_template, physical, code_dirs)
    return DeployedStack(
        stack_name=stack_name,
        stack_id=stack_id,
        region=region,
        account_id=account_id,
        functions=functions,
        state_machine_arn=state_machine_arn,
        state_machine_role_arn=role_arn,
        definition=definition,
        substitutions=substitutions,
        bucket=_output(outputs, OUTPUT_BUCKET, template_path),
        topic_arn=_output(outputs, OUTPUT_TOPIC, template_path),
        catalogue_location=_output(outputs, OUTPUT_CATALOGUE, template_path),
        secret_arn=_output(outputs, OUTPUT_SECRET, template_path),
        parameters=stack_parameters,
        outputs=outputs,
        resources=stack_resources,
        template=cfn_template,
        emulated={r.logical_id: r.resource_type for r in stack_resources if r.resource_type in EMULATED_TYPES},
        triggers=_triggers(resources.get(machine_id, {}), resources),
        trigger_roles=_trigger_roles(client("iam"), cfn_template, machine_id, physical),
        alarms={r.logical_id: r.physical_id for r in stack_resources if r.resource_type == "AWS::CloudWatch::Alarm"},
        dashboards={
            r.logical_id: r.physical_id for r in stack_resources if r.resource_type == "AWS::CloudWatch::Dashboard"
        },
    )


def check_parameters(template: dict[str, Any], values: dict[str, str]) -> None:
    """Reject parameter values CloudFormation would reject (moto checks none of the constraints)."""
    declared = template.get("Parameters") or {}
    problems = [f"{name}: not a parameter of the template" for name in values if name not in declared]
    for name, spec in declared.items():
        value = values.get(name, spec.get("Default"))
        if value is None:
            problems.append(f"{name}: no value and no Default")
            continue
        text = str(value)
        if spec.get("Type") == "Number":
            try:
                number = float(text)
            except ValueError:
                problems.append(f"{name}={text!r}: not a number")
                continue
            if "MinValue" in spec and number < float(spec["MinValue"]):
                problems.append(f"{name}={text}: below MinValue {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                problems.append(f"{name}={text}: above MaxValue {spec['MaxValue']}")
        elif spec.get("Type", "String") == "String":
            if "MinLength" in spec and len(text) < int(spec["MinLength"]):
                problems.append(f"{name}: shorter than MinLength {spec['MinLength']}")
            if "MaxLength" in spec and len(text) > int(spec["MaxLength"]):
                problems.append(f"{name}: longer than MaxLength {spec['MaxLength']}")
            if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], text):
                problems.append(f"{name}: does not match AllowedPattern {spec['AllowedPattern']}")
        if "AllowedValues" in spec and text not in {str(v) for v in spec["AllowedValues"]}:
            problems.append(f"{name}={text!r}: not one of AllowedValues {spec['AllowedValues']}")
    if problems:
        raise StackDeployError("parameters CloudFormation would reject: " + "; ".join(problems))


def transform(sam_template: dict[str, Any], *, region: str, parameters: dict[str, str]) -> dict[str, Any]:
    """SAM -> CloudFormation with ``samtranslator`` (offline: no managed-policy lookups)."""
    import boto3
    from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(
        managed_policy_map={},
        sam_parser=Parser(),
        boto_session=boto3.session.Session(region_name=region),
        metrics=metrics,
    )
    try:
        return translator.translate(
            copy.deepcopy(sam_template), parameter_values=dict(parameters), get_managed_policy_map=dict
        )
    except Exception as exc:  # samtranslator raises its own exception types with a message list
        raise StackDeployError(f"SAM transform failed: {exc}") from exc
    finally:
        metrics.publish()  # to the dummy publisher; otherwise samtranslator warns about unpublished metrics


# --------------------------------------------------------------------------- helpers


def _alnum(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", name)


def _cfn_text(raw: Any, resolved: str | None) -> str:
    """A DefinitionSubstitutions value as the text CloudFormation puts into the definition."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float | str):
        return str(raw)
    if resolved is None:
        raise StackDeployError(f"moto could not resolve the DefinitionSubstitutions value {raw!r}")
    return resolved


def _output(outputs: dict[str, str], key: str, template_path: Path) -> str:
    if not outputs.get(key):
        raise StackDeployError(f"{template_path}: the stack has no output {key} (DeployedStack reads it)")
    return outputs[key]


def _ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:  # any "not there"
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})


def _zip_dir(folder: Path) -> bytes:
    """The folder as a Lambda zip (what moto stores as the code; the real handlers run in-process)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        files = [p for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
        for path in files:
            archive.write(path, path.relative_to(folder).as_posix())
        if not files:
            archive.writestr("README", f"{folder.name}: no files yet\n")
    return buffer.getvalue()


def _work_around_moto(template: dict[str, Any]) -> None:
    """Reshape what moto 5.2.5's CloudFormation models read differently from CloudFormation itself."""
    for resource in template["Resources"].values():
        props = resource.get("Properties") or {}
        # AWS::SSM::Parameter Tags is a JSON map in CloudFormation; moto's model expects a Key/Value list.
        if resource.get("Type") == "AWS::SSM::Parameter" and isinstance(props.get("Tags"), dict):
            props["Tags"] = [{"Key": k, "Value": v} for k, v in props["Tags"].items()]
        # AWS::KMS::Key Tags are Key/Value in CloudFormation; moto's model passes them on as the API's
        # TagKey/TagValue.
        if resource.get("Type") == "AWS::KMS::Key" and isinstance(props.get("Tags"), list):
            props["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props["Tags"]]


def _has_intrinsic(value: Any) -> bool:
    if isinstance(value, dict):
        return any(k == "Ref" or k.startswith("Fn::") or _has_intrinsic(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_intrinsic(v) for v in value)
    return False


def _complete_bucket(s3: Any, bucket: str, props: dict[str, Any]) -> None:
    """Apply the bucket properties moto's CloudFormation model ignores."""
    if "VersioningConfiguration" in props and not _has_intrinsic(props["VersioningConfiguration"]):
        s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]}
        )
    if "PublicAccessBlockConfiguration" in props and not _has_intrinsic(props["PublicAccessBlockConfiguration"]):
        s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=dict(props["PublicAccessBlockConfiguration"])
        )
    if "OwnershipControls" in props and not _has_intrinsic(props["OwnershipControls"]):
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=props["OwnershipControls"])
    rules = (props.get("LifecycleConfiguration") or {}).get("Rules")
    if rules and not _has_intrinsic(rules):
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in rules]}
        )


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's shape (the fields template.yaml uses)."""
    api: dict[str, Any] = {"Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "Id" in rule:
        api["ID"] = rule["Id"]
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "ExpiredObjectDeleteMarker" in rule:
        api["Expiration"] = {"ExpiredObjectDeleteMarker": str(rule["ExpiredObjectDeleteMarker"]).lower() == "true"}
    if "NoncurrentVersionExpiration" in rule:
        api["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        }
    return api


def _put_state_machine(sfn: Any, arn: str, definition: str, role_arn: str, props: dict[str, Any]) -> None:
    """Create the state machine where moto executes it (or update it, when moto does not execute)."""
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
        exists = True
    except sfn.exceptions.StateMachineDoesNotExist:
        exists = False
    tracing = props.get("TracingConfiguration")
    extra = {}
    if isinstance(tracing, dict) and not _has_intrinsic(tracing):
        extra["tracingConfiguration"] = {"enabled": str(tracing.get("Enabled", False)).lower() == "true"}
    if exists:  # execute_state_machine off: CloudFormation's state machine is the API's; fix its definition
        sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=role_arn, **extra)
        return
    tags = props.get("Tags") or []
    sfn.create_state_machine(
        name=arn.rsplit(":", 1)[-1],
        definition=definition,
        roleArn=role_arn,
        type=props.get("StateMachineType", "STANDARD"),
        tags=[{"key": t["Key"], "value": t["Value"]} for t in tags if not _has_intrinsic(t)],
        **extra,
    )


def _functions(
    lam: Any, cfn_template: dict[str, Any], physical: dict[str, str], code_dirs: dict[str, Path]
) -> dict[str, FunctionInfo]:
    functions = {}
    for logical_id, resource in cfn_template["Resources"].items():
        if resource.get("Type") != "AWS::Lambda::Function" or logical_id not in physical:
            continue
        config = lam.get_function_configuration(FunctionName=physical[logical_id])
        variables = (config.get("Environment") or {}).get("Variables") or {}
        if any(not isinstance(v, str) for v in variables.values()):
            # moto keeps a Number parameter's Ref as an int; Lambda (and os.environ) only hold strings.
            variables = {k: _cfn_text(v, None) for k, v in variables.items()}
            config = lam.update_function_configuration(
                FunctionName=physical[logical_id], Environment={"Variables": variables}
            )
        props = resource.get("Properties") or {}
        functions[logical_id] = FunctionInfo(
            logical_id=logical_id,
            name=config["FunctionName"],
            arn=config["FunctionArn"],
            code_dir=code_dirs.get(logical_id, Path()),
            handler=config.get("Handler") or props.get("Handler", ""),
            runtime=config.get("Runtime") or props.get("Runtime", ""),
            architectures=tuple(props.get("Architectures") or config.get("Architectures") or ["x86_64"]),
            memory_size=int(config.get("MemorySize") or props.get("MemorySize", 128)),
            timeout=int(config.get("Timeout") or props.get("Timeout", 3)),
            role_arn=config.get("Role", ""),
            environment=dict(variables),
            # as the template sets it: moto's CloudFormation model and UpdateFunctionConfiguration drop it
            tracing=str((props.get("TracingConfig") or {}).get("Mode", "PassThrough")),
        )
    return functions


def _triggers(sam_machine: dict[str, Any], resources: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The execution input each event source starts the state machine with: the SAM state machine's own
    events, and schedules whose universal target is ``sfn:startExecution`` (input nested in the API call)."""
    triggers = {}
    for name, event in ((sam_machine.get("Properties") or {}).get("Events") or {}).items():
        raw = (event.get("Properties") or {}).get("Input")
        if isinstance(raw, str):
            try:
                triggers[name] = json.loads(raw)
            except json.JSONDecodeError:
                continue
    for name, resource in (resources or {}).items():
        if resource.get("Type") != "AWS::Scheduler::Schedule":
            continue
        target = (resource.get("Properties") or {}).get("Target") or {}
        raw = target.get("Input")
        raw = raw.get("Fn::Sub") if isinstance(raw, dict) else raw
        if target.get("Arn") == "arn:aws:scheduler:::aws-sdk:sfn:startExecution" and isinstance(raw, str):
            try:
                triggers[name] = json.loads(json.loads(raw)["Input"])
            except (KeyError, TypeError, json.JSONDecodeError):
                continue
    return triggers


def _trigger_roles(iam: Any, cfn_template: dict[str, Any], machine_id: str, physical: dict[str, str]) -> dict[str, str]:
    """The role each event source starts executions with, by the event name ``DeployedStack.triggers`` uses: the
    SAM state machine's events become rules named ``<machine><event>``, schedules are their own resources."""

    def role_arn(value: Any) -> str | None:
        if isinstance(value, dict) and "Fn::GetAtt" in value and value["Fn::GetAtt"][0] in physical:
            return str(iam.get_role(RoleName=physical[value["Fn::GetAtt"][0]])["Role"]["Arn"])
        return None

    roles: dict[str, str] = {}
    for logical_id, resource in cfn_template["Resources"].items():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Events::Rule" and logical_id.startswith(machine_id):
            for target in props.get("Targets") or []:
                if (arn := role_arn(target.get("RoleArn"))) is not None:
                    roles[logical_id.removeprefix(machine_id)] = arn
        elif resource.get("Type") == "AWS::Scheduler::Schedule" and (
            arn := role_arn((props.get("Target") or {}).get("RoleArn"))
        ):
            roles[logical_id] = arn
    return roles

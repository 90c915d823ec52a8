"""Lint the Step Functions definitions in statemachine/ against the ASL spec, the template and the library.

    python tools/asl_lint.py [PATH ...] [--template template.yaml]

PATH is a ``*.asl.json`` file or a folder of them (default: ``statemachine``); a ``.yaml``/``.yml`` PATH is
taken as the template. For every definition it

1. replaces each ``${Name}`` with a plausible value of the type its ``DefinitionSubstitutions`` entry has
   (an ARN for ``!GetAtt X.Arn``/``!Ref Topic``, an integer for a number or a Number parameter), exactly
   as CloudFormation does it (text substitution, then JSON);
2. runs cfn-lint on a throwaway ``AWS::StepFunctions::StateMachine`` holding it, so rule E3601 checks
   the ASL (``sam validate --lint`` never looks at a ``DefinitionUri`` file);
3. checks what cfn-lint misses: every ``StartAt``/``Next``/``Default``/Choice/Catch target exists in its own
   (Map/Parallel) scope, every state is reachable, numeric fields are numbers, ``States.ALL`` comes last;
4. checks the ``${Name}`` used in the file against the template's ``DefinitionSubstitutions``, both ways;
5. checks that every error of ``threatfeed.errors.RETRYABLE_ERRORS`` is retried somewhere, and that no
   other threatfeed error is;
6. rejects what the embedded AWS (moto 5.2.5) cannot run: JSONata, ``Assign``, ``ItemBatcher``, EXPRESS
   child workflows, an integer ``ToleratedFailurePercentage``, a ``ResultWriter`` ``WriterConfig``, item readers
   and input types moto lacks;
7. keeps every Map's fan-out within Step Functions' limits: a Distributed Map's results go to S3 (``ResultWriter``)
   or nowhere (``ResultPath: null``), never into the 256 KiB state payload; ``ItemsPath`` and ``ItemReader`` are
   not both given; an inline Map asks for at most 40 concurrent iterations;
8. checks every JSONPath the state machine reads from a Lambda task's result against that task's contract
   (``threatfeed.pipeline.contracts.TASK_RESULTS``, by the ``${...FunctionArn}`` it invokes): a key renamed in a
   stage's result fails here, not at run time.

Exit status: 0 clean (warnings may be printed), 1 problems found, 2 usage error.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

ACCOUNT = "123456789012"
REGION = "us-east-1"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")

#: Fields the ASL requires to be numbers (a quoted "${Substitution}" becomes a string and fails at deploy).
NUMERIC_FIELDS = {
    "MaxConcurrency",
    "Seconds",
    "TimeoutSeconds",
    "HeartbeatSeconds",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "ToleratedFailureCount",
    "ToleratedFailurePercentage",
}

#: Fields holding payload templates, whose keys are data, not ASL.
PAYLOAD_FIELDS = ("Parameters", "ItemSelector", "ResultSelector", "Arguments", "Output", "Result")

#: ARN shapes by resource type, for synthesising substitution values.
ARN_BY_TYPE = {
    "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{{}}",
    "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{{}}",
    "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{{}}",
    "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{{}}",
    "AWS::Serverless::StateMachine": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{{}}",
    "AWS::StepFunctions::StateMachine": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{{}}",
    "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{{}}",
    "AWS::Serverless::SimpleTable": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{{}}",
    "AWS::S3::Bucket": "arn:aws:s3:::{}",
    "AWS::Events::EventBus": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{{}}",
    "AWS::SecretsManager::Secret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{{}}-AbCdEf",
}
#: What ``Ref`` returns when it is not the ARN.
REF_IS_NAME = {"AWS::S3::Bucket", "AWS::SSM::Parameter", "AWS::Serverless::Function", "AWS::Lambda::Function"}


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: error: {message}")

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{where}: warning: {message}")


# --------------------------------------------------------------------------- template


@dataclass
class MachineDecl:
    """An ``AWS::Serverless::StateMachine`` of the template whose ``DefinitionUri`` is a local file."""

    logical_id: str
    definition_path: Path
    substitutions: dict[str, Any]


def load_template(path: Path) -> dict[str, Any]:
    """The template as plain data, short-form intrinsics (``!Ref``...) expanded (cfn-lint's decoder)."""
    from cfnlint.decode import decode

    template, matches = decode(str(path))
    if template is None:
        raise SystemExit(f"{path}: cannot read the template: {'; '.join(str(m) for m in matches or [])}")
    return template


def state_machines(template: dict[str, Any], template_path: Path) -> list[MachineDecl]:
    found = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::StateMachine":
            continue
        props = resource.get("Properties") or {}
        uri = props.get("DefinitionUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            found.append(
                MachineDecl(
                    logical_id=logical_id,
                    definition_path=(template_path.parent / uri).resolve(),
                    substitutions=dict(props.get("DefinitionSubstitutions") or {}),
                )
            )
    return found


def plausible_value(name: str, value: Any, template: dict[str, Any]) -> str:
    """The text CloudFormation would put in place of ``${name}``, typed after the substitution's value."""
    resources = template.get("Resources") or {}
    parameters = template.get("Parameters") or {}
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        target = value["Ref"]
        if target in parameters:
            param = parameters[target] or {}
            if param.get("Type") == "Number":
                for key in ("Default", "MinValue", "MaxValue"):
                    if key in param:
                        return str(param[key])
                return "1"
            default = param.get("Default")
            return str(default) if default not in (None, "") else f"{target.lower()}-value"
        rtype = (resources.get(target) or {}).get("Type", "")
        if rtype in REF_IS_NAME:
            return f"{target.lower()}-name"
        if rtype in ARN_BY_TYPE:
            return ARN_BY_TYPE[rtype].format(target)
        return f"{target.lower()}-ref"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target, attr = _getatt(value["Fn::GetAtt"])
        rtype = (resources.get(target) or {}).get("Type", "")
        if attr.endswith("Arn") and rtype in ARN_BY_TYPE:
            return ARN_BY_TYPE[rtype].format(target)
        return f"{target.lower()}-{attr.lower()}"
    return heuristic_value(name)


def bare_placeholders(text: str) -> set[str]:
    """Names of the ``${Name}`` written outside JSON strings (numbers, booleans)."""
    bare: set[str] = set()
    in_string = escaped = False
    i = 0
    while i < len(text):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "$":
            match = PLACEHOLDER.match(text, i)
            if match:
                bare.add(match.group(1))
                i = match.end()
                continue
        i += 1
    return bare


def heuristic_value(name: str, *, bare: bool = False) -> str:
    """A value for a ``${name}`` the template does not declare, guessed from its name and place."""
    if bare:
        return "1"
    if name.endswith("Arn"):
        lowered = name.lower()
        for keyword, rtype in (
            ("function", "AWS::Lambda::Function"),
            ("topic", "AWS::SNS::Topic"),
            ("queue", "AWS::SQS::Queue"),
            ("statemachine", "AWS::StepFunctions::StateMachine"),
            ("table", "AWS::DynamoDB::Table"),
            ("bucket", "AWS::S3::Bucket"),
        ):
            if keyword in lowered:
                return ARN_BY_TYPE[rtype].format(name[: -len("Arn")])
        return f"arn:aws:states:{REGION}:{ACCOUNT}:activity:{name}"
    if re.search(r"(Concurrency|Seconds|Attempts|Count|Max|Min|Size|Timeout|Days|Rate)$", name):
        return "1"
    return name.lower()


def _getatt(spec: Any) -> tuple[str, str]:
    if isinstance(spec, str):
        target, _, attr = spec.partition(".")
        return target, attr
    return str(spec[0]), str(spec[1])


# --------------------------------------------------------------------------- ASL walking


@dataclass
class Scope:
    """One ``States`` map: the top level, a Map's ItemProcessor/Iterator or a Parallel branch."""

    where: str
    body: dict[str, Any]


def scopes(definition: dict[str, Any], where: str = "") -> Iterator[Scope]:
    yield Scope(where or "(top level)", definition)
    for name, state in (definition.get("States") or {}).items():
        if not isinstance(state, dict):
            continue
        base = f"{where}/States/{name}" if where else f"States/{name}"
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                yield from scopes(state[key], f"{base}/{key}")
        for i, branch in enumerate(state.get("Branches") or []):
            if isinstance(branch, dict):
                yield from scopes(branch, f"{base}/Branches/{i}")


def transitions(state: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    if "Next" in state:
        yield "Next", state["Next"]
    if state.get("Type") == "Choice":
        for i, rule in enumerate(state.get("Choices") or []):
            if isinstance(rule, dict):
                yield f"Choices/{i}/Next", rule.get("Next")
        if "Default" in state:
            yield "Default", state["Default"]
    for i, catcher in enumerate(state.get("Catch") or []):
        if isinstance(catcher, dict):
            yield f"Catch/{i}/Next", catcher.get("Next")


def check_moves_on(state: dict[str, Any], at: str, report: Report) -> None:
    """A state ends or names its next (a Choice through its Choices only)."""
    kind = state.get("Type")
    terminal = kind in ("Succeed", "Fail") or state.get("End") is True
    if kind != "Choice" and not terminal and "Next" not in state:
        report.error(at, "has neither Next nor End")
    if kind == "Choice" and not state.get("Choices"):
        report.error(at, "is a Choice without Choices")
    if kind == "Choice" and ("Next" in state or "End" in state):
        report.error(at, "is a Choice: it moves on through Choices/Default, not Next/End")
    if "Next" in state and state.get("End") is True:
        report.error(at, "has both Next and End")


def check_error_clauses(state: dict[str, Any], at: str, report: Report) -> None:
    """``States.ALL`` only alone, in the last Retry or Catch clause (AWS refuses the definition otherwise)."""
    for key in ("Retry", "Catch"):
        clauses = state.get(key) or []
        for i, clause in enumerate(clauses):
            names = (clause.get("ErrorEquals") or []) if isinstance(clause, dict) else []
            if "States.ALL" in names and (len(names) > 1 or i != len(clauses) - 1):
                report.error(at, f"{key}/{i}: States.ALL must be alone in the last {key} clause")


def check_scope(scope: Scope, file: str, report: Report) -> None:
    states = scope.body.get("States")
    start = scope.body.get("StartAt")
    where = f"{file}: {scope.where}"
    if not isinstance(states, dict) or not states:
        report.error(where, "has no States")
        return
    if start not in states:
        report.error(where, f"StartAt {start!r} is not a state of this scope (it has: {', '.join(states)})")
    edges: dict[str, set[str]] = {name: set() for name in states}
    prefix = "" if scope.where == "(top level)" else f"{scope.where}/"
    for name, state in states.items():
        at = f"{file}: {prefix}States/{name}"
        if not isinstance(state, dict):
            report.error(at, "is not an object")
            continue
        for label, target in transitions(state):
            if target not in states:
                report.error(
                    at,
                    f"{label} -> {target!r} is not a state of this scope "
                    f"(a Map/Parallel body cannot jump out of itself; states here: {', '.join(states)})",
                )
            else:
                edges[name].add(target)
        check_moves_on(state, at, report)
        check_error_clauses(state, at, report)
    reachable: set[str] = set()
    todo = [start] if start in states else []
    while todo:
        name = todo.pop()
        if name in reachable:
            continue
        reachable.add(name)
        todo.extend(edges.get(name, ()))
    for name in states:
        if start in states and name not in reachable:
            report.error(f"{where}", f"state {name!r} is unreachable from StartAt {start!r}")


def walk(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """Every (path, key, value) of the definition, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            sub = f"{path}/{key}" if path else key
            yield sub, key, value
            yield from walk(value, sub)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


def _in_payload(path: str) -> bool:
    """Whether the path lies inside Parameters/ItemSelector/...: data there is not ASL."""
    return any(f"/{payload}/" in f"/{path}/" for payload in PAYLOAD_FIELDS)


def check_fields(definition: dict[str, Any], file: str, report: Report) -> None:
    """Numeric fields, and what moto 5.2.5 (the embedded AWS) cannot execute."""
    if definition.get("QueryLanguage") == "JSONata":
        report.error(file, "QueryLanguage JSONata: the embedded AWS (moto) runs JSONPath only")
    for path, key, value in walk(definition):
        in_body = not _in_payload(path)
        if key in NUMERIC_FIELDS and in_body and not isinstance(value, int | float):
            report.error(
                f"{file}: {path}",
                f"must be a number, not {value!r} (write the substitution unquoted, e.g. {key}: ${{Name}})",
            )
        if not in_body:
            continue
        if key == "QueryLanguage" and value == "JSONata":
            report.error(f"{file}: {path}", "JSONata: the embedded AWS (moto) runs JSONPath only")
        elif key == "Assign":
            report.error(f"{file}: {path}", "Assign (variables) is not supported by the embedded AWS (moto)")
        elif key == "ItemBatcher":
            report.error(f"{file}: {path}", "ItemBatcher is not supported by the embedded AWS (moto)")
        elif key == "ExecutionType" and value == "EXPRESS":
            report.error(f"{file}: {path}", "EXPRESS child workflows are not run by the embedded AWS (moto)")
        elif key == "ToleratedFailurePercentage" and isinstance(value, int):
            report.error(f"{file}: {path}", f"write {value}.0: moto rejects an integer percentage")
        elif key == "WriterConfig":
            report.error(f"{file}: {path}", "ResultWriter WriterConfig is not supported by the embedded AWS (moto)")
    for scope in scopes(definition):
        for name, state in (scope.body.get("States") or {}).items():
            if isinstance(state, dict) and state.get("Type") == "Map":
                where = f"{file}: {'' if scope.where == '(top level)' else scope.where + '/'}States/{name}"
                check_map(state, where, report)


#: What moto 5.2.5 (the embedded AWS) reads items with, and the input types it parses.
ITEM_READER_RESOURCES = {"arn:aws:states:::s3:getObject", "arn:aws:states:::s3:listObjectsV2"}
ITEM_READER_INPUT_TYPES = {"JSON", "CSV"}
INLINE_MAP_CONCURRENCY = 40


def check_map(state: dict[str, Any], where: str, report: Report) -> None:
    """A Map's fan-out within Step Functions' limits, in a form the embedded AWS runs.

    A Distributed Map's results are every child's output: without a ``ResultWriter`` (or ``ResultPath: null``)
    they come back into the state payload, which is capped at 256 KiB whatever the number of items. An inline Map
    runs at most 40 iterations at once.
    """
    processor = state.get("ItemProcessor") or state.get("Iterator") or {}
    mode = ((processor.get("ProcessorConfig") or {}).get("Mode")) or "INLINE"
    reader = state.get("ItemReader")
    if mode != "DISTRIBUTED":
        if reader is not None or "ResultWriter" in state:
            report.error(where, "ItemReader and ResultWriter need ProcessorConfig Mode DISTRIBUTED")
        limit = state.get("MaxConcurrency")
        if isinstance(limit, int) and limit > INLINE_MAP_CONCURRENCY:
            report.warn(where, f"an inline Map runs at most {INLINE_MAP_CONCURRENCY} iterations at once")
        return
    if "ResultWriter" not in state and "ResultPath" in state and state["ResultPath"] is not None:
        report.error(
            where,
            "a Distributed Map without ResultWriter returns every child's output into the state payload "
            "(256 KiB): write them to S3 with ResultWriter, or set ResultPath to null",
        )
    elif "ResultWriter" not in state and "ResultPath" not in state:
        report.error(
            where, "a Distributed Map without ResultWriter needs ResultPath null (its results go to the payload)"
        )
    if reader is not None:
        if "ItemsPath" in state:
            report.error(where, "ItemsPath is ignored when an ItemReader gives the items; remove one of them")
        if reader.get("Resource") not in ITEM_READER_RESOURCES:
            report.error(
                where,
                f"ItemReader Resource {reader.get('Resource')!r}: the embedded AWS (moto) reads items only "
                f"with {', '.join(sorted(ITEM_READER_RESOURCES))}",
            )
        input_type = (reader.get("ReaderConfig") or {}).get("InputType")
        if input_type is not None and input_type not in ITEM_READER_INPUT_TYPES:
            report.error(where, f"ItemReader InputType {input_type}: the embedded AWS (moto) parses only JSON and CSV")
    writer = state.get("ResultWriter")
    if writer is not None and writer.get("Resource") != "arn:aws:states:::s3:putObject":
        report.error(where, "ResultWriter Resource must be arn:aws:states:::s3:putObject")
    if writer is not None and any(str(k).endswith(".$") for k in (writer.get("Parameters") or {})):
        report.error(
            where,
            "ResultWriter Parameters with paths: the embedded AWS (moto) evaluates them against the children's "
            "results, not the state input; name the bucket and prefix (a DefinitionSubstitution)",
        )


def check_errors(definition: dict[str, Any], file: str, report: Report) -> None:
    """Retry names against threatfeed.errors: retryable ones retried somewhere, the others never."""
    try:
        from threatfeed import errors
    except ImportError as exc:  # pragma: no cover - the library is part of this repository
        report.error(file, f"cannot import threatfeed.errors to check Retry names: {exc}")
        return
    retryable = set(errors.RETRYABLE_ERRORS)
    known = {
        name for name, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, errors.ThreatfeedError)
    }
    retried: set[str] = set()
    for path, key, value in walk(definition):
        if key not in ("Retry", "Catch") or not isinstance(value, list) or _in_payload(path):
            continue
        for i, clause in enumerate(value):
            for name in (clause.get("ErrorEquals") or []) if isinstance(clause, dict) else []:
                if key == "Retry":
                    retried.add(name)
                    if name in known and name not in retryable:
                        report.error(
                            f"{file}: {path}/{i}",
                            f"retries {name}, which threatfeed.errors does not list in RETRYABLE_ERRORS "
                            "(retrying it only delays the failure)",
                        )
                    if name == "States.ALL":
                        report.warn(
                            f"{file}: {path}/{i}",
                            "Retry on States.ALL also retries the errors threatfeed marks as not retryable",
                        )
                if "." not in name and name not in known:
                    report.warn(
                        f"{file}: {path}/{i}",
                        f"{key} names {name!r}, which is not an error class of threatfeed.errors (typo?)",
                    )
    for name in sorted(retryable - retried):
        report.error(file, f"{name} is in threatfeed.errors.RETRYABLE_ERRORS but no Retry clause names it")


# --------------------------------------------------------------------------- stage contracts

#: A JSONPath read from the state (not ``$$.`` context): ``$.a.b`` up to the first non-name character.
READ_PATH = re.compile(r"(?<![$\w])\$((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
#: Fields that write into the state rather than read from it.
WRITE_FIELDS = {"ResultPath"}


def contract_of(substitution: str) -> type | None:
    """The TypedDict a function's result follows (``threatfeed.pipeline.contracts.TASK_RESULTS``)."""
    from threatfeed.pipeline.contracts import TASK_RESULTS

    return TASK_RESULTS.get(substitution)


def payload_mount(state: dict[str, Any]) -> list[str] | None:
    """Where a Lambda task's ``Payload`` lands in the state after it: ``ResultPath`` plus the ResultSelector key
    holding ``$.Payload`` (``{"result.$": "$.Payload"}`` under ``$.transform``: ``["transform", "result"]``).
    None when it is not mounted under a key (replacing the state, or not selected)."""

    def find(node: Any, trail: list[str]) -> list[str] | None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith(".$") and value == "$.Payload":
                    return [*trail, key[:-2]]
                found = find(value, [*trail, key])
                if found is not None:
                    return found
        return None

    inside = find(state.get("ResultSelector"), [])
    if inside is None:
        return None
    result_path = state.get("ResultPath", "$")
    if not isinstance(result_path, str) or not result_path.startswith("$"):
        return None
    base = [part for part in result_path[1:].split(".") if part]
    mount = [*base, *inside]
    return mount or None


def contract_keys(contract: Any, keys: list[str]) -> str | None:
    """None if ``keys`` resolve through ``contract`` (nested TypedDicts; anything else ends the check), else the
    first key that is not there, with the keys that are."""
    import typing

    current: Any = contract
    for key in keys:
        if not (isinstance(current, type) and hasattr(current, "__required_keys__")):
            return None  # a list, a dict of anything, a scalar: the contract says no more
        hints = typing.get_type_hints(current)
        if key not in hints:
            return f"{key!r} is not a key of {current.__name__} (it has: {', '.join(sorted(hints))})"
        current = _strip_not_required(hints[key])
    return None


def _strip_not_required(hint: Any) -> Any:
    import typing

    while typing.get_origin(hint) in (typing.NotRequired, typing.Required):
        hint = typing.get_args(hint)[0]
    return hint


def _reads(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every (where, JSONPath) a state reads from its input, without descending into nested scopes."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in WRITE_FIELDS or key in ("ItemProcessor", "Iterator", "Branches"):
                continue
            yield from _reads(value, f"{path}/{key}" if path else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _reads(value, f"{path}/{i}")
    elif isinstance(node, str):
        for match in READ_PATH.finditer(node):
            yield path, match.group(1)


def check_contracts(
    definition: dict[str, Any], file: str, report: Report, functions: dict[str, str], contracts: Any = None
) -> None:
    """Each JSONPath read in a scope under where a Lambda task mounted its result must be a key of the task's
    contract. ``functions`` maps the substituted function ARN to its ``${...FunctionArn}`` name; ``contracts``
    (for tests) replaces :func:`contract_of`."""
    lookup = contracts.get if contracts is not None else contract_of
    for scope in scopes(definition):
        mounts: list[tuple[list[str], Any, str]] = []
        states = scope.body.get("States") or {}
        for name, state in states.items():
            if not isinstance(state, dict) or state.get("Type") != "Task":
                continue
            function = (state.get("Parameters") or {}).get("FunctionName")
            contract = lookup(functions.get(function, "")) if isinstance(function, str) else None
            mount = payload_mount(state)
            if contract is not None and mount:
                mounts.append((mount, contract, name))
        if not mounts:
            continue
        prefix = "" if scope.where == "(top level)" else f"{scope.where}/"
        for name, state in states.items():
            for where, read in _reads(state):
                keys = read[1:].split(".")
                for mount, contract, task in mounts:
                    if keys[: len(mount)] != mount:
                        continue
                    problem = contract_keys(contract, keys[len(mount) :])
                    if problem:
                        report.error(
                            f"{file}: {prefix}States/{name}/{where}",
                            f"reads ${read} from {task}'s result: {problem} "
                            "(threatfeed.pipeline.contracts; rename both or neither)",
                        )


# --------------------------------------------------------------------------- cfn-lint


@functools.cache
def _cfn_lint_runner() -> Any:
    """cfn-lint's runner with all its rules, loaded once (loading them costs more than linting)."""
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn(regions=[REGION]))


def cfn_lint(definition: dict[str, Any], file: str, report: Report) -> None:
    from cfnlint.decode.decode import decode_str

    wrapper = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "StateMachine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/asl-lint",
                    "StateMachineType": "STANDARD",
                    "Definition": definition,
                },
            }
        },
    }
    prefix = ["Resources", "StateMachine", "Properties", "Definition"]
    decoded, problems = decode_str(json.dumps(wrapper))
    for match in problems or _cfn_lint_runner().validate_template(decoded):
        steps = list(getattr(match, "path", None) or [])
        if steps[: len(prefix)] == prefix:
            steps = steps[len(prefix) :]
        where = f"{file}: {'/'.join(str(s) for s in steps) or '(definition)'}"
        text = f"{match.rule.id} {match.message}"
        if _succeed_paths_false_positive(definition, steps, match.message):
            report.warn(
                where,
                f"{text} - ignored: the ASL spec allows InputPath/OutputPath on a Succeed state and cfn-lint's "
                "schema does not; a Pass state before the Succeed avoids the question",
            )
        elif match.rule.id.startswith("E"):
            report.error(where, text)
        else:
            report.warn(where, text)


def _succeed_paths_false_positive(definition: dict[str, Any], steps: list[Any], message: str) -> bool:
    """cfn-lint's E3601 rejects InputPath/OutputPath on Succeed states, which the ASL spec allows."""
    if not re.search(r"'(InputPath|OutputPath)' was unexpected", message):
        return False
    node: Any = definition
    for step in steps[:-1]:  # the last step is the unexpected property itself
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return False
    return isinstance(node, dict) and node.get("Type") == "Succeed"


# --------------------------------------------------------------------------- driver


def lint_file(path: Path, decl: MachineDecl | None, template: dict[str, Any], report: Report) -> None:
    file = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        report.error(file, f"cannot read: {exc}")
        return
    used = set(PLACEHOLDER.findall(text))
    declared = set(decl.substitutions) if decl else set()
    if decl is None:
        report.error(file, "no AWS::Serverless::StateMachine of the template has this DefinitionUri")
    else:
        for name in sorted(used - declared):
            report.error(file, f"${{{name}}} is used but not in {decl.logical_id}'s DefinitionSubstitutions (template)")
        for name in sorted(declared - used):
            report.error(file, f"DefinitionSubstitutions {name} ({decl.logical_id}) is never used in the file")
    bare = bare_placeholders(text)
    values = {
        name: plausible_value(name, decl.substitutions[name], template)
        if decl and name in decl.substitutions
        else heuristic_value(name, bare=name in bare)
        for name in used
    }
    substituted = PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
    try:
        definition = json.loads(substituted)
    except json.JSONDecodeError as exc:
        report.error(f"{file}:{exc.lineno}:{exc.colno}", f"not JSON once substitutions are applied: {exc.msg}")
        return
    if not isinstance(definition, dict):
        report.error(file, "the definition is not a JSON object")
        return
    cfn_lint(definition, file, report)
    for scope in scopes(definition):
        check_scope(scope, file, report)
    check_fields(definition, file, report)
    check_errors(definition, file, report)
    functions = {values[name]: name for name in used if name.endswith("FunctionArn")}
    check_contracts(definition, file, report, functions)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="*.asl.json files or folders (default: statemachine)")
    parser.add_argument("--template", default=None, help="the SAM template (default: template.yaml)")
    args = parser.parse_args(argv)

    template_path = Path(args.template) if args.template else None
    targets: list[Path] = []
    for raw in args.paths or ["statemachine"]:
        p = Path(raw)
        if p.suffix in (".yaml", ".yml") and template_path is None:
            template_path = p
        elif p.is_dir():
            targets.extend(sorted(p.glob("*.asl.json")))
        elif p.is_file():
            targets.append(p)
        else:
            print(f"asl_lint: {raw}: no such file or folder", file=sys.stderr)
            return 2
    template_path = template_path or Path("template.yaml")
    if not template_path.is_file():
        print(f"asl_lint: {template_path}: template not found (use --template)", file=sys.stderr)
        return 2

    report = Report()
    template = load_template(template_path)
    decls = {d.definition_path: d for d in state_machines(template, template_path)}
    for decl in decls.values():
        if not decl.definition_path.is_file():
            report.error(
                _display(template_path),
                f"{decl.logical_id}: DefinitionUri {_display(decl.definition_path)} does not exist",
            )
    if not targets and not report.errors:
        report.error(" ".join(args.paths or ["statemachine"]), "no *.asl.json definition found")
    for path in targets:
        lint_file(path, decls.get(path.resolve()), template, report)

    for line in report.warnings + report.errors:
        print(line)
    checked = ", ".join(_display(p) for p in targets) or "nothing"
    if report.errors:
        print(f"asl_lint: {len(report.errors)} error(s), {len(report.warnings)} warning(s) in {checked}")
        return 1
    print(f"asl_lint: {checked}: OK ({len(report.warnings)} warning(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())

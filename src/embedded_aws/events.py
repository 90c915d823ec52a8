"""EventBridge rules with Lambda targets, for the embedded AWS: moto 5.2.5 matches rules but delivers only to
logs, SQS, archives and other buses (a Lambda target is skipped without a word), and its pattern matcher does not
look into arrays of objects (``detail.service.evidence.threatIntelligenceDetails.threatListName`` never matches).

:func:`lambda_targets_delivered` adds what AWS does, for every rule of every Region:

* the pattern is matched as EventBridge matches it (:func:`matches`): arrays are flattened at any depth (a field
  matches when any of its values does), ``prefix``, ``suffix``, ``anything-but``, ``exists``,
  ``equals-ignore-case``, ``numeric``, ``$or``;
* a Lambda target is invoked only if the function's resource policy lets ``events.amazonaws.com`` invoke it from
  that rule (``AWS::Lambda::Permission`` with ``SourceArn``, as SAM's ``EventBridgeRule`` creates); otherwise
  the delivery fails, as EventBridge's does, and nothing runs;
* the invocation is asynchronous, as EventBridge's is (another thread), with the function's execution role
  (``HandlerRegistry``), and Lambda's two retries of an asynchronous invocation that fails.

Every delivery is kept in :class:`Deliveries` (``EmbeddedAws.deliveries``); :meth:`Deliveries.wait` waits for the
ones under way (tests, and ``threatfeed local finding``, which answers once its finding was handled).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import eq, ge, gt, le, lt
from typing import Any

#: Lambda's attempts of an asynchronous invocation that fails (the first and two retries).
ASYNC_ATTEMPTS = 3


# --------------------------------------------------------------------------- EventBridge pattern matching


def _values(node: Any, path: list[str]) -> list[Any]:
    """Every leaf value at ``path`` in ``node``, arrays flattened at any depth (as EventBridge matches)."""
    if isinstance(node, list):
        return [v for item in node for v in _values(item, path)]
    if not path:
        return [node]
    if not isinstance(node, Mapping) or path[0] not in node:
        return []
    return _values(node[path[0]], path[1:])


def _present(node: Any, path: list[str]) -> bool:
    if isinstance(node, list):
        return any(_present(item, path) for item in node)
    if not path:
        return True
    return isinstance(node, Mapping) and path[0] in node and _present(node[path[0]], path[1:])


def _numeric(value: Any, spec: list[Any]) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    ops = {"<": lt, "<=": le, "=": eq, ">=": ge, ">": gt}
    return all(ops[op](value, bound) for op, bound in zip(spec[::2], spec[1::2], strict=False))


def _filter_matches(value: Any, rule: Any) -> bool:
    """One value against one filter of a pattern's array."""
    if not isinstance(rule, Mapping):
        return bool(value == rule) and isinstance(value, bool) == isinstance(rule, bool)
    (name, arg), *_ = rule.items()
    if name == "prefix":
        if isinstance(arg, Mapping):
            return isinstance(value, str) and value.lower().startswith(str(arg["equals-ignore-case"]).lower())
        return isinstance(value, str) and value.startswith(arg)
    if name == "suffix":
        if isinstance(arg, Mapping):
            return isinstance(value, str) and value.lower().endswith(str(arg["equals-ignore-case"]).lower())
        return isinstance(value, str) and value.endswith(arg)
    if name == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(arg).lower()
    if name == "numeric":
        return _numeric(value, list(arg))
    if name == "anything-but":
        if isinstance(arg, Mapping):
            return not _filter_matches(value, arg)
        excluded = arg if isinstance(arg, list) else [arg]
        return value not in excluded
    raise NotImplementedError(f"the embedded AWS does not match the EventBridge filter {name!r} (pattern {rule})")


def _field_matches(event: Mapping[str, Any], path: list[str], filters: list[Any]) -> bool:
    exists = [f for f in filters if isinstance(f, Mapping) and "exists" in f]
    others = [f for f in filters if f not in exists]
    present = _present(event, path)
    if any(bool(f["exists"]) == present for f in exists):
        return True
    if not present:
        return False
    values = _values(event, path)
    return any(_filter_matches(v, f) for v in values for f in others)


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any], prefix: list[str] | None = None) -> bool:
    """Whether ``event`` matches the EventBridge ``pattern``."""
    prefix = prefix or []
    for key, value in pattern.items():
        if key == "$or":
            if not any(matches(p, event, prefix) for p in value):
                return False
        elif isinstance(value, Mapping):
            if not matches(value, event, [*prefix, key]):
                return False
        elif isinstance(value, list):
            if not _field_matches(event, [*prefix, key], value):
                return False
        else:
            return False  # EventBridge rejects such a pattern; never match it
    return True


# --------------------------------------------------------------------------- deliveries


@dataclass
class Delivery:
    """One event delivered (or not) to one Lambda target of one rule."""

    rule: str
    rule_arn: str
    function: str
    event: dict[str, Any]
    outcome: str = "pending"  # pending, ok, failed (the handler raised on every attempt), denied
    attempts: int = 0
    result: Any = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)


class Deliveries:
    """Every delivery of the embedded AWS's rules to Lambda targets."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self.items: list[Delivery] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def for_event(self, event_id: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.items if d.event.get("id") == event_id]

    def to(self, function_fragment: str) -> list[Delivery]:
        """The deliveries to the functions whose name contains ``function_fragment`` (``Tamper``, say)."""
        with self._lock:
            return [d for d in self.items if function_fragment in d.function]

    def wait(self, timeout: float = 60) -> None:
        """Wait until every delivery started so far has ended."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def start(self, delivery: Delivery, fn: Any) -> None:
        with self._lock:
            self.items.append(delivery)
        thread = threading.Thread(target=self._run, args=(delivery, fn), name=f"eventbridge-{delivery.rule}")
        thread.daemon = True
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _run(self, delivery: Delivery, fn: Any) -> None:
        try:
            for attempt in range(1, ASYNC_ATTEMPTS + 1):
                delivery.attempts = attempt
                payload, errored, _ = self.registry.invoke(fn, json.dumps(delivery.event))
                delivery.result = json.loads(payload) if payload else None
                if not errored:
                    delivery.outcome = "ok"
                    return
                delivery.outcome = "failed"
                delivery.error = str((delivery.result or {}).get("errorMessage", payload))
        except Exception as error:
            delivery.outcome, delivery.error = "failed", f"{type(error).__name__}: {error}"
        finally:
            delivery.done.set()


def _invoke_allowed(backend: Any, function_name: str, rule_arn: str) -> bool:
    """Whether the function's resource policy lets EventBridge invoke it from ``rule_arn``."""
    try:
        answer = json.loads(backend.get_policy(function_name))
        policy = json.loads(answer["Policy"]) if isinstance(answer.get("Policy"), str) else answer
    except Exception:
        return False
    for statement in policy.get("Statement", []):
        principal = statement.get("Principal")
        service = principal.get("Service") if isinstance(principal, Mapping) else principal
        actions = statement.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        if statement.get("Effect") != "Allow" or service != "events.amazonaws.com":
            continue
        if not {"lambda:InvokeFunction", "lambda:*"} & set(actions):
            continue
        condition = statement.get("Condition") or {}
        source = (condition.get("ArnLike") or {}).get("AWS:SourceArn") or (condition.get("ArnEquals") or {}).get(
            "AWS:SourceArn"
        )
        if source is None or source == rule_arn:
            return True
    return False


@contextmanager
def lambda_targets_delivered(registry: Any) -> Iterator[Deliveries]:
    """Deliver events to the Lambda targets of matching rules, as EventBridge does, for the block."""
    from moto.awslambda.models import lambda_backends
    from moto.events.models import Rule
    from moto.utilities.arns import parse_arn

    global _current
    deliveries = Deliveries(registry)
    original = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
        if any(parse_arn(t["Arn"]).service != "lambda" for t in self.targets):
            original(self, original_event, transform_input)  # moto's own targets, with its own matching
        if self.state != "ENABLED" or not matches(self.event_pattern.get_pattern() or {}, original_event):
            return
        for target in self.targets:
            arn = parse_arn(target["Arn"])
            if arn.service != "lambda":
                continue
            event = json.loads(target["Input"]) if target.get("Input") else json.loads(json.dumps(original_event))
            if "InputPath" in target or "InputTransformer" in target:
                raise NotImplementedError(f"rule {self.name}: the embedded AWS delivers whole events or Input only")
            name = arn.resource_id.split(":")[0]
            backend = lambda_backends[arn.account][arn.region]
            delivery = Delivery(self.name, self.arn, name, event)
            if not _invoke_allowed(backend, name, self.arn):
                delivery.outcome = "denied"
                delivery.error = (
                    f"function {name} has no resource policy letting events.amazonaws.com invoke it from {self.arn} "
                    "(AWS::Lambda::Permission): EventBridge counts a FailedInvocation and drops the event"
                )
                delivery.done.set()
                with deliveries._lock:
                    deliveries.items.append(delivery)
                continue
            deliveries.start(delivery, backend.get_function(name))

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
    _current = deliveries
    try:
        yield deliveries
    finally:
        deliveries.wait()
        _current = None
        Rule.send_to_targets = original  # type: ignore[method-assign]


_current: Deliveries | None = None


def current_deliveries() -> Deliveries | None:
    """The deliveries of the running embedded AWS (the finding route of ``local serve`` waits for them)."""
    return _current


def put_event(account: str, region: str, source: str, detail_type: str, detail: Mapping[str, Any]) -> str:
    """Put an event on the default bus of ``region`` as an AWS service does (not through PutEvents, which refuses
    ``aws.*`` sources to callers); returns the event id."""
    import datetime

    from moto.events.models import events_backends

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = events_backends[account][region].put_events(
        [{"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail), "Time": now}]
    )
    return str(entries[0]["EventId"])

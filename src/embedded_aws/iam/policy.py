"""A pure IAM policy evaluator: identity-based policies, an optional resource-based policy, Allow/Deny.

No moto and no boto here: policies are the JSON documents (dicts) IAM holds, a request is an action, a
resource ARN and its request context (condition keys). The embedded AWS uses it to refuse what AWS would
refuse; it is tested on its own, without mocks.

What it implements (IAM User Guide, "Policy evaluation logic" and "IAM JSON policy elements"):

* ``Statement`` as a dict or a list; ``Action``/``NotAction`` and ``Resource``/``NotResource`` as a string or a
  list, with ``*`` and ``?`` wildcards (actions case-insensitive, resources case-sensitive; an ARN is matched
  segment by segment, so a wildcard in the Region never swallows the account). A request on resource ``"*"``
  (an action without resource-level permissions) is granted only by a statement whose Resource matches ``*``.
* Policy variables (``${aws:username}``, ``${aws:PrincipalTag/x, 'default'}``, ``${*}``, ``${?}``, ``${$}``) in
  Resource and condition values of ``"Version": "2012-10-17"`` policies; an unresolved variable matches nothing.
* Every condition operator family: String*, Numeric*, Date*, Bool, BinaryEquals, IpAddress/NotIpAddress,
  Arn*, Null, the ``...IfExists`` suffix and the ``ForAnyValue:``/``ForAllValues:`` set prefixes. Keys and
  operators are AND-ed, the values of one key OR-ed. A key absent from the request context makes a condition
  false, except that negated operators (StringNotEquals, ArnNotLike...) are then *true* (IAM User Guide,
  condition operators: "If the policy condition requires that the key is not matched, such as StringNotLike
  or ArnNotLike, and the right key is not present, the condition is true"), ``...IfExists`` is true, Null tests
  presence, ``ForAllValues`` is true and ``ForAnyValue`` false. Condition key names are case-insensitive.
  An operator this module does not know (a typo AWS would have rejected) fails closed: an Allow statement
  does not apply, a Deny statement does.
* Decision: an explicit Deny anywhere wins; otherwise the request needs an Allow. Without a resource policy
  that is an identity-based Allow (and, if the role has one, a permissions boundary Allow). A same-account
  resource policy (an S3 bucket policy) also grants on its own when it names the principal (its role or
  session ARN, or ``*``); naming the account only delegates to IAM. A KMS key policy is required: it either
  allows the principal itself or delegates to IAM through the account principal (``arn:aws:iam::<acct>:root``),
  and then an identity-based Allow is needed as well.

Not modelled: SCPs/RCPs, session policies, cross-account access, ``NotPrincipal`` subtleties beyond "none of
the listed principals", IAM's policy-size and grammar validation.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

__all__ = [
    "ContextValue",
    "Decision",
    "Policy",
    "PolicyType",
    "Principal",
    "Request",
    "StatementRef",
    "action_matches",
    "conditions_hold",
    "evaluate",
    "resource_matches",
    "statements",
]

#: A request-context value: a string, a bool/number (compared as IAM's string form) or a multivalued key.
ContextValue = str | bool | int | float | Sequence[str]
PolicyType = Literal["identity-based", "resource-based", "permissions boundary"]
_POLICY_VARIABLES_VERSION = "2012-10-17"


# --------------------------------------------------------------------------- inputs and the decision


@dataclass(frozen=True)
class Principal:
    """Who makes the request, as a resource-based policy's ``Principal`` element can name it."""

    arn: str  # the session ARN error messages name: arn:aws:sts::<acct>:assumed-role/<role>/<session>
    account: str
    role_arn: str | None = None  # arn:aws:iam::<acct>:role/<path><name>


@dataclass(frozen=True)
class Request:
    """One authorization question: may ``principal`` perform ``action`` on ``resource`` in this context."""

    action: str  # service:Action, e.g. s3:GetObject
    resource: str  # an ARN, or "*" for actions without resource-level permissions
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    principal: Principal | None = None  # needed only to evaluate resource-based policies


@dataclass(frozen=True)
class Policy:
    """A policy document with the name a denial message or a test refers to it by."""

    name: str
    document: Mapping[str, Any]

    @classmethod
    def of(cls, value: Policy | Mapping[str, Any] | str, name: str) -> Policy:
        """Accept a :class:`Policy`, a document, or a document's JSON text (how IAM APIs hand them over)."""
        if isinstance(value, Policy):
            return value
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, Mapping):
            raise TypeError(f"policy {name!r} is not a JSON object")
        return cls(name, value)


@dataclass(frozen=True)
class StatementRef:
    """Which statement decided: the policy's name, the statement's position and Sid."""

    policy: str
    index: int
    sid: str | None

    def __str__(self) -> str:
        label = f"statement {self.sid!r}" if self.sid else f"statement #{self.index}"
        return f"{label} of {self.policy}"


@dataclass(frozen=True)
class Decision:
    """The outcome: allowed or not, and what decided it (for AWS-style messages and for tests)."""

    allowed: bool
    explicit: bool  # True for an explicit Deny (the policy type and statement say where)
    policy_type: PolicyType
    statement: StatementRef | None = None  # the deciding Allow or Deny; None for an implicit deny

    def reason(self, action: str) -> str:
        """The tail of AWS's access-denied message, e.g. ``because no identity-based policy allows the s3:GetObject
        action`` or ``with an explicit deny in a resource-based policy``."""
        if self.allowed:
            return f"allowed by {self.statement}" if self.statement else "allowed"
        if self.explicit:
            where = {
                "identity-based": "an identity-based policy",
                "resource-based": "a resource-based policy",
                "permissions boundary": "a permissions boundary",
            }[self.policy_type]
            return f"with an explicit deny in {where}"
        if self.policy_type == "permissions boundary":
            return f"because no permissions boundary allows the {action} action"
        return f"because no {self.policy_type} policy allows the {action} action"


# --------------------------------------------------------------------------- evaluation


@dataclass
class _Scan:
    """What one set of policies says about a request."""

    deny: StatementRef | None = None
    allow: StatementRef | None = None  # identity policies: any Allow; resource policies: naming the principal
    account_allow: StatementRef | None = None  # resource policies: an Allow naming only the principal's account


def evaluate(
    request: Request,
    identity_policies: Iterable[Policy | Mapping[str, Any] | str] = (),
    *,
    resource_policy: Policy | Mapping[str, Any] | str | None = None,
    key_policy: Policy | Mapping[str, Any] | str | None = None,
    permissions_boundary: Policy | Mapping[str, Any] | str | None = None,
) -> Decision:
    """Decide ``request`` as IAM does within one account.

    ``resource_policy`` is a same-account resource policy (an S3 bucket policy): it can deny, and it can allow
    on its own when it names the principal. ``key_policy`` is a KMS key policy: without its Allow nothing is
    allowed, and an Allow for the account's root principal delegates to the identity-based policies.
    """
    identity = _scan(_policies(identity_policies, "identity-based policy"), request, resource_based=False)
    resource = _scan(_policies(_optional(resource_policy), "resource-based policy"), request, resource_based=True)
    key = _scan(_policies(_optional(key_policy), "key policy"), request, resource_based=True)
    boundary = (
        _scan(_policies(_optional(permissions_boundary), "permissions boundary"), request, resource_based=False)
        if permissions_boundary is not None
        else None
    )

    if identity.deny:
        return Decision(False, True, "identity-based", identity.deny)
    for scan in (resource, key):
        if scan.deny:
            return Decision(False, True, "resource-based", scan.deny)
    if boundary is not None and boundary.deny:
        return Decision(False, True, "permissions boundary", boundary.deny)

    identity_decision = _identity_path(identity, boundary)
    if key_policy is not None:
        if key.allow:
            return Decision(True, False, "resource-based", key.allow)
        if key.account_allow:
            return identity_decision
        return Decision(False, False, "resource-based")
    if resource.allow:
        return Decision(True, False, "resource-based", resource.allow)
    return identity_decision


def _identity_path(identity: _Scan, boundary: _Scan | None) -> Decision:
    """Allowed through the principal's own policies (within its permissions boundary, if it has one)."""
    if not identity.allow:
        return Decision(False, False, "identity-based")
    if boundary is not None and not boundary.allow:
        return Decision(False, False, "permissions boundary")
    return Decision(True, False, "identity-based", identity.allow)


def _optional(policy: Policy | Mapping[str, Any] | str | None) -> list[Policy | Mapping[str, Any] | str]:
    return [] if policy is None else [policy]


def _policies(values: Iterable[Policy | Mapping[str, Any] | str], label: str) -> list[Policy]:
    return [Policy.of(value, f"{label} #{i}") for i, value in enumerate(values)]


def _scan(policies: Sequence[Policy], request: Request, *, resource_based: bool) -> _Scan:
    """The first explicit Deny, the first Allow and (resource policies) the first account-only Allow."""
    result = _Scan()
    context = _lower_keys(request.context)
    for policy in policies:
        variables = policy.document.get("Version") == _POLICY_VARIABLES_VERSION
        for index, statement in enumerate(statements(policy.document)):
            deny = str(statement.get("Effect", "")).lower() == "deny"
            principal_match: str | None = "direct"
            if resource_based:
                principal_match = _principal_match(statement, request.principal)
                if principal_match is None:
                    continue
            if not _statement_applies(statement, request, context, variables=variables, deny=deny):
                continue
            ref = StatementRef(policy.name, index, statement.get("Sid"))
            if deny:
                result.deny = result.deny or ref
                return result
            if principal_match == "account":
                result.account_allow = result.account_allow or ref
            else:
                result.allow = result.allow or ref
    return result


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A policy's statements, whether ``Statement`` is one object or a list."""
    body = document.get("Statement", [])
    if isinstance(body, Mapping):
        return [body]
    return [s for s in body if isinstance(s, Mapping)]


def _statement_applies(
    statement: Mapping[str, Any], request: Request, context: Mapping[str, ContextValue], *, variables: bool, deny: bool
) -> bool:
    if "Action" in statement:
        if not any(action_matches(p, request.action) for p in _as_list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(action_matches(p, request.action) for p in _as_list(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        patterns = _as_list(statement["Resource"])
        if not any(resource_matches(p, request.resource, context, variables=variables) for p in patterns):
            return False
    elif "NotResource" in statement:
        patterns = _as_list(statement["NotResource"])
        if any(resource_matches(p, request.resource, context, variables=variables) for p in patterns):
            return False
    return conditions_hold(statement.get("Condition"), context, variables=variables, unknown_operator=deny)


# --------------------------------------------------------------------------- principals


def _principal_match(statement: Mapping[str, Any], principal: Principal | None) -> str | None:
    """``"direct"`` if a resource policy statement names the principal (or everyone), ``"account"`` if it names
    only the principal's account, None if it does not apply to the principal."""
    if "Principal" in statement:
        return _principal_element_match(statement["Principal"], principal)
    if "NotPrincipal" in statement:
        return None if _principal_element_match(statement["NotPrincipal"], principal) else "direct"
    return None


def _principal_element_match(element: Any, principal: Principal | None) -> str | None:
    if element == "*":
        return "direct"
    if not isinstance(element, Mapping) or principal is None:
        return None
    best: str | None = None
    for value in _as_list(element.get("AWS", [])):
        if value == "*" or value in (principal.arn, principal.role_arn):
            return "direct"
        if value in (principal.account, f"arn:{_partition_of(principal.arn)}:iam::{principal.account}:root"):
            best = "account"
    return best


def _partition_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[1] if len(parts) > 1 and parts[0] == "arn" else "aws"


# --------------------------------------------------------------------------- actions and resources


def action_matches(pattern: str, action: str) -> bool:
    """``s3:Get*`` matches ``s3:GetObject``; actions are case-insensitive."""
    regex = _glob(pattern, ignore_case=True)
    return bool(regex and regex.fullmatch(action))


def resource_matches(
    pattern: str, resource: str, context: Mapping[str, ContextValue] | None = None, *, variables: bool = True
) -> bool:
    """Case-sensitive wildcard match of a policy Resource against the request's resource ARN.

    Two ARNs are compared segment by segment (partition, service, Region, account, resource), so ``*`` in a
    segment stays in it; anything else is compared as one string.
    """
    context = _lower_keys(context or {})
    if pattern == "*":
        return True
    return _arn_like(resource, pattern, context, variables=variables)


def _arn_like(value: str, pattern: str, context: Mapping[str, ContextValue], *, variables: bool) -> bool:
    value_parts = value.split(":", 5)
    pattern_parts = pattern.split(":", 5)
    if len(value_parts) == 6 and len(pattern_parts) == 6 and pattern_parts[0] == "arn":
        return all(
            _glob_match(p, v, context, variables=variables) for p, v in zip(pattern_parts, value_parts, strict=True)
        )
    return _glob_match(pattern, value, context, variables=variables)


def _glob_match(
    pattern: str, value: str, context: Mapping[str, ContextValue], *, variables: bool, ignore_case: bool = False
) -> bool:
    regex = _glob(pattern, ignore_case=ignore_case, context=context if variables else None)
    return bool(regex and regex.fullmatch(value))


_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _glob(
    pattern: str, *, ignore_case: bool = False, context: Mapping[str, ContextValue] | None = None
) -> re.Pattern[str] | None:
    """A regex for an IAM wildcard pattern (``*``, ``?``), policy variables resolved from ``context``.

    None when a variable has no value in the request context and no default: the pattern then matches
    nothing, as IAM treats an unresolvable variable.
    """
    if context is None or "${" not in pattern:
        return _compiled(pattern, ignore_case)
    pieces: list[str] = []
    position = 0
    for match in _VARIABLE.finditer(pattern):
        pieces.append(_wildcards_to_regex(pattern[position : match.start()]))
        value = _variable_value(match.group(1), context)
        if value is None:
            return None
        pieces.append(re.escape(value))
        position = match.end()
    pieces.append(_wildcards_to_regex(pattern[position:]))
    return re.compile("".join(pieces), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


@lru_cache(maxsize=4096)
def _compiled(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(_wildcards_to_regex(pattern), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _wildcards_to_regex(text: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)


def _variable_value(expression: str, context: Mapping[str, ContextValue]) -> str | None:
    """The value of ``${expression}``: a special character, a context key, or the quoted default."""
    special = {"*": "*", "?": "?", "$": "$"}
    name, _, default = expression.partition(",")
    name = name.strip()
    if name in special:
        return special[name]
    value = context.get(name.lower())
    if isinstance(value, str | bool | int | float):
        return _as_string(value)
    default = default.strip()
    if len(default) >= 2 and default[0] == default[-1] == "'":
        return default[1:-1]
    return None


# --------------------------------------------------------------------------- conditions


def conditions_hold(
    block: Mapping[str, Any] | None,
    context: Mapping[str, ContextValue],
    *,
    variables: bool = True,
    unknown_operator: bool = False,
) -> bool:
    """Whether a statement's ``Condition`` block holds: every operator and key must hold (AND), any of a key's
    values may match (OR). ``unknown_operator`` is the result for an operator this module does not know."""
    if not block:
        return True
    context = _lower_keys(context)
    for operator, keys in block.items():
        if not isinstance(keys, Mapping):
            return unknown_operator
        for key, values in keys.items():
            if not _condition_holds(operator, key, values, context, variables, unknown_operator):
                return False
    return True


_Matcher = Callable[[str, str, Mapping[str, ContextValue], bool], bool | None]


def _condition_holds(
    operator: str,
    key: str,
    policy_values: Any,
    context: Mapping[str, ContextValue],
    variables: bool,
    unknown_operator: bool,
) -> bool:
    qualifier, base = _split_set_qualifier(operator)
    if_exists = base.endswith("IfExists")
    if if_exists:
        base = base[: -len("IfExists")]
    values = [_as_string(v) for v in _as_list(policy_values)]
    present = key.lower() in context
    if base == "Null":
        # "true": the key must be absent; "false": it must be present.
        return any((v.lower() == "true") != present for v in values)
    spec = _OPERATORS.get(base)
    if spec is None:
        return unknown_operator
    matcher, negated = spec
    if not present:
        if qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return True if if_exists else negated
    request_values = [_as_string(v) for v in _as_list(context[key.lower()])]

    def holds_for(value: str) -> bool:
        results = [matcher(value, p, context, variables) for p in values]
        if any(r is None for r in results):  # not a number/date/address: the condition cannot hold
            return False
        matched = any(results)
        return not matched if negated else matched

    if qualifier == "ForAllValues":
        return all(holds_for(v) for v in request_values)
    if qualifier == "ForAnyValue":
        return any(holds_for(v) for v in request_values)
    # A single-valued operator on a multivalued key: the values are compared one by one.
    return all(holds_for(v) for v in request_values) if negated else any(holds_for(v) for v in request_values)


def _split_set_qualifier(operator: str) -> tuple[str | None, str]:
    prefix, sep, rest = operator.partition(":")
    if sep and prefix.lower() == "forallvalues":
        return "ForAllValues", rest
    if sep and prefix.lower() == "foranyvalue":
        return "ForAnyValue", rest
    return None, operator


def _string_equals(value: str, pattern: str, context: Mapping[str, ContextValue], variables: bool) -> bool:
    return value == _resolve(pattern, context, variables)


def _string_equals_ignore_case(value: str, pattern: str, context: Mapping[str, ContextValue], variables: bool) -> bool:
    resolved = _resolve(pattern, context, variables)
    return resolved is not None and value.casefold() == resolved.casefold()


def _string_like(value: str, pattern: str, context: Mapping[str, ContextValue], variables: bool) -> bool:
    return _glob_match(pattern, value, context, variables=variables)


def _arn_matcher(value: str, pattern: str, context: Mapping[str, ContextValue], variables: bool) -> bool:
    if not value.startswith("arn:") or len(value.split(":", 5)) != 6:
        return False
    return _arn_like(value, pattern, context, variables=variables)


def _bool_equals(value: str, pattern: str, context: Mapping[str, ContextValue], variables: bool) -> bool:
    return value.lower() == pattern.lower()


def _binary_equals(value: str, pattern: str, context: Mapping[str, ContextValue], variables: bool) -> bool:
    return value == pattern


def _resolve(pattern: str, context: Mapping[str, ContextValue], variables: bool) -> str | None:
    """A condition value with its policy variables substituted (None if one has no value)."""
    if not variables or "${" not in pattern:
        return pattern
    out: list[str] = []
    position = 0
    for match in _VARIABLE.finditer(pattern):
        value = _variable_value(match.group(1), context)
        if value is None:
            return None
        out.extend((pattern[position : match.start()], value))
        position = match.end()
    out.append(pattern[position:])
    return "".join(out)


def _numeric(compare: Callable[[float, float], bool]) -> _Matcher:
    def matcher(value: str, pattern: str, context: Mapping[str, ContextValue], variables: bool) -> bool | None:
        try:
            return compare(float(value), float(pattern))
        except ValueError:
            return None

    return matcher


def _date(compare: Callable[[float, float], bool]) -> _Matcher:
    def matcher(value: str, pattern: str, context: Mapping[str, ContextValue], variables: bool) -> bool | None:
        left, right = _epoch(value), _epoch(pattern)
        if left is None or right is None:
            return None
        return compare(left, right)

    return matcher


def _epoch(text: str) -> float | None:
    """An ISO 8601 date-time or epoch seconds, as seconds since the epoch (UTC when no zone is given)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _ip_in(value: str, pattern: str, context: Mapping[str, ContextValue], variables: bool) -> bool | None:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        return None


_OPERATORS: dict[str, tuple[_Matcher, bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "NumericEquals": (_numeric(lambda a, b: a == b), False),
    "NumericNotEquals": (_numeric(lambda a, b: a == b), True),
    "NumericLessThan": (_numeric(lambda a, b: a < b), False),
    "NumericLessThanEquals": (_numeric(lambda a, b: a <= b), False),
    "NumericGreaterThan": (_numeric(lambda a, b: a > b), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, b: a >= b), False),
    "DateEquals": (_date(lambda a, b: a == b), False),
    "DateNotEquals": (_date(lambda a, b: a == b), True),
    "DateLessThan": (_date(lambda a, b: a < b), False),
    "DateLessThanEquals": (_date(lambda a, b: a <= b), False),
    "DateGreaterThan": (_date(lambda a, b: a > b), False),
    "DateGreaterThanEquals": (_date(lambda a, b: a >= b), False),
    "Bool": (_bool_equals, False),
    "BinaryEquals": (_binary_equals, False),
    "IpAddress": (_ip_in, False),
    "NotIpAddress": (_ip_in, True),
    "ArnEquals": (_arn_matcher, False),
    "ArnLike": (_arn_matcher, False),
    "ArnNotEquals": (_arn_matcher, True),
    "ArnNotLike": (_arn_matcher, True),
}


# --------------------------------------------------------------------------- values


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | bool | int | float):
        return [value]
    return list(value)


def _as_string(value: Any) -> str:
    """IAM compares condition values as strings; booleans are ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _lower_keys(context: Mapping[str, ContextValue]) -> dict[str, ContextValue]:
    """Condition key names are case-insensitive: look them up lower-cased."""
    return {key.lower(): value for key, value in context.items()}

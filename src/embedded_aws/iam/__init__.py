"""IAM for the embedded AWS: a permission missing from template.yaml fails locally as it would in AWS.

* :mod:`~embedded_aws.iam.policy`: the pure policy evaluator (:func:`evaluate`).
* :mod:`~embedded_aws.iam.requests`: what each API request needs (:func:`required_permissions`).
* :mod:`~embedded_aws.iam.enforce`: the registry of role sessions (:class:`Principals`) and the botocore-level
  enforcement (:func:`iam_enforced`).

Wiring it into the embedded AWS (inside ``mock_aws``, after the stack is deployed)::

    principals = Principals()
    attach_template_managed_policies(stack)                       # moto's CloudFormation skips them
    principals.register("ak", stack.state_machine_role_arn, "states-execution")  # moto's ASL interpreter
    registry = HandlerRegistry(..., credentials=principals.credentials_for)      # each function's role
    with iam_enforced(principals) as enforcement: ...
"""

from embedded_aws.iam.enforce import (
    Caller,
    Denial,
    IamEnforcement,
    Principals,
    RolePolicies,
    attach_managed_policies,
    attach_template_managed_policies,
    error_response,
    fake_credentials,
    iam_enforced,
    role_policies,
    role_policy_set,
    watch_client,
)
from embedded_aws.iam.policy import Decision, Policy, Principal, Request, StatementRef, evaluate
from embedded_aws.iam.requests import (
    NoAuthorizationRule,
    Permission,
    ResourcePolicy,
    ResourceState,
    covered_operations,
    required_permissions,
)

__all__ = [
    "Caller",
    "Decision",
    "Denial",
    "IamEnforcement",
    "NoAuthorizationRule",
    "Permission",
    "Policy",
    "Principal",
    "Principals",
    "Request",
    "ResourcePolicy",
    "ResourceState",
    "RolePolicies",
    "StatementRef",
    "attach_managed_policies",
    "attach_template_managed_policies",
    "covered_operations",
    "error_response",
    "evaluate",
    "fake_credentials",
    "iam_enforced",
    "required_permissions",
    "role_policies",
    "role_policy_set",
    "watch_client",
]

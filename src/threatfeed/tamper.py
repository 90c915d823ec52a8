"""Tamper watch: someone other than threatfeed changed or deleted one of this stack's GuardDuty lists.

Deactivating a threat list, pointing it at another object, or deleting it silences detection without any alert;
so does widening the trusted list. CloudTrail records every GuardDuty management call and EventBridge delivers
it (``AWS API Call via CloudTrail``); the stack's rule sends the list updates and deletions here, and this module
decides whether the call touched one of this stack's lists and was made by anyone but the publish function's
role, and words the notification: who, what, where, when.

Why the publish role is filtered here and not in the rule's pattern: an ``anything-but`` pattern on
``userIdentity.sessionContext.sessionIssuer.arn`` does not match an event without that field, so a call by an IAM
user or the root user (no session issuer) would never reach the function.

The repair is the next run's (``threatfeed.pipeline.publish``: a deactivated, repointed or deleted list is put
back as it was, and the run's summary says so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from threatfeed.config import OWNER_TAG_KEY

#: CloudTrail eventName -> (threatfeed.guardduty.SET_APIS key, the request parameter naming the list).
WATCHED_CALLS: dict[str, tuple[str, str]] = {
    "UpdateThreatIntelSet": ("threat_intel_set", "threatIntelSetId"),
    "DeleteThreatIntelSet": ("threat_intel_set", "threatIntelSetId"),
    "UpdateThreatEntitySet": ("threat_entity_set", "threatEntitySetId"),
    "DeleteThreatEntitySet": ("threat_entity_set", "threatEntitySetId"),
    "UpdateTrustedEntitySet": ("trusted_entity_set", "trustedEntitySetId"),
    "DeleteTrustedEntitySet": ("trusted_entity_set", "trustedEntitySetId"),
}
_LABELS = {
    "threat_intel_set": "threat IP list",
    "threat_entity_set": "threat entity list",
    "trusted_entity_set": "trusted entity list",
}


@dataclass(frozen=True)
class Change:
    """One GuardDuty list call as CloudTrail recorded it."""

    event_name: str
    set_type: str
    set_id: str
    detector_id: str
    region: str
    account: str
    who: str  # the caller's ARN (an assumed-role session, a user, root)
    issuer: str | None  # for a role session: the role's ARN
    at: str
    source_ip: str
    parameters: Mapping[str, Any]
    error_code: str | None = None

    @property
    def label(self) -> str:
        return _LABELS[self.set_type]

    def what(self, name: str) -> str:
        """What the call did, in words (``deactivated``, ``pointed at <location>``, ``deleted``)."""
        list_ = f"{self.label} {name!r} ({self.set_id})"
        if self.event_name.startswith("Delete"):
            return f"deleted {list_}"
        done: list[tuple[str, str]] = []
        if self.parameters.get("activate") is False:
            done.append(("deactivated", ""))
        if self.parameters.get("location"):
            done.append(("repointed", f" to {self.parameters['location']}"))
        if self.parameters.get("name"):
            done.append(("renamed", f" to {self.parameters['name']!r}"))
        if self.parameters.get("activate") is True:
            done.append(("reactivated", ""))
        if not done:
            return f"updated {list_} (no change of content or status recorded)"
        first = f"{done[0][0]} {list_}{done[0][1]}"
        return "; ".join([first, *(f"{verb} it{rest}" for verb, rest in done[1:])])


def parse_event(event: Mapping[str, Any]) -> Change | None:
    """The list call in an EventBridge ``AWS API Call via CloudTrail`` event, or None for any other call."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping) or detail.get("eventSource") != "guardduty.amazonaws.com":
        return None
    name = str(detail.get("eventName", ""))
    if name not in WATCHED_CALLS:
        return None
    set_type, id_param = WATCHED_CALLS[name]
    params = detail.get("requestParameters") or {}
    identity = detail.get("userIdentity") or {}
    issuer = ((identity.get("sessionContext") or {}).get("sessionIssuer") or {}).get("arn")
    who = identity.get("arn") or identity.get("principalId") or identity.get("type") or "an unknown caller"
    return Change(
        event_name=name,
        set_type=set_type,
        set_id=str(params.get(id_param, "")),
        detector_id=str(params.get("detectorId", "")),
        region=str(detail.get("awsRegion") or event.get("region") or ""),
        account=str(detail.get("recipientAccountId") or event.get("account") or ""),
        who=str(who),
        issuer=str(issuer) if issuer else None,
        at=str(detail.get("eventTime") or event.get("time") or ""),
        source_ip=str(detail.get("sourceIPAddress", "")),
        parameters=params,
        error_code=detail.get("errorCode"),
    )


def by_publish_role(change: Change, publish_role_arn: str) -> bool:
    """Whether threatfeed itself made the call (the publish function's execution role)."""
    return bool(publish_role_arn) and change.issuer == publish_role_arn


def is_ours(info: Mapping[str, Any], stack_name: str) -> bool:
    """A list of this stack: tagged ``threatfeed:stack = <stack>`` (how threatfeed.guardduty decides too)."""
    return (info.get("Tags") or {}).get(OWNER_TAG_KEY) == stack_name


def message(change: Change, name: str, stack_name: str, *, unconfirmed: str | None = None) -> tuple[str, str]:
    """(subject, body) of the notification: who, what, where, when, and what happens next."""
    subject = f"threatfeed {stack_name}: GuardDuty list changed outside threatfeed in {change.region}"[:100]
    lines = [
        f"{change.who} {change.what(name)}",
        f"where: GuardDuty detector {change.detector_id} in {change.region}, account {change.account}",
        f"when: {change.at} (from {change.source_ip or 'an unknown address'})",
    ]
    if change.issuer and change.issuer != change.who:
        lines.append(f"role: {change.issuer}")
    if unconfirmed:
        lines.append(f"Whether the list is stack {stack_name!r}'s could not be checked: {unconfirmed}")
    lines.append(
        "The next threatfeed run puts the list back as it was published (threatfeed start runs one now). If the "
        "change was intended, remove the Region from the stack's Regions parameter instead: threatfeed restores "
        "its own lists."
    )
    return subject, "\n".join(lines)


def handle(
    event: Mapping[str, Any],
    *,
    stack_name: str,
    publish_role_arn: str,
    get_list: Callable[[Change], Mapping[str, Any]],
    notify: Callable[[str, str], None],
) -> dict[str, Any]:
    """Notify (``notify(subject, body)``) when ``event`` records a change to one of this stack's lists by anyone
    but the publish role. ``get_list(change)`` reads the list (GuardDuty ``Get*Set``); when it cannot be read
    (a deleted list may be gone) the notification says the ownership is unconfirmed rather than staying silent."""
    change = parse_event(event)
    if change is None:
        return {"outcome": "ignored", "reason": "not a GuardDuty list update or deletion"}
    if change.error_code:
        return {"outcome": "ignored", "reason": f"the call failed ({change.error_code}): nothing changed"}
    if by_publish_role(change, publish_role_arn):
        return {"outcome": "ignored", "reason": "made by threatfeed's publish role", "set_id": change.set_id}
    unconfirmed = None
    name = change.set_id
    try:
        info = get_list(change)
    except Exception as error:
        unconfirmed = f"{type(error).__name__}: {error}"
    else:
        name = str(info.get("Name") or change.set_id)
        if not is_ours(info, stack_name):
            return {"outcome": "ignored", "reason": f"{change.label} {name!r} is not stack {stack_name!r}'s"}
    subject, body = message(change, name, stack_name, unconfirmed=unconfirmed)
    notify(subject, body)
    return {"outcome": "notified", "subject": subject, "message": body, "set_id": change.set_id}

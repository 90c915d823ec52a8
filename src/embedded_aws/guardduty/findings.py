"""GuardDuty findings from custom threat lists, for the embedded AWS.

GuardDuty raises a finding when a resource talks to an address, or asks DNS for a name, that one of the
detector's ACTIVE threat lists holds, unless an ACTIVE trusted list holds it too (trusted beats threat). There is
no traffic here, so :func:`raise_finding` stands for "an instance connected to ``indicator``": it reads the lists
exactly as GuardDuty would have them (the S3 object each ACTIVE list points at, in moto's S3), and, for a match,
builds the finding in the shape GuardDuty documents (``UnauthorizedAccess:EC2/MaliciousIPCaller.Custom`` for an
address, ``Impact:EC2/MaliciousDomainRequest.Custom`` for a name; ``service.evidence.threatIntelligenceDetails[]``
with ``threatListName`` and ``threatNames``, and ``service.additionalInfo.threatListName`` as GuardDuty's sample
findings carry it) and puts it on the Region's default EventBridge bus, source ``aws.guardduty``, detail-type
``GuardDuty Finding``, from where the stack's rule delivers it (``embedded_aws.events``).

As GuardDuty does, repeated activity updates the same finding (same id, ``service.count`` + 1, a later
``updatedAt``) instead of raising a new one; the finding is sent again, and the sightings record stays one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import ipaddress
import re
import time
from dataclasses import dataclass, field
from typing import Any

from embedded_aws.clock import clock

IP_FINDING = "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"
DOMAIN_FINDING = "Impact:EC2/MaliciousDomainRequest.Custom"
SEVERITY = 5.0  # Medium, as the user guide lists both types (exact value *unconfirmed*)
INSTANCE_ID = "i-0embeddedaws0001"
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}$")


class FindingError(ValueError):
    """The request cannot raise a finding (not an indicator, no detector)."""


@dataclass
class FindingResult:
    """What :func:`raise_finding` did: the finding, or why GuardDuty would raise none."""

    indicator: str
    region: str
    raised: bool
    reason: str
    finding: dict[str, Any] | None = None
    lists: list[str] = field(default_factory=list)
    event_id: str | None = None
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "finding"}
        if self.finding is not None:
            out["finding_id"] = self.finding["id"]
            out["type"] = self.finding["type"]
            out["count"] = self.finding["service"]["count"]
        return out


def indicator_kind(indicator: str) -> str:
    """``ipv4`` or ``domain``; anything else cannot be in a GuardDuty list."""
    try:
        ipaddress.IPv4Address(indicator)
        return "ipv4"
    except ValueError:
        pass
    if _DOMAIN.match(indicator.lower()):
        return "domain"
    raise FindingError(f"{indicator!r} is neither an IPv4 address nor a domain name: GuardDuty lists hold only those")


def list_entries(text: str, fmt: str) -> tuple[list[ipaddress.IPv4Network], set[str]]:
    """The networks and names of a list object in ``TXT`` or ``OTX_CSV`` (the formats threatfeed publishes)."""
    networks: list[ipaddress.IPv4Network] = []
    names: set[str] = set()

    def add(value: str) -> None:
        value = value.strip()
        try:
            networks.append(ipaddress.IPv4Network(value, strict=False))
        except ValueError:
            if value:
                names.add(value.lower())

    if fmt == "TXT":
        for line in text.splitlines():
            if line.strip() and not line.strip().startswith("#"):
                add(line)
    elif fmt == "OTX_CSV":
        rows = csv.reader(io.StringIO(text), skipinitialspace=True)
        header = [c.strip().lower() for c in next(rows, [])]
        column = header.index("indicator") if "indicator" in header else 1
        for row in rows:
            if len(row) > column:
                add(row[column])
    else:
        raise NotImplementedError(
            f"the embedded AWS raises findings from TXT and OTX_CSV lists only, not {fmt} (threatfeed publishes TXT)"
        )
    return networks, names


def _holds(lst: Any, account: str, region: str, indicator: str, kind: str) -> bool:
    """Whether the list's object (as moto's S3 has it now) holds ``indicator``."""
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    from embedded_aws.guardduty.models import parse_location

    bucket, key = parse_location(lst.location)
    obj = s3_backends[account][get_partition(region)].get_object(bucket, key)
    if obj is None:
        return False
    networks, names = list_entries(obj.value.decode("utf-8", "replace"), lst.format)
    if kind == "ipv4":
        address = ipaddress.IPv4Address(indicator)
        return any(address in net for net in networks)
    labels = indicator.lower().split(".")
    wildcards = {"*." + ".".join(labels[i:]) for i in range(1, len(labels) - 1)}
    return indicator.lower() in names or bool(wildcards & names)


def _now_iso() -> str:
    """Wall time on the simulated clock (a finding raised after a simulated 15-minute wait is 15 minutes later)."""
    moment = time.time() + clock.skipped
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment * 1000) % 1000:03d}Z"


def _action(indicator: str, kind: str) -> dict[str, Any]:
    if kind == "domain":
        return {
            "actionType": "DNS_REQUEST",
            "dnsRequestAction": {"domain": indicator, "protocol": "UDP", "blocked": False},
        }
    return {
        "actionType": "NETWORK_CONNECTION",
        "networkConnectionAction": {
            "connectionDirection": "OUTBOUND",
            "protocol": "TCP",
            "blocked": False,
            "localPortDetails": {"port": 49152, "portName": "Unknown"},
            "remotePortDetails": {"port": 443, "portName": "HTTPS"},
            "remoteIpDetails": {"ipAddressV4": indicator, "organization": {}, "country": {}, "city": {}},
        },
    }


def build_finding(
    account: str, region: str, detector_id: str, indicator: str, kind: str, lists: list[str], count: int, created: str
) -> dict[str, Any]:
    """The finding in GuardDuty's JSON (the EventBridge event's ``detail``)."""
    finding_type = DOMAIN_FINDING if kind == "domain" else IP_FINDING
    finding_id = hashlib.sha256(f"{detector_id}/{finding_type}/{indicator}".encode()).hexdigest()[:32]
    now = _now_iso()
    what = "queried the domain" if kind == "domain" else "is communicating with"
    return {
        "schemaVersion": "2.0",
        "accountId": account,
        "region": region,
        "partition": "aws",
        "id": finding_id,
        "arn": f"arn:aws:guardduty:{region}:{account}:detector/{detector_id}/finding/{finding_id}",
        "type": finding_type,
        "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": INSTANCE_ID}},
        "service": {
            "serviceName": "guardduty",
            "detectorId": detector_id,
            "action": _action(indicator, kind),
            "evidence": {"threatIntelligenceDetails": [{"threatListName": name, "threatNames": []} for name in lists]},
            "additionalInfo": {"threatListName": lists[0], "type": "default", "value": "{}"},
            "archived": False,
            "count": count,
            "eventFirstSeen": created,
            "eventLastSeen": now,
            "resourceRole": "TARGET",
        },
        "severity": SEVERITY,
        "createdAt": created,
        "updatedAt": now,
        "title": f"EC2 instance {INSTANCE_ID} {what} {indicator}, on a custom threat list.",
        "description": f"EC2 instance {INSTANCE_ID} {what} {indicator}, which is on the custom threat list {lists[0]}.",
    }


def raise_finding(account: str, region: str, indicator: str) -> FindingResult:
    """Raise (or update) the finding GuardDuty would for activity with ``indicator`` in ``region`` and put it on
    EventBridge; or say why GuardDuty would raise none (no ACTIVE threat list holds it, a trusted list does)."""
    from moto.guardduty.models import guardduty_backends

    from embedded_aws.events import put_event
    from embedded_aws.guardduty.models import ACTIVE, guardduty_lists_backends

    kind = indicator_kind(indicator)
    indicator = indicator.lower() if kind == "domain" else indicator
    detectors = list(guardduty_backends[account][region].detectors)
    if not detectors:
        raise FindingError(f"GuardDuty is not enabled in {region} (no detector): no finding can be raised there")
    detector_id = detectors[0]
    backend = guardduty_lists_backends[account][region]
    with backend.lock:
        sets = [s for s in backend.sets.values() if s.detector_id == detector_id]
        for lst in sets:
            backend._observe(lst, get=False)  # transitions due on the (simulated) clock settle first
        active = [s for s in sets if s.status == ACTIVE and (kind == "domain") <= s.kind.entity]
        trusted = [s.name for s in active if not s.kind.threat and _holds(s, account, region, indicator, kind)]
        threat = [s.name for s in active if s.kind.threat and _holds(s, account, region, indicator, kind)]
        seen = ", ".join(f"{s.name} {s.status}" for s in sets) or "none"
        if trusted:
            return FindingResult(
                indicator,
                region,
                False,
                f"the trusted list {trusted[0]} holds {indicator}: trusted beats threat, GuardDuty raises nothing",
                lists=trusted,
            )
        if not threat:
            return FindingResult(
                indicator,
                region,
                False,
                f"no ACTIVE threat list of detector {detector_id} in {region} holds "
                f"{indicator} (its lists: {seen}): GuardDuty raises nothing",
            )
        finding_type = DOMAIN_FINDING if kind == "domain" else IP_FINDING
        previous = backend.findings.get((finding_type, indicator))
        count = previous["service"]["count"] + 1 if previous else 1
        created = previous["createdAt"] if previous else _now_iso()
        finding = build_finding(account, region, detector_id, indicator, kind, threat, count, created)
        backend.findings[(finding_type, indicator)] = finding
    event_id = put_event(account, region, "aws.guardduty", "GuardDuty Finding", finding)
    verb = f"updated (count {count})" if previous else "raised"
    return FindingResult(
        indicator, region, True, f"{finding_type} {verb} from {', '.join(threat)}", finding, threat, event_id
    )


FINDINGS_PATH = "/embedded-aws/findings"
"""Where ``threatfeed local finding`` asks a running ``threatfeed local serve`` for a finding: a POST signed for
GuardDuty (so moto's server routes it here) with ``{"indicator": ...}``; the Region is the signature's. Not an AWS
API: GuardDuty raises findings from traffic, which the embedded AWS has none of."""


def raise_and_deliver(account: str, region: str, indicator: str, timeout: float = 60) -> FindingResult:
    """:func:`raise_finding`, then wait for the rules' deliveries of its event and report them."""
    from embedded_aws.events import current_deliveries

    result = raise_finding(account, region, indicator)
    deliveries = current_deliveries()
    if result.event_id and deliveries is not None:
        deliveries.wait(timeout)
        result.deliveries = [
            {
                "rule": d.rule,
                "function": d.function,
                "outcome": d.outcome,
                "attempts": d.attempts,
                "result": d.result,
                "error": d.error,
            }
            for d in deliveries.for_event(result.event_id)
        ]
    return result


def http_raise_finding(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    """moto URL handler of :data:`FINDINGS_PATH`."""
    import json

    from moto.core import DEFAULT_ACCOUNT_ID

    match = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/", str(headers.get("Authorization", "")))
    region = match.group(1) if match else "us-east-1"
    try:
        body = json.loads(request.data if hasattr(request, "data") else request.body or b"{}")
        result = raise_and_deliver(DEFAULT_ACCOUNT_ID, region, str(body["indicator"]))
    except (FindingError, KeyError, ValueError, NotImplementedError) as error:
        message = str(error) if not isinstance(error, KeyError) else 'the body must be {"indicator": "..."}'
        return 400, {"Content-Type": "application/json"}, json.dumps({"message": message})
    return 200, {"Content-Type": "application/json"}, json.dumps(result.as_dict(), default=str)

"""What a person asks of a deployed threatfeed: start a run, recent runs, what GuardDuty uses, what changed.

The same code serves a real account and ``threatfeed local serve`` (an endpoint URL): it only talks to the
stack through its CloudFormation outputs, Step Functions, S3 and GuardDuty.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from threatfeed.config import OWNER_TAG_KEY
from threatfeed.guardduty import find_detector, iter_sets, parse_s3_location

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


@dataclass(frozen=True)
class StackRefs:
    """The stack's resources, from its outputs and parameters."""

    stack_name: str
    region: str
    state_machine_arn: str
    bucket: str
    topic_arn: str
    regions: tuple[str, ...]


class Clients:
    """boto3 clients for one profile/Region, optionally against an endpoint (the embedded AWS)."""

    def __init__(self, *, region: str | None = None, profile: str | None = None, endpoint_url: str | None = None):
        import boto3

        if endpoint_url:
            # The embedded AWS accepts any credentials; do not require a configured profile for it.
            self._session = boto3.session.Session(
                aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region or "us-east-1"
            )
        else:
            self._session = boto3.session.Session(profile_name=profile, region_name=region)
        self.endpoint_url = endpoint_url
        self.region = self._session.region_name or "us-east-1"
        self._cache: dict[tuple[str, str], Any] = {}

    def __call__(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        if key not in self._cache:
            self._cache[key] = self._session.client(service, region_name=key[1], endpoint_url=self.endpoint_url)
        return self._cache[key]


def find_stack(clients: Clients, stack_name: str) -> StackRefs:
    from botocore.exceptions import ClientError

    try:
        stack = clients("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as error:
        raise LookupError(
            f"No stack {stack_name!r} in {clients.region}: deploy with `sam deploy --guided`, or pass --stack-name "
            f"and --region ({error.response.get('Error', {}).get('Message', error)})"
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    regions = tuple(r.strip() for r in parameters.get("Regions", "").split(",") if r.strip()) or (clients.region,)
    return StackRefs(
        stack_name=stack_name,
        region=clients.region,
        state_machine_arn=outputs["StateMachineArn"],
        bucket=outputs["DataBucketName"],
        topic_arn=outputs.get("NotificationTopicArn", ""),
        regions=regions,
    )


def execution_name(kind: str, now: datetime | None = None) -> str:
    """Readable, unique execution names: ``urgent-20261127T101500Z-3fa2``."""
    now = now or datetime.now(UTC)
    return f"{kind}-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(2)}"


def start_run(
    clients: Clients,
    refs: StackRefs,
    *,
    urgent: bool = False,
    feeds: list[str] | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> str:
    kind = "urgent" if urgent else "manual"
    execution_input: dict[str, Any] = {"trigger": kind}
    if feeds:
        execution_input["feeds"] = feeds
    if dry_run:
        execution_input["dry_run"] = True
    if force:
        execution_input["force"] = True
    response = clients("stepfunctions").start_execution(
        stateMachineArn=refs.state_machine_arn, name=execution_name(kind), input=json.dumps(execution_input)
    )
    return str(response["executionArn"])


def iter_history(clients: Clients, arn: str) -> Iterator[dict[str, Any]]:
    sfn = clients("stepfunctions")
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        yield from page["events"]
        if not page.get("nextToken"):
            return
        kwargs["nextToken"] = page["nextToken"]


def follow(
    clients: Clients,
    arn: str,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    *,
    poll: float = 0.5,
    timeout: float = 3600,
) -> dict[str, Any]:
    """Wait for an execution to end, passing each new history event to ``on_event``; returns describe_execution."""
    sfn = clients("stepfunctions")
    seen = 0
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if on_event is not None:
            events = list(iter_history(clients, arn))
            for event in events[seen:]:
                on_event(event)
            seen = len(events)
        if described["status"] in TERMINAL:
            return described
        if time.monotonic() > deadline:
            raise TimeoutError(f"{arn} is still {described['status']} after {timeout:.0f} s")
        time.sleep(poll)


def run_row(described: dict[str, Any]) -> dict[str, Any]:
    """One line of history from describe_execution: who, when, how long, outcome per feed and per Region."""
    output = json.loads(described["output"]) if described.get("output") else {}
    started = described["startDate"]
    stopped = described.get("stopDate")
    return {
        "name": described["name"],
        "start": started.isoformat(),
        "duration_s": round((stopped - started).total_seconds(), 1) if stopped else None,
        "status": described["status"],
        "error": described.get("error"),
        "feeds": {
            name: {k: feed.get(k) for k in ("outcome", "accepted", "rejected")}
            for name, feed in (output.get("feeds") or {}).items()
        },
        "regions": {region: r.get("outcome") for region, r in (output.get("regions") or {}).items()},
        "published": output.get("published"),
        "reason": output.get("reason"),
        "attention": (output.get("attention") or {}).get("cause"),  # what a guard that only reports found
        "manifest": output.get("manifest"),
    }


def history(clients: Clients, refs: StackRefs, limit: int = 10) -> list[dict[str, Any]]:
    sfn = clients("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=refs.state_machine_arn, maxResults=min(limit, 1000))["executions"]
    executions.sort(key=lambda e: e["startDate"], reverse=True)
    return [run_row(sfn.describe_execution(executionArn=e["executionArn"])) for e in executions[:limit]]


def status(clients: Clients, refs: StackRefs) -> list[dict[str, Any]]:
    """Per Region, the project's own lists as GuardDuty has them now."""
    s3 = clients("s3")
    rows: list[dict[str, Any]] = []
    for region in refs.regions:
        gd = clients("guardduty", region)
        try:
            detector = find_detector(gd, region)
        except Exception as error:  # shown, not fatal: other Regions still answer
            rows.append({"region": region, "error": str(error)})
            continue
        for api, set_id, info in iter_sets(gd, detector, region):
            if info.get("Tags", {}).get(OWNER_TAG_KEY) != refs.stack_name:
                continue
            rows.append(
                {
                    "region": region,
                    "name": info.get("Name"),
                    "id": set_id,
                    "type": api.set_type,
                    "status": info.get("Status"),
                    "entries": _count_entries(s3, info.get("Location", "")),
                    "updated": _iso(info.get("UpdatedAt")),
                    "location": info.get("Location"),
                }
            )
    return rows


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _count_entries(s3: Any, location: str) -> int | None:
    parts = parse_s3_location(location)
    if not parts:
        return None
    try:
        body = s3.get_object(Bucket=parts[0], Key=parts[1])["Body"].read()
    except Exception:
        return None
    return sum(1 for line in body.splitlines() if line.strip() and not line.startswith(b"#"))


def manifest_of(clients: Clients, refs: StackRefs, run: str) -> dict[str, Any]:
    from threatfeed.storage import manifest_key

    try:
        body = clients("s3").get_object(Bucket=refs.bucket, Key=manifest_key(run))["Body"].read()
    except Exception:
        raise LookupError(
            f"No manifest for run {run!r} in s3://{refs.bucket}: name an execution from `history`"
        ) from None
    return dict(json.loads(body))


def list_entries(clients: Clients, refs: StackRefs, run: str) -> dict[str, set[str]]:
    """Every entry of every list the run built, by list kind."""
    manifest = manifest_of(clients, refs, run)
    entries: dict[str, set[str]] = {}
    for item in manifest.get("lists", []):
        body = clients("s3").get_object(Bucket=item["bucket"], Key=item["key"])["Body"].read().decode()
        entries.setdefault(item["kind"], set()).update(line for line in body.splitlines() if line.strip())
    return entries


def diff(clients: Clients, refs: StackRefs, run_a: str, run_b: str) -> dict[str, Any]:
    """Entries added and removed from run A's lists to run B's."""
    a, b = list_entries(clients, refs, run_a), list_entries(clients, refs, run_b)
    kinds = sorted(set(a) | set(b))
    return {
        "from": run_a,
        "to": run_b,
        "added": {k: sorted(b.get(k, set()) - a.get(k, set())) for k in kinds},
        "removed": {k: sorted(a.get(k, set()) - b.get(k, set())) for k in kinds},
    }


def feeds(clients: Clients, refs: StackRefs) -> list[dict[str, Any]]:
    """The catalogue, with each feed's outcome in the most recent run that included it."""
    from threatfeed.catalogue import parse_catalogue

    text = read_catalogue(clients, refs)
    last: dict[str, dict[str, Any]] = {}
    for row in history(clients, refs, limit=20):
        for name, feed in row["feeds"].items():
            last.setdefault(name, {"run": row["name"], **feed})
    return [
        {
            "name": entry.name,
            "type": entry.type,
            "format": entry.format,
            "enabled": entry.enabled,
            "url": entry.url,
            "last_run": last.get(entry.name, {}).get("run"),
            "last_outcome": last.get(entry.name, {}).get("outcome"),
            "accepted": last.get(entry.name, {}).get("accepted"),
            "rejected": last.get(entry.name, {}).get("rejected"),
        }
        for entry in parse_catalogue(text)
    ]


def read_catalogue(clients: Clients, refs: StackRefs) -> str:
    """The catalogue JSON as the next run will read it (LookupError before the first run has written it)."""
    from threatfeed.storage import CATALOGUE_KEY

    s3 = clients("s3")
    try:
        return str(s3.get_object(Bucket=refs.bucket, Key=CATALOGUE_KEY)["Body"].read().decode("utf-8"))
    except s3.exceptions.NoSuchKey:
        raise LookupError(
            f"No catalogue in s3://{refs.bucket}/{CATALOGUE_KEY} yet: the first run writes the default one, or put "
            "yours there with `threatfeed feeds import FILE`"
        ) from None


def write_catalogue(clients: Clients, refs: StackRefs, text: str) -> str:
    """Validate ``text`` as a catalogue, then make it the one the next run reads; returns the new S3 version id.

    The previous version stays in the bucket's history (versioned), so an edit can be undone.
    """
    from threatfeed.catalogue import parse_catalogue
    from threatfeed.storage import CATALOGUE_KEY

    parse_catalogue(text)  # ConfigError naming every problem; nothing is written
    response = clients("s3").put_object(
        Bucket=refs.bucket, Key=CATALOGUE_KEY, Body=text.encode("utf-8"), ContentType="application/json"
    )
    return str(response.get("VersionId", ""))


def published_versions(clients: Clients, refs: StackRefs, kind: str = "ip", index: int = 0) -> list[dict[str, Any]]:
    """The lists of this kind GuardDuty was given, newest first (from the versioned pointer in S3)."""
    from threatfeed.storage import published_key

    s3 = clients("s3")
    key = published_key(kind, index)
    versions = s3.list_object_versions(Bucket=refs.bucket, Prefix=key).get("Versions", [])
    out = []
    for version in sorted(versions, key=lambda v: v["LastModified"], reverse=True):
        if version["Key"] != key:
            continue
        body = s3.get_object(Bucket=refs.bucket, Key=key, VersionId=version["VersionId"])["Body"].read()
        out.append({**json.loads(body), "version_id": version["VersionId"], "at": _iso(version["LastModified"])})
    return out


def rollback_target(clients: Clients, refs: StackRefs) -> str:
    """The run whose list was in use before the current one."""
    versions = published_versions(clients, refs)
    if not versions:
        raise LookupError("Nothing has been published yet, so there is nothing to roll back to")
    current = versions[0]["sha256"]
    for version in versions[1:]:
        if version["sha256"] != current:
            return str(version["run"])
    raise LookupError("Only one list version has been published; there is no earlier one to roll back to")


def start_rollback(clients: Clients, refs: StackRefs, to_run: str | None = None) -> tuple[str, str]:
    """Start a run that republishes the lists of ``to_run`` (default: the previous published version)."""
    target = to_run or rollback_target(clients, refs)
    execution_input = {"trigger": "manual", "rollback_to": target, "comment": f"rollback to {target}"}
    response = clients("stepfunctions").start_execution(
        stateMachineArn=refs.state_machine_arn, name=execution_name("rollback"), input=json.dumps(execution_input)
    )
    return str(response["executionArn"]), target

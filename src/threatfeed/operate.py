"""What a person asks of a deployed threatfeed: start a run, recent runs, what GuardDuty uses, what changed.

The same code serves a real account and ``threatfeed local serve`` (an endpoint URL): it only talks to the
stack through its CloudFormation outputs, Step Functions, S3 and GuardDuty.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from threatfeed.config import OWNER_TAG_KEY
from threatfeed.guardduty import find_detector, iter_sets, parse_s3_location
from threatfeed.pipeline.items import outcome_counts

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
        from botocore.config import Config

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
        # A loopback endpoint that does not answer is said at once, not after the SDK's back-off.
        self._config = Config(retries={"mode": "standard", "total_max_attempts": 2}) if endpoint_url else None

    def __call__(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        if key not in self._cache:
            make_client: Callable[..., Any] = self._session.client  # any service: the stubs' overloads want literals
            self._cache[key] = make_client(
                service, region_name=key[1], endpoint_url=self.endpoint_url, config=self._config
            )
        return self._cache[key]


def find_stack(clients: Clients, stack_name: str) -> StackRefs:
    from botocore.exceptions import ClientError

    try:
        stack = clients("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as error:
        details = error.response.get("Error", {})
        if details.get("Code") != "ValidationError":  # credentials, permissions, throttling: said as such
            raise
        raise LookupError(
            f"No stack {stack_name!r} in {clients.region}: deploy with `sam deploy --guided`, or pass --stack-name "
            f"and --region ({details.get('Message', error)})"
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [key for key in ("StateMachineArn", "DataBucketName") if key not in outputs]
    if missing:
        raise LookupError(
            f"Stack {stack_name!r} in {clients.region} has no output {', '.join(missing)}: it is not a threatfeed "
            f"stack, or its deployment has not finished (status {stack.get('StackStatus', 'unknown')})"
        )
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
    options: dict[str, Any] = {"feeds": feeds, "dry_run": dry_run, "force": force}
    # Only the options asked for: the state machine reads a missing key as "no" (and all feeds).
    execution_input = {"trigger": kind, **{key: value for key, value in options.items() if value}}
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
            return dict(described)
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
        "cause": described.get("cause"),
        "feeds": {
            name: {k: feed.get(k) for k in ("outcome", "accepted", "rejected")}
            for name, feed in (output.get("feeds") or {}).items()
        },
        # A run of many feeds carries only its first failed ones in its output (pipeline.items.compact_summary):
        # the counts cover every feed, and ``details`` names the summary object that lists them all.
        "feed_counts": output.get("feed_counts") or outcome_counts(output.get("feeds") or {}),
        "feeds_omitted": output.get("feeds_omitted", 0),
        "details": output.get("details"),
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
    return str(value.isoformat()) if hasattr(value, "isoformat") else value


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
    from botocore.exceptions import ClientError

    from threatfeed.storage import manifest_key

    try:
        body = clients("s3").get_object(Bucket=refs.bucket, Key=manifest_key(run))["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            raise
        raise LookupError(
            f"No run {run!r} with a manifest in stack {refs.stack_name!r} (s3://{refs.bucket}/{manifest_key(run)}): "
            "name an execution from `threatfeed history` (a run that failed before its Transform has none)"
        ) from None
    return dict(json.loads(body))


def list_entries(clients: Clients, refs: StackRefs, run: str) -> dict[str, set[str]]:
    """Every entry of every list the run built, by list kind."""
    return manifest_entries(clients, manifest_of(clients, refs, run))


def manifest_entries(clients: Clients, manifest: dict[str, Any]) -> dict[str, set[str]]:
    """Every entry of every list a manifest names, by list kind."""
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
    hits = feed_hits(clients, refs)
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
            "hits": hits.get(entry.name, 0),
        }
        for entry in parse_catalogue(text)
    ]


def feed_hits(clients: Clients, refs: StackRefs, days: int | None = None) -> dict[str, int]:
    """GuardDuty findings per feed over the last ``days`` days (``threatfeed.sightings``; default 30)."""
    import time

    from threatfeed.sightings import HITS_PERIOD_DAYS, load_sightings, summarize

    days = days or HITS_PERIOD_DAYS
    now = time.time()
    sightings = load_sightings(clients("s3"), refs.bucket, since_days=days, now=now)
    return summarize(sightings, [], since_days=days, now=now).per_feed()


@dataclass(frozen=True)
class StoredCatalogue:
    """The catalogue object as read: its text and what a conditional write needs to replace exactly it."""

    text: str
    etag: str
    version_id: str | None


class CatalogueConflict(Exception):
    """The catalogue changed between the read and the write (someone else edited it): nothing was written."""


def load_catalogue(clients: Clients, refs: StackRefs, version_id: str | None = None) -> StoredCatalogue | None:
    """The catalogue object (a given S3 version of it), or None when there is none yet."""
    from botocore.exceptions import ClientError

    from threatfeed.storage import CATALOGUE_KEY

    kwargs: dict[str, Any] = {"Bucket": refs.bucket, "Key": CATALOGUE_KEY}
    if version_id:
        kwargs["VersionId"] = version_id
    try:
        response = clients("s3").get_object(**kwargs)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if version_id and code in ("NoSuchVersion", "InvalidArgument", "400", "404", "NoSuchKey"):
            raise LookupError(
                f"No version {version_id!r} of the catalogue of stack {refs.stack_name!r}: pick one from "
                "`threatfeed feeds history`"
            ) from None
        if code in ("NoSuchKey", "404"):
            return None
        raise
    return StoredCatalogue(
        text=response["Body"].read().decode("utf-8"),
        etag=str(response.get("ETag", "")),
        version_id=response.get("VersionId"),
    )


def read_catalogue(clients: Clients, refs: StackRefs) -> str:
    """The catalogue JSON as the next run will read it (LookupError before the first run has written it)."""
    from threatfeed.storage import CATALOGUE_KEY

    stored = load_catalogue(clients, refs)
    if stored is None:
        raise LookupError(
            f"No catalogue in s3://{refs.bucket}/{CATALOGUE_KEY} yet: the first run writes the default one, or put "
            "yours there with `threatfeed feeds import FILE` or `threatfeed feeds add`"
        )
    return stored.text


def write_catalogue(
    clients: Clients,
    refs: StackRefs,
    text: str,
    *,
    if_match: str | None = None,
    if_absent: bool = False,
    allow_http_loopback: bool = True,
) -> str:
    """Validate ``text`` as a catalogue, then make it the one the next run reads; returns the new S3 version id.

    ``if_match``: the ETag of the catalogue this edit started from; ``if_absent``: the edit started from no
    catalogue. Either makes the write conditional (S3 ``If-Match`` / ``If-None-Match``), so that two people
    editing at once never silently lose an edit: the second write raises :class:`CatalogueConflict`. The
    previous version stays in the bucket's history (versioned), so an edit can be undone.
    """
    from botocore.exceptions import ClientError

    from threatfeed.catalogue import parse_catalogue
    from threatfeed.storage import CATALOGUE_KEY

    parse_catalogue(text, allow_http_loopback=allow_http_loopback)  # ConfigError naming every problem
    kwargs: dict[str, Any] = {
        "Bucket": refs.bucket,
        "Key": CATALOGUE_KEY,
        "Body": text.encode("utf-8"),
        "ContentType": "application/json",
    }
    if if_match:
        kwargs["IfMatch"] = if_match
    elif if_absent:
        kwargs["IfNoneMatch"] = "*"
    try:
        response = clients("s3").put_object(**kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
            raise CatalogueConflict(
                f"The catalogue of stack {refs.stack_name!r} changed since it was read (someone else edited it); "
                "nothing was written"
            ) from None
        raise
    return str(response.get("VersionId", ""))


def catalogue_versions(clients: Clients, refs: StackRefs, limit: int = 10) -> list[dict[str, Any]]:
    """The catalogue's S3 versions, newest first: id, when, how many feeds, what changed from the one before."""
    from threatfeed.storage import CATALOGUE_KEY

    s3 = clients("s3")
    versions: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"Bucket": refs.bucket, "Prefix": CATALOGUE_KEY}
    while True:
        page = s3.list_object_versions(**kwargs)
        versions.extend(v for v in page.get("Versions", []) if v["Key"] == CATALOGUE_KEY)
        if not page.get("IsTruncated"):
            break
        kwargs.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])
    versions.sort(key=lambda v: v["LastModified"], reverse=True)
    shown = versions[: limit + 1]  # one more, to say what the oldest shown one changed
    feeds: list[dict[str, Any] | None] = []
    for version in shown:
        body = s3.get_object(Bucket=refs.bucket, Key=CATALOGUE_KEY, VersionId=version["VersionId"])["Body"].read()
        feeds.append(_feeds_by_name(body))
    rows = []
    for number, version in enumerate(shown[:limit]):
        now, before = feeds[number], feeds[number + 1] if number + 1 < len(feeds) else {}
        rows.append(
            {
                "version": version["VersionId"],
                "at": _iso(version["LastModified"]),
                "current": bool(version.get("IsLatest")),
                "feeds": None if now is None else len(now),
                "enabled": None if now is None else sum(1 for f in now.values() if f.get("enabled", True)),
                "change": _change(before, now),
            }
        )
    return rows


def _feeds_by_name(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
        return {str(f.get("name")): f for f in document["feeds"] if isinstance(f, dict)}
    except (ValueError, TypeError, KeyError):
        return None


def _change(before: dict[str, Any] | None, now: dict[str, Any] | None) -> str:
    if now is None:
        return "not valid JSON"
    if before is None:
        return "-"
    added = sorted(set(now) - set(before))
    removed = sorted(set(before) - set(now))
    changed = sorted(n for n in set(now) & set(before) if now[n] != before[n])
    parts = [f"+{n}" for n in added] + [f"-{n}" for n in removed] + [f"~{n}" for n in changed]
    return " ".join(parts) or "(same feeds)"


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


def list_executions(clients: Clients, refs: StackRefs) -> list[dict[str, Any]]:
    """Every execution Step Functions still has for the stack, newest first."""
    sfn = clients("stepfunctions")
    executions: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"stateMachineArn": refs.state_machine_arn, "maxResults": 1000}
    while True:
        page = sfn.list_executions(**kwargs)
        executions.extend(page["executions"])
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    executions.sort(key=lambda e: e["startDate"], reverse=True)
    return executions


def report_data(clients: Clients, refs: StackRefs, run: str | None = None, runs: int = 20) -> dict[str, Any]:
    """What the run report shows: the run (default: the latest), its manifest, what changed since the run
    before it, and the list sizes and per-feed contributions of the last ``runs`` runs up to it."""
    executions = list_executions(clients, refs)
    names = [e["name"] for e in executions]
    if run is not None and run not in names:
        raise LookupError(
            f"No run {run!r} in stack {refs.stack_name!r} ({refs.region}): name one from `threatfeed history`"
        )
    if not executions:
        raise LookupError(f"Stack {refs.stack_name!r} has no runs yet: start one with `threatfeed start`")
    first = names.index(run) if run else 0
    sfn = clients("stepfunctions")
    window: list[dict[str, Any]] = []
    for execution in executions[first : first + max(1, runs)]:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        try:
            manifest: dict[str, Any] | None = manifest_of(clients, refs, execution["name"])
        except LookupError:
            manifest = None
        output = json.loads(described["output"]) if described.get("output") else {}
        window.append({"row": run_row(described), "output": output, "manifest": manifest})
    selected = window[0]
    selected["output"] = _full_output(clients, selected["output"])
    previous = next((item for item in window[1:] if item["manifest"]), None)
    changes: dict[str, Any] | None = None
    if selected["manifest"] and previous is not None:
        now, before = manifest_entries(clients, selected["manifest"]), manifest_entries(clients, previous["manifest"])
        kinds = sorted(set(now) | set(before))
        changes = {
            "from": previous["row"]["name"],
            "added": {k: sorted(now.get(k, set()) - before.get(k, set())) for k in kinds},
            "removed": {k: sorted(before.get(k, set()) - now.get(k, set())) for k in kinds},
            "feeds": _feed_changes(previous["manifest"], selected["manifest"]),
        }
    series = [
        {
            "run": item["row"]["name"],
            "start": item["row"]["start"],
            "status": item["row"]["status"],
            "published": bool(item["manifest"].get("publish")),
            "lists": _list_sizes(item["manifest"]),
            "feeds": feed_contributions(item["manifest"]),
        }
        for item in reversed(window)
        if item["manifest"]
    ]
    return {
        "stack": refs.stack_name,
        "region": refs.region,
        "regions": list(refs.regions),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run": selected["row"],
        "output": selected["output"],
        "manifest": selected["manifest"],
        "changes": changes,
        "series": series,
    }


def _full_output(clients: Clients, output: dict[str, Any]) -> dict[str, Any]:
    """The run's whole summary: the execution output, or the S3 object it points at (``details``) when the output
    had to leave feeds out to stay small."""
    details = output.get("details")
    parts = parse_s3_location(details) if isinstance(details, str) else None
    if not parts:
        return output
    try:
        return dict(json.loads(clients("s3").get_object(Bucket=parts[0], Key=parts[1])["Body"].read()))
    except Exception:  # the output itself still says what it can
        return output


def _list_sizes(manifest: dict[str, Any]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for item in manifest.get("lists", []):
        sizes[item["kind"]] = sizes.get(item["kind"], 0) + int(item.get("entries") or 0)
    return sizes


def feed_contributions(manifest: Mapping[str, Any]) -> dict[str, int]:
    """Entries each feed contributes to the run's lists (what it delivered, or what it kept from before)."""
    coverage = (manifest.get("coverage") or {}).get("feeds") or {}
    engine = (manifest.get("engine") or {}).get("feeds") or {}
    out = {name: int(item.get("entries") or 0) for name, item in coverage.items() if isinstance(item, dict)}
    for name, stats in engine.items():
        out.setdefault(name, int(stats.get("accepted") or 0))
    return dict(sorted(out.items()))


def _feed_changes(before: dict[str, Any], now: dict[str, Any]) -> dict[str, dict[str, int]]:
    old, new = feed_contributions(before), feed_contributions(now)
    return {name: {"before": old.get(name, 0), "now": new.get(name, 0)} for name in sorted(set(old) | set(new))}

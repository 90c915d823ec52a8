"""Plan: the first state. Validates the execution input and settles which feeds and Regions this run covers.

Bad input fails here, before anything is downloaded or published, with a message that says what to fix.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from importlib import resources
from typing import Any

from threatfeed.catalogue import FeedEntry, parse_catalogue, select_by_name
from threatfeed.config import Settings
from threatfeed.errors import ConfigError
from threatfeed.pipeline.contracts import MachineSettings, Plan, Run, Skipped
from threatfeed.storage import CATALOGUE_KEY, Store

_SCHEMA = json.loads(resources.files("threatfeed").joinpath("input_schema.json").read_text())


def validate_input(document: Any) -> dict[str, Any]:
    """Check the execution input against ``input_schema.json`` (documented in the README)."""
    from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate

    document = {} if document is None else document
    try:
        validate(event=document, schema=_SCHEMA)
    except SchemaValidationError as error:
        raise ConfigError(f"Invalid execution input: {error}. See the input schema in the README.") from None
    return dict(document)  # the schema's top level is an object


def _positive_int(settings: dict[str, Any], name: str, low: int = 0) -> int:
    raw: Any = settings.get(name)
    try:
        value = int(raw)  # DefinitionSubstitutions arrive as strings
    except (TypeError, ValueError):
        raise ConfigError(f"State machine setting {name}={raw!r} is not a whole number; check template.yaml") from None
    if value < low:
        raise ConfigError(f"State machine setting {name}={value} must be at least {low}")
    return value


def select_feeds(entries: list[FeedEntry], wanted: list[str] | None) -> list[FeedEntry]:
    enabled = [e for e in entries if e.enabled]
    if not wanted:
        return enabled
    selected = select_by_name(entries, wanted)
    if selected.unknown:
        raise ConfigError(
            f"Unknown feed(s) {', '.join(selected.unknown)} in the execution input; the catalogue has: "
            f"{', '.join(sorted(selected.by_name)) or 'no feeds'}"
        )
    if selected.disabled:
        raise ConfigError(f"Feed(s) {', '.join(selected.disabled)} are disabled in the catalogue; enable them first")
    return [selected.by_name[name] for name in wanted]


def select_regions(configured: tuple[str, ...], wanted: list[str] | None) -> list[str]:
    if not configured:
        raise ConfigError("No Region to publish to: set the Regions parameter of the stack")
    if not wanted:
        return list(configured)
    outside = [r for r in wanted if r not in configured]
    if outside:
        raise ConfigError(
            f"Region(s) {', '.join(outside)} are not among the stack's Regions ({', '.join(configured)}); "
            "update the Regions parameter to add them"
        )
    return list(wanted)


def plan_run(event: dict[str, Any], settings: Settings, catalogue_text: str) -> Plan:
    """Turn the execution input and the catalogue into the run plan the rest of the state machine follows."""
    request = validate_input(event.get("input"))
    rollback_to = request.get("rollback_to")
    if rollback_to and request.get("feeds"):
        raise ConfigError("rollback_to republishes a whole earlier run: do not combine it with feeds")
    # A rollback fetches nothing: it republishes lists already in S3.
    feeds = [] if rollback_to else select_feeds(parse_catalogue(catalogue_text), request.get("feeds"))
    verdicts = [(f, stack_disabled(f, settings)) for f in feeds]  # each feed judged once
    skipped = [Skipped(feed=f.name, reason=why) for f, why in verdicts if why]
    if skipped and request.get("feeds"):
        raise ConfigError("; ".join(item["reason"] for item in skipped))
    feeds = [f for f, why in verdicts if not why]
    regions = select_regions(settings.regions, request.get("regions"))
    machine = event.get("settings") or {}
    run = Run(
        id=event["execution"],
        started_at=event["started_at"],
        trigger=request.get("trigger", "manual"),
        force=bool(request.get("force", False)),
        dry_run=bool(request.get("dry_run", False)),
        rollback_to=rollback_to,
        feeds=[f.name for f in feeds],
        regions=regions,
    )
    if request.get("feeds"):
        run["partial"] = True  # the transform keeps the unnamed feeds' contributions (they are not fetched)
    if skipped:
        run["skipped"] = skipped
    return Plan(
        run=run,
        feeds=[{k: v for k, v in asdict(f).items()} for f in feeds],
        regions=regions,
        settings=MachineSettings(
            feed_concurrency=_positive_int(machine, "feed_concurrency", 1),
            region_concurrency=_positive_int(machine, "region_concurrency", 1),
            poll_seconds=_positive_int(machine, "poll_seconds", 0),
            max_checks=_positive_int(machine, "max_checks", 1),
        ),
    )


def add_own_addresses(plan: Plan, settings: Settings, client: Any) -> Plan:
    """With ``DiscoverOwnAddresses``, the account's Elastic IPs and NAT gateways in every Region of the stack go
    into the run (``own_addresses``, allow-listed by the transform; ``own_addresses_problems`` for Regions EC2
    refused). A rollback builds nothing, so it looks nothing up."""
    if not settings.discover_own_addresses or plan["run"].get("rollback_to"):
        return plan
    from threatfeed.pipeline.own_addresses import discover

    addresses, problems = discover(settings.regions, client)
    plan["run"]["own_addresses"] = addresses
    if problems:
        plan["run"]["own_addresses_problems"] = problems
    return plan


def default_catalogue(settings: Settings) -> dict[str, Any]:
    """The catalogue a new stack starts with: iSIGHT (with the stack's own secret) and abuse.ch Feodo Tracker.

    The iSIGHT entry stays in the catalogue whatever the keys; the stack parameters decide whether it runs
    (see :func:`stack_disabled`), so that adding the keys later in a stack update turns it on without touching
    the catalogue.
    """
    feeds: list[dict[str, Any]] = []
    if settings.isight_secret:
        feeds.append(
            {
                "name": "isight",
                "type": "isight",
                "url": "https://api.isightpartners.com",
                "secret": settings.isight_secret,
                "format": "fireeye",
                "enabled": True,
                "options": {"days_requested": settings.days_requested},
            }
        )
    feeds.append({"name": "feodo", "type": "preset", "preset": "feodotracker", "enabled": True})
    return {"feeds": feeds}


def stack_disabled(entry: FeedEntry, settings: Settings) -> str | None:
    """Why the stack keeps a catalogue feed from running, if it does: the iSIGHT feed without iSIGHT keys."""
    if settings.isight_secret and entry.secret == settings.isight_secret and not settings.isight_enabled:
        return (
            f"feed {entry.name!r} uses the stack's iSIGHT secret, and the stack was deployed without iSIGHT keys: "
            "set PublicKey and PrivateKey in a stack update to turn it on, or disable the feed in the catalogue"
        )
    return None


def load_catalogue(store: Store, default: dict[str, Any]) -> str:
    """The catalogue JSON from the data bucket (read fresh each run: people edit it).

    When there is none yet (a new stack), ``default`` is written there first, with ``If-None-Match: *`` so that
    a catalogue somebody put in the meantime is never overwritten, and used.
    """
    text = store.get_text(CATALOGUE_KEY)
    if text is not None:
        return text
    body = json.dumps(default, indent=2) + "\n"
    if store.put_bytes_if_absent(CATALOGUE_KEY, body.encode(), content_type="application/json"):
        return body
    return store.get_text(CATALOGUE_KEY) or body

"""Plan: the first state. Validates the execution input and settles which feeds and Regions this run covers.

Bad input fails here, before anything is downloaded or published, with a message that says what to fix.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from importlib import resources
from typing import Any

from threatfeed.aws import aws_errors
from threatfeed.catalogue import FeedEntry, parse_catalogue
from threatfeed.config import Settings, require
from threatfeed.errors import ConfigError

_SCHEMA = json.loads(resources.files("threatfeed").joinpath("input_schema.json").read_text())


def validate_input(document: Any) -> dict[str, Any]:
    """Check the execution input against ``input_schema.json`` (documented in the README)."""
    from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate

    document = {} if document is None else document
    try:
        validate(event=document, schema=_SCHEMA)
    except SchemaValidationError as error:
        raise ConfigError(f"Invalid execution input: {error}. See the input schema in the README.") from None
    return document


def _positive_int(settings: dict[str, Any], name: str, low: int = 0) -> int:
    raw = settings.get(name)
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
    by_name = {e.name: e for e in entries}
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise ConfigError(
            f"Unknown feed(s) {', '.join(unknown)} in the execution input; the catalogue has: "
            f"{', '.join(sorted(by_name)) or 'no feeds'}"
        )
    disabled = [name for name in wanted if not by_name[name].enabled]
    if disabled:
        raise ConfigError(f"Feed(s) {', '.join(disabled)} are disabled in the catalogue; enable them first")
    return [by_name[name] for name in wanted]


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


def plan_run(event: dict[str, Any], settings: Settings, catalogue_text: str) -> dict[str, Any]:
    """Turn the execution input and the catalogue into the run plan the rest of the state machine follows."""
    request = validate_input(event.get("input"))
    rollback_to = request.get("rollback_to")
    if rollback_to and request.get("feeds"):
        raise ConfigError("rollback_to republishes a whole earlier run: do not combine it with feeds")
    # A rollback fetches nothing: it republishes lists already in S3.
    feeds = [] if rollback_to else select_feeds(parse_catalogue(catalogue_text), request.get("feeds"))
    regions = select_regions(settings.regions, request.get("regions"))
    machine = event.get("settings") or {}
    run = {
        "id": event["execution"],
        "started_at": event["started_at"],
        "trigger": request.get("trigger", "manual"),
        "force": bool(request.get("force", False)),
        "dry_run": bool(request.get("dry_run", False)),
        "rollback_to": rollback_to,
        "feeds": [f.name for f in feeds],
        "regions": regions,
    }
    return {
        "run": run,
        "feeds": [{k: v for k, v in asdict(f).items()} for f in feeds],
        "regions": regions,
        "settings": {
            "feed_concurrency": _positive_int(machine, "feed_concurrency", 1),
            "region_concurrency": _positive_int(machine, "region_concurrency", 1),
            "poll_seconds": _positive_int(machine, "poll_seconds", 0),
            "max_checks": _positive_int(machine, "max_checks", 1),
        },
    }


def read_catalogue(settings: Settings) -> str:
    """The catalogue JSON from the stack's SSM parameter (read fresh each run: people edit it)."""
    from aws_lambda_powertools.utilities.parameters import get_parameter

    name = require(settings.catalogue_parameter, "THREATFEED_CATALOGUE_PARAMETER")
    with aws_errors(f"SSM parameter {name}"):
        return str(get_parameter(name, force_fetch=True))

"""``--try``: fetch a catalogue feed once, here, and show what the engine makes of it, before it is written.

The same calls the Fetch and Transform stages make (``threatfeed.feeds.fetch_feed``, then
``threatfeed.engine.build_lists`` and the outcome rule of ``threatfeed.pipeline.guards.feed_outcome``), on this
computer, without the stack: nothing is stored and GuardDuty is not touched. A feed's secret comes from a local
``--secrets`` file, or is read from Secrets Manager with your credentials.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from threatfeed.catalogue import FeedEntry
from threatfeed.config import DEFAULT_WARNINGLISTS

SecretLookup = Callable[[str], Mapping[str, Any]]
#: The engine's counts of the tried body, shown as ``threatfeed parse`` shows a file's.
_COUNTS = ("lines", "skipped", "accepted", "rejected", "ipv4", "domains")


def load_secrets_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """``{"name": {...}}``: each secret a JSON object, as it would be stored in Secrets Manager."""
    from threatfeed.errors import ConfigError

    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read the secrets file {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise ConfigError(f"the secrets file {path} is not valid JSON ({error})") from None
    if not isinstance(document, dict) or not all(isinstance(v, dict) and v for v in document.values()):
        raise ConfigError(
            f'the secrets file {path} must be a JSON object of secret name → non-empty object, e.g. {{"my-feed": '
            '{"token": "…"}}'
        )
    return {str(k): dict(v) for k, v in document.items()}


def local_secret(secrets: Mapping[str, Mapping[str, Any]], secret_id: str) -> Mapping[str, Any] | None:
    """The secret named ``secret_id`` in a local secrets file: by its full name, its ARN's name or its last part
    (``threatfeed/<stack>/my-feed`` and ``my-feed`` are the same secret)."""
    name = secret_id.split(":secret:", 1)[-1]
    for candidate in (secret_id, name, name.rsplit("/", 1)[-1]):
        if candidate in secrets:
            return secrets[candidate]
    return None


def try_feed(
    entry: FeedEntry,
    *,
    secret_lookup: SecretLookup | None,
    allow_http_loopback: bool,
    warninglists: Sequence[str] = DEFAULT_WARNINGLISTS,
) -> dict[str, Any]:
    """Fetch and parse ``entry`` once; the accounting the run would record for it (never raises for the feed).

    ``warninglists`` are the stack's (its ``Warninglists`` parameter; the default set unless told): a feed tried
    without them would look as if its resolvers and CDN ranges were going to be listed."""
    from threatfeed.config import DEFAULT_DAYS_REQUESTED, Settings
    from threatfeed.engine import EngineSettings, FeedBody, build_lists
    from threatfeed.errors import ThreatfeedError
    from threatfeed.feeds import fetch_feed
    from threatfeed.pipeline.guards import feed_outcome

    now = datetime.now(UTC)
    days = int(entry.options.get("days_requested", DEFAULT_DAYS_REQUESTED))
    settings = Settings(
        bucket="", stack_name="threatfeed", regions=(), days_requested=days, allow_http_loopback=allow_http_loopback
    )
    result: dict[str, Any] = {"feed": entry.name, "type": entry.type, "format": entry.format}
    try:
        secret = None
        if entry.secret:
            if secret_lookup is None:
                raise ThreatfeedError(f"feed {entry.name} names secret {entry.secret}: pass --secrets FILE to try it")
            secret = secret_lookup(entry.secret)
        fetched = fetch_feed(entry, now=now, days_requested=days, secret=secret, settings=settings)
    except ThreatfeedError as error:
        return {**result, "outcome": "failed", "error": type(error).__name__, "cause": str(error)}
    result.update(status=fetched.status, bytes=len(fetched.body))
    if not fetched.body.strip():
        return {**result, "outcome": "empty", "accepted": 0, "rejected": 0}
    options = {k: v for k, v in entry.options.items() if k != "cursor"}
    if fetched.cursor is not None:
        options.setdefault("replace", False)
    try:
        engine = build_lists(
            [FeedBody(feed=entry.name, body=fetched.body, format=entry.format, options=options, fetched_at=now)],
            EngineSettings(now=now, days_requested=days, replace_delivered=True, warninglists=tuple(warninglists)),
        )
    except ThreatfeedError as error:
        return {**result, "outcome": "failed", "error": type(error).__name__, "cause": str(error)}
    stats = engine.feeds[entry.name].to_dict()
    outcome, why = feed_outcome("ok", stats)
    result.update({count: stats.get(count) for count in _COUNTS})
    result.update(
        outcome=outcome,
        format=stats.get("format") or entry.format,
        reasons=dict(sorted((stats.get("reasons") or {}).items())),
        samples=stats.get("samples") or [],
        lists={lst.kind: lst.entries for lst in engine.lists},
    )
    if why:
        result["cause"] = why
    return result


def print_try(result: Mapping[str, Any], out: TextIO) -> None:
    """The accounting of one tried feed, as ``threatfeed parse`` shows a file's."""
    name = result["feed"]
    if result.get("error"):
        print(f"  try {name}: failed: {result['error']}: {result.get('cause')}", file=out)
        return
    print(
        f"  try {name}: {result['outcome']} (HTTP {result.get('status')}, {result.get('bytes', 0):,} bytes, "
        f"format {result.get('format')}, {result.get('lines', 0)} lines)",
        file=out,
    )
    if result.get("cause"):
        print(f"    why: {result['cause']}", file=out)
    if "accepted" in result:
        print(
            f"    accepted {result.get('accepted', 0)} (ipv4 {result.get('ipv4', 0)}, domains "
            f"{result.get('domains', 0)}), rejected {result.get('rejected', 0)}, skipped {result.get('skipped', 0)}",
            file=out,
        )
    samples = {s.get("reason"): s for s in result.get("samples") or []}
    for reason, count in (result.get("reasons") or {}).items():
        sample = samples.get(reason)
        shown = f"   e.g. line {sample.get('line')}: {str(sample.get('text'))[:80]}" if sample else ""
        print(f"    {reason:<22} {count}{shown}", file=out)

"""Transform: turn the run's raw feed bodies into GuardDuty lists and a manifest in S3.

The engine (``threatfeed.engine``) does the parsing and aggregation without any AWS call; this module only
moves bytes between S3 and the engine, and decides whether there is anything worth publishing.

A run goes through four steps, so that what is decided can be read (and tested) apart from what is written:
:func:`load_inputs` (what S3 holds: bodies, engine state, history), :func:`build` (the engine, and the
poisoned-feed rebuild), :func:`decide_publish` (pure: publish, hold or skip, and why) and :func:`commit` (the
manifest, the engine state and the feeds' cursors). The list bodies are content-addressed, so :func:`write_lists`
stores them as soon as they are built, whatever the decision.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from threatfeed.config import GuardSettings, Settings
from threatfeed.engine import EngineResult, EngineSettings, FeedBody, FeedStats, build_lists
from threatfeed.engine import warninglists as W
from threatfeed.engine.coverage import contributions, list_addresses, overlap_with
from threatfeed.errors import ConfigError
from threatfeed.guardduty import list_name
from threatfeed.pipeline.contracts import FetchResult, ListPointer, Run, S3Object, TransformResult
from threatfeed.pipeline.guards import Finding, evaluate, feed_outcome, poisoned
from threatfeed.pipeline.publish import bounded_cause
from threatfeed.pipeline.run import parse_time
from threatfeed.sightings import period_hits
from threatfeed.storage import (
    ENGINE_STATE_KEY,
    HISTORY_KEY,
    WARNINGLISTS_PREFIX,
    Store,
    cursor_key,
    list_key,
    manifest_key,
    published_key,
    sha256_hex,
)

SET_TYPES = {"ip": "threat_intel_set", "domain": "threat_entity_set", "trusted": "trusted_entity_set"}
"""Where each kind of list goes in GuardDuty: IPs to threat IP sets, domains (and IPs, when so configured)
to threat entity sets, the allow-list to the trusted entity set."""

Outcomes = dict[str, tuple[str, str | None]]
"""Per feed, its outcome once parsed and why it failed (``guards.feed_outcome``)."""


def list_pointer(
    *,
    kind: str,
    index: int,
    name: str,
    format: str,
    bucket: str,
    key: str,
    sha256: str,
    entries: int,
    previous: Mapping[str, Any],
    addresses: int | None = None,
    unchanged: bool | None = None,
) -> ListPointer:
    """The one place a list pointer (what a publish receives) is made: for a list just built, the allow-list, and
    a rollback's earlier list alike. ``previous`` is what GuardDuty was last given for the list's slot
    (``published_key``). A threat list carries its covered addresses and the previous sizes the guards compare;
    the allow-list does not: shrinking an allow-list is deliberate, so the drop guard never looks at it."""
    pointer = ListPointer(
        kind=kind,
        index=index,
        name=name,
        set_type=SET_TYPES[kind],
        format=format,
        bucket=bucket,
        key=key,
        sha256=sha256,
        entries=entries,
        previous_sha256=previous.get("sha256"),
        previous_entries=None if kind == "trusted" else previous.get("entries"),
        unchanged=previous.get("sha256") == sha256 if unchanged is None else unchanged,
    )
    if kind != "trusted":
        pointer["addresses"] = addresses
        pointer["previous_addresses"] = previous.get("addresses")
    return pointer


@dataclass(frozen=True)
class Inputs:
    """What a run's transform reads before building: the delivered bodies, the feeds whose previous contribution is
    kept (failed or empty), the engine's previous state, the guards' history, the period's sightings."""

    now: datetime
    bodies: list[FeedBody]
    carry_over: list[str]
    previous_state: dict[str, Any] | None
    history: list[dict[str, Any]]
    hits: Any
    engine_settings: EngineSettings


@dataclass(frozen=True)
class Built:
    """The engine's result after the poisoned-feed guard, and what each feed delivered and contributes."""

    engine: EngineResult
    shares: dict[str, tuple[int, int]]
    poison: list[Finding]
    outcomes: Outcomes
    coverage: dict[str, dict[str, Any]]
    previous_coverage: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Decision:
    """Whether the run publishes, and why not: ``held`` are the guard findings that hold the lists back."""

    publish: bool
    reason: str
    guarded: bool
    publishable: list[ListPointer]
    findings: list[Finding]
    held: list[Finding]


@dataclass(frozen=True)
class Outcome:
    """One run's transform as a whole, what it read, built and decided: the manifest records it and the commit
    writes it, so both take it as one value instead of the same six arguments each."""

    run: Run
    fetched: Sequence[FetchResult]
    inputs: Inputs
    built: Built
    lists: Sequence[ListPointer]
    decision: Decision


def transform_run(run: Run, fetched: Sequence[FetchResult], *, settings: Settings, store: Store) -> TransformResult:
    """Build the lists for ``run`` from the fetch results and write them, the manifest and the engine state."""
    if run.get("rollback_to"):
        return rollback_lists(run, settings=settings, store=store)
    inputs = load_inputs(run, fetched, settings=settings, store=store)
    built = build(run, fetched, inputs, settings.guards)
    lists = write_lists(built.engine, settings=settings, store=store)
    if settings.publish_allow_list and settings.allow_list:
        lists.append(trusted_list(settings.allow_list, settings=settings, store=store))
    decision = decide_publish(run, lists, built, inputs.history, settings.guards)
    return commit(Outcome(run, fetched, inputs, built, lists, decision), store=store)


def load_inputs(run: Run, fetched: Sequence[FetchResult], *, settings: Settings, store: Store) -> Inputs:
    """Everything the build reads from S3 besides the bodies themselves (streamed by the engine when it parses).

    A feed that failed or came back empty keeps what it contributed last time (the engine ages it out in time), and
    so does every feed an urgent run of a few named feeds did not fetch (a full run drops the feeds no longer in
    the catalogue).
    """
    now = parse_time(run["started_at"])
    bodies: list[FeedBody] = []
    carry_over: list[str] = []
    for result in fetched:
        raw = result.get("raw")
        if result.get("outcome") == "ok" and raw is not None:  # an ok result always points at its body
            bodies.append(
                FeedBody(
                    feed=result["feed"],
                    body=S3Body(store, raw["key"], raw.get("version_id")),
                    format=result.get("format", "auto"),
                    options=result.get("options") or {},
                    fetched_at=now,
                    # the hash fetch computed of the stored bytes: an unchanged body is not parsed again
                    sha256=result.get("sha256"),
                )
            )
        else:
            carry_over.append(result["feed"])
    previous_state = store.get_json(ENGINE_STATE_KEY)
    if run.get("partial"):
        fetched_names = {result["feed"] for result in fetched}
        carry_over += sorted(set((previous_state or {}).get("feeds") or {}) - fetched_names)
    # A feed that delivers gives its whole current contribution (a blocklist delists at once; the guards
    # catch a truncated body). Incremental feeds set options["replace"] false. The allow-list takes the account's
    # own public addresses the plan found (Elastic IPs, NAT gateways): they are never threats.
    engine_settings = EngineSettings(
        now=now,
        days_requested=settings.days_requested,
        replace_delivered=True,
        ip_destination=settings.ip_destination,
        allow_list=(*settings.allow_list, *(run.get("own_addresses") or ())),
        max_entities_per_list=settings.max_entities_per_list,
        warninglists=settings.warninglists,
        warninglist_files=own_warninglists(store),
        domain_max_age_days=settings.domain_max_age_days,
    )
    return Inputs(
        now=now,
        bodies=bodies,
        carry_over=carry_over,
        previous_state=previous_state,
        history=(store.get_json(HISTORY_KEY) or {}).get("runs", []),
        # GuardDuty findings per feed over the last 30 days (threatfeed.sightings; issue 13: which feeds earn it)
        hits=period_hits(store, [r["feed"] for r in fetched], now=now.timestamp()),
        engine_settings=engine_settings,
    )


def build(run: Run, fetched: Sequence[FetchResult], inputs: Inputs, guards: GuardSettings) -> Built:
    """The engine's lists and state for this run, and what each feed delivered and now contributes.

    A feed whose share of benign values jumped (a resolver list, a cloud's ranges slipped in) is held back like a
    failed feed: the lists are built again with its last good contribution instead of this body, and the manifest
    keeps what the held-back body held, and why it was held back.
    """
    bodies = inputs.bodies
    engine = build_lists(bodies, inputs.engine_settings, inputs.previous_state, inputs.carry_over)
    shares = {
        b.feed: W.suppressed_share(engine.feeds[b.feed].to_dict())
        for b in bodies
        if b.feed in engine.feeds and not engine.feeds[b.feed].error
    }
    poison = [] if run.get("force") else poisoned(shares, inputs.history, guards)
    if poison:
        held_back = {f.feeds[0] for f in poison}
        first = engine.feeds
        del engine  # its lists and state let go before the second build (a big feed's are hundreds of MB)
        kept = [b for b in bodies if b.feed not in held_back]
        carry_over = [*inputs.carry_over, *sorted(held_back)]
        engine = build_lists(kept, inputs.engine_settings, inputs.previous_state, carry_over)
        for finding in poison:
            name = finding.feeds[0]
            first[name].error, first[name].carried_over = finding.message, True
            engine.feeds[name] = first[name]
    # What each delivered body was worth (a body with nothing usable is a failed feed, not a quiet zero), and
    # what each feed now contributes: the guards weigh both against what GuardDuty accepted before.
    outcomes = {
        r["feed"]: feed_outcome(r.get("outcome", "failed"), _stats(engine.feeds.get(r["feed"]))) for r in fetched
    }
    delivered = [name for name, (outcome, _) in outcomes.items() if outcome == "ok"]
    coverage, previous_coverage = contributions(inputs.previous_state, engine.state, delivered)
    return Built(engine, shares, poison, outcomes, coverage, previous_coverage)


def write_lists(engine: EngineResult, *, settings: Settings, store: Store) -> list[ListPointer]:
    """Store each list the engine rendered (content-addressed: written once, never overwritten) and point at it,
    with what GuardDuty was last given in its slot."""
    lists: list[ListPointer] = []
    for output in engine.lists:
        key = list_key(output.kind, output.sha256)
        if not store.exists(key):
            store.put_bytes(key, output.body, content_type="text/plain; charset=utf-8")
        lists.append(
            list_pointer(
                kind=output.kind,
                index=output.index,
                name=list_name(settings.stack_name, output.kind, output.index),
                format=output.format,
                bucket=store.bucket,
                key=key,
                sha256=output.sha256,
                entries=output.entries,
                addresses=list_addresses(output.body),
                previous=store.get_json(published_key(output.kind, output.index)) or {},
            )
        )
    return lists


def decide_publish(
    run: Run,
    lists: Sequence[ListPointer],
    built: Built,
    history: Sequence[Mapping[str, Any]],
    guards: GuardSettings,
) -> Decision:
    """Pure: whether this run's lists go to GuardDuty. Not on a dry run, not when no list has entries (GuardDuty
    keeps the lists it has), not when every list is the one published (unless forced), not when a guard holds
    them (unless forced)."""
    publishable = [item for item in lists if item["entries"] > 0]
    findings = evaluate(publishable, built.coverage, built.previous_coverage, history, guards)
    held = [f for f in findings if f.hold]
    guarded = False
    if run.get("dry_run"):
        publish, reason = False, "dry run: lists and manifest written, GuardDuty left as it is"
    elif not publishable:
        publish, reason = False, "no entries to publish; the lists GuardDuty has stay in use"
    elif all(item["unchanged"] for item in publishable) and not run.get("force"):
        publish, reason = False, "unchanged: every list has the same content as the one published"
    elif held and not run.get("force"):
        publish, reason, guarded = False, bounded_cause([f.message for f in held], "guards"), True
    else:
        publish, reason = True, ""
    return Decision(publish, reason, guarded, publishable, findings, held)


def manifest_document(outcome: Outcome) -> dict[str, Any]:
    """The run's manifest (``manifests/<run>.json``): everything the run read, built and decided, and why."""
    built, decision, lists = outcome.built, outcome.decision, outcome.lists
    return {
        "run": dict(outcome.run),
        "fetched": [dict(r) for r in outcome.fetched],
        "engine": built.engine.manifest(),
        "lists": list(lists),
        "publish": decision.publish,
        "reason": decision.reason,
        "guard": decision.held[0].as_dict() if decision.held else None,
        "findings": [f.as_dict() for f in decision.findings],
        "coverage": {"feeds": built.coverage, "lists": {item["name"]: item.get("addresses") for item in lists}},
        "poisoned": [f.as_dict() for f in built.poison],
        "guardduty_overlap": guardduty_overlap(outcome.fetched, built.engine),
        "benign": {name: {"benign": b, "values": v} for name, (b, v) in sorted(built.shares.items())},
        "hits": outcome.inputs.hits,
    }


def commit(outcome: Outcome, *, store: Store) -> TransformResult:
    """Write the manifest and, unless the run changes nothing, the engine state and the feeds' cursors; return
    the transform result. A dry run changes nothing, and a guarded run must not make the held-back content the new
    baseline (nor move a cursor past a body whose entries were not kept)."""
    run, fetched, built, decision = outcome.run, outcome.fetched, outcome.built, outcome.decision
    manifest = manifest_document(outcome)
    manifest_pointer = store.put_json(manifest_key(run["id"]), manifest)
    if decision.publish or (not run.get("dry_run") and not decision.held):
        store.put_json(ENGINE_STATE_KEY, built.engine.state)
        for result in fetched:
            cursor = result.get("cursor")
            if cursor and built.outcomes[result["feed"]][0] in ("ok", "empty"):
                store.put_json(cursor_key(result["feed"]), cursor)
    engine = built.engine
    poisoned_feeds = {f.feeds[0] for f in built.poison}
    return TransformResult(
        publish=decision.publish,
        reason=decision.reason,
        guarded=decision.guarded,
        guard=decision.held[0].guard if decision.guarded else None,  # the run's error: the most serious guard
        findings=[f.as_dict() for f in decision.findings],
        manifest=_s3_object(manifest_pointer.as_dict()),
        lists=decision.publishable,
        feeds=feed_results(engine.feeds, built.outcomes, built.coverage, built.shares, poisoned_feeds),
        dropped=dict(engine.dropped),  # entries the lists' quotas left out, by cause (overflow policy)
        suppressed=dict((engine.warninglists or {}).get("suppressed") or {}),  # per warninglist, all feeds
    )


def _s3_object(pointer: Mapping[str, Any]) -> S3Object:
    """``S3Pointer.as_dict()`` as its contract says it is."""
    out = S3Object(bucket=str(pointer["bucket"]), key=str(pointer["key"]))
    if pointer.get("version_id"):
        out["version_id"] = str(pointer["version_id"])
    return out


def feed_results(
    stats: Mapping[str, FeedStats],
    outcomes: Mapping[str, tuple[str, str | None]],
    coverage: Mapping[str, Mapping[str, Any]],
    shares: Mapping[str, tuple[int, int]] | None = None,
    poisoned_feeds: Collection[str] = (),
) -> dict[str, dict[str, Any]]:
    """Per feed, for the summary and the history: counts, the outcome once parsed (with why it failed), its
    contribution (entries, covered addresses, overlap with the previous run), how many values the warninglists
    suppressed and its share of benign values (``benign``: the poisoned-feed guard's baseline; never recorded for
    a feed held back as poisoned)."""
    out: dict[str, dict[str, Any]] = {}
    for name, feed in stats.items():
        entry: dict[str, Any] = {"accepted": feed.accepted, "rejected": feed.rejected, **coverage.get(name, {})}
        suppressed = sum(n for reason, n in feed.reasons.items() if W.list_of(reason) is not None)
        if suppressed:
            entry["suppressed"] = suppressed
        outcome, why = outcomes.get(name, (None, None))
        if outcome:
            entry["outcome"] = outcome
        if outcome == "failed" and why:
            entry.update(error="PoisonedFeed" if name in poisoned_feeds else "FeedRejected", cause=why)
        benign, values = (shares or {}).get(name, (0, 0))
        if values and name not in poisoned_feeds and outcome == "ok":
            entry["benign"] = round(benign / values, 4)
        out[name] = entry
    return out


#: What the manifest says of GuardDuty's own intelligence, which no API publishes.
GUARDDUTY_INTELLIGENCE_NOTE = (
    "GuardDuty's own threat intelligence (Tor exit nodes, and feeds such as CrowdStrike's and Proofpoint's) is not "
    "published, so a feed's overlap with it cannot be measured; only Tor exits can be approximated, by a Tor exit "
    "list among the run's feeds (preset tor-exits or format tor). A feed that is mostly Tor exits adds little "
    "beyond what GuardDuty's Tor findings (UnauthorizedAccess:EC2/TorIPCaller, TorClient, TorRelay) already cover."
)


def guardduty_overlap(fetched: Sequence[FetchResult], engine: EngineResult) -> dict[str, Any]:
    """The manifest's ``guardduty_overlap``: per feed, the share of its addresses a Tor exit list of this run also
    lists (see :data:`GUARDDUTY_INTELLIGENCE_NOTE` for what can and cannot be known)."""
    tor = sorted(
        {r["feed"] for r in fetched if r.get("format") == "tor"}
        | {name for name, stats in engine.feeds.items() if stats.format == "tor"}
    )
    out: dict[str, Any] = {"note": GUARDDUTY_INTELLIGENCE_NOTE, "tor_lists": tor}
    if tor:
        out["feeds"] = overlap_with(engine.state, tor)
    return out


@dataclass(frozen=True)
class S3Body:
    """A raw feed body where the fetch stored it, streamed into the engine each time it is parsed (once, or twice
    when the poisoned-feed guard rebuilds the lists): a body of hundreds of megabytes is never held whole."""

    store: Store
    key: str
    version_id: str | None = None

    def open(self) -> IO[bytes]:
        return self.store.open_stream(self.key, self.version_id)


def own_warninglists(store: Store) -> dict[str, bytes]:
    """The user's own warninglists in the data bucket (``config/warninglists/<name>.txt``), by name."""
    out = {}
    for key in store.keys(WARNINGLISTS_PREFIX):
        name = key[len(WARNINGLISTS_PREFIX) :]
        if name.endswith(".txt") and "/" not in name and len(name) > 4:
            out[name[:-4]] = store.get_bytes(key)
    return out


def _stats(feed: FeedStats | None) -> dict[str, Any] | None:
    return feed.to_dict() if feed is not None else None


def rollback_lists(run: Run, *, settings: Settings, store: Store) -> TransformResult:
    """Point GuardDuty back at the lists an earlier run built: they are still in S3 (content-addressed,
    never overwritten), so a rollback is a publish of known-good objects, with the same checks and audit trail
    as any run. The engine state is left alone: the next scheduled run rebuilds from the feeds."""
    target = run.get("rollback_to")
    if not target:
        raise ConfigError("rollback_lists needs a run with rollback_to")
    earlier = store.get_json(manifest_key(target))
    if not earlier:
        raise ConfigError(
            f"No manifest for run {target!r}: pick a run from `threatfeed history` whose lists were published"
        )
    lists: list[ListPointer] = []
    for item in earlier.get("lists", []):
        if item.get("entries", 0) <= 0:
            continue
        if not store.exists(item["key"]):
            raise ConfigError(f"The list {item['key']} of run {target!r} is no longer in s3://{store.bucket}")
        lists.append(
            list_pointer(
                kind=item["kind"],
                index=item["index"],
                name=item["name"],
                format=item["format"],
                bucket=item["bucket"],
                key=item["key"],
                sha256=item["sha256"],
                entries=item["entries"],
                addresses=item.get("addresses"),
                previous=store.get_json(published_key(item["kind"], item["index"])) or {},
                unchanged=False,  # republished whatever GuardDuty has: that is the point of a rollback
            )
        )
    if not lists:
        raise ConfigError(f"Run {target!r} built no list with entries; nothing to roll back to")
    reason = f"rollback to the lists of run {target}"
    manifest = {"run": dict(run), "rollback_to": target, "lists": lists, "publish": True, "reason": reason}
    pointer = store.put_json(manifest_key(run["id"]), manifest)
    return TransformResult(
        publish=True, reason="", guarded=False, manifest=_s3_object(pointer.as_dict()), lists=lists, feeds={}
    )


def trusted_list(allow_list: Sequence[str], *, settings: Settings, store: Store) -> ListPointer:
    """The allow-list as GuardDuty's trusted entity list (trusted beats threat when both list an entry)."""
    entries: set[str] = set()
    for value in allow_list:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            entries.add(value.lower().rstrip("."))
            continue
        if network.version != 4:
            raise ConfigError(f"AllowList entry {value!r} is IPv6; GuardDuty lists take IPv4 only")
        entries.add(str(network.network_address) if network.prefixlen == 32 else str(network))
    body = "".join(f"{entry}\n" for entry in sorted(entries)).encode()
    digest = sha256_hex(body)
    key = list_key("trusted", digest)
    if not store.exists(key):
        store.put_bytes(key, body, content_type="text/plain; charset=utf-8")
    return list_pointer(
        kind="trusted",
        index=0,
        name=list_name(settings.stack_name, "trusted", 0),
        format="TXT",
        bucket=store.bucket,
        key=key,
        sha256=digest,
        entries=len(entries),
        previous=store.get_json(published_key("trusted", 0)) or {},
    )

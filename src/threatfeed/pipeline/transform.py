"""Transform: turn the run's raw feed bodies into GuardDuty lists and a manifest in S3.

The engine (``threatfeed.engine``) does the parsing and aggregation without any AWS call; this module only
moves bytes between S3 and the engine, and decides whether there is anything worth publishing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from threatfeed.config import Settings
from threatfeed.engine import EngineSettings, FeedBody, build_lists
from threatfeed.errors import ConfigError
from threatfeed.guardduty import list_name
from threatfeed.pipeline.run import parse_time
from threatfeed.storage import ENGINE_STATE_KEY, Store, cursor_key, list_key, manifest_key, published_key, sha256_hex

SET_TYPES = {"ip": "threat_intel_set", "domain": "threat_entity_set", "trusted": "trusted_entity_set"}
"""Where each kind of list goes in GuardDuty: IPs to threat IP sets, domains (and IPs, when so configured)
to threat entity sets, the allow-list to the trusted entity set."""


def transform_run(
    run: Mapping[str, Any], fetched: Sequence[Mapping[str, Any]], *, settings: Settings, store: Store
) -> dict[str, Any]:
    """Build the lists for ``run`` from the fetch results and write them, the manifest and the engine state."""
    if run.get("rollback_to"):
        return rollback_lists(run, settings=settings, store=store)
    now = parse_time(run["started_at"])
    bodies: list[FeedBody] = []
    carry_over: list[str] = []
    for result in fetched:
        if result.get("outcome") == "ok":
            raw = result["raw"]
            bodies.append(
                FeedBody(
                    feed=result["feed"],
                    body=store.get_bytes(raw["key"], raw.get("version_id")),
                    format=result.get("format", "auto"),
                    options=result.get("options") or {},
                    fetched_at=now,
                )
            )
        else:
            # Failed or empty: keep what this feed contributed last time (the engine ages it out in time).
            carry_over.append(result["feed"])

    previous_state = store.get_json(ENGINE_STATE_KEY)
    engine = build_lists(
        bodies,
        # A feed that delivers gives its whole current contribution (a blocklist delists at once; the
        # sudden-drop guard below catches a truncated body). Incremental feeds set options["replace"] false.
        EngineSettings(
            now=now,
            days_requested=settings.days_requested,
            replace_delivered=True,
            ip_destination=settings.ip_destination,
            allow_list=settings.allow_list,
            max_entities_per_list=settings.max_entities_per_list,
        ),
        previous_state=previous_state,
        carry_over=carry_over,
    )

    lists: list[dict[str, Any]] = []
    for output in engine.lists:
        key = list_key(output.kind, output.sha256)
        if not store.exists(key):
            store.put_bytes(key, output.body, content_type="text/plain; charset=utf-8")
        previous = store.get_json(published_key(output.kind, output.index)) or {}
        lists.append(
            {
                "kind": output.kind,
                "index": output.index,
                "name": list_name(settings.stack_name, output.kind, output.index),
                "set_type": SET_TYPES[output.kind],
                "format": output.format,
                "bucket": store.bucket,
                "key": key,
                "sha256": output.sha256,
                "entries": output.entries,
                "previous_sha256": previous.get("sha256"),
                "previous_entries": previous.get("entries"),
                "unchanged": previous.get("sha256") == output.sha256,
            }
        )

    if settings.publish_allow_list and settings.allow_list:
        lists.append(trusted_list(settings.allow_list, settings=settings, store=store))
    publishable = [item for item in lists if item["entries"] > 0]
    guard = sudden_drop(lists, settings.max_drop_percent)
    if run.get("dry_run"):
        publish, reason = False, "dry run: lists and manifest written, GuardDuty left as it is"
    elif not publishable:
        publish, reason = False, "no entries to publish; the lists GuardDuty has stay in use"
    elif all(item["unchanged"] for item in publishable) and not run.get("force"):
        publish, reason = False, "unchanged: every list has the same content as the one published"
    elif guard and not run.get("force"):
        publish, reason = False, guard["message"]
    else:
        publish, reason = True, ""

    manifest = {
        "run": dict(run),
        "fetched": [dict(r) for r in fetched],
        "engine": engine.manifest(),
        "lists": lists,
        "publish": publish,
        "reason": reason,
        "guard": guard,
    }
    manifest_pointer = store.put_json(manifest_key(run["id"]), manifest)
    if publish or (not run.get("dry_run") and not guard):
        # A dry run changes nothing, and a guarded run must not make the held-back content the new baseline.
        store.put_json(ENGINE_STATE_KEY, engine.state)
        for result in fetched:
            if result.get("cursor") and result.get("outcome") in ("ok", "empty"):
                store.put_json(cursor_key(result["feed"]), result["cursor"])

    feeds = {name: {"accepted": stats.accepted, "rejected": stats.rejected} for name, stats in engine.feeds.items()}
    return {
        "publish": publish,
        "reason": reason,
        "guarded": bool(guard) and not publish and not run.get("dry_run"),
        "manifest": manifest_pointer.as_dict(),
        "lists": publishable,
        "feeds": feeds,
        "dropped": dict(engine.dropped),  # entries the lists' quotas left out, by cause (overflow policy)
    }


def sudden_drop(lists: Sequence[Mapping[str, Any]], max_drop_percent: int) -> dict[str, Any] | None:
    """The first list that would lose more than ``max_drop_percent`` of the entries GuardDuty has now.

    A feed that answers 200 with a truncated body looks like a feed that shrank; a person decides which it
    is (and overrides with ``force``), never the pipeline.
    """
    for item in lists:
        before = item.get("previous_entries") or 0
        after = item["entries"]
        if before and after < before and (before - after) * 100 > before * max_drop_percent:
            drop = round((before - after) * 100 / before, 1)
            return {
                "list": item["name"],
                "previous_entries": before,
                "entries": after,
                "drop_percent": drop,
                "message": (
                    f"sudden drop: {item['name']} would go from {before} to {after} entries (-{drop}%), more than "
                    f"the {max_drop_percent}% allowed; the active list stays in use. Check the feeds, then start an "
                    'urgent run with {"force": true} to publish it anyway'
                ),
            }
    return None


def rollback_lists(run: Mapping[str, Any], *, settings: Settings, store: Store) -> dict[str, Any]:
    """Point GuardDuty back at the lists an earlier run built: they are still in S3 (content-addressed,
    never overwritten), so a rollback is a publish of known-good objects, with the same checks and audit trail
    as any run. The engine state is left alone: the next scheduled run rebuilds from the feeds."""
    target = run["rollback_to"]
    earlier = store.get_json(manifest_key(target))
    if not earlier:
        raise ConfigError(
            f"No manifest for run {target!r}: pick a run from `threatfeed history` whose lists were published"
        )
    lists = []
    for item in earlier.get("lists", []):
        if item.get("entries", 0) <= 0:
            continue
        if not store.exists(item["key"]):
            raise ConfigError(f"The list {item['key']} of run {target!r} is no longer in s3://{store.bucket}")
        previous = store.get_json(published_key(item["kind"], item["index"])) or {}
        lists.append({**item, "previous_sha256": previous.get("sha256"), "unchanged": False})
    if not lists:
        raise ConfigError(f"Run {target!r} built no list with entries; nothing to roll back to")
    reason = f"rollback to the lists of run {target}"
    manifest = {"run": dict(run), "rollback_to": target, "lists": lists, "publish": True, "reason": reason}
    pointer = store.put_json(manifest_key(run["id"]), manifest)
    return {"publish": True, "reason": "", "guarded": False, "manifest": pointer.as_dict(), "lists": lists, "feeds": {}}


def trusted_list(allow_list: Sequence[str], *, settings: Settings, store: Store) -> dict[str, Any]:
    """The allow-list as GuardDuty's trusted entity list (trusted beats threat when both list an entry)."""
    import ipaddress

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
    previous = store.get_json(published_key("trusted", 0)) or {}
    return {
        "kind": "trusted",
        "index": 0,
        "name": list_name(settings.stack_name, "trusted", 0),
        "set_type": SET_TYPES["trusted"],
        "format": "TXT",
        "bucket": store.bucket,
        "key": key,
        "sha256": digest,
        "entries": len(entries),
        "previous_sha256": previous.get("sha256"),
        "previous_entries": None,  # the drop guard is for threat lists: shrinking an allow-list is deliberate
        "unchanged": previous.get("sha256") == digest,
    }

"""Sightings: GuardDuty findings raised from this stack's lists, joined with the feeds that listed the indicator.

A GuardDuty finding from a custom threat list names the list (``service.evidence.threatIntelligenceDetails[]``
``.threatListName``) and carries the matched address or name in its action details; the engine's provenance
(``state/engine.json``: per feed, rows of addresses and names with first and last seen) says which feeds listed
that indicator. Joining them answers which feed earned its place.

Storage (Athena-queryable, see docs/ARCHITECTURE.md for the table): one JSON line per finding at
``sightings/dt=<YYYY-MM-DD of the finding's createdAt>/<finding id>.json``. GuardDuty sends a finding again when
it updates it (same id and createdAt, later updatedAt, higher count), so the key is stable and a re-sent finding
overwrites its own record, never adds one: the count of findings is the count of objects. The provenance stays
as it was recorded the first time (the feeds that contributed the indicator when the finding was raised).

Nothing here imports boto3: the S3 client comes in through :class:`threatfeed.storage.Store`, and the engine
state is decoded without NumPy (the sightings function ships neither).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

SIGHTINGS_PREFIX = "sightings/"
#: The period ``threatfeed hits``, ``threatfeed feeds`` and each run's manifest count findings over, by default.
HITS_PERIOD_DAYS = 30
#: Findings GuardDuty raises from custom lists end in ``.Custom`` (FACTS.md).
CUSTOM_SUFFIX = ".Custom"
#: The engine state's address encoding this module decodes (``threatfeed.engine.state.ENCODING``).
STATE_ENCODING = "u32be-(start-previous_end,end-start)-pairs/zlib/base64"
#: What separates a state row's stored names (``threatfeed.engine.state.NAME_SEPARATOR``; state version 2).
STATE_NAME_SEPARATOR = " "


class NotASighting(ValueError):
    """The event is not a finding from one of this stack's lists (the rule should not have sent it)."""


def list_prefix(stack_name: str) -> str:
    """The name prefix of every list this stack publishes (``threatfeed.guardduty.list_name``)."""
    return f"threatfeed-{stack_name}-"


def sighting_key(created_at: str, finding_id: str) -> str:
    """Stable per finding: GuardDuty keeps a finding's id and createdAt across its updates."""
    return f"{SIGHTINGS_PREFIX}dt={created_at[:10]}/{finding_id}.json"


@dataclass
class Sighting:
    """One finding from one of this stack's lists, with the feeds that contributed the matched indicator."""

    finding_id: str
    finding_type: str
    severity: float
    account: str
    region: str
    created_at: str
    updated_at: str
    count: int
    indicator: str
    indicator_type: str  # "ipv4" or "domain"
    lists: list[str]
    feeds: list[str] = field(default_factory=list)
    #: per feed: first and last seen (epoch seconds) of the row that holds the indicator
    provenance: dict[str, dict[str, int]] = field(default_factory=dict)
    provenance_at: int | None = None  # when the engine state used was written
    detector_id: str = ""
    recorded_at: str = ""

    @property
    def key(self) -> str:
        return sighting_key(self.created_at, self.finding_id)

    def line(self) -> bytes:
        """One JSON line (Athena's JSON SerDe reads one object per line)."""
        return (json.dumps(asdict(self), sort_keys=True, separators=(",", ":")) + "\n").encode()


# --------------------------------------------------------------------------- the finding


def _get(document: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(document, Mapping):
            return None
        document = document.get(part)
    return document


def threat_list_names(finding: Mapping[str, Any]) -> list[str]:
    """The custom lists a finding names: ``service.evidence.threatIntelligenceDetails[].threatListName`` (the
    documented shape), and ``service.additionalInfo.threatListName`` as GuardDuty's own sample findings put it."""
    names: list[str] = []
    for detail in _get(finding, "service", "evidence", "threatIntelligenceDetails") or []:
        name = _get(detail, "threatListName")
        if isinstance(name, str) and name not in names:
            names.append(name)
    extra = _get(finding, "service", "additionalInfo", "threatListName")
    if isinstance(extra, str) and extra not in names:
        names.append(extra)
    return names


_REMOTE_IP_ACTIONS = (
    "networkConnectionAction",
    "awsApiCallAction",
    "kubernetesApiCallAction",
    "rdsLoginAttemptAction",
)


def matched_indicator(finding: Mapping[str, Any]) -> tuple[str, str]:
    """(indicator, "ipv4" | "domain") from the finding's action: the DNS request's domain, else the remote IPv4
    address of a connection, API call or port probe."""
    action = _get(finding, "service", "action") or {}
    domain = _get(action, "dnsRequestAction", "domain")
    if isinstance(domain, str) and domain:
        return domain.rstrip(".").lower(), "domain"
    for name in _REMOTE_IP_ACTIONS:
        address = _get(action, name, "remoteIpDetails", "ipAddressV4")
        if isinstance(address, str) and address:
            return address, "ipv4"
    for probe in _get(action, "portProbeAction", "portProbeDetails") or []:
        address = _get(probe, "remoteIpDetails", "ipAddressV4")
        if isinstance(address, str) and address:
            return address, "ipv4"
    raise NotASighting(
        f"finding {finding.get('id')!r} ({finding.get('type')}) names no remote IPv4 address or DNS domain in "
        "service.action: nothing to match against the feeds"
    )


def parse_finding(event: Mapping[str, Any], stack_name: str) -> Sighting:
    """The sighting in an EventBridge ``GuardDuty Finding`` event, without its provenance yet.

    Raises :class:`NotASighting` for an event that is not a finding from one of this stack's lists."""
    finding = event.get("detail") if event.get("detail-type") == "GuardDuty Finding" else None
    if not isinstance(finding, Mapping) or not finding.get("id"):
        raise NotASighting(
            f"event {event.get('id')!r} is not a GuardDuty finding (detail-type {event.get('detail-type')!r})"
        )
    prefix = list_prefix(stack_name)
    lists = [name for name in threat_list_names(finding) if name.startswith(prefix)]
    if not lists:
        raise NotASighting(
            f"finding {finding['id']} names the lists {threat_list_names(finding) or 'none'}, none of stack "
            f"{stack_name!r} (names start {prefix!r})"
        )
    indicator, kind = matched_indicator(finding)
    created = str(finding.get("createdAt") or event.get("time") or "")
    return Sighting(
        finding_id=str(finding["id"]),
        finding_type=str(finding.get("type", "")),
        severity=float(finding.get("severity") or 0),
        account=str(finding.get("accountId") or event.get("account") or ""),
        region=str(finding.get("region") or event.get("region") or ""),
        created_at=created,
        updated_at=str(finding.get("updatedAt") or created),
        count=int(_get(finding, "service", "count") or 1),
        indicator=indicator,
        indicator_type=kind,
        lists=lists,
        detector_id=str(_get(finding, "service", "detectorId") or ""),
    )


# --------------------------------------------------------------------------- provenance


def _ipv4_int(address: str) -> int:
    return int(ipaddress.IPv4Address(address))


def spans_contain(encoded: str, address: int) -> bool:
    """Whether an engine-state address set (:data:`STATE_ENCODING`: per interval the big-endian u32 pair
    (start - previous end, end - start), inclusive ends, sorted) holds ``address``. A linear scan that stops at
    the first interval past it: no NumPy in this function's artifact."""
    if not encoded:
        return False
    data = zlib.decompress(base64.b64decode(encoded))
    end = 0
    for gap, size in struct.iter_unpack(">II", data):
        start = end + gap
        end = start + size
        if address < start:
            return False
        if address <= end:
            return True
    return False


def _domain_candidates(domain: str) -> list[str]:
    """The name and the wildcard entries that would cover it (``*.example.org`` covers ``a.example.org``)."""
    labels = domain.split(".")
    out = [domain]
    for i in range(1, len(labels) - 1):
        out.append("*." + ".".join(labels[i:]))
    return out


def provenance(state: Mapping[str, Any] | None, indicator: str, kind: str) -> dict[str, dict[str, int]]:
    """Per feed holding ``indicator`` in the engine state: ``{"first_seen", "last_seen"}`` (epoch seconds)."""
    if not state or not isinstance(state.get("feeds"), Mapping):
        return {}
    encoding = state.get("ipv4_encoding", STATE_ENCODING)
    if kind == "ipv4" and encoding != STATE_ENCODING:
        raise ValueError(
            f"the engine state encodes addresses as {encoding!r}, which threatfeed.sightings does not read "
            f"({STATE_ENCODING!r}): update threatfeed.sightings.spans_contain with the engine"
        )
    address = _ipv4_int(indicator) if kind == "ipv4" else 0
    names = set(_domain_candidates(indicator)) if kind == "domain" else set()
    found: dict[str, dict[str, int]] = {}
    for feed, data in state["feeds"].items():
        for row in (data or {}).get("rows", ()):
            if kind == "ipv4":
                hit = spans_contain(row.get("ipv4", ""), address)
            else:
                hit = row_holds_name(row, names)
            if hit:
                seen = found.setdefault(feed, {"first_seen": int(row["first"]), "last_seen": int(row["last"])})
                seen["first_seen"] = min(seen["first_seen"], int(row["first"]))
                seen["last_seen"] = max(seen["last_seen"], int(row["last"]))
    return found


def row_holds_name(row: Mapping[str, Any], names: Iterable[str]) -> bool:
    """Whether an engine-state row holds one of ``names``: version 2 stores a row's names as one sorted text
    (looked up in place: a big feed's row is a million names), version 1 as a list."""
    if "names" not in row:
        return not set(names).isdisjoint(row.get("domains", ()))
    text: str = row["names"]
    return any(_text_holds(text, name) for name in names)


def _text_holds(text: str, name: str) -> bool:
    """Whether ``name`` is one of the separated names of ``text``."""
    at = text.find(name)
    while at != -1:
        end = at + len(name)
        if (at == 0 or text[at - 1] == STATE_NAME_SEPARATOR) and (
            end == len(text) or text[end] == STATE_NAME_SEPARATOR
        ):
            return True
        at = text.find(name, at + 1)
    return False


def with_provenance(sighting: Sighting, state: Mapping[str, Any] | None) -> Sighting:
    found = provenance(state, sighting.indicator, sighting.indicator_type)
    sighting.provenance = found
    sighting.feeds = sorted(found)
    sighting.provenance_at = int(state["updated_at"]) if state and "updated_at" in state else None
    return sighting


# --------------------------------------------------------------------------- recording


def merge(existing: Mapping[str, Any] | None, new: Sighting) -> Sighting | None:
    """What to store for ``new`` when ``existing`` is already recorded for its finding id: None when the stored
    one is as recent (a duplicate delivery, or an older update arriving late); otherwise ``new`` with the first
    record's provenance (the feeds that contributed the indicator when the finding was first raised)."""
    if not existing:
        return new
    if str(existing.get("updated_at", "")) >= new.updated_at and int(existing.get("count", 0)) >= new.count:
        return None
    new.feeds = list(existing.get("feeds") or new.feeds)
    new.provenance = dict(existing.get("provenance") or new.provenance)
    new.provenance_at = existing.get("provenance_at", new.provenance_at)
    return new


def record_finding(store: Any, event: Mapping[str, Any], stack_name: str, *, now: float) -> dict[str, Any]:
    """Record the finding in ``event`` as a sighting (idempotent on the finding id); returns what happened."""
    from threatfeed.storage import ENGINE_STATE_KEY

    sighting = parse_finding(event, stack_name)
    key = sighting.key
    existing = store.get_json(key)
    if not existing:
        with_provenance(sighting, store.get_json(ENGINE_STATE_KEY))
    sighting.recorded_at = _iso(now)
    stored = merge(existing, sighting)
    outcome = "duplicate" if stored is None else ("updated" if existing else "recorded")
    if stored is not None:
        store.put_bytes(key, stored.line(), content_type="application/x-ndjson")
    result = {"outcome": outcome, "key": key, **{k: v for k, v in asdict(stored or sighting).items() if k != "lists"}}
    if not sighting.feeds and outcome == "recorded":
        result["warning"] = (
            f"no feed in the engine state lists {sighting.indicator} (list {', '.join(sighting.lists)}): it aged out "
            "since the list was published, or the state was reset; the sighting is kept without feeds"
        )
    return result


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- reading: feed value


def load_sightings(client: Any, bucket: str, *, since_days: int, now: float) -> list[dict[str, Any]]:
    """Every sighting whose finding was created in the last ``since_days`` days (by partition), through an S3
    ``client``: one listing from the first partition of the period on (``StartAfter``), one GET per finding."""
    first_day = datetime.datetime.fromtimestamp(now - since_days * 86400, datetime.UTC).strftime("%Y-%m-%d")
    start_after = f"{SIGHTINGS_PREFIX}dt={first_day}"
    out: list[dict[str, Any]] = []
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=SIGHTINGS_PREFIX, StartAfter=start_after
    ):
        for item in page.get("Contents", ()):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            for line in body.decode("utf-8").splitlines():
                if line.strip():
                    out.append(json.loads(line))
    return out


def _cutoff_date(since_days: int, now: float) -> str:
    return datetime.datetime.fromtimestamp(now - since_days * 86400, datetime.UTC).strftime("%Y-%m-%d")


@dataclass
class Hits:
    """Findings per feed and per indicator over a period, and the catalogue's feeds with none."""

    since: str
    days: int
    feeds: list[dict[str, Any]]
    indicators: list[dict[str, Any]]
    silent: list[str]
    findings: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def per_feed(self) -> dict[str, int]:
        return {row["feed"]: row["findings"] for row in self.feeds}


def summarize(
    sightings: Iterable[Mapping[str, Any]],
    catalogue_feeds: Sequence[str],
    *,
    since_days: int,
    now: float,
    feed: str | None = None,
) -> Hits:
    """Findings per feed (distinct findings, indicators, accounts, Regions, latest) and per indicator (findings,
    occurrences, the feeds that contributed it); ``feed`` keeps only the findings that feed contributed to."""
    since = _cutoff_date(since_days, now)
    rows = [s for s in sightings if str(s.get("created_at", ""))[:10] >= since]
    if feed is not None:
        rows = [s for s in rows if feed in (s.get("feeds") or [])]
    per_feed: dict[str, dict[str, Any]] = {}
    per_indicator: dict[str, dict[str, Any]] = {}
    for s in rows:
        indicator = str(s.get("indicator"))
        entry = per_indicator.setdefault(
            indicator,
            {
                "indicator": indicator,
                "type": s.get("indicator_type"),
                "findings": 0,
                "occurrences": 0,
                "feeds": set(),
                "accounts": set(),
                "regions": set(),
                "last": "",
            },
        )
        entry["findings"] += 1
        entry["occurrences"] += int(s.get("count") or 1)
        entry["feeds"].update(s.get("feeds") or [])
        entry["accounts"].add(str(s.get("account")))
        entry["regions"].add(str(s.get("region")))
        entry["last"] = max(entry["last"], str(s.get("updated_at", "")))
        for name in s.get("feeds") or []:
            f = per_feed.setdefault(
                name,
                {"feed": name, "findings": 0, "indicators": set(), "accounts": set(), "regions": set(), "last": ""},
            )
            f["findings"] += 1
            f["indicators"].add(indicator)
            f["accounts"].add(str(s.get("account")))
            f["regions"].add(str(s.get("region")))
            f["last"] = max(f["last"], str(s.get("updated_at", "")))
    feeds = sorted(
        ({**f, **{k: sorted(f[k]) for k in ("indicators", "accounts", "regions")}} for f in per_feed.values()),
        key=lambda f: (-f["findings"], f["feed"]),
    )
    indicators = sorted(
        ({**i, **{k: sorted(i[k]) for k in ("feeds", "accounts", "regions")}} for i in per_indicator.values()),
        key=lambda i: (-i["findings"], i["indicator"]),
    )
    names = [feed] if feed is not None else list(catalogue_feeds)
    silent = sorted(name for name in names if name not in per_feed)
    return Hits(since, since_days, feeds, indicators, silent, len(rows))


def period_hits(
    store: Any, catalogue_feeds: Sequence[str], *, now: float, days: int = HITS_PERIOD_DAYS
) -> dict[str, Any]:
    """What a run's manifest carries: findings per feed over the last ``days`` days (0 for a feed with none)."""
    hits = summarize(
        load_sightings(store.client, store.bucket, since_days=days, now=now), catalogue_feeds, since_days=days, now=now
    )
    return {
        "since": hits.since,
        "days": days,
        "findings": hits.findings,
        "feeds": {**{name: 0 for name in catalogue_feeds}, **hits.per_feed()},
    }

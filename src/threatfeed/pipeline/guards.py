"""Guards: whether a run's lists may replace those GuardDuty uses, and what a person must hear about.

Pure decisions on plain numbers and dicts: no AWS call and no NumPy (the publish function, which ships no NumPy,
records the history with :func:`history_record`). The transform measures (``threatfeed.engine.coverage``) and
reads the history of published runs (``state/history.json``); the guards compare:

- **sudden drop**: a list's entries with the last published list (``max_drop_percent``);
- **coverage**: the addresses a list covers with the last published list (``max_growth_percent``) and with a
  ceiling (``max_covered_addresses``): the harm of a list is in the addresses it makes GuardDuty alert on, and
  one ``/12`` line covers as many as a million ``/32`` lines;
- **drift**: entries with the largest, addresses with the smallest of the last ``baseline_runs`` published
  versions, so a series of steps each within the limits is caught too;
- **flapping**: a feed whose contribution overlaps its previous one by less than ``flap_overlap_percent`` in each
  of its last ``flap_runs`` runs is reported (held with ``hold_flapping``);
- **poisoned feed** (:func:`poisoned`): a feed whose share of benign values (warninglisted or allow-listed) rises
  by more than ``max_benign_jump_percent`` points over its share in the last published run is held back like a
  failed feed: its last good contribution is kept, the run's other feeds are published, and it is named.

A held run leaves GuardDuty's lists as they are and notifies; ``force`` publishes anyway, and a forced publish
(or a rollback) starts a new baseline. What a feed delivered is judged here too (:func:`feed_outcome`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from threatfeed.config import GuardSettings

GROWTH_FLOOR = 65_536
"""Growth by fewer addresses than a /16 never counts: a small list may double many times before it covers as
much as one wrong block, and a guard that fires on every small list's growth gets switched off."""

HISTORY_RUNS = 20
"""Published runs the history keeps: the most ``baseline_runs`` and ``flap_runs`` may ask for."""

#: Error names, most serious first: the run's error is the first guard that held it.
GUARDS = ("CoverageGuard", "SuddenDropGuard", "DriftGuard", "FlappingGuard")

FORCE_HINT = 'Check the feeds, then start an urgent run with {"force": true} to publish it anyway'


@dataclass(frozen=True)
class Finding:
    """One guard's verdict: ``hold`` keeps GuardDuty's lists as they are; otherwise it is only reported."""

    guard: str
    message: str
    hold: bool = True
    list: str | None = None
    feeds: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "guard": self.guard,
            "message": self.message,
            "hold": self.hold,
            "list": self.list,
            "feeds": list(self.feeds),
        }


def feed_outcome(fetched: str, stats: Mapping[str, Any] | None) -> tuple[str, str | None]:
    """A fetched feed's outcome once its body is parsed: ``ok``, ``empty`` or ``failed``, and why it failed.

    A delivered body that gives no indicator is no quiet zero: unless it is explicitly empty (blank lines,
    comments, a header, a document with no record, like a 204 or a zero-byte body) it is a failed feed, whose
    previous contribution is kept and which the notification names. A body of retractions only did its work.
    """
    if fetched != "ok" or stats is None:
        return fetched, None
    if stats.get("error"):
        return "failed", str(stats["error"])
    reasons = stats.get("reasons") or {}
    if stats.get("accepted") or reasons.get("revoked") or reasons.get("expired"):
        return "ok", None
    lines, rejected = int(stats.get("lines") or 0), int(stats.get("rejected") or 0)
    if not rejected and int(stats.get("skipped") or 0) >= lines:
        return "empty", None
    return "failed", f"no indicator accepted from {lines} lines or records ({rejected} rejected)"


def evaluate(
    lists: Sequence[Mapping[str, Any]],
    feeds: Mapping[str, Mapping[str, Any]],
    previous_feeds: Mapping[str, Mapping[str, Any]],
    history: Sequence[Mapping[str, Any]],
    settings: GuardSettings,
) -> list[Finding]:
    """Every guard's findings for this run, most serious first.

    ``lists``: the run's list specs (``name``, ``kind``, ``index``, ``entries``, ``addresses``, ``previous_*``
    from the last published list, ``unchanged``). ``feeds`` / ``previous_feeds``: each feed's contribution now
    and in the previous run (``entries``, ``addresses``; ``overlap`` now). ``history``: :func:`history_record`
    documents, oldest first. An unchanged list is what GuardDuty already accepted, and the allow-list shrinks
    or grows only by a person's decision: neither is judged.
    """
    findings: list[Finding] = []
    for item in lists:
        if item.get("unchanged") or item.get("kind") == "trusted":
            continue
        window = baseline(history, list_key(item), settings.baseline_runs)
        findings.extend(list_findings(item, feeds, previous_feeds, window, settings))
    findings.extend(flapping(feeds, history, settings))
    return sorted(findings, key=lambda f: GUARDS.index(f.guard))


def list_findings(
    item: Mapping[str, Any],
    feeds: Mapping[str, Mapping[str, Any]],
    previous_feeds: Mapping[str, Mapping[str, Any]],
    window: Sequence[Mapping[str, Any]],
    settings: GuardSettings,
) -> list[Finding]:
    """The coverage, sudden-drop and drift findings of one list. A step the one-run guards already caught is
    not reported again as drift."""
    name, entries, addresses = item["name"], int(item["entries"]), item.get("addresses")
    out: list[Finding] = []
    growing = changed(feeds, previous_feeds, "addresses", +1)
    if addresses is not None and addresses > settings.max_covered_addresses:
        culprits = growing or largest(feeds, "addresses")
        text = coverage_message(name, addresses, settings, culprits)
        out.append(Finding("CoverageGuard", text, True, name, culprits))
    elif addresses is not None and grew(item.get("previous_addresses"), addresses, settings.max_growth_percent):
        text = jump_message(name, item["previous_addresses"], addresses, settings.max_growth_percent, growing)
        out.append(Finding("CoverageGuard", text, True, name, growing))
    if dropped(item.get("previous_entries"), entries, settings.max_drop_percent):
        shrinking = changed(feeds, previous_feeds, "entries", -1)
        text = drop_message(name, item["previous_entries"], entries, settings.max_drop_percent, shrinking)
        out.append(Finding("SuddenDropGuard", text, True, name, shrinking))
    guarded = {f.guard for f in out}
    top = max(window, key=lambda r: r.get("entries") or 0, default=None)
    if top and "SuddenDropGuard" not in guarded and dropped(top.get("entries"), entries, settings.max_drop_percent):
        culprits = changed(feeds, top.get("feeds") or {}, "entries", -1)
        text = drift_message(name, "entries", top, entries, len(window), settings.max_drop_percent, culprits)
        out.append(Finding("DriftGuard", text, True, name, culprits))
    sized = [r for r in window if r.get("addresses") is not None]
    low = min(sized, key=lambda r: r["addresses"], default=None)
    if (
        low
        and "CoverageGuard" not in guarded
        and addresses is not None
        and grew(low["addresses"], addresses, settings.max_growth_percent)
    ):
        culprits = changed(feeds, low.get("feeds") or {}, "addresses", +1)
        text = drift_message(name, "addresses", low, addresses, len(window), settings.max_growth_percent, culprits)
        out.append(Finding("DriftGuard", text, True, name, culprits))
    return out


def dropped(before: int | None, after: int, max_percent: int) -> bool:
    """Whether going from ``before`` to ``after`` loses more than ``max_percent`` (no ``before``: nothing to lose)."""
    if not before:
        return False
    return after < before and (before - after) * 100 > before * max_percent


def grew(before: int | None, after: int | None, max_percent: int) -> bool:
    """Whether ``after`` exceeds ``before`` by more than ``max_percent`` and by more than :data:`GROWTH_FLOOR`."""
    if before is None or after is None:
        return False
    return after - before > GROWTH_FLOOR and (after - before) * 100 > before * max_percent


def baseline(history: Sequence[Mapping[str, Any]], key: str, runs: int) -> list[dict[str, Any]]:
    """The last ``runs`` published versions of the list ``key``, newest first, with their run's feeds; never
    past a run that started a new baseline (forced or rollback): a person accepted the level there."""
    window: list[dict[str, Any]] = []
    for record in reversed(history):
        measured = (record.get("lists") or {}).get(key)
        if measured is not None:
            window.append({**measured, "run": record.get("run"), "feeds": record.get("feeds") or {}})
        if len(window) >= runs or record.get("new_baseline"):
            break
    return window


def flapping(
    feeds: Mapping[str, Mapping[str, Any]], history: Sequence[Mapping[str, Any]], settings: GuardSettings
) -> list[Finding]:
    """Feeds whose contribution overlapped the previous one by less than ``flap_overlap_percent`` in each of
    their last ``flap_runs`` measured runs, this one included: each run replaces most of what they list."""
    out: list[Finding] = []
    for name in sorted(feeds):
        overlap = feeds[name].get("overlap")
        if overlap is None:
            continue
        past = [
            rec["feeds"][name]["overlap"]
            for rec in reversed(history)
            if (rec.get("feeds") or {}).get(name, {}).get("overlap") is not None
        ]
        measured = [overlap, *past][: settings.flap_runs]
        if len(measured) == settings.flap_runs and all(o * 100 < settings.flap_overlap_percent for o in measured):
            shown = ", ".join(f"{o * 100:.0f}%" for o in reversed(measured))
            text = (
                f"flapping feed: {name} replaced most of what it lists in each of its last {settings.flap_runs} runs "
                f"(overlap with the run before: {shown}; below {settings.flap_overlap_percent}%)"
            )
            if settings.hold_flapping:
                text += f"; the active lists stay in use. {FORCE_HINT} (FlapAction=notify only reports it)"
            else:
                text += "; the lists were published. Check the feed's source (FlapAction=hold holds such runs back)"
            out.append(Finding("FlappingGuard", text, settings.hold_flapping, None, (name,)))
    return out


#: A feed judged for poisoning delivers at least this many values (benign ones included): below it, a single
#: resolver in a ten-line feed would be a 10-point jump.
POISON_MIN_VALUES = 20


def benign_baseline(history: Sequence[Mapping[str, Any]], feed: str) -> float | None:
    """The feed's benign share in the last published run that measured it (never a poisoned run's: a feed held
    back is not recorded), else None."""
    for record in reversed(history):
        share = ((record.get("feeds") or {}).get(feed) or {}).get("benign")
        if share is not None:
            return float(share)
    return None


def poisoned(
    shares: Mapping[str, tuple[int, int]], history: Sequence[Mapping[str, Any]], settings: GuardSettings
) -> list[Finding]:
    """Feeds whose benign share jumped: ``shares`` maps each delivered feed to ``(benign, values)`` this run
    (:func:`threatfeed.engine.warninglists.suppressed_share`). A feed with no recorded share yet is not judged;
    ``max_benign_jump_percent`` 0 turns the guard off. The findings do not hold the run's lists (``hold`` false):
    the transform holds the feed back instead."""
    out: list[Finding] = []
    if settings.max_benign_jump_percent <= 0:
        return out
    for name in sorted(shares):
        benign, values = shares[name]
        if values < POISON_MIN_VALUES:
            continue
        base = benign_baseline(history, name)
        share = benign / values
        if base is None or (share - base) * 100 <= settings.max_benign_jump_percent:
            continue
        text = (
            f"poisoned feed: {name} is {share * 100:.1f}% benign infrastructure this run ({benign} of {values} values "
            f"warninglisted or allow-listed) against {base * 100:.1f}% in the last published run, a jump of more than "
            f"{settings.max_benign_jump_percent} points; its previous entries were kept. Check the feed's source, "
            'or start an urgent run with {"force": true} to take it as it is (MaxBenignJumpPercent)'
        )
        out.append(Finding("PoisonedFeed", text, False, None, (name,)))
    return out


def changed(
    now: Mapping[str, Mapping[str, Any]], then: Mapping[str, Mapping[str, Any]], measure: str, sign: int
) -> tuple[str, ...]:
    """Feeds whose ``measure`` moved in the direction of ``sign`` between ``then`` and ``now``, most first."""
    deltas = {
        name: sign * (int((now.get(name) or {}).get(measure) or 0) - int((then.get(name) or {}).get(measure) or 0))
        for name in set(now) | set(then)
    }
    return tuple(sorted((name for name, delta in deltas.items() if delta > 0), key=lambda n: (-deltas[n], n)))


def largest(feeds: Mapping[str, Mapping[str, Any]], measure: str) -> tuple[str, ...]:
    """Feeds by ``measure``, largest first (those with none left out)."""
    sized = [name for name, feed in feeds.items() if (feed.get(measure) or 0) > 0]
    return tuple(sorted(sized, key=lambda n: (-int(feeds[n][measure]), n)))


def list_key(item: Mapping[str, Any]) -> str:
    """A list's slot (kind and index), which keeps its name across runs."""
    return f"{item['kind']}-{item['index']}"


def history_record(
    run: Mapping[str, Any], lists: Sequence[Mapping[str, Any]], feeds: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """What the guards remember of a run whose ``lists`` GuardDuty now uses: per list its entries and covered
    addresses, per feed its contribution and overlap. A forced run or a rollback starts a new baseline."""
    return {
        "run": run["id"],
        "started_at": run.get("started_at"),
        "new_baseline": bool(run.get("force") or run.get("rollback_to")),
        "lists": {list_key(s): {"entries": s["entries"], "addresses": s.get("addresses")} for s in lists},
        "feeds": {
            name: {k: feed[k] for k in ("entries", "addresses", "overlap", "benign") if feed.get(k) is not None}
            for name, feed in sorted(feeds.items())
            if feed.get("entries") is not None
        },
    }


def append_history(history: Mapping[str, Any] | None, record: Mapping[str, Any]) -> dict[str, Any]:
    """The history document with ``record`` added, at most :data:`HISTORY_RUNS` runs, oldest first."""
    runs = [r for r in (history or {}).get("runs", []) if r.get("run") != record["run"]]
    return {"version": 1, "runs": [*runs, dict(record)][-HISTORY_RUNS:]}


# -- messages: each names the list, the numbers, the feeds and what to do --------------------------------------
def _feeds(label: str, names: Sequence[str]) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"; {label}: {shown}"


def coverage_message(name: str, addresses: int, settings: GuardSettings, feeds: Sequence[str]) -> str:
    return (
        f"coverage ceiling: {name} would cover {addresses:,} addresses, more than MaxCoveredAddresses "
        f"({settings.max_covered_addresses:,})" + _feeds("address space from feed(s)", feeds) + "; the active list "
        f"stays in use. {FORCE_HINT} (or raise MaxCoveredAddresses)"
    )


def jump_message(name: str, before: int, after: int, max_percent: int, feeds: Sequence[str]) -> str:
    growth = round((after - before) * 100 / before, 1) if before else float("inf")
    return (
        f"coverage jump: {name} would cover {after:,} addresses instead of {before:,} (+{growth}%), more than the "
        f"{max_percent}% allowed" + _feeds("new address space from feed(s)", feeds) + "; the active list stays in "
        f"use. {FORCE_HINT}"
    )


def drop_message(name: str, before: int, after: int, max_percent: int, feeds: Sequence[str]) -> str:
    drop = round((before - after) * 100 / before, 1)
    return (
        f"sudden drop: {name} would go from {before} to {after} entries (-{drop}%), more than the {max_percent}% "
        f"allowed" + _feeds("feed(s) that shrank", feeds) + f"; the active list stays in use. {FORCE_HINT}"
    )


def drift_message(
    name: str, measure: str, base: Mapping[str, Any], value: int, runs: int, max_percent: int, feeds: Sequence[str]
) -> str:
    before = int(base[measure])
    if measure == "entries":
        change = f"-{round((before - value) * 100 / before, 1)}%"
        what = f"drift: {name} would have {value:,} entries against {before:,}, the most of its last {runs} published"
        label = "feed(s) that shrank"
    else:
        change = f"+{round((value - before) * 100 / before, 1)}%" if before else "from none"
        what = (
            f"drift: {name} would cover {value:,} addresses against {before:,}, the fewest of its last {runs} published"
        )
        label = "feed(s) that grew"
    return (
        f"{what} (run {base.get('run')}; {change}), beyond the {max_percent}% allowed"
        + _feeds(label, feeds)
        + f"; the active list stays in use. {FORCE_HINT}"
    )

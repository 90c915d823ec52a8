"""``build_lists``: every feed of a run -> the GuardDuty lists, the accounting and the next state.

Steps: parse each body (per-value rules and accounting), fold it into that feed's retained state (aging,
first/last seen, retractions), keep carried-over feeds' last good contribution, then aggregate and pack.
A body that cannot be read at all (decompression bomb, corrupt archive, invalid JSON, a declared CSV
column that is gone) or that yields nothing usable does not wipe the feed: it is treated like a failed
fetch and carried over, with the error in its stats. Even an unexpected exception while parsing one feed
only fails that feed (its stats say so); only run-wide problems (a malformed allow-list) raise.

The selected MISP warninglists (:mod:`.warninglists`) join the policy: what they hold is rejected per value, under
the list's name, and contributions kept from earlier runs are brought under today's lists before use.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace as with_fields
from typing import Any

from threatfeed.engine import warninglists as W
from threatfeed.engine.model import EngineResult, EngineSettings, FeedBody, FeedStats, utc
from threatfeed.engine.packing import pack
from threatfeed.engine.parse import ParsedFeed, parse_body, policy_for
from threatfeed.engine.reasons import is_correction
from threatfeed.engine.reuse import body_digest, feed_key, fingerprint, reuse, settings_digest
from threatfeed.engine.state import FeedState, advance, age, dump, load
from threatfeed.engine.warninglist_use import for_settings, scrub_states
from threatfeed.errors import FeedRejected


def build_lists(
    feeds: Sequence[FeedBody],
    settings: EngineSettings,
    previous_state: Mapping[str, Any] | None = None,
    carry_over: Collection[str] = (),
) -> EngineResult:
    """Parse, merge, age and pack. Equal input gives byte-equal lists (and equal state)."""
    policy = policy_for(settings)
    warn = for_settings(settings)
    if warn.lists:
        policy = with_fields(policy, warn=warn)
    now = int(settings.now.timestamp())
    cutoff = now - settings.days_requested * 86400
    name_cutoff = now - settings.domain_days * 86400
    loaded = load(previous_state)
    # Every row a run keeps was parsed under its warninglists or brought under them: a state written under the
    # same settings and engine (warninglists and their data included) needs no scrubbing again (a million names
    # take most of a second to look up).
    shared = settings_digest(settings) if feeds or loaded else ""
    clean = bool(warn.lists) and previous_state is not None and previous_state.get("clean_under") == shared
    old = dict(loaded) if clean else scrub_states(loaded, warn)
    stats: dict[str, FeedStats] = {}
    parsed: dict[str, ParsedFeed] = {}
    # A feed delivered as one body may reuse its last parse (same bytes, same key: :mod:`.reuse`).
    pages = Counter(body.feed for body in feeds)
    marks: dict[str, tuple[str | None, str]] = {}
    seen_at: dict[str, int] = {}
    priority: dict[str, int] = {}
    failed: set[str] = set()
    replacing: set[str] = set()
    for body in feeds:
        name = body.feed
        reused = None
        if pages[name] == 1:
            marks[name] = (body_digest(body), feed_key(body, shared))
            reused = reuse(loaded.get(name), *marks[name])
        try:
            result = reused or parse_body(
                body.body,
                feed=name,
                format=body.format,
                options=body.options,
                settings=settings,
                policy=policy,
            )
        except FeedRejected as exc:
            failed.add(name)
            stats[name] = FeedStats(feed=name, format=body.format, error=str(exc))
            continue
        except Exception as exc:  # one feed must never take the whole run down with it
            failed.add(name)
            detail = f"feed {name}: unexpected {type(exc).__name__} while parsing ({exc}); previous contribution kept"
            stats[name] = FeedStats(feed=name, format=body.format, error=detail)
            continue
        parsed[name] = parsed[name].merge(result) if name in parsed else result
        seen = int(utc(body.fetched_at, settings.now).timestamp())
        seen_at[name] = max(seen, seen_at.get(name, seen))
        priority[name] = int(body.options.get("priority", 0))
        if bool(body.options.get("replace", settings.replace_delivered)):
            replacing.add(name)
    retained: dict[str, FeedState] = {}
    for name in sorted(parsed):
        result = parsed.pop(name)  # let go once folded in: a big feed's parse is hundreds of MB
        stats[name] = result.stats
        if name in failed:  # another page of the same feed was unreadable: keep what was read, note it
            stats[name].error = "part of the feed was unreadable"
        nothing = result.stats.accepted == 0 and not result.revoked_ipv4 and not result.revoked_domains
        if nothing and name in old:  # keep the last good contribution
            # Only blank lines, comments or a header: explicitly empty, like a 204. Anything else (an HTML error
            # page, every value refused) is unusable, and said so.
            if not explicitly_empty(result.stats):
                stats[name].error = stats[name].error or f"{no_indicator(result.stats)}; previous contribution kept"
            failed.add(name)
            continue
        # A body of revocations only is a delta, whatever the feed's mode: it retracts, it does not replace.
        replace = name in replacing and result.stats.accepted > 0
        named = len(result.domains)  # advance takes a uniform parse's names over (see its docstring)
        retained[name] = advance(
            old.get(name), result, seen_at[name], cutoff, priority[name], replace=replace, name_cutoff=name_cutoff
        )
        if name in marks and name not in failed:
            retained[name].body = fingerprint(retained[name], result, *marks[name], names=named)
        failed.discard(name)
        del result
    for name in sorted(set(carry_over) | failed):
        if name in retained:
            continue
        if name in old:
            retained[name] = age(old[name], cutoff, name_cutoff)
        entry = stats.setdefault(name, FeedStats(feed=name))
        entry.carried_over = True
    del loaded, old  # the previous state's rows are folded in: packing gets their memory
    left_out: dict[str, Any] = {}
    lists, dropped = pack(retained, policy, settings, report=left_out)
    kept = {name: fs for name, fs in retained.items() if fs.rows}
    return EngineResult(
        lists=lists,
        feeds=dict(sorted(stats.items())),
        dropped=dropped,
        state=dump(kept, now, shared if warn.lists else None),
        settings=settings,
        carry_over=tuple(sorted(carry_over)),
        warninglists=W.report(warn, stats),
        left_out=left_out,
    )


def explicitly_empty(stats: FeedStats) -> bool:
    """Whether a body held nothing but blank lines, comments and headers (or a document with no record): the
    feed says it lists nothing, which is not an error (the pipeline's ``feed_outcome`` applies the same rule)."""
    return stats.accepted == 0 and stats.rejected == 0 and stats.skipped >= stats.lines


def no_indicator(stats: FeedStats) -> str:
    """Why a body gave nothing, for a notification: how many candidates were rejected, the commonest reasons."""
    rejections = sorted(((n, r) for r, n in stats.reasons.items() if not is_correction(r)), reverse=True)
    if not rejections:
        return f"no indicator accepted (none of its {stats.lines} lines or records is one)"
    shown = ", ".join(f"{reason} {count}" for count, reason in rejections[:3])
    return f"no indicator accepted ({stats.rejected} rejected: {shown})"

"""Applying the warninglists a run selects: the index for its settings (a user's own lists read with the engine's
own text parser) and the contributions kept from earlier runs brought under today's lists.

Apart from :mod:`.warninglists` (the compiled lists and their index, below the policy that consults them) because
reading a user's list needs the parser, the collector and the policy: importing those from there made a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from threatfeed.engine import reasons as R
from threatfeed.engine.classify import Collector
from threatfeed.engine.decode import to_text, unpack
from threatfeed.engine.formats import parser_for
from threatfeed.engine.model import EngineSettings
from threatfeed.engine.policy import Policy
from threatfeed.engine.spans import Spans, union
from threatfeed.engine.state import NAME_SEPARATOR, FeedState, Names, Row, StoredNames
from threatfeed.engine.warninglists import EMPTY, WarnIndex, build_index, index, resolve
from threatfeed.errors import ConfigError


def custom_lists(bodies: Mapping[str, bytes]) -> dict[str, tuple[Spans, list[str]]]:
    """A user's own lists (name -> body in the allow-list's text syntax: CIDRs, ranges, addresses, names, one a
    line, ``#`` comments) read with the engine's own parser. An entry that is neither fails the run."""
    out: dict[str, tuple[Spans, list[str]]] = {}
    for name, body in sorted(bodies.items()):
        reader = Collector(f"warninglist {name}", Policy.permissive())
        text, _ = to_text(unpack(bytes(body), f"warninglist {name}"))
        parser_for("txt")(text, reader, {}, datetime.now(UTC))
        moot = (R.IPV6_NOT_SUPPORTED, R.RESERVED_DOMAIN, R.SINGLE_LABEL_DOMAIN)  # can never match an entry anyway
        bad = {r: n for r, n in reader.tally.reasons.items() if not R.is_correction(r) and r not in moot}
        if bad:
            samples = [s["text"] for s in reader.tally.flat_samples() if s["reason"] in bad][:3]
            raise ConfigError(f"warninglist {name!r} has entries neither IPv4 nor domains {bad}, e.g. {samples}")
        out[name] = (union(*reader.ipv4_by_confidence().values()), sorted(reader.names()))
    return out


def for_settings(settings: EngineSettings) -> WarnIndex:
    """The index an :class:`~threatfeed.engine.model.EngineSettings` selects (package lists cached per selection)."""
    lists = resolve(settings.warninglists) if settings.warninglists else ()
    if settings.warninglist_files:
        return build_index(lists, custom_lists(settings.warninglist_files))
    return index(lists) if lists else EMPTY


def scrub_states(feeds: Mapping[str, Any], warn: WarnIndex) -> dict[str, Any]:
    """Engine feed states without what ``warn`` holds: contributions kept from earlier runs (a failed feed's, an
    incremental feed's older rows) were judged against the lists of their day."""
    if not warn.lists:
        return dict(feeds)
    out = {}
    for name, fs in feeds.items():
        rows = []
        for r in fs.rows:
            ip = warn.scrub_spans(r.ipv4)
            stored = isinstance(r.domains, StoredNames)
            names: Names = scrub_stored(r.domains, warn) if stored else warn.scrub_names(r.domains)
            if ip is not r.ipv4 or names is not r.domains:
                r = Row(r.first, r.last, r.confidence, ip, names)
            if not r.empty():
                rows.append(r)
        out[name] = FeedState(fs.priority, fs.last_success, rows)
    return out


def scrub_stored(names: StoredNames, warn: WarnIndex) -> StoredNames:
    """A stored row's names without those ``warn`` matches, judged a block at a time and kept as stored text: the
    first run under new lists or a new engine scrubs every row, and a million names made into strings at once
    would be held beside the day's parse of them. ``names`` itself when none matches."""
    if not warn.has_names or not names:
        return names
    texts: list[str] = []
    hit = False
    for block in names.blocks():
        listed = list(block)
        kept = warn.unlisted(listed)
        if kept is not None:
            hit, listed = True, kept
        if listed:
            texts.append(NAME_SEPARATOR.join(listed))
    if not hit:
        return names
    # blocks in order, each sorted: the joined text is sorted (a frozenset's block is sorted first)
    text = NAME_SEPARATOR.join(texts)
    return StoredNames(text if names.in_order else NAME_SEPARATOR.join(sorted(text.split(NAME_SEPARATOR))))

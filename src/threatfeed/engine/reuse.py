"""Reusing a feed's parsed contribution when its body has not changed since the last run.

Most feeds republish the same list between two scheduled runs: parsing it again (the bulk of a run's time and
memory) would give exactly what the state already holds. A feed that delivered writes, next to its rows, a
*fingerprint*: the body's SHA-256, a key over everything else that decides what parsing yields (the engine's own
code and data, the settings but ``now``, the feed's name, format and options) and the parse's accounting. When a
later run delivers the same body under the same key, its contribution is read back from the rows last seen at that
run instead, and the accounting from the fingerprint; aging, provenance and packing run as always, so the lists,
the accounting and the state are those a fresh parse gives.

A fingerprint is only written when that reading back is exact:

- the format is line-oriented text (:data:`~threatfeed.engine.formats.CHUNK_PARSERS`): structured formats may
  judge records against ``now`` (STIX ``valid_until``), which the key leaves out;
- the body retracted nothing (retractions are not kept in the state) and one body made the feed's whole delivery;
- the rows last seen at that run hold exactly the body's indicators (checked by counting: those rows hold all of
  them by construction, so equal counts mean equal sets), which an earlier row sharing the timestamp would break.

It is dropped whenever the rows change without a parse (a carried-over feed's rows are aged, and so on). States
written before fingerprints existed simply have none: the body is parsed, as it always was.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace as with_fields
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from threatfeed.engine.model import EngineSettings, FeedBody, FeedStats
from threatfeed.engine.parse import ParsedFeed
from threatfeed.engine.spans import Spans, union
from threatfeed.engine.state import FeedState

#: The settings' ``now`` in the key: parsing line-oriented text never reads it.
_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


@cache
def engine_digest() -> str:
    """A digest of what can change what a body parses to besides its bytes and the settings: the engine's source,
    the package's data (warninglists) and the Public Suffix List. Computed once per process (a few ms): a new
    deployment of different code or data never reuses a contribution parsed by the old one."""
    import publicsuffixlist

    import threatfeed

    digest = hashlib.sha256(threatfeed.__version__.encode())
    package = Path(threatfeed.__file__).parent
    files = sorted(package.joinpath("engine").rglob("*.py")) + sorted(package.joinpath("data").glob("*"))
    files.append(Path(publicsuffixlist.PSLFILE))
    for path in files:
        digest.update(str(path.relative_to(path.parent.parent)).encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"unreadable")
    return digest.hexdigest()


def settings_digest(settings: EngineSettings) -> str:
    """The part of a feed's key shared by every feed of a run (the settings but ``now``, and the engine)."""
    text = repr(with_fields(settings, now=_NO_TIME))
    return hashlib.sha256(f"{engine_digest()}\n{text}".encode()).hexdigest()


def feed_key(body: FeedBody, shared: str) -> str:
    """Everything but the bytes that decides what ``body`` parses to."""
    options = json.dumps(dict(body.options), sort_keys=True, default=repr)
    return hashlib.sha256(f"{shared}\n{body.feed}\n{body.format}\n{options}".encode()).hexdigest()


def body_digest(body: FeedBody) -> str | None:
    """The body's SHA-256 (hex): given by the caller (a streamed body hashed as it was fetched) or computed from
    the bytes (about 1 GB/s); None for a streamed body nobody hashed: it is parsed."""
    if body.sha256:
        return body.sha256
    if isinstance(body.body, (bytes, bytearray, memoryview)):
        return hashlib.sha256(body.body).hexdigest()
    return None


def reuse(previous: FeedState | None, digest: str | None, key: str) -> ParsedFeed | None:
    """The parse of a body equal to the one ``previous`` was last built from, under the same key; else None.
    ``previous`` is the state as loaded (before today's warninglists scrub it: the parse was not scrubbed)."""
    mark = previous.body if previous is not None else None
    if previous is None or mark is None or digest is None or mark.get("sha256") != digest or mark.get("key") != key:
        return None
    try:
        stats = _stats_from(mark["stats"])
    except (KeyError, TypeError, ValueError):
        return None
    by_conf: dict[int, list[Spans]] = {}
    names: dict[str, int] = {}
    for r in previous.rows:
        if r.last != previous.last_success:
            continue
        if r.ipv4:
            by_conf.setdefault(r.confidence, []).append(r.ipv4)
        if r.domains:
            names.update(dict.fromkeys(r.domains, r.confidence))
    ipv4 = {conf: union(*by_conf[conf]) for conf in sorted(by_conf, reverse=True)}
    return ParsedFeed(feed=stats.feed, format=stats.format, stats=stats, ipv4=ipv4, domains=names)


def fingerprint(
    state: FeedState, parsed: ParsedFeed, digest: str | None, key: str, names: int
) -> dict[str, Any] | None:
    """The fingerprint to keep with ``state`` (the feed's state right after delivering ``parsed``), or None
    when reading the contribution back from the rows would not be exact (see the module docstring). ``names``:
    how many names ``parsed`` held before :func:`~threatfeed.engine.state.advance` took them over."""
    from threatfeed.engine.formats import CHUNK_PARSERS

    stats = parsed.stats
    if digest is None or stats.format not in CHUNK_PARSERS or stats.accepted == 0 or stats.error:
        return None
    if parsed.revoked_ipv4 or parsed.revoked_domains:
        return None
    current = [r for r in state.rows if r.last == state.last_success]
    if sum(r.ipv4.addresses() for r in current) != parsed.all_ipv4().addresses():
        return None
    if sum(len(r.domains) for r in current) != names:
        return None
    return {"sha256": digest, "key": key, "stats": _stats_to(stats)}


def _stats_to(stats: FeedStats) -> dict[str, Any]:
    """The accounting as JSON that reads back in the same order (reasons and samples as pairs: a state written
    with sorted keys must not reorder a sample's fields)."""
    out = stats.to_dict()
    out["reasons"] = [[k, v] for k, v in stats.reasons.items()]
    out["samples"] = [[[k, v] for k, v in s.items()] for s in stats.samples]
    return out


def _stats_from(data: Mapping[str, Any]) -> FeedStats:
    return FeedStats(
        feed=str(data["feed"]),
        format=str(data["format"]),
        lines=int(data["lines"]),
        skipped=int(data["skipped"]),
        accepted=int(data["accepted"]),
        rejected=int(data["rejected"]),
        reasons={str(k): int(v) for k, v in data["reasons"]},
        samples=[{str(k): v for k, v in s} for s in data["samples"]],
        ipv4=int(data["ipv4"]),
        domains=int(data["domains"]),
        ipv6=int(data["ipv6"]),
    )

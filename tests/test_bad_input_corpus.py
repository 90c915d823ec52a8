"""The bad-input corpus (issue 4): every case in ``tests/corpus/cases.json`` through the real fetch and engine.

Each case is served by the loopback :class:`~embedded_aws.feed_server.FeedServer` exactly as stored (status,
headers, body bytes), downloaded by the real ``http_list`` adapter (:func:`threatfeed.feeds.fetch_feed`) and,
when the download succeeds, built by the real engine (:func:`threatfeed.engine.build_lists`). The observed
outcome must be the expected one:

* ``failed`` at ``fetch``: the adapter raised (``FeedUnavailable`` is retried by the state machine,
  ``FeedRejected`` is not); at ``engine``: the body downloaded but cannot be read (``BodyUnreadable``,
  ``BodyTooLarge``: both ``FeedRejected``), and the engine carries the feed over;
* ``empty``: 204 or a blank body (the pipeline keeps the feed's last contribution);
* ``nothing``: the body was read but yields no indicator (only comments, only reserved addresses...): the
  pipeline hands it to the engine as an ordinary body and the engine must treat it like ``empty``;
* ``entries``: the expected indicators, counts and reasons.

Whatever the outcome, two properties are checked for every case:

* **nothing bogus gets through**: every published line is a public IPv4 address or block no broader than /12,
  or a well-formed public domain name, and none of the case's ``forbidden`` values is published;
* **nothing already published is lost**: the feed's previous run (``baseline`` in cases.json) is kept as
  engine state; the case is then built on top of it the way the transform stage would (a failed or empty feed
  is passed as ``carry_over``, anything else as a body). The result must be exactly the baseline, minus what
  the case explicitly retracts (STIX revoked, MISP deleted), plus what the case publishes, plus a bystander
  feed of the same run that a bad feed must never take down with it.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import ipaddress
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests

from embedded_aws.feed_server import FeedServer
from threatfeed.catalogue import FeedEntry
from threatfeed.config import Settings
from threatfeed.engine import EngineResult, EngineSettings, FeedBody, build_lists, parse_body
from threatfeed.engine.reasons import CORRECTIONS
from threatfeed.errors import FeedRejected, FeedUnavailable
from threatfeed.feeds import FetchedFeed, fetch_feed
from threatfeed.http import new_session

CORPUS = Path(__file__).resolve().parent / "corpus"
BODIES = CORPUS / "bodies"
SPEC: dict[str, Any] = json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = SPEC["cases"]

FEED = "corpus"
BYSTANDER = "bystander"
NOW = datetime(2025, 11, 27, 12, 0, tzinfo=UTC)
PREVIOUS_RUN = NOW - timedelta(days=1)
SETTINGS = Settings(
    bucket="corpus-bucket",
    stack_name="corpus",
    regions=("us-east-1",),
    days_requested=7,
    allow_http_loopback=True,
)
OUTCOMES = ("failed", "empty", "nothing", "entries")
MIB = 1024 * 1024

#: Reserved IPv4 space, written out here independently of the engine's own table: the test's oracle.
RESERVED = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/3",
    )
)
DOMAIN = re.compile(r"(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})")
RESERVED_TLDS = frozenset({"local", "localhost", "test", "example", "invalid", "onion", "internal", "arpa"})


# ------------------------------------------------------------------------------------- generated bodies
@cache
def _generated(name: str) -> bytes:
    """Bodies too large (or too dangerous) to keep in the repository, built once per session."""
    if name == "many_ips":  # ~4 kB of valid addresses: only too big for a 1 kB cap
        return "".join(f"45.146.{i // 200}.{i % 200 + 1}\n" for i in range(300)).encode()
    if name == "gzip_encoded_zeros":  # 8 MiB of newlines in ~8 kB of gzip, sent as Content-Encoding
        return gzip.compress(b"\n" * (8 * MIB), compresslevel=9, mtime=0)
    if name == "gzip_bomb":  # 201 MiB of one valid line in ~400 kB of gzip: past the engine's 200 MiB cap
        deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
        chunk = b"45.146.164.110\n" * 65536  # text, so it passes the fetch's "is it binary" look
        count = 201 * MIB // len(chunk) + 1
        return b"".join([*(deflate.compress(chunk) for _ in range(count)), deflate.flush()])
    if name == "nested_gzip_bomb":  # the same bomb gzipped once more: under 1 kB
        return gzip.compress(_generated("gzip_bomb"), compresslevel=9, mtime=0)
    if name == "double_gzip_list":  # a good list gzipped twice (the engine unpacks one nested layer)
        return gzip.compress(gzip.compress(b"45.146.164.110\n185.156.73.54\ngzip2-c2.net\n", mtime=0), mtime=0)
    if name == "ten_mb_line":  # a 10 MiB base64-like blob without a newline, between two good lines
        blob = base64.b64encode(hashlib.shake_256(b"threatfeed corpus").digest(10 * MIB * 3 // 4))
        return b"45.146.164.110\n" + blob + b"\n185.156.73.54\n"
    raise KeyError(f"unknown generator {name!r}")


def case_body(case: dict[str, Any]) -> bytes:
    if "body" in case:
        return (BODIES / case["body"]).read_bytes()
    if "generate" in case:
        return _generated(case["generate"])
    return str(case.get("body_text", "")).encode("utf-8")


# ------------------------------------------------------------------------------------------- lists
def published(result: EngineResult) -> set[str]:
    """Every line of every list the engine built."""
    return {line for lst in result.lists for line in lst.body.decode("ascii").splitlines() if line}


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def split(lines: set[str] | list[str]) -> tuple[list[ipaddress.IPv4Network], set[str]]:
    nets = [ipaddress.IPv4Network(x) for x in lines if _is_ip(x)]
    return nets, {x for x in lines if not _is_ip(x)}


def address_ranges(nets: list[ipaddress.IPv4Network]) -> list[tuple[int, int]]:
    """The addresses of ``nets`` as sorted, merged ``(first, last)`` integer ranges."""
    out: list[tuple[int, int]] = []
    for net in sorted(nets):
        start, end = int(net.network_address), int(net.broadcast_address)
        if out and start <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def subtract(ranges: list[tuple[int, int]], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for start, end in ranges:
        pieces = [(start, end)]
        for h_start, h_end in holes:
            pieces = [
                piece
                for s, e in pieces
                for piece in ((s, min(e, h_start - 1)), (max(s, h_end + 1), e))
                if piece[0] <= piece[1]
            ]
        out.extend(pieces)
    return address_ranges([n for s, e in out for n in ipaddress.summarize_address_range(_ip(s), _ip(e))])


def _ip(value: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(value)


def assert_nothing_bogus(lines: set[str], forbidden: list[str], where: str) -> None:
    """Every line is a public IPv4 address/block (at most /12 wide) or a public domain; nothing forbidden."""
    for line in lines:
        if _is_ip(line):
            net = ipaddress.ip_network(line)
            assert net.version == 4, f"{where}: IPv6 published: {line}"
            assert net.prefixlen >= 12, f"{where}: block broader than /12 published: {line}"
            assert str(net) == line or (net.prefixlen == 32 and line == str(net.network_address)), (
                f"{where}: non-canonical entry {line!r}"
            )
            overlap = [str(r) for r in RESERVED if net.overlaps(r)]
            assert not overlap, f"{where}: {line} overlaps reserved space {overlap}"
        else:
            assert DOMAIN.fullmatch(line) and len(line) <= 253, f"{where}: malformed entry {line!r}"
            assert line.rsplit(".", 1)[-1] not in RESERVED_TLDS, f"{where}: reserved name {line!r}"
    nets, names = split(lines)
    for value in forbidden:
        if _is_ip(value):
            bad = ipaddress.ip_network(value, strict=False)
            hits = [str(n) for n in nets if bad.version == 4 and bad.subnet_of(n)]
            assert not hits, f"{where}: forbidden {value} published as {hits}"
        else:
            assert value not in names, f"{where}: forbidden {value} published"


# ----------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with FeedServer() as feed_server:
        yield feed_server


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    """The production session setup, with back-off and Retry-After waits made instant."""
    with new_session(backoff_factor=0, backoff_jitter=0, retry_after_max=0) as s:
        yield s


def _body(part: dict[str, Any], name: str, at: datetime) -> FeedBody:
    return FeedBody(name, part["body_text"].encode(), part["format"], fetched_at=at)


@pytest.fixture(scope="module")
def previous_state() -> dict[str, Any]:
    """The engine state after a good run of the feed and the bystander, one day before the case's run."""
    result = build_lists(
        [_body(SPEC["baseline"], FEED, PREVIOUS_RUN), _body(SPEC["bystander"], BYSTANDER, PREVIOUS_RUN)],
        EngineSettings(now=PREVIOUS_RUN),
    )
    assert published(result) == set(SPEC["baseline"]["published"]) | set(SPEC["bystander"]["published"])
    return result.state


# ------------------------------------------------------------------------------------------ running
@dataclass
class Observed:
    outcome: str  # one of OUTCOMES, or "crashed" (an exception the contract does not allow)
    at: str | None = None
    error: BaseException | None = None
    fetched: FetchedFeed | None = None
    result: EngineResult | None = None
    requests: int = 0


def serve(server: FeedServer, case: dict[str, Any]) -> str:
    path = f"/corpus/{case['name']}"
    headers = dict(case.get("headers", {}))
    if headers.get("Location") == "@self":
        headers["Location"] = path
    server.clear_route(path)
    server.set_route(
        path, status=case.get("status", 200), body=case_body(case), headers=headers, delay=case.get("delay", 0.0)
    )
    return path


def run_case(case: dict[str, Any], server: FeedServer, session: requests.Session) -> Observed:
    """Serve the case, fetch it with the real adapter and build it with the real engine (fresh state)."""
    path = serve(server, case)
    before = len(server.requests_to(path))
    entry = FeedEntry(
        name=FEED, type="http_list", url=server.url(path), format=case["format"], options=case.get("options", {})
    )
    try:
        fetched = fetch_feed(entry, now=NOW, days_requested=7, secret=None, settings=SETTINGS, session=session)
    except Exception as error:  # the case decides which errors are right
        ok = isinstance(error, (FeedUnavailable, FeedRejected))
        return Observed("failed" if ok else "crashed", "fetch", error, requests=len(server.requests_to(path)) - before)
    seen = Observed("", fetched=fetched, requests=len(server.requests_to(path)) - before)
    if fetched.status == 204 or not fetched.body.strip():  # the pipeline's rule (pipeline/fetch.py)
        seen.outcome = "empty"
        return seen
    body = FeedBody(FEED, fetched.body, case["format"], case.get("options", {}), fetched_at=NOW)
    try:
        parse_body(body.body, feed=FEED, format=body.format, options=body.options, settings=EngineSettings(now=NOW))
    except FeedRejected as error:
        seen.outcome, seen.at, seen.error = "failed", "engine", error
    except Exception as error:
        seen.outcome, seen.at, seen.error = "crashed", "engine", error
        return seen
    try:
        seen.result = build_lists([body], EngineSettings(now=NOW))
    except Exception as error:
        seen.outcome, seen.at, seen.error = "crashed", "engine", error
        return seen
    if not seen.outcome:
        seen.outcome = "entries" if seen.result.feeds[FEED].accepted else "nothing"
    return seen


def _describe(seen: Observed) -> str:
    error = f" {type(seen.error).__name__}: {seen.error}" if seen.error else ""
    stats = seen.result.feeds.get(FEED) if seen.result else None
    counts = f" accepted={stats.accepted} rejected={stats.rejected} reasons={stats.reasons}" if stats else ""
    return f"{seen.outcome} at {seen.at}{error}{counts}"


def check_outcome(case: dict[str, Any], seen: Observed) -> None:
    expect = case["expect"]
    assert seen.outcome == expect["outcome"], f"expected {expect['outcome']}, got {_describe(seen)}"
    if "requests" in expect:
        assert seen.requests == expect["requests"], f"{seen.requests} requests, expected {expect['requests']}"
    if expect["outcome"] == "failed":
        assert seen.at == expect.get("at", seen.at), _describe(seen)
        names = [cls.__name__ for cls in type(seen.error).__mro__]
        assert expect["error"] in names, f"expected {expect['error']}, got {_describe(seen)}"
        if seen.at == "fetch":
            assert FEED in str(seen.error), f"the message does not name the feed: {seen.error}"
        else:  # the engine carried the feed over and said why
            assert seen.result is not None, _describe(seen)
            stats = seen.result.feeds[FEED]
            assert stats.error and stats.carried_over, f"not carried over: {stats.to_dict()}"
    if seen.result is None:
        return
    stats = seen.result.feeds[FEED]
    for key in ("accepted", "rejected"):
        if key in expect:
            assert getattr(stats, key) == expect[key], f"{key}: {_describe(seen)}"
    for reason, count in expect.get("reasons", {}).items():
        assert stats.reasons.get(reason, 0) == count, f"reason {reason}: {_describe(seen)}"
    assert stats.rejected == sum(n for r, n in stats.reasons.items() if r in _rejections(stats.reasons)), (
        f"rejections do not add up: {_describe(seen)}"
    )
    if expect["outcome"] == "entries":
        assert published(seen.result) == set(expect["published"]), _describe(seen)
    else:
        assert not published(seen.result), f"published {sorted(published(seen.result))}: {_describe(seen)}"


def _rejections(reasons: dict[str, int]) -> set[str]:
    return {r for r in reasons if r not in CORRECTIONS}


def check_nothing_lost(case: dict[str, Any], seen: Observed, previous_state: dict[str, Any]) -> None:
    """Build the case on top of the previous run, as the transform stage would, with the bystander feed."""
    expect = case["expect"]
    bodies = [_body(SPEC["bystander"], BYSTANDER, NOW)]
    carry_over: list[str] = []
    if seen.fetched is None or seen.outcome == "empty":
        carry_over.append(FEED)  # a failed or empty fetch: the transform keeps the feed's last contribution
    else:
        bodies.append(FeedBody(FEED, seen.fetched.body, case["format"], case.get("options", {}), fetched_at=NOW))
    # As the transform stage builds: a feed that delivers replaces its previous contribution.
    settings = EngineSettings(now=NOW, replace_delivered=True)
    result = build_lists(bodies, settings, previous_state=previous_state, carry_over=carry_over)
    lines = published(result)
    assert_nothing_bogus(lines, expect.get("forbidden", []), "after the previous run")

    retracted, _ = split(expect.get("retracted", []))
    base_nets, base_names = split(SPEC["baseline"]["published"])
    case_nets, case_names = split(expect.get("published", []) if expect["outcome"] == "entries" else [])
    side_nets, side_names = split(SPEC["bystander"]["published"])
    if expect["outcome"] == "entries":
        # The delivered body is the feed's whole contribution now: nothing of the baseline is kept.
        base_nets, base_names = [], set()
    kept = subtract(address_ranges(base_nets), address_ranges(retracted))
    want_ranges = address_ranges(
        [n for s, e in kept for n in ipaddress.summarize_address_range(_ip(s), _ip(e))] + case_nets + side_nets
    )
    want_names = (base_names - set(expect.get("retracted", []))) | case_names | side_names
    got_nets, got_names = split(lines)
    missing = subtract(want_ranges, address_ranges(got_nets))
    extra = subtract(address_ranges(got_nets), want_ranges)
    assert not missing, f"addresses lost: {[(str(_ip(s)), str(_ip(e))) for s, e in missing]}"
    assert not extra, f"addresses that no feed listed: {[(str(_ip(s)), str(_ip(e))) for s, e in extra]}"
    assert got_names == want_names, f"names: lost {want_names - got_names}, extra {got_names - want_names}"
    if FEED in carry_over or expect["outcome"] == "failed":
        assert result.feeds[FEED].carried_over, f"the feed was not carried over: {result.feeds[FEED].to_dict()}"


def _param(case: dict[str, Any]) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if case.get("xfail") else []
    return pytest.param(case, id=case["name"], marks=marks)


# -------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input_case(
    case: dict[str, Any], server: FeedServer, session: requests.Session, previous_state: dict[str, Any]
) -> None:
    seen = run_case(case, server, session)
    check_outcome(case, seen)
    if seen.result is not None:
        assert_nothing_bogus(published(seen.result), case["expect"].get("forbidden", []), "fresh run")
    check_nothing_lost(case, seen, previous_state)


def test_corpus_is_complete_and_tidy() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) >= 30
    assert len(set(names)) == len(names), "case names must be unique"
    used = set()
    for case in CASES:
        assert re.fullmatch(r"[a-z0-9_]+", case["name"]), case["name"]
        assert case.get("proves"), f"{case['name']}: say what the case proves"
        assert sum(k in case for k in ("body", "body_text", "generate")) == 1, case["name"]
        expect = case["expect"]
        assert expect["outcome"] in OUTCOMES, case["name"]
        if expect["outcome"] == "failed":
            assert expect.get("at", "fetch") in ("fetch", "engine") and expect["error"], case["name"]
        if expect["outcome"] == "entries":
            assert expect.get("published"), f"{case['name']}: an entries case names what it publishes"
        if "body" in case:
            assert (BODIES / case["body"]).is_file(), case["body"]
            used.add(case["body"])
    unused = {p.name for p in BODIES.iterdir()} - used
    assert not unused, f"body files no case uses: {sorted(unused)}"

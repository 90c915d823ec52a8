"""``threatfeed parse FILE``: what the transform would make of one feed body, on the same code path.

It runs :func:`build_lists` with a single :class:`FeedBody` and default settings (now = UTC now), so what
it prints is exactly what the Lambda would publish for that feed alone. ``--format`` and ``--option key=value``
(repeatable) take what a catalogue entry's ``format`` and ``options`` take, checked by the same rules, so a
feed's settings can be tried on a downloaded body before they are deployed::

    threatfeed parse ipblocklist.json --format json --option select=ip_address
    threatfeed parse recent.json --option "records=*[] | [?ioc_type=='domain']" --option select=ioc_value

``--state PATH`` carries the engine state between invocations as the transform carries it between runs (read
from PATH when it exists, the new state written there): the second parse of a feed with a state is the steady
state every scheduled run after the first pays, aging and provenance included::

    threatfeed parse feed.txt --state /tmp/engine.json     # first run: no state yet
    threatfeed parse feed.txt --state /tmp/engine.json     # steady state
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from threatfeed.catalogue import ENGINE_OPTIONS, engine_option_problems, parse_option
from threatfeed.engine.build import build_lists
from threatfeed.engine.decode import BodySource
from threatfeed.engine.model import FORMATS, EngineResult, EngineSettings, FeedBody
from threatfeed.errors import ThreatfeedError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="threatfeed parse", description=__doc__.splitlines()[0])
    p.add_argument("file", help="feed body as downloaded (plain, gzip or zip); '-' reads stdin")
    p.add_argument("--format", default="auto", choices=FORMATS)
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an engine option, as in the catalogue's options (repeatable): "
        + ", ".join(ENGINE_OPTIONS)
        + '; the value is read as JSON when it is JSON (true, 3, ["ipv4"]), else as text',
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--state",
        metavar="PATH",
        help="engine state file: read it when it exists, write the new state there (as the transform does between "
        "runs), so that a second parse shows the steady state",
    )
    p.add_argument(
        "--warninglists",
        default="default",
        help="MISP warninglists to apply, as the stack's Warninglists parameter: default, groups, list names, "
        "-name, none (default: default)",
    )
    p.add_argument("--warninglists-available", action="store_true", help="list the warninglists and groups, exit")
    return p


def options_from(pairs: list[str], fmt: str) -> dict[str, Any]:
    """``--option key=value`` arguments as a catalogue entry's options; ``ValueError`` naming every problem."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, value = parse_option(pair)
        options[key] = value
    problems = engine_option_problems(options, fmt)
    if problems:
        raise ValueError("; ".join(problems))
    return options


@dataclass(frozen=True)
class FileBody:
    """A feed body in a file, streamed into the engine (never read whole: a file of gigabytes parses in chunks)."""

    path: Path

    def open(self) -> IO[bytes]:
        return self.path.open("rb")


def run(
    body: bytes | BodySource,
    name: str,
    fmt: str,
    options: dict[str, Any] | None = None,
    warninglists: str = "default",
    previous_state: Mapping[str, Any] | None = None,
) -> tuple[EngineResult, dict[str, Any]]:
    """The result and the CLI's JSON summary for one body (with the default warninglists, as the transform);
    ``previous_state``: the state an earlier run left (``--state``)."""
    digest = None
    if isinstance(body, FileBody):  # hashed as a stream, as the fetch stage hashes what it stores
        sha = hashlib.sha256()
        with body.open() as stream:
            while block := stream.read(1 << 20):
                sha.update(block)
        digest = sha.hexdigest()
    feed = FeedBody(feed=name, body=body, format=fmt, options=options or {}, sha256=digest)
    chosen = tuple(t.strip() for t in warninglists.split(",") if t.strip())
    result = build_lists(
        # replace_delivered, as the transform: a body is its feed's whole current list (what it drops is delisted)
        [feed],
        EngineSettings(now=datetime.now(UTC), warninglists=chosen, replace_delivered=True),
        previous_state=previous_state,
    )
    stats = result.feeds[name]
    indicators: list[str] = []
    for lst in result.lists:
        if lst.entries:
            indicators.extend(lst.body.decode("ascii").splitlines())
    summary = {
        "feed": name,
        "format": stats.format or fmt,
        "options": dict(options or {}),
        "lines": stats.lines,
        "skipped": stats.skipped,
        "accepted": stats.accepted,
        "rejected": stats.rejected,
        "reasons": dict(sorted(stats.reasons.items())),
        "samples": stats.samples,
        "ipv4": stats.ipv4,
        "domains": stats.domains,
        "ipv6": stats.ipv6,
        "error": stats.error,
        "dropped": result.dropped,
        "left_out": result.left_out,
        "warninglists": result.warninglists,
        "lists": [lst.summary() for lst in result.lists],
        "indicators": indicators,
    }
    return result, summary


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.warninglists_available:
        return _available()
    try:
        options = options_from(args.option, args.format)
    except ValueError as exc:
        print(f"threatfeed parse: {exc}", file=sys.stderr)
        return 2
    body: bytes | BodySource
    try:
        if args.file == "-":
            body = sys.stdin.buffer.read()
        else:
            body = FileBody(Path(args.file))
            body.open().close()  # unreadable: said now, not as a parse error
        previous = read_state(args.state)
    except OSError as exc:
        print(f"threatfeed parse: cannot read {exc.filename or args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"threatfeed parse: {exc}", file=sys.stderr)
        return 2
    name = "stdin" if args.file == "-" else Path(args.file).name
    try:
        result, summary = run(body, name, args.format, options, args.warninglists, previous)
    except ThreatfeedError as exc:
        print(f"threatfeed parse: {exc}", file=sys.stderr)
        return 2
    if args.state:
        write_state(args.state, result.state)
    if summary["error"]:
        print(f"threatfeed parse: {summary['error']}", file=sys.stderr)
    if args.json:
        json.dump(summary, sys.stdout, sort_keys=False)
        sys.stdout.write("\n")
        return 0 if not summary["error"] else 1
    out = sys.stdout
    out.write(f"{name}: format {summary['format']}, {summary['lines']} lines\n")
    out.write(f"  accepted {summary['accepted']} (ipv4 {summary['ipv4']}, domains {summary['domains']})")
    out.write(f", rejected {summary['rejected']}, skipped {summary['skipped']}\n")
    for reason, count in summary["reasons"].items():
        out.write(f"  {reason:<22} {count}\n")
        for sample in [s for s in summary["samples"] if s["reason"] == reason][:3]:
            out.write(f"      line {sample['line']}: {sample['text']}\n")
    for lst in summary["lists"]:
        out.write(f"  list {lst['kind']}[{lst['index']}]: {lst['entries']} entries, sha256 {lst['sha256'][:16]}\n")
    for cause, count in summary["dropped"].items():
        out.write(f"  dropped {cause}: {count}\n")
    suppressed = (summary["warninglists"] or {}).get("suppressed") or {}
    if suppressed:
        shown = ", ".join(f"{slug} {n}" for slug, n in suppressed.items())
        out.write(f"  suppressed as benign infrastructure (MISP warninglists): {shown}\n")
    return 0 if not summary["error"] else 1


def read_state(path: str | None) -> dict[str, Any] | None:
    """The engine state at ``path`` (None when there is no path or no file yet); ``ValueError`` if it is not one."""
    if not path or not Path(path).exists():
        return None
    try:
        state = json.loads(Path(path).read_bytes())
    except ValueError as exc:
        raise ValueError(f"--state {path} is not an engine state (invalid JSON: {exc})") from None
    if not isinstance(state, dict):
        raise ValueError(f"--state {path} is not an engine state (not a JSON object)")
    return state


def write_state(path: str, state: Mapping[str, Any]) -> None:
    """Write ``state`` as the transform stores it (``Store.put_json``), replacing the file only once written."""
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(json.dumps(state, indent=1, sort_keys=True, default=str), encoding="utf-8")
    partial.replace(target)


def _available() -> int:
    """``--warninglists-available``: every compiled list, its size and kind, and the groups."""
    from threatfeed.engine import warninglists as W

    head = W.header()
    out = sys.stdout
    out.write(f"MISP warninglists of pymispwarninglists {head['package_version']} (compiled into threatfeed):\n")
    for slug, info in sorted(head["lists"].items()):
        how = "addresses" if info["kind"] == "ip" else f"names, {info['match']}"
        out.write(f"  {slug:<44} {info['entries']:>7} {how:<18} {info['name']}\n")
    out.write("groups (default: all of them):\n")
    for group, members in W.GROUPS.items():
        out.write(f"  {group:<12} {', '.join(members)}\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))

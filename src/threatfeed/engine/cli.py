"""``threatfeed parse FILE``: what the transform would make of one feed body, on the same code path.

It runs :func:`build_lists` with a single :class:`FeedBody` and default settings (now = UTC now), so what
it prints is exactly what the Lambda would publish for that feed alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threatfeed.engine.build import build_lists
from threatfeed.engine.model import FORMATS, EngineResult, EngineSettings, FeedBody
from threatfeed.errors import ThreatfeedError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="threatfeed parse", description=__doc__.splitlines()[0])
    p.add_argument("file", help="feed body as downloaded (plain, gzip or zip); '-' reads stdin")
    p.add_argument("--format", default="auto", choices=FORMATS)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def run(body: bytes, name: str, fmt: str) -> tuple[EngineResult, dict[str, Any]]:
    """The result and the CLI's JSON summary for one body."""
    result = build_lists([FeedBody(feed=name, body=body, format=fmt)], EngineSettings(now=datetime.now(UTC)))
    stats = result.feeds[name]
    indicators: list[str] = []
    for lst in result.lists:
        if lst.entries:
            indicators.extend(lst.body.decode("ascii").splitlines())
    summary = {
        "feed": name,
        "format": stats.format,
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
        "lists": [lst.summary() for lst in result.lists],
        "indicators": indicators,
    }
    return result, summary


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        body = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        print(f"threatfeed parse: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    name = "stdin" if args.file == "-" else Path(args.file).name
    try:
        _, summary = run(body, name, args.format)
    except ThreatfeedError as exc:
        print(f"threatfeed parse: {exc}", file=sys.stderr)
        return 2
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
    return 0 if not summary["error"] else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))

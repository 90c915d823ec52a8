"""``threatfeed hits``: which feeds earn their place. GuardDuty findings raised from this stack's lists, per feed and
per indicator, and the feeds with no finding in the period (``threatfeed.sightings``)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any, TextIO

from threatfeed.cli.failures import CliError
from threatfeed.cli.tables import table
from threatfeed.sightings import HITS_PERIOD_DAYS, Hits, load_sightings, summarize


def add_parser(commands: Any, common: argparse.ArgumentParser, func: Callable[..., int]) -> None:
    hits = commands.add_parser(
        "hits",
        parents=[common],
        help="GuardDuty findings per feed and per indicator, and the feeds with none",
        description="Findings GuardDuty raised from this stack's lists (recorded by the sightings function), per "
        "feed and per indicator, and the catalogue's feeds with no finding in the period.",
    )
    hits.add_argument(
        "--since", type=int, default=HITS_PERIOD_DAYS, metavar="DAYS", help="the last DAYS days (default 30)"
    )
    hits.add_argument("--feed", default=None, metavar="NAME", help="only the findings this feed contributed to")
    hits.set_defaults(func=func)


def feed_names(catalogue_text: str) -> list[str]:
    document = json.loads(catalogue_text)
    return [str(f["name"]) for f in document.get("feeds", []) if isinstance(f, dict) and f.get("name")]


def collect(clients: Any, refs: Any, *, since: int, feed: str | None, now: float | None = None) -> Hits:
    """The period's hits of the stack ``refs`` names (its data bucket and catalogue)."""
    from threatfeed import operate

    if since < 1:
        raise CliError(f"--since {since}: give a number of days, 1 or more")
    now = time.time() if now is None else now
    names = feed_names(operate.read_catalogue(clients, refs))
    if feed is not None and feed not in names:
        raise CliError(
            f"no feed {feed!r} in stack {refs.stack_name}'s catalogue ({refs.region}); it has: "
            f"{', '.join(sorted(names)) or 'no feeds'} (`threatfeed feeds`)"
        )
    sightings = load_sightings(clients("s3"), refs.bucket, since_days=since, now=now)
    return summarize(sightings, names, since_days=since, now=now, feed=feed)


def print_hits(hits: Hits, out: TextIO) -> None:
    print(
        f"GuardDuty findings from this stack's lists since {hits.since} ({hits.days} days): {hits.findings}", file=out
    )
    print("\nPer feed:", file=out)
    table(
        [
            {
                **f,
                "indicators": len(f["indicators"]),
                "accounts": ",".join(f["accounts"]),
                "regions": ",".join(f["regions"]),
            }
            for f in hits.feeds
        ],
        ["feed", "findings", "indicators", "accounts", "regions", "last"],
        out,
    )
    print("\nPer indicator:", file=out)
    table(
        [{**i, "feeds": ",".join(i["feeds"]) or "-", "regions": ",".join(i["regions"])} for i in hits.indicators],
        ["indicator", "type", "findings", "occurrences", "feeds", "regions", "last"],
        out,
    )
    if hits.silent:
        print(f"\nNo finding in the period: {', '.join(hits.silent)}", file=out)


def hits_command(args: argparse.Namespace, out: TextIO, connect: Callable[[argparse.Namespace], Any]) -> int:
    clients, refs = connect(args)
    hits = collect(clients, refs, since=args.since, feed=args.feed)
    if args.json:
        print(json.dumps(hits.as_dict(), default=str), file=out)
    else:
        print_hits(hits, out)
    return 0

"""``threatfeed start|history|status|diff|rollback|feeds|report``: operate a deployed stack, in an account or on
the embedded AWS.

Exit codes: 0 success; 1 the run (or a Region) failed; 2 usage, setup or lookup error (no credentials, an
endpoint that does not answer, no such stack, feed or run). Failures are explained by
:mod:`threatfeed.cli.failures`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path
from typing import Any, TextIO

from threatfeed import operate
from threatfeed.cli.failures import CliError
from threatfeed.cli.tables import cell, print_rows


def _default_stack_name() -> str:
    """``stack_name`` from samconfig.toml in the working directory, as ``sam deploy`` would use it."""
    path = Path("samconfig.toml")
    if path.is_file():
        try:
            config = tomllib.loads(path.read_text())
            return str(config["default"]["deploy"]["parameters"]["stack_name"])
        except (KeyError, tomllib.TOMLDecodeError):
            pass
    return "threatfeed"


def add_commands(commands: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stack-name", default=None, help="default: samconfig.toml's stack_name, or threatfeed")
    common.add_argument("--region", default=None, help="the stack's Region (default: your AWS configuration)")
    common.add_argument("--profile", default=None, help="AWS profile")
    common.add_argument("--endpoint-url", default=None, help="the embedded AWS of `threatfeed local serve`")
    common.add_argument("--json", action="store_true", help="machine-readable output")

    start = commands.add_parser("start", parents=[common], help="start a run now and follow it")
    start.add_argument("--urgent", action="store_true", help="name it urgent-… (for an urgent feed)")
    start.add_argument("--feeds", default=None, help="comma-separated catalogue feeds (default: all enabled)")
    start.add_argument("--dry-run", action="store_true", help="build lists and manifest, leave GuardDuty alone")
    start.add_argument("--force", action="store_true", help="publish even if unchanged or held by the drop guard")
    start.add_argument("--no-wait", action="store_true", help="print the execution ARN and return")
    start.set_defaults(func=start_command)

    hist = commands.add_parser("history", parents=[common], help="recent runs")
    hist.add_argument("-n", type=int, default=10, help="how many runs (default 10)")
    hist.set_defaults(func=history_command)

    stat = commands.add_parser("status", parents=[common], help="the project's lists in each Region")
    stat.set_defaults(func=status_command)

    dif = commands.add_parser("diff", parents=[common], help="entries added and removed between two runs")
    dif.add_argument("run_a")
    dif.add_argument("run_b")
    dif.set_defaults(func=diff_command)

    back = commands.add_parser("rollback", parents=[common], help="republish an earlier run's lists")
    back.add_argument("--to", default=None, help="the run (execution name) to go back to; default: the previous list")
    back.add_argument("--no-wait", action="store_true", help="print the execution ARN and return")
    back.set_defaults(func=rollback_command)

    from threatfeed.cli import feeds

    feeds.add_parser(commands, common, feeds_command)

    from threatfeed.cli import hits

    hits.add_parser(commands, common, hits_command)

    rep = commands.add_parser(
        "report",
        parents=[common],
        help="write a run's report: one self-contained HTML page with tables and plots",
        description="One HTML page (no external assets) about RUN (default: the latest run): its feeds with "
        "accepted and rejected by reason, its lists per Region and their status, what changed since the run "
        "before, and plots of the list sizes and per-feed contributions over the last -n runs.",
    )
    rep.add_argument("run", nargs="?", help="the run (execution name, from `history`); default: the latest")
    rep.add_argument("--out", default=None, help="the HTML file to write (default report-<run>.html; - for stdout)")
    rep.add_argument("-n", type=int, default=20, help="runs in the plots (default 20)")
    rep.set_defaults(func=report_command)


def _connect(args: argparse.Namespace) -> tuple[operate.Clients, operate.StackRefs]:
    from threatfeed.cli.failures import WHERE, note_args

    note_args(args)
    WHERE.stack = args.stack_name or _default_stack_name()
    clients = operate.Clients(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url)
    WHERE.region = clients.region
    return clients, operate.find_stack(clients, WHERE.stack)


def _guarded(func: Any) -> Any:
    """The verb with stdout; its failures are explained by the console command (threatfeed.cli.failures)."""

    def wrapper(args: argparse.Namespace) -> int:
        return int(func(args, sys.stdout))

    return wrapper


@_guarded
def start_command(args: argparse.Namespace, out: TextIO) -> int:
    feeds = [f.strip() for f in args.feeds.split(",") if f.strip()] if args.feeds else None
    if args.feeds is not None and not feeds:
        raise CliError("--feeds names no feed: give catalogue feed names, e.g. --feeds isight,feodo")
    clients, refs = _connect(args)
    if feeds:
        _check_feeds(clients, refs, feeds)
    arn = operate.start_run(clients, refs, urgent=args.urgent, feeds=feeds, dry_run=args.dry_run, force=args.force)
    return _follow(args, clients, arn, out)


def _check_feeds(clients: operate.Clients, refs: operate.StackRefs, wanted: list[str]) -> None:
    """Unknown or disabled feeds are said before a run is started for them (the run would refuse them)."""
    from threatfeed.catalogue import parse_catalogue, select_by_name
    from threatfeed.errors import ConfigError

    try:
        entries = parse_catalogue(operate.read_catalogue(clients, refs))
    except (ConfigError, LookupError):
        return  # no catalogue yet, or an invalid one: the run says so, with a notification
    selected = select_by_name(entries, wanted)
    if selected.unknown:
        raise CliError(
            f"no feed {', '.join(repr(n) for n in selected.unknown)} in the catalogue of stack {refs.stack_name!r} "
            f"({refs.region}); it has: {', '.join(sorted(selected.by_name)) or 'no feeds'} (`threatfeed feeds`)"
        )
    disabled = selected.disabled
    if disabled:
        raise CliError(
            f"feed {', '.join(repr(n) for n in disabled)} is disabled in the catalogue of stack {refs.stack_name!r}:"
            f" `threatfeed feeds enable {disabled[0]}` first"
        )


@_guarded
def rollback_command(args: argparse.Namespace, out: TextIO) -> int:
    clients, refs = _connect(args)
    if args.to:
        operate.manifest_of(clients, refs, args.to)  # an unknown run is said before anything starts
    arn, target = operate.start_rollback(clients, refs, args.to)
    if not args.json:
        print(f"Rolling back to the lists of run {target}", file=out)
    return _follow(args, clients, arn, out)


def _follow(args: argparse.Namespace, clients: operate.Clients, arn: str, out: TextIO) -> int:
    from threatfeed.cli.local import describe_event

    if args.no_wait:
        print(json.dumps({"executionArn": arn}) if args.json else arn, file=out)
        return 0

    def show(event: dict[str, Any]) -> None:
        line = describe_event(event)
        if line and not args.json:
            print(line, file=out, flush=True)

    if not args.json:
        print(f"Started {arn}", file=out, flush=True)
    described = operate.follow(clients, arn, show)
    row = operate.run_row(described)
    if args.json:
        print(json.dumps(row, default=str), file=out)
    else:
        _print_run(row, out)
    return 0 if described["status"] == "SUCCEEDED" else 1


def _print_run(row: dict[str, Any], out: TextIO) -> None:
    print(f"\n{row['name']}: {row['status']} in {row['duration_s']} s", file=out)
    if row.get("error"):
        print(f"  error: {row['error']}", file=out)
    counts = row.get("feed_counts") or {}
    if counts:
        print(
            f"  {counts.get('total', 0)} feeds: {counts.get('ok', 0)} ok, {counts.get('empty', 0)} empty, "
            f"{counts.get('failed', 0)} failed",
            file=out,
        )
    for name, feed in row["feeds"].items():
        print(f"  feed {name}: {cell(feed)}", file=out)
    if row.get("feeds_omitted"):
        print(f"  {row['feeds_omitted']} more feeds (only failed ones shown) in {row.get('details')}", file=out)
    for region, outcome in row["regions"].items():
        print(f"  region {region}: {outcome}", file=out)
    if row.get("reason"):
        print(f"  not published: {row['reason']}", file=out)
    if row.get("attention"):
        print(f"  needs attention: {row['attention']}", file=out)
    print(f"  manifest: {row.get('manifest')}", file=out)


@_guarded
def history_command(args: argparse.Namespace, out: TextIO) -> int:
    if args.n < 1:
        raise CliError(f"-n {args.n}: give how many runs to show, 1 or more")
    clients, refs = _connect(args)
    print_rows(
        args, operate.history(clients, refs, args.n), ["name", "start", "duration_s", "status", "feeds", "regions"], out
    )
    return 0


@_guarded
def status_command(args: argparse.Namespace, out: TextIO) -> int:
    clients, refs = _connect(args)
    rows = operate.status(clients, refs)
    print_rows(args, rows, ["region", "name", "id", "type", "status", "entries", "updated", "location"], out)
    return 1 if any(r.get("status") == "ERROR" or r.get("error") for r in rows) else 0


@_guarded
def diff_command(args: argparse.Namespace, out: TextIO) -> int:
    clients, refs = _connect(args)
    result = operate.diff(clients, refs, args.run_a, args.run_b)
    if args.json:
        print(json.dumps(result), file=out)
        return 0
    for kind in sorted(set(result["added"]) | set(result["removed"])):
        added, removed = result["added"].get(kind, []), result["removed"].get(kind, [])
        print(f"{kind}: +{len(added)} -{len(removed)}", file=out)
        for entry in added:
            print(f"  + {entry}", file=out)
        for entry in removed:
            print(f"  - {entry}", file=out)
    return 0


@_guarded
def feeds_command(args: argparse.Namespace, out: TextIO) -> int:
    from threatfeed.cli import feeds

    return feeds.feeds_command(args, out, _connect)


@_guarded
def hits_command(args: argparse.Namespace, out: TextIO) -> int:
    from threatfeed.cli import hits

    return hits.hits_command(args, out, _connect)


@_guarded
def report_command(args: argparse.Namespace, out: TextIO) -> int:
    from threatfeed.cli.report import render

    clients, refs = _connect(args)
    data = operate.report_data(clients, refs, args.run, runs=max(1, args.n))
    page = render(data)
    target = args.out or f"report-{data['run']['name']}.html"
    if target == "-":
        out.write(page)
        return 0
    try:
        Path(target).write_text(page, encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot write the report to {target}: {error.strerror or error}") from None
    if args.json:
        print(json.dumps({"report": str(Path(target).resolve()), "run": data["run"]["name"]}), file=out)
    else:
        print(f"Report of run {data['run']['name']} ({data['run']['status']}): {Path(target).resolve()}", file=out)
    return 0

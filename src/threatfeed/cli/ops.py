"""``threatfeed start|history|status|diff|feeds``: operate a deployed stack, in an account or on the embedded AWS.

Exit codes: 0 success; 1 the run (or a Region) failed; 2 usage or lookup error (no such stack or run).
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path
from typing import Any, TextIO

from threatfeed import operate


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

    fds = commands.add_parser(
        "feeds",
        parents=[common],
        help="the catalogue: list (each feed's last outcome), export, validate or import it",
        description="The catalogue is s3://<data bucket>/config/catalogue.json, yours to edit: `feeds export "
        "> catalogue.json`, edit, `feeds validate catalogue.json`, `feeds import catalogue.json` (validated "
        "again before it is written; the previous version stays in the bucket's history).",
    )
    fds.add_argument("verb", nargs="?", default="list", choices=["list", "export", "validate", "import"])
    fds.add_argument("file", nargs="?", help="the catalogue file (validate, import)")
    fds.set_defaults(func=feeds_command)


def _connect(args: argparse.Namespace) -> tuple[operate.Clients, operate.StackRefs]:
    clients = operate.Clients(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url)
    return clients, operate.find_stack(clients, args.stack_name or _default_stack_name())


def _table(rows: list[dict[str, Any]], columns: list[str], out: TextIO) -> None:
    if not rows:
        print("(none)", file=out)
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)), file=out)
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)


def _rows(args: argparse.Namespace, rows: list[dict[str, Any]], columns: list[str], out: TextIO) -> None:
    """``--json``: the rows as one JSON array; otherwise a table of ``columns``."""
    if args.json:
        print(json.dumps(rows, default=str), file=out)
    else:
        _table(rows, columns, out)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return " ".join(f"{k}:{_cell(v)}" for k, v in value.items())
    return str(value)


def _guarded(func: Any) -> Any:
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return int(func(args, sys.stdout))
        except LookupError as error:
            print(f"threatfeed: {error.args[0] if error.args else error}", file=sys.stderr)
            return 2

    return wrapper


@_guarded
def start_command(args: argparse.Namespace, out: TextIO) -> int:
    clients, refs = _connect(args)
    feeds = [f.strip() for f in args.feeds.split(",")] if args.feeds else None
    arn = operate.start_run(clients, refs, urgent=args.urgent, feeds=feeds, dry_run=args.dry_run, force=args.force)
    return _follow(args, clients, arn, out)


@_guarded
def rollback_command(args: argparse.Namespace, out: TextIO) -> int:
    clients, refs = _connect(args)
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
    for name, feed in row["feeds"].items():
        print(f"  feed {name}: {_cell(feed)}", file=out)
    for region, outcome in row["regions"].items():
        print(f"  region {region}: {outcome}", file=out)
    if row.get("reason"):
        print(f"  not published: {row['reason']}", file=out)
    if row.get("attention"):
        print(f"  needs attention: {row['attention']}", file=out)
    print(f"  manifest: {row.get('manifest')}", file=out)


@_guarded
def history_command(args: argparse.Namespace, out: TextIO) -> int:
    clients, refs = _connect(args)
    _rows(
        args, operate.history(clients, refs, args.n), ["name", "start", "duration_s", "status", "feeds", "regions"], out
    )
    return 0


@_guarded
def status_command(args: argparse.Namespace, out: TextIO) -> int:
    clients, refs = _connect(args)
    rows = operate.status(clients, refs)
    _rows(args, rows, ["region", "name", "id", "type", "status", "entries", "updated", "location"], out)
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
    from threatfeed.catalogue import parse_catalogue
    from threatfeed.errors import ConfigError

    if args.verb in ("validate", "import"):
        if not args.file:
            raise LookupError(f"feeds {args.verb} needs the catalogue file: threatfeed feeds {args.verb} FILE")
        try:
            text = Path(args.file).read_text(encoding="utf-8")
            entries = parse_catalogue(text)
        except OSError as error:
            raise LookupError(f"cannot read {args.file}: {error.strerror or error}") from None
        except ConfigError as error:
            raise LookupError(f"{args.file}: {error}") from None
        if args.verb == "validate":
            print(f"{args.file}: valid, {len(entries)} feed(s), {sum(e.enabled for e in entries)} enabled", file=out)
            return 0
        clients, refs = _connect(args)
        version = operate.write_catalogue(clients, refs, text)
        print(f"Catalogue of {refs.stack_name} replaced ({len(entries)} feeds; S3 version {version}).", file=out)
        return 0
    clients, refs = _connect(args)
    if args.verb == "export":
        out.write(operate.read_catalogue(clients, refs))
        return 0
    columns = ["name", "type", "format", "enabled", "last_outcome", "accepted", "rejected", "last_run"]
    _rows(args, operate.feeds(clients, refs), columns, out)
    return 0

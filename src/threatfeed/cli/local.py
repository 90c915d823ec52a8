"""``threatfeed local``: the pipeline on the embedded AWS, with the sample feeds."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO


def add_commands(commands: Any) -> None:
    local = commands.add_parser("local", help="run on the embedded AWS (moto, loopback feeds; no account)")
    verbs = local.add_subparsers(dest="verb", required=True)
    run = verbs.add_parser("run", help="deploy template.yaml into the embedded AWS and run one execution")
    run.add_argument("--input", default=None, help="execution input as JSON (default: a manual run)")
    run.add_argument("--scenario", default=None, help="a scenario file: several runs with the feed answers to replay")
    run.add_argument("--regions", default="us-east-1,eu-west-1", help="comma-separated Regions to publish to")
    run.set_defaults(func=run_command)
    serve = verbs.add_parser("serve", help="keep the embedded AWS running on a loopback port until interrupted")
    serve.add_argument("--port", type=int, default=4566, help="loopback port (default 4566; 0 picks a free one)")
    serve.add_argument("--regions", default="us-east-1,eu-west-1", help="comma-separated Regions to publish to")
    serve.set_defaults(func=serve_command)


def describe_event(event: dict[str, Any]) -> str | None:
    """One line per state transition worth showing, or None."""
    kind = event["type"]
    if kind.endswith("StateEntered"):
        return f"  → {event['stateEnteredEventDetails']['name']}"
    if kind.endswith("StateExited"):
        return None
    if kind in ("TaskFailed", "LambdaFunctionFailed"):
        details = event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails") or {}
        return f"    ✗ {details.get('error', 'error')}: {_short(details.get('cause', ''))}"
    if kind == "ExecutionFailed":
        details = event.get("executionFailedEventDetails", {})
        return f"  ✗ execution failed: {details.get('error')}: {_short(details.get('cause', ''))}"
    if kind == "ExecutionSucceeded":
        return "  ✓ execution succeeded"
    return None


def _short(text: str, limit: int = 160) -> str:
    try:
        decoded = json.loads(text)
        if isinstance(decoded, dict) and "errorMessage" in decoded:
            text = decoded["errorMessage"]
    except (TypeError, ValueError):
        pass
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_summary(result: Any, out: TextIO) -> None:
    print(f"\nExecution {result.name}: {result.status}", file=out)
    summary = result.output
    if result.status != "SUCCEEDED":
        print(f"  error: {result.error}\n  cause: {_short(result.cause or '', 600)}", file=out)
    if not summary:
        return
    print("\nFeeds:", file=out)
    for name, feed in sorted(summary.get("feeds", {}).items()):
        print(
            f"  {name:<14} {feed.get('outcome', ''):<8} accepted {feed.get('accepted', 0):>7}"
            f"  rejected {feed.get('rejected', 0):>6}",
            file=out,
        )
    print("\nGuardDuty lists:", file=out)
    print(f"  {'REGION':<12} {'NAME':<31} {'KIND':<7} {'ENTRIES':>7}  {'ID':<33} STATUS", file=out)
    for region, outcome in sorted(summary.get("regions", {}).items()):
        for item in outcome.get("lists", []):
            print(
                f"  {region:<12} {item.get('name', ''):<31} {item.get('kind', ''):<7} {item.get('entries') or 0:>7}"
                f"  {item.get('id', ''):<33} {item.get('status', '')}",
                file=out,
            )
        if outcome.get("error"):
            print(f"  {region:<12} failed: {outcome['error']}: {outcome.get('cause', '')}", file=out)
    if summary.get("reason"):
        print(f"\nNot published: {summary['reason']}", file=out)
    if summary.get("attention"):
        attention = summary["attention"]
        print(f"\nNeeds attention ({attention['error']}): {_short(attention['cause'], 600)}", file=out)
    print(f"\nManifest: {summary.get('manifest')}", file=out)


def run_command(args: argparse.Namespace) -> int:
    if args.scenario:
        return scenario_command(args)
    from embedded_aws.runtime import EmbeddedAws

    execution_input = json.loads(args.input) if args.input else {"trigger": "manual"}
    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    out = sys.stdout
    print(f"Starting the embedded AWS (moto) with Regions {', '.join(regions)}…", file=out, flush=True)
    with EmbeddedAws(regions=regions) as aws:
        print(f"State machine {aws.stack.state_machine_arn}", file=out)
        print(f"Feeds served on {aws.feed_server.url('')}\n", file=out, flush=True)

        def show(event: dict[str, Any]) -> None:
            line = describe_event(event)
            if line:
                print(line, file=out, flush=True)

        result = aws.run(execution_input, on_event=show)
        print_summary(result, out)
    return 0 if result.status == "SUCCEEDED" else 1


def serve_command(args: argparse.Namespace) -> int:
    import threading

    from embedded_aws.runtime import EmbeddedAws

    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    stop = threading.Event()
    with EmbeddedAws(regions=regions) as aws:
        endpoint = aws.serve(port=args.port)
        print(f"Embedded AWS on {endpoint} (stack {aws.stack_name!r} in {aws.stack_region}). In another terminal:")
        print(f"  threatfeed start --endpoint-url {endpoint} --region {aws.stack_region}")
        print(f"  threatfeed history|status|feeds --endpoint-url {endpoint} --region {aws.stack_region}")
        print("Ctrl-C to stop.", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            print("\nStopping.")
    return 0


def scenario_command(args: argparse.Namespace) -> int:
    """One JSON line per run; exit 0 when every run was carried out, whatever its outcome."""
    from pathlib import Path

    from embedded_aws.scenario import ScenarioError, run_scenario

    try:
        for result in run_scenario(Path(args.scenario)):
            print(json.dumps(result, sort_keys=True), flush=True)
    except ScenarioError as error:
        print(f"threatfeed: {error}", file=sys.stderr)
        return 2
    return 0

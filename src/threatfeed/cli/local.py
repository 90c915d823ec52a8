"""``threatfeed local``: the pipeline on the embedded AWS, with the sample feeds."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from threatfeed.pipeline.suppression import suppression_text


def add_commands(commands: Any) -> None:
    local = commands.add_parser("local", help="run on the embedded AWS (moto, loopback feeds; no account)")
    verbs = local.add_subparsers(dest="verb", required=True)
    yours = argparse.ArgumentParser(add_help=False)
    yours.add_argument(
        "--catalogue",
        default=None,
        help="your catalogue file instead of the sample feeds; a feed URL may be a local file (file:PATH or a "
        "path relative to the catalogue), served by the embedded AWS's loopback feed server",
    )
    yours.add_argument(
        "--secrets",
        default=None,
        help="a JSON file of secret name → object, created as threatfeed/<stack>/<name> in the embedded Secrets "
        "Manager; a catalogue feed names one by its name",
    )
    yours.add_argument("--regions", default="us-east-1,eu-west-1", help="comma-separated Regions to publish to")
    run = verbs.add_parser(
        "run", parents=[yours], help="deploy template.yaml into the embedded AWS and run one execution"
    )
    run.add_argument("--input", default=None, help="execution input as JSON (default: a manual run)")
    run.add_argument("--scenario", default=None, help="a scenario file: several runs with the feed answers to replay")
    run.add_argument("--report", default=None, metavar="FILE", help="also write the run report (HTML) to FILE")
    run.set_defaults(func=run_command)
    serve = verbs.add_parser(
        "serve", parents=[yours], help="keep the embedded AWS running on a loopback port until interrupted"
    )
    serve.add_argument("--port", type=int, default=4566, help="loopback port (default 4566; 0 picks a free one)")
    serve.set_defaults(func=serve_command)
    finding = verbs.add_parser(
        "finding",
        help="have the embedded GuardDuty of `threatfeed local serve` see activity with an address or domain",
        description="GuardDuty raises a finding when an ACTIVE threat list holds INDICATOR (none when no list, or a "
        "trusted list, holds it) and EventBridge delivers it to the stack's sightings function; then "
        "`threatfeed hits --endpoint-url ...` shows it.",
    )
    finding.add_argument("indicator", metavar="INDICATOR", help="an IPv4 address or a domain name")
    finding.add_argument("--endpoint-url", default="http://127.0.0.1:4566", help="`threatfeed local serve`'s endpoint")
    finding.add_argument("--region", default="us-east-1", help="the Region whose GuardDuty sees it (default us-east-1)")
    finding.add_argument("--json", action="store_true", help="machine-readable output")
    finding.set_defaults(func=finding_command)


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
    print(suppression_text(summary), end="", file=out)  # what the warninglists kept out (issue 12)
    print(f"\nManifest: {summary.get('manifest')}", file=out)


def _regions(args: argparse.Namespace) -> list[str]:
    from threatfeed.cli.failures import CliError

    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    if not regions:
        raise CliError("--regions names no Region: e.g. --regions us-east-1,eu-west-1")
    return regions


def execution_input(raw: str | None) -> dict[str, Any]:
    """``--input`` parsed and checked against the input schema, as the Plan state would, before anything starts."""
    from threatfeed.cli.failures import CliError
    from threatfeed.errors import ConfigError

    if raw is None:
        return {"trigger": "manual"}
    try:
        document = json.loads(raw)
    except ValueError as error:
        raise CliError(
            f"--input is not valid JSON ({getattr(error, 'msg', error)} at column {getattr(error, 'colno', '?')}):"
            " give an object, e.g. --input '{\"dry_run\": true}'"
        ) from None
    from threatfeed.pipeline.plan import validate_input

    try:
        return validate_input(document)
    except ConfigError as error:
        raise CliError(f"--input: {error}") from None


def _yours(args: argparse.Namespace) -> dict[str, Any]:
    """The EmbeddedAws keyword arguments for --catalogue and --secrets (checked before anything starts)."""
    from threatfeed.cli.failures import CliError

    if args.secrets and not args.catalogue:
        raise CliError("--secrets goes with --catalogue: the secrets are for your catalogue's feeds")
    if not args.catalogue:
        return {}
    from pathlib import Path

    from embedded_aws.runtime import LocalCatalogue
    from threatfeed.cli.tryfeed import load_secrets_file

    secrets = load_secrets_file(args.secrets) if args.secrets else {}
    catalogue = LocalCatalogue(Path(args.catalogue), secrets)
    catalogue.check()
    return {"catalogue": catalogue, "secrets": secrets}


def _describe_yours(kwargs: dict[str, Any], out: TextIO) -> None:
    catalogue = kwargs.get("catalogue")
    if catalogue is None:
        return
    print(f"Catalogue {catalogue.path} ({len(catalogue.document['feeds'])} feeds)", file=out)
    for name, path in sorted(catalogue.files.items()):
        print(f"  {name}: served from {path}", file=out)
    for name in sorted(kwargs.get("secrets") or {}):
        print(f"  secret {name}: in the embedded Secrets Manager (value not shown)", file=out)


def write_report(aws: Any, path: str, out: TextIO) -> None:
    """The run report of the embedded AWS's latest run, as ``threatfeed report`` writes it."""
    from pathlib import Path

    from threatfeed import operate
    from threatfeed.cli.report import render

    clients = operate.Clients(region=aws.stack_region)
    refs = operate.find_stack(clients, aws.stack_name)
    Path(path).write_text(render(operate.report_data(clients, refs)), encoding="utf-8")
    print(f"\nReport: {Path(path).resolve()}", file=out)


def demo_indicators(aws: Any, summary: dict[str, Any], count: int = 2) -> list[str]:
    """The first entries of the lists the run left ACTIVE in the stack's Region: one per list, in list order."""
    from threatfeed.guardduty import parse_s3_location

    picked: list[str] = []
    s3 = aws.client("s3")
    for item in (summary.get("regions") or {}).get(aws.stack_region, {}).get("lists", []):
        where = parse_s3_location(item.get("location") or "")
        if item.get("status") != "ACTIVE" or where is None or item.get("kind") == "trusted":
            continue
        body = s3.get_object(Bucket=where[0], Key=where[1])["Body"].read().decode("utf-8", "replace")
        entry = next((line.strip() for line in body.splitlines() if line.strip() and not line.startswith("#")), None)
        if entry and "/" not in entry and not entry.startswith("*."):
            picked.append(entry)
    return picked[:count]


def simulate_findings(aws: Any, summary: dict[str, Any], out: TextIO) -> None:
    """The demo's ending: GuardDuty sees two listed indicators, the sightings function records the findings, and
    ``threatfeed hits`` shows which feeds earned them."""
    from threatfeed import operate
    from threatfeed.cli.hits import collect, print_hits

    indicators = demo_indicators(aws, summary)
    if not indicators:
        print("\nNo ACTIVE list in the stack's Region: no finding to simulate.", file=out)
        return
    print(f"\nSimulating GuardDuty findings for {', '.join(indicators)}…", file=out)
    for indicator in indicators:
        found = aws.finding(indicator)
        outcomes = [(d.get("result") or {}).get("outcome") or d.get("error") for d in found.deliveries]
        print(f"  {indicator}: {found.reason}; sightings: {', '.join(map(str, outcomes)) or 'none'}", file=out)
    clients = operate.Clients(region=aws.stack_region)
    refs = operate.find_stack(clients, aws.stack_name)
    print("", file=out)
    print_hits(collect(clients, refs, since=30, feed=None), out)


def run_command(args: argparse.Namespace) -> int:
    if args.scenario:
        return scenario_command(args)
    from embedded_aws.runtime import EmbeddedAws

    execution = execution_input(args.input)
    regions = _regions(args)
    yours = _yours(args)
    out = sys.stdout
    print(f"Starting the embedded AWS (moto) with Regions {', '.join(regions)}…", file=out, flush=True)
    _describe_yours(yours, out)
    with EmbeddedAws(regions=regions, **yours) as aws:
        print(f"State machine {aws.stack.state_machine_arn}", file=out)
        print(f"Feeds served on {aws.feed_server.url('')}\n", file=out, flush=True)

        def show(event: dict[str, Any]) -> None:
            line = describe_event(event)
            if line:
                print(line, file=out, flush=True)

        result = aws.run(execution, on_event=show)
        print_summary(result, out)
        if result.status == "SUCCEEDED":
            simulate_findings(aws, result.output or {}, out)
        if args.report:
            write_report(aws, args.report, out)
    return 0 if result.status == "SUCCEEDED" else 1


def serve_command(args: argparse.Namespace) -> int:
    import threading

    from embedded_aws.runtime import EmbeddedAws

    regions = _regions(args)
    yours = _yours(args)
    _check_port_free(args.port)
    stop = threading.Event()
    _describe_yours(yours, sys.stdout)
    with EmbeddedAws(regions=regions, **yours) as aws:
        endpoint = aws.serve(port=args.port)
        print(f"Embedded AWS on {endpoint} (stack {aws.stack_name!r} in {aws.stack_region}). In another terminal:")
        print(f"  threatfeed start --endpoint-url {endpoint} --region {aws.stack_region}")
        print(f"  threatfeed history|status|feeds|report --endpoint-url {endpoint} --region {aws.stack_region}")
        print("Ctrl-C to stop.", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            print("\nStopping.")
    return 0


def _check_port_free(port: int) -> None:
    """A port in use is said before the embedded AWS starts (its server would only print a warning and serve
    nothing)."""
    import socket

    from threatfeed.cli.failures import CliError

    if port == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no conflict
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise CliError(
                f"port {port} on 127.0.0.1 is in use (another `threatfeed local serve`?): stop it, or pass --port 0 "
                "(a free port) or another port"
            ) from None


def scenario_command(args: argparse.Namespace) -> int:
    """One JSON line per run; exit 0 when every run was carried out, whatever its outcome."""
    from pathlib import Path

    from embedded_aws.scenario import ScenarioError, run_scenario
    from threatfeed.cli.failures import CliError

    if args.catalogue or args.secrets or args.input:
        raise CliError("--scenario brings its own feeds and inputs: leave out --catalogue, --secrets and --input")
    report = (lambda aws: write_report(aws, args.report, sys.stderr)) if args.report else None
    try:
        for result in run_scenario(Path(args.scenario), on_finish=report):
            print(json.dumps(result, sort_keys=True), flush=True)
    except ScenarioError as error:
        print(f"threatfeed: {error}", file=sys.stderr)
        return 2
    return 0


def post_finding(endpoint_url: str, region: str, indicator: str) -> dict[str, Any]:
    """Ask a running ``threatfeed local serve`` for a finding (a POST signed for GuardDuty, which moto's server
    routes to the embedded GuardDuty; see ``embedded_aws.guardduty.findings.FINDINGS_PATH``)."""
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from threatfeed.cli.failures import CliError
    from threatfeed.netpolicy import is_loopback_host

    if not is_loopback_host(urlsplit(endpoint_url).hostname or ""):
        raise CliError(
            f"--endpoint-url {endpoint_url} is not on this computer: `local finding` talks to the embedded AWS of "
            "`threatfeed local serve` only (in AWS, GuardDuty raises findings from real traffic)"
        )
    url = endpoint_url.rstrip("/") + "/embedded-aws/findings"
    request = AWSRequest(
        method="POST", url=url, data=json.dumps({"indicator": indicator}), headers={"Content-Type": "application/json"}
    )
    SigV4Auth(Credentials("testing", "testing"), "guardduty", region).add_auth(request)
    signed = request.body.encode() if isinstance(request.body, str) else request.body
    prepared = urllib.request.Request(url, data=signed, headers=dict(request.headers), method="POST")
    try:
        with urllib.request.urlopen(prepared, timeout=120) as answer:
            return dict(json.loads(answer.read()))
    except urllib.error.HTTPError as error:
        body = error.read().decode("utf-8", "replace")
        try:
            message = json.loads(body).get("message", body)
        except ValueError:
            message = body[:300]
        raise CliError(f"the embedded GuardDuty at {endpoint_url} refused the finding: {message}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CliError(
            f"nothing answers at {endpoint_url} ({reason}): start `threatfeed local serve` first, and pass its "
            "endpoint with --endpoint-url"
        ) from None


def finding_command(args: argparse.Namespace) -> int:
    """0 when a finding was raised and recorded as a sighting; 1 when GuardDuty raised nothing or it was not
    recorded (each said on stderr)."""
    result = post_finding(args.endpoint_url, args.region, args.indicator)
    out = sys.stdout
    if args.json:
        print(json.dumps(result), file=out)
    if not result.get("raised"):
        print(f"threatfeed: no finding for {args.indicator} in {args.region}: {result.get('reason')}", file=sys.stderr)
        return 1
    if not args.json:
        print(
            f"GuardDuty ({args.region}) raised {result.get('type')} for {args.indicator} from "
            f"{', '.join(result.get('lists') or [])}: finding {result.get('finding_id')} (count {result.get('count')})",
            file=out,
        )
    recorded = False
    for delivery in result.get("deliveries") or []:
        outcome = (delivery.get("result") or {}).get("outcome") if delivery.get("outcome") == "ok" else None
        if not args.json:
            what = f"sighting {outcome}" if outcome else f"{delivery.get('outcome')}: {delivery.get('error')}"
            feeds = (delivery.get("result") or {}).get("feeds") or []
            print(
                f"  → rule {delivery.get('rule')} → {delivery.get('function')}: {what}"
                + (f" (feeds: {', '.join(feeds) or 'none'})" if outcome else ""),
                file=out,
            )
        recorded = recorded or outcome in ("recorded", "updated", "duplicate")
    if not result.get("deliveries"):
        print(
            f"threatfeed: no EventBridge rule in {args.region} took the finding: the stack's rule sees its own Region "
            "only (forward GuardDuty findings from other Regions to it, see docs/ARCHITECTURE.md)",
            file=sys.stderr,
        )
    elif not recorded:
        print("threatfeed: the finding was not recorded as a sighting (see above)", file=sys.stderr)
    return 0 if recorded else 1

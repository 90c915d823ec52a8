"""Scan the SAM template with checkov: as written, and as the CloudFormation SAM turns it into.

    python tools/security_scan.py [--checkov PATH] [--verbose] [TEMPLATE]

``make security`` runs it with the checkov of its own virtualenv (``.venv/tools``, pinned by
``tools/requirements-security.txt``; checkov's pins conflict with aws-sam-cli's, so it cannot live in ``.venv``).

Two files are scanned in one checkov run (framework ``cloudformation``, offline: ``--skip-download``):

1. ``TEMPLATE`` itself: checkov knows the ``AWS::Serverless::*`` types, but not what SAM generates;
2. its SAM transform (``samtranslator``, offline, as ``embedded_aws.stack.transform``): the IAM roles SAM
   makes from each ``Policies`` (checkov's IAM checks), ``AWS::Lambda::Function`` with ``Globals`` applied,
   the schedule and the rule.

Suppressions live only in the template, inline, each with its reason::

    Metadata:
      checkov:
        skip:
          - id: CKV_AWS_116
            comment: why this check does not apply here

SAM copies a function's ``Metadata`` to the ``AWS::Lambda::Function`` it generates, so one entry covers both
files. The scan fails (exit 1) on any failed check, any suppression without a reason, any parsing error, or
a file checkov read no resource from; 2 means checkov could not be run.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

#: A reason shorter than this is not a reason.
MIN_REASON = 20
#: What checkov records when a skip has no comment.
NO_COMMENT = {"", "no comment provided"}


def transformed_template(template_path: Path) -> dict[str, Any]:
    """The plain CloudFormation ``sam deploy`` would create (local code and definition paths as S3 URIs)."""
    from embedded_aws.stack import load_template, transform

    template = copy.deepcopy(load_template(template_path))
    for logical_id, resource in (template.get("Resources") or {}).items():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = f"s3://packaged/{logical_id}.zip"
        if resource.get("Type") == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            props["DefinitionUri"] = f"s3://packaged/{logical_id}.asl.json"
    return transform(template, region="us-east-1", parameters={})


def run_checkov(checkov: str, files: list[Path]) -> list[dict[str, Any]]:
    """checkov's JSON reports for ``files`` (one per framework; only cloudformation here)."""
    command = [checkov, "--framework", "cloudformation", "--output", "json", "--skip-download", "--compact"]
    for path in files:
        command += ["--file", str(path)]
    env = dict(os.environ)
    env.pop("BC_API_KEY", None)  # never the Prisma Cloud platform: local policies only, nothing uploaded
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    # checkov exits 1 when a check fails; anything it could not do shows as missing or non-JSON output
    try:
        output = json.loads(done.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"security_scan: checkov gave no JSON report (exit {done.returncode})") from None
    reports = output if isinstance(output, list) else [output]
    # no resource at all: checkov prints an empty summary instead of a report
    return [r for r in reports if isinstance(r, dict) and "results" in r]


def describe(check: dict[str, Any], labels: dict[str, str]) -> str:
    lines = check.get("file_line_range") or ["?", "?"]
    name = Path(check["file_path"]).name
    return f"{check['check_id']} {check['resource']} ({labels.get(name, name)}, lines {lines[0]}-{lines[1]})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template", nargs="?", default=str(ROOT / "template.yaml"))
    parser.add_argument("--checkov", default=os.environ.get("CHECKOV") or shutil.which("checkov"))
    parser.add_argument("--verbose", action="store_true", help="list every suppression with its reason")
    args = parser.parse_args(argv)
    template_path = Path(args.template).resolve()
    if not args.checkov or not Path(args.checkov).exists():
        print("security_scan: checkov not found: run `make security` (it installs checkov in .venv/tools)")
        return 2
    version = subprocess.run([args.checkov, "--version"], capture_output=True, text=True, check=False)

    with tempfile.TemporaryDirectory(prefix="security-scan-") as scratch:
        transformed_path = Path(scratch) / f"{template_path.stem}.transformed.json"
        transformed_path.write_text(json.dumps(transformed_template(template_path), indent=1), encoding="utf-8")
        # checkov reports paths relative to the directory each --file is in: name them by role
        labels = {
            template_path.name: template_path.name,
            transformed_path.name: "SAM-transformed " + template_path.name,
        }
        reports = run_checkov(args.checkov, [template_path, transformed_path])

    passed: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    parsing_errors: list[str] = []
    for report in reports:
        results = report["results"]
        passed += results.get("passed_checks", [])
        failed += results.get("failed_checks", [])
        skipped += results.get("skipped_checks", [])
        parsing_errors += results.get("parsing_errors", [])

    problems: list[str] = []
    print(f"checkov {version.stdout.strip()} (framework cloudformation)")
    for name, label in labels.items():
        counts = [sum(1 for c in group if Path(c["file_path"]).name == name) for group in (passed, failed, skipped)]
        print(f"  {label}: {counts[0]} passed, {counts[1]} failed, {counts[2]} skipped")
        if not any(counts):
            problems.append(f"{label}: checkov found no resource to check")
    problems += [f"parsing error: {e}" for e in parsing_errors]
    problems += [f"FAILED {describe(c, labels)}: {c['check_name']}" for c in failed]

    reasons: dict[tuple[str, str], list[str]] = defaultdict(list)
    for check in skipped:
        comment = (check.get("check_result") or {}).get("suppress_comment") or ""
        if comment.strip().lower() in NO_COMMENT or len(comment.strip()) < MIN_REASON:
            problems.append(f"suppression without a reason: {describe(check, labels)}")
            continue
        reasons[(check["check_id"], " ".join(comment.split()))].append(check["resource"].split(".")[-1])
    for (check_id, comment), where in sorted(reasons.items()):
        names = sorted(set(where))
        print(f"  skipped {check_id} on {', '.join(names)} ({len(where)} result(s))")
        if args.verbose:
            print(f"      reason: {comment}")

    for problem in problems:
        print(f"  {problem}")
    print("security_scan: " + ("FAILED" if problems else "OK"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

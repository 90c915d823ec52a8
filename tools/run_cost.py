"""What one run costs, measured from a real execution on the embedded AWS.

    python tools/run_cost.py [--feeds N] [--regions R] [--failing F]

Runs one execution with N copies of the sample blocklist feed (a fraction F of them answering 500) over R Regions,
then prices it: Step Functions Standard bills state transitions (every state entered, retries included, in the
execution and in the child executions its Distributed Map starts, one per feed); Lambda bills requests and
GB-seconds (duration x the function's MemorySize from template.yaml). Durations are this machine's in-process
handler times, a stand-in for Lambda's on arm64: read them as an order of magnitude.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from embedded_aws.runtime import EmbeddedAws

# us-east-1 list prices (USD), November 2026.
PRICE_PER_TRANSITION = 0.025 / 1000
PRICE_PER_GB_SECOND_ARM = 0.0000133334
PRICE_PER_REQUEST = 0.20 / 1_000_000
REGIONS = [
    "us-east-1",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
    "us-west-2",
    "ap-northeast-1",
    "us-east-2",
    "us-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "ap-southeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ca-central-1",
    "sa-east-1",
]


@dataclass(frozen=True)
class RunCost:
    transitions: int  # the execution's own state transitions
    child_transitions: int  # those of the child executions its Distributed Map started
    invocations: int
    gb_seconds: float

    @property
    def transitions_cost(self) -> float:
        return (self.transitions + self.child_transitions) * PRICE_PER_TRANSITION

    @property
    def lambda_cost(self) -> float:
        return self.gb_seconds * PRICE_PER_GB_SECOND_ARM + self.invocations * PRICE_PER_REQUEST

    @property
    def total(self) -> float:
        return self.transitions_cost + self.lambda_cost

    def lines(self) -> list[str]:
        return [
            f"state transitions: {self.transitions} + {self.child_transitions} in child executions "
            f"-> ${self.transitions_cost:.6f}",
            f"Lambda invocations: {self.invocations}, {self.gb_seconds:.3f} GB-s -> ${self.lambda_cost:.6f}",
            f"one run: ${self.total:.6f}; a run every 6 days: ${self.total * 365 / 6:.4f} a year (before free tiers)",
        ]


def run_cost(events: Sequence[Mapping[str, Any]], child_transitions: int, invocations: Iterable[Any]) -> RunCost:
    """The price of an execution from its history, its map runs' child transitions and the Lambda invocations."""
    calls = list(invocations)
    return RunCost(
        transitions=sum(1 for e in events if str(e["type"]).endswith("StateEntered")),
        child_transitions=child_transitions,
        invocations=len(calls),
        gb_seconds=sum(i.gb_seconds for i in calls),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=3)
    parser.add_argument("--regions", type=int, default=2, choices=range(1, len(REGIONS) + 1), metavar="R")
    parser.add_argument("--failing", type=float, default=0.0, help="fraction of the feeds that answer 500")
    args = parser.parse_args(argv)
    failing = set(range(args.feeds - round(args.feeds * args.failing), args.feeds))  # the last ones

    def catalogue(server: Any, _secret: str) -> dict[str, Any]:
        urls = [server.url("/failing.txt" if i in failing else "/samples/blocklist.txt") for i in range(args.feeds)]
        return {
            "feeds": [
                {"name": f"list-{i}", "type": "http_list", "url": url, "format": "txt"} for i, url in enumerate(urls)
            ]
        }

    with EmbeddedAws(regions=REGIONS[: args.regions], catalogue=catalogue, retry_sleep=False) as aws:
        aws.feed_server.set_route("/failing.txt", status=500, body=b"upstream broke")
        result = aws.run(timeout=3600)
        cost = run_cost(result.events, aws.map_runs.transitions(result.arn), aws.registry.invocations)
    print(f"execution: {result.status}, {args.feeds} feeds ({len(failing)} failing), {args.regions} Regions")
    for line in cost.lines():
        print(line)
    return 0 if result.status == "SUCCEEDED" or failing else 1


if __name__ == "__main__":
    sys.exit(main())

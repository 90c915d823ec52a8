"""What one run costs, measured from a real execution on the embedded AWS.

    python tools/run_cost.py [--feeds N] [--regions R]

Runs one execution with N copies of the sample blocklist feed over R Regions, then prices it:
Step Functions Standard bills state transitions (every state entered, retries included); Lambda bills
requests and GB-seconds (duration x the function's MemorySize from template.yaml). Durations are this
machine's in-process handler times, a stand-in for Lambda's on arm64: read them as an order of magnitude.
"""

from __future__ import annotations

import argparse
import sys

from embedded_aws.runtime import EmbeddedAws

# us-east-1 list prices (USD), November 2026.
PRICE_PER_TRANSITION = 0.025 / 1000
PRICE_PER_GB_SECOND_ARM = 0.0000133334
PRICE_PER_REQUEST = 0.20 / 1_000_000
REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2", "us-west-2", "ap-northeast-1"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=3)
    parser.add_argument("--regions", type=int, default=2)
    args = parser.parse_args(argv)

    def catalogue(server, _secret):
        return {
            "feeds": [
                {"name": f"list-{i}", "type": "http_list", "url": server.url("/samples/blocklist.txt"), "format": "txt"}
                for i in range(args.feeds)
            ]
        }

    with EmbeddedAws(
        regions=REGIONS[: args.regions],
        catalogue=catalogue,
        retry_sleep=False,
    ) as aws:
        result = aws.run()
        transitions = sum(1 for e in result.events if e["type"].endswith("StateEntered"))
        invocations = list(aws.registry.invocations)
    gb_seconds = sum(i.gb_seconds for i in invocations)
    cost = transitions * PRICE_PER_TRANSITION + gb_seconds * PRICE_PER_GB_SECOND_ARM
    cost += len(invocations) * PRICE_PER_REQUEST
    print(f"execution: {result.status}, {args.feeds} feeds, {args.regions} Regions")
    print(f"state transitions: {transitions}  -> ${transitions * PRICE_PER_TRANSITION:.6f}")
    print(
        f"Lambda invocations: {len(invocations)}, {gb_seconds:.3f} GB-s -> ${gb_seconds * PRICE_PER_GB_SECOND_ARM:.6f}"
    )
    print(f"one run: ${cost:.6f}; a run every 6 days: ${cost * 365 / 6:.4f} a year (before free tiers)")
    return 0 if result.status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())

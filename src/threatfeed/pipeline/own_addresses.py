"""Your own addresses are never threats: the account's public IPv4 addresses, found in every publish Region.

GuardDuty lists apply to every member account; a feed that lists one of the administrator account's Elastic IPs or
NAT gateways (a honeypot feed that saw your scanner, an address that was someone else's last month) would turn
your own traffic into findings. With ``DiscoverOwnAddresses`` (default on) the plan asks EC2, read-only, in each
of the stack's Regions (``ec2:DescribeAddresses``, ``ec2:DescribeNatGateways``; neither supports resource-level
permissions) and passes what it found to the transform, which allow-lists it like ``AllowList`` entries.

Only the account the stack runs in is looked at: member accounts' addresses need their own ``AllowList`` entries
(or a user warninglist). A Region where EC2 refuses the calls (an SCP, an opted-out Region) is reported in the run
and skipped; throttling and outages are raised, for the state machine to retry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from threatfeed.aws import aws_errors
from threatfeed.errors import AwsAccessDenied


def discover(regions: Iterable[str], client: Callable[[str, str], Any]) -> tuple[list[str], list[str]]:
    """``(addresses, problems)``: the public IPv4 addresses of the account's Elastic IPs and NAT gateways in
    ``regions`` (sorted, unique), and a line per Region that could not be read. ``client(service, region)``
    makes the EC2 clients."""
    found: set[str] = set()
    problems: list[str] = []
    for region in regions:
        ec2 = client("ec2", region)
        try:
            with aws_errors(f"EC2 in {region}"):
                for address in ec2.describe_addresses().get("Addresses", ()):
                    if address.get("PublicIp"):
                        found.add(address["PublicIp"])
                for page in ec2.get_paginator("describe_nat_gateways").paginate():
                    for gateway in page.get("NatGateways", ()):
                        if gateway.get("State") in ("deleted", "failed"):
                            continue
                        found.update(a["PublicIp"] for a in gateway.get("NatGatewayAddresses", ()) if a.get("PublicIp"))
        except AwsAccessDenied as error:
            problems.append(f"{region}: own addresses not looked up ({error})")
    return sorted(found, key=_ip_key), problems


def _ip_key(address: str) -> tuple[int, ...]:
    return tuple(int(part) for part in address.split("."))

"""Signal, not noise, on the embedded AWS: a feed that turns largely benign is held back like a failed feed (its last
good contribution kept, the run notifies, the other feeds publish), and the account's own addresses are never
listed."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from test_guards_end_to_end import Alerts, catalogue_of, list_body, published_list

from embedded_aws.runtime import EmbeddedAws
from threatfeed.engine import warninglists as W


def addresses(count: int, second: int) -> list[str]:
    """``count`` made-up addresses no warninglist holds (45.<second>.x.1)."""
    return [f"45.{second + i // 250}.{i % 250}.1" for i in range(count)]


def resolvers(count: int) -> list[str]:
    """``count`` public DNS resolvers from the MISP warninglist itself."""
    rows = W._archive()[0]["ip:public-dns-v4"]
    singles = [int(start) for start, end in rows.tolist() if start == end]
    return [str(ipaddress.IPv4Address(a)) for a in singles[:count]]


def body(*parts: list[str]) -> bytes:
    return "".join(f"{line}\n" for part in parts for line in part).encode()


@contextmanager
def two_feeds(**parameters: str) -> Iterator[tuple[EmbeddedAws, Alerts]]:
    catalogue = catalogue_of({"main": {}, "other": {}})
    with EmbeddedAws(regions=("us-east-1",), catalogue=catalogue, parameters=parameters, retry_sleep=False) as aws:
        yield aws, Alerts(aws)


def listed(aws: EmbeddedAws) -> set[str]:
    return set(list_body(aws, published_list(aws)).decode().split())


def manifest(aws: EmbeddedAws, result: Any) -> dict[str, Any]:
    """The run's manifest (a failed run names it in its cause)."""
    where = result.output["manifest"] if result.output else re.search(r"s3://\S+?\.json", result.cause).group(0)
    bucket, _, key = where.removeprefix("s3://").partition("/")
    return json.loads(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_a_feed_turning_40_percent_benign_keeps_its_last_good_contribution_and_notifies() -> None:
    good, other = addresses(99, 10), addresses(20, 90)
    with two_feeds() as (aws, alerts):
        aws.feed_server.set_route("/main", body=body(good, resolvers(1)))  # 1 % benign: the usual noise
        aws.feed_server.set_route("/other", body=body(other))
        first = aws.run()
        assert first.status == "SUCCEEDED" and first.output["feeds"]["main"]["benign"] == 0.01
        assert listed(aws) == set(good) | set(other)
        alerts.received()

        # main now sends 60 new addresses and 40 resolvers; other has news too
        fresh, other_news = addresses(60, 50), addresses(5, 120)
        aws.feed_server.set_route("/main", body=body(fresh, resolvers(40)))
        aws.feed_server.set_route("/other", body=body(other, other_news))
        poisoned = aws.run()

        assert poisoned.status == "FAILED" and poisoned.error == "FeedsFailed"
        assert "main: PoisonedFeed: poisoned feed: main is 40.0% benign" in poisoned.cause
        assert "against 1.0% in the last published run" in poisoned.cause
        now = listed(aws)
        assert set(good) <= now and not set(fresh) & now  # main's last good contribution, not the poisoned body
        assert set(other_news) <= now  # the other feed was published
        assert not set(resolvers(40)) & now
        (notification,) = alerts.received()
        assert "FeedsFailed" in notification["Message"] and "poisoned feed: main" in notification["Message"]
        record = manifest(aws, poisoned)
        assert [p["feeds"] for p in record["poisoned"]] == [["main"]]
        assert record["engine"]["feeds"]["main"]["reasons"]["warninglist:public-dns-v4"] == 40
        assert record["benign"]["main"] == {"benign": 40, "values": 100}

        # still poisoned next run: held again (the baseline stays the last good share)
        assert aws.run().error == "FeedsFailed"
        alerts.received()

        # recovered: published
        aws.feed_server.set_route("/main", body=body(fresh, resolvers(1)))
        recovered = aws.run()
        assert recovered.status == "SUCCEEDED" and set(fresh) <= listed(aws)


def test_a_forced_run_takes_a_poisoned_feed_as_it_is() -> None:
    with two_feeds() as (aws, _alerts):
        aws.feed_server.set_route("/main", body=body(addresses(99, 10), resolvers(1)))
        aws.feed_server.set_route("/other", body=body(addresses(20, 90)))
        aws.run()
        fresh = addresses(60, 50)
        aws.feed_server.set_route("/main", body=body(fresh, resolvers(40)))
        forced = aws.run({"trigger": "urgent", "force": True})
        assert forced.status == "SUCCEEDED" and set(fresh) <= listed(aws)
        assert forced.output["feeds"]["main"]["benign"] == 0.4  # the new baseline


def test_the_poisoned_feed_guard_can_be_switched_off() -> None:
    with two_feeds(MaxBenignJumpPercent="0") as (aws, _alerts):
        aws.feed_server.set_route("/main", body=body(addresses(99, 10), resolvers(1)))
        aws.feed_server.set_route("/other", body=body(addresses(20, 90)))
        aws.run()
        aws.feed_server.set_route("/main", body=body(addresses(60, 50), resolvers(40)))
        assert aws.run().status == "SUCCEEDED"


def own_addresses(aws: EmbeddedAws) -> tuple[str, str]:
    """An Elastic IP in us-east-1 and a NAT gateway's address in eu-west-1, in the stack's account (moto would
    allocate 127.x.x.x, a bogon the engine drops anyway: the addresses are given, as BYOIP does)."""
    east = aws.client("ec2", "us-east-1")
    eip = east.allocate_address(Domain="vpc", Address="45.77.1.2")["PublicIp"]
    west = aws.client("ec2", "eu-west-1")
    vpc = west.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = west.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    allocation = west.allocate_address(Domain="vpc", Address="45.78.2.3")
    west.create_nat_gateway(SubnetId=subnet, AllocationId=allocation["AllocationId"])
    return eip, allocation["PublicIp"]


@pytest.mark.parametrize("discover", ["true", "false"])
def test_the_accounts_own_elastic_ips_and_nat_gateways_are_never_listed(discover: str) -> None:
    catalogue = catalogue_of({"main": {}})
    with EmbeddedAws(
        regions=("us-east-1", "eu-west-1"),
        catalogue=catalogue,
        parameters={"DiscoverOwnAddresses": discover},
        retry_sleep=False,
    ) as aws:
        eip, nat = own_addresses(aws)
        threats = addresses(10, 10)
        aws.feed_server.set_route("/main", body=body(threats, [eip, nat]))
        result = aws.run()

        assert result.status == "SUCCEEDED"
        now = listed(aws)
        assert set(threats) <= now
        if discover == "true":
            assert eip not in now and nat not in now
            record = manifest(aws, result)
            assert record["run"]["own_addresses"] == sorted([eip, nat], key=lambda a: tuple(map(int, a.split("."))))
            assert record["engine"]["feeds"]["main"]["reasons"]["allow_listed"] == 2
        else:
            assert {eip, nat} <= now


def test_a_users_own_warninglist_in_the_bucket_is_applied_and_counted_under_its_name() -> None:
    catalogue = catalogue_of({"main": {}})
    with EmbeddedAws(regions=("us-east-1",), catalogue=catalogue, retry_sleep=False) as aws:
        aws.client("s3").put_object(
            Bucket=aws.stack.bucket, Key="config/warninglists/partners.txt", Body=b"# our partners\n45.10.0.0/16\n"
        )
        threats = addresses(300, 10)  # 45.10.0.1 .. 45.11.49.1: the first 250 are the partners'
        aws.feed_server.set_route("/main", body=body(threats))
        result = aws.run()

        assert result.status == "SUCCEEDED"
        assert listed(aws) == set(threats[250:])
        record = manifest(aws, result)
        assert record["engine"]["feeds"]["main"]["reasons"]["warninglist:custom/partners"] == 250
        assert record["engine"]["warninglists"]["suppressed"] == {"custom/partners": 250}

"""An urgent run of one feed (``threatfeed start --urgent --feeds NAME``) keeps every other feed's entries: they
are not fetched, and not dropped either."""

from __future__ import annotations

import ipaddress
from typing import Any

from embedded_aws.runtime import EmbeddedAws


def _two_feeds(server: Any, _secret: str) -> dict[str, Any]:
    return {
        "feeds": [
            {"name": "first", "type": "http_list", "url": server.url("/first.txt"), "format": "txt"},
            {"name": "second", "type": "http_list", "url": server.url("/second.txt"), "format": "txt"},
        ]
    }


def _listed(aws: EmbeddedAws) -> set[str]:
    s3 = aws.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=aws.stack.bucket, Prefix="lists/ip/").get("Contents", [])]
    newest = max(keys, key=lambda k: s3.head_object(Bucket=aws.stack.bucket, Key=k)["LastModified"])
    entries = s3.get_object(Bucket=aws.stack.bucket, Key=newest)["Body"].read().decode().split()
    return {str(address) for entry in entries for address in ipaddress.ip_network(entry)}


def test_an_urgent_run_of_one_feed_keeps_the_other_feeds_entries() -> None:
    with EmbeddedAws(regions=("us-east-1",), catalogue=_two_feeds, retry_sleep=False) as aws:
        aws.feed_server.set_route("/first.txt", body=b"45.10.0.1\n45.10.0.2\n")
        aws.feed_server.set_route("/second.txt", body=b"45.20.0.1\n45.20.0.2\n")
        first = aws.run()
        assert first.status == "SUCCEEDED", (first.error, first.cause)

        aws.feed_server.set_route("/first.txt", body=b"45.10.0.1\n45.10.0.2\n45.10.0.3\n")
        urgent = aws.run({"trigger": "urgent", "feeds": ["first"]})

        assert urgent.status == "SUCCEEDED", (urgent.error, urgent.cause)
        listed = _listed(aws)
        assert {"45.10.0.3", "45.20.0.1", "45.20.0.2"} <= listed, listed

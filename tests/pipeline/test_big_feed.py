"""A feed far larger than a Lambda would hold twice goes through the real fetch and transform on the embedded AWS.

The body (200 MB) is made on the fly by the loopback feed server and is never held whole by the test: the fetch
streams it into S3 as a multipart upload, hashing it on the way, and the transform parses it from the S3 stream
chunk by chunk. Before issue 14 the fetch refused any body over 64 MiB (the run ended ``FeedsFailed``).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from embedded_aws.runtime import EmbeddedAws

FEED = "big-list"
TARGET_BYTES = 200_000_000


def _block() -> bytes:
    """One block of the body: 20,000 distinct addresses of 11.0.0.0-99.255.255.255, one a line."""
    rnd = random.Random(14)

    def octets() -> tuple[int, int, int, int]:
        return (rnd.randint(11, 99), rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(1, 254))

    pool = {".".join(map(str, octets())) for _ in range(20_000)}
    return ("\n".join(sorted(pool)) + "\n").encode("ascii")


BLOCK = _block()
BLOCKS = TARGET_BYTES // len(BLOCK) + 1
SIZE = BLOCKS * len(BLOCK)
LINES = BLOCKS * BLOCK.count(b"\n")


def _chunks() -> Iterator[bytes]:
    """The body, 64 blocks (~1 MB) at a time."""
    for start in range(0, BLOCKS, 64):
        yield BLOCK * min(64, BLOCKS - start)


@pytest.fixture
def big_feed() -> Iterator[EmbeddedAws]:
    def catalogue(server: Any, _stack_secret: str) -> dict[str, Any]:
        return {"feeds": [{"name": FEED, "type": "http_list", "url": server.url("/big.txt"), "format": "txt"}]}

    with EmbeddedAws(regions=("us-east-1",), retry_sleep=False, catalogue=catalogue) as aws:
        aws.feed_server.set_generated("/big.txt", _chunks, SIZE, {"Content-Type": "text/plain"})
        yield aws


def test_a_200_mb_feed_is_streamed_through_fetch_and_transform(big_feed: EmbeddedAws) -> None:
    result = big_feed.run({"trigger": "manual"}, timeout=600)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    feed = result.output["feeds"][FEED]
    assert feed["accepted"] + feed["rejected"] == LINES
    assert feed["accepted"] > 0
    s3 = big_feed.client("s3")
    key = f"raw/{result.name}/{FEED}"
    head = s3.head_object(Bucket=big_feed.stack.bucket, Key=key)
    assert head["ContentLength"] == SIZE
    assert head["ETag"].strip('"').endswith(f"-{-(-SIZE // (8 * 1024 * 1024))}")  # a multipart upload, 8 MiB parts
    assert not s3.list_multipart_uploads(Bucket=big_feed.stack.bucket).get("Uploads")
    digest = hashlib.sha256()
    for chunk in _chunks():
        digest.update(chunk)
    manifest_key = result.output["manifest"].split("/", 3)[3]
    manifest = json.loads(s3.get_object(Bucket=big_feed.stack.bucket, Key=manifest_key)["Body"].read())
    (fetched,) = manifest["fetched"]
    assert (fetched["bytes"], fetched["sha256"]) == (SIZE, digest.hexdigest())
    ip_list = next(item for item in manifest["lists"] if item["kind"] == "ip")
    assert 0 < ip_list["entries"] <= BLOCK.count(b"\n")


@pytest.fixture
def refused_feeds() -> Iterator[EmbeddedAws]:
    """Two large bodies the fetch refuses only once it has streamed parts of them: an HTML page (the format check
    reads its head after the download) and a list over the feed's size cap."""

    def catalogue(server: Any, _stack_secret: str) -> dict[str, Any]:
        return {
            "feeds": [
                {"name": "html-page", "type": "http_list", "url": server.url("/page.txt"), "format": "txt"},
                {
                    "name": "over-cap",
                    "type": "http_list",
                    "url": server.url("/over.txt"),
                    "format": "txt",
                    "options": {"max_bytes": 20 * 1024 * 1024},
                },
            ]
        }

    page = b"<html><body>" + b"<p>sign in to continue</p>\n" * 700_000 + b"</body></html>\n"
    with EmbeddedAws(regions=("us-east-1",), retry_sleep=False, catalogue=catalogue) as aws:
        aws.feed_server.set_generated("/page.txt", lambda: [page], len(page), {"Content-Type": "text/plain"})
        aws.feed_server.set_generated("/over.txt", lambda: (BLOCK for _ in range(100)), 100 * len(BLOCK))
        yield aws


def test_a_large_body_refused_mid_stream_leaves_no_object_and_no_open_upload(refused_feeds: EmbeddedAws) -> None:
    result = refused_feeds.run({"trigger": "manual"}, timeout=300)

    fetched = result.output["feeds"] if result.output else {}
    causes = json.dumps([fetched, result.cause], default=str)
    assert "HTML page" in causes and "cap" in causes, causes
    s3 = refused_feeds.client("s3")
    bucket = refused_feeds.stack.bucket
    assert not s3.list_objects_v2(Bucket=bucket, Prefix=f"raw/{result.name}/").get("Contents")
    # The fetch role aborted its multipart uploads (s3:AbortMultipartUpload), under IAM as AWS enforces it.
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")

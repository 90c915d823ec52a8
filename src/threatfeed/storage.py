"""The one S3 layout of threatfeed, and the few S3 operations the stages share.

Lists are stored content-addressed (``lists/<kind>/<sha256>.txt``): an object GuardDuty points at is never
overwritten or deleted by a later run, so a concurrent or failed run can never leave a Region pointing at a
missing or half-written list. Everything else is keyed by the execution name, which Step Functions keeps
unique, so two runs never write the same key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from threatfeed.aws import aws_errors

RAW_PREFIX = "raw/"
LISTS_PREFIX = "lists/"
MANIFESTS_PREFIX = "manifests/"
STATE_PREFIX = "state/"
CONFIG_PREFIX = "config/"

CATALOGUE_KEY = f"{CONFIG_PREFIX}catalogue.json"
"""The feed catalogue. Yours, not the stack's: no stack update rewrites it (the plan seeds it once, when it is
missing), the bucket's versioning keeps every earlier version, and an object has room for thousands of feeds."""


def raw_key(run_id: str, feed: str) -> str:
    """Where a feed's body, exactly as downloaded, is kept for this run."""
    return f"{RAW_PREFIX}{run_id}/{feed}"


def list_key(kind: str, sha256: str) -> str:
    """Where a list's content lives: the key is derived from the content, so it is immutable."""
    return f"{LISTS_PREFIX}{kind}/{sha256}.txt"


def manifest_key(run_id: str) -> str:
    """The run's manifest: what went in, what was rejected and why, what came out."""
    return f"{MANIFESTS_PREFIX}{run_id}.json"


ENGINE_STATE_KEY = f"{STATE_PREFIX}engine.json"
"""Indicator provenance kept across runs (aging, last good contribution of each feed)."""


def cursor_key(feed: str) -> str:
    """Where an incremental feed's position (e.g. TAXII ``added_after``) is kept between runs."""
    return f"{STATE_PREFIX}cursors/{feed}.json"


def published_key(kind: str, index: int) -> str:
    """Pointer to the last list of this kind and slot that GuardDuty was told to use."""
    return f"{STATE_PREFIX}published-{kind}-{index}.json"


HISTORY_KEY = f"{STATE_PREFIX}history.json"
"""The last published runs as the guards remember them: per list entries and covered addresses, per feed its
contribution and overlap (the drift and flapping guards' baseline)."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class S3Pointer:
    """A small reference to an S3 object, safe to pass in a state payload."""

    bucket: str
    key: str
    version_id: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"bucket": self.bucket, "key": self.key}
        if self.version_id:
            out["version_id"] = self.version_id
        return out


class Store:
    """The data bucket, through an S3 client the caller supplies (so tests and Lambdas share one code path)."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self.bucket = bucket

    @property
    def client(self) -> Any:
        return self._s3

    def put_bytes(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> S3Pointer:
        with aws_errors(f"S3 bucket {self.bucket}"):
            response = self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata or {}
            )
        return S3Pointer(self.bucket, key, response.get("VersionId"))

    def put_json(self, key: str, document: Any) -> S3Pointer:
        body = json.dumps(document, indent=1, sort_keys=True, default=str).encode()
        return self.put_bytes(key, body, content_type="application/json")

    def get_bytes(self, key: str, version_id: str | None = None) -> bytes:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        with aws_errors(f"S3 bucket {self.bucket}"):
            return self._s3.get_object(**kwargs)["Body"].read()

    def get_text(self, key: str) -> str | None:
        """The UTF-8 text at ``key``, or None when there is none."""
        try:
            return self.get_bytes(key).decode("utf-8")
        except self._s3.exceptions.NoSuchKey:
            return None

    def put_bytes_if_absent(self, key: str, body: bytes, *, content_type: str = "application/octet-stream") -> bool:
        """Write ``body`` only if nothing is at ``key`` yet (S3 conditional write); False when something was."""
        from botocore.exceptions import ClientError

        try:
            with aws_errors(f"S3 bucket {self.bucket}"):
                self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, IfNoneMatch="*")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def get_json(self, key: str, default: Any = None) -> Any:
        """The JSON document at ``key``, or ``default`` when there is none yet."""
        try:
            return json.loads(self.get_bytes(key))
        except self._s3.exceptions.NoSuchKey:
            return default

    def exists(self, key: str) -> bool:
        try:
            with aws_errors(f"S3 bucket {self.bucket}"):
                self._s3.head_object(Bucket=self.bucket, Key=key)
        except self._s3.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True


def region_pointer_key(region: str, name: str) -> str:
    """What the list ``name`` in ``region`` was last pointed at, and by which run (its generation)."""
    return f"{STATE_PREFIX}regions/{region}/{name}.json"


def lease_key(region: str) -> str:
    return f"locks/publish-{region}.json"


class LeaseHeld(Exception):
    """Another run holds the Region's publish lease."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class RegionLease:
    """A short lease on publishing to one Region, taken with S3 conditional writes.

    Two executions can run at once (the schedule and an urgent run). GuardDuty has no conditional update, so
    the read-compare-update of a Region's lists happens under this lease: the lease object is created with
    ``If-None-Match: *``; an expired lease (its holder died) is taken over with ``If-Match`` on its ETag.
    """

    def __init__(self, s3_client: Any, bucket: str, region: str, holder: str, *, seconds: int, now: float) -> None:
        self._s3 = s3_client
        self._bucket = bucket
        self._key = lease_key(region)
        self._holder = holder
        self._seconds = seconds
        self._now = now
        self._etag: str | None = None

    def _put(self, **condition: str) -> None:
        body = json.dumps({"holder": self._holder, "expires": self._now + self._seconds}).encode()
        self._etag = self._s3.put_object(Bucket=self._bucket, Key=self._key, Body=body, **condition).get("ETag")

    def __enter__(self) -> RegionLease:
        from botocore.exceptions import ClientError

        try:
            self._put(IfNoneMatch="*")
            return self
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
        current = self._s3.get_object(Bucket=self._bucket, Key=self._key)
        lease = json.loads(current["Body"].read())
        if lease.get("expires", 0) > self._now:
            raise LeaseHeld(str(lease.get("holder")))
        try:
            self._put(IfMatch=current["ETag"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise LeaseHeld("another run taking over an expired lease") from error
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        """Release the lease only if it is still ours: ``If-Match`` on the ETag we wrote. A run that overran its
        lease may have been taken over; deleting unconditionally would remove the successor's lease. (The delete
        markers releases leave in the versioned bucket are expired by the bucket's ``locks/`` lifecycle rule.)"""
        from botocore.exceptions import ClientError

        if not self._etag:
            return
        try:
            self._s3.delete_object(Bucket=self._bucket, Key=self._key, IfMatch=self._etag)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code not in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "404"):
                raise

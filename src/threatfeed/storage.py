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
from typing import IO, Any

from threatfeed.aws import aws_errors

RAW_PREFIX = "raw/"
LISTS_PREFIX = "lists/"
MANIFESTS_PREFIX = "manifests/"
STATE_PREFIX = "state/"
CONFIG_PREFIX = "config/"

CATALOGUE_KEY = f"{CONFIG_PREFIX}catalogue.json"
#: A user's own warninglists: ``config/warninglists/<name>.txt``, one CIDR, range, address or name a line, each
#: applied like a MISP warninglist and counted as ``custom/<name>`` (threatfeed.engine.warninglists).
WARNINGLISTS_PREFIX = f"{CONFIG_PREFIX}warninglists/"
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


RUNS_PREFIX = "runs/"
"""A run's working documents, which keep its state payloads the same size whatever the number of feeds: the feed
items the fetch fan-out reads (``ItemReader``), and the full transform result and summary (the execution history
carries pointers and counts)."""

FETCHED_PREFIX = "fetched/"
"""Where the fetch Map's ``ResultWriter`` writes the child executions' results: Step Functions adds the map run's
id, ``fetched/<map run id>/manifest.json``, and the ``SUCCEEDED_n.json``/``FAILED_n.json``/``PENDING_n.json``
files it names. A fixed prefix (the state machine names it, and its role may write there only)."""


def run_items_key(run_id: str) -> str:
    """The run's feed items (a JSON array of catalogue entries): the Distributed Map's ``ItemReader`` reads it."""
    return f"{RUNS_PREFIX}{run_id}/feeds.json"


def transform_result_key(run_id: str) -> str:
    """The transform's whole result (per-feed counts and outcomes, every guard finding)."""
    return f"{RUNS_PREFIX}{run_id}/transform.json"


def summary_key(run_id: str) -> str:
    """The run's whole summary (every feed); the execution's output keeps counts and the failed feeds first."""
    return f"{RUNS_PREFIX}{run_id}/summary.json"


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
            body: bytes = self._s3.get_object(**kwargs)["Body"].read()
            return body

    def open_stream(self, key: str, version_id: str | None = None) -> IO[bytes]:
        """The object's body as a stream, read as it is consumed (a feed body of hundreds of megabytes is never
        held whole). The caller closes it."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        with aws_errors(f"S3 bucket {self.bucket}"):
            stream: IO[bytes] = self._s3.get_object(**kwargs)["Body"]
            return stream

    def upload(self, key: str, *, part_size: int = 8 * 1024 * 1024) -> S3Upload:
        """A streamed write of one object at ``key`` (see :class:`S3Upload`)."""
        return S3Upload(self, key, part_size=part_size)

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
        text = self.get_text(key)
        return default if text is None else json.loads(text)

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (sorted)."""
        out: list[str] = []
        with aws_errors(f"S3 bucket {self.bucket}"):
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                out.extend(item["Key"] for item in page.get("Contents", ()))
        return sorted(out)

    def exists(self, key: str) -> bool:
        try:
            with aws_errors(f"S3 bucket {self.bucket}"):
                self._s3.head_object(Bucket=self.bucket, Key=key)
        except self._s3.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True


#: Smallest part S3 accepts in a multipart upload (all parts but the last).
MIN_PART_SIZE = 5 * 1024 * 1024
#: How much of a body :class:`S3Upload` keeps in memory to check it (``threatfeed.feeds.base.check_body`` reads at
#: most this much: a JSON error object is looked for in bodies of up to 1 MiB only).
HEAD_BYTES = 1024 * 1024 + 1


class S3Upload:
    """One S3 object written as its body arrives: hashed (SHA-256) and counted on the way, in memory at most one
    part (and the body's first :data:`HEAD_BYTES`, for the format check).

    Nothing is visible at ``key`` until :meth:`complete`: a body smaller than one part is written by a single
    PutObject then; a larger one goes up as a multipart upload started when the first part is full, completed
    by :meth:`complete` or abandoned by :meth:`abort` (a body that failed its check, a broken download), so a
    rejected body never becomes an object. Hand-written rather than s3transfer's ``upload_fileobj``: that wants
    the object's metadata before the first byte, and here the body's digest (kept in the object's metadata when
    it fits one part) and its verdict are known only at the end. A multipart object's metadata carries no digest
    (the fetch result and the manifest do); its parts are uploaded one after the other, as the body arrives.
    Uploads a crashed function left behind are removed by the bucket's ``AbortIncompleteMultipartUpload`` rule.
    """

    def __init__(self, store: Store, key: str, *, part_size: int = 8 * 1024 * 1024) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's smallest part)")
        self._store = store
        self.key = key
        self._part_size = part_size
        self._buffer = bytearray()
        self._hash = hashlib.sha256()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._content_type = "application/octet-stream"
        self._metadata: dict[str, str] = {}
        self.head = b""
        self.size = 0
        self.blank = True  # only whitespace so far
        self.written = False  # whether anything called write (an adapter that streamed)

    def describe(self, *, content_type: str = "", metadata: dict[str, str] | None = None) -> None:
        """The object's content type and metadata; before the first part is uploaded (once the answer's headers
        are known), they are those of the multipart upload too."""
        self._content_type = content_type or "application/octet-stream"
        self._metadata = dict(metadata or {})

    def begin(self, status: int, headers: Any) -> None:
        """The answer's status and headers, before its body (``threatfeed.http.download`` calls it)."""
        content_type = str(headers.get("Content-Type", "")).strip()
        self.describe(content_type=content_type, metadata={**self._metadata, "status": str(status)})

    def write(self, chunk: bytes) -> None:
        self.written = True
        if not chunk:
            return
        self._hash.update(chunk)
        self.size += len(chunk)
        if self.blank and chunk.strip():
            self.blank = False
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self._buffer += chunk
        while len(self._buffer) >= self._part_size:
            self._send_part(bytes(self._buffer[: self._part_size]))
            del self._buffer[: self._part_size]

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def _send_part(self, data: bytes) -> None:
        s3, bucket = self._store.client, self._store.bucket
        with aws_errors(f"S3 bucket {bucket}"):
            if self._upload_id is None:
                started = s3.create_multipart_upload(
                    Bucket=bucket, Key=self.key, ContentType=self._content_type, Metadata=self._metadata
                )
                self._upload_id = started["UploadId"]
            number = len(self._parts) + 1
            sent = s3.upload_part(Bucket=bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=data)
        self._parts.append({"PartNumber": number, "ETag": sent["ETag"]})

    def complete(self, *, metadata: dict[str, str] | None = None) -> S3Pointer:
        """Make the object visible; ``metadata`` is added to a single-PutObject body's (a multipart upload's was
        fixed when it started)."""
        if self._upload_id is None:
            return self._store.put_bytes(
                self.key,
                bytes(self._buffer),
                content_type=self._content_type,
                metadata={**self._metadata, **(metadata or {})},
            )
        if self._buffer:
            self._send_part(bytes(self._buffer))
            self._buffer.clear()
        s3, bucket = self._store.client, self._store.bucket
        with aws_errors(f"S3 bucket {bucket}"):
            done = s3.complete_multipart_upload(
                Bucket=bucket, Key=self.key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
            )
        self._upload_id = None
        return S3Pointer(bucket, self.key, done.get("VersionId"))

    def abort(self) -> None:
        """Abandon the body: nothing appears at ``key`` (an upload already started is aborted)."""
        self._buffer.clear()
        if self._upload_id is None:
            return
        upload_id, self._upload_id = self._upload_id, None
        with aws_errors(f"S3 bucket {self._store.bucket}"):
            self._store.client.abort_multipart_upload(Bucket=self._store.bucket, Key=self.key, UploadId=upload_id)


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

"""Fetch: download one feed and keep its body in S3, returning only a pointer (bodies never enter state)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, cast

from threatfeed.catalogue import FeedEntry, redact_url
from threatfeed.config import Settings
from threatfeed.feeds import fetch_feed
from threatfeed.pipeline.contracts import FetchResult, RunClock, S3Object
from threatfeed.pipeline.run import parse_time
from threatfeed.storage import Store, cursor_key, raw_key


def fetch_feed_to_s3(
    feed: Mapping[str, Any],
    run: RunClock,
    *,
    settings: Settings,
    store: Store,
    get_secret: Callable[[str], Mapping[str, str]],
) -> FetchResult:
    """Download ``feed`` as of the run's start time and store its body under the run's raw prefix.

    The body is streamed into S3 as it arrives (:class:`~threatfeed.storage.S3Upload`: a multipart upload once it
    outgrows one part), hashed on the way: a list of a gigabyte costs the function one part of memory. It appears
    in S3 only once it has passed the adapter's checks.

    The outcome is ``ok`` (entries to parse) or ``empty`` (204 or an empty body): the transform keeps an
    empty feed's previous contribution rather than shrinking the list. Once it has parsed an ``ok`` body, the
    transform may still find it empty (only comments) or failed (nothing usable: ``guards.feed_outcome``).
    """
    entry = FeedEntry(**feed)
    cursor = store.get_json(cursor_key(entry.name))
    if cursor:
        entry = replace(entry, options={**entry.options, "cursor": cursor})
    secret = get_secret(entry.secret) if entry.secret else None
    days = int(entry.options.get("days_requested", settings.days_requested))
    upload = store.upload(raw_key(run["id"], entry.name))
    if entry.url:  # a multipart upload's metadata is fixed when it starts: name the source up front
        upload.describe(metadata={"source": redact_url(entry.url)[:1024]})
    try:
        fetched = fetch_feed(
            entry, now=parse_time(run["started_at"]), days_requested=days, secret=secret, settings=settings, sink=upload
        )
        if not fetched.streamed:  # an API adapter's document, assembled in memory
            upload.describe(content_type=fetched.content_type)
            upload.write(fetched.body)
        metadata = {"status": str(fetched.status), "sha256": upload.sha256, "source": fetched.source_url[:1024]}
        pointer = upload.complete(metadata=metadata)
    except BaseException:
        upload.abort()  # a body refused (cap, format check) or broken off never becomes an object
        raise
    options = {k: v for k, v in entry.options.items() if k != "cursor"}
    if fetched.cursor is not None:
        # A body that starts where the last one ended adds to the feed's contribution, it does not replace it.
        options.setdefault("replace", False)
    result = FetchResult(
        feed=entry.name,
        outcome="empty" if upload.blank else "ok",
        status=fetched.status,
        format=entry.format,
        options=options,
        bytes=upload.size,
        sha256=upload.sha256,
        raw=cast(S3Object, pointer.as_dict()),  # S3Pointer.as_dict(): bucket, key, version_id when versioned
    )
    if fetched.cursor is not None:
        result["cursor"] = dict(fetched.cursor)  # saved by the transform once it has used this body
    return result

"""Fixtures of the feed tests: a loopback feed server, a session that retries without sleeping, and one way to
fetch a feed or build an adapter's context (shared by every adapter's tests instead of a copy in each file)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from feedkit import Fetcher

from embedded_aws.feed_server import FeedServer
from threatfeed.config import Settings, load_settings
from threatfeed.http import new_session

PUBLIC_KEY = "test-public-key"
PRIVATE_KEY = "test-private-key-0123456789"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer(isight_keys={PUBLIC_KEY: PRIVATE_KEY}) as running:
        yield running


@pytest.fixture
def session() -> Iterator[requests.Session]:
    """Two retries, no backoff and no Retry-After sleeps: retries are counted, never waited for."""
    fast = new_session(retries=2, backoff_factor=0, backoff_jitter=0, retry_after_max=0)
    yield fast
    fast.close()


@pytest.fixture
def settings() -> Settings:
    return load_settings({"THREATFEED_ALLOW_HTTP_LOOPBACK": "true", "THREATFEED_REGIONS": "us-east-1"})


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def fetcher(session: requests.Session, settings: Settings, now: datetime) -> Fetcher:
    return Fetcher(session, settings, now)

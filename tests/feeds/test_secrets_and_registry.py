"""Secrets Manager access (on moto) and the adapter registry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from threatfeed.catalogue import FeedEntry
from threatfeed.errors import ConfigError
from threatfeed.feeds import FEED_TYPES, FetchedFeed, adapter_for, fetch_feed


@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    from moto import mock_aws

    from threatfeed.aws import client, reset_clients
    from threatfeed.secrets import reset_secret_cache

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        reset_clients()
        reset_secret_cache()
        yield client("secretsmanager")
    reset_clients()
    reset_secret_cache()


def test_a_json_secret_is_read_and_cached(secretsmanager) -> None:
    from threatfeed.secrets import get_secret_json

    arn = secretsmanager.create_secret(Name="tf/isight", SecretString='{"public_key": "p", "private_key": "q"}')["ARN"]

    assert get_secret_json(arn) == {"public_key": "p", "private_key": "q"}
    secretsmanager.put_secret_value(SecretId=arn, SecretString='{"public_key": "rotated", "private_key": "q"}')
    assert get_secret_json(arn)["public_key"] == "p"  # cached
    assert get_secret_json(arn, force_fetch=True)["public_key"] == "rotated"
    assert get_secret_json("tf/isight")["public_key"] == "rotated"  # by name


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("not json at all: hunter2", "is not valid JSON"),
        ('["a", "b"]', "must hold a JSON object, not a JSON list"),
        ("{}", "empty JSON object"),
    ],
)
def test_unusable_secrets_are_config_errors_without_their_value(secretsmanager, value, why) -> None:
    from threatfeed.secrets import get_secret_json

    secretsmanager.create_secret(Name="tf/bad", SecretString=value)

    with pytest.raises(ConfigError, match=why) as caught:
        get_secret_json("tf/bad")
    assert "tf/bad" in str(caught.value) and "hunter2" not in str(caught.value)


def test_a_missing_secret_is_a_config_error(secretsmanager) -> None:
    from threatfeed.secrets import get_secret_json

    with pytest.raises(ConfigError, match="tf/none does not exist"):
        get_secret_json("tf/none")
    with pytest.raises(ConfigError, match="empty secret"):
        get_secret_json("")


def test_registry_types_load_lazily_and_unknown_types_fail() -> None:
    assert set(FEED_TYPES) == {"isight", "http_list", "mandiant", "taxii", "misp", "otx", "preset"}
    for name in FEED_TYPES:
        assert callable(adapter_for(name).fetch)
    with pytest.raises(ConfigError, match="Unknown feed type 'ftp'"):
        adapter_for("ftp")


def test_fetch_feed_dispatches_by_type(monkeypatch, settings) -> None:
    import threatfeed.feeds.http_list as http_list

    seen = {}

    def fake_fetch(entry, context):
        seen.update(vars(context))
        return FetchedFeed(entry.name, 200, b"45.9.148.114\n", "text/plain", entry.url)

    monkeypatch.setattr(http_list, "fetch", fake_fetch)
    entry = FeedEntry("x", "http_list", "https://feeds.invalid/list.txt")
    result = fetch_feed(entry, now=datetime.now(UTC), days_requested=3, secret=None, settings=settings)

    assert result.body == b"45.9.148.114\n"
    assert seen["days_requested"] == 3 and seen["session"] is not None  # the default session

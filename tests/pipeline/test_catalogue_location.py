"""The catalogue is the user's object in the data bucket: seeded once, never overwritten, room for hundreds of feeds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from threatfeed.config import Settings
from threatfeed.errors import ConfigError
from threatfeed.pipeline.plan import default_catalogue, load_catalogue, plan_run
from threatfeed.storage import CATALOGUE_KEY, Store

BUCKET = "tf-data"
SETTINGS = {"feed_concurrency": "4", "region_concurrency": "4", "poll_seconds": "120", "max_checks": "45"}
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:threatfeed/tf/isight-AbCdEf"


def settings(*, isight_enabled: bool = True) -> Settings:
    return Settings(
        bucket=BUCKET,
        stack_name="tf",
        regions=("us-east-1",),
        days_requested=9,
        allow_http_loopback=False,
        isight_secret=SECRET,
        isight_enabled=isight_enabled,
    )


@pytest.fixture
def store(s3: Any) -> Store:
    """The data bucket (``s3``, from conftest) as the pipeline's store."""
    return Store(s3, BUCKET)


def event(**request: Any) -> dict[str, Any]:
    return {"execution": "run-1", "started_at": "2026-12-07T10:00:00Z", "input": request, "settings": SETTINGS}


def test_a_new_stack_s_first_run_writes_the_default_catalogue(store: Store) -> None:
    text = load_catalogue(store, default_catalogue(settings()))

    stored = json.loads(store.get_bytes(CATALOGUE_KEY))
    assert json.loads(text) == stored
    feeds = {f["name"]: f for f in stored["feeds"]}
    assert feeds["isight"]["secret"] == SECRET and feeds["isight"]["options"] == {"days_requested": 9}
    assert feeds["feodo"]["preset"] == "feodotracker"


def test_an_edited_catalogue_is_never_overwritten(store: Store) -> None:
    mine = {"feeds": [{"name": "mine", "type": "http_list", "url": "https://example.org/list.txt", "format": "txt"}]}
    store.put_json(CATALOGUE_KEY, mine)

    text = load_catalogue(store, default_catalogue(settings()))

    assert json.loads(text) == mine
    assert json.loads(store.get_bytes(CATALOGUE_KEY)) == mine
    # and a default written at the same moment as somebody's edit loses (If-None-Match: *)
    assert store.put_bytes_if_absent(CATALOGUE_KEY, b"{}") is False
    assert json.loads(store.get_bytes(CATALOGUE_KEY)) == mine


def test_hundreds_of_feeds_fit(store: Store) -> None:
    many = {
        "feeds": [
            {"name": f"feed-{i}", "type": "http_list", "url": f"https://lists.example.org/{i}.txt", "format": "txt"}
            for i in range(250)
        ]
    }
    store.put_json(CATALOGUE_KEY, many)
    text = load_catalogue(store, default_catalogue(settings()))
    assert len(text) > 8 * 1024  # more than an SSM Advanced parameter holds

    plan = plan_run(event(), settings(), text)

    assert len(plan["feeds"]) == 250


def test_the_isight_feed_runs_only_when_the_stack_has_its_keys(store: Store) -> None:
    text = load_catalogue(store, default_catalogue(settings(isight_enabled=False)))

    plan = plan_run(event(), settings(isight_enabled=False), text)
    assert [f["name"] for f in plan["feeds"]] == ["feodo"]
    assert plan["run"]["skipped"][0]["feed"] == "isight"
    assert "PublicKey and PrivateKey" in plan["run"]["skipped"][0]["reason"]
    with pytest.raises(ConfigError, match="without iSIGHT keys"):
        plan_run(event(feeds=["isight"]), settings(isight_enabled=False), text)

    # keys added in a stack update: the same catalogue now runs it
    assert [f["name"] for f in plan_run(event(), settings(), text)["feeds"]] == ["isight", "feodo"]


def test_an_invalid_catalogue_fails_the_plan_naming_the_feed(store: Store) -> None:
    store.put_json(CATALOGUE_KEY, {"feeds": [{"name": "bad", "type": "http_list", "url": "ftp://x"}]})
    with pytest.raises(ConfigError, match="'bad'"):
        plan_run(event(), settings(), load_catalogue(store, default_catalogue(settings())))

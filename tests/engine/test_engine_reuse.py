"""A body unchanged since the last run reuses its parsed contribution: the same lists, accounting and state as a
fresh parse; and states written before fingerprints existed still load (the body is then parsed)."""

from __future__ import annotations

import json
from datetime import timedelta
from unittest import mock

from engine_helpers import NOW, settings

from threatfeed.engine import FeedBody, build_lists
from threatfeed.engine import build as build_module

BODY = (
    b"# a feed\n198.51.99.1\n45.33.32.0/24\n10.0.0.1\nnot an address\n"
    b"evil-site.biz\nbad-host.com\n203.0.113.5\n8.8.8.8\n"
)


def _run(body: bytes, previous=None, days: float = 0, **kw):
    return build_lists(
        [FeedBody("f", body, options=kw.pop("options", {}))],
        settings(now=NOW + timedelta(days=days), **kw),
        previous_state=json.loads(json.dumps(previous, sort_keys=True)) if previous else None,
    )


def _summary(result):
    return (
        [lst.sha256 for lst in result.lists],
        {k: v.to_dict() for k, v in result.feeds.items()},
        result.dropped,
        result.warninglists,
        result.left_out,
    )


def _fresh(previous):
    """The same run with the fingerprint removed from ``previous``: the body is parsed."""
    stripped = json.loads(json.dumps(previous))
    for feed in stripped["feeds"].values():
        feed.pop("body", None)
    return stripped


def test_an_unchanged_body_is_not_parsed_again_and_gives_what_a_parse_gives():
    for kw in ({}, {"replace_delivered": True}, {"warninglists": ("default",)}):
        first = _run(BODY, **kw)
        assert "body" in first.state["feeds"]["f"]
        with mock.patch.object(build_module, "parse_body", side_effect=AssertionError("parsed")):
            reused = _run(BODY, first.state, days=1, **kw)
        parsed = _run(BODY, _fresh(first.state), days=1, **kw)
        assert _summary(reused) == _summary(parsed)
        assert reused.state == parsed.state


def test_a_changed_body_or_changed_settings_are_parsed():
    first = _run(BODY)
    calls = []
    real = build_module.parse_body

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    with mock.patch.object(build_module, "parse_body", side_effect=counting):
        _run(BODY + b"192.0.2.77\n", first.state, days=1)
        _run(BODY, first.state, days=1, min_prefix_len=20)
        _run(BODY, first.state, days=1, options={"confidence": 90})
    assert len(calls) == 3


def test_a_carried_over_feed_loses_its_fingerprint():
    first = _run(BODY)
    carried = build_lists([], settings(now=NOW + timedelta(days=1)), first.state, carry_over=["f"])
    assert "body" not in carried.state["feeds"]["f"]


def test_a_state_written_without_fingerprints_loads_and_the_body_is_parsed():
    first = _run(BODY)
    old = _fresh(first.state)  # what the code before fingerprints wrote
    assert set(old["feeds"]["f"]) == {"priority", "last_success", "rows"}
    again = _run(BODY, old, days=1)
    assert _summary(again)[0] == _summary(_run(BODY, first.state, days=1))[0]
    assert "body" in again.state["feeds"]["f"]

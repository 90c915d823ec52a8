"""Dedupe and aggregation across feeds, provenance, aging, carry-over and state round-trips."""

from __future__ import annotations

import json
from datetime import timedelta

from engine_helpers import NOW, lines_of, settings

from threatfeed.engine import FeedBody, build_lists
from threatfeed.engine.state import decode_spans, row_names


def _build(bodies: dict[str, str], previous=None, carry_over=(), days: float = 0, **kw):
    feeds = [FeedBody(name, body.encode()) for name, body in sorted(bodies.items())]
    return build_lists(feeds, settings(now=NOW + timedelta(days=days), **kw), previous, carry_over)


def test_adjacent_and_contained_cidrs_merge_across_feeds():
    result = _build({"a": "198.51.99.0/25\n198.51.99.5\n", "b": "198.51.99.128/25\n45.33.32.0/24\n45.33.33.0/24\n"})
    assert lines_of(result, "ip") == ["45.33.32.0/23", "198.51.99.0/24"]


def test_output_is_sorted_numerically_and_byte_identical_for_equal_input():
    one = _build({"a": "9.9.9.9\n10.1.1.1\n100.1.1.1\n1.1.1.1\nzz-evil.biz\naa-evil.biz\n"})
    two = _build({"a": "aa-evil.biz\n1.1.1.1\n100.1.1.1\n9.9.9.9\nzz-evil.biz\n"})
    assert lines_of(one, "ip") == ["1.1.1.1", "9.9.9.9", "100.1.1.1"]
    assert lines_of(one, "domain") == ["aa-evil.biz", "zz-evil.biz"]
    assert [lst.body for lst in one.lists] == [lst.body for lst in two.lists]
    assert [lst.sha256 for lst in one.lists] == [lst.sha256 for lst in two.lists]
    assert one.lists[0].body.endswith(b"\n")


def test_state_keeps_provenance_per_feed_with_first_and_last_seen():
    first = _build({"a": "198.51.99.1\n", "b": "198.51.99.1\nevil-site.biz\n"})
    second = _build({"a": "198.51.99.1\n198.51.99.2\n", "b": "evil-site.biz\n"}, first.state, days=1)
    state = json.loads(json.dumps(second.state))  # JSON round trip
    t0 = int(NOW.timestamp())
    t1 = t0 + 86400
    rows_a = {(r["first"], r["last"]): r for r in state["feeds"]["a"]["rows"]}
    assert set(rows_a) == {(t0, t1), (t1, t1)}
    assert list(decode_spans(rows_a[(t0, t1)]["ipv4"]).pairs()) == [(0xC6336301, 0xC6336301)]
    assert list(decode_spans(rows_a[(t1, t1)]["ipv4"]).pairs()) == [(0xC6336302, 0xC6336302)]
    rows_b = {(r["first"], r["last"]): r for r in state["feeds"]["b"]["rows"]}
    assert row_names(rows_b[(t0, t1)]) == ["evil-site.biz"]
    assert rows_b[(t0, t0)]["addresses"] == 1  # b no longer lists 198.51.99.1 but it has not aged out
    assert lines_of(second, "ip") == ["198.51.99.1", "198.51.99.2"]


def test_a_delivered_feed_keeps_earlier_indicators_until_they_age_out():
    first = _build({"a": "198.51.99.1\nold-evil.biz\n"}, days_requested=3)
    later = _build({"a": "198.51.99.2\n"}, first.state, days=3, days_requested=3)
    assert lines_of(later, "ip") == ["198.51.99.1", "198.51.99.2"]  # exactly at the window edge: kept
    assert lines_of(later, "domain") == ["old-evil.biz"]
    aged = _build({"a": "198.51.99.2\n"}, later.state, days=3.5, days_requested=3)
    assert lines_of(aged, "ip") == ["198.51.99.2"]
    assert lines_of(aged, "domain") == []


def test_a_feed_marked_replace_delists_what_its_body_no_longer_lists():
    def build(body: str, previous):
        feed = FeedBody("a", body.encode(), options={"replace": True})
        return build_lists([feed], settings(now=NOW + timedelta(days=1 if previous else 0)), previous)

    first = build("198.51.99.1\n198.51.99.2\nold-evil.biz\n", None)
    second = build("198.51.99.2\n", first.state)
    assert lines_of(second, "ip") == ["198.51.99.2"]
    assert lines_of(second, "domain") == []
    (row,) = second.state["feeds"]["a"]["rows"]
    assert row["first"] == int(NOW.timestamp())  # still first seen in the first run


def test_carry_over_keeps_the_last_good_contribution_subject_to_aging():
    first = _build({"a": "198.51.99.1\n", "b": "45.33.32.1\n"})
    second = _build({"b": "45.33.32.1\n"}, first.state, carry_over=["a"], days=1)
    assert lines_of(second, "ip") == ["45.33.32.1", "198.51.99.1"]
    assert second.feeds["a"].carried_over and not second.feeds["b"].carried_over
    third = _build({"b": "45.33.32.1\n"}, second.state, carry_over=["a"], days=8)
    assert lines_of(third, "ip") == ["45.33.32.1"]
    assert "a" not in third.state["feeds"]


def test_a_feed_neither_fetched_nor_carried_over_drops_out():
    first = _build({"a": "198.51.99.1\n", "b": "45.33.32.1\n"})
    second = _build({"b": "45.33.32.1\n"}, first.state, days=1)
    assert lines_of(second, "ip") == ["45.33.32.1"]


def test_an_empty_body_from_a_known_feed_is_treated_as_a_failed_fetch():
    first = _build({"a": "198.51.99.1\n"})
    second = _build({"a": "<html>502 Bad Gateway</html>\n"}, first.state, days=1)
    assert lines_of(second, "ip") == ["198.51.99.1"]
    assert second.feeds["a"].carried_over
    assert "previous contribution kept" in second.feeds["a"].error


def test_fetched_at_is_the_last_seen_time():
    feed = FeedBody("a", b"198.51.99.1\n", fetched_at=NOW - timedelta(hours=5))
    result = build_lists([feed], settings())
    (row,) = result.state["feeds"]["a"]["rows"]
    assert row["last"] == int((NOW - timedelta(hours=5)).timestamp())


def test_two_bodies_of_one_feed_are_merged():
    result = build_lists([FeedBody("a", b"198.51.99.1\n"), FeedBody("a", b"198.51.99.2\nx!\n")], settings())
    assert lines_of(result, "ip") == ["198.51.99.1", "198.51.99.2"]
    assert result.feeds["a"].accepted == 2 and result.feeds["a"].rejected == 1


def test_previous_state_of_another_version_is_ignored():
    result = _build({"a": "198.51.99.1\n"}, {"version": 999, "feeds": {"x": {}}})
    assert list(result.state["feeds"]) == ["a"]


def test_wildcard_covers_listed_subdomains():
    result = _build({"a": "*.evil-site.biz\nx.evil-site.biz\nevil-site.biz\n*.a.evil-site.biz\n"})
    assert lines_of(result, "domain") == ["*.evil-site.biz", "evil-site.biz"]


def test_state_is_json_serializable_and_compact():
    body = "".join(f"45.{i >> 8}.{i & 255}.1\n" for i in range(20000))
    result = _build({"a": body})
    text = json.dumps(result.state)
    assert len(text) < 20000 * 6  # far below the ~20 bytes per address of a plain list


def test_replace_delivered_setting_applies_to_every_feed_unless_a_feed_says_otherwise():
    first = _build({"a": "198.51.99.1\n", "b": "45.33.32.1\n"})
    feeds = [FeedBody("a", b"198.51.99.2\n"), FeedBody("b", b"45.33.32.2\n", options={"replace": False})]
    second = build_lists(feeds, settings(now=NOW + timedelta(days=1), replace_delivered=True), first.state)
    assert lines_of(second, "ip") == ["45.33.32.1", "45.33.32.2", "198.51.99.2"]
    assert second.manifest()["settings"]["replace_delivered"] is True


def test_a_delivered_body_replaces_the_feeds_contribution_but_revocations_alone_only_retract() -> None:
    from datetime import UTC, datetime, timedelta

    from threatfeed.engine import EngineSettings, FeedBody, build_lists

    day1 = datetime(2026, 11, 1, tzinfo=UTC)
    day2 = day1 + timedelta(days=1)
    first = build_lists(
        [FeedBody("f", b"45.10.0.1\n45.10.0.2\n45.10.0.3\n", "txt", fetched_at=day1)],
        EngineSettings(now=day1, replace_delivered=True),
    )
    smaller = build_lists(
        [FeedBody("f", b"45.10.0.1\n", "txt", fetched_at=day2)],
        EngineSettings(now=day2, replace_delivered=True),
        previous_state=first.state,
    )
    assert smaller.lists[0].body == b"45.10.0.1\n"

    bundle = (
        b'{"type": "bundle", "id": "bundle--1", "objects": [{"type": "indicator", "spec_version": "2.1",'
        b' "id": "indicator--a", "created": "2026-11-01T00:00:00Z", "modified": "2026-11-02T00:00:00Z",'
        b' "valid_from": "2026-11-01T00:00:00Z", "revoked": true, "pattern_type": "stix",'
        b' "pattern": "[ipv4-addr:value = \'45.10.0.2\']"}]}'
    )
    retracted = build_lists(
        [FeedBody("f", bundle, "stix", fetched_at=day2)],
        EngineSettings(now=day2, replace_delivered=True),
        previous_state=first.state,
    )
    body = retracted.lists[0].body.decode()
    assert "45.10.0.2" not in body
    assert "45.10.0.1" in body and "45.10.0.3" in body

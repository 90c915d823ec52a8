"""Score and rank: when GuardDuty's quotas cannot hold everything, the highest-scoring indicators are kept and the
manifest reports the rest by score band and feed."""

from __future__ import annotations

from datetime import timedelta

from engine_helpers import NOW, lines_of, settings

from threatfeed.engine import FeedBody, build_lists
from threatfeed.engine.packing import score


def names(prefix: str, n: int) -> str:
    return "".join(f"{prefix}{i}.example-bad.top\n" for i in range(n))


def test_when_the_entity_quota_is_too_small_the_highest_scoring_names_are_kept_and_the_rest_reported():
    shared = "shared0.example-bad.top\nshared1.example-bad.top\n"
    feeds = [
        FeedBody("sure", names("sure", 3).encode(), options={"confidence": 90}),
        FeedBody("osint-a", (shared + names("a", 3)).encode(), options={"confidence": 40}),
        FeedBody("osint-b", (shared + names("b", 3)).encode(), options={"confidence": 40}),
    ]
    result = build_lists(feeds, settings(max_entities_per_list=5))

    # confidence 90 first, then the two names both OSINT feeds list (40 + 15 for the second feed)
    assert lines_of(result, "domain") == sorted(
        [f"sure{i}.example-bad.top" for i in range(3)] + ["shared0.example-bad.top", "shared1.example-bad.top"]
    )
    assert result.dropped == {"domain_over_entry_limit": 6}
    report = result.manifest()["left_out"]["domain"]
    assert report == {
        "entries": 6,
        "by_band": {"25-49": 6},
        "by_feed": {"osint-a": {"25-49": 3}, "osint-b": {"25-49": 3}},
    }


def test_when_the_ip_quota_is_too_small_corroborated_and_fresh_addresses_win():
    old = build_lists([FeedBody("stale", b"45.9.148.1\n45.9.148.3\n")], settings())
    corroborated = b"45.155.205.1\n45.155.205.3\n"
    feeds = [
        FeedBody("one", corroborated + b"185.220.101.1\n", options={"confidence": 50}),
        FeedBody("two", corroborated + b"185.220.101.3\n", options={"confidence": 50}),
    ]
    # "stale" failed today: its five-day-old addresses are carried over, and score lower than today's
    result = build_lists(
        feeds,
        settings(now=NOW + timedelta(days=5), max_entries_per_list=4),
        previous_state=old.state,
        carry_over=["stale"],
    )
    assert lines_of(result, "ip") == ["45.155.205.1", "45.155.205.3", "185.220.101.1", "185.220.101.3"]
    left = result.manifest()["left_out"]["ip"]
    assert left["entries"] == 2 and left["by_feed"] == {"stale": {"25-49": 2}}


def test_the_score_weighs_confidence_age_and_corroboration():
    now = int(NOW.timestamp())
    assert score(90, now, 1, now, 7) == 90
    assert score(90, now - 7 * 86400, 1, now, 7) == 45  # at its expiry an indicator counts half
    assert score(40, now, 2, now, 7) == 55 and score(40, now, 5, now, 7) == 70  # two more feeds count at most
    assert score(100, now, 3, now, 7) == 100

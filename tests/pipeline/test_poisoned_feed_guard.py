"""The poisoned-feed guard's decision (pure): a jump in a feed's share of benign values, against its share in the
last published run that measured it."""

from __future__ import annotations

from threatfeed.config import GuardSettings
from threatfeed.engine.warninglists import suppressed_share
from threatfeed.pipeline.guards import history_record, poisoned


def history(*shares: float | None) -> list[dict]:
    return [{"run": f"r{i}", "feeds": {"f": {} if s is None else {"benign": s}}} for i, s in enumerate(shares)]


def test_a_jump_from_1_to_40_percent_is_poisoned_and_named():
    (finding,) = poisoned({"f": (40, 100)}, history(0.01), GuardSettings())
    assert finding.guard == "PoisonedFeed" and finding.feeds == ("f",) and not finding.hold
    assert "40.0% benign" in finding.message and "1.0% in the last published run" in finding.message


def test_a_rise_within_the_allowed_points_is_not():
    assert poisoned({"f": (20, 100)}, history(0.01), GuardSettings(max_benign_jump_percent=20)) == []


def test_a_feed_always_that_noisy_is_not_poisoned():
    assert poisoned({"f": (40, 100)}, history(0.38), GuardSettings()) == []


def test_the_baseline_is_the_last_run_that_measured_the_feed():
    # the last run did not measure f (it was held back): the one before is the baseline
    assert poisoned({"f": (40, 100)}, history(0.01, None), GuardSettings())


def test_no_baseline_small_feeds_and_a_zero_setting_are_not_judged():
    assert poisoned({"f": (40, 100)}, [], GuardSettings()) == []
    assert poisoned({"f": (9, 10)}, history(0.0), GuardSettings()) == []
    assert poisoned({"f": (40, 100)}, history(0.01), GuardSettings(max_benign_jump_percent=0)) == []


def test_the_share_counts_warninglisted_and_allow_listed_values_over_all_candidates():
    stats = {"accepted": 60, "reasons": {"warninglist:amazon-aws": 30, "allow_listed": 10, "bogon": 5}}
    assert suppressed_share(stats) == (40, 100)


def test_the_history_keeps_each_feeds_benign_share():
    record = history_record({"id": "r"}, [], {"f": {"entries": 3, "benign": 0.25}})
    assert record["feeds"]["f"]["benign"] == 0.25

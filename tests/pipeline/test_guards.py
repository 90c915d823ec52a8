"""The guards' decisions, on plain numbers: coverage, sudden drop, drift, flapping, and what a body was worth."""

from __future__ import annotations

from typing import Any

from threatfeed.config import GuardSettings, load_guards
from threatfeed.pipeline.guards import (
    GROWTH_FLOOR,
    HISTORY_RUNS,
    append_history,
    evaluate,
    feed_outcome,
    history_record,
)

DEFAULTS = GuardSettings()
NAME = "threatfeed-threatfeed-ip-1"


def ip_list(entries: int, addresses: int, before: tuple[int, int] | None = None, **extra: Any) -> dict[str, Any]:
    """A list spec as the transform builds it; ``before`` is (entries, addresses) of the published list."""
    spec = {"name": NAME, "kind": "ip", "index": 0, "entries": entries, "addresses": addresses, "unchanged": False}
    if before:
        spec.update(previous_entries=before[0], previous_addresses=before[1])
    return {**spec, **extra}


def published(run: str, entries: int, addresses: int, feeds: dict[str, Any] | None = None, **extra: Any) -> dict:
    """A history record of a run whose IP list GuardDuty accepted."""
    lists = [{"kind": "ip", "index": 0, "entries": entries, "addresses": addresses}]
    return history_record({"id": run, **extra}, lists, feeds or {"main": {"entries": entries, "addresses": addresses}})


def test_a_list_over_the_coverage_ceiling_is_held_and_names_the_feed_that_brought_the_space() -> None:
    feeds = {"main": {"entries": 201, "addresses": 16_777_416}, "other": {"entries": 9, "addresses": 9}}
    before = {"main": {"entries": 200, "addresses": 200}, "other": {"entries": 9, "addresses": 9}}

    (finding,) = evaluate([ip_list(210, 16_777_425)], feeds, before, [], DEFAULTS)

    assert finding.guard == "CoverageGuard" and finding.hold
    assert finding.feeds == ("main",)
    assert "16,777,425 addresses" in finding.message and "MaxCoveredAddresses (4,194,304)" in finding.message
    assert "main" in finding.message and '"force": true' in finding.message


def test_a_first_list_over_the_ceiling_names_the_largest_contributors() -> None:
    feeds = {"small": {"entries": 5, "addresses": 5}, "wide": {"entries": 10, "addresses": 10_000_000}}

    (finding,) = evaluate([ip_list(15, 10_000_005)], feeds, {}, [], DEFAULTS)

    assert finding.feeds == ("wide", "small")


def test_coverage_jump_is_held_even_when_the_entry_count_stays_the_same() -> None:
    # 20 of 200 single addresses replaced by /16s: the same length, under the ceiling, 6,500 times the space.
    (finding,) = evaluate([ip_list(200, 20 * 65_536 + 180, before=(200, 200))], {}, {}, [], DEFAULTS)

    assert finding.guard == "CoverageGuard"
    assert "coverage jump" in finding.message and "instead of 200" in finding.message


def test_growth_smaller_than_a_slash_16_never_counts_however_fast() -> None:
    small = ip_list(5_000, 5_000, before=(200, 200))
    assert evaluate([small], {}, {}, [], DEFAULTS) == []
    just_over = ip_list(1, 200 + GROWTH_FLOOR + 1, before=(1, 200))
    assert [f.guard for f in evaluate([just_over], {}, {}, [], DEFAULTS)] == ["CoverageGuard"]


def test_a_sudden_drop_names_the_feed_that_shrank() -> None:
    feeds = {"main": {"entries": 10, "addresses": 10}, "steady": {"entries": 5, "addresses": 5}}
    before = {"main": {"entries": 100, "addresses": 100}, "steady": {"entries": 5, "addresses": 5}}

    (finding,) = evaluate([ip_list(15, 15, before=(105, 105))], feeds, before, [], DEFAULTS)

    assert finding.guard == "SuddenDropGuard" and finding.feeds == ("main",)
    assert finding.message.startswith(f"sudden drop: {NAME} would go from 105 to 15 entries (-85.7%)")


def test_a_slow_drift_of_allowed_drops_is_held_against_the_largest_of_the_baseline() -> None:
    history = [published("r1", 200, 200), published("r2", 120, 120)]
    feeds = {"main": {"entries": 72, "addresses": 72}}

    # -40% against the last list: within the 50% allowed; -64% against the 200 of run r1: drift.
    (finding,) = evaluate([ip_list(72, 72, before=(120, 120))], feeds, {}, history, DEFAULTS)

    assert finding.guard == "DriftGuard" and finding.feeds == ("main",)
    assert "72 entries against 200" in finding.message and "run r1" in finding.message


def test_the_drift_baseline_is_only_the_last_n_published_runs() -> None:
    history = [published("r1", 200, 200), published("r2", 120, 120), published("r3", 110, 110)]
    one_run = GuardSettings(baseline_runs=1)
    two_runs = GuardSettings(baseline_runs=2)
    three_runs = GuardSettings(baseline_runs=3)
    spec = ip_list(72, 72, before=(110, 110))

    assert evaluate([spec], {}, {}, history, one_run) == []
    assert evaluate([spec], {}, {}, history, two_runs) == []  # 72 against 120: -40%
    assert [f.guard for f in evaluate([spec], {}, {}, history, three_runs)] == ["DriftGuard"]


def test_a_forced_publish_starts_a_new_baseline() -> None:
    history = [published("r1", 200, 200), published("r2", 90, 90, force=True)]

    assert evaluate([ip_list(72, 72, before=(90, 90))], {}, {}, history, DEFAULTS) == []


def test_growth_in_steps_each_allowed_is_held_against_the_smallest_of_the_baseline() -> None:
    history = [published("r1", 100, 1_000_000), published("r2", 150, 1_900_000)]
    feeds = {"main": {"entries": 210, "addresses": 3_600_000}}

    (finding,) = evaluate([ip_list(210, 3_600_000, before=(150, 1_900_000))], feeds, {}, history, DEFAULTS)

    assert finding.guard == "DriftGuard" and finding.feeds == ("main",)
    assert "the fewest of its last 2 published" in finding.message


def test_unchanged_lists_and_the_allow_list_are_not_judged() -> None:
    unchanged = ip_list(10, 10, before=(1000, 1000), unchanged=True)
    trusted = {**ip_list(1, 1, before=(50, 50)), "kind": "trusted", "name": "trusted"}

    assert evaluate([unchanged, trusted], {}, {}, [], DEFAULTS) == []


def flapping_history(*overlaps: float | None) -> list[dict[str, Any]]:
    records = []
    for i, overlap in enumerate(overlaps):
        feed = {"entries": 50, "addresses": 50, **({"overlap": overlap} if overlap is not None else {})}
        records.append(published(f"r{i}", 50, 50, {"main": feed}))
    return records


def test_a_feed_whose_overlap_collapses_k_runs_in_a_row_is_reported_not_held_by_default() -> None:
    history = flapping_history(None, 0.0, 0.1)

    (finding,) = evaluate([ip_list(50, 50, before=(50, 50))], {"main": {"overlap": 0.0}}, {}, history, DEFAULTS)

    assert finding.guard == "FlappingGuard" and not finding.hold and finding.feeds == ("main",)
    assert "flapping feed: main" in finding.message and "0%, 10%, 0%" in finding.message


def test_flapping_holds_the_lists_when_so_configured() -> None:
    history = flapping_history(0.0, 0.0)

    (finding,) = evaluate([], {"main": {"overlap": 0.05}}, {}, history, GuardSettings(hold_flapping=True))

    assert finding.hold and '"force": true' in finding.message


def test_a_feed_replaced_once_or_with_enough_overlap_is_not_flapping() -> None:
    assert evaluate([], {"main": {"overlap": 0.0}}, {}, flapping_history(None, 0.9), DEFAULTS) == []
    assert evaluate([], {"main": {"overlap": 0.0}}, {}, flapping_history(0.0), DEFAULTS) == []  # 2 runs of 3
    assert evaluate([], {"main": {"overlap": 0.5}}, {}, flapping_history(0.0, 0.0), DEFAULTS) == []
    assert (
        evaluate([], {"main": {"overlap": 0.0}}, {}, flapping_history(0.0, 0.0), GuardSettings(flap_overlap_percent=0))
        == []
    )


def test_findings_come_most_serious_first() -> None:
    history = flapping_history(0.0, 0.0)
    spec = ip_list(10, 50_000_000, before=(50, 50))

    findings = evaluate([spec], {"main": {"overlap": 0.0}}, {}, history, DEFAULTS)

    assert [f.guard for f in findings] == ["CoverageGuard", "SuddenDropGuard", "FlappingGuard"]


def test_a_delivered_body_with_nothing_usable_is_a_failed_feed() -> None:
    unreadable = {"error": "feed main: gzip body is truncated", "lines": 0, "skipped": 0, "accepted": 0}
    assert feed_outcome("ok", unreadable) == ("failed", "feed main: gzip body is truncated")
    all_rejected = {"lines": 3, "skipped": 1, "accepted": 0, "rejected": 2, "reasons": {"unrecognized": 2}}
    assert feed_outcome("ok", all_rejected)[0] == "failed"
    html_as_xml = {"lines": 2, "skipped": 0, "accepted": 0, "rejected": 0}  # read, nothing found in it
    assert feed_outcome("ok", html_as_xml)[0] == "failed"


def test_an_explicitly_empty_body_is_empty_not_failed() -> None:
    assert feed_outcome("ok", {"lines": 3, "skipped": 3, "accepted": 0, "rejected": 0}) == ("empty", None)
    assert feed_outcome("ok", {"lines": 0, "skipped": 0, "accepted": 0, "rejected": 0}) == ("empty", None)
    assert feed_outcome("empty", None) == ("empty", None)  # a 204 or a zero-byte body, decided by the fetch


def test_a_body_of_retractions_only_did_its_work() -> None:
    revoked = {"lines": 2, "skipped": 0, "accepted": 0, "rejected": 2, "reasons": {"revoked": 2}}
    assert feed_outcome("ok", revoked) == ("ok", None)
    assert feed_outcome("ok", {"lines": 9, "accepted": 9, "rejected": 0}) == ("ok", None)
    assert feed_outcome("failed", None) == ("failed", None)


def test_the_history_keeps_the_last_runs_and_what_started_a_baseline() -> None:
    history: dict[str, Any] = {}
    for i in range(HISTORY_RUNS + 5):
        history = append_history(history, published(f"r{i}", 10 + i, 10 + i))
    history = append_history(history, published("rollback", 3, 3, rollback_to="r1"))

    runs = history["runs"]
    assert len(runs) == HISTORY_RUNS and runs[0]["run"] == "r6" and runs[-1]["run"] == "rollback"
    assert runs[-1]["new_baseline"] and not runs[-2]["new_baseline"]
    assert runs[-1]["lists"] == {"ip-0": {"entries": 3, "addresses": 3}}


def test_guard_settings_come_from_the_environment_with_documented_defaults() -> None:
    assert load_guards({}) == GuardSettings(50, 100, 4_194_304, 5, 20, 3, False)
    custom = load_guards({"THREATFEED_MAX_COVERED_ADDRESSES": "16777216", "THREATFEED_FLAP_ACTION": "hold"})
    assert custom.max_covered_addresses == 16_777_216 and custom.hold_flapping

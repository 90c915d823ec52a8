"""Overlap with GuardDuty's own intelligence, as far as it can be known: a Tor exit list among the run's feeds."""

from __future__ import annotations

from datetime import UTC, datetime

from threatfeed.engine import EngineSettings, FeedBody, build_lists
from threatfeed.pipeline.transform import guardduty_overlap

TOR = b"ExitAddress 185.220.101.1 2026-11-27 10:00:00\nExitAddress 185.220.101.2 2026-11-27 10:00:00\n"


def run(*feeds: FeedBody):
    return build_lists(list(feeds), EngineSettings(now=datetime(2026, 11, 27, tzinfo=UTC)))


def test_each_feeds_share_of_tor_exits_is_reported_when_a_tor_list_is_among_the_feeds():
    engine = run(
        FeedBody("tor", TOR, format="tor"),
        FeedBody("mostly-tor", b"185.220.101.1\n185.220.101.2\n45.9.148.114\n45.9.148.115\n"),
        FeedBody("own", b"45.155.205.233\n"),
    )
    fetched = [{"feed": "tor", "format": "tor"}, {"feed": "mostly-tor", "format": "txt"}, {"feed": "own"}]
    report = guardduty_overlap(fetched, engine)
    assert report["tor_lists"] == ["tor"]
    assert report["feeds"]["tor"]["share"] == 1.0
    assert report["feeds"]["mostly-tor"] == {"addresses": 4, "shared": 2, "share": 0.5}
    assert report["feeds"]["own"]["share"] == 0.0


def test_without_a_tor_list_the_report_says_what_cannot_be_known():
    engine = run(FeedBody("own", b"45.155.205.233\n"))
    report = guardduty_overlap([{"feed": "own", "format": "txt"}], engine)
    assert report["tor_lists"] == [] and "feeds" not in report
    assert "cannot be measured" in report["note"]

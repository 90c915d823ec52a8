"""What the guards measure: addresses a list covers, each feed's contribution and how much of it a run kept;
and the bodies that give nothing without being empty."""

from __future__ import annotations

import json

import pytest
from engine_helpers import settings

from threatfeed.engine import BodyUnreadable, FeedBody, build_lists, parse_body
from threatfeed.engine.coverage import contributions, list_addresses


def test_a_list_covers_its_addresses_not_its_lines() -> None:
    body = b"45.33.32.1\n1.0.0.0/12\n5.5.5.0/24\nevil-site.biz\n"

    assert list_addresses(body) == 1 + 1_048_576 + 256
    assert list_addresses(b"") == 0


def test_contributions_count_each_feeds_entries_and_addresses() -> None:
    result = build_lists(
        [FeedBody("wide", b"1.0.0.0/12\n1.16.0.0/12\n"), FeedBody("hosts", b"45.33.32.1\nevil-site.biz\n")],
        settings(),
    )

    current, previous = contributions(None, result.state, ["wide", "hosts"])

    assert current == {
        "hosts": {"entries": 2, "addresses": 1},
        "wide": {"entries": 1, "addresses": 2_097_152},  # two adjacent /12s are one /11 entry
    }
    assert previous == {}


def test_overlap_is_the_share_of_addresses_and_names_a_delivered_feed_kept() -> None:
    first = build_lists(
        [FeedBody("a", b"45.33.32.1\n45.33.32.2\nevil-site.biz\n"), FeedBody("b", b"45.1.1.1\n")], settings()
    )
    second = build_lists(
        [FeedBody("a", b"45.33.32.2\n45.33.32.3\nevil-site.biz\n"), FeedBody("b", b"45.2.2.2\n")],
        settings(replace_delivered=True),
        previous_state=first.state,
    )

    current, previous = contributions(first.state, second.state, ["a", "b"])

    assert current["a"]["overlap"] == 0.5  # 45.33.32.2 and the name kept, of 45.33.32.1-3 and the name
    assert current["b"]["overlap"] == 0.0
    assert previous["a"] == {"entries": 3, "addresses": 2}
    only_a, _ = contributions(first.state, second.state, ["a"])
    assert "overlap" not in only_a["b"]  # not delivered this run: nothing to compare


@pytest.mark.parametrize(
    ("body", "format"),
    [
        (b'{"error": "rate limited", "code": 429}', "auto"),
        (b'{"title": "Unauthorized", "http_status": "401"}', "auto"),
        (b"42", "stix"),
    ],
    ids=["error-object", "taxii-error", "bare-number"],
)
def test_json_that_is_no_stix_is_unreadable_not_empty(body: bytes, format: str) -> None:
    with pytest.raises(BodyUnreadable, match="feed api"):
        parse_body(body, feed="api", format=format)


def test_an_empty_taxii_envelope_or_bundle_is_read_as_nothing() -> None:
    for body in ({}, {"more": False}, {"type": "bundle", "id": "bundle--1", "objects": []}):
        stats = parse_body(json.dumps(body).encode(), feed="api", format="stix").stats
        assert (stats.lines, stats.accepted, stats.rejected) == (0, 0, 0)


def test_a_misp_error_answer_is_unreadable_but_an_empty_answer_is_not() -> None:
    with pytest.raises(BodyUnreadable, match="no MISP event"):
        parse_body(b'{"name": "Authentication failed", "message": "bad key"}', feed="misp", format="misp")
    assert parse_body(b'{"response": {"Attribute": []}}', feed="misp", format="misp").stats.accepted == 0


def test_a_comments_only_body_keeps_the_previous_contribution_without_an_error() -> None:
    first = build_lists([FeedBody("a", b"45.33.32.1\n")], settings())

    second = build_lists([FeedBody("a", b"# nothing new today\n")], settings(), previous_state=first.state)

    assert second.feeds["a"].carried_over and second.feeds["a"].error is None
    assert second.lists[0].body == b"45.33.32.1\n"


def test_a_body_whose_every_value_is_refused_says_why() -> None:
    first = build_lists([FeedBody("a", b"45.33.32.1\n")], settings())

    second = build_lists([FeedBody("a", b"10.0.0.1\n192.168.1.1\n")], settings(), previous_state=first.state)

    assert "no indicator accepted (2 rejected: bogon 2)" in second.feeds["a"].error

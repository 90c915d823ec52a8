"""Failure messages stay within AWS's limits and tell the truth about which quota was hit."""

from __future__ import annotations

from botocore.exceptions import ClientError

from threatfeed.guardduty import SET_APIS, _rejected
from threatfeed.pipeline.publish import MAX_CAUSE_CHARS, bounded_cause


def _quota_error() -> ClientError:
    body = {"Error": {"Code": "BadRequestException", "Message": "The number of lists has reached the limit"}}
    return ClientError(body, "CreateTrustedEntitySet")


def test_a_full_trusted_list_slot_is_not_reported_as_the_six_threat_lists() -> None:
    trusted = str(_rejected(_quota_error(), "the allow-list", creating=True, api=SET_APIS["trusted_entity_set"]))
    threat = str(_rejected(_quota_error(), "the IP list", creating=True, api=SET_APIS["threat_intel_set"]))

    assert "1 trusted entity list per Region" in trusted and "6 threat lists" not in trusted
    assert "PublishAllowList=false" in trusted
    assert "6 threat lists per Region" in threat


def test_a_cause_with_hundreds_of_failed_feeds_stays_under_the_fail_state_limit() -> None:
    parts = [f"feed-{i}: FeedUnavailable: " + "connection reset by peer " * 40 for i in range(500)]

    cause = bounded_cause(parts, "feeds")

    assert len(cause) <= MAX_CAUSE_CHARS < 32_768
    assert cause.startswith("feed-0: FeedUnavailable")
    assert "more feeds (500 in all" in cause


def test_a_short_cause_is_kept_whole() -> None:
    assert bounded_cause(["a: X: y", "b: X: z"], "feeds") == "a: X: y; b: X: z"

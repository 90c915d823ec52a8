"""EventBridge pattern matching in the embedded AWS follows EventBridge, not moto (which cannot see into arrays)."""

from __future__ import annotations

from embedded_aws.events import matches

FINDING = {
    "source": "aws.guardduty",
    "detail-type": "GuardDuty Finding",
    "detail": {
        "service": {
            "evidence": {
                "threatIntelligenceDetails": [
                    {"threatListName": "someone-elses"},
                    {"threatListName": "threatfeed-prod-ip-1"},
                ]
            }
        },
        "severity": 5,
    },
}


def test_a_field_inside_an_array_of_objects_matches_when_any_element_does() -> None:
    pattern = {
        "detail": {
            "service": {"evidence": {"threatIntelligenceDetails": {"threatListName": [{"prefix": "threatfeed-prod-"}]}}}
        }
    }

    assert matches(pattern, FINDING)
    assert not matches(
        {"detail": {"service": {"evidence": {"threatIntelligenceDetails": {"threatListName": [{"prefix": "x-"}]}}}}},
        FINDING,
    )


def test_or_anything_but_exists_and_numeric_filters_match_as_eventbridge_does() -> None:
    assert matches({"detail": {"$or": [{"nope": ["x"]}, {"severity": [{"numeric": [">=", 4, "<", 7]}]}]}}, FINDING)
    assert not matches({"detail": {"severity": [{"numeric": [">", 5]}]}}, FINDING)
    assert matches({"source": [{"anything-but": ["aws.s3"]}]}, FINDING)
    assert not matches({"source": [{"anything-but": {"prefix": "aws."}}]}, FINDING)
    assert matches({"detail": {"missing": [{"exists": False}]}}, FINDING)
    assert not matches({"detail": {"missing": [{"anything-but": ["x"]}]}}, FINDING)  # absent: only exists:false


def test_a_literal_true_does_not_match_the_number_one() -> None:
    assert not matches({"detail": {"flag": [True]}}, {"detail": {"flag": 1}})
    assert matches({"detail": {"flag": [True]}}, {"detail": {"flag": True}})

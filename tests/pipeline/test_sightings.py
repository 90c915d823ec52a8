"""Sightings: a GuardDuty finding joined with the feeds that listed its indicator (threatfeed.sightings)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from threatfeed.engine.spans import Spans
from threatfeed.engine.state import encode_spans
from threatfeed.sightings import (
    NotASighting,
    merge,
    parse_finding,
    provenance,
    record_finding,
    sighting_key,
    spans_contain,
    summarize,
)

NOW = 1_800_000_000.0


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def spans(*ranges: tuple[str, str]) -> Spans:
    import numpy as np

    return Spans(
        np.array([ip(a) for a, _ in ranges], dtype=np.uint32), np.array([ip(b) for _, b in ranges], dtype=np.uint32)
    )


def finding_event(
    indicator: str = "198.51.100.7",
    *,
    lists: tuple[str, ...] = ("threatfeed-threatfeed-ip-1",),
    finding_id: str = "f1",
    count: int = 1,
    updated: str = "2027-01-15T10:00:00.000Z",
) -> dict[str, Any]:
    action: dict[str, Any]
    if "." in indicator and not indicator.replace(".", "").isdigit():
        action = {"actionType": "DNS_REQUEST", "dnsRequestAction": {"domain": indicator}}
    else:
        action = {
            "actionType": "NETWORK_CONNECTION",
            "networkConnectionAction": {"remoteIpDetails": {"ipAddressV4": indicator}},
        }
    return {
        "id": "event-1",
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "detail": {
            "id": finding_id,
            "type": "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom",
            "severity": 5,
            "accountId": "111122223333",
            "region": "eu-west-1",
            "createdAt": "2027-01-15T09:00:00.000Z",
            "updatedAt": updated,
            "service": {
                "count": count,
                "detectorId": "d1",
                "action": action,
                "evidence": {"threatIntelligenceDetails": [{"threatListName": n, "threatNames": []} for n in lists]},
            },
        },
    }


STATE = {
    "version": 1,
    "updated_at": 1_799_990_000,
    "ipv4_encoding": "u32be-(start-previous_end,end-start)-pairs/zlib/base64",
    "feeds": {
        "spamhaus": {
            "rows": [
                {
                    "first": 100,
                    "last": 200,
                    "ipv4": encode_spans(spans(("198.51.100.0", "198.51.100.255"))),
                    "domains": [],
                }
            ]
        },
        "feodo": {
            "rows": [
                {
                    "first": 150,
                    "last": 300,
                    "ipv4": encode_spans(spans(("10.0.0.1", "10.0.0.1"), ("198.51.100.7", "198.51.100.7"))),
                    "domains": [],
                },
                {"first": 90, "last": 120, "ipv4": "", "domains": ["example.org", "*.bad.test"]},
            ]
        },
        "quiet": {
            "rows": [
                {"first": 1, "last": 2, "ipv4": encode_spans(spans(("203.0.113.9", "203.0.113.9"))), "domains": []}
            ]
        },
    },
}


class FakeStore:
    """The two Store calls the sightings use, over a dict."""

    def __init__(self, objects: dict[str, Any] | None = None) -> None:
        self.objects: dict[str, bytes] = {k: json.dumps(v).encode() for k, v in (objects or {}).items()}
        self.writes = 0

    def get_json(self, key: str, default: Any = None) -> Any:
        return json.loads(self.objects[key]) if key in self.objects else default

    def put_bytes(self, key: str, body: bytes, *, content_type: str = "") -> None:
        self.objects[key] = body
        self.writes += 1


def test_the_pure_decoder_reads_the_engines_own_address_encoding() -> None:
    encoded = encode_spans(spans(("1.0.0.0", "1.0.0.255"), ("8.8.8.8", "8.8.8.8"), ("200.0.0.0", "200.0.1.0")))

    for inside in ("1.0.0.0", "1.0.0.255", "8.8.8.8", "200.0.0.200"):
        assert spans_contain(encoded, ip(inside)), inside
    for outside in ("0.255.255.255", "1.0.1.0", "8.8.8.7", "8.8.8.9", "200.0.1.1", "255.255.255.255"):
        assert not spans_contain(encoded, ip(outside)), outside
    assert not spans_contain("", ip("1.0.0.1"))


def test_provenance_names_every_feed_holding_the_address_with_its_first_and_last_seen() -> None:
    found = provenance(STATE, "198.51.100.7", "ipv4")

    assert found == {"spamhaus": {"first_seen": 100, "last_seen": 200}, "feodo": {"first_seen": 150, "last_seen": 300}}
    assert provenance(STATE, "192.0.2.1", "ipv4") == {}


def test_provenance_of_a_name_includes_the_wildcard_entries_that_cover_it() -> None:
    assert set(provenance(STATE, "example.org", "domain")) == {"feodo"}
    assert set(provenance(STATE, "c2.bad.test", "domain")) == {"feodo"}
    assert provenance(STATE, "bad.test", "domain") == {}


def test_a_finding_from_another_stacks_list_is_not_a_sighting() -> None:
    with pytest.raises(NotASighting, match="none of stack 'threatfeed'"):
        parse_finding(finding_event(lists=("threatfeed-other-ip-1", "someone-elses-list")), "threatfeed")


def test_a_finding_is_parsed_from_the_documented_shape_for_addresses_and_names() -> None:
    address = parse_finding(finding_event("198.51.100.7"), "threatfeed")
    name = parse_finding(finding_event("C2.Bad.Test."), "threatfeed")

    assert (address.indicator, address.indicator_type, address.region, address.account) == (
        "198.51.100.7",
        "ipv4",
        "eu-west-1",
        "111122223333",
    )
    assert (name.indicator, name.indicator_type) == ("c2.bad.test", "domain")
    assert address.key == sighting_key("2027-01-15T09:00:00.000Z", "f1") == "sightings/dt=2027-01-15/f1.json"


def test_recording_the_same_finding_twice_keeps_one_record_and_the_first_provenance() -> None:
    store = FakeStore({"state/engine.json": STATE})

    first = record_finding(store, finding_event(), "threatfeed", now=NOW)
    again = record_finding(store, finding_event(), "threatfeed", now=NOW)
    store.objects["state/engine.json"] = json.dumps({**STATE, "feeds": {}}).encode()  # the feeds aged out since
    updated = record_finding(store, finding_event(count=3, updated="2027-01-15T11:00:00.000Z"), "threatfeed", now=NOW)

    assert (first["outcome"], again["outcome"], updated["outcome"]) == ("recorded", "duplicate", "updated")
    assert store.writes == 2
    stored = json.loads(store.objects["sightings/dt=2027-01-15/f1.json"])
    assert stored["count"] == 3 and stored["feeds"] == ["feodo", "spamhaus"]
    assert store.objects["sightings/dt=2027-01-15/f1.json"].endswith(b"}\n")  # one JSON line


def test_an_older_update_arriving_late_does_not_replace_a_newer_one() -> None:
    newer = parse_finding(finding_event(count=5, updated="2027-01-15T12:00:00.000Z"), "threatfeed")
    older = parse_finding(finding_event(count=2, updated="2027-01-15T10:00:00.000Z"), "threatfeed")

    assert merge(json.loads(newer.line()), older) is None


def test_a_sighting_whose_indicator_no_feed_holds_any_more_is_kept_with_a_warning() -> None:
    store = FakeStore({"state/engine.json": STATE})

    result = record_finding(store, finding_event("192.0.2.44"), "threatfeed", now=NOW)

    assert result["outcome"] == "recorded" and result["feeds"] == []
    assert "no feed in the engine state lists 192.0.2.44" in result["warning"]


def rows() -> list[dict[str, Any]]:
    def row(indicator: str, feeds: list[str], count: int, account: str, region: str, day: str) -> dict[str, Any]:
        kind = "domain" if indicator[-1].isalpha() else "ipv4"
        created, updated = f"{day}T00:00:00Z", f"{day}T01:00:00Z"
        return {
            "indicator": indicator,
            "indicator_type": kind,
            "feeds": feeds,
            "count": count,
            "account": account,
            "region": region,
            "created_at": created,
            "updated_at": updated,
        }

    return [
        row("198.51.100.7", ["feodo", "spamhaus"], 3, "1", "eu-west-1", "2027-01-10"),
        row("198.51.100.7", ["feodo", "spamhaus"], 1, "2", "us-east-1", "2027-01-12"),
        row("c2.bad.test", ["feodo"], 1, "1", "eu-west-1", "2027-01-13"),
        row("203.0.113.1", ["quiet"], 1, "1", "eu-west-1", "2026-06-01"),
    ]


def test_hits_count_findings_per_feed_and_per_indicator_and_name_the_silent_feeds() -> None:
    now = 1_800_000_000.0  # 2027-01-15
    hits = summarize(rows(), ["feodo", "spamhaus", "quiet", "tor"], since_days=30, now=now)

    assert [(f["feed"], f["findings"], len(f["indicators"])) for f in hits.feeds] == [
        ("feodo", 3, 2),
        ("spamhaus", 2, 1),
    ]
    top = hits.indicators[0]
    assert (top["indicator"], top["findings"], top["occurrences"], top["feeds"]) == (
        "198.51.100.7",
        2,
        4,
        ["feodo", "spamhaus"],
    )
    assert top["accounts"] == ["1", "2"]
    assert hits.silent == ["quiet", "tor"]  # quiet's only finding is older than the period
    assert hits.findings == 3


def test_hits_of_one_feed_keep_only_the_findings_it_contributed_to() -> None:
    hits = summarize(rows(), ["feodo", "spamhaus"], since_days=30, now=1_800_000_000.0, feed="spamhaus")

    assert [i["indicator"] for i in hits.indicators] == ["198.51.100.7"]
    assert hits.silent == []

"""STIX (2.1 JSON and 1.x XML) and MISP JSON."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from engine_helpers import NOW, settings

from threatfeed.engine import BodyUnreadable, FeedBody, build_lists
from threatfeed.engine.formats.stix import extract


def _indicator(id_: str, pattern: str, **extra) -> dict:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": id_,
        "created": "2026-11-01T00:00:00Z",
        "modified": extra.pop("modified", "2026-11-01T00:00:00Z"),
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-11-01T00:00:00Z",
        **extra,
    }


def _bundle(*objects: dict) -> str:
    return json.dumps({"type": "bundle", "id": "bundle--1", "objects": list(objects)})


def test_stix_patterns_with_or_and_in(run, ips, names):
    body = _bundle(
        _indicator("indicator--1", "[ipv4-addr:value = '198.51.99.1'] OR [ipv4-addr:value = '203.0.114.0/24']"),
        _indicator("indicator--2", "[domain-name:value = 'evil-site.biz' OR url:value = 'http://c2.evil-site.ru/x']"),
        _indicator("indicator--3", "[ipv4-addr:value IN ('45.33.32.1', '45.33.32.2')]"),
        _indicator("indicator--4", "[file:hashes.'SHA-256' = 'aa']"),
        {"type": "malware", "id": "malware--1", "name": "x"},
    )
    result = run(body)
    stats = result.feeds["f"]
    assert stats.format == "stix"
    assert ips(result) == ["45.33.32.1", "45.33.32.2", "198.51.99.1", "203.0.114.0/24"]
    assert names(result) == ["c2.evil-site.ru", "evil-site.biz"]
    assert stats.reasons == {"unsupported_pattern": 1, "url_host": 1}


def test_stix_revocation_is_a_later_version_of_the_same_id(run, ips):
    body = _bundle(
        _indicator("indicator--1", "[ipv4-addr:value = '198.51.99.1']", revoked=True, modified="2026-11-20T00:00:00Z"),
        _indicator("indicator--1", "[ipv4-addr:value = '198.51.99.1']"),
        _indicator("indicator--2", "[ipv4-addr:value = '198.51.99.2']"),
    )
    result = run(body)
    assert ips(result) == ["198.51.99.2"]
    assert result.feeds["f"].reasons == {"revoked": 1}


def test_stix_valid_until_in_the_past_expires_and_future_valid_from_waits(run, ips):
    body = _bundle(
        _indicator("indicator--1", "[ipv4-addr:value = '198.51.99.1']", valid_until="2026-11-02T00:00:00Z"),
        _indicator("indicator--2", "[ipv4-addr:value = '198.51.99.2']", valid_from="2027-01-01T00:00:00Z"),
        _indicator("indicator--3", "[ipv4-addr:value = '198.51.99.3']", valid_until="2027-01-01T00:00:00Z"),
    )
    result = run(body)
    assert ips(result) == ["198.51.99.3"]
    assert result.feeds["f"].reasons == {"expired": 1, "not_yet_valid": 1}


def test_stix_revocation_retracts_what_an_earlier_run_listed():
    first = build_lists(
        [
            FeedBody(
                "s",
                _bundle(_indicator("indicator--1", "[ipv4-addr:value = '198.51.99.1']")).encode(),
            )
        ],
        settings(),
    )
    assert first.lists[0].entries == 1
    revoked = _indicator(
        "indicator--1", "[ipv4-addr:value = '198.51.99.1']", revoked=True, modified="2026-11-27T00:00:00Z"
    )
    second = build_lists(
        [
            FeedBody(
                "s",
                _bundle(revoked, _indicator("indicator--9", "[ipv4-addr:value = '198.51.99.9']")).encode(),
            )
        ],
        settings(now=NOW + timedelta(days=1)),
        first.state,
    )
    assert second.lists[0].body == b"198.51.99.9\n"


def test_stix_confidence_is_kept(run):
    result = run(_bundle(_indicator("indicator--1", "[ipv4-addr:value = '198.51.99.1']", confidence=85)))
    assert result.state["feeds"]["f"]["rows"][0]["confidence"] == 85


def test_stix_cyber_observables_and_taxii_envelope(run, ips):
    body = json.dumps({"more": False, "objects": [{"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "198.51.99.4"}]})
    assert ips(run(body, "stix")) == ["198.51.99.4"]


def test_stix1_xml_address_and_domain_objects(run, ips, names):
    body = """<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1">
      <cybox:Object><cybox:Properties category="ipv4-addr">
        <AddressObj:Address_Value condition="Equals">198.51.99.5</AddressObj:Address_Value>
      </cybox:Properties></cybox:Object>
      <cybox:Object><cybox:Properties>
        <DomainNameObj:Value condition="Equals">evil-site.biz</DomainNameObj:Value>
      </cybox:Properties></cybox:Object>
    </stix:STIX_Package>"""
    result = run(body)
    assert result.feeds["f"].format == "stix"
    assert ips(result) == ["198.51.99.5"]
    assert names(result) == ["evil-site.biz"]


def test_stix_pattern_extraction_ignores_negation_and_regex():
    assert extract("[ipv4-addr:value != '1.2.3.4'] OR [domain-name:value MATCHES '^x']") == []
    assert extract("[network-traffic:dst_ref.value = '1.2.3.4' AND network-traffic:dst_port = 443]") == ["1.2.3.4"]
    assert extract(r"[domain-name:value = 'it\'s.evil-site.biz']") == ["it's.evil-site.biz"]


def test_invalid_json_is_an_unreadable_body():
    from threatfeed.engine import parse_body

    with pytest.raises(BodyUnreadable):
        parse_body(b'{"type": "bundle", "objects": [', format="stix")


def _attr(type_: str, value: str, **extra) -> dict:
    return {"type": type_, "value": value, "to_ids": True, "category": "Network activity", **extra}


def test_misp_event_with_attributes_and_objects(run, ips, names):
    event = {
        "Event": {
            "info": "x",
            "Attribute": [
                _attr("ip-dst", "198.51.99.1"),
                _attr("ip-src|port", "198.51.99.2|4444"),
                _attr("domain", "evil-site.biz"),
                _attr("md5", "d41d8cd98f00b204e9800998ecf8427e"),
                _attr("url", "http://c2.evil-site.ru/gate.php"),
            ],
            "Object": [{"name": "domain-ip", "Attribute": [_attr("domain|ip", "dl.evil-site.net|198.51.99.3")]}],
        }
    }
    result = run(json.dumps(event))
    assert result.feeds["f"].format == "misp"
    assert ips(result) == ["198.51.99.1", "198.51.99.2/31"]
    assert names(result) == ["c2.evil-site.ru", "dl.evil-site.net", "evil-site.biz"]
    assert result.feeds["f"].skipped == 1


def test_misp_rest_search_response_honours_to_ids_and_deleted(run, ips):
    body = {
        "response": {
            "Attribute": [
                _attr("ip-dst", "198.51.99.1"),
                _attr("ip-dst", "198.51.99.2", to_ids=False),
                _attr("hostname", "x.evil-site.biz", deleted=True),
            ]
        }
    }
    result = run(json.dumps(body), "misp")
    assert ips(result) == ["198.51.99.1"]
    assert result.feeds["f"].reasons == {"not_to_ids": 1, "revoked": 1}
    everything = run(json.dumps(body), "misp", options={"misp_to_ids": False})
    assert ips(everything) == ["198.51.99.1", "198.51.99.2"]


def test_misp_list_of_events(run, ips):
    body = [{"Event": {"Attribute": [_attr("ip-src", "198.51.99.1")]}}, {"Event": {"Attribute": []}}]
    assert ips(run(json.dumps(body))) == ["198.51.99.1"]

"""GuardDuty packing: limits, several lists, the overflow policy and what was dropped."""

from __future__ import annotations

from engine_helpers import lines_of, settings

from threatfeed.engine import FeedBody, build_lists


def _ips(n: int, start: int = 0) -> str:
    return "".join(f"45.{(start + i) >> 8 & 255}.{(start + i) & 255}.{1 + 2 * ((start + i) >> 16)}\n" for i in range(n))


def test_lists_fit_the_entry_limit_and_spill_into_more_slots():
    result = build_lists([FeedBody("a", _ips(25).encode())], settings(max_entries_per_list=10, ip_list_slots=3))
    ip_lists = [lst for lst in result.lists if lst.kind == "ip"]
    assert [lst.index for lst in ip_lists] == [0, 1, 2]
    assert [lst.entries for lst in ip_lists] == [10, 10, 5]
    assert result.dropped == {}


def test_overflow_keeps_higher_priority_feeds_first():
    feeds = [
        FeedBody("low", _ips(8).encode(), options={"priority": 1}),
        FeedBody("high", _ips(8, start=100).encode(), options={"priority": 9}),
    ]
    result = build_lists(feeds, settings(max_entries_per_list=10))
    kept = lines_of(result, "ip")
    assert len(kept) == 10
    assert set(_ips(8, start=100).split()) <= set(kept)
    assert result.dropped == {"ip_over_entry_limit": 6}


def test_overflow_prefers_confidence_then_recency():
    bundle = (
        '{"type":"bundle","objects":['
        '{"type":"indicator","id":"indicator--1","pattern":"[ipv4-addr:value = \'45.0.0.1\']","confidence":90},'
        '{"type":"indicator","id":"indicator--2","pattern":"[ipv4-addr:value = \'45.0.0.3\']","confidence":10},'
        '{"type":"indicator","id":"indicator--3","pattern":"[ipv4-addr:value = \'45.0.0.5\']","confidence":60}]}'
    )
    result = build_lists([FeedBody("s", bundle.encode())], settings(max_entries_per_list=2))
    assert lines_of(result, "ip") == ["45.0.0.1", "45.0.0.5"]
    assert result.dropped == {"ip_over_entry_limit": 1}


def test_partial_tier_is_cut_deterministically_in_address_order():
    result = build_lists([FeedBody("a", _ips(5).encode())], settings(max_entries_per_list=3))
    assert lines_of(result, "ip") == ["45.0.0.1", "45.0.1.1", "45.0.2.1"]


def test_byte_limit_splits_domain_lists_and_counts_the_overflow():
    names = "".join(f"{'x' * 40}-{i}.evil-site.biz\n" for i in range(10))
    result = build_lists([FeedBody("a", names.encode())], settings(max_bytes_per_list=200))
    (domain_list,) = [lst for lst in result.lists if lst.kind == "domain"]
    assert len(domain_list.body) <= 200
    assert domain_list.entries == 3
    assert result.dropped == {"domain_over_byte_limit": 7}


def test_entity_set_destination_puts_ips_and_domains_in_one_list():
    result = build_lists([FeedBody("a", b"45.0.0.1\nevil-site.biz\n")], settings(ip_destination="entity_set"))
    assert [(lst.kind, lst.index) for lst in result.lists] == [("domain", 0)]
    assert result.lists[0].body == b"45.0.0.1\nevil-site.biz\n"


def test_no_ip_slot_means_every_ip_is_dropped():
    result = build_lists([FeedBody("a", b"45.0.0.1\nevil-site.biz\n")], settings(ip_list_slots=0))
    assert [lst.kind for lst in result.lists] == ["domain"]
    assert result.dropped == {"ip_over_entry_limit": 1}


def test_empty_lists_are_still_returned_with_zero_entries():
    result = build_lists([FeedBody("a", b"# nothing\n")], settings())
    assert [(lst.kind, lst.entries, lst.body) for lst in result.lists] == [("ip", 0, b""), ("domain", 0, b"")]


def test_list_outputs_are_txt_with_sha256():
    import hashlib

    result = build_lists([FeedBody("a", b"45.0.0.1\n")], settings())
    lst = result.lists[0]
    assert lst.format == "TXT" and lst.sha256 == hashlib.sha256(lst.body).hexdigest()


def test_entity_lists_keep_the_best_entries_within_their_own_quota():
    names = "".join(f"evil-{i:02d}.example-shop.biz\n" for i in range(8))
    feeds = [
        FeedBody("low", names.encode(), options={"priority": 1}),
        FeedBody("high", b"top-1.example-shop.biz\ntop-2.example-shop.biz\n", options={"priority": 9}),
    ]
    result = build_lists(feeds, settings(max_entities_per_list=5))
    assert lines_of(result, "domain") == [
        "evil-00.example-shop.biz",
        "evil-01.example-shop.biz",
        "evil-02.example-shop.biz",
        "top-1.example-shop.biz",
        "top-2.example-shop.biz",
    ]
    assert result.dropped == {"domain_over_entry_limit": 5}
    assert result.manifest()["settings"]["max_entities_per_list"] == 5


def test_the_entity_quota_binds_ips_sent_to_entity_lists_but_not_ip_lists():
    ips = _ips(12).encode()
    in_ip_list = build_lists([FeedBody("a", ips)], settings(max_entities_per_list=4))
    assert len(lines_of(in_ip_list, "ip")) == 12 and in_ip_list.dropped == {}
    in_entity_list = build_lists([FeedBody("a", ips)], settings(max_entities_per_list=4, ip_destination="entity_set"))
    assert len(lines_of(in_entity_list, "domain")) == 4
    assert in_entity_list.dropped == {"entity_over_entry_limit": 8}


def test_the_default_entity_quota_is_guardduty_s():
    from threatfeed.engine.model import GUARDDUTY_MAX_ENTITIES

    assert settings().max_entities_per_list == GUARDDUTY_MAX_ENTITIES == 1_000


def test_entity_lines_merge_the_rows_sorted_names_each_once():
    from threatfeed.engine.packing import merged_names
    from threatfeed.engine.policy import Policy
    from threatfeed.engine.state import Row, StoredNames

    stored = Row(1, 2, 50, domains=StoredNames("a-evil.com c-evil.net x-evil.org"))
    fresh = Row(2, 2, 50, domains=frozenset({"b-evil.com", "z-evil.io"}))
    other_feed = Row(2, 2, 50, domains=frozenset({"c-evil.net", "d-evil.biz"}))
    policy = Policy()
    assert merged_names([stored, fresh], policy, disjoint=True) == [
        "a-evil.com", "b-evil.com", "c-evil.net", "x-evil.org", "z-evil.io"
    ]  # fmt: skip
    assert merged_names([stored, other_feed], policy) == ["a-evil.com", "c-evil.net", "d-evil.biz", "x-evil.org"]
    assert not stored.domains.is_materialized  # merged from its text, never made a set
    # a wildcard covers a listed name: through the collapse, as a union would be
    wild = Row(2, 2, 50, domains=frozenset({"*.c-evil.net", "sub.c-evil.net"}))
    assert merged_names([stored, wild], policy) == ["*.c-evil.net", "a-evil.com", "c-evil.net", "x-evil.org"]


def test_two_feeds_listing_one_name_in_one_tier_publish_it_once():
    body = b"shared-c2.net\nonly-a.biz\n"
    result = build_lists([FeedBody("a", body), FeedBody("b", b"shared-c2.net\nonly-b.org\n")], settings())
    assert lines_of(result, "domain") == ["only-a.biz", "only-b.org", "shared-c2.net"]


def test_lists_cut_from_the_rendered_entries_equal_lists_written_line_by_line():
    # IP entries are rendered as one text and each list's body is cut from it; in entity lists the cut may fall
    # inside the IP entries, on the boundary with the names, or inside the names
    from threatfeed.engine.model import ListOutput
    from threatfeed.engine.packing import Lines, ip_lines
    from threatfeed.engine.spans import from_keys

    spans = from_keys([(0x2D000000 + 2 * i) << 32 | (0x2D000000 + 2 * i + (i % 3)) for i in range(11)])
    names = ["a-site.biz", "b-site.biz", "c-site.biz", "d-site.biz"]
    lines = Lines(spans, names)
    every = ip_lines(spans) + names
    assert lines.as_list() == every and len(lines) == len(every)
    for lo in range(len(every) + 1):
        for hi in range(lo, len(every) + 1):
            assert lines.body(lo, hi) == ListOutput.of("ip", 0, every[lo:hi]).body, (lo, hi)
    body = b"45.0.0.1\n45.0.0.2/31\nsome-site.biz\nother-site.biz\nthird-site.biz\n"
    result = build_lists(
        [FeedBody("a", body)], settings(ip_destination="entity_set", ip_list_slots=3, max_entities_per_list=2)
    )
    assert [lst.body for lst in result.lists] == [
        b"45.0.0.1\n45.0.0.2/31\n",
        b"other-site.biz\nsome-site.biz\n",
        b"third-site.biz\n",
    ]


def test_what_a_tier_kept_in_part_loses_is_counted_against_the_published_entries():
    # one tier, two feeds, room for three of its four addresses: the first three in address order are published,
    # and only the fourth is reported as left out (by the feed that listed it)
    feeds = [FeedBody("lo1", b"45.0.0.1\n45.0.0.9\n"), FeedBody("lo2", b"45.0.0.3\n45.0.0.11\n")]
    result = build_lists(feeds, settings(max_entries_per_list=3))
    assert lines_of(result, "ip") == ["45.0.0.1", "45.0.0.3", "45.0.0.9"]
    left = result.manifest()["left_out"]["ip"]
    assert left["entries"] == 1
    assert left["by_feed"] == {"lo2": {"50-74": 1}}

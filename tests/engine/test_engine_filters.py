"""Bogons, the minimum prefix and the allow-list (matched by overlap)."""

from __future__ import annotations

import pytest
from engine_helpers import NOW

from threatfeed.engine import EngineSettings
from threatfeed.engine.model import DEFAULT_MIN_PREFIX_LEN
from threatfeed.engine.policy import BOGON_CIDRS
from threatfeed.errors import ConfigError


@pytest.mark.parametrize("cidr", BOGON_CIDRS)
def test_every_bogon_range_is_rejected(run, ips, cidr):
    first = cidr.split("/")[0]
    result = run(f"{first}\n{cidr}\n", min_prefix_len=4)
    assert ips(result) == []
    assert result.feeds["f"].reasons == {"bogon": 2}


def test_ranges_overlapping_bogons_are_carved_not_rejected(run, ips):
    result = run("100.0.0.0/9\n", min_prefix_len=8)
    # 100.0.0.0/9 = 100.0.0.0-100.127.255.255 minus 100.64.0.0/10
    assert ips(result) == ["100.0.0.0/10"]
    assert result.feeds["f"].reasons == {"bogon_carved": 1}
    assert result.feeds["f"].accepted == 1


def test_default_minimum_prefix_rejects_broad_entries_and_never_lets_everything_through(run, ips):
    assert DEFAULT_MIN_PREFIX_LEN == 12
    result = run("0.0.0.0/0\n0.0.0.0/1\n128.0.0.0/1\n8.0.0.0/8\n44.0.0.0/12\n")
    assert ips(result) == ["44.0.0.0/12"]
    assert result.feeds["f"].reasons == {"prefix_too_broad": 4}


def test_zero_slash_zero_never_gets_through_even_with_no_minimum(run, ips):
    result = run("0.0.0.0/0\n", min_prefix_len=0)
    published = ips(result)
    assert "0.0.0.0/0" not in published and published  # carved into the routable remainder
    assert not any(line.startswith(("0.", "10.", "127.", "224.", "240.")) for line in published)


def test_broad_ranges_are_measured_by_size(run):
    result = run("1.0.0.0-1.31.255.255\n", min_prefix_len=12)
    assert result.feeds["f"].reasons == {"prefix_too_broad": 1}


def test_allow_listed_host_is_carved_out_of_a_listed_range(run, ips):
    result = run("198.51.99.0/24\n", allow_list=["198.51.99.77"])
    assert ips(result) == [
        "198.51.99.0/26",
        "198.51.99.64/29",
        "198.51.99.72/30",
        "198.51.99.76",
        "198.51.99.78/31",
        "198.51.99.80/28",
        "198.51.99.96/27",
        "198.51.99.128/25",
    ]
    assert result.feeds["f"].reasons == {"allow_list_carved": 1}


def test_allow_list_matches_by_overlap_in_both_directions(run, ips):
    result = run("198.51.99.77\n198.51.100.200\n45.33.32.0/28\n", allow_list=["198.51.99.0/24", "45.33.32.8/29"])
    assert ips(result) == ["45.33.32.0/29"]
    assert result.feeds["f"].reasons == {"allow_listed": 1, "bogon": 1, "allow_list_carved": 1}


def test_allow_listed_domains_cover_their_subdomains_and_block_overlapping_wildcards(run, names):
    body = "good-corp.biz\ncdn.good-corp.biz\n*.good-corp.biz\n*.cloud-host.net\nevil.cloud-host.net\nbad.biz\n"
    result = run(body, allow_list=["good-corp.biz", "mine.cloud-host.net"])
    assert names(result) == ["bad.biz", "evil.cloud-host.net"]
    assert result.feeds["f"].reasons == {"allow_listed": 3, "allow_list_overlap": 1}


def test_allow_list_files_are_read_too(run, ips, names):
    files = [b"# ours\n198.51.99.0/25\n", b"good-corp.biz\n2001:db8::/32\n"]
    result = run("198.51.99.0/24\ngood-corp.biz\n", allow_list_files=files)
    assert ips(result) == ["198.51.99.128/25"]
    assert names(result) == []


def test_a_bad_allow_list_entry_fails_loudly(run):
    with pytest.raises(ConfigError, match="allow-list"):
        run("1.2.3.4\n", allow_list=["not an address!"])


def test_settings_are_validated():
    with pytest.raises(ValueError):
        EngineSettings(now=NOW, min_prefix_len=33)
    with pytest.raises(ValueError):
        EngineSettings(now=NOW, ip_destination="somewhere")

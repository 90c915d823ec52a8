"""MISP warninglists in the engine: benign infrastructure never reaches a list, and each suppressed indicator is
counted under its list's name, with samples, in the manifest and in ``threatfeed parse --json``."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from engine_helpers import NOW, lines_of, settings

from threatfeed.engine import FeedBody, build_lists
from threatfeed.engine import warninglists as W
from threatfeed.engine.cli import main as parse_main
from threatfeed.engine.reasons import CORRECTIONS
from threatfeed.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

#: Public resolvers, AWS / Cloudflare / Google ranges, top sites, and four indicators no list holds.
MIXED = """\
8.8.8.8
1.1.1.1
9.9.9.9
208.67.222.222
52.94.0.0/22
3.5.140.0/22
104.16.0.0/13
google.com
www.microsoft.com
amazon.com
45.155.205.233
185.220.101.34
sample-c2-relay.top
evil.blogspot.com
"""
MALICIOUS_IPS = ["45.155.205.233", "185.220.101.34"]
MALICIOUS_NAMES = ["evil.blogspot.com", "sample-c2-relay.top"]


def default(**kw):
    return settings(warninglists=("default",), **kw)


def suppressed_reasons(stats) -> dict[str, int]:
    return {r: n for r, n in stats.reasons.items() if r.startswith("warninglist:")}


def test_a_feed_of_resolvers_cloud_ranges_and_top_sites_lists_only_its_malicious_indicators():
    result = build_lists([FeedBody("mixed", MIXED.encode())], default())

    assert lines_of(result, "ip") == MALICIOUS_IPS
    assert lines_of(result, "domain") == MALICIOUS_NAMES
    stats = result.feeds["mixed"]
    assert suppressed_reasons(stats) == {
        "warninglist:public-dns-v4": 4,
        "warninglist:amazon-aws": 2,
        "warninglist:cloudflare": 1,
        "warninglist:tranco10k": 2,
        "warninglist:microsoft-office365": 1,
    }
    assert stats.accepted == 4 and stats.rejected == 10
    assert stats.rejected == sum(n for r, n in stats.reasons.items() if r not in CORRECTIONS)
    samples = {(s["reason"], s["text"], s["line"]) for s in stats.samples}
    assert ("warninglist:public-dns-v4", "8.8.8.8", 1) in samples
    assert ("warninglist:amazon-aws", "52.94.0.0/22", 5) in samples
    assert ("warninglist:tranco10k", "google.com", 8) in samples
    manifest = result.manifest()
    assert manifest["warninglists"]["suppressed"]["public-dns-v4"] == 4
    assert "public-dns-v4" in manifest["warninglists"]["lists"]
    assert manifest["warninglists"]["package"] == f"pymispwarninglists {W.header()['package_version']}"


def test_without_warninglists_the_same_feed_lists_everything():
    result = build_lists([FeedBody("mixed", MIXED.encode())], settings())
    assert "8.8.8.8" in lines_of(result, "ip") and "google.com" in lines_of(result, "domain")
    assert not suppressed_reasons(result.feeds["mixed"]) and result.manifest()["warninglists"] == {}


def test_parse_json_shows_the_same_accounting_as_the_manifest(tmp_path, capsys):
    feed = tmp_path / "mixed.txt"
    feed.write_text(MIXED)
    assert parse_main([str(feed), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)

    manifest = build_lists([FeedBody("mixed.txt", MIXED.encode())], default()).manifest()
    stats = manifest["feeds"]["mixed.txt"]
    assert shown["reasons"] == stats["reasons"] and shown["samples"] == stats["samples"]
    assert shown["warninglists"]["suppressed"] == manifest["warninglists"]["suppressed"]
    assert shown["indicators"] == MALICIOUS_IPS + MALICIOUS_NAMES


def test_parse_can_switch_the_warninglists_off(tmp_path, capsys):
    feed = tmp_path / "mixed.txt"
    feed.write_text(MIXED)
    assert parse_main([str(feed), "--json", "--warninglists", "none"]) == 0
    assert "8.8.8.8" in json.loads(capsys.readouterr().out)["indicators"]


def test_a_range_only_overlapping_a_provider_stays_whole_and_one_inside_is_dropped():
    # 35.190.0.0/17 is partly Google Cloud; 35.190.0.0/24 lies inside it (as do the resolvers' addresses)
    result = build_lists([FeedBody("f", b"35.190.0.0/17\n")], default())
    assert lines_of(result, "ip") == ["35.190.0.0/17"] and result.feeds["f"].accepted == 1
    inside = build_lists([FeedBody("f", b"35.190.0.0/24\n35.190.0.7\n")], default())
    assert lines_of(inside, "ip") == [] and inside.feeds["f"].reasons == {"warninglist:google-gcp": 2}


def test_a_top_site_is_suppressed_but_not_its_subdomains_and_resolver_names_with_theirs():
    names = "google.com\nwww.google.com\nphish.google.com.evil.top\nevil.blogspot.com\n*.google.com\n"
    names += "hit-malware.opendns.com\nx.hit-malware.opendns.com\n"
    result = build_lists([FeedBody("f", names.encode())], default())
    assert lines_of(result, "domain") == ["evil.blogspot.com", "phish.google.com.evil.top"]
    reasons = suppressed_reasons(result.feeds["f"])
    assert reasons["warninglist:umbrella-blockpage-hostname"] == 2  # a suffix list: the name and below


def test_bulk_addresses_are_counted_per_list_with_their_first_lines():
    # thousands of plain address lines take the NumPy path; resolvers scattered among them
    body = "".join(f"45.{i // 250 + 10}.{i % 250}.1\n" for i in range(3000))
    body += "8.8.8.8\n" * 3 + "1.1.1.1\n" + "203.0.113.9\n"
    result = build_lists([FeedBody("bulk", body.encode())], default())
    stats = result.feeds["bulk"]
    assert stats.reasons["warninglist:public-dns-v4"] == 4 and stats.reasons["bogon"] == 1
    assert [s["line"] for s in stats.samples if s["reason"] == "warninglist:public-dns-v4"] == [3001, 3002, 3003, 3004]
    assert "8.8.8.8" not in lines_of(result, "ip") and stats.accepted == 3000


def test_a_contribution_kept_from_an_earlier_run_is_brought_under_todays_lists():
    before = build_lists([FeedBody("f", b"8.8.8.8\n45.9.148.114\ngoogle.com\nsample-c2-relay.top\n")], settings())
    assert "8.8.8.8" in lines_of(before, "ip")
    # the feed fails today: its last contribution is carried over, less what the warninglists now hold
    today = build_lists([], default(), previous_state=before.state, carry_over=["f"])
    assert lines_of(today, "ip") == ["45.9.148.114"] and lines_of(today, "domain") == ["sample-c2-relay.top"]


def test_a_state_written_under_the_same_lists_is_not_scrubbed_again_and_a_new_list_still_applies(monkeypatch):
    import threatfeed.engine.build as B

    scrubbed: list[int] = []
    real = B.scrub_states
    monkeypatch.setattr(B, "scrub_states", lambda feeds, warn: scrubbed.append(len(feeds)) or real(feeds, warn))
    first = build_lists([FeedBody("f", b"45.9.148.114\n185.220.101.34\nsample-c2-relay.top\n")], default())
    assert first.state["clean_under"] and scrubbed == [0]
    # the same lists and settings: every kept row is already under them (a million names take most of a second)
    same = build_lists([], default(), previous_state=first.state, carry_over=["f"])
    assert scrubbed == [0] and lines_of(same, "ip") == lines_of(first, "ip")
    # a user's list added since: the state was clean under other lists, so it is brought under this one
    mine = settings(warninglists=("default",), warninglist_files={"partners": b"45.9.148.0/24\n"})
    later = build_lists([], mine, previous_state=same.state, carry_over=["f"])
    assert scrubbed == [0, 1] and lines_of(later, "ip") == ["185.220.101.34"]


def test_a_users_own_list_is_counted_under_its_name():
    mine = b"# partners\n45.9.148.0/24\npartner-corp.net\n"
    result = build_lists(
        [FeedBody("f", b"45.9.148.114\nsso.partner-corp.net\n185.220.101.34\n")],
        settings(warninglist_files={"partners": mine}),
    )
    assert lines_of(result, "ip") == ["185.220.101.34"] and lines_of(result, "domain") == []
    assert suppressed_reasons(result.feeds["f"]) == {"warninglist:custom/partners": 2}


def test_a_users_list_with_garbage_fails_the_run():
    with pytest.raises(ConfigError, match="warninglist 'mine'"):
        build_lists([FeedBody("f", b"1.2.3.4\n")], settings(warninglist_files={"mine": b"300.1.2.3\n"}))


def test_the_selection_takes_groups_list_names_and_removals_and_refuses_typos():
    everything = W.resolve("default")
    assert "amazon-aws" in everything and "public-dns-v4" in everything and "tranco10k" in everything
    assert "amazon-aws" not in W.resolve("default,-amazon-aws")
    assert W.resolve("resolvers") == ("public-dns-v4", "public-dns-hostname")
    assert W.resolve("none") == () and W.resolve("sinkholes,dynamic-dns")[-1] == "dynamic-dns"
    with pytest.raises(ConfigError, match="amazon-awz"):
        W.resolve("default,amazon-awz")


def test_every_list_of_the_default_set_is_in_the_compiled_file():
    available = W.available()
    missing = [slug for group in W.GROUPS.values() for slug in group if slug not in available]
    assert missing == []


def test_the_compiled_file_is_up_to_date_with_the_pinned_package():
    if importlib.util.find_spec("pymispwarninglists") is None:
        pytest.skip("pymispwarninglists (dev dependency) is not installed")

    pinned = re.search(r'"pymispwarninglists==([^"]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert importlib.metadata.version("pymispwarninglists") == pinned == W.header()["package_version"]
    spec = importlib.util.spec_from_file_location("compile_warninglists", ROOT / "tools" / "compile_warninglists.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    committed = (ROOT / "src" / "threatfeed" / "data" / "warninglists.npz").read_bytes()
    assert tool.build() == committed, "run: python tools/compile_warninglists.py"


def test_names_outlive_addresses_once_no_feed_lists_them():
    seen = build_lists([FeedBody("f", b"45.9.148.114\nsample-c2-relay.top\n")], settings())
    # the feed fails from now on: its last contribution is carried over and ages, addresses after days_requested
    later = build_lists(
        [], settings(now=NOW + timedelta(days=10), domain_max_age_days=30), previous_state=seen.state, carry_over=["f"]
    )
    assert lines_of(later, "ip") == [] and lines_of(later, "domain") == ["sample-c2-relay.top"]
    much_later = build_lists(
        [], settings(now=NOW + timedelta(days=31), domain_max_age_days=30), previous_state=seen.state, carry_over=["f"]
    )
    assert lines_of(much_later, "domain") == []


def test_the_default_selections_pieces_read_from_the_file_equal_those_computed():
    selection = W.resolve("default")
    read = W.build_index(selection, {})
    archive = W._archive()[0]
    rows = [(s, archive[f"ip:{s}"]) for s in selection if f"ip:{s}" in archive]
    spans, starts, labels = W._pieces([(s, r[:, 0], r[:, 1]) for s, r in rows if len(r)])
    assert read.spans == spans and read.piece_starts.tolist() == starts.tolist()
    assert read.piece_labels.tolist() == labels.tolist()

"""Presets: catalogue shapes and errors, and each public list's real line format fetched over loopback and read
by the engine."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from threatfeed.catalogue import parse_catalogue, url_problem
from threatfeed.engine import EngineSettings, FeedBody, build_lists
from threatfeed.engine.model import FORMATS
from threatfeed.errors import ConfigError, FeedRejected
from threatfeed.feeds import FEED_TYPES, fetch_feed
from threatfeed.feeds.presets import PRESETS, expand, preset_named

USABLE = sorted(name for name, preset in PRESETS.items() if not preset.replaced_by)


def catalogue(*feeds: dict) -> list:
    return parse_catalogue(json.dumps({"feeds": list(feeds)}), allow_http_loopback=False)


# ------------------------------------------------------------------------------------------ catalogue
@pytest.mark.parametrize("name", USABLE)
def test_every_preset_is_an_https_list_in_a_format_the_engine_reads(name) -> None:
    (entry,) = catalogue({"name": name, "type": "preset"})

    assert (entry.type, entry.url, entry.format) == ("preset", PRESETS[name].url, PRESETS[name].format)
    assert entry.options == {**PRESETS[name].options, "preset": name} and entry.secret is None
    assert url_problem(entry.url, allow_http_loopback=False) is None and entry.url.startswith("https://")
    assert entry.format in FORMATS and entry.format in FEED_TYPES["preset"].formats
    assert PRESETS[name].schedule and PRESETS[name].notes


def test_the_three_catalogue_shapes_are_equivalent() -> None:
    by_name, top_level, in_options = catalogue(
        {"name": "tor-exits", "type": "preset"},
        {"name": "tor", "type": "preset", "preset": "tor-exits"},
        {"name": "tor2", "type": "preset", "options": {"preset": "tor-exits", "priority": 2}},
    )

    assert by_name.url == top_level.url == in_options.url == "https://check.torproject.org/exit-addresses"
    assert by_name.format == top_level.format == in_options.format == "tor"
    assert top_level.options == {"preset": "tor-exits"}
    assert in_options.options == {"preset": "tor-exits", "priority": 2}


def test_giving_the_presets_own_url_and_format_is_fine() -> None:
    drop = PRESETS["spamhaus-drop"]

    (entry,) = catalogue({"name": "spamhaus-drop", "type": "preset", "url": drop.url, "format": "txt"})

    assert entry.url == drop.url


@pytest.mark.parametrize(
    ("feed", "why"),
    [
        (
            {"name": "spamhaus-edrop", "type": "preset"},
            "merged EDROP into DROP on 2024-04-10.*use the preset spamhaus-drop",
        ),
        ({"name": "x", "type": "preset"}, "preset 'x' is not one of: cins-army, dataplane-sshclient"),
        ({"name": "x", "type": "preset", "preset": "tor-exits", "options": {"preset": "cins-army"}}, "keep one"),
        ({"name": "x", "type": "preset", "preset": "cins-army", "url": "https://mirror.invalid/l.txt"}, "http_list"),
        ({"name": "x", "type": "preset", "preset": "cins-army", "format": "csv"}, "leave 'format' out"),
        ({"name": "x", "type": "preset", "preset": 3}, "preset 3 is not one of"),
    ],
)
def test_preset_mistakes_are_catalogue_errors(feed, why) -> None:
    with pytest.raises(ConfigError, match=why):
        catalogue(feed)


def test_expand_leaves_its_input_alone() -> None:
    raw = {"name": "d", "type": "preset", "preset": "dshield-block", "options": {"priority": 1}}

    expanded, problems = expand(raw)

    assert problems == [] and raw == {
        "name": "d",
        "type": "preset",
        "preset": "dshield-block",
        "options": {"priority": 1},
    }
    assert "preset" not in expanded and expanded["options"] == {"priority": 1, "preset": "dshield-block"}


def test_the_catalogue_still_imports_no_http_library() -> None:
    code = (
        "import json, sys; from threatfeed.catalogue import parse_catalogue; "
        "parse_catalogue(json.dumps({'feeds': [{'name': 'feodotracker', 'type': 'preset'}]})); "
        "print('requests' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()

    assert out == "False"


# ------------------------------------------------------------------------------ fetched and parsed
SAMPLES = {
    "spamhaus-drop": (
        "; Spamhaus DROP List 2026/11/27 - (c) 2026 The Spamhaus Project SLU\n"
        "; https://www.spamhaus.org/drop/drop.txt\n"
        "; Last-Modified: Fri, 27 Nov 2026 10:43:35 GMT\n"
        "1.10.16.0/20 ; SBL256894\n"
        "45.9.148.0/24 ; SBL650911\n"
        "; EOF\n",
        ["1.10.16.0/20", "45.9.148.0/24"],
    ),
    "feodotracker": (
        "################################################################\n"
        "# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (recommended)  #\n"
        "################################################################\n"
        "#\n# DstIP\n"
        "91.92.240.10\n185.220.101.34\n"
        "# END 2 entries\n",
        ["91.92.240.10", "185.220.101.34"],
    ),
    "tor-exits": (
        "ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E\n"
        "Published 2026-11-27 06:44:10\n"
        "LastStatus 2026-11-27 09:00:00\n"
        "ExitAddress 185.220.101.34 2026-11-27 09:05:23\n"
        "ExitNode 0091174DE56EA7E8C2A7EA0C4E8D1B2B4E2AC6A8\n"
        "Published 2026-11-27 04:12:55\n"
        "LastStatus 2026-11-27 08:00:00\n"
        "ExitAddress 193.42.33.7 2026-11-27 08:31:02\n",
        ["185.220.101.34", "193.42.33.7"],
    ),
    "dshield-block": (
        "#\n#   DShield.org Recommended Block List\n#   (c) 2026 DShield.org\n#\n"
        "Start\tEnd\tNetblock\tAttacks\tName\tCountry\temail\n"
        "45.9.148.0\t45.9.148.255\t24\t5418\tEXAMPLE-NET\tNL\tabuse@provider.invalid\n"
        "91.92.240.0\t91.92.240.255\t24\t3101\t\tNL\t\n",
        ["45.9.148.0/24", "91.92.240.0/24"],
    ),
    "cins-army": ("45.9.148.114\n91.92.240.10\n", ["45.9.148.114", "91.92.240.10"]),
    "spamhaus-drop-json": (
        '{"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"}\n'
        '{"cidr":"45.9.148.0/24","sblid":"SBL650911","rir":"ripencc"}\n'
        '{"type":"metadata","timestamp":1795773682,"size":120,"records":2,"copyright":"(c) 2026 Spamhaus"}\n',
        ["1.10.16.0/20", "45.9.148.0/24"],
    ),
    "feodotracker-json": (
        '[{"ip_address": "91.92.240.10", "port": 443, "status": "online", "hostname": null, "as_number": 394711, '
        '"as_name": "LIMENET", "country": "NL", "first_seen": "2026-11-20 10:00:00", "last_online": "2026-11-27", '
        '"malware": "QakBot"}]\n',
        ["91.92.240.10"],
    ),
    "threatfox-recent": (
        '{"1663050": [{"ioc_value": "91.92.240.10:4444", "ioc_type": "ip:port", "threat_type": "botnet_cc", '
        '"confidence_level": 100, "reference": "https://blog.researcher.example.net/x"}], '
        '"1663053": [{"ioc_value": "9f2c4a1e8b7d6c5f4e3a2b1c0d9e8f7a", "ioc_type": "md5_hash", '
        '"threat_type": "payload", "confidence_level": 50}]}\n',
        ["91.92.240.10"],
    ),
    "urlhaus-recent": (
        '{"3312001": [{"url": "http://193.42.33.7:41922/i", "url_status": "online", "threat": "malware_download", '
        '"urlhaus_link": "https://urlhaus.abuse.ch/url/3312001/"}], '
        '"3312003": [{"url": "http://59.97.171.99:39214/bin.sh", "url_status": "offline", '
        '"threat": "malware_download", "urlhaus_link": "https://urlhaus.abuse.ch/url/3312003/"}]}\n',
        ["193.42.33.7"],
    ),
    **{
        f"dataplane-{report}": (
            f"# DataPlane.org - for operators, by operators\n# {report}\n#\n"
            "# ASN  |  ASname  |  ipaddr  |  lastseen  |  category\n#\n"
            f"4134         |  CHINANET-BACKBONE No.31,Jin-ro  |  117.21.224.121  |  2026-11-26 02:35:38  |  {report}\n"
            f"64512        |  EXAMPLE | Hosting              |  45.9.148.114    |  2026-11-27 12:00:00  |  {report}\n",
            ["117.21.224.121", "45.9.148.114"],
        )
        for report in ("sshpwauth", "sshclient", "telnetlogin", "vncrfb")
    },
    "et-compromised": ("193.42.33.7\n194.26.29.113\n", ["193.42.33.7", "194.26.29.113"]),
}


def test_every_usable_preset_has_a_sample_here() -> None:
    assert sorted(SAMPLES) == USABLE


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_preset_is_fetched_as_a_list_and_read_by_the_engine(server, session, settings, now, name) -> None:
    body, expected = SAMPLES[name]
    server.set_route(f"/{name}", body=body, headers={"Content-Type": "text/plain; charset=utf-8"})
    (resolved,) = catalogue({"name": name, "type": "preset"})
    loopback = replace(resolved, url=server.url(f"/{name}"))

    fetched = fetch_feed(loopback, now=now, days_requested=7, secret=None, settings=settings, session=session)
    feed = FeedBody(name, fetched.body, resolved.format, resolved.options)
    result = build_lists([feed], EngineSettings(now=now, days_requested=7))

    assert fetched.status == 200 and fetched.body == body.encode() and fetched.cursor is None
    (ip_list,) = [lst for lst in result.lists if lst.kind == "ip"]
    assert sorted(ip_list.body.decode().split()) == sorted(expected)
    assert result.feeds[name].rejected == 0


def test_a_preset_feed_rejects_what_any_list_rejects(server, session, settings, now) -> None:
    server.set_route("/drop", body=b"<!DOCTYPE html><html><body>Rate limited</body></html>")
    (resolved,) = catalogue({"name": "spamhaus-drop", "type": "preset"})
    loopback = replace(resolved, url=server.url("/drop"))

    with pytest.raises(FeedRejected, match="HTML page"):
        fetch_feed(loopback, now=now, days_requested=7, secret=None, settings=settings, session=session)


@pytest.mark.parametrize("preset", ["spamhaus-edrop", "nope"])
def test_a_retired_or_unknown_preset_is_not_fetched(server, session, settings, now, preset) -> None:
    (resolved,) = catalogue({"name": "cins-army", "type": "preset"})
    broken = replace(resolved, url=server.url("/x"), options={"preset": preset})

    with pytest.raises(ConfigError, match=preset):
        fetch_feed(broken, now=now, days_requested=7, secret=None, settings=settings, session=session)
    assert server.requests == []


def test_preset_named_explains_the_edrop_merge() -> None:
    with pytest.raises(ConfigError, match="feed f: preset 'spamhaus-edrop' is retired: Spamhaus merged EDROP"):
        preset_named("spamhaus-edrop", "f")
    assert preset_named("spamhaus-drop").url == "https://www.spamhaus.org/drop/drop.txt"

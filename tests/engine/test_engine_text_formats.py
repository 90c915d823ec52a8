"""Plain-text feed shapes: comments, ranges, DShield, hosts files, Tor, encodings and defanging."""

from __future__ import annotations

import pytest

from threatfeed.engine import parse_body


def test_comments_of_every_style_are_skipped_and_inline_comments_cut(run, ips):
    body = "# hash\n; semi\n// slashes\n\n1.4.0.0/17 ; SBL256893\n5.6.7.8 # note\n9.9.9.9 // trailing\n"
    result = run(body)
    assert ips(result) == ["1.4.0.0/17", "5.6.7.8", "9.9.9.9"]
    stats = result.feeds["f"]
    assert stats.accepted == 3 and stats.rejected == 0
    assert stats.skipped == 4


def test_spamhaus_drop_shape_with_ipv6_lines(run, ips):
    body = "; Spamhaus DROP List\n1.10.16.0/20 ; SBL256894\n2001:db8::/32 ; SBL1\n"
    result = run(body)
    assert ips(result) == ["1.10.16.0/20"]
    assert result.feeds["f"].reasons == {"ipv6_not_supported": 1}
    assert result.feeds["f"].ipv6 == 1


def test_dashed_ranges_become_minimal_cidrs(run, ips):
    result = run("5.6.7.0-5.6.7.255\n8.8.4.0 - 8.8.4.9\n")
    assert ips(result) == ["5.6.7.0/24", "8.8.4.0/29", "8.8.4.8/31"]


def test_reversed_range_is_rejected(run):
    result = run("5.6.7.9-5.6.7.1\n")
    assert result.feeds["f"].reasons == {"invalid_range": 1}


def test_dshield_block_txt_header_and_tab_separated_ranges(run, ips):
    body = (
        "#   DShield.org Recommended Block List\n"
        "Start\tEnd\tNetblock\tAttacks\tName\tCountry\temail\n"
        "45.148.10.0\t45.148.10.255\t24\t5123\tSOME-NET\tNL\tabuse@example.net\n"
        "80.94.95.0\t80.94.95.255\t24\t3000\tOTHER\tRO\tabuse@example.org\n"
    )
    result = run(body)
    assert ips(result) == ["45.148.10.0/24", "80.94.95.0/24"]
    assert result.feeds["f"].rejected == 0


def test_hosts_file_lines_yield_their_names(run, names):
    result = run("0.0.0.0 bad-site.biz\n127.0.0.1 evil-one.info other-evil.ru\n")
    assert names(result) == ["bad-site.biz", "evil-one.info", "other-evil.ru"]


def test_tor_exit_addresses_read_only_exit_address_lines(run, ips):
    body = (
        "ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E\n"
        "Published 2026-11-27 08:05:17\n"
        "LastStatus 2026-11-27 09:00:00\n"
        "ExitAddress 162.247.74.201 2026-11-27 09:03:00\n"
        "ExitAddress 185.220.101.4 2026-11-27 09:04:00\n"
    )
    result = run(body)
    assert result.feeds["f"].format == "tor"
    assert ips(result) == ["162.247.74.201", "185.220.101.4"]
    assert result.feeds["f"].rejected == 0


def test_utf8_bom_and_crlf_are_transparent(run, ips):
    result = run(b"\xef\xbb\xbf1.2.3.4\r\n5.6.7.8\r\n")
    assert ips(result) == ["1.2.3.4", "5.6.7.8"]
    assert result.feeds["f"].lines == 2


def test_utf16_with_bom_is_decoded(run, ips):
    result = run("1.2.3.4\n5.6.7.8\n".encode("utf-16"))
    assert ips(result) == ["1.2.3.4", "5.6.7.8"]


def test_invalid_utf8_is_tolerated_per_line_and_counted(run, ips):
    result = run(b"1.2.3.4 # caf\xe9\n\xff\xfe9.9.9.9\n5.6.7.8\n")
    stats = result.feeds["f"]
    assert ips(result) == ["1.2.3.4", "5.6.7.8"]
    assert stats.reasons["invalid_utf8"] == 2
    assert stats.rejected == 1  # the line whose value itself was damaged


def test_nul_bytes_are_removed_and_counted(run, ips):
    result = run(b"1.2.3.\x004\n5.6.7.8\n")
    assert ips(result) == ["1.2.3.4", "5.6.7.8"]
    assert result.feeds["f"].reasons == {"nul_bytes": 1}


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("1.2.3[.]4", "ip", "1.2.3.4"),
        ("1[.]2[.]3[.]4", "ip", "1.2.3.4"),
        ("hxxp://evil-site[.]biz/path?q=1", "domain", "evil-site.biz"),
        ("hxxps://bad[dot]evil-site[.]ru", "domain", "bad.evil-site.ru"),
        ("http://198.51.99.1:8080/x", "ip", "198.51.99.1"),
        ("https://user@login.evil-site.biz:443/a", "domain", "login.evil-site.biz"),
        ("evil-site.biz/download.exe", "domain", "evil-site.biz"),
        ("evil-site.biz:8443", "domain", "evil-site.biz"),
    ],
)
def test_defanged_values_and_urls_reduce_to_their_host(run, ips, names, value, kind, expected):
    result = run(value + "\n")
    assert (ips if kind == "ip" else names)(result) == [expected]


def test_stray_csv_row_in_text_takes_the_first_field(run, ips):
    assert ips(run("1.2.3.4,botnet,2026\n", "txt")) == ["1.2.3.4"]


def test_line_numbers_in_samples_count_every_physical_line(run):
    result = run("# header\n\n1.2.3.4\nnot_valid!\n")
    (sample,) = result.feeds["f"].samples
    assert sample["line"] == 4 and sample["text"] == "not_valid!" and sample["feed"] == "f"


def test_parse_body_is_usable_on_its_own():
    parsed = parse_body(b"1.2.3.4\nevil-site.biz\n10.0.0.1\n", feed="x")
    assert parsed.stats.accepted == 2
    assert parsed.stats.reasons == {"bogon": 1}
    assert parsed.domains == {"evil-site.biz": 50}
    assert parsed.all_ipv4().addresses() == 1


def test_a_word_header_is_skipped_only_as_the_first_data_line(run, ips):
    result = run("# list\nIP Address\n1.2.3.4\n5.6.7.8\nnot a header\n")
    assert ips(result) == ["1.2.3.4", "5.6.7.8"]
    assert result.feeds["f"].skipped == 2
    assert result.feeds["f"].reasons == {"single_label_domain": 1}

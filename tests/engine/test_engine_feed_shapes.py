"""Real feeds as they are (issue 11): pipe tables, zero-padded quads, zone notations, names that are no domains,
generic JSON, reasons that say what a line is, and no silent empty result."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from engine_helpers import lines_of, settings
from publicsuffixlist import PublicSuffixList

from threatfeed.catalogue import engine_option_problems, parse_catalogue, parse_option
from threatfeed.engine import FeedBody, build_lists, parse_body
from threatfeed.engine import domains as D
from threatfeed.engine.cli import main
from threatfeed.engine.decode import BodyNotUnderstood, BodyUnreadable
from threatfeed.engine.formats.tabular import sniff_delimiter
from threatfeed.errors import ConfigError
from threatfeed.pipeline.guards import feed_outcome

LONG_HEADER = "".join(f"# comment line {i} of the report's long preamble\n" for i in range(70))


def parsed(body: str, fmt: str = "auto", **options):
    return parse_body(body.encode(), feed="f", format=fmt, options=options, settings=settings())


def listed(body: str, fmt: str = "auto", **options) -> set[str]:
    result = build_lists([FeedBody("f", body.encode(), fmt, options)], settings())
    assert not result.feeds["f"].error, result.feeds["f"].error
    return set(lines_of(result, "ip")) | set(lines_of(result, "domain"))


# ---------------------------------------------------------------------------------------------- pipe tables
DATAPLANE = (
    LONG_HEADER + "# ASN  |  ASname  |  ipaddr  |  lastseen  |  category\n#\n"
    "NA           |  NA                              |  170.239.104.183  |  2026-11-21 04:26:48  |  sshpwauth\n"
    "4134         |  CHINANET-BACKBONE No.31,Jin-ro  |   117.21.224.121  |  2026-11-26 02:35:38  |  sshpwauth\n"
    "64512        |  EXAMPLE-NET | Hosting | Ltd     |  45.148.10.62     |  2026-11-27 12:00:00  |  sshpwauth\n"
)


def test_a_pipe_table_behind_a_long_comment_header_is_read_by_its_address_column():
    result = parsed(DATAPLANE)

    assert result.stats.format == "csv"
    assert (result.stats.accepted, result.stats.rejected) == (3, 0)
    assert listed(DATAPLANE) == {"170.239.104.183", "117.21.224.121", "45.148.10.62"}


def test_the_delimiter_is_sniffed_past_any_number_of_comment_lines():
    assert sniff_delimiter(DATAPLANE) == "|"


def test_a_pipe_table_column_can_be_named_from_the_header_kept_in_a_comment():
    assert listed(DATAPLANE, "csv", column="ipaddr") == {"170.239.104.183", "117.21.224.121", "45.148.10.62"}


def test_a_row_with_an_unquoted_delimiter_in_a_free_text_field_keeps_its_indicator():
    body = "asn,asname,ip\n4134,CHINANET,185.224.128.17\n4134,CHINANET-BACKBONE No.31,Jin-ro,117.21.224.121\n"

    assert listed(body, "csv") == {"185.224.128.17", "117.21.224.121"}


def test_a_csv_header_kept_in_a_comment_names_the_indicator_column():
    body = (
        "# abuse.ch Feodo Tracker\n#\n"
        '# "first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n'
        '"2026-10-06 19:06:27","50.16.16.211","8080","online","2026-11-27","QakBot"\n'
    )
    assert listed(body) == {"50.16.16.211"}
    assert listed(body, "csv", column="dst_ip") == {"50.16.16.211"}


def test_semicolon_and_slash_comment_lines_in_a_csv_are_skipped_not_rejected():
    stats = parsed("; exported 2026-11-27\n// by a tool\nip,desc\n45.148.10.62,scanner\n", "csv").stats

    assert (stats.accepted, stats.rejected, stats.reasons) == (1, 0, {})


# -------------------------------------------------------------------------------------- zero-padded quads
DSHIELD = (
    "# Source IP is 0 padded so each byte is three digits long\n"
    "# source IP <tab> Reports <tab> Targets <tab> First Seen <tab> Last Seen <tab> Updated <CR>\n"
    "117.056.109.226\t131\t54\t\t2026-11-26\t2026-11-26 23:04:06\n"
    "061.067.077.098\t64\t46\t\t2026-11-25\t2026-11-25 23:40:42\n"
)


def test_zero_padded_quads_are_decimal_where_the_feed_header_declares_them():
    assert listed(DSHIELD) == {"117.56.109.226", "61.67.77.98"}
    assert parsed(DSHIELD).stats.reasons == {"zero_padded": 2}


def test_zero_padded_quads_ranges_and_cidrs_are_decimal_where_the_catalogue_option_declares_them():
    body = "061.067.077.098\n045.148.010.000/24\n091.092.109.040-091.092.109.043\n"

    assert listed(body, "txt", zero_padded=True) == {"61.67.77.98", "45.148.10.0/24", "91.92.109.40/30"}
    assert listed("dst\n061.067.077.098\n", "csv", zero_padded=True) == {"61.67.77.98"}


def test_leading_zeros_stay_ambiguous_octal_where_nothing_declares_padding():
    assert parsed("061.067.077.098\n45.148.10.62\n").stats.reasons == {"leading_zero": 1}
    assert parsed(DSHIELD, zero_padded=False).stats.reasons == {"leading_zero": 2}


# ------------------------------------------------------------------------------------------ zone notations
def test_a_leading_dot_lists_the_name_and_its_subdomains():
    result = parsed(".phish-bank-login.com\n*.dyn-redirect.info\nspam-tracker.biz\n")

    assert set(result.domains) == {
        "phish-bank-login.com",
        "*.phish-bank-login.com",
        "*.dyn-redirect.info",
        "spam-tracker.biz",
    }
    assert result.stats.reasons == {"subdomains": 1}


def test_rbldnsd_directives_and_default_values_are_skipped_and_exclusions_counted():
    body = (
        "$SOA 3600 ns1.surbl.example. hostmaster.surbl.example. 1 900 600 86400 3600\n$TTL 300\n"
        ":127.0.0.2:Blocked, see https://www.surbl.example/lists.html?query=$\n"
        ".malware-cdn.net :127.0.0.4:\n!safe.malware-cdn.net\n"
    )
    result = parsed(body)

    assert set(result.domains) == {"malware-cdn.net", "*.malware-cdn.net"}
    assert result.stats.reasons == {"excluded": 1, "subdomains": 1}
    assert result.stats.skipped == 3


def test_adblock_rules_list_the_name_and_its_subdomains_and_exceptions_are_excluded():
    body = (
        "[Adblock Plus]\n! Title: threats\n!\n"
        "||stealer-c2.top^\n@@||cdn-allowed.net^\n||ads.example-cdn.com^$third-party\n"
    )
    result = parsed(body)

    assert set(result.domains) == {"stealer-c2.top", "*.stealer-c2.top"}
    assert result.stats.reasons == {"excluded": 1, "subdomains": 1, "unsupported_format": 1}


def test_the_subdomains_of_a_zone_entry_that_cover_an_allow_listed_name_are_not_listed():
    result = build_lists([FeedBody("f", b".evil-cdn.com\n")], settings(allow_list=["ok.evil-cdn.com"]))

    assert lines_of(result, "domain") == ["evil-cdn.com"]
    assert result.feeds["f"].reasons == {"allow_list_overlap": 1}


# ---------------------------------------------------------------------------------- names that are no domains
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("payload.js", "file_name"),
        ("invoice.pdf", "file_name"),
        ("Invoice.PDF", "file_name"),  # the one-line path
        ("hxxp://payload.js/x", "file_name"),  # a URL's host, in bulk
        ("http://setup.exe/download", "file_name"),  # a URL's host, one by one
        ("xmlhttp.onreadystatechange", "unknown_tld"),
        ("co.uk", "public_suffix"),
        ("*.co.uk", "public_suffix"),
        ("foo.ck", "public_suffix"),  # *.ck: every name under ck is a suffix
    ],
)
def test_names_that_do_not_end_in_a_real_public_suffix_are_rejected_saying_why(value, reason):
    result = parsed(value + "\n45.148.10.62\n")

    assert result.stats.reasons == {reason: 1} or result.stats.reasons == {reason: 1, "url_host": 1}
    assert not result.domains


@pytest.mark.parametrize(
    "name", ["evil.co.uk", "www.ck", "loader.zip", "invoice.mov", "x.kawasaki.jp.evil.com", "a.xn--p1ai"]
)
def test_names_under_real_public_suffixes_are_listed_even_when_they_look_like_files(name):
    assert parsed(name + "\n").domains == {name: 50}


def test_the_engine_agrees_with_the_publicsuffixlist_library_on_every_icann_rule():
    library = PublicSuffixList(accept_unknown=False, only_icann=True)
    psl = D.suffix_list()
    names = []
    for rule in sorted(psl.icann | psl.exceptions):
        names += [rule, f"evil-host.{rule}", f"a.evil-host.{rule}"]
    names += ["payload.js", "xmlhttp.onreadystatechange", "x.notatld", "evil.com", "*.co.uk", "*.evil.co.uk"]

    bulk = D.name_verdicts(names)
    for name, verdict in zip(names, bulk, strict=True):
        base = name.removeprefix("*.")
        suffix = library.publicsuffix(base)
        if D.reserved(base):
            expected = "reserved_domain"
        elif suffix is None:
            expected = "file_name" if base.rpartition(".")[2] in D.FILE_EXTENSIONS else "unknown_tld"
        else:
            expected = "public_suffix" if suffix == base else None
        assert verdict == expected == D.name_verdict(name), name


def test_the_manifest_names_the_public_suffix_list_it_used():
    manifest = build_lists([FeedBody("f", b"evil-site.biz\n")], settings()).manifest()

    assert manifest["public_suffix_list"]["package"] == "publicsuffixlist"
    assert manifest["public_suffix_list"]["list_date"].count("-") == 2


def test_an_allow_list_entry_under_an_unknown_tld_is_moot_not_fatal():
    result = build_lists([FeedBody("f", b"evil-site.biz\n")], settings(allow_list=["printer.corp", "intranet.lan"]))

    assert lines_of(result, "domain") == ["evil-site.biz"]


# ------------------------------------------------------------------------------- reasons say what a line is
@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("AS13335", "asn"),
        ("AS13335 ; CN | CLOUDFLARE", "asn"),
        ("asn197414 xhost", "asn"),
        ("13335", "number"),
        ("d41d8cd98f00b204e9800998ecf8427e", "hash"),
        ("da39a3ee5e6b4b0d3255bfef95601890afd80709", "hash"),
        ("9f2c4a1e8b7d6c5f4e3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e", "hash"),
        ("billing@lumma-panel-login.shop", "email_address"),
        ("CVE-2026-12345", "cve"),
        ("/gate.php", "url_path"),
        ('{"cidr":"1.10.16.0/20","sblid":"SBL256894"}', "unsupported_format"),
    ],
)
def test_lines_that_are_no_indicator_are_rejected_saying_what_they_are(line, reason):
    assert parsed(f"45.148.10.62\n{line}\n", "txt").stats.reasons == {reason: 1}


# --------------------------------------------------------------------------------------------- generic JSON
THREATFOX = {
    "1663050": [
        {
            "ioc_value": "91.92.246.128:4444",
            "ioc_type": "ip:port",
            "confidence_level": 100,
            "reference": "https://blog.researcher.example.net/asyncrat",
        }
    ],
    "1663051": [{"ioc_value": "update-checker-cdn.top", "ioc_type": "domain", "confidence_level": 75}],
    "1663052": [{"ioc_value": "https://files-share-cloud.xyz/dl/x.exe", "ioc_type": "url", "confidence_level": 50}],
    "1663053": [{"ioc_value": "d41d8cd98f00b204e9800998ecf8427e", "ioc_type": "md5_hash", "confidence_level": 50}],
}


def test_json_that_is_neither_misp_nor_stix_is_read_as_generic_json_by_its_indicator_fields():
    result = parsed(json.dumps(THREATFOX))

    assert result.stats.format == "json"
    assert set(result.domains) == {"update-checker-cdn.top", "files-share-cloud.xyz"}
    assert result.stats.reasons == {"hash": 1, "url_host": 2}  # no "reference" link listed


def test_json_records_select_and_confidence_options_pick_records_values_and_confidences():
    result = parsed(
        json.dumps(THREATFOX),
        records="*[] | [?ioc_type=='ip:port' || ioc_type=='domain']",
        select="ioc_value",
        confidence_select="confidence_level",
    )

    assert result.domains == {"update-checker-cdn.top": 75}
    assert list(result.ipv4) == [100]
    assert result.stats.reasons == {"url_host": 1}


def test_json_lines_are_read_one_record_a_line_and_a_bad_line_is_invalid_json():
    body = (
        '{"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"}\n'
        "not json\n"
        '{"type":"metadata","timestamp":1795773682,"records":1}\n'
    )
    result = parsed(body)

    assert result.stats.format == "json"
    assert listed(body) == {"1.10.16.0/20"}
    assert result.stats.samples == [{"feed": "f", "line": 2, "text": "not json", "reason": "invalid_json"}]


def test_json_records_of_as_numbers_say_so_instead_of_listing_the_operators_web_sites():
    body = '{"asn":197414,"rir":"ripencc","domain":"xhost-operator.com","cc":"RU","asname":"XHOST"}\n' * 2

    assert parsed(body).stats.reasons == {"asn": 2}


def test_a_json_option_that_is_no_jmespath_fails_the_feed_naming_the_option():
    with pytest.raises(BodyUnreadable, match=r"options.select '\[\[' is no JMESPath expression"):
        parsed("[]", "json", select="[[")


# --------------------------------------------------------------------------------------- no silent empty
@pytest.mark.parametrize(
    ("body", "fmt", "options", "detected"),
    [
        ('{"type": "bundle", "objects": [{"type": "identity", "id": "identity--1", "name": "x"}]}', "auto", {}, "stix"),
        (
            '[{"type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e", "category": "Payload", "to_ids": true}]',
            "auto",
            {},
            "misp",
        ),
        ("Indicator type,Indicator,Description\nFileHash-MD5,d41d8cd98f00b204e9800998ecf8427e,x\n", "otx", {}, "otx"),
        ('[{"ip_address": "50.16.16.211"}]', "json", {"select": "ip"}, "json"),
        ('{"error_code": 7, "text": "quota"}', "auto", {}, "json"),
        ("Start End Netblock Attacks\n", "auto", {}, "txt"),
        ("<rss><channel><title>news</title></channel></rss>\n", "auto", {}, "stix"),
        ("ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E\nPublished 2026-11-27 02:34:18\n", "tor", {}, "tor"),
    ],
    ids=[
        "stix-identities",
        "misp-hashes",
        "otx-hashes",
        "json-select-nothing",
        "json-unknown-object",
        "txt-header-only",
        "xml-no-indicator",
        "tor-no-exit-address",
    ],
)
def test_a_body_with_content_but_nothing_accepted_or_rejected_is_an_error_saying_what_to_set(
    body, fmt, options, detected
):
    with pytest.raises(BodyNotUnderstood) as error:
        parsed(body, fmt, **options)

    message = str(error.value)
    assert message.startswith("feed f: ") and f"read as {detected}" in message
    assert "set the feed's format" in message and "threatfeed parse" in message


def test_a_body_not_understood_keeps_the_feeds_previous_contribution_and_fails_the_feed():
    first = build_lists([FeedBody("f", b"45.148.10.62\n")], settings())
    body = FeedBody("f", b'[{"ip_address": "50.16.16.211"}]', "json", {"select": "ip"})

    second = build_lists([body], settings(replace_delivered=True), previous_state=first.state)

    assert lines_of(second, "ip") == ["45.148.10.62"]
    stats = second.feeds["f"]
    assert stats.carried_over and "options.records" in stats.error
    assert feed_outcome("ok", stats.to_dict()) == ("failed", stats.error)


@pytest.mark.parametrize("body", [b"", b"# nothing today\n; really\n", b"[]", b'{"data": []}', b"! Title: x\n"])
def test_comments_only_or_an_empty_document_is_still_an_explicit_empty(body):
    stats = parse_body(body, feed="f", settings=settings()).stats

    assert (stats.accepted, stats.rejected) == (0, 0)
    assert feed_outcome("ok", stats.to_dict())[0] == "empty"


# ------------------------------------------------------------------------------------------------- kinds
def test_the_kinds_option_keeps_only_the_kinds_a_feed_may_contribute():
    body = "45.148.10.62\nhxxp://loader-cdn.com/x\n91.92.246.0/24\nstealer-c2.top\n"

    result = parsed(body, kinds=["ipv4"])

    assert not result.domains and result.stats.accepted == 2
    assert result.stats.reasons["kind_filtered"] == 2


# ------------------------------------------------------------------------------------- catalogue and CLI
def test_the_catalogue_checks_the_engine_options():
    assert engine_option_problems({"select": "ip_address", "kinds": ["ipv4"]}, "json") == []
    problems = engine_option_problems(
        {"select": "[[", "kinds": ["ipv6"], "delimiter": "||", "zero_padded": "yes", "column": "ip"}, "json"
    )
    assert len(problems) == 5
    assert engine_option_problems({"records": "data"}, "csv") == ["options.records applies to format json, not csv"]
    with pytest.raises(ConfigError, match=r"options\.select"):
        parse_catalogue(
            json.dumps(
                {
                    "feeds": [
                        {
                            "name": "f",
                            "type": "http_list",
                            "url": "https://feeds.example.net/x.json",
                            "format": "json",
                            "options": {"select": "a["},
                        }
                    ]
                }
            )
        )


def test_parse_option_reads_json_values_and_comma_separated_lists():
    assert parse_option("zero_padded=true") == ("zero_padded", True)
    assert parse_option("kinds=ipv4,domain") == ("kinds", ["ipv4", "domain"])
    assert parse_option('kinds=["ipv4"]') == ("kinds", ["ipv4"])
    assert parse_option("records=*[] | [?url_status=='online']") == ("records", "*[] | [?url_status=='online']")
    with pytest.raises(ValueError, match="not an engine option"):
        parse_option("colunm=ip")


def test_the_catalogue_validates_json_options_without_importing_the_engine():
    code = (
        "import json, sys; from threatfeed.catalogue import parse_catalogue; "
        "parse_catalogue(json.dumps({'feeds': [{'name': 'f', 'type': 'preset', 'preset': 'threatfox-recent'}]})); "
        "print('numpy' in sys.modules, 'threatfeed.engine' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()

    assert out == "False False"


def test_threatfeed_parse_takes_the_catalogues_format_and_options(tmp_path, capsys):
    path = tmp_path / "ipblocklist.json"
    path.write_text('[{"ip_address": "91.92.246.128", "hostname": "c2-node.loader-bot.xyz"}]')

    code = main([str(path), "--format", "json", "--option", "select=ip_address", "--json"])

    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["indicators"] == ["91.92.246.128"]
    assert summary["options"] == {"select": "ip_address"} and summary["format"] == "json"


def test_threatfeed_parse_refuses_an_option_the_catalogue_would_refuse(tmp_path, capsys):
    path = tmp_path / "f.txt"
    path.write_text("45.148.10.62\n")

    assert main([str(path), "--format", "txt", "--option", "select=ip"]) == 2
    assert "options.select applies to format json" in capsys.readouterr().err


def test_threatfeed_parse_exits_1_naming_what_to_set_for_a_body_it_did_not_understand(tmp_path, capsys):
    path = tmp_path / "bundle.json"
    path.write_text('{"type": "bundle", "objects": [{"type": "identity", "id": "identity--1"}]}')

    assert main([str(path)]) == 1
    err = capsys.readouterr().err
    assert "bundle.json" in err and "read as stix (detected)" in err and "set the feed's format" in err


def test_an_as_number_list_with_a_pipe_in_its_comments_is_not_taken_for_a_pipe_table():
    stats = parsed("; Spamhaus ASN-DROP\nAS197414 ; RU | XHOST-AS\nAS202425 ; SC | INT-NETWORK\n").stats

    assert (stats.format, stats.reasons) == ("txt", {"asn": 2})


def test_json_objects_keyed_by_id_and_json_lines_after_a_comment_are_read_as_records():
    assert listed('{"1": {"ip": "91.92.246.128"}, "2": {"ip": "45.148.10.62"}}') == {"91.92.246.128", "45.148.10.62"}
    assert listed('# exported 2026-11-27\n{"cidr": "45.148.10.0/24"}\n', "json") == {"45.148.10.0/24"}


def test_a_header_saying_addresses_are_not_zero_padded_declares_nothing():
    assert parsed("# addresses are not zero-padded\n061.067.077.098\n").stats.reasons == {"leading_zero": 1}

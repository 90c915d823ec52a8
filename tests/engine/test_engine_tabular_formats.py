"""CSV/TSV and GuardDuty's own CSV-like formats."""

from __future__ import annotations

import pytest
from engine_helpers import settings

from threatfeed.engine import BodyUnreadable, FeedBody, build_lists, parse_body


def test_csv_header_is_detected_and_indicator_column_found_by_name(run, ips):
    result = run("first_seen,ip_address,tag\n2026-11-01,1.2.3.4,c2\n2026-11-02,5.6.7.8,c2\n")
    assert result.feeds["f"].format == "csv"
    assert ips(result) == ["1.2.3.4", "5.6.7.8"]
    assert result.feeds["f"].rejected == 0


def test_csv_column_option_by_name_and_by_index(run, ips):
    body = "src,dst\n1.1.1.1,2.2.2.2\n3.3.3.3,4.4.4.4\n"
    assert ips(run(body, "csv", options={"column": "dst"})) == ["2.2.2.2", "4.4.4.4"]
    assert ips(run(body, "csv", options={"column": 0})) == ["1.1.1.1", "3.3.3.3"]
    assert ips(run(body, "csv", options={"columns": ["src", "dst"]})) == [
        "1.1.1.1",
        "2.2.2.2",
        "3.3.3.3",
        "4.4.4.4",
    ]


def test_a_declared_column_missing_from_the_header_fails_only_that_feed():
    with pytest.raises(BodyUnreadable, match="feed renamed: the CSV has no column 'ip_address'"):
        parse_body(b"ipaddr,seen\n1.1.1.1,x\n", feed="renamed", format="csv", options={"column": "ip_address"})
    result = build_lists(
        [
            FeedBody("renamed", b"ipaddr,seen\n1.1.1.1,x\n", "csv", {"column": "ip_address"}),
            FeedBody("other", b"2.2.2.2\n"),
        ],
        settings(),
    )
    assert result.lists[0].body == b"2.2.2.2\n"
    assert result.feeds["renamed"].carried_over and "ip_address" in result.feeds["renamed"].error


def test_a_header_naming_no_indicator_column_publishes_nothing(run, ips, names):
    body = "sha256,file_name,first_seen\nab12,invoice-2025.exe,2025-11-20\ncd34,payload.js,2025-11-21\n"
    result = run(body, "csv")
    assert ips(result) == [] and names(result) == []
    assert result.feeds["f"].reasons == {"no_indicator_column": 2}


def test_unknown_header_names_still_find_a_column_of_addresses(run, ips):
    assert ips(run("seen,badguy\n2025,1.2.3.4\n2025,5.6.7.8\n", "csv")) == ["1.2.3.4", "5.6.7.8"]


def test_headerless_csv_guesses_the_indicator_column(run, ips):
    result = run("botnet,1.2.3.4,5\nspam,5.6.7.8,3\n", "csv")
    assert ips(result) == ["1.2.3.4", "5.6.7.8"]


def test_tsv_with_quoted_fields(run, names):
    result = run('host\tnote\n"evil-site.biz"\t"has, comma"\n', "csv")
    assert names(result) == ["evil-site.biz"]


def test_csv_confidence_column(run):
    result = run("ip,conf\n1.2.3.4,90\n", "csv", options={"confidence_column": "conf"})
    (row,) = result.state["feeds"]["f"]["rows"]
    assert row["confidence"] == 90


def test_otx_csv_reads_network_types_and_skips_others(run, ips, names):
    body = (
        "Indicator type,Indicator,Description\n"
        "IPv4,198.51.99.1,x\n"
        "CIDR,203.0.114.0/24,x\n"
        "Domain name,evil-site.net,x\n"
        "hostname,c2.evil-site.org,x\n"
        "FileHash-MD5,d41d8cd98f00b204e9800998ecf8427e,x\n"
    )
    result = run(body)
    assert result.feeds["f"].format == "otx"
    assert ips(result) == ["198.51.99.1", "203.0.114.0/24"]
    assert names(result) == ["c2.evil-site.org", "evil-site.net"]
    assert result.feeds["f"].skipped == 2  # header + hash


def test_alienvault_reputation_lines(run, ips):
    body = "198.51.99.1#4#2#Malicious Host#US##0.0,0.0#3\n45.33.32.156#2#3#Scanning Host#US#Fremont#37.5,-121.9#11\n"
    result = run(body)
    assert result.feeds["f"].format == "alienvault"
    assert ips(result) == ["45.33.32.156", "198.51.99.1"]
    confidences = {row["confidence"] for row in result.state["feeds"]["f"]["rows"]}
    assert confidences == {40, 20}


def test_proofpoint_score_becomes_confidence(run, ips):
    body = "ip, category, score, first_seen, last_seen, ports (|)\n198.51.99.1,5,127,2026-11-01,2026-11-27,\n"
    result = run(body)
    assert result.feeds["f"].format == "proofpoint"
    assert ips(result) == ["198.51.99.1"]
    assert result.state["feeds"]["f"]["rows"][0]["confidence"] == 100


FIREEYE_HEADER = (
    "reportId,title,threatScape,audience,intelligenceType,publishDate,reportLink,webLink,emailIdentifier,"
    "senderAddress,senderName,sourceDomain,sourceIp,subject,recipient,language,fileName,fileSize,fuzzyHash,"
    "fileIdentifier,md5,sha1,sha256,description,fileType,packer,userAgent,registry,fileCompilationDateTime,"
    "filePath,asn,cidr,domain,domainTimeOfLookup,networkIdentifier,ip,port,protocol,registrantEmail,"
    "registrantName,networkType,url,malwareFamily,malwareFamilyId,actor,actorId,observationTime"
)


def _fireeye_row(**cells: str) -> str:
    names = FIREEYE_HEADER.split(",")
    return ",".join(cells.get(n, "") for n in names)


def test_fireeye_reads_ip_cidr_and_domain_columns_by_header_name(run, ips, names):
    assert len(FIREEYE_HEADER.split(",")) == 47
    body = "\n".join(
        [
            FIREEYE_HEADER,
            _fireeye_row(reportId="1", title='"Report, with comma"', ip="198.51.99.7", port="443"),
            _fireeye_row(reportId="2", cidr="203.0.114.0/24", sourceIp="9.9.9.9"),
            _fireeye_row(reportId="3", domain="evil-site.biz", md5="abc"),
            _fireeye_row(reportId="4", md5="d41d8cd98f00b204e9800998ecf8427e"),
        ]
    )
    result = run(body)
    assert result.feeds["f"].format == "fireeye"
    assert ips(result) == ["198.51.99.7", "203.0.114.0/24"]  # sourceIp is not a column GuardDuty reads
    assert names(result) == ["evil-site.biz"]
    assert result.feeds["f"].skipped == 2  # header + the hash-only row


def test_fireeye_columns_found_when_reordered(run, ips):
    result = run("ip,reportId,cidr\n198.51.99.7,1,\n", "fireeye")
    assert ips(result) == ["198.51.99.7"]

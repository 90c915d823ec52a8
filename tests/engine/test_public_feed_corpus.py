"""Public feed shapes (issue 11): every body in ``tests/corpus/public/`` read as its provider documents it.

Each case of ``expectations.json`` is one public feed's shape, written from the provider's documentation. Three
properties are checked for each:

* **read as documented**: with the catalogue's ``format`` and ``options`` the engine publishes exactly the
  expected entries and counts exactly the expected reasons, none of them vague (``unrecognized``); ``auto``
  detects the same format;
* **nothing lost, nothing foreign**: an independent reading of the body (every dotted quad of its data lines that
  ``ipaddress`` calls global, every name the ``publicsuffixlist`` library calls public) finds each value published
  (an address covered, a name listed itself or by its wildcard), unless the case says why it is not
  (``not_listed``: a reference link, a field the options do not select...);
* **never a silent empty result**: under ``--format auto`` and no options, a body with content gives indicators,
  rejections with reasons, or an error that names the feed and what to set.

The bad-input corpus (``tests/corpus/bodies/``) is held to the last property too.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import NOW
from publicsuffixlist import PublicSuffixList

from threatfeed.engine import EngineSettings, FeedBody, build_lists, parse_body
from threatfeed.engine.decode import to_text, unpack
from threatfeed.errors import FeedRejected
from threatfeed.feeds.presets import expand

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
PUBLIC = CORPUS / "public"
SPEC = json.loads((PUBLIC / "expectations.json").read_text())
CASES: list[dict[str, Any]] = SPEC["cases"]
SETTINGS = EngineSettings(now=NOW)
#: Reasons that say nothing about what a line is.
VAGUE = {"unrecognized"}

_PSL = PublicSuffixList(accept_unknown=False)
_QUAD = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")
_NAME = re.compile(r"(?<![A-Za-z0-9-])((?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63})(?![A-Za-z0-9-])")
_URL_PATH = re.compile(r"(?<=[A-Za-z0-9\]])/[^\s\"',]*")
_COMMENT = ("#", ";", "//", "!", "[Adblock", "$")
_RESERVED_TLDS = {"example", "test", "invalid", "localhost", "local", "onion", "localdomain", "internal", "arpa"}


def _case_id(case: dict[str, Any]) -> str:
    return case["name"]


def published(case: dict[str, Any], fmt: str | None = None, options: dict[str, Any] | None = None) -> set[str]:
    body = (PUBLIC / case["body"]).read_bytes()
    result = build_lists(
        [FeedBody("feed", body, fmt or case["format"], case["options"] if options is None else options)], SETTINGS
    )
    assert not result.feeds["feed"].error, result.feeds["feed"].error
    return {line for lst in result.lists for line in lst.body.decode("ascii").splitlines()}


def _data_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.strip().startswith(_COMMENT)]


def routable_ipv4(text: str) -> set[str]:
    """Every dotted quad of the data lines that is globally routable (zero-padded octets read as decimal)."""
    found = set()
    for line in _data_lines(text):
        for quad in _QUAD.findall(line):
            try:
                address = ipaddress.IPv4Address(".".join(str(int(octet)) for octet in quad.split(".")))
            except ValueError:
                continue
            if address.is_global:
                found.add(str(address))
    return found


def public_names(text: str) -> set[str]:
    """Every host name of the data lines (URL paths left out) that has a registrable part under a real public
    suffix, by the publicsuffixlist library's own API, and no reserved name."""
    found = set()
    for line in _data_lines(text):
        for name in _NAME.findall(_URL_PATH.sub(" ", line)):
            name = name.lower()
            if _QUAD.fullmatch(name) or name.rsplit(".", 1)[-1] in _RESERVED_TLDS:
                continue
            if re.search(r"(^|\.)example\.(com|net|org)$", name):
                continue
            if _PSL.privatesuffix(name) is not None:
                found.add(name)
    return found


def covered(address: str, lines: set[str]) -> bool:
    ip = ipaddress.IPv4Address(address)
    return any(ip in ipaddress.IPv4Network(line) for line in lines if line[:1].isdigit())


# ------------------------------------------------------------------------------------------------ the cases
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_public_feed_shape_is_read_as_its_provider_documents_it(case: dict[str, Any]) -> None:
    body = (PUBLIC / case["body"]).read_bytes()
    result = build_lists([FeedBody("feed", body, case["format"], case["options"])], SETTINGS)
    stats = result.feeds["feed"]

    assert stats.error is None
    assert {line for lst in result.lists for line in lst.body.decode("ascii").splitlines()} == set(case["published"])
    assert stats.reasons == case["reasons"]
    assert not VAGUE & set(stats.reasons), f"a reject names no precise reason: {stats.samples}"
    detected = parse_body(body, feed="feed", format="auto", options=case["options"], settings=SETTINGS)
    assert detected.stats.format == case["format"], "auto detects another format than the catalogue declares"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_every_routable_ipv4_and_public_domain_of_the_body_is_found(case: dict[str, Any]) -> None:
    text = (PUBLIC / case["body"]).read_text(encoding="utf-8")
    lines = published(case)
    names = {line for line in lines if not line[:1].isdigit()}
    explained = {item["value"] for item in case.get("not_listed", [])}

    missing_ips = {ip for ip in routable_ipv4(text) - explained if not covered(ip, lines)}
    missing_names = {n for n in public_names(text) - explained if n not in names and f"*.{n}" not in names}

    assert not missing_ips, f"routable addresses lost: {sorted(missing_ips)}"
    assert not missing_names, f"public names lost: {sorted(missing_names)}"
    for value in explained:  # what the case says is not listed really is not
        assert value not in names and not (_QUAD.fullmatch(value) and covered(value, lines)), value


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_no_public_feed_body_is_an_empty_silent_success_under_auto(case: dict[str, Any]) -> None:
    body = (PUBLIC / case["body"]).read_bytes()
    result = build_lists([FeedBody("feed", body, "auto")], SETTINGS)
    stats = result.feeds["feed"]

    if stats.error:
        assert "feed feed" in stats.error and "format" in stats.error
    else:
        assert stats.accepted or stats.rejected, f"0 accepted, 0 rejected, no error: {stats.to_dict()}"


def _has_content(body: bytes) -> bool:
    text, _ = to_text(unpack(body))
    rest = "\n".join(_data_lines(text)).strip()
    return rest not in ("", "[]", "{}")


@pytest.mark.parametrize("path", sorted((CORPUS / "bodies").iterdir()), ids=lambda p: p.name)
def test_no_bad_input_body_with_content_is_an_empty_silent_success_under_auto(path: Path) -> None:
    body = path.read_bytes()
    try:
        stats = parse_body(body, feed="feed", format="auto", settings=SETTINGS).stats
    except FeedRejected as error:
        assert "feed" in str(error)
        return
    if stats.accepted == 0 and stats.rejected == 0:
        assert not _has_content(body), f"{path.name}: content, yet nothing accepted or rejected: {stats.to_dict()}"


def test_the_presets_read_their_feeds_as_the_corpus_documents_them() -> None:
    for case in (c for c in CASES if c.get("preset")):
        entry, problems = expand({"name": case["preset"], "type": "preset"})
        assert not problems
        options = {k: v for k, v in entry["options"].items() if k != "preset"}
        assert (entry["format"], options) == (case["format"], case["options"]), case["preset"]


def test_the_public_corpus_has_20_shapes_or_more_each_with_its_body() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) >= 20 and len(set(names)) == len(names)
    bodies = {c["body"] for c in CASES}
    assert bodies == {p.name for p in PUBLIC.iterdir()} - {"expectations.json", "README.md"}
    for case in CASES:
        assert case["provider"] and case["documented"], case["name"]

"""Catalogue validation: everything wrong is reported at once, each problem naming its entry."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from typing import Any

import pytest

from threatfeed.catalogue import FeedEntry, parse_catalogue, redact_url, url_problem
from threatfeed.errors import ConfigError

ARCHITECTURE_EXAMPLE = {
    "feeds": [
        {
            "name": "isight",
            "type": "isight",
            "url": "https://api.isightpartners.com",
            "secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:threatfeed/x/isight-AbCdEf",
            "format": "fireeye",
            "enabled": True,
            "options": {"days_requested": 7},
        },
        {
            "name": "feodo",
            "type": "http_list",
            "url": "https://feodotracker.abuse.ch/downloads/ipblocklist.txt",
            "format": "txt",
            "enabled": True,
            "options": {},
        },
    ]
}


def one(feed: dict[str, Any], **kw: Any) -> list[FeedEntry]:
    return parse_catalogue(json.dumps({"feeds": [feed]}), **kw)


def base(**kw: Any) -> dict[str, Any]:
    return {"name": "list", "type": "http_list", "url": "https://feeds.invalid/list.txt", **kw}


def test_the_architecture_example_parses() -> None:
    isight, feodo = parse_catalogue(json.dumps(ARCHITECTURE_EXAMPLE))

    assert isight == FeedEntry(
        name="isight",
        type="isight",
        url="https://api.isightpartners.com",
        format="fireeye",
        secret=ARCHITECTURE_EXAMPLE["feeds"][0]["secret"],
        enabled=True,
        options={"days_requested": 7},
    )
    assert (feodo.type, feodo.format, feodo.secret, feodo.options) == ("http_list", "txt", None, {})


def test_defaults_and_the_round_trip_the_state_machine_makes() -> None:
    (entry,) = one(base())
    assert (entry.format, entry.secret, entry.enabled, dict(entry.options)) == ("auto", None, True, {})
    # Plan passes asdict(entry) through the state; Fetch rebuilds it with FeedEntry(**feed).
    assert FeedEntry(**json.loads(json.dumps(asdict(entry)))) == entry


def test_disabled_entries_are_kept_and_loopback_http_is_accepted_by_default() -> None:
    (entry,) = one(base(url="http://127.0.0.1:8080/samples/blocklist.txt", enabled=False))
    assert entry.enabled is False


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "not valid JSON"),
        ("[]", '{"feeds": \\[...\\]}'),
        ('{"feeds": {}}', '{"feeds": \\[...\\]}'),
        ('{"feeds": [], "extra": 1}', "unknown top-level key"),
        ('{"feeds": [42]}', "feed #1: each feed must be a JSON object"),
    ],
)
def test_malformed_documents(text: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        parse_catalogue(text)


@pytest.mark.parametrize(
    ("feed", "why"),
    [
        ({"type": "http_list", "url": "https://feeds.invalid/x"}, "'name' is missing"),
        (base(name="Feodo"), "must be 1-64 characters"),
        (base(name="a" * 65), "must be 1-64 characters"),
        (base(name="with space"), "must be 1-64 characters"),
        (base(type="ftp"), "type 'ftp' is not one of: http_list, isight, mandiant, misp, otx, preset, taxii"),
        (base(url="http://feeds.invalid/list.txt"), "http:// to feeds.invalid is not allowed"),
        (base(url="ftp://feeds.invalid/list.txt"), "scheme is ftp"),
        (base(url="https:///list.txt"), "no host"),
        (base(url="https://feeds.invalid:99999/x"), "cannot be parsed"),
        (base(url="https://me:pw@feeds.invalid/x"), "credentials"),
        (base(url="https://feeds.invalid/x?auth-key=abc"), "auth-key"),
        (base(url="https://feeds.invalid/x y"), "spaces"),
        (base(format="xml"), "format 'xml' is not one of"),
        (base(secret=7), "secret must be"),
        (base(enabled="yes"), "enabled must be true or false"),
        (base(options=[]), "options must be a JSON object"),
        (base(options={"days_requested": 31}), "days_requested"),
        (base(options={"days_requested": True}), "days_requested"),
        (base(options={"max_bytes": 0}), "max_bytes"),
        (base(options={"timeout": "10"}), "timeout"),
        (base(enable=False), "unknown field\\(s\\) enable"),
        ({"name": "isight", "type": "isight", "url": "https://api.isightpartners.com"}, "needs 'secret'"),
        (
            {
                "name": "isight",
                "type": "isight",
                "url": "https://api.isightpartners.com",
                "secret": "s",
                "format": "txt",
            },
            "format must be one of: fireeye, auto",
        ),
    ],
)
def test_entry_problems_name_the_entry(feed: dict[str, Any], why: str) -> None:
    with pytest.raises(ConfigError, match=why) as caught:
        one(feed)
    assert "catalogue feed #1" in str(caught.value)


def test_loopback_http_can_be_refused() -> None:
    with pytest.raises(ConfigError, match="THREATFEED_ALLOW_HTTP_LOOPBACK"):
        one(base(url="http://localhost:8080/x"), allow_http_loopback=False)


def test_every_problem_is_reported_at_once_and_duplicates_are_caught() -> None:
    text = json.dumps(
        {"feeds": [base(), base(), base(name="second", type="nope"), base(name="third", url="http://x.invalid/")]}
    )

    with pytest.raises(ConfigError) as caught:
        parse_catalogue(text)

    message = str(caught.value)
    assert "feed #2 'list': the name is already used by feed #1" in message
    assert "feed #3 'second': type 'nope'" in message
    assert "feed #4 'third': http:// to x.invalid" in message


def test_secret_query_values_never_reach_the_message() -> None:
    with pytest.raises(ConfigError) as caught:
        one(base(url="https://feeds.invalid/x?apikey=s3cr3t-value&day=1"))
    assert "s3cr3t-value" not in str(caught.value)
    assert "apikey=REDACTED" in str(caught.value)


def test_url_helpers() -> None:
    assert url_problem("https://feeds.invalid/list.txt", allow_http_loopback=False) is None
    assert url_problem("http://[::1]:8080/x", allow_http_loopback=True) is None
    assert redact_url("https://u:p@Feeds.Invalid:8443/x?token=abc&day=1#frag") == (
        "https://feeds.invalid:8443/x?token=REDACTED&day=1"
    )
    assert redact_url("https://feeds.invalid/x?day=1") == "https://feeds.invalid/x?day=1"


def test_the_catalogue_knows_the_engine_formats() -> None:
    from threatfeed.catalogue import FORMATS
    from threatfeed.engine.model import FORMATS as ENGINE_FORMATS

    assert set(FORMATS) == set(ENGINE_FORMATS)


def test_the_catalogue_and_registry_do_not_import_requests() -> None:
    code = (
        "import sys, threatfeed.catalogue as c, threatfeed.feeds as f; "
        "c.parse_catalogue('{\"feeds\": []}'); "
        "assert not {'requests', 'boto3', 'threatfeed.engine', 'threatfeed.feeds.isight'} & set(sys.modules), "
        "sorted(m for m in sys.modules if m.startswith(('requests', 'threatfeed')))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_feed_adapters_and_the_other_stages_do_not_import_the_engine() -> None:
    # Only the transform function ships NumPy (build.mk); adapters are imported lazily at run time, so the
    # build's import check would not catch one that pulls the engine in.
    code = (
        "import importlib, pkgutil, sys, threatfeed.feeds as f; "
        "[importlib.import_module('threatfeed.feeds.' + m.name) for m in pkgutil.iter_modules(f.__path__)]; "
        "import threatfeed.pipeline.fetch, threatfeed.pipeline.plan, threatfeed.pipeline.publish; "
        "assert 'threatfeed.feeds.misp' in sys.modules; "
        "assert not {'numpy', 'threatfeed.engine'} & set(sys.modules), "
        "sorted(m for m in sys.modules if m.startswith(('numpy', 'threatfeed.engine')))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

"""``threatfeed report``: one self-contained HTML page per run, with tables and plots, checked in a real browser
where one is installed (Debian: ``apt-get install chromium``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import Result, pixels_of, read_png

from embedded_aws.runtime import EmbeddedAws
from threatfeed.cli.report import FEED_PALETTE, KIND_COLOURS, TABLE_HEADER, render

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _on(endpoint: str, *args: str) -> list[str]:
    return [*args, "--endpoint-url", endpoint, "--region", "us-east-1"]


def assert_self_contained(page: str) -> None:
    """Nothing the page would load: no script, stylesheet link, image, frame or CSS url()."""
    assert page.startswith("<!DOCTYPE html>")
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    for pattern in (r"<script", r"<link", r"<img", r"<iframe", r"\bsrc=", r"\bhref=", r"url\(", r"@import"):
        assert not re.search(pattern, page, re.IGNORECASE), pattern


@pytest.fixture(scope="module")
def runs(served: tuple[EmbeddedAws, str]) -> tuple[EmbeddedAws, str, list[str]]:
    """Three runs on the served stack, the blocklist changing between them (the last one with a bogon)."""
    aws, endpoint = served
    names = []
    bodies = [
        None,  # the sample
        "45.9.20.1\n45.9.20.2\n45.9.20.3\n185.220.101.7\n",
        "45.9.20.1\n45.9.20.9\n185.220.101.7\n10.9.9.9\n",
    ]
    try:
        for number, body in enumerate(bodies, 1):
            if body is not None:
                aws.feed_server.set_route("/samples/blocklist.txt", body=body, headers={"Content-Type": "text/plain"})
            result = aws.run({"trigger": "manual", "force": True}, name=f"report-run-{number}")
            assert result.status == "SUCCEEDED", result.cause
            names.append(result.name)
    finally:
        aws.feed_server.clear_route("/samples/blocklist.txt")
    return aws, endpoint, names


def test_report_shows_the_run_its_feeds_lists_and_what_changed(
    cli: Callable[..., Result], runs: tuple[EmbeddedAws, str, list[str]], tmp_path: Path
) -> None:
    _, endpoint, names = runs
    out = tmp_path / "report.html"

    result = cli(*_on(endpoint, "report", "--out", str(out)))

    assert result.code == 0, result.output
    assert f"Report of run {names[-1]}" in result.stdout
    page = out.read_text()
    assert_self_contained(page)
    assert f"threatfeed run {names[-1]}" in page
    assert page.count("<svg") == 2 and page.count("<table") >= 3
    for feed in ("blocklist", "csv-list", "isight", "taxii-hvi", "misp"):
        assert f"<td>{feed}</td>" in page
    assert "bogon: 1" in page and "10.9.9.9" in page  # the blocklist's rejected line, by reason, with its sample
    assert "us-east-1" in page and "eu-west-1" in page and "ACTIVE" in page
    assert f"What changed since {names[-2]}" in page
    assert "45.9.20.9" in page  # added since the run before
    for name in names:
        assert name in page  # each run on the plots' axis


def test_report_of_an_earlier_run_compares_it_with_the_one_before_it(
    cli: Callable[..., Result], runs: tuple[EmbeddedAws, str, list[str]], tmp_path: Path
) -> None:
    _, endpoint, names = runs
    out = tmp_path / "earlier.html"

    result = cli(*_on(endpoint, "report", names[1], "--out", str(out), "--json"))

    assert result.code == 0, result.output
    assert json.loads(result.stdout)["run"] == names[1]
    page = out.read_text()
    assert f"threatfeed run {names[1]}" in page and f"What changed since {names[0]}" in page
    assert names[2] not in page  # later runs are not part of an earlier run's history


def test_feed_text_is_escaped_in_the_report() -> None:
    hostile = "<script>alert(1)</script>"
    data = {
        "stack": "threatfeed",
        "region": "us-east-1",
        "generated_at": "2026-01-01T00:00:00+00:00",
        "run": {"name": "r1", "status": "SUCCEEDED", "start": "2026-01-01", "duration_s": 1.0, "manifest": "m"},
        "output": {"feeds": {hostile: {"outcome": "ok", "accepted": 1, "rejected": 1}}},
        "manifest": {
            "engine": {
                "feeds": {
                    hostile: {
                        "accepted": 1,
                        "rejected": 1,
                        "reasons": {"garbage": 1},
                        "samples": [{"reason": "garbage", "line": 2, "text": hostile}],
                    }
                }
            },
            "lists": [{"kind": "ip", "entries": 1}],
        },
        "changes": {"from": "r0", "added": {"ip": [hostile]}, "removed": {}, "feeds": {}},
        "series": [
            {"run": hostile, "status": "SUCCEEDED", "published": True, "lists": {"ip": 1}, "feeds": {hostile: 1}}
        ],
    }

    page = render(data)

    assert hostile not in page and "&lt;script&gt;" in page
    assert_self_contained(page)


def test_the_demo_run_writes_its_report(cli: Callable[..., Result], tmp_path: Path) -> None:
    out = tmp_path / "demo.html"

    result = cli("local", "run", "--report", str(out))

    assert result.code == 0, result.output
    assert f"Report: {out}" in result.stdout
    page = out.read_text()
    assert_self_contained(page)
    assert "<svg" in page and "<td>isight</td>" in page and "SUCCEEDED" in page


def _browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@pytest.mark.skipif(_browser() is None, reason="no Chromium or Chrome installed (Debian: apt-get install chromium)")
def test_the_report_renders_its_tables_and_plots_in_a_real_browser(
    cli: Callable[..., Result], runs: tuple[EmbeddedAws, str, list[str]], tmp_path: Path
) -> None:
    _, endpoint, _ = runs
    page = tmp_path / "report.html"
    assert cli(*_on(endpoint, "report", "--out", str(page))).code == 0
    shot = tmp_path / "report.png"

    process = subprocess.run(
        [
            str(_browser()),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=1000,2000",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert process.returncode == 0 and shot.is_file(), process.stderr[-2000:]
    width, height, rows = read_png(shot)
    assert (width, height) == (1000, 2000)
    ip_line = pixels_of(rows, KIND_COLOURS["ip"])  # the list-size plot's IP line and dots
    first_feed = pixels_of(rows, FEED_PALETTE[0])  # the contributions plot's bars of the first feed
    header = pixels_of(rows, TABLE_HEADER)  # table header rows
    assert len(ip_line) > 500, "the list-size plot did not render"
    assert len(first_feed) > 500, "the contributions plot did not render"
    bands = [y for y in sorted(set(header)) if y - 1 not in set(header)]
    assert len(bands) >= 3, f"table headers rendered: {len(bands)}"
    assert max(ip_line) < min(header), "the plots come before the tables"

"""Accounting (reasons, samples), the manifest and the ``threatfeed parse`` CLI."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

from engine_helpers import settings

from threatfeed.engine import FeedBody, build_lists
from threatfeed.engine.cli import main
from threatfeed.engine.reasons import CORRECTIONS


def test_every_rejected_line_is_counted_by_reason_with_at_most_five_samples(run):
    body = "".join(f"bad_{i}!\n" for i in range(12)) + "10.0.0.1\n" + "x" * 500 + "\n1.2.3.4\n"
    stats = run(body).feeds["f"]
    assert stats.accepted == 1
    assert stats.rejected == 14 == sum(n for r, n in stats.reasons.items() if r not in CORRECTIONS)
    unrecognized = [s for s in stats.samples if s["reason"] == "unrecognized"]
    assert [s["line"] for s in unrecognized] == [1, 2, 3, 4, 5]
    (long_sample,) = [s for s in stats.samples if s["reason"] == "single_label_domain"]
    assert len(long_sample["text"]) == 200
    assert stats.lines == 15


def test_manifest_is_json_safe_and_complete():
    result = build_lists(
        [FeedBody("a", b"1.2.3.4\nbad!\nevil-site.biz\n"), FeedBody("b", b"5.6.7.8\n")],
        settings(allow_list=["9.9.9.9"]),
        carry_over=["gone"],
    )
    manifest = json.loads(json.dumps(result.manifest()))
    assert set(manifest["feeds"]) == {"a", "b", "gone"}
    assert manifest["feeds"]["a"]["reasons"] == {"unrecognized": 1}
    assert manifest["feeds"]["gone"]["carried_over"] is True
    assert [(x["kind"], x["entries"]) for x in manifest["lists"]] == [("ip", 2), ("domain", 1)]
    assert all(len(x["sha256"]) == 64 for x in manifest["lists"])
    assert manifest["settings"]["allow_list_entries"] == 1
    assert manifest["totals"] == {"accepted": 3, "rejected": 1, "entries": {"ip": 2, "domain": 1}}
    assert manifest["dropped"] == {}


def test_cli_json_prints_one_object_with_counts_reasons_and_published_indicators(tmp_path, capsys):
    feed = tmp_path / "feed.txt.gz"
    feed.write_bytes(gzip.compress(b"# c\n1.2.3.4\n1.2.3.5\n10.0.0.1\nEvil-Site.biz\nbad!\n"))
    assert main([str(feed), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["accepted"] == 3 and out["rejected"] == 2
    assert out["reasons"] == {"bogon": 1, "unrecognized": 1}
    assert out["indicators"] == ["1.2.3.4/31", "evil-site.biz"]  # aggregated, as published


def test_cli_format_option_and_readable_summary(tmp_path, capsys):
    feed = tmp_path / "feed.csv"
    feed.write_text("ip,tag\n1.2.3.4,x\nnope,y\n")
    assert main([str(feed), "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "format csv" in out and "accepted 1" in out and "rejected 1" in out and "line 3: nope,y" in out


def test_cli_reports_unreadable_files(tmp_path, capsys):
    assert main([str(tmp_path / "missing.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert main([str(bad), "--json"]) == 1
    assert "gzip" in capsys.readouterr().err


def test_parse_with_state_reads_and_writes_the_engine_state_as_the_transform_does(tmp_path, capsys):
    feed = tmp_path / "feed.txt"
    state = tmp_path / "engine.json"
    feed.write_bytes(b"1.2.3.4\n5.6.7.8\nevil-site.biz\n")
    assert main([str(feed), "--state", str(state), "--json", "--warninglists", "none"]) == 0
    assert json.loads(capsys.readouterr().out)["indicators"] == ["1.2.3.4", "5.6.7.8", "evil-site.biz"]
    written = json.loads(state.read_text())
    assert set(written["feeds"]) == {"feed.txt"}
    # The transform's next run: build_lists with the state it stored, the body as the feed now serves it.
    feed.write_bytes(b"1.2.3.4\n9.9.9.10\n")
    expected = build_lists(
        [FeedBody("feed.txt", feed.read_bytes())],
        settings(replace_delivered=True, now=datetime.fromtimestamp(written["updated_at"], UTC)),
        previous_state=json.loads(state.read_text()),
    )
    assert main([str(feed), "--state", str(state), "--json", "--warninglists", "none"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["indicators"] == ["1.2.3.4", "9.9.9.10"]  # 5.6.7.8 delisted: the body is the whole list
    assert [lst["sha256"] for lst in second["lists"]] == [lst.sha256 for lst in expected.lists]
    assert set(json.loads(state.read_text())["feeds"]["feed.txt"]) == set(expected.state["feeds"]["feed.txt"])


def test_parse_with_a_state_file_that_is_not_one_says_so(tmp_path, capsys):
    feed = tmp_path / "feed.txt"
    feed.write_bytes(b"1.2.3.4\n")
    state = tmp_path / "engine.json"
    state.write_text("not json")
    assert main([str(feed), "--state", str(state)]) == 2
    assert "not an engine state" in capsys.readouterr().err
    assert state.read_text() == "not json"

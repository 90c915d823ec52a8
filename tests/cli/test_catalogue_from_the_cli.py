"""The catalogue managed from the CLI against `threatfeed local serve`: add, try, run, see; refuse what is invalid
before it is written; never lose a concurrent edit; every version kept and restorable."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import REPO, Result

from embedded_aws.runtime import EmbeddedAws
from threatfeed import operate
from threatfeed.storage import CATALOGUE_KEY


def _on(endpoint: str, *args: str) -> list[str]:
    return [*args, "--endpoint-url", endpoint, "--region", "us-east-1"]


def _catalogue(aws: EmbeddedAws) -> dict[str, Any]:
    body = aws.client("s3").get_object(Bucket=aws.stack.bucket, Key=CATALOGUE_KEY)["Body"].read()
    return dict(json.loads(body))


def _version(aws: EmbeddedAws) -> str:
    return str(aws.client("s3").head_object(Bucket=aws.stack.bucket, Key=CATALOGUE_KEY)["VersionId"])


def _names(aws: EmbeddedAws) -> list[str]:
    return [f["name"] for f in _catalogue(aws)["feeds"]]


def test_a_feed_added_from_the_cli_runs_urgently_and_its_entries_show_in_status(
    cli: Callable[..., Result], served: tuple[EmbeddedAws, str]
) -> None:
    aws, endpoint = served
    aws.feed_server.set_route(
        "/mine/list.txt", body="45.9.77.1\n45.9.77.2\n10.1.2.3\n", headers={"Content-Type": "text/plain"}
    )
    url = aws.feed_server.url("/mine/list.txt")

    added = cli(*_on(endpoint, "feeds", "add", "mine", "--type", "http_list", "--url", url, "--format", "txt"))
    assert added.code == 0, added.output
    assert "Feed 'mine' added" in added.stdout and "threatfeed start --urgent --feeds mine" in added.stdout
    started = cli(*_on(endpoint, "start", "--urgent", "--feeds", "mine", "--json"))
    assert started.code == 0, started.output
    run = json.loads(started.stdout.strip().splitlines()[-1])
    assert run["status"] == "SUCCEEDED" and run["feeds"]["mine"] == {"outcome": "ok", "accepted": 2, "rejected": 1}
    status = cli(*_on(endpoint, "status", "--json"))

    assert status.code == 0, status.output
    ip_lists = [row for row in json.loads(status.stdout) if row["type"] == "threat_intel_set"]
    assert {row["region"] for row in ip_lists} == set(aws.regions)
    s3 = aws.client("s3")
    for row in ip_lists:
        assert row["status"] == "ACTIVE"
        key = row["location"].split(f"{aws.stack.bucket}/", 1)[1]
        listed = s3.get_object(Bucket=aws.stack.bucket, Key=key)["Body"].read().decode()
        assert "45.9.77.1" in listed and "45.9.77.2" in listed, listed
        assert "10.1.2.3" not in listed


def test_an_invalid_feed_is_refused_before_anything_is_written_naming_entry_and_field(
    cli: Callable[..., Result], served: tuple[EmbeddedAws, str], tmp_path: Path
) -> None:
    aws, endpoint = served
    before = _version(aws)
    bad_file = tmp_path / "catalogue.json"
    bad_file.write_text(
        json.dumps(
            {
                "feeds": [
                    {"name": "fine", "type": "http_list", "url": "https://feeds.example.net/a.txt"},
                    {"name": "plain-http", "type": "http_list", "url": "http://feeds.example.net/b.txt"},
                ]
            }
        )
    )

    add = cli(
        *_on(endpoint, "feeds", "add", "bad", "--type", "http_list", "--url", "https://x.example.net/l"),
        "--format",
        "nope",
    )
    imported = cli(*_on(endpoint, "feeds", "import", str(bad_file)))

    assert add.code == 2 and "Traceback" not in add.output
    assert "feed 'bad' refused (nothing was written)" in add.stderr and "format 'nope'" in add.stderr
    assert imported.code == 2 and "Traceback" not in imported.output
    assert "catalogue feed #2 'plain-http'" in imported.stderr
    assert "http:// to feeds.example.net is not allowed" in imported.stderr
    assert _version(aws) == before


def test_a_local_file_url_is_refused_outside_the_embedded_aws_run(
    cli: Callable[..., Result], served: tuple[EmbeddedAws, str]
) -> None:
    _, endpoint = served
    offline = cli("feeds", "validate", str(REPO / "examples" / "catalogue.json"))
    added = cli(*_on(endpoint, "feeds", "add", "local", "--type", "http_list", "--url", "file:/tmp/list.txt"))

    for result in (offline, added):
        assert result.code == 2, result.output
        assert "threatfeed local run --catalogue FILE" in result.stderr
        assert "Traceback" not in result.output


def test_loopback_feeds_pass_only_for_a_loopback_endpoint(
    cli: Callable[..., Result], served: tuple[EmbeddedAws, str], tmp_path: Path
) -> None:
    _, endpoint = served
    path = tmp_path / "loopback.json"
    path.write_text(json.dumps({"feeds": [{"name": "lo", "type": "http_list", "url": "http://127.0.0.1:8080/l"}]}))

    for_aws = cli("feeds", "validate", str(path))
    for_embedded = cli(*_on(endpoint, "feeds", "validate", str(path)))

    assert for_aws.code == 2 and "loopback" in for_aws.stderr.lower(), for_aws.output
    assert for_embedded.code == 0, for_embedded.output


def test_enable_disable_remove_and_restore_keep_every_version(
    cli: Callable[..., Result], served: tuple[EmbeddedAws, str]
) -> None:
    aws, endpoint = served
    url = "https://feeds.example.net/temp.txt"

    assert cli(*_on(endpoint, "feeds", "add", "temp", "--type", "http_list", "--url", url, "--disabled")).code == 0
    assert next(f for f in _catalogue(aws)["feeds"] if f["name"] == "temp")["enabled"] is False
    enabled = cli(*_on(endpoint, "feeds", "enable", "temp"))
    assert enabled.code == 0 and "undo: threatfeed feeds restore" in enabled.stdout, enabled.output
    with_temp = _version(aws)
    removed = cli(*_on(endpoint, "feeds", "remove", "temp"))
    assert removed.code == 0 and "temp" not in _names(aws), removed.output
    history = cli(*_on(endpoint, "feeds", "history", "--json"))
    assert history.code == 0, history.output
    rows = json.loads(history.stdout)
    assert rows[0]["current"] is True and rows[0]["change"] == "-temp"
    assert rows[1]["version"] == with_temp and rows[1]["change"] == "~temp"
    assert rows[2]["change"] == "+temp"

    restored = cli(*_on(endpoint, "feeds", "restore", with_temp))

    assert restored.code == 0, restored.output
    assert next(f for f in _catalogue(aws)["feeds"] if f["name"] == "temp")["enabled"] is True
    assert cli(*_on(endpoint, "feeds", "remove", "temp")).code == 0


def test_an_edit_made_meanwhile_by_someone_else_is_kept(
    served: tuple[EmbeddedAws, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Between this edit's read and its write, someone else adds a feed: the conditional write fails, the edit is
    made again on their version, and both feeds are in the catalogue."""
    from threatfeed.cli import main

    aws, endpoint = served
    real_load = operate.load_catalogue
    interfered: list[str] = []

    def load_then_someone_else_writes(clients: Any, refs: Any, version_id: str | None = None) -> Any:
        stored = real_load(clients, refs, version_id)
        if not interfered and version_id is None:
            theirs = json.loads(stored.text)
            theirs["feeds"].append({"name": "theirs", "type": "http_list", "url": "https://feeds.example.net/t"})
            interfered.append(operate.write_catalogue(clients, refs, json.dumps(theirs)))
        return stored

    monkeypatch.setattr(operate, "load_catalogue", load_then_someone_else_writes)
    code = main(_on(endpoint, "feeds", "add", "ours", "--type", "http_list", "--url", "https://feeds.example.net/o"))

    assert code == 0, capsys.readouterr()
    assert interfered, "the concurrent write did not happen"
    names = _names(aws)
    assert "theirs" in names and "ours" in names
    monkeypatch.setattr(operate, "load_catalogue", real_load)
    for name in ("theirs", "ours"):
        assert main(_on(endpoint, "feeds", "remove", name)) == 0


def test_an_import_over_a_catalogue_changed_since_its_export_is_refused(
    cli: Callable[..., Result], served: tuple[EmbeddedAws, str], tmp_path: Path
) -> None:
    aws, endpoint = served
    exported = cli(*_on(endpoint, "feeds", "export"))
    assert exported.code == 0, exported.output
    etag = exported.stderr.split("--if-match '", 1)[1].split("'", 1)[0]
    mine = json.loads(exported.stdout)
    mine["feeds"] = [f for f in mine["feeds"] if f["name"] != "csv-list"]
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(mine))
    someone = cli(*_on(endpoint, "feeds", "disable", "misp"))
    assert someone.code == 0, someone.output
    after_their_edit = _version(aws)

    refused = cli(*_on(endpoint, "feeds", "import", str(path), "--if-match", etag))

    assert refused.code == 2, refused.output
    assert "changed since it was exported" in refused.stderr and "Traceback" not in refused.output
    assert _version(aws) == after_their_edit
    with pytest.raises(operate.CatalogueConflict):
        clients = operate.Clients(endpoint_url=endpoint)
        refs = operate.find_stack(clients, "threatfeed")
        operate.write_catalogue(clients, refs, json.dumps(mine), if_match=etag)
    assert cli(*_on(endpoint, "feeds", "enable", "misp")).code == 0


def test_try_shows_what_the_run_would_accept_and_a_failing_feed_is_not_written(
    cli: Callable[..., Result], served: tuple[EmbeddedAws, str]
) -> None:
    aws, endpoint = served
    aws.feed_server.set_route(
        "/try/list.txt", body="45.9.88.1\n45.9.88.2/32\n192.168.7.7\n# note\n", headers={"Content-Type": "text/plain"}
    )
    aws.feed_server.set_route(
        "/try/login", body="<html><body><form>Sign in</form></body></html>", headers={"Content-Type": "text/html"}
    )
    before = _version(aws)

    good = cli(
        *_on(endpoint, "feeds", "add", "tried", "--type", "http_list", "--format", "txt", "--try"),
        "--url",
        aws.feed_server.url("/try/list.txt"),
    )
    bad = cli(
        *_on(endpoint, "feeds", "add", "tried-bad", "--type", "http_list", "--format", "txt", "--try"),
        "--url",
        aws.feed_server.url("/try/login"),
    )

    assert good.code == 0, good.output
    assert "try tried: ok" in good.stdout and "accepted 2" in good.stdout and "rejected 1" in good.stdout
    assert "192.168.7.7" in good.stdout  # the sample of the rejected line, with its reason
    assert bad.code == 1, bad.output
    assert "try tried-bad: failed" in bad.stdout and "nothing was written" in bad.stderr
    assert "Traceback" not in good.output + bad.output
    names = _names(aws)
    assert "tried" in names and "tried-bad" not in names
    assert _version(aws) != before
    assert cli(*_on(endpoint, "feeds", "remove", "tried")).code == 0


def test_show_lists_the_catalogue_and_one_feed_by_name(
    cli: Callable[..., Result], served: tuple[EmbeddedAws, str]
) -> None:
    _, endpoint = served
    everything = cli(*_on(endpoint, "feeds", "show", "--json"))
    one = cli(*_on(endpoint, "feeds", "show", "blocklist", "--json"))
    table = cli(*_on(endpoint, "feeds"))

    assert everything.code == 0 and one.code == 0 and table.code == 0
    names = {r["name"] for r in json.loads(everything.stdout)}
    assert {"isight", "blocklist", "csv-list", "taxii-hvi", "misp"} <= names
    assert [r["name"] for r in json.loads(one.stdout)] == ["blocklist"]
    assert table.stdout.startswith("NAME") and "blocklist" in table.stdout

"""``threatfeed local run|serve --catalogue FILE [--secrets FILE]``: your own feeds, local files included, tried on
the embedded AWS before anything is deployed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_helpers import REPO, Result, clean_environment

from embedded_aws.feed_server import ApiRequest, FeedServer
from embedded_aws.runtime import EmbeddedAws, LocalCatalogue

TOKEN = "tok-7c1d9e2f4a6b8c0d"  # what only the secrets file holds


def test_the_example_catalogue_runs_from_a_fresh_clone(cli: Callable[..., Result], tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    shutil.copytree(REPO / "examples", clone / "examples")  # what a clone has: the catalogue and its feed files

    result = cli("local", "run", "--catalogue", "examples/catalogue.json", cwd=clone)

    assert result.code == 0, result.output
    assert "my-blocklist: served from" in result.stdout and "blocklist.txt" in result.stdout
    assert "Execution local-" in result.stdout and ": SUCCEEDED" in result.stdout
    feeds = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.startswith("  my-")}
    assert feeds["my-blocklist"][1] == "ok" and int(feeds["my-blocklist"][3]) > 0
    assert int(feeds["my-blocklist"][5]) == 3  # a private address, an invalid one and an IPv6 one
    assert feeds["my-watchlist"][1] == "ok" and int(feeds["my-watchlist"][3]) == 4


@pytest.fixture
def private_feed() -> Iterator[tuple[FeedServer, list[str]]]:
    """A loopback feed that answers only to ``Authorization: Bearer <TOKEN>``; records what it was sent."""
    seen: list[str] = []

    def answer(request: ApiRequest) -> tuple[int, dict[str, str], bytes]:
        seen.append(request.header("Authorization") or "")
        if request.header("Authorization") != f"Bearer {TOKEN}":
            return 401, {"Content-Type": "text/plain"}, b"unauthorized\n"
        return 200, {"Content-Type": "text/plain"}, b"45.9.66.1\n45.9.66.2\n"

    with FeedServer() as server:
        server.set_handler("/private.txt", answer)
        yield server, seen


def _private_catalogue(tmp_path: Path, server: FeedServer, token: str) -> tuple[Path, Path]:
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(
        json.dumps(
            {
                "feeds": [
                    {
                        "name": "private",
                        "type": "http_list",
                        "url": server.url("/private.txt"),
                        "format": "txt",
                        "secret": "private-token",
                    }
                ]
            }
        )
    )
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"private-token": {"token": token}}))
    return catalogue, secrets


def test_a_secret_from_a_local_file_reaches_the_feed_and_never_the_output(
    cli: Callable[..., Result], private_feed: tuple[FeedServer, list[str]], tmp_path: Path
) -> None:
    server, seen = private_feed
    catalogue, secrets = _private_catalogue(tmp_path, server, TOKEN)

    result = cli("local", "run", "--catalogue", str(catalogue), "--secrets", str(secrets))

    assert result.code == 0, result.output
    assert seen and all(value == f"Bearer {TOKEN}" for value in seen)
    assert "secret private-token: in the embedded Secrets Manager (value not shown)" in result.stdout
    assert TOKEN not in result.output
    assert all(TOKEN not in str(r.headers) for r in server.requests)  # the server's own log is masked too


def test_a_wrong_secret_fails_the_feed_naming_the_secret_but_not_its_value(
    cli: Callable[..., Result], private_feed: tuple[FeedServer, list[str]], tmp_path: Path
) -> None:
    server, _ = private_feed
    wrong = "wrong-" + TOKEN
    catalogue, secrets = _private_catalogue(tmp_path, server, wrong)

    result = cli("local", "run", "--catalogue", str(catalogue), "--secrets", str(secrets))

    assert result.code == 1, result.output
    assert "threatfeed/threatfeed/private-token" in result.output  # the secret, by name, in the stack's prefix
    assert wrong not in result.output and "Traceback" not in result.output


def test_a_catalogue_naming_a_missing_file_or_an_absent_secret_is_refused_before_start(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(
        json.dumps(
            {
                "feeds": [
                    {"name": "gone", "type": "http_list", "url": "file:feeds/gone.txt"},
                    {"name": "keyed", "type": "http_list", "url": "https://feeds.example.net/k", "secret": "nokey"},
                ]
            }
        )
    )

    result = cli("local", "run", "--catalogue", str(catalogue))

    assert result.code == 2, result.output
    assert "'gone': no file" in result.stderr and "gone.txt" in result.stderr
    assert "'keyed': secret 'nokey' is not in the secrets file" in result.stderr
    assert "Starting the embedded AWS" not in result.stdout and "Traceback" not in result.output


def test_a_local_feed_file_is_read_afresh_at_each_run(tmp_path: Path) -> None:
    feed = tmp_path / "mine.txt"
    feed.write_text("45.9.55.1\n")
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps({"feeds": [{"name": "mine", "type": "http_list", "url": "mine.txt"}]}))
    local = LocalCatalogue(catalogue)
    local.check()

    with EmbeddedAws(regions=("us-east-1",), catalogue=local, retry_sleep=False) as aws:
        first = aws.run()
        feed.write_text("45.9.55.1\n45.9.55.2\n45.9.55.3\n")
        second = aws.run()

    assert first.status == "SUCCEEDED" and second.status == "SUCCEEDED", (first.cause, second.cause)
    assert first.output["feeds"]["mine"]["accepted"] == 1
    assert second.output["feeds"]["mine"]["accepted"] == 3


def test_local_serve_runs_your_catalogue_for_the_other_verbs(cli: Callable[..., Result], tmp_path: Path) -> None:
    serve = subprocess.Popen(
        [sys.executable, "-m", "threatfeed.cli", "local", "serve", "--port", "0", "--catalogue",
         str(REPO / "examples" / "catalogue.json"), "--regions", "us-east-1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_environment(tmp_path),
    )  # fmt: skip
    try:
        endpoint = _endpoint_of(serve)
        started = cli("start", "--json", "--endpoint-url", endpoint, "--region", "us-east-1")
        feeds = cli("feeds", "--json", "--endpoint-url", endpoint, "--region", "us-east-1")
    finally:
        serve.terminate()
        serve.wait(timeout=30)

    assert started.code == 0, started.output
    run = json.loads(started.stdout.strip().splitlines()[-1])
    assert set(run["feeds"]) == {"my-blocklist", "my-watchlist"}
    assert run["feeds"]["my-blocklist"]["outcome"] == "ok"
    assert {row["name"]: row["last_outcome"] for row in json.loads(feeds.stdout)} == {
        "my-blocklist": "ok",
        "my-watchlist": "ok",
    }


def _endpoint_of(process: subprocess.Popen[str], timeout: float = 120) -> str:
    """The endpoint `local serve` prints once it is up."""
    found: list[str] = []
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Embedded AWS on "):
                found.append(line.split()[3])
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    assert found, "local serve did not start:\n" + "".join(lines)
    return found[0]


def test_file_urls_and_plain_paths_are_local_files_and_other_hosts_are_refused(tmp_path: Path) -> None:
    from threatfeed.errors import ConfigError

    (tmp_path / "feeds").mkdir()
    listed = tmp_path / "feeds" / "list.txt"
    listed.write_text("45.9.44.1\n")
    forms = {
        "relative-file-url": "file:feeds/list.txt",
        "absolute-file-url": listed.as_uri(),
        "plain-path": "feeds/list.txt",
        "absolute-path": str(listed),
        "https": "https://feeds.example.net/list.txt",
    }
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps({"feeds": [{"name": n, "type": "http_list", "url": u} for n, u in forms.items()]}))

    local = LocalCatalogue(catalogue)
    resolved = {f["name"]: f["url"] for f in local.resolve("http://127.0.0.1:9", "threatfeed/demo/isight")["feeds"]}

    assert {name: path.resolve() for name, path in local.files.items()} == {
        name: listed.resolve() for name in forms if name != "https"
    }
    assert resolved["plain-path"] == "http://127.0.0.1:9/files/plain-path/list.txt"
    assert resolved["https"] == forms["https"]
    catalogue.write_text(json.dumps({"feeds": [{"name": "far", "type": "http_list", "url": "file://host/x.txt"}]}))
    with pytest.raises(ConfigError, match=r"'far'.*names host host"):
        LocalCatalogue(catalogue)

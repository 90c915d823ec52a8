"""Every verb against the setups a new user gets wrong ends in a sentence that says what to do, never a traceback.

Each command runs as its own process in a clean environment (no AWS_* variable, HOME an empty folder).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cli_helpers import Result, clean_environment, closed_port

from embedded_aws.runtime import EmbeddedAws

VALID_CATALOGUE = json.dumps(
    {"feeds": [{"name": "mine", "type": "http_list", "url": "https://feeds.example.net/list.txt", "format": "txt"}]}
)

#: Every verb that needs the stack, with arguments that would be fine on a working setup.
STACK_VERBS: list[list[str]] = [
    ["start"],
    ["start", "--urgent", "--feeds", "mine"],
    ["history"],
    ["status"],
    ["diff", "run-a", "run-b"],
    ["rollback"],
    ["rollback", "--to", "run-a"],
    ["report"],
    ["feeds"],
    ["feeds", "show"],
    ["feeds", "export"],
    ["feeds", "history"],
    ["feeds", "restore", "some-version"],
    ["feeds", "add", "mine", "--type", "http_list", "--url", "https://feeds.example.net/list.txt"],
    ["feeds", "remove", "mine"],
    ["feeds", "enable", "mine"],
    ["feeds", "disable", "mine"],
    ["feeds", "import", "{catalogue}"],
]


def _each(cli: Callable[..., Result], commands: list[list[str]]) -> list[tuple[list[str], Result]]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda args: cli(*args), commands))
    return list(zip(commands, results, strict=True))


def _assert_sentence(args: list[str], result: Result, *, code: int, says: str) -> None:
    shown = " ".join(args)
    assert result.code == code, f"threatfeed {shown}: exit {result.code}\n{result.output}"
    assert "Traceback" not in result.output, f"threatfeed {shown} printed a traceback:\n{result.output}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, f"threatfeed {shown}: not one or two lines:\n{result.stderr}"
    assert lines[0].startswith("threatfeed: "), result.stderr
    assert says in result.stderr, f"threatfeed {shown}: {says!r} not in:\n{result.stderr}"


@pytest.fixture
def catalogue_file(tmp_path: Path) -> str:
    path = tmp_path / "catalogue.json"
    path.write_text(VALID_CATALOGUE)
    return str(path)


def test_every_verb_without_aws_credentials_says_how_to_set_them(
    cli: Callable[..., Result], catalogue_file: str
) -> None:
    commands = [[a.replace("{catalogue}", catalogue_file) for a in args] for args in STACK_VERBS]

    for args, result in _each(cli, commands):
        _assert_sentence(args, result, code=2, says="no AWS credentials")
        assert "AWS_PROFILE" in result.stderr and "aws configure" in result.stderr
        assert "--endpoint-url" in result.stderr  # the way to the embedded AWS
        assert "stack 'threatfeed' in us-east-1" in result.stderr


def test_every_verb_against_an_unreachable_endpoint_names_it(cli: Callable[..., Result], catalogue_file: str) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    commands = [
        [*(a.replace("{catalogue}", catalogue_file) for a in args), "--endpoint-url", endpoint] for args in STACK_VERBS
    ]

    for args, result in _each(cli, commands):
        _assert_sentence(args, result, code=2, says=f"cannot reach {endpoint}")
        assert "threatfeed local serve" in result.stderr


def test_debug_shows_the_traceback_and_still_the_sentence(cli: Callable[..., Result]) -> None:
    result = cli("history", "--debug")

    assert result.code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "NoCredentialsError" in result.stderr
    assert result.stderr.rstrip().splitlines()[-2].startswith("threatfeed: no AWS credentials")


def test_bad_execution_input_is_refused_before_the_embedded_aws_starts(cli: Callable[..., Result]) -> None:
    not_json = cli("local", "run", "--input", "{bad")
    not_allowed = cli("local", "run", "--input", '{"dry_run": "yes"}')

    _assert_sentence(["local", "run", "--input", "{bad"], not_json, code=2, says="--input is not valid JSON")
    assert "Starting the embedded AWS" not in not_json.stdout
    _assert_sentence(["local", "run", "--input", "..."], not_allowed, code=2, says="--input: Invalid execution input")
    assert "dry_run" in not_allowed.stderr


def test_a_catalogue_file_that_is_missing_or_not_json_is_named(cli: Callable[..., Result], tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    commands = [
        ["local", "run", "--catalogue", str(tmp_path / "missing.json")],
        ["local", "run", "--catalogue", str(broken)],
        ["feeds", "validate", str(tmp_path / "missing.json")],
        ["feeds", "validate", str(broken)],
    ]

    for args, result in _each(cli, commands):
        _assert_sentence(args, result, code=2, says=args[-1])


def test_serve_on_a_port_in_use_says_so_before_starting(cli: Callable[..., Result]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        result = cli("local", "serve", "--port", str(port), timeout=60)

    says = f"port {port} on 127.0.0.1 is in use"
    _assert_sentence(["local", "serve", "--port", str(port)], result, code=2, says=says)
    assert "--port 0" in result.stderr


def test_parse_of_a_missing_file_says_so(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli("parse", str(tmp_path / "nope.txt"))

    assert result.code == 2 and "Traceback" not in result.output
    assert "cannot read" in result.stderr and "nope.txt" in result.stderr


def test_validate_needs_no_aws_at_all(cli: Callable[..., Result], catalogue_file: str) -> None:
    result = cli("feeds", "validate", catalogue_file)

    assert result.code == 0, result.output
    assert "valid, 1 feed(s), 1 enabled" in result.stdout


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    feed = tmp_path / "feed.txt"
    feed.write_text("".join(f"45.9.{n // 250}.{n % 250 + 1}\n" for n in range(5000)))
    for args in (["parse", str(feed), "--json"], ["history", "--help"]):
        process = subprocess.Popen(
            [sys.executable, "-m", "threatfeed.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_environment(tmp_path),
        )
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # the reader went away, as `| head` does once it has its lines
        stderr = process.stderr.read().decode()
        code = process.wait(timeout=60)
        assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
        assert code == 0, stderr


# ------------------------------------------------------------------------------------ against a stack
def _against(endpoint: str, *args: str) -> list[str]:
    return [*args, "--endpoint-url", endpoint, "--region", "us-east-1"]


def test_an_unknown_stack_says_which_and_where(cli: Callable[..., Result], served: tuple[EmbeddedAws, str]) -> None:
    _, endpoint = served
    commands = [_against(endpoint, *args, "--stack-name", "nope") for args in (["history"], ["feeds"], ["report"])]

    for args, result in _each(cli, commands):
        _assert_sentence(args, result, code=2, says="No stack 'nope' in us-east-1")


def test_an_unknown_feed_or_run_is_named_with_the_choices(
    cli: Callable[..., Result], served: tuple[EmbeddedAws, str]
) -> None:
    _, endpoint = served
    cases = [
        (_against(endpoint, "start", "--feeds", "nope"), "no feed 'nope' in the catalogue of stack 'threatfeed'"),
        (_against(endpoint, "diff", "nope", "nope-2"), "No run 'nope'"),
        (_against(endpoint, "rollback", "--to", "nope"), "No run 'nope'"),
        (_against(endpoint, "report", "nope"), "No run 'nope'"),
        (_against(endpoint, "feeds", "enable", "nope"), "no feed 'nope'"),
        (_against(endpoint, "feeds", "restore", "nope"), "No version 'nope'"),
    ]

    results = _each(cli, [args for args, _ in cases])

    for (args, result), (_, says) in zip(results, cases, strict=True):
        _assert_sentence(args, result, code=2, says=says)
    started = results[0][1]
    assert "blocklist" in started.stderr  # the catalogue's feeds, to pick from
    assert "Started" not in started.stdout  # refused before a run was started


def test_a_closed_pipe_against_a_stack_ends_quietly(served: tuple[EmbeddedAws, str], tmp_path: Path) -> None:
    _, endpoint = served
    for args in (["feeds", "export"], ["history"], ["feeds", "--json"]):
        process = subprocess.Popen(
            [sys.executable, "-m", "threatfeed.cli", *_against(endpoint, *args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_environment(tmp_path),
        )
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        stderr = process.stderr.read().decode()
        code = process.wait(timeout=120)
        assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, (args, stderr)
        assert code == 0, (args, stderr)

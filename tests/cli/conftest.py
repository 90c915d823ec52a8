"""Fixtures of the CLI tests (helpers: ``cli_helpers``)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_helpers import Result, clean_environment

from embedded_aws.runtime import EmbeddedAws


@pytest.fixture
def cli(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Result]:
    """``cli("history", "--json", cwd=...)``: the console command in a clean environment."""
    home = tmp_path_factory.mktemp("home")
    workdir = tmp_path_factory.mktemp("work")

    def run(*args: str, cwd: Path | None = None, timeout: float = 240, stdin: str | None = None) -> Result:
        process = subprocess.run(
            [sys.executable, "-m", "threatfeed.cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=clean_environment(home),
            cwd=cwd or workdir,
            input=stdin,
        )
        return Result(process.returncode, process.stdout, process.stderr)

    return run


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[EmbeddedAws, str]]:
    """The stack on the embedded AWS, answering on a loopback port as `threatfeed local serve` does."""
    with EmbeddedAws(retry_sleep=False) as aws:
        yield aws, aws.serve(port=0)

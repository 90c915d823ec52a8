"""The ``threatfeed`` console command.

``threatfeed local ...`` runs on the embedded AWS (no account, no Docker); ``threatfeed parse`` runs the
transform's engine on a local file. A failure ends in one or two lines that say what failed and what to do;
``--debug`` (anywhere on the command line) adds the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="threatfeed", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    commands = parser.add_subparsers(dest="command", required=True)

    from threatfeed.cli import local, ops

    local.add_commands(commands)
    ops.add_commands(commands)

    parse = commands.add_parser("parse", help="parse a feed file with the transform's engine", add_help=False)
    parse.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    from threatfeed.cli.failures import WHERE

    WHERE.reset()  # one command's context (main may run several times in one process: tests)
    try:
        code = _dispatch(argv)
        _flush_stdout()
        return code
    except SystemExit:  # argparse: --help, or a usage error (exit 2, its message already printed)
        _flush_stdout()
        raise
    except BrokenPipeError:
        # The reader went away (`threatfeed ... | head`): what it wanted it got; say nothing more.
        _silence_stdout()
        return 0
    except BaseException as error:  # every other failure becomes a sentence; --debug keeps the traceback
        from threatfeed.cli.failures import explain

        if debug:
            import traceback

            traceback.print_exc()
        message, code = explain(error)
        _flush_stdout()
        print(f"threatfeed: {message}", file=sys.stderr)
        return code


def _dispatch(argv: list[str]) -> int:
    if argv[:1] == ["parse"]:
        from threatfeed.engine.cli import main as parse_main

        return parse_main(argv[1:])
    args = build_parser().parse_args(argv)
    return int(args.func(args))


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass

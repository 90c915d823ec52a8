"""The ``threatfeed`` console command.

``threatfeed local ...`` runs on the embedded AWS (no account, no Docker); ``threatfeed parse`` runs the
transform's engine on a local file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="threatfeed", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    from threatfeed.cli import local, ops

    local.add_commands(commands)
    ops.add_commands(commands)

    parse = commands.add_parser("parse", help="parse a feed file with the transform's engine", add_help=False)
    parse.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["parse"]:
        from threatfeed.engine.cli import main as parse_main

        return parse_main(argv[1:])
    args = build_parser().parse_args(argv)
    return int(args.func(args))

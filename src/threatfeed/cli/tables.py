"""How the ``threatfeed`` verbs print rows: aligned tables, or ``--json``. A leaf of the CLI, so every verb's module
can use it without importing another verb's."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO


def table(rows: list[dict[str, Any]], columns: list[str], out: TextIO) -> None:
    """``rows`` as aligned columns under upper-case headings; ``(none)`` when there are none."""
    if not rows:
        print("(none)", file=out)
        return
    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)), file=out)
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)


def print_rows(args: argparse.Namespace, rows: list[dict[str, Any]], columns: list[str], out: TextIO) -> None:
    """``--json``: the rows as one JSON array; otherwise a table of ``columns``."""
    if args.json:
        print(json.dumps(rows, default=str), file=out)
    else:
        table(rows, columns, out)


def cell(value: Any) -> str:
    """One value as a table shows it: ``-`` for nothing, a mapping as ``key:value`` pairs."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        return " ".join(f"{k}:{cell(v)}" for k, v in value.items())
    return str(value)

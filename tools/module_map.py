"""Print the "Modules" table of docs/ARCHITECTURE.md: every module under src/, with the first sentence of its
docstring as its one-line role.

The table is generated so it cannot drift from the tree; ``tests/test_architecture_doc.py`` fails when a module
is missing from the doc (run ``python tools/module_map.py --write`` and review the diff) or when the doc names a
path that does not exist.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "ARCHITECTURE.md"
BEGIN = "<!-- modules:begin (tools/module_map.py --write) -->"
END = "<!-- modules:end -->"
LONGEST = 160  # characters of a role: one line of the table


def modules() -> list[Path]:
    """Every Python module of the two packages, as paths relative to the repository."""
    return sorted(p.relative_to(ROOT) for p in (ROOT / "src").rglob("*.py") if "__pycache__" not in p.parts)


def role(path: Path) -> str:
    """The first sentence of the module's docstring, on one line (a package without one: its folder's role)."""
    doc = ast.get_docstring(ast.parse((ROOT / path).read_text(encoding="utf-8"))) or ""
    text = " ".join(doc.split())
    match = re.match(r"(.+?\.)(\s|$)", text)
    first = (match.group(1) if match else text).rstrip(".")
    if len(first) > LONGEST:
        first = first[: LONGEST - 1].rsplit(" ", 1)[0] + "…"
    return (first or "the package").replace("|", "\\|")


def table() -> str:
    rows = ["| module | role |", "| --- | --- |"]
    rows += [f"| `{path.as_posix()}` | {role(path)} |" for path in modules()]
    return "\n".join(rows)


def with_table(doc: str) -> str:
    """``doc`` with the generated table between its markers (appended in a section if there are none)."""
    block = f"{BEGIN}\n{table()}\n{END}"
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1]
    return doc.rstrip("\n") + "\n\n## Modules\n\n" + block + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the table in docs/ARCHITECTURE.md")
    args = parser.parse_args(argv)
    if args.write:
        DOC.write_text(with_table(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())

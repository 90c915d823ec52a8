"""docs/ARCHITECTURE.md matches the tree: every path it names exists, every module is named with its role."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "ARCHITECTURE.md"
TOP = ("src/", "functions/", "tests/", "tools/", "statemachine/", "docs/", "examples/", ".ci/")


def _module_map() -> Any:
    spec = importlib.util.spec_from_file_location("module_map", ROOT / "tools" / "module_map.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("module_map", module)
    spec.loader.exec_module(module)
    return module


def _expand(path: str) -> list[str]:
    """``functions/{plan,fetch}/app.py`` -> both paths."""
    match = re.search(r"\{([^{}]+)\}", path)
    if not match:
        return [path]
    return [
        expanded
        for part in match.group(1).split(",")
        for expanded in _expand(path[: match.start()] + part + path[match.end() :])
    ]


def named_paths(text: str) -> list[str]:
    """The repository paths the doc names in backticks (S3 keys and placeholders are not paths)."""
    paths = []
    for quoted in re.findall(r"`([^`\s]+)`", text):
        if quoted.startswith(TOP) and "<" not in quoted and "*" not in quoted:
            paths.extend(_expand(quoted.rstrip("/.,")))
    return paths


def test_every_path_the_architecture_doc_names_exists() -> None:
    missing = [path for path in named_paths(DOC.read_text(encoding="utf-8")) if not (ROOT / path).exists()]

    assert not missing, f"docs/ARCHITECTURE.md names paths that do not exist: {missing}"


def test_every_module_is_named_in_the_architecture_doc_with_its_role() -> None:
    doc = DOC.read_text(encoding="utf-8")
    module_map = _module_map()

    unnamed = [str(path) for path in module_map.modules() if f"`{path.as_posix()}`" not in doc]

    assert not unnamed, f"modules missing from docs/ARCHITECTURE.md (python tools/module_map.py --write): {unnamed}"
    assert module_map.table() in doc, "the Modules table is out of date: python tools/module_map.py --write"


def test_a_brace_list_names_each_of_its_paths() -> None:
    assert _expand("functions/{plan,fetch}/app.py") == ["functions/plan/app.py", "functions/fetch/app.py"]

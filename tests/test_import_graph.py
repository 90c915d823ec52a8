"""No import cycle in ``src/``: the module graph of ``threatfeed`` and ``embedded_aws`` read from the source (AST).

Every ``import``/``from`` statement counts, wherever it is: at the top, inside a function (a lazy import that only
postpones a cycle is still a cycle) and under ``if TYPE_CHECKING:`` (the type checker follows those). Importing
``a.b.c`` also runs the ``__init__`` of ``a.b`` and ``a`` unless the importer lives inside them, so those packages
are edges too: a cycle through a package's ``__init__`` fails at run time like any other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from itertools import pairwise
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGES = ("threatfeed", "embedded_aws")

Graph = Mapping[str, Mapping[str, int]]  # module -> imported module -> line of the (first) import


def _modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, whether it is a package's ``__init__``)."""
    found: dict[str, tuple[Path, bool]] = {}
    for package in PACKAGES:
        for path in sorted((SRC / package).rglob("*.py")):
            parts = list(path.relative_to(SRC).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            found[".".join(parts)] = (path, is_package)
    return found


def _ancestors(name: str) -> Iterator[str]:
    parts = name.split(".")
    for end in range(1, len(parts)):
        yield ".".join(parts[:end])


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: Mapping[str, object]) -> set[str]:
    """The modules of ``known`` that running ``node`` inside ``module`` may import."""
    named: set[str] = set()
    if isinstance(node, ast.Import):
        named = {alias.name for alias in node.names}
    else:
        base = node.module or ""
        if node.level:
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            named.add(candidate if candidate in known else base)
    own = {module, *_ancestors(module)}
    targets: set[str] = set()
    for name in named:
        for candidate in (name, *_ancestors(name)):
            if candidate in known and candidate not in own:
                targets.add(candidate)
    return targets


def import_graph() -> dict[str, dict[str, int]]:
    modules = _modules()
    graph: dict[str, dict[str, int]] = {}
    for module, (path, is_package) in modules.items():
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(module, is_package, node, modules):
                    edges.setdefault(target, node.lineno)
        graph[module] = edges
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``None`` (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if state.get(root):
            continue
        path = [root]
        stack = [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, {}))))
    return None


def describe(cycle: list[str], graph: Graph) -> str:
    """``a (line 3) -> b (line 9) -> a``: each module with the line of its import of the next."""
    steps = [f"{a} (line {graph[a][b]})" for a, b in pairwise(cycle)]
    return " -> ".join([*steps, cycle[-1]])


def test_the_source_tree_has_no_import_cycle() -> None:
    graph = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {describe(cycle, graph)}"


def test_the_feeds_catalogue_and_http_layers_have_no_cycle() -> None:
    """The cycle issue 15 names (catalogue -> feeds -> http -> catalogue) is gone for good, not waived."""
    graph = import_graph()
    mine = ("threatfeed.catalogue", "threatfeed.feeds", "threatfeed.http", "threatfeed.urls", "threatfeed.netpolicy")
    local = {a: {b: n for b, n in e.items() if b.startswith(mine)} for a, e in graph.items() if a.startswith(mine)}
    cycle = find_cycle(local)
    assert cycle is None, f"import cycle: {describe(cycle, local)}"


def test_the_graph_sees_top_level_lazy_relative_and_package_imports() -> None:
    graph = import_graph()
    assert "threatfeed.errors" in graph["threatfeed.http"]  # top level
    assert "threatfeed.engine" in graph["threatfeed.cli.tryfeed"]  # inside a function
    assert not graph["threatfeed.errors"]  # a leaf


def test_the_cycle_finder_names_the_cycle() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert describe(["a", "b", "c", "a"], graph) == "a (line 1) -> b (line 2) -> c (line 3) -> a"
    assert find_cycle({"a": {"b": 1}, "b": {}}) is None

"""The package's import graph: no circles, and dependencies point one way
(cli → ui → tools → graphs → agents → memory_adapters → config/exceptions).

Every ``import`` statement counts, those inside functions and ``TYPE_CHECKING``
blocks included: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

import mnemos

PACKAGE = Path(mnemos.__file__).resolve().parent

PENDING: frozenset[str] = frozenset()
"""Modules allowed in a circle for now: none."""
LAYERS = ["mnemos.cli", "mnemos._cli", "mnemos.ui", "mnemos.tools", "mnemos.graphs", "mnemos.agents", "mnemos.memory_adapters"]
"""Top to bottom; a module may import from its own layer and the layers below it."""


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_graph() -> nx.DiGraph:
    """Module → module edges for every import of a mnemos module."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = nx.DiGraph()
    for module, path in modules.items():
        graph.add_node(module)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
                names = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                target = resolve(name) if name.startswith("mnemos") else None
                # a submodule reaching its own package's __init__ is how Python loads it, not a circle
                if target and target != module and not module.startswith(target + "."):
                    graph.add_edge(module, target)
    return graph


def _layer(module: str) -> int | None:
    for i, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return i
    return None


def test_no_import_circles() -> None:
    graph = import_graph()
    circles = [c for c in nx.simple_cycles(graph) if not set(c) <= PENDING]
    assert circles == [], "\n".join(" -> ".join([*c, c[0]]) for c in circles)


def test_dependencies_point_down() -> None:
    upward = []
    for source, target in import_graph().edges:
        a, b = _layer(source), _layer(target)
        if a is not None and b is not None and b < a:
            upward.append(f"{source} -> {target}")
    assert upward == []


def test_the_former_circles_are_gone() -> None:
    graph = import_graph()
    assert not graph.has_edge("mnemos.graphs.topology", "mnemos.graphs.builder")
    assert not graph.has_edge("mnemos.graphs._autogen_bridge", "mnemos.graphs.autogen")
    assert graph.has_edge("mnemos.graphs.builder", "mnemos.graphs.topology")
    assert graph.has_edge("mnemos.graphs._autogen_bridge", "mnemos.graphs._autogen_common")


FOUNDATION = frozenset({"mnemos.config", "mnemos.exceptions", "mnemos._files", "mnemos._replies"})
"""The bottom layer: every other layer may import it, and it imports nothing else of mnemos."""


def test_the_foundation_imports_nothing_above_it() -> None:
    graph = import_graph()
    assert set(graph) >= FOUNDATION
    upward = [f"{a} -> {b}" for a in FOUNDATION for b in graph.successors(a) if b not in FOUNDATION]
    assert upward == []


def test_no_module_is_over_600_lines() -> None:
    long = {m: n for m, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 600}
    assert long == {}

"""Draw a graph as Mermaid, Graphviz DOT, or readable text.

All three read the same shape as the topology check
(:func:`mnemos.graphs.topology.to_networkx`), so conditional routes appear with
their declared destinations. Mermaid is drawn by langchain-core's own
``Graph.draw_mermaid``; dashed edges are conditional.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
from langchain_core.runnables.graph import Edge, Graph, Node
from langgraph.graph import END, START

from mnemos.graphs.topology import analyze, to_networkx

__all__ = ["FORMATS", "render", "to_dot", "to_mermaid", "to_text"]

FORMATS = ("mermaid", "dot", "text")


def _label(node: str) -> str:
    return {START: "START", END: "END"}.get(node, node)


def _ordered(g: nx.DiGraph) -> list[str]:
    """START, the nodes in declaration order, END."""
    middle = [n for n in g.nodes if n not in (START, END)]
    return [START, *middle, END]


def to_mermaid(graph: Any) -> str:
    """A Mermaid flowchart."""
    g = to_networkx(graph)
    drawable = Graph(
        nodes={n: Node(id=n, name=n, data=None, metadata=None) for n in _ordered(g)},
        edges=[
            Edge(source=s, target=t, conditional=bool(d.get("conditional")))
            for s, t, d in g.edges(data=True)
            if not d.get("assumed")
        ],
    )
    return drawable.draw_mermaid()


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: Any, *, name: str | None = None) -> str:
    """A Graphviz ``digraph`` (render with ``dot -Tsvg``)."""
    g = to_networkx(graph)
    title = name or getattr(graph, "name", None) or "graph"
    lines = [f"digraph {_dot_id(str(title))} {{", "  rankdir=TB;", "  node [shape=box, style=rounded];"]
    for n in _ordered(g):
        attrs = ', shape=oval, style=filled, fillcolor="#eeeeee"' if n in (START, END) else ""
        lines.append(f"  {_dot_id(n)} [label={_dot_id(_label(n))}{attrs}];")
    for s, t, d in g.edges(data=True):
        if d.get("assumed"):
            continue
        style = " [style=dashed]" if d.get("conditional") else ""
        lines.append(f"  {_dot_id(s)} -> {_dot_id(t)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_text(graph: Any, *, name: str | None = None) -> str:
    """One line per node: where the run goes next, then any topology issues.

    ``→`` is a plain edge, ``⇢`` a conditional route (one of the targets),
    ``?`` a router whose destinations are not declared.
    """
    g = to_networkx(graph)
    title = name or getattr(graph, "name", None) or "graph"
    count = g.number_of_nodes() - 2
    lines = [f"graph {title} ({count} node{'s' if count != 1 else ''})"]
    for n in _ordered(g):
        if n == END:
            continue
        out = [(t, d) for t, d in g[n].items()]
        if n in g.graph["unknown_routes"]:
            lines.append(f"  {_label(n)} ⇢ ? (router without declared destinations)")
            continue
        plain = [_label(t) for t, d in out if not d.get("conditional")]
        routed = [_label(t) for t, d in out if d.get("conditional")]
        if plain:
            lines.append(f"  {_label(n)} → {', '.join(plain)}")
        if routed:
            lines.append(f"  {_label(n)} ⇢ {' | '.join(routed)}")
    report = analyze(graph, name=str(title))
    for issue in report.issues:
        lines.append(f"  ! {issue}")
    return "\n".join(lines) + "\n"


def render(graph: Any, fmt: str = "text") -> str:
    """Render in one of :data:`FORMATS`."""
    from mnemos.exceptions import UsageError

    if fmt == "mermaid":
        return to_mermaid(graph)
    if fmt == "dot":
        return to_dot(graph)
    if fmt == "text":
        return to_text(graph)
    raise UsageError(f"unknown graph format {fmt!r}; use one of {', '.join(FORMATS)}")

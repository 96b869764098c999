"""Check a graph's shape before running it, with networkx.

The shape is read from LangGraph's ``StateGraph`` (a builder's, or the one a
compiled graph was made from): plain edges, joins, conditional routes with
their declared destinations, and the destinations of nodes that route with
``Command``. Problems found:

==================  ========  ====================================================
kind                severity  meaning
==================  ========  ====================================================
``unreachable``     error     no path from START to these nodes; they never run
``closed_cycle``    error     a cycle with no edge out of it: the run never ends
``no_path_to_end``  error     from these nodes the run can never reach END
``dead_end``        warning   a node with no outgoing edge: the run stops there
``unknown_routes``  warning   a router without declared destinations (assumed:
                              it may go anywhere)
==================  ========  ====================================================

Subgraphs (nodes that are compiled graphs) are checked too; their nodes are
named ``parent/child``.
"""

from __future__ import annotations

import enum
import warnings
from dataclasses import dataclass
from typing import Any

import networkx as nx
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from mnemos.exceptions import GraphTopologyError, UsageError

__all__ = [
    "GraphTopologyWarning",
    "Severity",
    "TopologyIssue",
    "TopologyReport",
    "analyze",
    "check_topology",
    "to_networkx",
]


class GraphTopologyWarning(UserWarning):
    """A graph's shape is suspicious but it can run."""


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(kw_only=True, frozen=True)
class TopologyIssue:
    """One problem, naming the nodes involved."""

    kind: str
    severity: Severity
    nodes: tuple[str, ...]
    message: str

    def __str__(self) -> str:
        return f"{self.severity.value}: {self.message}"


@dataclass(kw_only=True, frozen=True)
class TopologyReport:
    """The issues found in one graph (empty when the shape is sound)."""

    name: str
    issues: tuple[TopologyIssue, ...]

    @property
    def errors(self) -> tuple[TopologyIssue, ...]:
        return tuple(i for i in self.issues if i.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[TopologyIssue, ...]:
        return tuple(i for i in self.issues if i.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        return not self.errors

    def __str__(self) -> str:
        if not self.issues:
            return f"graph {self.name!r}: no problems found"
        return "\n".join([f"graph {self.name!r}:", *(f"  {i}" for i in self.issues)])


def _state_graph(graph: Any) -> StateGraph[Any]:
    # a GraphBuilder, recognised by its method: the builder depends on this module, not the reverse
    made = getattr(graph, "state_graph", None)
    if callable(made) and not isinstance(graph, (StateGraph, CompiledStateGraph)):
        graph = made()
    if isinstance(graph, CompiledStateGraph):
        return graph.builder
    if isinstance(graph, StateGraph):
        return graph
    raise UsageError(
        f"expected a GraphBuilder, a StateGraph or a compiled graph, not {type(graph).__name__}"
    )


def to_networkx(graph: Any) -> nx.DiGraph:
    """The graph's shape as a ``networkx.DiGraph``.

    Nodes are the node names plus ``__start__`` and ``__end__``. Edge
    attributes: ``conditional`` (taken only on some runs), ``assumed`` (the
    destination was not declared, so every node is assumed possible), and
    ``implicit`` (LangGraph ends the run after a node without edges).
    Graph attributes: ``dead_ends`` and ``unknown_routes`` (node names).
    """
    sg = _state_graph(graph)
    g = nx.DiGraph()
    g.add_node(START)
    g.add_nodes_from(sg.nodes)
    g.add_node(END)
    for src, dst in sg.edges:
        g.add_edge(src, dst, conditional=False)
    for starts, dst in sg.waiting_edges:
        for src in starts:
            g.add_edge(src, dst, conditional=False, join=True)
    unknown: list[str] = []
    everywhere = [*sg.nodes, END]
    for src, branches in sg.branches.items():
        for branch in branches.values():
            if branch.ends is None:
                unknown.append(src)
                for dst in everywhere:
                    g.add_edge(src, dst, conditional=True, assumed=True)
            else:
                for dst in branch.ends.values():
                    g.add_edge(src, dst, conditional=True)
    for name, spec in sg.nodes.items():
        ends = spec.ends or ()
        for dst in ends.values() if isinstance(ends, dict) else ends:
            g.add_edge(name, dst, conditional=True)
    dead_ends = [n for n in sg.nodes if g.out_degree(n) == 0]
    for name in dead_ends:
        g.add_edge(name, END, conditional=False, implicit=True)
    g.graph["dead_ends"] = tuple(dead_ends)
    g.graph["unknown_routes"] = tuple(dict.fromkeys(unknown))
    return g


def analyze(graph: Any, *, name: str | None = None) -> TopologyReport:
    """Find the shape's problems without raising."""
    g = to_networkx(graph)
    label = name or getattr(graph, "name", None) or "graph"
    issues: list[TopologyIssue] = []
    real = [n for n in g.nodes if n not in (START, END)]

    reachable = nx.descendants(g, START)
    unreachable = tuple(n for n in real if n not in reachable)
    if unreachable:
        issues.append(TopologyIssue(
            kind="unreachable", severity=Severity.ERROR, nodes=unreachable,
            message=f"no path from START reaches {_names(unreachable)}; "
                    "add an edge or a route to them, or remove them",
        ))

    can_end = nx.ancestors(g, END)
    stuck = {n for n in real if n not in can_end}
    in_closed: set[str] = set()
    for component in nx.strongly_connected_components(g):
        members = set(component)
        is_cycle = len(members) > 1 or any(g.has_edge(n, n) for n in members)
        leaves = any(dst not in members for n in members for dst in g.successors(n))
        if is_cycle and not leaves:
            cycle = tuple(n for n in real if n in members)
            in_closed |= members
            issues.append(TopologyIssue(
                kind="closed_cycle", severity=Severity.ERROR, nodes=cycle,
                message=f"the cycle {_names(cycle)} has no way out; "
                        "add a route from one of them to END or to a node outside the cycle",
            ))
    no_end = tuple(n for n in real if n in stuck and n not in in_closed)
    if no_end:
        issues.append(TopologyIssue(
            kind="no_path_to_end", severity=Severity.ERROR, nodes=no_end,
            message=f"from {_names(no_end)} the run can never reach END",
        ))

    dead = g.graph["dead_ends"]
    if dead:
        issues.append(TopologyIssue(
            kind="dead_end", severity=Severity.WARNING, nodes=dead,
            message=f"{_names(dead)} {'has' if len(dead) == 1 else 'have'} no outgoing edge, "
                    "so the run stops there; add an edge to END to say so, or declare "
                    "destinations= if the node routes with Command",
        ))
    unknown = g.graph["unknown_routes"]
    if unknown:
        issues.append(TopologyIssue(
            kind="unknown_routes", severity=Severity.WARNING, nodes=unknown,
            message=f"the router after {_names(unknown)} declares no destinations; "
                    "assuming it may go to any node (pass destinations=)",
        ))
    issues.extend(_subgraph_issues(_state_graph(graph)))
    return TopologyReport(name=str(label), issues=tuple(issues))


def _subgraph_issues(sg: StateGraph[Any]) -> list[TopologyIssue]:
    """The issues of nodes that are compiled graphs, their nodes named ``parent/child``."""
    found: list[TopologyIssue] = []
    for name, spec in sg.nodes.items():
        if not isinstance(spec.runnable, CompiledStateGraph):
            continue
        for issue in analyze(spec.runnable, name=name).issues:
            nodes = tuple(f"{name}/{n}" for n in issue.nodes)
            found.append(TopologyIssue(
                kind=issue.kind, severity=issue.severity, nodes=nodes,
                message=f"in subgraph {name!r}: {issue.message}",
            ))
    return found


def check_topology(graph: Any, *, name: str | None = None, strict: bool = False) -> TopologyReport:
    """Raise :class:`GraphTopologyError` on errors (and warnings, if ``strict``);
    otherwise emit warnings as :class:`GraphTopologyWarning` and return the report."""
    report = analyze(graph, name=name)
    fatal = report.issues if strict else report.errors
    if fatal:
        nodes = tuple(dict.fromkeys(n for issue in fatal for n in issue.nodes))
        lines = "\n".join(f"  - {issue.message}" for issue in fatal)
        raise GraphTopologyError(f"graph {report.name!r} is broken:\n{lines}", nodes=nodes)
    for issue in report.warnings:
        warnings.warn(f"graph {report.name!r}: {issue.message}", GraphTopologyWarning, stacklevel=2)
    return report


def _names(nodes: tuple[str, ...]) -> str:
    return ", ".join(repr(n) for n in nodes)

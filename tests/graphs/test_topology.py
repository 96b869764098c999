"""Topology checks and renderings over real LangGraph StateGraphs."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from langgraph.graph import END, START, MessagesState, StateGraph

from mnemos.exceptions import GraphTopologyError, UsageError
from mnemos.graphs import GraphBuilder, GraphTopologyWarning, analyze, check_topology
from mnemos.graphs.render import render, to_dot, to_mermaid, to_text


def noop(state: dict[str, Any]) -> dict[str, Any]:
    return {}


def raw(*edges: tuple[str, str], nodes: tuple[str, ...] = ()) -> StateGraph:
    g = StateGraph(MessagesState)
    names = set(nodes) | {n for e in edges for n in e} - {START, END}
    for n in sorted(names):
        g.add_node(n, noop)
    for src, dst in edges:
        g.add_edge(src, dst)
    return g


def kinds(report) -> dict[str, tuple[str, ...]]:
    return {i.kind: i.nodes for i in report.issues}


def test_a_sound_graph_has_no_issues() -> None:
    report = analyze(raw((START, "a"), ("a", "b"), ("b", END)))
    assert report.ok and report.issues == ()


def test_unreachable_nodes_are_named() -> None:
    report = analyze(raw((START, "a"), ("a", END), ("ghost", "a")))
    assert kinds(report)["unreachable"] == ("ghost",)
    assert not report.ok


def test_closed_cycle_and_no_path_to_end_are_told_apart() -> None:
    g = raw((START, "a"), ("a", END), ("a", "b"), ("b", "c"), ("c", "b"))
    report = analyze(g)
    assert set(kinds(report)["closed_cycle"]) == {"b", "c"}
    assert "no_path_to_end" not in kinds(report)
    g2 = raw((START, "a"), ("a", "feeder"), ("a", END), ("feeder", "b"), ("b", "c"), ("c", "b"))
    k2 = kinds(analyze(g2))
    assert k2["no_path_to_end"] == ("feeder",)
    assert set(k2["closed_cycle"]) == {"b", "c"}


def test_self_loop_without_exit_is_a_closed_cycle() -> None:
    report = analyze(raw((START, "spin"), ("spin", "spin")))
    assert kinds(report)["closed_cycle"] == ("spin",)


def test_a_cycle_with_a_conditional_exit_is_fine() -> None:
    g = raw((START, "a"), ("b", "a"))
    g.add_conditional_edges("a", lambda s: END, ["b", END])
    assert analyze(g).ok


def test_dead_ends_and_undeclared_routes_are_warnings() -> None:
    g = raw((START, "a"), nodes=("b",))
    g.add_conditional_edges("a", lambda s: "b")
    report = analyze(g)
    k = kinds(report)
    assert k["unknown_routes"] == ("a",) and k["dead_end"] == ("b",)
    assert report.ok
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_topology(g)
    assert {w.category for w in caught} == {GraphTopologyWarning}
    with pytest.raises(GraphTopologyError):
        check_topology(g, strict=True)


def test_check_raises_one_typed_error_naming_every_broken_node() -> None:
    g = raw((START, "a"), ("a", END), ("ghost", "a"), ("a", "loop1"), ("loop1", "loop2"), ("loop2", "loop1"))
    with pytest.raises(GraphTopologyError) as info:
        check_topology(g, name="demo")
    assert set(info.value.nodes) == {"ghost", "loop1", "loop2"}
    assert "'demo'" in str(info.value) and "ghost" in str(info.value)


def test_compiled_graphs_and_builders_are_accepted_other_things_refused() -> None:
    compiled = raw((START, "a"), ("a", END)).compile()
    assert analyze(compiled).ok
    assert analyze(GraphBuilder().sequence(noop)).ok
    with pytest.raises(UsageError):
        analyze(object())


def _review_graph() -> GraphBuilder:
    def research(s: dict[str, Any]) -> dict[str, Any]:
        return {}

    def write(s: dict[str, Any]) -> dict[str, Any]:
        return {}

    b = GraphBuilder(name="review").node(research).node(write)
    b.approval(on_reject="write")
    return b.supervisor(["research", "write"], finish="approval")


def test_renderings_show_nodes_and_conditional_edges() -> None:
    b = _review_graph()
    mermaid = to_mermaid(b)
    assert "supervisor -.-> research;" in mermaid and "write --> supervisor;" in mermaid
    assert "approval -.-> write;" in mermaid
    dot = to_dot(b)
    assert dot.startswith('digraph "review" {')
    assert '"supervisor" -> "approval" [style=dashed];' in dot
    assert '"write" -> "supervisor";' in dot
    text = to_text(b)
    assert "START → supervisor" in text
    assert "supervisor ⇢ research | write | approval" in text
    assert "approval ⇢ END | write" in text
    assert render(b, "text") == text
    with pytest.raises(UsageError, match="unknown graph format"):
        render(b, "png")


def test_text_rendering_lists_issues() -> None:
    text = to_text(raw((START, "a"), ("a", END), ("ghost", "a")))
    assert "! error: no path from START reaches 'ghost'" in text


def test_dot_quotes_odd_node_names() -> None:
    g = raw((START, 'say "hi"'), ('say "hi"', END))
    assert '"say \\"hi\\""' in to_dot(g)


def test_subgraphs_are_checked_and_their_nodes_named_by_path() -> None:
    inner = raw((START, "x"), ("x", END), ("lost", "x")).compile(name="inner")
    outer = StateGraph(MessagesState)
    outer.add_node("inner", inner)
    outer.add_edge(START, "inner")
    outer.add_edge("inner", END)
    report = analyze(outer)
    assert kinds(report)["unreachable"] == ("inner/lost",)
    assert "in subgraph 'inner'" in str(report)
    with pytest.raises(GraphTopologyError) as info:
        GraphBuilder(name="outer").sequence(noop).subgraph(inner).edge("noop", "inner").compile()
    assert info.value.nodes == ("inner/lost",)

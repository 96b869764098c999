"""The graph builder compiles to LangGraph and runs sequences, routes, supervisors,
fan-out, subgraphs and approvals (real LangGraph, in-memory or SQLite checkpoints)."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Send

from mnemos.exceptions import GraphTopologyError, UsageError
from mnemos.graphs import (
    FINISH,
    GraphBuilder,
    RouteDecision,
    Supervisor,
    checkpointer_from_url,
    parse_answer,
    sqlite_checkpointer,
)


class LogState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    log: Annotated[list[str], operator.add]


def step(name: str):
    def node(state: dict[str, Any]) -> dict[str, Any]:
        return {"log": [name], "messages": [AIMessage(content=f"{name} done", name=name)]}

    node.__name__ = name
    return node


def cfg(thread: str = "t") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def test_compile_returns_langgraph_compiled_graph_and_sequence_runs_in_order() -> None:
    a, b, c = step("a"), step("b"), step("c")
    graph = GraphBuilder(LogState, name="seq").sequence(a, b, c).compile()
    assert isinstance(graph, CompiledStateGraph)
    out = graph.invoke({"messages": [HumanMessage("go")], "log": []})
    assert out["log"] == ["a", "b", "c"]
    assert [m.content for m in out["messages"]] == ["go", "a done", "b done", "c done"]


def test_nodes_are_referenced_by_object_or_name_and_duplicates_are_refused() -> None:
    a = step("a")
    b = GraphBuilder(LogState).node(a)
    b.sequence("a", step("b"))
    assert b.nodes == ("a", "b")
    with pytest.raises(UsageError, match="already has a node named 'a'"):
        b.node(step("a"))
    with pytest.raises(UsageError, match="no node named 'zzz'"):
        b.edge("a", "zzz")
    with pytest.raises(UsageError, match="cannot tell the name"):
        b.node(lambda s: {})
    with pytest.raises(UsageError, match="no nodes"):
        GraphBuilder().compile()


def test_conditional_routing_follows_the_router() -> None:
    def classify(state: dict[str, Any]) -> str:
        return "math" if "2+2" in state["messages"][0].content else "chat"

    b = GraphBuilder(LogState, name="router")
    b.node(step("intake")).node(step("math")).node(step("chat"))
    b.route("intake", classify, ["math", "chat"]).finish("math", "chat")
    graph = b.compile()
    assert graph.invoke({"messages": [HumanMessage("what is 2+2")], "log": []})["log"] == ["intake", "math"]
    assert graph.invoke({"messages": [HumanMessage("hello")], "log": []})["log"] == ["intake", "chat"]


def test_parallel_fan_out_joins_after_all_branches() -> None:
    b = GraphBuilder(LogState, name="fan")
    b.parallel(step("start"), [step("x"), step("y"), step("z")], join=step("join"))
    out = b.compile().invoke({"messages": [], "log": []})
    assert out["log"][0] == "start" and out["log"][-1] == "join"
    assert sorted(out["log"][1:4]) == ["x", "y", "z"]
    with pytest.raises(UsageError, match="at least two"):
        GraphBuilder().parallel(step("s"), [step("only")])


def test_router_may_fan_out_with_send() -> None:
    class MapState(TypedDict):
        items: list[int]
        results: Annotated[list[int], operator.add]

    def split(state: MapState) -> dict[str, Any]:
        return {}

    def square(item: dict[str, int]) -> dict[str, Any]:
        return {"results": [item["n"] ** 2]}

    b = GraphBuilder(MapState, name="map").node(split).node(square)
    b.route("split", lambda s: [Send("square", {"n": n}) for n in s["items"]], ["square"])
    out = b.compile().invoke({"items": [1, 2, 3], "results": []})
    assert sorted(out["results"]) == [1, 4, 9]


def test_subgraph_runs_as_one_node_from_a_builder_or_a_compiled_graph() -> None:
    inner = GraphBuilder(LogState, name="inner").sequence(step("i1"), step("i2"))
    outer = GraphBuilder(LogState, name="outer").sequence(step("before"), inner, step("after"))
    assert outer.nodes == ("before", "inner", "after")
    # a subgraph returns its whole state; messages merge by id, so each appears once
    out = outer.compile().invoke({"messages": [], "log": []})
    assert [m.content for m in out["messages"]] == ["before done", "i1 done", "i2 done", "after done"]
    compiled_inner = GraphBuilder(LogState, name="inner2").sequence(step("j")).compile()
    outer2 = GraphBuilder(LogState).sequence(step("pre"))
    outer2.subgraph(compiled_inner).edge("pre", "inner2")
    out2 = outer2.compile().invoke({"messages": [], "log": []})
    assert [m.content for m in out2["messages"]] == ["pre done", "j done"]
    with pytest.raises(UsageError, match="subgraph"):
        outer2.subgraph(step("not_a_graph"))


def test_supervisor_follows_declared_order_then_finishes() -> None:
    b = GraphBuilder(LogState, name="sup")
    b.supervisor([step("research"), step("write"), step("review")])
    out = b.compile().invoke({"messages": [HumanMessage("report")], "log": []})
    assert out["log"] == ["research", "write", "review"]


def test_supervisor_turn_cap_stops_a_router_that_never_finishes() -> None:
    sup = Supervisor(router=lambda state, workers: "worker", max_turns=3)
    b = GraphBuilder(LogState, name="loop").supervisor([step("worker")], supervisor=sup)
    out = b.compile().invoke({"messages": [HumanMessage("go")], "log": []})
    assert out["log"] == ["worker"] * 3


def test_supervisor_turns_reset_for_a_new_task_on_the_same_thread() -> None:
    b = GraphBuilder(LogState, name="sup").supervisor([step("a"), step("b")])
    graph = b.compile(checkpointer=checkpointer_from_url("memory"))
    graph.invoke({"messages": [HumanMessage("one")], "log": []}, cfg())
    out = graph.invoke({"messages": [HumanMessage("two")]}, cfg())
    assert out["log"] == ["a", "b", "a", "b"]


def test_supervisor_refuses_an_unknown_worker_choice() -> None:
    sup = Supervisor(router=lambda state, workers: "nobody")
    graph = GraphBuilder(LogState).supervisor([step("a")], supervisor=sup).compile()
    with pytest.raises(UsageError, match="chose 'nobody'"):
        graph.invoke({"messages": [HumanMessage("x")], "log": []})
    with pytest.raises(UsageError, match="max_turns"):
        Supervisor(max_turns=0)


class _RoutingModel:
    """A stand-in for a hosted chat model with structured output (none runs offline)."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.prompts: list[Any] = []

    def with_structured_output(self, schema: type[Any]) -> _RoutingModel:
        self.enum = schema.model_json_schema()["properties"]["next"]["enum"]
        return self

    def invoke(self, prompt: Any, config: Any = None) -> RouteDecision:
        self.prompts.append(prompt)
        return RouteDecision(next=self.answers.pop(0), reason="scripted")


def test_supervisor_with_a_model_uses_structured_decisions_and_lists_workers() -> None:
    model = _RoutingModel(["write", "research", FINISH])
    b = GraphBuilder(LogState).supervisor([step("research"), step("write")], supervisor=Supervisor(model=model))
    out = b.compile().invoke({"messages": [HumanMessage("go")], "log": []})
    assert out["log"] == ["write", "research"]
    assert "research" in model.prompts[0][0].content and "write" in model.prompts[0][0].content
    assert model.enum == ["research", "write", FINISH]


def test_supervisor_with_invalid_structured_decisions_falls_back_to_a_plain_reply() -> None:
    """A weak model (scripted) answers the decision schema with junk twice, then names a worker in prose."""
    from mnemos.agents import ScriptedChatModel

    replies = ["junk", '{"next": "nobody"}', "I pick write.", "junk", "junk", "We are done: FINISH"]
    model = ScriptedChatModel(replies)
    b = GraphBuilder(LogState).supervisor([step("research"), step("write")], supervisor=Supervisor(model=model))
    out = b.compile().invoke({"messages": [HumanMessage("go")], "log": []})
    assert out["log"] == ["write"]
    assert len(model.prompts) == 6


def test_supervisor_streams_route_events() -> None:
    graph = GraphBuilder(LogState).supervisor([step("a")]).compile()
    events = [c for mode, c in graph.stream({"messages": [HumanMessage("x")], "log": []},
                                           stream_mode=["custom", "updates"]) if mode == "custom"]
    assert [(e["event"], e["next"]) for e in events] == [("route", "a"), ("route", FINISH)]


def test_approval_interrupts_and_resumes_with_approve_or_feedback(tmp_path) -> None:
    saver = sqlite_checkpointer(tmp_path / "cp.db")
    b = GraphBuilder(LogState, name="hitl")
    b.sequence(step("draft"))
    b.approval(after="draft", on_reject="draft", question="Ship it?")
    graph = b.compile(checkpointer=saver)
    first = graph.invoke({"messages": [HumanMessage("write")], "log": []}, cfg())
    (intr,) = first["__interrupt__"]
    assert intr.value["question"] == "Ship it?" and intr.value["draft"] == "draft done"
    assert graph.get_state(cfg()).next == ("approval",)
    second = graph.invoke(Command(resume="make it shorter"), cfg())
    assert second["log"] == ["draft", "draft"]
    assert any(m.content == "Rejected by the reviewer: make it shorter" for m in second["messages"])
    assert "__interrupt__" in second
    done = graph.invoke(Command(resume=True), cfg())
    assert "__interrupt__" not in done and graph.get_state(cfg()).next == ()
    assert done["log"] == ["draft", "draft"]


def test_parse_answer_forms() -> None:
    assert parse_answer(True) == (True, "")
    assert parse_answer("Yes") == (True, "")
    assert parse_answer("no") == (False, "")
    assert parse_answer("add sources") == (False, "add sources")
    assert parse_answer({"approved": False, "feedback": "why"}) == (False, "why")


def test_compile_refuses_a_broken_topology() -> None:
    b = GraphBuilder(LogState, name="broken")
    b.sequence(step("a"), step("b")).node(step("orphan")).edge("orphan", "b")
    with pytest.raises(GraphTopologyError, match="orphan") as info:
        b.compile()
    assert info.value.nodes == ("orphan",)
    assert isinstance(b.compile(check=False), CompiledStateGraph)


def test_edges_to_start_or_from_end_are_refused() -> None:
    b = GraphBuilder().node(step("a"))
    with pytest.raises(UsageError, match="END cannot"):
        b.edge(END, "a")
    with pytest.raises(UsageError, match="START cannot"):
        b.edge("a", START)


def test_approval_shows_the_draft_of_the_named_author() -> None:
    b = GraphBuilder(LogState, name="authored").sequence(step("writer"), step("checker"))
    b.approval(after="checker", draft_from="writer")
    graph = b.compile(checkpointer=checkpointer_from_url("memory"))
    out = graph.invoke({"messages": [HumanMessage("go")], "log": []}, cfg("authored"))
    assert out["__interrupt__"][0].value["draft"] == "writer done"

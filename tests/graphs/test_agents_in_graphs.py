"""mnemos agents as builder nodes: memory events stream through LangGraph, async runs,
per-user memory via the run config, and supervisors that decide with the offline model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import StructuredTool

from mnemos.agents import Agent, OfflineChatModel
from mnemos.graphs import GraphBuilder, Supervisor, checkpointer_from_url
from mnemos.graphs.supervisor import FINISH, decision_schema
from mnemos.memory_adapters.native import NativeMemoryAdapter


@pytest.fixture
def memory(tmp_path: Path):
    adapter = NativeMemoryAdapter(tmp_path / "memory.db")
    yield adapter
    adapter.close()


def config(user: str, thread: str) -> dict[str, Any]:
    return {"configurable": {"user_id": user, "thread_id": thread}}


def test_agent_nodes_stream_recall_and_write_events(memory: NativeMemoryAdapter) -> None:
    assistant = Agent(name="assistant", model="offline", memory=memory)
    graph = GraphBuilder(name="one").sequence(assistant).compile(checkpointer=checkpointer_from_url("memory"))
    graph.invoke({"messages": [HumanMessage("My favourite colour is green")]}, config("alice", "t1"))
    events = [chunk for mode, chunk in graph.stream(
        {"messages": [HumanMessage("What is my favourite colour?")]}, config("alice", "t2"),
        stream_mode=["custom", "updates"]) if mode == "custom"]
    recall = next(e for e in events if e["event"] == "recall")
    assert recall["agent"] == "assistant"
    top = recall["memories"][0]
    assert top["content"] == "User's favourite colour is green"
    assert "keyword" in top["why"] or "vector" in top["why"]
    assert any(e["event"] == "memory_write" and e["kind"] == "episodic" for e in events)
    # bob shares the store and the agent, not alice's memories
    bob = graph.invoke({"messages": [HumanMessage("What is my favourite colour?")]}, config("bob", "t3"))
    assert "green" not in bob["messages"][-1].content


async def test_agent_nodes_run_natively_async(memory: NativeMemoryAdapter) -> None:
    assistant = Agent(name="assistant", model="offline", memory=memory)
    graph = GraphBuilder(name="async").sequence(assistant).compile()
    await graph.ainvoke({"messages": [HumanMessage("I live in Lisbon")]}, config("carol", "a1"))
    events = [c async for mode, c in graph.astream(
        {"messages": [HumanMessage("Where do I live?")]}, config("carol", "a2"),
        stream_mode=["custom", "updates"]) if mode == "custom"]
    assert any("Lisbon" in m["content"] for e in events if e["event"] == "recall" for m in e["memories"])


async def test_agent_nodes_call_async_only_tools_in_async_runs() -> None:
    """An async-only tool (as MCP tools are) works with no wrapping of the agent."""
    calls: list[str] = []

    async def get_weather(city: str) -> str:
        calls.append(city)
        return f"Sun in {city}"

    tool = StructuredTool.from_function(coroutine=get_weather, name="get_weather",
                                        description="Get the current weather for a city.")
    forecaster = Agent(name="forecaster", model="offline", tools=[tool])
    graph = GraphBuilder(name="weather").sequence(forecaster).compile()
    assert "forecaster" in graph.nodes
    out = await graph.ainvoke({"messages": [HumanMessage("Weather please, city: Porto")]})
    assert calls == ["Porto"]
    assert out["messages"][-1].content == "Based on the tool results: Sun in Porto"
    assert out["messages"][-1].name == "forecaster"


def test_agents_as_supervised_workers_with_descriptions_in_the_roster(memory: NativeMemoryAdapter) -> None:
    prompts: list[str] = []

    def router(state: Any, workers: Any) -> str:
        prompts.append(",".join(workers))
        spoke = {m.name for m in state["messages"] if isinstance(m, AIMessage)}
        return next((w for w in ("researcher", "writer") if w not in spoke), FINISH)

    researcher = Agent(name="researcher", model="offline", memory=memory, description="finds facts")
    writer = Agent(name="writer", model="offline", memory=memory, description="writes")
    graph = GraphBuilder(name="team").supervisor([researcher, writer], supervisor=Supervisor(router=router)).compile()
    out = graph.invoke({"messages": [HumanMessage("Tell me about tea")]}, config("dan", "s1"))
    assert [m.name for m in out["messages"] if isinstance(m, AIMessage)] == ["researcher", "writer"]
    assert prompts[0] == "researcher,writer"


def test_offline_model_supervisor_routes_by_keyword_within_the_turn_cap() -> None:
    def worker(name: str):
        def node(state: Any) -> dict[str, Any]:
            return {"messages": [AIMessage(f"{name} finished", name=name)]}

        node.__name__ = name
        return node

    sup = Supervisor(model=OfflineChatModel(), max_turns=2)
    graph = GraphBuilder(name="kw").supervisor([worker("research"), worker("write")], supervisor=sup).compile()
    out = graph.invoke({"messages": [HumanMessage("please write the summary")]})
    names = [m.name for m in out["messages"] if isinstance(m, AIMessage)]
    assert names[0] == "write" and len(names) == 2


def test_decision_schema_only_allows_workers_or_finish() -> None:
    schema = decision_schema(["a", "b"])
    assert schema.model_json_schema()["properties"]["next"]["enum"] == ["a", "b", FINISH]
    with pytest.raises(ValueError):
        schema(next="c")

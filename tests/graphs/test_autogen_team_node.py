"""An AutoGen team as a LangGraph node, called many times: sync, async and mixed, with a
two-agent team on AutoGen's replay model client (the real AutoGen runtime, offline)."""

from __future__ import annotations

import asyncio

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_ext.models.replay import ReplayChatCompletionClient
from langchain_core.messages import HumanMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph

from mnemos.graphs.autogen import autogen_team_node

CALLS = 5


def _graph(reset: bool = True) -> CompiledStateGraph:
    writer = AssistantAgent("writer", model_client=ReplayChatCompletionClient(
        [f"draft {i}" for i in range(2 * CALLS)]))
    critic = AssistantAgent("critic", model_client=ReplayChatCompletionClient(
        [f"review {i}" for i in range(2 * CALLS)]))
    # the task, then two turns: the team's queues are used across turns
    team = RoundRobinGroupChat([writer, critic], termination_condition=MaxMessageTermination(3))
    graph = StateGraph(MessagesState)
    graph.add_node("team", autogen_team_node(team, reset=reset))
    graph.add_edge(START, "team")
    return graph.compile()


def _replies(out: dict) -> list[tuple[str | None, str]]:
    return [(m.name, m.text) for m in out["messages"][1:]]


def test_five_sync_invocations() -> None:
    app = _graph()
    for i in range(CALLS):
        out = app.invoke({"messages": [HumanMessage(f"task {i}")]})
        assert _replies(out) == [("writer", f"draft {i}"), ("critic", f"review {i}")]


def test_five_async_invocations_each_on_a_new_event_loop() -> None:
    app = _graph()
    for i in range(CALLS):
        out = asyncio.run(app.ainvoke({"messages": [HumanMessage(f"task {i}")]}))
        assert _replies(out) == [("writer", f"draft {i}"), ("critic", f"review {i}")]


def test_five_async_invocations_on_one_event_loop() -> None:
    app = _graph()

    async def run() -> None:
        for i in range(CALLS):
            out = await app.ainvoke({"messages": [HumanMessage(f"task {i}")]})
            assert _replies(out) == [("writer", f"draft {i}"), ("critic", f"review {i}")]

    asyncio.run(run())


def test_sync_and_async_invocations_alternate() -> None:
    app = _graph()
    for i in range(CALLS):
        message = {"messages": [HumanMessage(f"task {i}")]}
        out = app.invoke(message) if i % 2 == 0 else asyncio.run(app.ainvoke(message))
        assert _replies(out) == [("writer", f"draft {i}"), ("critic", f"review {i}")]


def test_sync_invocation_inside_a_running_event_loop() -> None:
    app = _graph()

    async def run() -> None:
        for i in range(2):
            out = app.invoke({"messages": [HumanMessage(f"task {i}")]})  # a sync call from async code
            assert _replies(out) == [("writer", f"draft {i}"), ("critic", f"review {i}")]

    asyncio.run(run())


def test_without_reset_the_team_continues_its_conversation() -> None:
    app = _graph(reset=False)
    first = app.invoke({"messages": [HumanMessage("task 0")]})
    assert _replies(first) == [("writer", "draft 0"), ("critic", "review 0")]
    second = asyncio.run(app.ainvoke({"messages": [HumanMessage("task 1")]}))
    # the team was not reset: its termination condition stopped it, so it runs on from the writer
    assert [name for name, _ in _replies(second)] == ["writer", "critic"]


def test_all_team_nodes_share_one_loop_thread() -> None:
    import threading

    first, second = _graph(), _graph()
    first.invoke({"messages": [HumanMessage("task 0")]})
    asyncio.run(second.ainvoke({"messages": [HumanMessage("task 0")]}))
    assert len([t for t in threading.enumerate() if t.name == "mnemos-autogen"]) == 1


def test_a_team_with_a_mnemos_agent_and_its_memory_five_times_sync_and_async(tmp_path) -> None:
    from mnemos.agents import Agent
    from mnemos.graphs.autogen import autogen_agent
    from mnemos.memory_adapters.native import NativeMemoryAdapter

    store = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing")
    store.add("Drafts are reviewed against the style guide", namespace=("users", "default", "agents", "editor"),
              kind="semantic")
    writer = AssistantAgent("writer", model_client=ReplayChatCompletionClient([f"draft {i}" for i in range(CALLS)]))
    editor = autogen_agent(Agent(name="editor", model="offline", memory=store))
    team = RoundRobinGroupChat([writer, editor], termination_condition=MaxMessageTermination(3))
    graph = StateGraph(MessagesState)
    graph.add_node("team", autogen_team_node(team))
    graph.add_edge(START, "team")
    app = graph.compile()
    try:
        for i in range(CALLS):
            message = {"messages": [HumanMessage(f"task {i}")]}
            out = app.invoke(message) if i % 2 == 0 else asyncio.run(app.ainvoke(message))
            replies = _replies(out)
            assert [name for name, _ in replies] == ["writer", "editor"]
            assert replies[0][1] == f"draft {i}" and replies[1][1].strip()
        # the mnemos agent wrote its turns to its memory from the team's loop, every call
        episodes = store.list(namespace=("users", "default"), kinds="episodic", limit=None)
        assert len(episodes) >= CALLS
    finally:
        store.close()

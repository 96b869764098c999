"""Memory tools whose namespace is templated by user and agent: one shared tool set, filled
from each run's config or LangGraph runtime context, never mixes users."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from mnemos.agents import Agent
from mnemos.exceptions import UsageError
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.tools.memory_tools import memory_tools

TEMPLATE = ("users", "{user_id}", "notes")


def _tools(adapter: Any, **kwargs: Any) -> dict[str, Any]:
    return {t.name: t for t in memory_tools(adapter, **kwargs)}


def _as(user: str) -> dict[str, Any]:
    return {"configurable": {"user_id": user}}


def test_two_users_share_one_tool_set_without_mixing(memory: NativeMemoryAdapter) -> None:
    tools = _tools(memory, namespace=TEMPLATE)
    alice = tools["remember"].invoke({"content": "I like green tea"}, config=_as("alice"))
    bob = tools["remember"].invoke({"content": "I like strong coffee"}, config=_as("bob"))
    assert memory.get(alice["id"]).namespace == ("users", "alice", "notes")
    assert memory.get(bob["id"]).namespace == ("users", "bob", "notes")

    found = tools["recall"].invoke({"query": "what do I like"}, config=_as("alice"))
    assert [m["content"] for m in found["memories"]] == ["I like green tea"]
    # a namespace the model names is read inside the user's scope
    named = tools["recall"].invoke({"query": "like", "namespace": ["notes"]}, config=_as("bob"))
    assert [m["content"] for m in named["memories"]] == ["I like strong coffee"]
    listed = tools["list_namespaces"].invoke({}, config=_as("bob"))
    assert [n["namespace"] for n in listed["namespaces"]] == [["notes"]]

    # bob cannot forget alice's memory even with its id; it stays
    refused = tools["forget"].invoke({"id": alice["id"]}, config=_as("bob"))
    assert "no memory with id" in str(refused)
    assert memory.get(alice["id"]).content == "I like green tea"
    tools["forget"].invoke({"id": alice["id"]}, config=_as("alice"))
    assert memory.list(namespace=("users", "alice")) == []


def test_a_missing_user_is_an_error_not_a_default(memory: NativeMemoryAdapter) -> None:
    tools = _tools(memory, namespace=TEMPLATE)
    with pytest.raises(UsageError, match="user_id"):
        tools["remember"].invoke({"content": "whose is this?"})
    with pytest.raises(UsageError, match="user_id"):
        tools["recall"].invoke({"query": "anything"}, config={"configurable": {"thread_id": "t"}})
    assert memory.list() == []


def test_agent_placeholder_and_explicit_scope(memory: NativeMemoryAdapter) -> None:
    tools = _tools(memory, namespace=("users", "{user_id}", "agents", "{agent}"), agent="planner")
    out = tools["remember"].invoke({"content": "Ship on Friday"}, config=_as("carol"))
    assert memory.get(out["id"]).namespace == ("users", "carol", "agents", "planner")
    scoped = _tools(memory, scope=("users", "{user_id}"), namespace=("inbox",))
    kept = scoped["remember"].invoke({"content": "Call the bank"}, config=_as("carol"))
    assert memory.get(kept["id"]).namespace == ("users", "carol", "inbox")
    # with the scope at the user, carol's recall sees both of her namespaces and nobody else's
    memory.add("Dave's secret", namespace=("users", "dave", "inbox"))
    seen = scoped["recall"].invoke({"query": "Friday bank secret"}, config=_as("carol"))
    assert sorted(m["content"] for m in seen["memories"]) == ["Call the bank", "Ship on Friday"]


def test_async_calls_fill_the_template(memory: NativeMemoryAdapter) -> None:
    tools = _tools(memory, namespace=TEMPLATE)

    async def run() -> dict[str, Any]:
        await tools["remember"].ainvoke({"content": "Allergic to peanuts"}, config=_as("erin"))
        return await tools["recall"].ainvoke({"query": "peanuts"}, config=_as("erin"))

    assert [m["content"] for m in asyncio.run(run())["memories"]] == ["Allergic to peanuts"]
    assert memory.list(namespace=("users", "erin", "notes"))[0].content == "Allergic to peanuts"


def test_bad_templates_fail_when_the_tools_are_made(memory: NativeMemoryAdapter) -> None:
    with pytest.raises(UsageError):
        memory_tools(memory, namespace=("users", "{user id}"))
    with pytest.raises(UsageError):
        memory_tools(memory, namespace=("users", "{user_id"))
    with pytest.raises(UsageError):
        memory_tools(memory, namespace=("x", "{user_id}"), scope=("users", "{user_id}"))


@dataclass
class Context:
    user_id: str


def test_filled_from_the_langgraph_runtime_context(memory: NativeMemoryAdapter) -> None:
    tools = memory_tools(memory, namespace=TEMPLATE)

    def model(state: MessagesState) -> dict[str, Any]:
        call = {"name": "remember", "args": {"content": "Prefers window seats"}, "id": "call-1"}
        return {"messages": [AIMessage("", tool_calls=[call])]}

    builder = StateGraph(MessagesState, context_schema=Context)
    builder.add_node("model", model)
    builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "model")
    builder.add_edge("model", "tools")
    graph = builder.compile()
    graph.invoke({"messages": [("user", "book a flight")]}, context=Context(user_id="frank"))
    asyncio.run(graph.ainvoke({"messages": [("user", "book a flight")]}, context=Context(user_id="gina")))
    assert memory.list(namespace=("users", "frank", "notes"))[0].content == "Prefers window seats"
    assert memory.list(namespace=("users", "gina", "notes"))[0].content == "Prefers window seats"


def test_a_mnemos_agent_shares_the_tools_between_users(memory: NativeMemoryAdapter) -> None:
    agent = Agent(name="helper", model="offline", tools=memory_tools(memory, namespace=TEMPLATE))
    for user, fact in [("hana", "Store a new memory. content: my locker code is 4411"),
                       ("ivan", "Store a new memory. content: my locker code is 9090")]:
        agent.invoke(fact, {"configurable": {"user_id": user, "thread_id": user}})
    assert [r.content for r in memory.list(namespace=("users", "hana", "notes"))] == ["my locker code is 4411"]
    assert [r.content for r in memory.list(namespace=("users", "ivan", "notes"))] == ["my locker code is 9090"]


def test_concurrent_calls_of_many_users_never_mix(memory: NativeMemoryAdapter) -> None:
    tools = _tools(memory, namespace=TEMPLATE)
    users = [f"user{i}" for i in range(8)]
    # one shared tool, called for eight users at once on a thread pool (LangChain's batch)
    tools["remember"].batch([{"content": f"My badge number is {i}{i}{i}"} for i in range(len(users))],
                            config=[_as(u) for u in users], max_concurrency=8)
    found = tools["recall"].batch([{"query": "badge number", "limit": 10}] * len(users),
                                  config=[_as(u) for u in users], max_concurrency=8)
    for i, (user, result) in enumerate(zip(users, found, strict=True)):
        assert [m["content"] for m in result["memories"]] == [f"My badge number is {i}{i}{i}"]
        assert [r.content for r in memory.list(namespace=("users", user))] == [f"My badge number is {i}{i}{i}"]

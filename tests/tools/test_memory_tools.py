"""Built-in memory tools (remember, recall, forget, list_namespaces) on the native adapter."""

from __future__ import annotations

import json
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AnyMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode

from mnemos.agents.offline import OfflineChatModel
from mnemos.exceptions import InvalidRecordError, MemoryNotFoundError
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.tools.memory_tools import RecallInput, RememberInput, memory_tools


def _tools(adapter: Any, **kwargs: Any) -> dict[str, Any]:
    return {t.name: t for t in memory_tools(adapter, **kwargs)}


def test_schemas_are_typed(memory: NativeMemoryAdapter) -> None:
    tools = _tools(memory)
    assert set(tools) == {"remember", "recall", "forget", "list_namespaces"}
    assert tools["remember"].args_schema is RememberInput
    assert tools["recall"].args_schema is RecallInput
    schema = tools["remember"].tool_call_schema.model_json_schema()
    assert schema["properties"]["kind"]["$ref"].endswith("MemoryKind") or "enum" in json.dumps(schema)
    assert schema["required"] == ["content"]


def test_remember_recall_forget(memory: NativeMemoryAdapter) -> None:
    view = memory.scoped("agents", "planner")
    tools = _tools(view, agent="planner")
    stored = tools["remember"].invoke({"content": "The staging database runs PostgreSQL 16", "importance": 0.8})
    assert stored["stored"] is True and stored["namespace"] == ["notes"]
    record = memory.get(stored["id"])
    assert record.namespace == ("agents", "planner", "notes")
    assert record.provenance.agent == "planner" and record.kind.value == "semantic"
    tools["remember"].invoke({"content": "Deploys happen on Fridays", "namespace": "ops/deploys", "kind": "procedural"})

    recalled = tools["recall"].invoke({"query": "which PostgreSQL version does staging use"})
    top = recalled["memories"][0]
    assert top["id"] == stored["id"] and top["score"] > 0 and top["why"]

    spaces = tools["list_namespaces"].invoke({})
    assert [s["path"] for s in spaces["namespaces"]] == ["notes", "ops/deploys"]
    assert tools["list_namespaces"].invoke({"prefix": ["ops"]})["namespaces"][0]["count"] == 1

    assert tools["forget"].invoke({"id": stored["id"]}) == {"id": stored["id"], "deleted": True}
    with pytest.raises(MemoryNotFoundError):
        memory.get(stored["id"])


def test_errors_go_back_to_the_model_and_change_nothing(memory: NativeMemoryAdapter) -> None:
    tools = _tools(memory)
    kept = tools["remember"].invoke({"content": "keep this"})
    before = list(memory.iter_export())
    cases = [
        ("remember", {"content": "   "}, "content is empty"),
        ("remember", {"content": "x", "namespace": "a//b"}, "invalid arguments: namespace"),
        ("remember", {"content": "x", "importance": 3}, "invalid arguments: importance"),
        ("recall", {"query": "x", "limit": 0}, "invalid arguments: limit"),
        ("forget", {"id": "missing-id"}, "no memory with id 'missing-id'"),
    ]
    for name, args, expected in cases:
        call = {"name": name, "args": args, "id": "call-1", "type": "tool_call"}
        message = tools[name].invoke(call)
        assert isinstance(message, ToolMessage)
        assert expected in message.content, (name, message.content)
        assert message.status == "error"
    assert list(memory.iter_export()) == before
    assert memory.get(kept["id"]).content == "keep this"


def test_typed_errors_when_not_handled(memory: NativeMemoryAdapter) -> None:
    tools = _tools(memory, handle_errors=False)
    with pytest.raises(MemoryNotFoundError):
        tools["forget"].invoke({"id": "missing"})
    with pytest.raises(InvalidRecordError):
        tools["remember"].invoke({"content": ""})


def test_scope_is_the_boundary(memory: NativeMemoryAdapter) -> None:
    other = memory.scoped("agents", "critic").add("critic's private note", namespace=("notes",))
    tools = _tools(memory.scoped("agents", "planner"))
    assert tools["recall"].invoke({"query": "critic private note", "namespace": "agents/critic"})["memories"] == []
    error = tools["forget"].invoke({"name": "forget", "args": {"id": other.id}, "id": "c", "type": "tool_call"})
    assert "no memory with id" in error.content
    assert memory.get(other.id).content == "critic's private note"


async def test_async_use(memory: NativeMemoryAdapter) -> None:
    tools = _tools(memory)
    stored = await tools["remember"].ainvoke({"content": "async memories work"})
    found = await tools["recall"].ainvoke({"query": "async memories"})
    assert found["memories"][0]["id"] == stored["id"]


class _State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


async def test_a_graph_agent_uses_the_memory_tools(memory: NativeMemoryAdapter) -> None:
    tools = memory_tools(memory.scoped("agents", "scribe"), agent="scribe")
    model = OfflineChatModel().bind_tools(tools)

    async def agent(state: _State) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = StateGraph(_State)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "tools")
    builder.add_edge("tools", END)
    graph = builder.compile()

    # The offline model picks a tool by the words of its name and description,
    # and fills arguments written "field: value".
    stored = await graph.ainvoke({"messages": [HumanMessage(
        "Store a new memory. content: the office moves to Lisbon in May. namespace: office"
    )]})
    assert stored["messages"][1].tool_calls[0]["name"] == "remember"
    out = await graph.ainvoke({"messages": [HumanMessage(
        "Recall: search memories by meaning. query: office Lisbon. namespace: office. kinds: semantic"
    )]})
    assert out["messages"][1].tool_calls[0]["name"] == "recall"
    result = json.loads(out["messages"][-1].content)
    assert result["memories"][0]["content"] == "the office moves to Lisbon in May"
    assert memory.list(namespace=("agents", "scribe"))[0].provenance.agent == "scribe"


def test_the_offline_model_calls_recall_with_its_optional_arguments_unset(memory: NativeMemoryAdapter) -> None:
    """Optional parameters defaulting to None (namespace, kinds) stay unset unless the request gives them."""
    from mnemos.agents import Agent

    tools = _tools(memory)
    tools["remember"].invoke({"content": "The user drinks oat flat whites every morning"})
    tools["remember"].invoke({"content": "Standup moved to 9:30", "namespace": "team", "kind": "episodic"})
    agent = Agent(name="librarian", model="offline", tools=list(tools.values()))

    update = agent.invoke("Recall what you know about the coffee the user drinks")
    call = update["messages"][0].tool_calls[0]
    assert call["name"] == "recall"
    assert call["args"] == {"query": "Recall what you know about the coffee the user drinks"}
    result = json.loads(update["messages"][1].content)
    assert result["memories"][0]["content"] == "The user drinks oat flat whites every morning"

    update = agent.invoke("Recall memories. query: standup. kinds: episodic and semantic, limit: 1, namespace: team")
    call = update["messages"][0].tool_calls[0]
    assert call["args"] == {"query": "standup", "namespace": "team", "kinds": ["episodic", "semantic"], "limit": 1}
    result = json.loads(update["messages"][1].content)
    assert [m["content"] for m in result["memories"]] == ["Standup moved to 9:30"]

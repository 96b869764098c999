"""Threads belong to a user: the user of a run comes from its config or from LangGraph's
runtime context, and a thread id used by one user is refused to another with a typed error
(the owner is kept in the checkpoints, so it holds across savers and processes)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, MessagesState, StateGraph

from mnemos.agents import Agent
from mnemos.exceptions import MissingUserError, ThreadOwnerError, UsageError
from mnemos.graphs import GraphBuilder, bind_threads_to_users, sqlite_checkpointer
from mnemos.graphs.checkpoint import close_checkpointer
from mnemos.memory_adapters import MemoryKind
from mnemos.memory_adapters.native import NativeMemoryAdapter


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[NativeMemoryAdapter]:
    adapter = NativeMemoryAdapter(tmp_path / "memory.db")
    yield adapter
    adapter.close()


def config(user: str | None, thread: str) -> dict[str, Any]:
    configurable: dict[str, Any] = {"thread_id": thread}
    if user is not None:
        configurable["user_id"] = user
    return {"configurable": configurable}


def say(text: str) -> dict[str, Any]:
    return {"messages": [HumanMessage(text)]}


def contents(memory: NativeMemoryAdapter, user: str) -> list[str]:
    return [r.content for r in memory.list(namespace=("users", user), limit=100)]


def test_bob_is_refused_alices_thread_and_nothing_is_written(memory: NativeMemoryAdapter, tmp_path: Path) -> None:
    """The reproducer: bob on alice's thread id used to be answered from alice's conversation,
    and that text went into bob's long-term memory."""
    agent = Agent(name="assistant", model="offline", memory=memory)
    saver = sqlite_checkpointer(tmp_path / "checkpoints.db")
    try:
        graph = GraphBuilder(name="chat").sequence(agent).compile(checkpointer=saver)
        graph.invoke(say("My favourite colour is green"), config("alice", "t1"))
        with pytest.raises(ThreadOwnerError) as caught:
            graph.invoke(say("What did I just tell you?"), config("bob", "t1"))
        assert "alice" not in str(caught.value)  # the refusal does not name the owner
        with pytest.raises(ThreadOwnerError):
            graph.get_state(config("bob", "t1"))
        with pytest.raises(ThreadOwnerError):
            list(graph.get_state_history(config("bob", "t1")))
        with pytest.raises(ThreadOwnerError):
            graph.update_state(config("bob", "t1"), say("injected"))
    finally:
        close_checkpointer(saver)
    assert contents(memory, "bob") == []
    assert not any("green" in text for text in contents(memory, "bob"))
    # alice keeps her thread; a new saver on the same file (a later process) still knows the owner
    again = sqlite_checkpointer(tmp_path / "checkpoints.db")
    try:
        graph = GraphBuilder(name="chat").sequence(agent).compile(checkpointer=again)
        with pytest.raises(ThreadOwnerError):
            graph.invoke(say("hello"), config("bob", "t1"))
        out = graph.invoke(say("What is my favourite colour?"), config("alice", "t1"))
        assert "green" in out["messages"][-1].content
    finally:
        close_checkpointer(again)


async def test_the_async_path_refuses_too(memory: NativeMemoryAdapter, tmp_path: Path) -> None:
    from mnemos.graphs import aopen_checkpointer

    agent = Agent(name="assistant", model="offline", memory=memory)
    async with aopen_checkpointer(tmp_path / "checkpoints.db") as saver:
        graph = GraphBuilder(name="chat").sequence(agent).compile(checkpointer=saver)
        await graph.ainvoke(say("I live in Lisbon"), config("alice", "a1"))
        with pytest.raises(ThreadOwnerError):
            await graph.ainvoke(say("Where do I live?"), config("bob", "a1"))
        with pytest.raises(ThreadOwnerError):
            await graph.aget_state(config("bob", "a1"))
    assert contents(memory, "bob") == []


@dataclass
class UserContext:
    user_id: str


@pytest.mark.parametrize("context_of", [lambda u: {"user_id": u}, UserContext], ids=["dict", "dataclass"])
def test_the_agent_reads_the_user_from_langgraphs_runtime_context(
    memory: NativeMemoryAdapter, tmp_path: Path, context_of: Any
) -> None:
    """The reproducer: with LangGraph's ``context=`` every user was ``default`` and bob
    recalled alice's favourite colour."""
    agent = Agent(name="assistant", model="offline", memory=memory)
    graph_def = StateGraph(MessagesState, context_schema=UserContext if context_of is UserContext else None)
    graph_def.add_node(agent)
    graph_def.add_edge(START, agent.name)
    conn = sqlite3.connect(tmp_path / "c.db", check_same_thread=False)
    graph = graph_def.compile(checkpointer=bind_threads_to_users(SqliteSaver(conn)))
    try:
        _alice_and_bob_by_context(graph, memory, context_of)
    finally:
        conn.close()


def _alice_and_bob_by_context(graph: Any, memory: NativeMemoryAdapter, context_of: Any) -> None:
    graph.invoke(say("My favourite colour is green"), {"configurable": {"thread_id": "a"}},
                 context=context_of("alice"))
    out = graph.invoke(say("What is my favourite colour?"), {"configurable": {"thread_id": "b"}},
                       context=context_of("bob"))
    assert "green" not in out["messages"][-1].content
    assert any("green" in text for text in contents(memory, "alice"))
    assert not any("green" in text for text in contents(memory, "bob"))
    assert memory.list(namespace=("users", "default"), limit=10) == []
    # the context's user owns the thread, too
    with pytest.raises(ThreadOwnerError):
        graph.invoke(say("hi"), {"configurable": {"thread_id": "a"}}, context=context_of("bob"))


def test_config_and_context_naming_two_users_is_refused(memory: NativeMemoryAdapter) -> None:
    agent = Agent(name="assistant", model="offline", memory=memory)
    with pytest.raises(UsageError, match="two users"):
        agent.invoke(say("hi"), config("alice", "t"), context={"user_id": "bob"})


def test_the_agent_alone_takes_context_like_a_graph_does(memory: NativeMemoryAdapter) -> None:
    agent = Agent(name="assistant", model="offline", memory=memory)
    agent.invoke(say("I work at Acme"), {"configurable": {"thread_id": "x"}}, context={"user_id": "carol"})
    assert any("Acme" in r.content for r in memory.list(namespace=("users", "carol"), kinds=MemoryKind.SEMANTIC))


def test_a_deployment_can_require_an_explicit_user(
    memory: NativeMemoryAdapter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNEMOS_REQUIRE_USER", "1")
    agent = Agent(name="assistant", model="offline", memory=memory)
    with pytest.raises(MissingUserError):
        agent.invoke(say("My favourite colour is green"), config(None, "t"))
    saver = sqlite_checkpointer(tmp_path / "checkpoints.db")
    try:
        graph = GraphBuilder(name="chat").sequence(agent).compile(checkpointer=saver)
        with pytest.raises(MissingUserError):
            graph.invoke(say("hi"), config(None, "t"))
        graph.invoke(say("hi"), config("alice", "t"))
    finally:
        close_checkpointer(saver)
    assert memory.count(("users", "default")) == 0
    monkeypatch.setenv("MNEMOS_REQUIRE_USER", "0")
    agent.invoke(say("hi"), config(None, "t2"))  # single-user use keeps the default user


def test_a_thread_started_without_a_user_is_the_default_users(memory: NativeMemoryAdapter) -> None:
    agent = Agent(name="assistant", model="offline", memory=memory)
    graph = GraphBuilder(name="chat").sequence(agent).compile(checkpointer=bind_threads_to_users(
        __import__("langgraph.checkpoint.memory", fromlist=["InMemorySaver"]).InMemorySaver()))
    graph.invoke(say("hi"), config(None, "t"))
    graph.invoke(say("hi again"), config("default", "t"))
    with pytest.raises(ThreadOwnerError):
        graph.invoke(say("hi"), config("mallory", "t"))


@pytest.mark.parametrize("command", [["run", "{target}", "hello"], ["brainstorm", "A topic", "--rounds", "1"]])
def test_the_cli_requires_a_user_when_the_deployment_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    from typer.testing import CliRunner

    from mnemos.cli import app

    (tmp_path / "g.py").write_text("from langgraph.graph import MessagesState, StateGraph\n"
                                   "g = StateGraph(MessagesState)\ng.add_node('n', lambda s: {})\n"
                                   "g.set_entry_point('n')\n")
    monkeypatch.setenv("MNEMOS_REQUIRE_USER", "1")
    monkeypatch.setenv("MNEMOS_STORE", str(tmp_path / "memory.db"))
    args = [a.replace("{target}", f"{tmp_path / 'g.py'}:g") for a in command]
    result = CliRunner().invoke(app, [*args, "--checkpoints", str(tmp_path / "c.db")])
    assert result.exit_code == 2
    assert "MNEMOS_REQUIRE_USER" in result.output
    assert not (tmp_path / "c.db").exists()  # refused before anything is opened

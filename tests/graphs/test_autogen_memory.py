"""mnemos memory in AutoGen teams (the real AutoGen runtime, offline): a member recalls what
the task needs even when the previous speaker only said "ok", and AutoGen streams show
mnemos memory and tool events as they show AutoGen's own agents'."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.messages import (
    MemoryQueryEvent,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
)
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.models import AssistantMessage, SystemMessage, UserMessage
from autogen_ext.models.replay import ReplayChatCompletionClient
from langchain_core.tools import tool

from mnemos.agents import Agent
from mnemos.exceptions import UsageError
from mnemos.graphs.autogen import autogen_agent, memory_for_autogen
from mnemos.memory_adapters.native import NativeMemoryAdapter

FACT = "The deployment target is a Kubernetes cluster on ARM64 nodes"
NOISE = ["The office coffee machine is on the third floor", "The quarterly report is due on Friday",
         "Okay is the name of the team's build bot"]
TASK = "Write the deployment script for our target cluster"


@pytest.fixture
def store(tmp_path: Path) -> Any:
    adapter = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing")
    for text in [FACT, *NOISE]:
        adapter.add(text, namespace=("teams", "ops"), kind="semantic")
    yield adapter
    adapter.close()


def _run_team(store: NativeMemoryAdapter, **options: Any) -> tuple[list[Any], AssistantAgent]:
    pm = AssistantAgent("pm", model_client=ReplayChatCompletionClient(["ok"]))
    coder = AssistantAgent("coder", model_client=ReplayChatCompletionClient(["Here is the script."]),
                           memory=[memory_for_autogen(store, ("teams", "ops"), k=2, **options)])
    team = RoundRobinGroupChat([pm, coder], termination_condition=MaxMessageTermination(3))

    async def run() -> list[Any]:
        return [m async for m in team.run_stream(task=TASK) if not isinstance(m, TaskResult)]

    return asyncio.run(run()), coder


def _recalled(stream: list[Any], source: str) -> list[str]:
    return [str(c.content) for e in stream if isinstance(e, MemoryQueryEvent) and e.source == source
            for c in e.content]


def test_member_after_an_ok_recalls_what_the_task_needs(store: NativeMemoryAdapter) -> None:
    stream, coder = _run_team(store)
    assert [m.to_text() for m in stream if getattr(m, "source", None) == "pm"] == ["ok"]
    recalled = _recalled(stream, "coder")
    assert recalled[0] == FACT  # shown in the stream like AutoGen's own memories
    context = asyncio.run(coder.model_context.get_messages())
    assert any(isinstance(m, SystemMessage) and FACT in m.content for m in context)


def test_last_message_only_is_still_available_and_misses_it(store: NativeMemoryAdapter) -> None:
    stream, _ = _run_team(store, task=False, recent=1)
    assert FACT not in _recalled(stream, "coder")


def test_query_text_replaces_the_rule(store: NativeMemoryAdapter) -> None:
    seen: list[list[str]] = []

    def on_task_only(messages: Any) -> str:
        seen.append([type(m).__name__ for m in messages])
        return "coffee machine"

    stream, _ = _run_team(store, query_text=on_task_only)
    assert _recalled(stream, "coder")[0] == NOISE[0]
    assert seen and "UserMessage" in seen[0]


def test_queries_are_the_task_and_the_recent_turns(store: NativeMemoryAdapter) -> None:
    memory = memory_for_autogen(store, ("teams", "ops"), recent=2)
    messages = [UserMessage(content=TASK, source="user"), UserMessage(content="first idea", source="pm"),
                AssistantMessage(content="my draft", source="coder"), SystemMessage(content="Relevant memories: x"),
                UserMessage(content="ok", source="pm")]
    assert memory.queries(messages) == [TASK, "my draft\nok"]
    assert memory_for_autogen(store, recent=0).queries(messages) == [TASK]
    with pytest.raises(UsageError):
        memory_for_autogen(store, recent=-1)


def test_mnemos_agent_streams_its_recall_and_tool_calls(tmp_path: Path) -> None:
    store = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing")
    store.add("The user's home city is Lisbon", namespace=("users", "default", "agents", "scout"), kind="semantic")

    @tool
    def get_weather(city: str) -> str:
        """The weather forecast for a city."""
        return f"Sunny in {city}"

    scout = Agent(name="scout", model="offline", memory=store, tools=[get_weather])
    team = RoundRobinGroupChat([autogen_agent(scout)], termination_condition=MaxMessageTermination(2))

    async def run() -> list[Any]:
        return [m async for m in team.run_stream(task="What is the weather in my home city? city: Lisbon")]

    try:
        stream = asyncio.run(run())
    finally:
        store.close()
    kinds = [type(m).__name__ for m in stream if getattr(m, "source", None) == "scout"]
    assert kinds == ["MemoryQueryEvent", "ToolCallRequestEvent", "ToolCallExecutionEvent", "TextMessage"]
    assert "Lisbon" in _recalled(stream, "scout")[0]
    request = next(m for m in stream if isinstance(m, ToolCallRequestEvent))
    assert request.content[0].name == "get_weather" and '"Lisbon"' in request.content[0].arguments
    result = next(m for m in stream if isinstance(m, ToolCallExecutionEvent))
    assert result.content[0].content == "Sunny in Lisbon" and not result.content[0].is_error
    assert result.content[0].call_id == request.content[0].id

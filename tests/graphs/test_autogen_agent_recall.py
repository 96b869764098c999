"""A mnemos agent in an AutoGen team recalls on the team's task and the recent turns, as the
AutoGen memory does: after another member's bare "ok" it still finds what the task needs
(the real AutoGen runtime, offline models)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.messages import MemoryQueryEvent
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_ext.models.replay import ReplayChatCompletionClient
from langchain_core.messages import AIMessage, HumanMessage

from mnemos.agents import Agent, MemoryPolicy, RecallQuery
from mnemos.exceptions import UsageError
from mnemos.graphs.autogen import autogen_agent
from mnemos.memory_adapters.native import NativeMemoryAdapter

FACT = "The deployment target is a Kubernetes cluster on ARM64 nodes"
NOISE = ["The office coffee machine is on the third floor", "The quarterly report is due on Friday",
         "Okay is the name of the team's build bot"]
TASK = "Write the deployment script for our target cluster"
CODER_NS = ("users", "default", "agents", "coder")


@pytest.fixture
def store(tmp_path: Path) -> Any:
    adapter = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing")
    for text in [FACT, *NOISE]:
        adapter.add(text, namespace=CODER_NS, kind="semantic")
    yield adapter
    adapter.close()


def _recalled_by_coder(store: NativeMemoryAdapter, **options: Any) -> list[str]:
    pm = AssistantAgent("pm", model_client=ReplayChatCompletionClient(["ok"]))
    coder = Agent(name="coder", model="offline", memory=store)
    team = RoundRobinGroupChat([pm, autogen_agent(coder, thread_id="ops", **options)],
                               termination_condition=MaxMessageTermination(3))

    async def run() -> list[Any]:
        return [m async for m in team.run_stream(task=TASK) if not isinstance(m, TaskResult)]

    stream = asyncio.run(run())
    assert [m.to_text() for m in stream if getattr(m, "source", None) == "pm"] == ["ok"]
    assert coder.policy.query == RecallQuery()  # the agent passed in is left as it was
    return [str(c.content) for e in stream if isinstance(e, MemoryQueryEvent) and e.source == "coder"
            for c in e.content]


def test_a_mnemos_member_after_an_ok_recalls_what_the_task_needs(store: NativeMemoryAdapter) -> None:
    assert FACT in _recalled_by_coder(store)


def test_on_the_last_message_only_the_member_misses_it(store: NativeMemoryAdapter) -> None:
    assert FACT not in _recalled_by_coder(store, task=False, recent=1)


def test_the_policy_query_searches_the_task_and_the_recent_turns(store: NativeMemoryAdapter) -> None:
    """The same rule in a LangGraph group: the policy's RecallQuery, not the AutoGen bridge."""
    history = [HumanMessage(TASK), AIMessage("ok", name="pm")]
    latest = Agent(name="coder", model="offline", memory=store).assemble({"messages": history})
    task_aware = Agent(name="coder", model="offline", memory=store,
                       policy=MemoryPolicy(query=RecallQuery(task=True, recent=3))).assemble({"messages": history})
    assert FACT not in [m.content for m in latest.memories]
    assert FACT in [m.content for m in task_aware.memories]
    with pytest.raises(UsageError):
        RecallQuery(recent=-1)

"""A MemGPT agent in an AutoGen team, on the real AutoGen runtime, offline.

The other member is AutoGen's ``AssistantAgent`` on AutoGen's own
``ReplayChatCompletionClient`` (scripted replies: a test stand-in, not a model);
the MemGPT agent runs on ScriptedChatModel where a test needs particular calls.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from autogen_agentchat.agents import AssistantAgent, BaseChatAgent
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.messages import (
    MemoryQueryEvent,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
)
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_ext.models.replay import ReplayChatCompletionClient
from langchain_core.messages import HumanMessage

from memgpt_calls import calling
from mnemos.agents import OfflineChatModel, ScriptedChatModel
from mnemos.agents.memgpt import MemGPTAgent
from mnemos.exceptions import UsageError
from mnemos.graphs.autogen import autogen_agent
from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter


def test_autogen_agent_wraps_a_memgpt_agent_for_a_round_robin_team(tmp_path: Path) -> None:
    """Was: AttributeError: 'MemGPTAgent' object has no attribute 'name'."""
    memory = MemGPTMemoryAdapter(tmp_path / "memgpt.db", embedder="hashing")
    memory.archival_memory_insert(("agents", "coder"), "The project is written in Rust.")
    model = ScriptedChatModel([
        calling("archival_memory_search", query="project language", request_heartbeat=True),
        "We write it in Rust, as decided.",
    ])
    coder = autogen_agent(MemGPTAgent(model, memory, name="coder"))
    assert isinstance(coder, BaseChatAgent) and coder.name == "coder"
    pm = AssistantAgent("product_manager", model_client=ReplayChatCompletionClient(["First feature: login."]))
    team = RoundRobinGroupChat([pm, coder], termination_condition=MaxMessageTermination(3))
    result = asyncio.run(team.run(task="Build the Bluebird app."))
    chat = [(m.source, m.to_text()) for m in result.messages
            if m.source != "coder" or not isinstance(m, (ToolCallRequestEvent, ToolCallExecutionEvent, MemoryQueryEvent))]
    assert chat[0] == ("user", "Build the Bluebird app.")
    assert chat[-1] == ("coder", "We write it in Rust, as decided.")
    # the team's messages reach the MemGPT agent: the user's as is, the member's with its name
    prompt = model.prompts[0]
    assert [m.text for m in prompt if isinstance(m, HumanMessage) and m.name != "system"] == [
        "Build the Bluebird app.", "product_manager: First feature: login."]
    # its function calls and what its search found stream as AutoGen's own events
    kinds = [type(m).__name__ for m in result.messages if m.source == "coder"]
    assert kinds[:3] == ["ToolCallRequestEvent", "ToolCallExecutionEvent", "MemoryQueryEvent"]
    found = next(m for m in result.messages if isinstance(m, MemoryQueryEvent))
    assert "written in Rust" in found.content[0].content
    memory.close()


def test_save_state_and_load_state_carry_the_queue_summary_and_heartbeats(tmp_path: Path) -> None:
    memory = MemGPTMemoryAdapter(tmp_path / "memgpt.db", embedder="hashing")
    agent = MemGPTAgent(OfflineChatModel(), memory, name="coder", persist=False)
    agent.step("The codename is Bluebird.")
    agent.context.summary = "- user: earlier we talked about pricing"
    agent.heartbeat_pending, agent.heartbeats = True, 3
    wrapped = autogen_agent(agent)
    state = json.loads(json.dumps(asyncio.run(wrapped.save_state())))  # AutoGen saves state as JSON

    fresh = autogen_agent(MemGPTAgent(OfflineChatModel(), memory, name="coder", persist=False))
    assert fresh.agent.context.queue == []
    asyncio.run(fresh.load_state(state))
    restored = fresh.agent
    assert [m.text for m in restored.context.queue] == [m.text for m in agent.context.queue]
    assert restored.context.summary == "- user: earlier we talked about pricing"
    assert restored.heartbeat_pending and restored.heartbeats == 3
    with pytest.raises(UsageError, match="saved MemGPT agent state"):
        asyncio.run(fresh.load_state({"type": "AssistantAgentState"}))
    asyncio.run(fresh.on_reset(None))  # type: ignore[arg-type]
    assert fresh.agent.context.queue == [] and memory.message_count(agent.namespace) == 2
    memory.close()


def test_autogen_agent_rejects_what_it_cannot_wrap() -> None:
    with pytest.raises(UsageError, match="Agent or a MemGPTAgent"):
        autogen_agent(object())  # type: ignore[arg-type]

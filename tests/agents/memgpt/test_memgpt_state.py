"""The MemGPT agent's state outside the memory tiers: the in-context queue, the
summary of evicted messages and the heartbeats, saved, restored, and carried
from one process to the next through the agent's memory.

Models: the offline model (deterministic rules), and ScriptedChatModel where a
test needs the model to request a heartbeat.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from memgpt_calls import calling
from mnemos.agents import OfflineChatModel, ScriptedChatModel
from mnemos.agents.memgpt import MemGPTAgent, encode_message
from mnemos.exceptions import UsageError
from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter

SECOND_PROCESS = textwrap.dedent("""
    import json, sys
    from mnemos.agents import OfflineChatModel
    from mnemos.agents.memgpt import MemGPTAgent, encode_message
    from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter

    memory = MemGPTMemoryAdapter(sys.argv[1], embedder="hashing")
    agent = MemGPTAgent(OfflineChatModel(), memory, name="coder", context_window=2600, summarizer="extractive")
    before = agent.save_state()
    reply = agent.step("What is my locker code?")
    print(json.dumps({"before": before, "reply": reply}))
    memory.close()
""")


def test_the_in_context_queue_and_summary_continue_in_a_second_process(tmp_path: Path) -> None:
    path = tmp_path / "memgpt.db"
    memory = MemGPTMemoryAdapter(path, embedder="hashing")
    agent = MemGPTAgent(OfflineChatModel(), memory, name="coder", context_window=2600, summarizer="extractive")
    agent.step("Hello, I am Ada.")
    for i in range(30):
        agent.step(f"Small talk {i}: the weather was mild and I cooked soup number {i} for dinner.")
        if agent.context.summary:
            break
    agent.step("My locker code is 4512.")
    assert agent.context.summary and agent.context.evicted_total > 0  # an eviction happened
    queue = [encode_message(m) for m in agent.context.queue]
    summary = agent.context.summary
    memory.close()

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", SECOND_PROCESS, str(path)], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    context = out["before"]["context"]
    assert context["queue"] == queue and context["summary"] == summary
    assert context["evicted_total"] > 0
    # the second process answers from the context the first one left (the code is in the queue)
    assert "4512" in out["reply"]


def test_an_owed_heartbeat_is_saved_and_continued_by_a_new_agent(tmp_path: Path) -> None:
    memory = MemGPTMemoryAdapter(tmp_path / "memgpt.db", embedder="hashing")
    memory.archival_memory_insert(("agents", "coder"), "the wifi password is tulip-42")
    first = ScriptedChatModel([calling("archival_memory_search", query="wifi", request_heartbeat=True)])
    agent = MemGPTAgent(first, memory, name="coder", max_chained_calls=1)
    assert agent.step("what's the wifi password?") == ""
    assert agent.heartbeat_pending and agent.save_state()["heartbeat_pending"] is True

    second = ScriptedChatModel(["It is tulip-42."])
    again = MemGPTAgent(second, memory, name="coder", max_chained_calls=1)
    assert again.heartbeat_pending
    assert again.step(None) == "It is tulip-42."  # continued: the search result is in its prompt
    assert "tulip-42" in second.prompts[0][-1].text
    assert not again.heartbeat_pending and again.heartbeats == 1
    memory.close()


def test_save_state_and_load_state_round_trip_and_reject_bad_input(tmp_path: Path) -> None:
    memory = MemGPTMemoryAdapter(tmp_path / "memgpt.db", embedder="hashing")
    agent = MemGPTAgent(OfflineChatModel(), memory, name="coder", persist=False)
    agent.step("I am Ada.")
    state = json.loads(json.dumps(agent.save_state()))  # plain JSON
    other = MemGPTAgent(OfflineChatModel(), memory, name="coder", persist=False)
    assert other.context.queue == []  # not persisted
    other.load_state(state)
    assert [m.text for m in other.context.queue] == [m.text for m in agent.context.queue]
    for bad in ({"context": {"version": 99}}, {"nothing": 1}, {"context": {"version": 1, "queue": [{"type": "ai", "tool_calls": [{}]}]}}):
        with pytest.raises(UsageError):
            other.load_state(bad)
        assert [m.text for m in other.context.queue] == [m.text for m in agent.context.queue]  # nothing lost
    other.reset()
    assert other.context.queue == [] and other.context.summary is None
    assert memory.message_count(other.namespace) == 2  # recall memory is not touched by a reset
    memory.close()


def test_the_persisted_state_is_not_archival_or_recall_memory(tmp_path: Path) -> None:
    memory = MemGPTMemoryAdapter(tmp_path / "memgpt.db", embedder="hashing")
    agent = MemGPTAgent(OfflineChatModel(), memory, name="coder")
    agent.step([HumanMessage("One."), HumanMessage("Two.")])
    agent.step("Three.")
    assert memory.archival_count(agent.namespace) == 0
    assert all(h.record.metadata.get("memgpt") == "message"
               for h in memory.conversation_search(agent.namespace, "One Two Three queue"))
    states = memory.list(namespace=(*agent.namespace, "context"), limit=None)
    assert len(states) == 1  # replaced, not piled up
    memory.close()

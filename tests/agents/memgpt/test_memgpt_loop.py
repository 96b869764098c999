"""The MemGPT agent loop (mnemos.agents.memgpt) over the native SQLite backend.

Models: mnemos's OfflineChatModel (deterministic rules, no network) for the
long conversation, and ScriptedChatModel where a test needs the agent to make
particular calls (standing in for a hosted LLM's choices).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from memgpt_calls import calling
from mnemos.agents.memgpt import MEMORY_PRESSURE_WARNING, MemGPTAgent
from mnemos.agents.offline import OfflineChatModel
from mnemos.agents.scripted import ScriptedChatModel
from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter

NS = ("agents", "sam-assistant")
WEATHER = ["sunny", "rainy", "windy", "cold", "warm", "foggy", "humid", "dry", "stormy", "mild"]
FOOD = ["pasta", "soup", "curry", "tacos", "rice", "stew", "salad", "pizza", "fish", "noodles"]


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[MemGPTMemoryAdapter]:
    adapter = MemGPTMemoryAdapter(tmp_path / "memgpt.db", embedder="hashing")
    yield adapter
    adapter.close()


def small_talk(n: int) -> list[str]:
    return [
        f"Small talk {i}: the weather was {WEATHER[i % 10]} and I cooked {FOOD[(i * 3) % 10]} for dinner."
        for i in range(n)
    ]




def test_heartbeat_chains_calls_and_no_heartbeat_ends_the_turn(memory: MemGPTMemoryAdapter) -> None:
    memory.archival_memory_insert(NS, "the wifi password is tulip-42")
    model = ScriptedChatModel([
        calling("archival_memory_search", query="wifi password", request_heartbeat=True),
        "The wifi password is tulip-42.",
        calling("archival_memory_search", query="wifi", request_heartbeat=False),
    ])
    agent = MemGPTAgent(model, memory, namespace=NS, context_window=4000)
    assert agent.step("what's the wifi password?") == "The wifi password is tulip-42."
    second_prompt = model.prompts[1]
    assert isinstance(second_prompt[-1], ToolMessage) and "tulip-42" in second_prompt[-1].text
    assert agent.step("and again?") == ""  # the call ran, the turn ended without a heartbeat
    assert len(model.prompts) == 3
    assert isinstance(agent.context.queue[-1], ToolMessage)


def test_failed_call_gets_a_heartbeat_so_the_agent_can_correct_itself(memory: MemGPTMemoryAdapter) -> None:
    model = ScriptedChatModel([
        calling("core_memory_append", label="nope", content="x"),
        "Sorry, that block does not exist.",
    ])
    agent = MemGPTAgent(model, memory, namespace=NS, context_window=4000)
    assert agent.step("remember x") == "Sorry, that block does not exist."
    assert "no core block 'nope'" in model.prompts[1][-1].text


def test_long_offline_conversation_overflows_and_the_evicted_fact_is_found(
    memory: MemGPTMemoryAdapter,
) -> None:
    """The must-show: pressure warning, eviction into recall with a summary, and
    conversation_search finding a fact that is no longer in context."""
    agent = MemGPTAgent(OfflineChatModel(), memory, namespace=NS, context_window=2600,
                        human="Name: Sam", summarizer="extractive")
    turns = ["My gym locker code is 4512.", *small_talk(40)]
    saw_alert_in_context = False
    for text in turns:
        agent.step(text)
        kinds = [e.kind for e in agent.events]
        if kinds and kinds[-1] == "memory_pressure" and kinds.count("memory_pressure") == 1:
            alert = [m for m in agent.context.queue if "system_alert" in m.text]
            saw_alert_in_context = bool(alert) and MEMORY_PRESSURE_WARNING in json.loads(alert[0].text)["message"]
    kinds = [e.kind for e in agent.events]
    assert "memory_pressure" in kinds and "evicted" in kinds
    assert kinds.index("memory_pressure") < kinds.index("evicted")  # warned before anything was lost
    assert saw_alert_in_context
    # the fact left the context window ...
    assert not any("4512" in m.text for m in agent.context.queue)
    assert agent.context.tokens() <= agent.context.context_window
    # ... but recall memory kept every message, and a summary stands in for the evicted ones
    assert memory.message_count(NS) >= len(turns)
    system = agent.context.system_message().text
    assert f"Summary of {agent.context.evicted_total} earlier messages" in system
    assert agent.context.summary and "Small talk" in agent.context.summary
    reply = agent.step("Search our conversation history: what is my gym locker code?")
    assert "My gym locker code is 4512" in reply


def test_agent_saves_to_archival_on_pressure_and_finds_it_later(memory: MemGPTMemoryAdapter) -> None:
    """A scripted model that behaves as MemGPT asks: on the pressure alert it archives
    the important fact; later it searches archival memory to answer."""

    def policy(messages: list[BaseMessage]) -> AIMessage | str:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            return "Your locker code is 4512." if "4512" in last.text else "Saved."
        alerted = any("system_alert" in m.text for m in messages[-3:] if isinstance(m, HumanMessage))
        if alerted and memory.archival_count(NS) == 0:
            return calling("archival_memory_insert", content="Sam's gym locker code is 4512",
                           request_heartbeat=True)
        if "locker" in last.text and last.text.endswith("?"):
            return calling("archival_memory_search", query="gym locker code", request_heartbeat=True)
        return "Noted."

    agent = MemGPTAgent(ScriptedChatModel(policy), memory, namespace=NS, context_window=2600,
                        summarizer="extractive")
    for text in ["My gym locker code is 4512.", *small_talk(70)]:
        agent.step(text)
    assert "evicted" in [e.kind for e in agent.events]
    assert memory.archival_memory_search(NS, "locker code")[0].record.content == "Sam's gym locker code is 4512"
    assert not any("4512" in m.text for m in agent.context.queue)
    assert agent.step("What is my locker code?") == "Your locker code is 4512."


def test_summary_is_recursive(memory: MemGPTMemoryAdapter) -> None:
    calls: list[tuple[str | None, int]] = []
    made: list[str] = []

    def summarize(previous: str | None, evicted: Sequence[BaseMessage]) -> str:
        calls.append((previous, len(evicted)))
        made.append(f"summary #{len(calls)}")
        return made[-1]

    agent = MemGPTAgent(OfflineChatModel(), memory, namespace=NS, context_window=2600, summarizer=summarize)
    for text in small_talk(80):
        agent.step(text)
    assert len(calls) >= 2 and all(n > 0 for _, n in calls)
    # each summary is made from the one before it plus the newly evicted messages
    assert [previous for previous, _ in calls] == [None, *made[:-1]]
    assert agent.context.summary == made[-1]
    assert made[-1] in agent.context.system_message().text


def test_model_summarizer_asks_the_model(memory: MemGPTMemoryAdapter) -> None:
    def policy(messages: list[BaseMessage]) -> str:
        if "summarize a history" in messages[0].text:
            return "SUMMARY: Sam chatted about weather and dinners."
        return "Noted."

    agent = MemGPTAgent(ScriptedChatModel(policy), memory, namespace=NS, context_window=2600)
    for text in small_talk(70):
        agent.step(text)
    assert agent.context.summary == "SUMMARY: Sam chatted about weather and dinners."


def test_memory_survives_a_new_agent_on_the_same_store(tmp_path: Path) -> None:
    first = MemGPTMemoryAdapter(tmp_path / "m.db", embedder="hashing")
    edit = calling("core_memory_append", label="human", content="Pet: a cat named Miso")
    MemGPTAgent(ScriptedChatModel([edit]), first,
                namespace=NS, human="Name: Sam").step("I have a cat named Miso")
    first.close()
    again = MemGPTMemoryAdapter(tmp_path / "m.db")
    try:
        agent = MemGPTAgent(OfflineChatModel(), again, namespace=NS, human="(ignored: block exists)")
        assert again.core_blocks(NS)["human"].value == "Name: Sam\nPet: a cat named Miso"
        assert "Pet: a cat named Miso" in agent.context.system_message().text
        assert again.conversation_search(NS, "cat Miso")[0].record.content == "I have a cat named Miso"
    finally:
        again.close()


def test_a_function_call_written_as_text_is_run(memory: MemGPTMemoryAdapter) -> None:
    """Small open models write the call in the message text instead of tool_calls (scripted here)."""
    text_call = '```json\n{"name": "core_memory_append", "arguments": {"label": "human", "content": "Job: pilot"}}\n```'
    agent = MemGPTAgent(ScriptedChatModel([text_call]), memory, namespace=NS, human="Name: Sam")
    assert agent.step("I am a pilot") == ""
    assert memory.core_blocks(NS)["human"].value == "Name: Sam\nJob: pilot"


def test_a_malformed_text_call_is_left_as_the_reply_and_nothing_is_written(memory: MemGPTMemoryAdapter) -> None:
    broken = '{"name": "core_memory_append", "arguments": {"label": "human", "content": "Job: pil'
    agent = MemGPTAgent(ScriptedChatModel([broken]), memory, namespace=NS, human="Name: Sam")
    assert agent.step("I am a pilot") == broken
    assert memory.core_blocks(NS)["human"].value == "Name: Sam"


def test_always_call_speaks_through_send_message_and_limits_labels(memory: MemGPTMemoryAdapter) -> None:
    """MemGPT's original protocol: every reply is a call; send_message ends the turn (scripted model)."""
    edit = calling("core_memory_append", label="human", content="Job: pilot", request_heartbeat=True)
    say = calling("send_message", message="Noted, pilot.")
    model = ScriptedChatModel([edit, say])
    agent = MemGPTAgent(model, memory, namespace=NS, human="Name: Sam", always_call=True)
    assert agent.step("I am a pilot") == "Noted, pilot."
    assert memory.core_blocks(NS)["human"].value == "Name: Sam\nJob: pilot"
    assert "answer the user with send_message" in model.prompts[0][0].text
    schema = next(t for t in agent.tools if t.name == "core_memory_append").args_schema.model_json_schema()
    assert schema["properties"]["label"]["enum"] == ["human", "persona"]
    assert model.bound_tools[0][-1] == "send_message"


def test_a_reply_of_nul_characters_ends_the_step(memory: MemGPTMemoryAdapter) -> None:
    """A model answering garbage (NUL characters, which no store keeps) does not break the
    step: the reply is logged without them."""
    agent = MemGPTAgent(ScriptedChatModel(["ok\x00\x00", "done"]), memory, namespace=("agents", "n"),
                        summarizer="extractive")
    assert agent.step("I am a pilot") == "ok"

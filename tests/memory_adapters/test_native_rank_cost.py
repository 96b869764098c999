"""What ranking a native search's candidates costs once the lists are fused: a dated
question whose signals read only the candidates' time reads no record text for them,
and a typed question naming no speaker does not read the speaker of the candidates'
items (a second lookup per item row), with the same ranking as when both are read
(real SQLite, real FTS5, real vector cache)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mnemos.memory_adapters import _native_facts, _native_search
from mnemos.memory_adapters.conformance import ManualClock
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

NS = ("users", "ann")
PEOPLE = ["Ana Kalo", "Ben Mire", "Carla Suti", "Omar Vope", "Rosa Dorfen"]
VERBS = ["bought", "sold", "repaired", "booked"]
THINGS = ["laptop", "guitar", "kettle", "tent"]
MONTHS = ["May", "June", "March"]


def ranked(hits: list[Any]) -> list[tuple[str, float, tuple[Any, ...]]]:
    """Ids, scores and reasons, less recency (it moves with the clock between searches)."""
    return [
        (h.record.id, round(h.score - sum(r.contribution for r in h.reasons if r.signal == "recency"), 12),
         tuple(r for r in h.reasons if r.signal != "recency"))
        for h in hits
    ]


@pytest.fixture
def store(tmp_path: Path) -> NativeMemoryAdapter:
    rng = random.Random(3)
    clock = ManualClock()
    adapter = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64", clock=clock)
    for month in (3, 5, 6):  # batches: the memories of each share their time
        clock.set(datetime(2030, month, 10, tzinfo=UTC))
        adapter.add_many([
            {"content": f"In {rng.choice(MONTHS)}, {rng.choice(PEOPLE)} {rng.choice(VERBS)} a "
                        f"{rng.choice(THINGS)} near {rng.choice(PEOPLE).split()[1]}ville.",
             "namespace": NS}
            for _ in range(150)
        ])
    clock.set(datetime(2030, 8, 1, tzinfo=UTC))
    yield adapter
    adapter.close()


QUESTIONS = ["who bought a laptop in May", "who repaired a tent in June", "who sold a kettle in March"]


def test_a_dated_who_question_reads_neither_record_text_nor_speakers_with_the_same_ranking(
    store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.search("warm", namespace=NS)
    statements: list[str] = []
    store._store.conn.set_trace_callback(statements.append)
    # without the question cut, which reads the text of the candidates beside a match, and
    # the episode focus, which reads every candidate's (both apply to a who question)
    no_cut = RankingConfig(neighbour_question_cut=0.0, episode_focus=0.0)
    fast = {q: ranked(store.search(q, namespace=NS, limit=10, ranking=no_cut)) for q in QUESTIONS}
    store._store.conn.set_trace_callback(None)
    assert all(fast.values())
    assert any(r.signal == "time" for hits in fast.values() for _, _, reasons in hits for r in reasons)
    assert any(r.signal == "entity" for hits in fast.values() for _, _, reasons in hits for r in reasons)
    entity_rounds = [s for s in statements if "FROM entity_items e JOIN entity_df d" in s]
    assert len(entity_rounds) == len(QUESTIONS)
    assert not any("e.speaker" in s for s in entity_rounds)
    # the candidates' facts (what the rerank reads) are not read from the records
    assert not any(s.startswith("SELECT rowid, content, episode, created_at FROM memories") for s in statements)
    # the same ranking when every candidate's text is read
    monkeypatch.setattr(_native_search, "text_rows", lambda cands, rows, config, analysis: rows)
    assert {q: ranked(store.search(q, namespace=NS, limit=10, ranking=no_cut)) for q in QUESTIONS} == fast
    dated = RankingConfig(date_weight=0.9, neighbour_question_cut=0.0, episode_focus=0.0)
    assert ranked(store.search(QUESTIONS[0], namespace=NS, ranking=dated)) != fast[QUESTIONS[0]]


def test_speakers_are_read_parsing_only_the_json_that_can_name_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64")
    try:
        adapter.add_many([
            {"content": f"{PEOPLE[i % 5].split()[0]} talked about the {THINGS[i % 4]} {i}", "namespace": NS,
             **({"metadata": {"speaker": PEOPLE[i % 5].split()[0]}} if i % 10 == 0 else {})}
            for i in range(120)
        ])
        question = "what did Ana say about the laptop"
        parsed: list[str] = []
        real = _native_facts.json.loads

        class Counting:
            @staticmethod
            def loads(text: str) -> Any:
                parsed.append(text)
                return real(text)

        monkeypatch.setattr(_native_facts, "json", Counting)
        # the episode focus's reason holds its episode's score, recency included (the clock moves)
        ranking = RankingConfig(episode_focus=0.0)
        hits = ranked(adapter.search(question, namespace=NS, limit=10, ranking=ranking))
        assert any(r.signal == "speaker" for _, _, reasons in hits for r in reasons)
        # only the metadata naming a speaker is parsed: the others hold none, every provenance a null agent
        assert parsed and all(text.startswith('{"speaker"') for text in parsed)
        monkeypatch.setattr(_native_facts, "_json_key", lambda text, key: real(text).get(key))
        assert ranked(adapter.search(question, namespace=NS, limit=10, ranking=ranking)) == hits
    finally:
        adapter.close()

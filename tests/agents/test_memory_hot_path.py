"""The memory work of one agent turn does no more than it must, on a real native store:
the bookkeeping of cited memories commits once, the novelty of a written turn is found
without a vector scan and reads only the texts of its matches, and a small scan runs on the
searching thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnemos.agents import _memops
from mnemos.memory_adapters import MemoryKind, Provenance
from mnemos.memory_adapters._vectors import VectorCache
from mnemos.memory_adapters.consolidation import reinforce
from mnemos.memory_adapters.native import NativeMemoryAdapter

NS = ("users", "ann")


@pytest.fixture
def store(tmp_path: Path) -> NativeMemoryAdapter:
    adapter = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64")
    adapter.add_many([{"content": f"ann keeps note {i} about the garden shed", "namespace": NS,
                       "kind": "episodic"} for i in range(30)])
    yield adapter
    adapter.close()


def commits(store: NativeMemoryAdapter) -> list[str]:
    seen: list[str] = []
    store._store.conn.set_trace_callback(lambda sql: seen.append(sql) if sql.strip().upper() == "COMMIT" else None)
    return seen


def test_reinforcing_the_cited_memories_commits_once(store: NativeMemoryAdapter) -> None:
    ids = [h.record.id for h in store.search("garden shed", namespace=NS, limit=5)]
    seen = commits(store)
    assert reinforce(store, ids) == 5
    assert len(seen) == 1
    assert all(store.get(i).metadata["used_count"] == 1 for i in ids)


def test_the_novelty_of_a_turn_needs_no_vector_scan(store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch) -> None:
    scans: list[int] = []
    original = VectorCache.top_each
    monkeypatch.setattr(VectorCache, "top_each", lambda self, *a, **k: scans.append(1) or original(self, *a, **k))
    record = _memops.write_episode(store, NS, content="ann keeps note 3 about the garden shed",
                                   provenance=Provenance(source="turn"), metadata={}, importance=0.5)
    assert scans == []
    assert record.metadata["novel"] is False and record.metadata["novelty"] == 0.0
    fresh = _memops.write_episode(store, NS, content="the telescope lens needs cleaning before friday",
                                  provenance=Provenance(source="turn"), metadata={}, importance=0.5)
    assert fresh.metadata["novel"] is True
    assert store.search_by_kind("garden shed", {MemoryKind.EPISODIC: 3}, namespace=NS)[MemoryKind.EPISODIC]
    assert scans == [1]  # recall still scans, once for every kind


def test_the_novelty_of_a_turn_does_not_analyse_its_text_as_a_question(
    store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mnemos.memory_adapters import _native_search

    analysed: list[str] = []
    original = _native_search.analyze
    monkeypatch.setattr(_native_search, "analyze", lambda text: analysed.append(text) or original(text))
    monkeypatch.setattr(_native_search, "entity_gains", lambda *a: pytest.fail("entity round in a novelty check"))
    record = _memops.write_episode(store, NS, content="what did ann note on 7 May 2023 about the garden shed?",
                                   provenance=Provenance(source="turn"), metadata={}, importance=0.5)
    assert analysed == []
    assert 0.0 < record.metadata["novelty"] < 1.0


def test_the_novelty_of_a_turn_reads_only_the_texts_of_its_matches(
    store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mnemos.memory_adapters import _native_search, _sql_dialect

    monkeypatch.setattr(_native_search, "ranked_search_each", lambda *a: pytest.fail("a full search"))
    monkeypatch.setattr(_sql_dialect, "decode_record", lambda *a: pytest.fail("a record decoded"))
    same = _memops.novelty_flags(store, NS, "ann keeps note 3 about the garden shed", MemoryKind.EPISODIC)
    new = _memops.novelty_flags(store, NS, "the telescope lens needs cleaning", MemoryKind.EPISODIC)
    assert same == {"novelty": 0.0, "novel": False} and new == {"novelty": 1.0, "novel": True}


def test_the_novelty_of_a_list_question_takes_no_hops_through_items(
    store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A turn asking for a list ("what activities...") is matched by its words like any other:
    the hop round through the best hits' items is a signal for questions, not for novelty."""
    from mnemos.memory_adapters import _hops, _native_search

    monkeypatch.setattr(_hops, "analyze", lambda text: pytest.fail("the text analysed as a question"))
    monkeypatch.setattr(_native_search, "ranked_search_each", lambda *a: pytest.fail("a full search"))
    flags = _memops.novelty_flags(store, NS, "what activities has ann ever done in the garden shed?",
                                  MemoryKind.EPISODIC)
    assert 0.0 < flags["novelty"] < 1.0


def test_a_small_vector_scan_runs_on_the_searching_thread(store: NativeMemoryAdapter,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    threads: list[str] = []
    original = VectorCache.top_each

    def spy(self: VectorCache, *args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread().name)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(VectorCache, "top_each", spy)
    store.search("garden shed", namespace=NS)
    assert threads == [threading.current_thread().name]


def test_a_turn_writes_in_one_transaction_and_searches_outside_it(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A turn that cites memories reinforces them and stores its episode with one commit (real
    agent, offline model, native store); its searches never run inside a write transaction,
    so the vector cache only ever holds committed rows."""
    from langchain_core.messages import HumanMessage

    from mnemos.agents import Agent, OfflineChatModel
    from mnemos.memory_adapters import _native_search

    memory = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64")
    try:
        agent = Agent(name="gardener", model=OfflineChatModel(), memory=memory)
        ns = agent.namespace("ann")
        memory.add_many([{"content": f"The garden shed key is under pot {i}", "namespace": ns,
                          "kind": "semantic"} for i in range(3)])
        config = {"configurable": {"thread_id": "t1", "user_id": "ann"}}
        agent.invoke({"messages": [HumanMessage("Where is the garden shed key?")]}, config)  # warm up
        inside: list[bool] = []
        original = _native_search.ranked_search_each
        monkeypatch.setattr(_native_search, "ranked_search_each", lambda store, *a, **k: (
            inside.append(store.conn.in_transaction), original(store, *a, **k))[1])
        monkeypatch.setattr("mnemos.memory_adapters.native.ranked_search_each", _native_search.ranked_search_each)
        embedding_in_a_write: list[bool] = []
        embedder_cls = type(memory.embedder)
        plain_embed = embedder_cls.embed
        monkeypatch.setattr(embedder_cls, "embed", lambda self, texts: (
            embedding_in_a_write.append(memory._store.conn.in_transaction), plain_embed(self, texts))[1])
        writes = []
        memory._store.conn.set_trace_callback(
            lambda sql: writes.append(sql) if sql.strip().upper() == "BEGIN IMMEDIATE" else None)
        out = agent.invoke({"messages": [HumanMessage("Where is the garden shed key again?")]}, config)
        memory._store.conn.set_trace_callback(None)
        used = out["messages"][-1].response_metadata["sources"]
        assert used
        assert len(writes) == 1
        assert inside and not any(inside)
        assert embedding_in_a_write and not any(embedding_in_a_write)  # no write lock held meanwhile
        assert all(memory.get(s["id"]).metadata["used_count"] >= 1 for s in used)
        episodes = memory.list(namespace=ns, kinds=MemoryKind.EPISODIC)
        assert len(episodes) == 2 and "novelty" in episodes[0].metadata
    finally:
        memory.close()


def test_a_search_of_facts_reads_no_episode_neighbours(store: NativeMemoryAdapter) -> None:
    store.add_many([{"content": f"ann's shed {i} is in the garden", "namespace": NS, "kind": "semantic"}
                    for i in range(5)])
    seen: list[str] = []
    store._store.conn.set_trace_callback(seen.append)
    found = store.search_by_kind("garden shed", {MemoryKind.SEMANTIC: 3, MemoryKind.EPISODIC: 3}, namespace=NS)
    store._store.conn.set_trace_callback(None)
    assert len(found[MemoryKind.SEMANTIC]) == 3 and len(found[MemoryKind.EPISODIC]) == 3
    # facts have no episode: only the episodic list looks for the events next to its hits
    assert sum("AS side" in sql for sql in seen) == 1
    # the rows of the hits they seed from: episodic memories only, each read once (by the
    # neighbour round, then the reply round's seeds not read yet)
    reads = [sql for sql in seen if "id, ns, episode, created_at, content FROM memories WHERE rowid IN" in sql]
    rowids = [int(r) for sql in reads for r in sql.split("IN (", 1)[1].split(")", 1)[0].split(",")]
    events = {r for (r,) in store._store.conn.execute("SELECT rowid FROM memories WHERE kind = 'episodic'")}
    assert rowids and len(rowids) == len(set(rowids)) and set(rowids) <= events


def test_a_recall_analyses_a_typed_question_once_for_every_kind(
    store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mnemos.memory_adapters import _episodic_graph, _hops

    text = "What hobbies does ann keep beside the garden shed, note 4411?"  # asked of no earlier test
    calls: list[str] = []
    original = _episodic_graph.analyze
    monkeypatch.setattr(_episodic_graph, "analyze", lambda t: calls.append(t) or original(t))
    monkeypatch.setattr(_hops, "analyze", lambda t: calls.append(t) or original(t))
    found = store.search_by_kind(text, {MemoryKind.SEMANTIC: 3, MemoryKind.EPISODIC: 3}, namespace=NS)
    assert found[MemoryKind.EPISODIC]
    # the entity round's plan is kept per text; the hop round's check takes the search's own analysis
    assert calls == [text]

"""The native store's vector cache takes a committed write of its own connection from the
writer (the new rows' columns and the reinforced rows' importance) instead of reading it
back on the next search, and ends up exactly where reading it back would have left it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mnemos.memory_adapters.consolidation import reinforce
from mnemos.memory_adapters.native import NativeMemoryAdapter

NS = ("users", "ann")
COLUMNS = ("rowids", "kinds", "created", "expires", "superseded", "importance", "lengths", "alive")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[NativeMemoryAdapter]:
    adapter = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64")
    adapter.add_many([{"content": f"ann keeps note {i} about the garden shed", "namespace": NS} for i in range(20)])
    yield adapter
    adapter.close()


def cache_state(memory: NativeMemoryAdapter) -> dict[str, Any]:
    """The cache's rows by rowid (slots may differ between two caches holding the same rows)."""
    with memory._store.lock:
        memory._store.refresh()
    cache = memory._store.cache
    order = np.argsort(cache.rowids[: cache.n][cache.alive[: cache.n]])
    live = np.flatnonzero(cache.alive[: cache.n])[order]
    state: dict[str, Any] = {name: getattr(cache, name)[live].tolist() for name in COLUMNS}
    state["ns"] = [cache.ns_names[i] for i in cache.ns_ids[live]]
    state["matrix"] = cache.matrix[live].tobytes()
    state["marks"] = (cache.last_seq, cache.max_rowid)
    return state


def a_turn(memory: NativeMemoryAdapter, i: int) -> None:
    used = [h.record.id for h in memory.search(f"garden shed note {i}", namespace=NS, limit=3)]
    with memory._batch():
        memory.add(f"  ann:  asked about   the shed {i}\n assistant: it is green ", namespace=NS,
                   metadata={"n": i}, importance=0.4, ttl_seconds=3600 if i % 2 else None)
        reinforce(memory, used)


def test_after_its_own_writes_a_search_reads_nothing_back_for_the_cache(store: NativeMemoryAdapter) -> None:
    store.search("garden shed", namespace=NS)
    statements: list[str] = []
    store._store.conn.set_trace_callback(statements.append)
    try:
        a_turn(store, 1)
        statements.clear()
        store.search("garden shed", namespace=NS)
    finally:
        store._store.conn.set_trace_callback(None)
    assert not [s for s in statements if "JOIN vectors" in s or "FROM changes" in s], statements


def test_the_cache_after_own_writes_is_the_cache_read_back(store: NativeMemoryAdapter, tmp_path: Path) -> None:
    for i in range(6):
        a_turn(store, i)
    store.add("a fact about the shed", namespace=NS, kind="semantic")
    mine = cache_state(store)
    fresh = NativeMemoryAdapter(tmp_path / "memory.db")
    try:
        assert cache_state(fresh) == mine
        assert [h.record.id for h in fresh.search("shed green", namespace=NS)] == [
            h.record.id for h in store.search("shed green", namespace=NS)
        ]
    finally:
        fresh.close()


def test_another_connections_commit_in_between_is_still_read(store: NativeMemoryAdapter, tmp_path: Path) -> None:
    store.search("garden shed", namespace=NS)
    other = NativeMemoryAdapter(tmp_path / "memory.db")
    try:
        theirs = other.add("bob's note about the shed roof", namespace=NS)
        a_turn(store, 1)  # its check sees the other commit: the next search reads both back
        assert theirs.id in {h.record.id for h in store.search("shed roof", namespace=NS, limit=50)}
        assert cache_state(store) == cache_state(other)
    finally:
        other.close()


def test_a_rolled_back_write_is_not_taken(store: NativeMemoryAdapter) -> None:
    store.search("garden shed", namespace=NS)
    before = cache_state(store)
    with pytest.raises(RuntimeError), store._batch():
        store.add("never stored", namespace=NS)
        raise RuntimeError("fail the batch")
    assert cache_state(store) == before


@pytest.mark.parametrize("text", ["one", "  two  words ", "a\tb c", "x  y", " ", "é ü ö", "line\nbreak here"])
def test_words_are_counted_as_the_cache_query_counts_them(store: NativeMemoryAdapter, text: str) -> None:
    sql = store._store.conn.execute(
        "SELECT length(trim(?1)) - length(replace(trim(?1), ' ', '')) + 1", (text,)
    ).fetchone()[0]
    from mnemos.memory_adapters._native_write import word_count

    assert word_count(text) == sql


class _CountingT(np.ndarray):
    """A projection matrix that counts the products taken with it (each reads its ``.T``)."""

    uses = 0

    @property
    def T(self) -> Any:  # numpy's name for the transpose
        _CountingT.uses += 1
        return np.asarray(self).T


def test_a_written_row_is_sketched_when_a_sketch_is_first_read(store: NativeMemoryAdapter) -> None:
    """A turn's write appends its row to the cache without the product with the whole
    projection matrix that its sign sketch costs; the sketch is computed, as the same
    product, when a search (or a save) first reads the sketches."""
    from mnemos.memory_adapters._sketches import pack
    from mnemos.memory_adapters._vectors import CODE_ARRAYS

    store.search("garden shed", namespace=NS)
    cache = store._store.cache
    getattr(cache, CODE_ARRAYS[0])  # the sketches of the rows there before
    cache.projection = cache.projection.view(_CountingT)
    _CountingT.uses = 0
    a_turn(store, 1)
    store.search("garden shed", namespace=NS)
    assert _CountingT.uses == 0
    last = cache.n - 1
    words = [int(getattr(cache, name)[last]) for name in CODE_ARRAYS]
    assert _CountingT.uses == 1
    expected = pack(cache.matrix[last : last + 1] @ np.asarray(cache.projection).T > 0)[0]
    assert words == [int(w) for w in expected] and any(words)


def test_sketches_left_pending_follow_their_rows_when_the_cache_is_compacted() -> None:
    """Rows move when the cache drops its dead slots: a sketch still to compute is
    computed from its row, not from whatever row moved into its slot."""
    from mnemos.memory_adapters._sketches import pack
    from mnemos.memory_adapters._vectors import CODE_ARRAYS, VectorCache

    cache = VectorCache((), 16)
    rng = np.random.default_rng(3)
    rows = [(i + 1, "a/", "episodic", 0, None, False, rng.standard_normal(16).astype(np.float32).tobytes(), 0.5, 3)
            for i in range(40)]
    cache._append(rows[:30])
    for row in rows[30:]:
        cache._append([row])
    cache._kill(range(1, 40, 2))
    cache._compact()
    words = np.stack([getattr(cache, name)[: cache.n] for name in CODE_ARRAYS], axis=1)
    expected = np.concatenate([pack(cache.matrix[i : i + 1] @ cache.projection.T > 0) for i in range(cache.n)])
    assert cache.n == 20 and (words == expected).all()


def test_sketches_wait_for_a_bounded_number_of_appends() -> None:
    """A cache whose sketches are never read (a scoped one is never saved) keeps no list
    growing with every write: past a bound the pending sketches are computed."""
    from mnemos.memory_adapters._vector_rows import MAX_PENDING
    from mnemos.memory_adapters._vectors import VectorCache

    cache = VectorCache(("a",), 8)
    vector = np.ones(8, dtype=np.float32).tobytes()
    for i in range(MAX_PENDING * 2 + 5):
        cache._append([(i + 1, "a/", "episodic", 0, None, False, vector, 0.5, 1)])
    assert len(cache.unsketched) <= MAX_PENDING

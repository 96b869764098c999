"""The native store's vector cache follows small updates without moving rows, and keeps the
masks of a namespace and a kind from one search to the next (real store, hashing embedder)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from mnemos.memory_adapters import _vectors
from mnemos.memory_adapters.base import SearchQuery
from mnemos.memory_adapters.consolidation import reinforce
from mnemos.memory_adapters.native import NativeMemoryAdapter

NS = ("users", "ann")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[NativeMemoryAdapter]:
    adapter = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64")
    adapter.add_many([{"content": f"ann keeps note {i} about the garden shed", "namespace": NS,
                       "kind": "episodic"} for i in range(20)])
    adapter.add_many([{"content": f"bob keeps note {i} about the garden shed", "namespace": ("users", "bob"),
                       "kind": "episodic"} for i in range(20)])
    yield adapter
    adapter.close()


def slot(store: NativeMemoryAdapter, memory_id: str) -> int:
    rowid = store._store.conn.execute("SELECT rowid FROM memories WHERE id = ?", (memory_id,)).fetchone()[0]
    found = store._store.cache.slot_of.get(rowid)
    assert found is not None
    return found


def test_a_reinforced_memory_keeps_its_slot_and_the_cache_does_not_grow(store: NativeMemoryAdapter) -> None:
    hits = store.search("garden shed note", namespace=NS, limit=3)
    cache = store._store.cache
    before = {h.record.id: slot(store, h.record.id) for h in hits}
    rows = cache.n
    assert reinforce(store, list(before)) == 3
    again = store.search("garden shed note", namespace=NS, limit=20)
    assert cache.n == rows and cache.dead == 0  # updated where they were, not appended anew
    assert {i: slot(store, i) for i in before} == before
    for memory_id, where in before.items():
        assert cache.importance[where] == pytest.approx(store.get(memory_id).importance)
    assert {h.record.id for h in again} >= set(before)


def test_a_changed_text_or_namespace_still_moves_the_row(store: NativeMemoryAdapter) -> None:
    first = store.search("garden shed", namespace=NS, limit=1)[0].record
    store.update(first.id, content="ann paints the telescope dome")
    assert store.search("telescope dome", namespace=NS, limit=1)[0].record.id == first.id
    cache = store._store.cache
    assert cache.dead == 1  # a new vector: the old row died and the new one was appended
    where = slot(store, first.id)
    probe = store.embedder.embed_query("ann paints the telescope dome")
    assert float(np.dot(cache.matrix[where], probe)) == pytest.approx(1.0, abs=1e-5)


def test_expiry_set_by_an_update_is_seen_by_the_next_search(store: NativeMemoryAdapter) -> None:
    hit = store.search("note 3 garden", namespace=NS, limit=1)[0].record
    store.update(hit.id, expires_at=store.now() - timedelta(seconds=1))
    assert hit.id not in {h.record.id for h in store.search("note 3 garden", namespace=NS, limit=20)}


def test_the_namespace_mask_is_computed_for_new_rows_only(store: NativeMemoryAdapter,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store.search("garden shed", namespace=NS, limit=5)
    sizes: list[int] = []
    original = _vectors._any_of
    monkeypatch.setattr(_vectors, "_any_of", lambda column, values: (sizes.append(len(column)),
                                                                      original(column, values))[1])
    store.search("garden shed", namespace=NS, limit=5)
    assert sizes == []  # nothing new: the masks of the last search serve
    store.add("ann keeps a new note about the garden gate", namespace=NS, kind="episodic")
    found = store.search("garden gate", namespace=NS, limit=5)
    assert sizes and max(sizes) == 1  # the appended row alone
    assert found[0].record.content == "ann keeps a new note about the garden gate"
    store.add("carl keeps a note about the garden gate", namespace=("users", "carl"), kind="episodic")
    assert all(h.record.namespace == NS for h in store.search("garden gate", namespace=NS, limit=50))


def test_an_exact_scan_of_a_namespace_in_a_large_store_is_not_a_small_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A namespace whose rows lie together is scanned exactly even when the store is large
    enough for the coarse pass; such a scan (more than ``SMALL_SCAN`` floats) is not run
    inline as a small job."""
    with NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:128") as adapter:
        for who in ("ann", "bob", "cy", "dee"):
            adapter.add_many([{"content": f"{who} note {i} about the garden shed", "namespace": ("users", who)}
                              for i in range(100)])
        adapter.search("warm", namespace=NS)
        cache = adapter._store.cache
        monkeypatch.setattr(_vectors, "EXACT_LIMIT", 200 * 128)  # the store (400 rows) is "large"
        monkeypatch.setattr(_vectors, "SMALL_SCAN", 100 * 100)
        mask = cache.mask(SearchQuery(text="x", namespace_prefix=NS))
        assert int(mask.sum()) == 100
        read: list[int] = []
        dot = _vectors._dot
        monkeypatch.setattr(_vectors, "_dot", lambda m, v: read.append(m.size) or dot(m, v))
        cache.top_each(np.ones(128, dtype=np.float32), [mask], 5)
        assert sum(read) == 100 * 128 > _vectors.SMALL_SCAN  # exact, in place
        assert not cache.scan_is_small([mask])
        assert cache.scan_is_small([mask & (np.arange(len(mask)) % 4 == 0)])  # 25 rows: small

"""The vector scan in steps: the same lists as ``top_each``, and only its scoring step runs on
the worker thread, where nothing holds the GIL for long while the keyword search runs on
SQLite (real SQLite, real FTS5, real vector cache)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mnemos.memory_adapters import _native_search, _vectors
from mnemos.memory_adapters.base import MemoryKind, SearchQuery
from mnemos.memory_adapters.native import NativeMemoryAdapter

NS = ("users", "ann")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[NativeMemoryAdapter]:
    adapter = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64")
    adapter.add_many([{"content": f"note {i} about the {('otter', 'heron', 'kettle')[i % 3]}", "namespace": NS,
                       "kind": "semantic" if i % 3 == 0 else "episodic"} for i in range(300)])
    adapter.add_many([{"content": f"note {i} about the river", "namespace": ("users", "bob")} for i in range(60)])
    yield adapter
    adapter.close()


@pytest.mark.parametrize("coarse", [False, True])
def test_steps_give_top_each(store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch, coarse: bool) -> None:
    store.search("warm", namespace=NS)
    if coarse:  # the store counts as large: the sketches' pass first, then exact scores
        monkeypatch.setattr(_vectors, "EXACT_LIMIT", 10)
        monkeypatch.setattr(_vectors, "RERANK_FLOOR", 20)
    cache = store._store.cache
    every = cache.mask(SearchQuery(text="x", namespace_prefix=NS))
    masks = [every, cache.of_kinds(every, {MemoryKind.SEMANTIC}), np.zeros_like(every)]
    vector = np.asarray(store.embedder.embed_query("the otter"), dtype=np.float32)
    scan = cache.scan(vector, masks, 7)
    assert scan.coarse is coarse
    for (rows, sims), (want_rows, want_sims) in zip(scan.best(scan.score()), cache.top_each(vector, masks, 7), strict=True):
        assert rows.tolist() == want_rows.tolist()
        assert sims.tolist() == want_sims.tolist()


class _Recording:
    """An executor running what it is given at once, remembering it."""

    def __init__(self) -> None:
        self.calls: list[Callable[..., Any]] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        self.calls.append(fn)
        done: Future[Any] = Future()
        done.set_result(fn(*args))
        return done


def test_only_the_scoring_goes_to_the_worker(store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch) -> None:
    before = store.search_by_kind("the otter", {"semantic": 3, "episodic": 3}, namespace=NS)
    workers = _Recording()
    monkeypatch.setattr(_native_search, "_worker_pool", lambda: workers)
    monkeypatch.setattr(_vectors, "SMALL_SCAN", 0)  # not scanned inline
    after = store.search_by_kind("the otter", {"semantic": 3, "episodic": 3}, namespace=NS)
    assert [getattr(fn, "__name__", None) for fn in workers.calls] == ["score"]
    assert isinstance(getattr(workers.calls[0], "__self__", None), _vectors.Scan)
    assert {k: [h.record.id for h in v] for k, v in after.items()} == {k: [h.record.id for h in v] for k, v in before.items()}

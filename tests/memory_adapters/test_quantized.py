"""The int8 first pass of the vector scan: bounds that hold, and the exact scan's results."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from mnemos.memory_adapters import _quantized, _vectors
from mnemos.memory_adapters._quantized import Int8Query, Int8Rows, candidates
from mnemos.memory_adapters.native import NativeMemoryAdapter

NS = ("users", "ann")
WORDS = ["garden", "tomato", "budget", "trip", "kitchen", "paint", "river", "coffee", "piano", "bike",
         "otter", "lamp", "violin", "harbour", "maple", "saddle"]


def _rows(rng: np.random.Generator, n: int, dims: int) -> np.ndarray:
    rows = rng.standard_normal((n, dims)).astype(np.float32) * rng.uniform(0.01, 3.0, (n, 1)).astype(np.float32)
    rows[::7, : dims // 2] = 0.0  # sparse-ish rows, as the hashing embedder makes
    rows[5] = 0.0
    return rows


def test_the_bounds_hold_and_the_candidates_hold_the_exact_best() -> None:
    rng = np.random.default_rng(11)
    matrix = _rows(rng, 3000, 96)
    matrix[17, 3], matrix[40, 0] = np.nan, np.inf  # rows that are not finite are always scored
    rows = Int8Rows(96)
    rows.reserve(len(matrix))
    rows.ensure(matrix, 0, len(matrix))
    finite = np.isfinite(matrix).all(axis=1)
    for _ in range(40):
        query = (matrix[rng.integers(3000)] + rng.standard_normal(96).astype(np.float32)).astype(np.float32)
        query = np.nan_to_num(query, posinf=1.0)
        exact = matrix.astype(np.float64) @ query.astype(np.float64)
        lower, upper = rows.bounds(Int8Query(query), 0, len(matrix))
        assert np.all(lower[finite] <= exact[finite]) and np.all(exact[finite] <= upper[finite])
        assert lower[17] == -np.inf and upper[40] == np.inf
        for k in (1, 10, 100):
            found = candidates(lower, upper, k, 16)
            assert len(found) % 16 == 0 and 32 <= len(found) < 3000
            assert {17, 40} <= set(found.tolist())
            best = np.argsort(-np.where(finite, exact, -np.inf), kind="stable")[:k]
            assert set(best.tolist()) <= set(found.tolist())


def test_codes_are_made_once_for_rows_not_coded_yet() -> None:
    matrix = _rows(np.random.default_rng(2), 100, 32)
    rows = Int8Rows(32)
    rows.reserve(100)
    rows.ensure(matrix, 10, 20)
    assert rows.ready.tolist() == [10 <= i < 20 for i in range(len(rows.ready))]
    first = rows.codes[10:20].copy()
    kept = matrix[10:20].copy()
    matrix[10:20] = 0.0  # (a cache never changes a coded row in place: this shows it is not read again)
    rows.ensure(matrix, 12, 18)
    assert np.array_equal(rows.codes[10:20], first)
    matrix[10:20] = kept
    rows.ensure(matrix, 0, 30)
    assert rows.ready[:30].all() and not rows.ready[30:].any()
    expected = np.rint(matrix[:30] / (np.abs(matrix[:30]).max(axis=1) / 127)[:, None])
    assert np.array_equal(rows.codes[:30], np.nan_to_num(expected))


def test_a_query_that_is_not_finite_or_zero_is_scored_exactly() -> None:
    assert Int8Query.usable(np.ones(8, dtype=np.float32))
    assert not Int8Query.usable(np.array([1.0, np.nan], dtype=np.float32))
    assert not Int8Query.usable(np.zeros(8, dtype=np.float32))


@pytest.fixture
def adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NativeMemoryAdapter]:
    monkeypatch.setattr(_vectors, "QUICK_SCAN", 100_000)  # the namespace's scan (1,500 x 128) is large
    clock = datetime(2026, 5, 1, tzinfo=UTC)
    store = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing:128", clock=lambda: clock)
    rng = np.random.default_rng(5)
    store.add_many([{"content": " ".join(rng.choice(WORDS, 4)) + f" note {i}", "namespace": NS,
                     "kind": ("semantic", "episodic")[i % 2]} for i in range(1500)]
                   + [{"content": "garden tomato elsewhere", "namespace": ("users", "bob")}], dedup=False)
    yield store
    store.close()


def _pages(store: NativeMemoryAdapter) -> list[list[tuple[str, float]]]:
    out = []
    for query in ("garden tomato", "coffee and a piano by the river", "violin saddle maple", "zzz qqq"):
        out.append([(h.record.id, h.score) for h in store.search(query, namespace=NS, limit=20)])
        for hits in store.search_by_kind(query, {"semantic": 5, "episodic": 5}, namespace=NS).values():
            out.append([(h.record.id, h.score) for h in hits])
    return out


def test_a_large_scan_reads_the_int8_codes_and_finds_what_the_exact_scan_finds(
    adapter: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_quantized, "_kernel", None)  # no SimSIMD: the exact scan
    exact = _pages(adapter)
    monkeypatch.setattr(_quantized, "_kernel", _quantized._MISSING)
    adapter.search("warm", namespace=NS)  # a process's first scan reads the float32 rows
    read: list[int] = []
    dot = _vectors._dot
    monkeypatch.setattr(_vectors, "_dot", lambda m, v: read.append(len(m)) or dot(m, v))
    assert _pages(adapter) == exact
    assert read and max(read) < 1500 / 2  # float32 rows: only the candidates of the int8 pass
    assert adapter._store.cache.int8.ready[: adapter._store.cache.n].sum() >= 1500


def test_a_process_first_scan_reads_the_float32_rows(
    adapter: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[int] = []
    dot = _vectors._dot
    monkeypatch.setattr(_vectors, "_dot", lambda m, v: read.append(len(m)) or dot(m, v))
    adapter.search("garden tomato", namespace=NS)
    assert sum(read) >= 1500 and not adapter._store.cache.int8.ready.any()
    read.clear()
    adapter.search("garden tomato", namespace=NS)
    assert 0 < sum(read) < 1500 / 2


def test_rows_added_or_moved_after_a_scan_are_coded_again(
    adapter: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pages(adapter)
    new = adapter.add("harbour otter lamp kitchen harbour otter", namespace=NS)
    hits = adapter.search("harbour otter lamp kitchen", namespace=NS, limit=3)
    assert hits[0].record.id == new.id
    cache = adapter._store.cache
    for hit in adapter.search("garden", namespace=NS, limit=200):
        adapter.delete(hit.record.id)
    adapter.search("warm", namespace=NS)
    cache._compact()  # rows move to other slots: their codes go with the layout
    assert not cache.int8.ready.any()
    after = _pages(adapter)
    monkeypatch.setattr(_quantized, "_kernel", None)
    assert _pages(adapter) == after
    assert adapter.search("harbour otter lamp kitchen", namespace=NS, limit=1)[0].record.id == new.id


def test_the_worker_and_the_searching_thread_share_an_int8_scan(
    adapter: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_quantized, "_kernel", None)
    exact = _pages(adapter)
    monkeypatch.setattr(_quantized, "_kernel", _quantized._MISSING)
    monkeypatch.setattr(_vectors.VectorCache, "scan_is_small", lambda *a: False)  # on the worker thread, and ...
    monkeypatch.setattr(_vectors, "SCAN_PART", 128)  # ... in parts either thread may take
    scans: list[_vectors.Scan] = []
    real = _vectors.VectorCache.scan
    monkeypatch.setattr(_vectors.VectorCache, "scan", lambda *a: scans.append(real(*a)) or scans[-1])
    workers: list[int] = []
    real_work = _vectors.Scan.work
    monkeypatch.setattr(_vectors.Scan, "work", lambda s: workers.append(threading.get_ident()) or real_work(s))
    adapter.search("warm", namespace=NS)
    assert _pages(adapter) == exact
    assert len(scans) > 1 and all(s.quick is not None and len(s.parts) > 4 for s in scans[1:])
    assert len(set(workers)) == 2  # the worker and the searching thread both ran it


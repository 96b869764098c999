"""The vector scan in steps: the same lists as ``top_each``, and only its scoring step runs on
the worker thread, where nothing holds the GIL for long while the keyword search runs on
SQLite (real SQLite, real FTS5, real vector cache)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mnemos.memory_adapters import _dots, _native_search, _row_runs, _vectors
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
    assert [getattr(fn, "__name__", None) for fn in workers.calls] == ["work"]
    assert isinstance(getattr(workers.calls[0], "__self__", None), _vectors.Scan)
    assert {k: [h.record.id for h in v] for k, v in after.items()} == {k: [h.record.id for h in v] for k, v in before.items()}


def _scattered(every: np.ndarray, gap: int) -> np.ndarray:
    """``every`` kept at one slot in ``gap``: too many runs to read in place (rows copied out)."""
    out = np.zeros_like(every)
    out[np.flatnonzero(every)[::gap]] = True
    return out


@pytest.mark.parametrize("which", ["run", "kind", "scattered"])
def test_a_shared_scan_scores_each_row_as_a_whole_scan(
    store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    # parts of two BLAS blocks of 128 rows (64 dims): the scan of a namespace's rows in place
    # (one run), of one kind's rows (a run with gaps) and of rows copied out is cut in parts
    monkeypatch.setattr(_vectors, "SCAN_PART", 256)
    if which == "scattered":  # one slot in two, each its own run
        monkeypatch.setattr(_row_runs, "_RUN_GAP", 1)
        monkeypatch.setattr(_row_runs, "_MAX_RUNS", 4)
    store.add_many([{"content": f"more {i} on the {('otter', 'heron')[i % 2]}", "namespace": NS,
                     "kind": "episodic" if i % 4 else "semantic"} for i in range(900)])
    store.search("warm", namespace=NS)
    cache = store._store.cache
    every = cache.mask(SearchQuery(text="x", namespace_prefix=NS))
    mask = {"run": every, "kind": cache.of_kinds(every, {MemoryKind.EPISODIC}),
            "scattered": _scattered(every, 2)}[which]
    vector = np.asarray(store.embedder.embed_query("the otter"), dtype=np.float32)
    scan = cache.scan(vector, [mask], 7)
    assert (scan.pieces is None) is (which == "scattered")
    assert len(scan.parts) >= 2
    if scan.pieces is not None:  # runs read whole, or runs with rows between the slots
        assert all(hi - lo == end - start for start, end, lo, hi in scan.pieces) is (which == "run")
    covered = sorted((lo, hi) for _, _, lo, hi in scan.parts)
    assert [lo for lo, _ in covered] == [0, *(hi for _, hi in covered[:-1])] and covered[-1][1] == np.count_nonzero(mask)
    other = threading.Thread(target=scan.work)  # two threads take the parts, in any order
    other.start()
    scan.work()
    other.join()
    whole = _dots.scores(cache.matrix, vector, scan.slots, scan.pieces)
    assert scan.scores is not None
    assert scan.scores.tobytes() == whole.tobytes()
    assert [(r.tolist(), s.tolist()) for r, s in scan.best(scan.scores)] == [
        (r.tolist(), s.tolist()) for r, s in cache.top_each(vector, [mask], 7)]


class _Late:
    """An executor whose worker starts only when its result is asked for."""

    def __init__(self) -> None:
        self.runs: list[Callable[..., Any]] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        late = self

        class Pending(Future[Any]):
            def result(self, timeout: float | None = None) -> Any:
                late.runs.append(fn)
                return fn(*args)

        return Pending()


def test_the_searching_thread_scores_what_the_worker_has_not_taken(
    store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = store.search_by_kind("the otter", {"semantic": 3, "episodic": 3}, namespace=NS)
    monkeypatch.setattr(_vectors, "SMALL_SCAN", 0)  # not scanned inline
    late = _Late()
    monkeypatch.setattr(_native_search, "_worker_pool", lambda: late)
    started: list[int] = []  # whether the worker had started, at each reading of rows
    dot = _vectors._dot
    monkeypatch.setattr(_vectors, "_dot", lambda m, v: (started.append(len(late.runs)), dot(m, v))[1])
    after = store.search_by_kind("the otter", {"semantic": 3, "episodic": 3}, namespace=NS)
    assert len(late.runs) == 1  # the worker ran, after the keyword list, and found nothing left
    assert started and set(started) == {0}
    cosines = {k: [(h.record.id, [r.value for r in h.reasons if r.signal == "vector"]) for h in v]
               for k, v in before.items()}
    assert {k: [(h.record.id, [r.value for r in h.reasons if r.signal == "vector"]) for h in v]
            for k, v in after.items()} == cosines


def test_parts_start_at_the_start_of_their_run_and_join_where_they_go_on() -> None:
    slots = np.concatenate([np.arange(0, 1000), np.arange(2000, 2300, 2)]).astype(np.int64)
    runs = _row_runs.runs(slots)
    assert runs is not None
    pieces = _row_runs.pieces(slots, runs)
    parts = _row_runs.parts(slots, pieces, 256, 250)
    # the run of 1000 rows: 256-row parts from its start, a last one under 250 rows joined to
    # the one before; the run with gaps (299 rows, 150 slots): one part, being under 256 + 250
    assert [(start, end) for start, end, _, _ in parts] == [(0, 256), (256, 512), (512, 1000), (2000, 2299)]
    assert [(lo, hi) for _, _, lo, hi in parts] == [(0, 256), (256, 512), (512, 1000), (1000, 1150)]
    # side by side, in rows and in slots: joined; the next run is not
    assert _row_runs.spans(parts) == [(0, 1000, 0, 1000), (2000, 2299, 1000, 1150)]
    copied = _row_runs.parts(slots, None, 256, 250)  # rows copied out: parts of the slots
    assert [(lo, hi) for _, _, lo, hi in copied] == [(0, 256), (256, 512), (512, 768), (768, 1150)]
    assert _row_runs.spans(copied[1:]) == [(-1, -1, 256, 1150)]

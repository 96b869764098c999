"""Concurrency within one process: threads writing at once, and several handles on one store."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import pytest

from mnemos.exceptions import UsageError
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability
from mnemos.memory_adapters.conformance._base import ConformanceBase, Stores
from mnemos.memory_adapters.conformance._process import WriterResult, verify_acknowledged
from mnemos.memory_adapters.conformance._support import write_content

__all__ = ["ConcurrencyTests"]


def _run_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(i)`` in ``count`` threads released together; return their errors."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


class ConcurrencyTests(ConformanceBase):
    """Nothing acknowledged is lost to races between threads or handles."""

    def test_threads_writing_at_once_lose_nothing(self, adapter: BaseMemoryAdapter) -> None:
        n, per = self.thread_count, self.writes_per_thread
        acked: dict[str, list[tuple[int, str]]] = {f"thread{i}": [] for i in range(n)}
        writers_left = [n]
        lock = threading.Lock()
        done = threading.Event()
        searchable = self.can_search(adapter)

        def work(i: int) -> None:
            if i >= n:  # two readers run alongside the writers
                while True:
                    adapter.list(namespace=("threads",), limit=20)
                    if searchable:
                        adapter.search("write apple river", namespace=("threads",), limit=5)
                    if done.wait(0.01):
                        return
            label = f"thread{i}"
            try:
                for j in range(per):
                    record = adapter.add(write_content(label, j), namespace=("threads",))
                    acked[label].append((j, record.id))
            finally:
                with lock:
                    writers_left[0] -= 1
                    if not writers_left[0]:
                        done.set()

        errors = _run_threads(n + 2, work)
        assert not errors, f"threads failed: {errors[:3]!r}"
        results = [
            WriterResult(label=k, acknowledged=tuple(v), finished=True, returncode=0, stderr="")
            for k, v in acked.items()
        ]
        assert verify_acknowledged(adapter, results) == []
        ids = {memory_id for v in acked.values() for _, memory_id in v}
        assert len(ids) == n * per, "two writes got the same id"
        assert adapter.count(("threads",)) == n * per

    def test_threads_adding_identical_content_keep_one(self, adapter: BaseMemoryAdapter) -> None:
        self.needs(adapter, Capability.DEDUP)
        n = self.thread_count
        ids: list[str] = []

        def work(i: int) -> None:
            for j in range(10):
                ids.append(adapter.add(f"shared fact number {j}", namespace=("dedup",)).id)

        errors = _run_threads(n, work)
        assert not errors, f"writer threads failed: {errors[:3]!r}"
        assert len(set(ids)) == 10, f"{len(set(ids))} records for 10 distinct contents"
        assert adapter.count(("dedup",)) == 10

    def _needs_atomic_handles(self) -> None:
        if not self.atomic_across_handles:
            pytest.skip("the test class declares atomic_across_handles = False")

    def _concurrent_updates(self, handles: list[BaseMemoryAdapter]) -> None:
        first = handles[0]
        self.needs(first, Capability.UPDATE)
        n, steps = self.thread_count, 5
        record = first.add("a counter note, version zero", namespace=("rmw",))

        def work(i: int) -> None:
            for j in range(steps):
                handles[i % len(handles)].update(record.id, content=f"a counter note, thread {i} step {j}")

        errors = _run_threads(n, work)
        assert not errors, f"threads failed: {errors[:3]!r}"
        final = first.get(record.id)
        assert final.version == 1 + n * steps, (
            f"{n * steps} updates took the version from 1 to {final.version}: updates were lost"
        )
        if first.supports(Capability.HISTORY):
            history = first.history(record.id)
            assert [r.version for r in history] == list(range(1, 2 + n * steps))
            contents = {r.content for r in history}
            missing = [
                (i, j) for i in range(n) for j in range(steps)
                if f"a counter note, thread {i} step {j}" not in contents
            ]
            assert not missing, f"history lost {len(missing)} updates, e.g. {missing[:3]}"

    def _concurrent_supersedes(self, handles: list[BaseMemoryAdapter], rounds: int = 5) -> None:
        first = handles[0]
        self.needs(first, Capability.SUPERSEDE)
        for round_ in range(rounds):
            namespace = ("rmw", str(round_))
            fact = first.add(f"the launch is in March ({round_})", namespace=namespace, kind="semantic")
            winners: list[str] = []

            def work(i: int, fact_id: str = fact.id, winners: list[str] = winners) -> None:
                with contextlib.suppress(UsageError):  # another thread superseded it first
                    adapter = handles[i % len(handles)]
                    winners.append(adapter.supersede(fact_id, f"the launch moved to month {i}").id)

            errors = _run_threads(self.thread_count, work)
            assert not errors, f"threads failed: {errors[:3]!r}"
            assert len(winners) == 1, f"round {round_}: {len(winners)} threads superseded one fact"
            assert [r.id for r in first.list(namespace=namespace)] == winners
            assert first.get(fact.id).superseded_by == winners[0]

    def test_threads_updating_one_memory_keep_every_version(self, adapter: BaseMemoryAdapter) -> None:
        self._concurrent_updates([adapter])

    def test_threads_superseding_one_fact_leave_one_successor(self, adapter: BaseMemoryAdapter) -> None:
        self._concurrent_supersedes([adapter])

    def test_handles_updating_one_memory_keep_every_version(self, stores: Stores) -> None:
        """Like the threads test, through four adapters on one store (as separate processes would)."""
        self._needs_atomic_handles()
        self._concurrent_updates([stores.open() for _ in range(4)])

    def test_handles_superseding_one_fact_leave_one_successor(self, stores: Stores) -> None:
        """Like the threads test, through four adapters on one store (as separate processes would)."""
        self._needs_atomic_handles()
        self._concurrent_supersedes([stores.open() for _ in range(4)])

"""Processes: several writing at once, and writers killed with SIGKILL mid-write or mid-import."""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest

from mnemos.memory_adapters.base import Capability
from mnemos.memory_adapters.conformance._base import ConformanceBase, Stores
from mnemos.memory_adapters.conformance._process import (
    run_concurrent_writers,
    run_killed_import,
    run_sigkill_trial,
    verify_acknowledged,
)
from mnemos.memory_adapters.conformance._support import SAMPLE_WORDS, exact, snapshot, write_content

__all__ = ["ProcessTests"]


class ProcessTests(ConformanceBase):
    """Nothing acknowledged is lost to other processes or to a killed one."""

    def test_processes_writing_at_once_lose_nothing(self, stores: Stores) -> None:
        opener = self.needs_opener(stores.location)
        watcher = stores.open()
        warm = watcher.add("written before the writers start", namespace=("procs",))
        if self.can_search(watcher):
            watcher.search("before the writers", namespace=("procs",))
        labels = [f"proc{i}" for i in range(self.process_count)]
        results = run_concurrent_writers(
            opener,
            labels=labels,
            count=self.writes_per_process,
            namespace=("procs",),
            timeout=self.process_timeout,
        )
        for result in results:
            assert result.returncode == 0 and result.finished, (
                f"{result.label} failed (exit {result.returncode}):\n{result.stderr}"
            )
            assert len(result.acknowledged) == self.writes_per_process
        assert verify_acknowledged(watcher, results) == [], "an adapter open during the writes misses some"
        total = self.process_count * self.writes_per_process
        assert watcher.count(("procs",)) == total + 1
        assert watcher.get(warm.id).content == "written before the writers start"
        if self.can_search(watcher):
            label, (index, memory_id) = labels[-1], results[-1].acknowledged[-1]
            query = write_content(label, index)
            # every writer stores the same words at the same index, and ranking signals such as
            # the neighbour share may lift those near twins above the exact match: the page is
            # sized to hold all of them, since visibility is checked here, not the order
            twins = self.process_count * (1 + self.writes_per_process // len(SAMPLE_WORDS))
            hits = watcher.search(query, namespace=("procs",), limit=twins + 5)
            assert memory_id in {h.record.id for h in hits}, (
                "another process's write is not searchable: "
                + repr([(h.record.content, h.explain()) for h in hits[:5]])
            )
        fresh = stores.reopen(watcher)
        assert verify_acknowledged(fresh, results) == []

    def test_processes_adding_identical_content_keep_one(self, stores: Stores) -> None:
        opener = self.needs_opener(stores.location)
        watcher = stores.open()
        self.needs(watcher, Capability.DEDUP)
        count = max(10, self.writes_per_process // 3)
        results = run_concurrent_writers(
            opener, labels=["same", "same"], count=count, namespace=("twins",),
            timeout=self.process_timeout,
        )
        for result in results:
            assert result.returncode == 0 and result.finished, f"writer failed:\n{result.stderr}"
        first, second = (dict(r.acknowledged) for r in results)
        differing = [i for i in range(count) if first[i] != second[i]]
        assert not differing, f"{len(differing)} identical writes from two processes got two ids"
        assert watcher.count(("twins",)) == count

    @pytest.mark.slow
    def test_sigkill_loses_no_acknowledged_write(self, stores: Stores) -> None:
        if not hasattr(signal, "SIGKILL"):
            pytest.skip("no SIGKILL on this platform")
        opener = self.needs_opener(stores.location)
        rng = random.Random(20261120)
        total_acked = 0
        for trial in range(self.sigkill_trials):
            label = f"crash{trial}"
            result = run_sigkill_trial(
                opener,
                writes=self.sigkill_writes,
                namespace=("crash",),
                label=label,
                rng=rng,
                timeout=self.process_timeout,
            )
            acked = result.writer.acknowledged
            assert acked, f"trial {trial}: the writer acknowledged nothing:\n{result.writer.stderr}"
            total_acked += len(acked)
            reopened = stores.open()
            problems = verify_acknowledged(reopened, [result.writer])
            assert problems == [], f"trial {trial} (killed={result.killed}): {problems[:5]}"
            assert reopened.count(("crash",)) >= total_acked
            self._check_integrity(stores.location, trial)

    @pytest.mark.slow
    def test_sigkill_during_import_leaves_all_or_nothing(self, stores: Stores, tmp_path: Path) -> None:
        if not hasattr(signal, "SIGKILL"):
            pytest.skip("no SIGKILL on this platform")
        source = stores.open(location=stores.new_location())
        self.needs(source, Capability.EXPORT, Capability.PRESERVE_IDS)
        opener = self.needs_opener(stores.location)
        count, batch = self.import_kill_records, max(1, self.import_kill_records // 8)
        source.add_many(
            {"content": write_content("import", i), "namespace": ("imported", str(i % 7))}
            for i in range(count)
        )
        dump = tmp_path / "import.jsonl"
        source.export_jsonl(dump)
        expected = snapshot(source)
        target = stores.open()
        target.add("already there before the import", namespace=("kept",))
        rng = random.Random(71)
        for trial in range(self.sigkill_trials):
            result = run_killed_import(
                opener, source=str(dump), batch_size=batch, rng=rng, timeout=self.process_timeout
            )
            assert result.progress, f"trial {trial}: the importer reported no progress"
            reopened = stores.open()
            imported = reopened.list(namespace=("imported",), limit=None, include_superseded=True)
            if result.finished:
                assert len(imported) == count
            assert len(imported) in (0, count), (
                f"trial {trial}: {len(imported)} of {count} records after a kill mid-import"
            )
            if imported:
                assert sorted(exact(r) for r in imported) == expected
                if reopened.supports(Capability.DELETE):
                    for record in imported:
                        reopened.delete(record.id)
            assert [r.content for r in reopened.list(namespace=("kept",))] == [
                "already there before the import"
            ]
            self._check_integrity(stores.location, trial)

    def _check_integrity(self, location: Path, trial: int) -> None:
        verdict = self.integrity_check(location)
        if verdict is not None:
            assert verdict == "ok", f"trial {trial}: integrity check failed: {verdict}"

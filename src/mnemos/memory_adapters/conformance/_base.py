"""The hooks an adapter's test class fills in, and the fixtures every test uses."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability, MemoryRecord
from mnemos.memory_adapters.conformance._process import ProcessOpener
from mnemos.memory_adapters.conformance._support import ManualClock

__all__ = ["ConformanceBase", "DatedAdd", "Probe", "Stores"]

Clock = Callable[[], datetime]
DatedAdd = Callable[..., MemoryRecord]
Probe = Callable[[BaseMemoryAdapter], object]
"""An operation that needs one capability; it is called on an adapter without it."""


class Stores:
    """Opens adapters over temporary storage and closes them after the test."""

    def __init__(self, suite: ConformanceBase, root: Path) -> None:
        self._suite = suite
        self._root = root
        self._counter = itertools.count()
        self._opened: list[tuple[BaseMemoryAdapter, Path]] = []
        self.location = self.new_location()
        """The default storage location of this test."""

    def new_location(self) -> Path:
        """A fresh, empty directory for another store."""
        path = self._root / f"store-{next(self._counter)}"
        path.mkdir(parents=True)
        return path

    def open(
        self,
        scope: Sequence[str] = (),
        *,
        clock: Clock | None = None,
        location: Path | None = None,
    ) -> BaseMemoryAdapter:
        """An adapter for ``scope`` over ``location`` (default: this test's store)."""
        if clock is not None and not self._suite.accepts_clock:
            raise RuntimeError("this adapter's factory takes no clock; the test should not ask")
        where = location or self.location
        adapter = self._suite.open_adapter(where, scope=tuple(scope), clock=clock)
        if not isinstance(adapter, BaseMemoryAdapter):
            raise TypeError(f"open_adapter returned {type(adapter).__name__}, not an adapter")
        self._opened.append((adapter, where))
        return adapter

    def reopen(self, adapter: BaseMemoryAdapter) -> BaseMemoryAdapter:
        """Close ``adapter`` and open its storage again, for the same scope."""
        index = next(i for i, (a, _) in enumerate(self._opened) if a is adapter)
        _, where = self._opened.pop(index)
        adapter.close()
        return self.open(adapter.scope, location=where)

    def close_all(self) -> None:
        while self._opened:
            self._opened.pop()[0].close()


class ConformanceBase:
    """What a test class provides: how to open the adapter, and optional extras."""

    accepts_clock: ClassVar[bool] = True
    """Whether :meth:`open_adapter` honours ``clock=`` (else TTL tests sleep through short TTLs)."""

    atomic_across_handles: ClassVar[bool] = True
    """Whether updates and supersedes through separate adapters on one store are
    serialized (a store with transactions can do it; a client of a remote service
    without compare-and-set may not). False skips the two tests that check it."""

    thread_count: ClassVar[int] = 8
    writes_per_thread: ClassVar[int] = 200
    process_count: ClassVar[int] = 4
    writes_per_process: ClassVar[int] = 300
    sigkill_trials: ClassVar[int] = 3
    sigkill_writes: ClassVar[int] = 2000
    import_kill_records: ClassVar[int] = 2000
    """Records in the file a killed import works through (in 8 batches)."""
    fuzz_calls: ClassVar[int] = 300
    """Random calls of the fuzz test (``benchmarks/fuzz_memory.py`` runs 10,000)."""
    fuzz_seed: ClassVar[int] = 1
    process_timeout: ClassVar[float] = 300.0
    """Seconds a group of writer processes may take before the test fails."""

    def open_adapter(
        self,
        location: Path,
        *,
        scope: Sequence[str] = (),
        clock: Clock | None = None,
    ) -> BaseMemoryAdapter:
        """Open the adapter under test for ``scope`` over the storage in ``location``.

        ``location`` is an empty directory the first time; opening it again
        must reach the same memories. ``clock`` (when not None) replaces the
        adapter's clock.
        """
        raise NotImplementedError("a conformance test class must implement open_adapter()")

    def process_opener(self, location: Path) -> ProcessOpener | None:
        """How another process opens the store in ``location``; None skips process tests."""
        return None

    def integrity_check(self, location: Path) -> str | None:
        """A storage-level check run after a crash (``"ok"`` when sound); None if none."""
        return None

    def capability_probes(self) -> Mapping[Capability, Sequence[Probe]]:
        """Extra operations, by the capability they need, for capabilities the base
        API cannot exercise on its own (e.g. an adapter's own graph or vector-only
        search methods). Each is called on a store with one memory and must raise
        CapabilityNotSupportedError when the capability is not declared."""
        return {}

    # -- fixtures ---------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _isolated_home(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MNEMOS_HOME", str(tmp_path / "mnemos-home"))

    @pytest.fixture
    def stores(self, tmp_path: Path) -> Iterator[Stores]:
        """Opens adapters over temporary storage; closes them after the test."""
        stores = Stores(self, tmp_path / "stores")
        try:
            yield stores
        finally:
            stores.close_all()

    @pytest.fixture
    def adapter(self, stores: Stores) -> BaseMemoryAdapter:
        """An adapter for the root scope over a fresh store, with the real clock."""
        return stores.open()

    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    # -- helpers for tests --------------------------------------------------------------

    @staticmethod
    def needs(adapter: BaseMemoryAdapter, *capabilities: Capability) -> None:
        """Skip the test unless the adapter declares every capability."""
        missing = [c.value for c in capabilities if not adapter.supports(c)]
        if missing:
            pytest.skip(f"{adapter.name!r} does not declare {', '.join(missing)}")

    @staticmethod
    def can_search(adapter: BaseMemoryAdapter) -> bool:
        """Whether text search is available (keyword or vector)."""
        return adapter.supports(Capability.KEYWORD_SEARCH) or adapter.supports(
            Capability.VECTOR_SEARCH
        )

    def needs_search(self, adapter: BaseMemoryAdapter) -> None:
        if not self.can_search(adapter):
            pytest.skip(f"{adapter.name!r} declares neither keyword_search nor vector_search")

    def dated(self, stores: Stores) -> tuple[BaseMemoryAdapter, DatedAdd]:
        """An adapter and an ``add_at(when, content, **kwargs)`` that stores a memory
        created at ``when``: through ``created_at=`` when the adapter keeps given
        timestamps (PRESERVE_IDS), else by setting an injected clock; skips otherwise."""
        clock = ManualClock() if self.accepts_clock else None
        adapter = stores.open(clock=clock)
        if adapter.supports(Capability.PRESERVE_IDS):

            def add_at(when: datetime, content: str, **kwargs: Any) -> MemoryRecord:
                return adapter.add(content, created_at=when, **kwargs)

        elif clock is not None:

            def add_at(when: datetime, content: str, **kwargs: Any) -> MemoryRecord:
                clock.set(when)
                return adapter.add(content, **kwargs)

        else:
            pytest.skip(f"{adapter.name!r} neither keeps given timestamps nor takes a clock")
        return adapter, add_at

    def needs_opener(self, location: Path) -> ProcessOpener:
        opener = self.process_opener(location)
        if opener is None:
            pytest.skip(
                "the test class gives no process_opener(), so the store cannot be "
                "opened from another process"
            )
        return opener

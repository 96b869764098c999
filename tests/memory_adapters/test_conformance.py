"""The conformance suite run against the native SQLite adapter.

``TestNativeConformance`` is the adapter as shipped (hashing embedder).
``TestNativeWithCapabilitiesWithdrawn`` is the same store declaring no optional
capability, so the suite's "undeclared capability raises" checks run for real.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability, utcnow
from mnemos.memory_adapters.conformance import (
    ProcessOpener,
    sqlite_integrity_check,
)
from mnemos.memory_adapters.conformance.suite import AdapterConformance
from mnemos.memory_adapters.native import NativeMemoryAdapter

STORE_FILE = "memory.db"


class TestNativeConformance(AdapterConformance):
    thread_count = 8
    writes_per_thread = 100
    process_count = 3
    writes_per_process = 150
    sigkill_trials = 3
    sigkill_writes = 1500
    fuzz_calls = 1000

    def open_adapter(
        self,
        location: Path,
        *,
        scope: Sequence[str] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> BaseMemoryAdapter:
        return NativeMemoryAdapter(
            location / STORE_FILE, scope=scope, embedder="hashing", clock=clock or utcnow
        )

    def process_opener(self, location: Path) -> ProcessOpener:
        # the store URL, as a user would write it for open_memory()
        url = "native://" + quote(str((location / STORE_FILE).resolve()))
        return ProcessOpener(target=url, options={"embedder": "hashing"})

    def integrity_check(self, location: Path) -> str:
        return sqlite_integrity_check(location / STORE_FILE)


class _BareNative(NativeMemoryAdapter):
    """The native store declaring only what the base API cannot do without."""

    name: ClassVar[str] = "native-bare"
    capabilities: ClassVar[frozenset[Capability]] = frozenset()


class TestNativeWithCapabilitiesWithdrawn(AdapterConformance):
    thread_count = 4
    writes_per_thread = 25

    def open_adapter(
        self,
        location: Path,
        *,
        scope: Sequence[str] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> BaseMemoryAdapter:
        return _BareNative(location / STORE_FILE, scope=scope, embedder="hashing", clock=clock or utcnow)

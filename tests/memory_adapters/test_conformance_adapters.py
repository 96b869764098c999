"""The conformance suite run against the MemGPT, mem0 and Zep adapters.

* memgpt: MemGPT's memory tiers over the native SQLite backend.
* mem0: mem0's open-source ``Memory`` with embedded Qdrant in a temp directory
  and the hashing embedder.
* zep: ``zep-python``'s client talking HTTP to the Zep v2 stand-in server of
  ``zep_standin.py`` (no Zep server runs here).

Each declares its capabilities; the suite skips what an adapter does not
declare and checks that those operations raise CapabilityNotSupportedError.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest
from zep_standin import ZepStandIn

from mnemos.memory_adapters.base import BaseMemoryAdapter, utcnow
from mnemos.memory_adapters.conformance import ProcessOpener, sqlite_integrity_check
from mnemos.memory_adapters.conformance.suite import AdapterConformance
from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter

Clock = Callable[[], datetime]
STORE_FILE = "memgpt.db"


class TestMemGPTConformance(AdapterConformance):
    thread_count = 4
    writes_per_thread = 50
    process_count = 2
    writes_per_process = 100
    sigkill_trials = 2
    sigkill_writes = 800
    keyword_ranking = "bm25"

    def open_adapter(
        self, location: Path, *, scope: Sequence[str] = (), clock: Clock | None = None
    ) -> BaseMemoryAdapter:
        return MemGPTMemoryAdapter(
            location / STORE_FILE, scope=scope, embedder="hashing", clock=clock or utcnow
        )

    def process_opener(self, location: Path) -> ProcessOpener:
        return ProcessOpener(
            target="mnemos.memory_adapters.memgpt:MemGPTMemoryAdapter",
            options={"backend": str(location / STORE_FILE), "embedder": "hashing"},
        )

    def integrity_check(self, location: Path) -> str:
        return sqlite_integrity_check(location / STORE_FILE)


@pytest.mark.slow  # about a minute: every write goes through mem0 and embedded Qdrant
@pytest.mark.skipif(importlib.util.find_spec("mem0") is None, reason="mem0ai is not installed")
class TestMem0Conformance(AdapterConformance):
    thread_count = 4
    writes_per_thread = 25

    def open_adapter(
        self, location: Path, *, scope: Sequence[str] = (), clock: Clock | None = None
    ) -> BaseMemoryAdapter:
        from mnemos.memory_adapters.mem0 import Mem0MemoryAdapter

        return Mem0MemoryAdapter(location, scope=scope, embedder="hashing", clock=clock or utcnow)


@pytest.mark.slow  # a few minutes: every operation is an HTTP round trip to the stand-in
@pytest.mark.skipif(importlib.util.find_spec("zep_python") is None, reason="zep-python is not installed")
class TestZepConformance(AdapterConformance):
    """Against the HTTP stand-in: one stand-in server per storage location."""

    thread_count = 4
    writes_per_thread = 15
    atomic_across_handles = False  # Zep has no transactions: two clients can race
    _servers: dict[Path, ZepStandIn]

    @pytest.fixture(autouse=True)
    def _standins(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        monkeypatch.delenv("ZEP_API_URL", raising=False)
        self._servers = {}
        yield
        for server in self._servers.values():
            server.stop()

    def open_adapter(
        self, location: Path, *, scope: Sequence[str] = (), clock: Clock | None = None
    ) -> BaseMemoryAdapter:
        from mnemos.memory_adapters.zep import ZepMemoryAdapter

        if location not in self._servers:
            self._servers[location] = ZepStandIn().start()
        server = self._servers[location]
        return ZepMemoryAdapter(server.url, api_key=server.api_key, scope=scope, clock=clock or utcnow)

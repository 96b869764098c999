"""Bulk loading and maintenance for the PostgreSQL adapter: build the search indexes once
after a large load, planner statistics.

Keeping pgvector's HNSW index up to date row by row costs a graph search per
inserted row; building it once over the loaded rows is several times faster
(pgvector's own advice: "it's faster to create an index after loading your
initial data"), and it uses parallel workers. The same holds for the GIN
indexes (full text, metadata): with no pending list, each row's insert
rewrites a page of every posting tree it touches, which slows a load past a
few hundred thousand rows to a crawl. :meth:`BulkLoadMixin.bulk_load` drops
the three, lets the caller add, and builds them again, even when the load
fails. While they are missing, searches stay exact (sequential scans), only
slower.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mnemos.exceptions import UsageError
from mnemos.memory_adapters._postgres_schema import search_indexes

__all__ = ["BulkLoadMixin"]

_MEMORY = re.compile(r"^[1-9][0-9]{0,6}\s*(kB|MB|GB)$")


class BulkLoadMixin:
    """:meth:`bulk_load`, :meth:`build_vector_index` and :meth:`analyze` for
    :class:`PostgresMemoryAdapter` (its :meth:`stats` is the SQL stores' shared one)."""

    _store: Any

    def has_vector_index(self) -> bool:
        """Whether the store's HNSW index exists (it is missing during :meth:`bulk_load`)."""
        return "memories_embedding" not in self.missing_indexes()

    def missing_indexes(self) -> list[str]:
        """The search indexes :meth:`bulk_load` drops that are missing now (empty when
        the store is fully indexed)."""
        wanted = search_indexes(self._store.embedder.dims)
        with self._store.reading() as conn:
            present = {r[0] for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND indexname = ANY(%s)",
                (self._store.schema, list(wanted)),
            )}
        return [name for name in wanted if name not in present]

    def build_vector_index(self, *, maintenance_work_mem: str | None = None) -> None:
        """Create the search indexes that are missing: the HNSW index and the GIN indexes
        for full text and metadata (after :meth:`bulk_load`, or after a process died inside
        one). ``maintenance_work_mem`` (``"2GB"``) is the memory PostgreSQL may use for
        each build: the HNSW build is much faster when the whole graph fits (about the
        vectors' size plus a tenth); default: the server's setting. Writers wait while it
        runs; readers do not."""
        if maintenance_work_mem is not None and not (
            isinstance(maintenance_work_mem, str) and _MEMORY.match(maintenance_work_mem.strip())
        ):
            raise UsageError(f"maintenance_work_mem is like '512MB' or '2GB', got {maintenance_work_mem!r}")
        for statement in search_indexes(self._store.embedder.dims).values():
            with self._store.writing() as conn:  # one transaction per index: a finished one stays
                if maintenance_work_mem is not None:
                    conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (maintenance_work_mem.strip(),))
                conn.execute(statement)

    @contextmanager
    def bulk_load(self, *, maintenance_work_mem: str | None = None) -> Iterator[None]:
        """Load many memories fast: drop the HNSW and GIN indexes, let the block add, then
        build them once.

        >>> with memory.bulk_load(maintenance_work_mem="1GB"):  # doctest: +SKIP
        ...     for batch in batches:
        ...         memory.add_many(batch)

        Every add inside is stored and searchable at once as usual (searches scan
        exactly until the indexes are back). Meant for an initial load or a
        migration: other writers of the store wait while the indexes are built.
        """
        with self._store.writing() as conn:
            for name in search_indexes(self._store.embedder.dims):
                conn.execute(f"DROP INDEX IF EXISTS {name}")
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
            for table in ("memories", "entities", "mentions", "relations", "history", "entity_items", "entity_df"):
                conn.execute(f"ANALYZE {table}")

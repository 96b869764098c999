"""The PostgreSQL adapter's shared state: the pool, per-thread transactions, row codecs.

An adapter and its scoped views share one :class:`PgStore`. A thread inside a
write transaction (:meth:`PgStore.writing`) keeps its connection, so reads
and nested writes of that thread join the transaction, as the native store's
nested ``BEGIN IMMEDIATE`` does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

from mnemos.exceptions import StorageError, UsageError
from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._native_schema import ns_key
from mnemos.memory_adapters._postgres_io import Steps, fetch
from mnemos.memory_adapters._postgres_items import lock_counters
from mnemos.memory_adapters._postgres_schema import Settings
from mnemos.memory_adapters._sql_dialect import SqlDialect, decode_record
from mnemos.memory_adapters.base import MemoryRecord, SearchQuery
from mnemos.memory_adapters.embedders.base import Embedder

__all__ = [
    "POSTGRES",
    "RECORD_COLUMNS",
    "PgStore",
    "ns_cond",
    "record_params",
    "record_steps",
    "row_to_record",
    "where",
]

RECORD_COLUMNS = (
    "m.rowid, m.id, m.ns, m.kind, m.content, m.metadata, m.created_at, m.updated_at, "
    "m.importance, m.expires_at, m.provenance, m.valid_from, m.valid_to, m.superseded_by, m.version"
)


_SCOPE_ROWS = (
    "SELECT n, cur, words FROM scope_counts WHERE ns = %s AND (%s::text[] IS NULL OR kind = ANY(%s::text[])) "
    "UNION ALL SELECT n, cur, words FROM scope_count_log WHERE ns = %s AND (%s::text[] IS NULL OR kind = ANY(%s::text[]))"
)
"""The scope counts of a namespace prefix's key and kinds (``None``: all): the folded totals
and the changes logged since (one statement, so one snapshot sees both)."""


class PgStore:
    """State shared by an adapter and its views: the pool, settings and search caches."""

    def __init__(self, settings: Settings, embedder: Embedder, pool: Any, *, iterative_scan: bool) -> None:
        self.settings = settings
        self.schema = settings.schema
        self.text_search = settings.text_search
        self.embedder = embedder
        self.pool = pool
        self.iterative_scan = iterative_scan
        self.closed = False
        self._local = threading.local()
        self.lock = threading.Lock()
        self.apool: Any = None
        """The async twins' connection pool (``_postgres_async.AsyncPool``)."""
        self.counts: dict[tuple[str, str], tuple[float, int]] = {}
        """(when, count) of the records a keyword search bounded by creation time can see,
        per condition."""

    def _check_open(self) -> None:
        if self.closed:
            raise UsageError("this memory adapter is closed")

    def reading(self) -> AbstractContextManager[Any]:
        """A connection: this thread's open transaction if any, else one from the pool."""
        return self._connection(write=False)

    def writing(self) -> AbstractContextManager[Any]:
        """One transaction; nested uses in the same thread join the outer one."""
        return self._connection(write=True)

    @contextmanager
    def _connection(self, *, write: bool) -> Iterator[Any]:
        import psycopg

        self._check_open()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        try:
            with self.pool.connection() as conn:
                if not write:
                    yield conn
                    return
                with conn.transaction():
                    self._local.conn = conn
                    try:
                        yield conn
                    finally:
                        self._local.conn = None
                        self.counts.clear()
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL memory store {self.schema!r}: {exc}") from exc

    def lock_key(self, label: str) -> str:
        return f"mnemos:{self.schema}:{label}"

    def corpus_stats(self, prefix: Namespace | None = None) -> Steps[tuple[int, float]]:
        """Memories under ``prefix`` (``None``: in the store), expired and superseded ones
        included, and their average length in words: read from the scope counts the
        triggers keep (``_postgres_schema``), exact after every committed write and this
        transaction's own."""
        n, words = (yield from fetch(
            f"SELECT coalesce(sum(n), 0), coalesce(sum(words), 0) FROM ({_SCOPE_ROWS}) c",
            [*(ns_key(prefix or ()), None, None) * 2],
        ))[0]
        return int(n), float(words) / int(n) if n else 0.0

    def visible_count(self, query: SearchQuery) -> Steps[int]:
        """How many memories pass every condition of ``query`` but its metadata filter (the
        ``N`` of BM25 over what a search can see): the scope counts of its namespace prefix
        and kinds (superseded memories left out unless the query includes them), less the
        memories among them that have expired by ``query.now`` but are not purged yet
        (expiry is a matter of time, not a write, so the counts cannot follow it: those are
        counted on the ``expires_at`` index). A query bounded by creation time is counted
        on the table, cached for 30 s past 50,000 memories."""
        if query.since is not None or query.until is not None:
            return (yield from self._counted(query))
        key = ns_key(query.namespace_prefix)
        kinds = sorted(k.value for k in query.kinds) if query.kinds is not None else None
        column = "n" if query.include_superseded else "cur"
        cond, params = ns_cond(query.namespace_prefix, "m.ns")
        expired = ["m.expires_at IS NOT NULL", "m.expires_at <= %s", cond]
        params = [query.now, *params]
        if kinds is not None:
            expired.append("m.kind = ANY(%s)")
            params.append(kinds)
        if not query.include_superseded:
            expired.append("m.valid_to IS NULL")
        row = (yield from fetch(
            f"SELECT (SELECT coalesce(sum({column}), 0) FROM ({_SCOPE_ROWS}) c), "
            f"(SELECT count(*) FROM memories m WHERE {' AND '.join(expired)})",
            [*(key, kinds, kinds) * 2, *params],
        ))[0]
        return int(row[0]) - int(row[1])

    def _counted(self, query: SearchQuery) -> Steps[int]:
        conds, params = where(query)
        sql = " AND ".join(conds)
        key = (sql, repr([p if p is not query.now else None for p in params]))
        mono = time.monotonic()
        cached = self.counts.get(key)
        if cached is not None and cached[1] >= 50_000 and mono - cached[0] < 30.0:
            return cached[1]
        n = int((yield from fetch(f"SELECT count(*) FROM memories m WHERE {sql}", params))[0][0])
        if len(self.counts) > 1_000:
            self.counts.clear()
        self.counts[key] = (mono, n)
        return n

    def close(self) -> None:
        self.closed = True
        self.pool.close()


def aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def row_to_record(row: Sequence[Any]) -> MemoryRecord:
    """A record from a row selected with :data:`RECORD_COLUMNS`."""
    return decode_record(row, aware)


def record_params(record: MemoryRecord) -> list[Any]:
    """ns, kind, content, metadata, created_at, updated_at, importance, expires_at,
    provenance, valid_from, valid_to, superseded_by, version (the shared column order)."""
    return [
        ns_key(record.namespace), record.kind.value, record.content,
        json.dumps(record.metadata, ensure_ascii=False), record.created_at, record.updated_at,
        record.importance, record.expires_at, json.dumps(record.provenance.to_dict(), ensure_ascii=False),
        record.valid_from, record.valid_to, record.superseded_by, record.version,
    ]


def record_steps(rowids: Sequence[int]) -> Steps[dict[int, MemoryRecord]]:
    """The records with these rowids (steps for ``_postgres_io``)."""
    if not rowids:
        return {}
    rows = yield from fetch(f"SELECT {RECORD_COLUMNS} FROM memories m WHERE m.rowid = ANY(%s)", (list(rowids),))
    return {row[0]: row_to_record(row) for row in rows}


def ns_cond(prefix: Namespace, column: str = "ns") -> tuple[str, list[Any]]:
    """An SQL condition selecting namespaces at or under ``prefix`` (a B-tree range)."""
    if not prefix:
        return "true", []
    low = ns_key(prefix)
    return f"({column} >= %s AND {column} < %s)", [low, low[:-1] + chr(ord("/") + 1)]


def where(query: SearchQuery) -> tuple[list[str], list[Any]]:
    """SQL conditions (on alias ``m``) for every condition of ``query`` but the metadata filter."""
    cond, params = ns_cond(query.namespace_prefix, "m.ns")
    conds = [cond, "(m.expires_at IS NULL OR m.expires_at > %s)"]
    params.append(query.now)
    if query.kinds is not None:
        conds.append("m.kind = ANY(%s)")
        params.append(sorted(k.value for k in query.kinds))
    if not query.include_superseded:
        conds.append("m.valid_to IS NULL")
    if query.since is not None:
        conds.append("m.created_at >= %s")
        params.append(query.since)
    if query.until is not None:
        conds.append("m.created_at <= %s")
        params.append(query.until)
    return conds, params


def _same(value: datetime | None) -> datetime | None:
    return value


POSTGRES = SqlDialect(
    name="postgres", mark="%s", encode_time=_same, decode_time=aware, ns_cond=ns_cond,
    record_columns=RECORD_COLUMNS, array_ids=True, lock_items=lock_counters,
)
"""The PostgreSQL store's SQL: ``%s`` placeholders, ``timestamptz`` times, id arrays."""

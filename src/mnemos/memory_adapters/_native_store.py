"""The native adapter's shared state and row helpers: the connection, caches, row codecs.

An adapter and its scoped views share one :class:`Store`; the search module
and the adapter both read rows through the helpers here.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

import networkx as nx

from mnemos.memory_adapters import _graph
from mnemos.memory_adapters._filters import matches_filter
from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._native_checkpoint import Checkpointer
from mnemos.memory_adapters._native_schema import from_micros, ns_range, to_micros
from mnemos.memory_adapters._sql_dialect import SqlDialect, decode_record, fetch_records
from mnemos.memory_adapters._vector_file import VectorFile
from mnemos.memory_adapters._vectors import VectorCache
from mnemos.memory_adapters.base import MemoryRecord, SearchQuery
from mnemos.memory_adapters.embedders.base import Embedder

__all__ = [
    "CHUNK",
    "RECORD_COLUMNS",
    "SQLITE",
    "Store",
    "chunks",
    "filter_rows",
    "graph_for",
    "ids",
    "marks",
    "records",
    "row_to_record",
    "where",
]

RECORD_COLUMNS = (
    "m.rowid, m.id, m.ns, m.kind, m.content, m.metadata, m.created_at, m.updated_at, "
    "m.importance, m.expires_at, m.provenance, m.valid_from, m.valid_to, m.superseded_by, "
    "m.version, m.episode"
)
CHUNK = 500
SQLITE = SqlDialect(
    name="sqlite", mark="?", encode_time=to_micros, decode_time=from_micros, ns_cond=ns_range,
    record_columns=RECORD_COLUMNS, array_ids=False, chunk=CHUNK,
)
"""The native store's SQL: ``?`` placeholders, times as integer microseconds."""


class Store:
    """State shared by an adapter and its scoped views: the connection, lock and caches."""

    def __init__(
        self,
        path: Path,
        root: Namespace,
        embedder: Embedder,
        conn: sqlite3.Connection,
        vector_file: VectorFile | None = None,
    ) -> None:
        self.path = path
        self.vector_file = vector_file
        self.root = root
        self.embedder = embedder
        self.conn = conn
        self.lock = threading.RLock()
        self.own_writes = 0
        """Transactions this store committed (``PRAGMA data_version`` only counts others')."""
        self.write_depth = 0
        self.batch: contextlib.ExitStack | None = None
        """An open write batch (see ``NativeMemoryAdapter._batch``): holds its transaction once begun."""
        self.closed = False
        self.checkpointer: Checkpointer | None = None
        """Checkpoints the write-ahead log off the writing thread (a writable store file)."""
        self.cache = self.new_cache()
        self.graphs: dict[tuple[Namespace, int, int], nx.Graph] = {}
        self.df_cache: dict[str, int] = {}
        self.df_size = 0
        self.query_vectors: dict[tuple[Embedder, str], Any] = {}
        """Embeddings of recent query texts (an embedder is a pure function of the text)."""
        self.query_terms: dict[str, tuple[list[str], dict[str, str]]] = {}
        """FTS5 terms of recent query texts: its words, and the first word giving each term."""
        self.kept_lists: dict[Hashable, list[tuple[int, float]]] = {}
        self.kept_lists_stamp: Hashable = None
        """Keyword lists of earlier searches, and the state of the store they hold for (``_native_reuse``)."""
        # A scratch FTS5 table with the store's tokenizer, to see query words as FTS5 does.
        # Contentless: emptied by 'delete-all' at once (a DELETE tokenizes every row again).
        self.tokenizer = sqlite3.connect(":memory:", check_same_thread=False)
        self.tokenizer.execute("CREATE VIRTUAL TABLE t USING fts5(x, content='', tokenize='porter unicode61')")
        self.tokenizer.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")

    def new_cache(self) -> VectorCache:
        """An empty vector cache for this store's scope and embedder."""
        return VectorCache(self.root, self.embedder.dims, self.vector_file)

    def refresh(self) -> None:
        """Bring the vector cache up to date (under the lock); save it after a rebuild."""
        cache = self.cache
        cache.refresh(self.conn, self.own_writes, self.embedder.name)
        if cache.wants_saving(closing=False) and not self.conn.in_transaction:
            cache.save(self.conn, self.embedder.name)

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):  # the file is only a cache: closing must not fail
            cache = self.cache
            if cache.wants_saving(closing=True):
                cache.refresh(self.conn, self.own_writes, self.embedder.name)
                cache.save(self.conn, self.embedder.name)
        if self.checkpointer is not None:
            self.checkpointer.close()
        self.conn.close()
        self.tokenizer.close()


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def marks(n: int) -> str:
    return ",".join("?" * n)


def row_to_record(row: Sequence[Any]) -> MemoryRecord:
    """A record from a row selected with :data:`RECORD_COLUMNS`."""
    return decode_record(row, from_micros)


def records(conn: sqlite3.Connection, rowids: Sequence[int]) -> dict[int, MemoryRecord]:
    return dict(fetch_records(conn, SQLITE, "m.rowid", list(rowids)))


def ids(conn: sqlite3.Connection, rowids: Sequence[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for chunk in chunks(list(rowids)):
        out.update(conn.execute(f"SELECT rowid, id FROM memories WHERE rowid IN ({marks(len(chunk))})", list(chunk)))
    return out


def where(query: SearchQuery) -> tuple[list[str], list[Any]]:
    """SQL conditions (on alias ``m``) for every condition of ``query`` but the metadata filter."""
    cond, ns_params = ns_range(query.namespace_prefix, "m.ns")
    params: list[Any] = list(ns_params)
    conds = [cond, "(m.expires_at IS NULL OR m.expires_at > ?)"]
    params.append(to_micros(query.now))
    if query.kinds is not None:
        conds.append(f"m.kind IN ({marks(len(query.kinds))})")
        params.extend(sorted(k.value for k in query.kinds))
    if not query.include_superseded:
        conds.append("m.valid_to IS NULL")
    if query.since is not None:
        conds.append("m.created_at >= ?")
        params.append(to_micros(query.since))
    if query.until is not None:
        conds.append("m.created_at <= ?")
        params.append(to_micros(query.until))
    return conds, params


def filter_rows(
    conn: sqlite3.Connection, rowids: list[int], scores: list[float], query: SearchQuery
) -> list[tuple[int, float]]:
    """The ``(rowid, score)`` pairs whose metadata passes the query's filter, in order."""
    metadata: dict[int, str] = {}
    for chunk in chunks(rowids):
        metadata.update(
            conn.execute(f"SELECT rowid, metadata FROM memories WHERE rowid IN ({marks(len(chunk))})", list(chunk))
        )
    return [
        (r, s) for r, s in zip(rowids, scores, strict=True)
        if r in metadata and matches_filter(json.loads(metadata[r]), query.filter)
    ]


def graph_for(store: Store, prefix: Namespace) -> nx.Graph:
    """The entity graph under ``prefix``, rebuilt only after the store changed."""
    version = store.conn.execute("PRAGMA data_version").fetchone()[0]
    key = (prefix, version, store.own_writes)
    graph = store.graphs.get(key)
    if graph is None:
        graph = _graph.build_graph(store.conn, prefix)
        store.graphs = {key: graph}
    return graph

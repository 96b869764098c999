"""The PostgreSQL memory adapter: the native store's contract on a shared PostgreSQL server.

Open it with ``open_memory("postgresql://user:pw@host:5432/db")`` (or
``postgres://``); it needs the ``postgres`` extra and a server with the
pgvector extension. Query parameters the adapter reads (the rest go to libpq):
``schema`` (default ``mnemos``; one store per schema), ``pool_size`` (default 4
connections per adapter), ``text_search`` (the full-text configuration a new
store uses, default ``english``) and ``embedder``.

Search is the native store's hybrid ranking (shared code in ``_ranking``):
BM25 over PostgreSQL full-text search, cosine over pgvector's HNSW index,
fused with the same weights, episode neighbours, graph links, recency and
importance, with the same :class:`~mnemos.memory_adapters.base.ScoreReason`\\ s.
Every filter runs in SQL. Every mutation is one transaction; many processes
and threads may share a store (see ``docs/postgres.md``). The storage core,
graph API, history import and ``stats()`` are the SQL stores' shared code
(``_sql_adapter``) run with PostgreSQL's dialect (``_postgres_store.POSTGRES``).

>>> memory = open_memory("postgresql://app@db.internal/app?schema=mnemos")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, ClassVar

import networkx as nx
import numpy as np

from mnemos.exceptions import EmbedderMismatchError, MemoryNotFoundError, StorageError
from mnemos.memory_adapters import _postgres_graph as pg_graph
from mnemos.memory_adapters._episodic_graph import record_speaker
from mnemos.memory_adapters._graph import Relation
from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._native_schema import ns_key
from mnemos.memory_adapters._postgres_async import AsyncPool, AsyncReadsMixin
from mnemos.memory_adapters._postgres_bulk import BulkLoadMixin
from mnemos.memory_adapters._postgres_io import Steps, run
from mnemos.memory_adapters._postgres_items import item_keys, lock_counters, write_items
from mnemos.memory_adapters._postgres_schema import (
    SCHEMA_VERSION,
    Settings,
    migrate,
    parse_url,
    require_driver,
    with_options,
)
from mnemos.memory_adapters._postgres_search import listing, ranked_search
from mnemos.memory_adapters._postgres_store import (
    POSTGRES,
    RECORD_COLUMNS,
    PgStore,
    record_params,
    row_to_record,
)
from mnemos.memory_adapters._ranking import RankingConfig
from mnemos.memory_adapters._sql_adapter import SqlMemoryAdapter
from mnemos.memory_adapters._sql_dialect import (
    SqlDialect,
    episode_key,
    save_versions,
    split_duplicates,
)
from mnemos.memory_adapters._text import content_hash, tokens
from mnemos.memory_adapters.base import (
    MemoryKind,
    MemoryRecord,
    ScoredMemory,
    SearchQuery,
    utcnow,
)
from mnemos.memory_adapters.embedders.base import Embedder

__all__ = ["PostgresMemoryAdapter", "RankingConfig", "Relation"]

_COLUMNS = ("ns, kind, content, metadata, created_at, updated_at, importance, expires_at, provenance, "
            "valid_from, valid_to, superseded_by, version")
_INSERT = (f"INSERT INTO memories (id, {_COLUMNS}, content_hash, episode, doc_len, embedding) "
           f"VALUES (%s, {', '.join(['%s'] * 13)}, %s, %s, %s, %s)")


def _doc_len(content: str) -> int:
    from mnemos.memory_adapters._postgres_schema import TSV_CHARS

    return len(tokens(content[:TSV_CHARS]))


def _configure(schema: str) -> Callable[[Any], None]:
    def configure(conn: Any) -> None:
        from pgvector.psycopg import register_vector

        conn.execute(f'SET search_path TO "{schema}", public')
        conn.execute("SET TIME ZONE 'UTC'")
        # psycopg prepares a statement run 5 times; PostgreSQL would then switch to a
        # generic plan, blind to the query vector and the namespace range, which scans
        # and sorts a whole namespace instead of walking the HNSW index.
        conn.execute("SET plan_cache_mode TO force_custom_plan")
        register_vector(conn)

    return configure


class PostgresMemoryAdapter(AsyncReadsMixin, BulkLoadMixin, SqlMemoryAdapter):
    """Memory in a PostgreSQL schema with pgvector; the scale-out twin of the native store.

    ``url`` is a ``postgresql://`` URL (see the module docstring for the options
    it may carry). ``embedder``: as for the native store, recorded in the
    store; a different one raises :class:`~mnemos.exceptions.EmbedderMismatchError`.
    """

    name: ClassVar[str] = "postgres"
    dialect: ClassVar[SqlDialect] = POSTGRES
    schema_version: ClassVar[int] = SCHEMA_VERSION

    def __init__(
        self,
        url: str,
        *,
        scope: Sequence[str] = (),
        embedder: object = None,
        clock: Callable[[], datetime] = utcnow,
        ranking: RankingConfig | None = None,
        schema: str | None = None,
        pool_size: int | None = None,
    ) -> None:
        super().__init__(scope=scope, clock=clock)
        require_driver()
        import psycopg
        from psycopg_pool import ConnectionPool

        settings = with_options(parse_url(url), schema=schema, pool_size=pool_size)
        spec = embedder if embedder is not None else settings.embedder
        try:
            with psycopg.connect(settings.conninfo, autocommit=True) as conn:
                chosen = self._open_embedder(conn, settings, spec)
                found = conn.execute(
                    "SELECT string_to_array(extversion, '.')::int[] >= '{0,8}' FROM pg_extension "
                    "WHERE extname = 'vector'"
                ).fetchone()
                iterative = bool(found and found[0])
        except psycopg.Error as exc:
            raise StorageError(f"cannot open the PostgreSQL memory store: {exc}") from exc
        pool = ConnectionPool(
            settings.conninfo, min_size=1, max_size=settings.pool_size, kwargs={"autocommit": True},
            configure=_configure(settings.schema), open=True, name=f"mnemos-{settings.schema}",
        )
        self._store = PgStore(settings, chosen, pool, iterative_scan=bool(iterative))
        self._store.apool = AsyncPool(settings.conninfo, settings.schema, settings.pool_size)
        self.ranking = ranking or RankingConfig()

    @staticmethod
    def _open_embedder(conn: Any, settings: Settings, spec: object) -> Embedder:
        from mnemos.memory_adapters.embedders import get_embedder

        row = None
        exists = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'meta'",
            (settings.schema,),
        ).fetchone()
        if exists:
            row = conn.execute(
                f"SELECT value FROM \"{settings.schema}\".meta WHERE key = 'embedder'"
            ).fetchone()
        name = row[0] if row else None
        chosen = get_embedder(name if spec is None and name else spec)
        _, stored, _, _ = migrate(
            conn, settings.schema, dims=chosen.dims, text_search=settings.text_search, embedder=chosen.name
        )
        if stored != chosen.name:
            raise EmbedderMismatchError(stored, chosen.name)
        return chosen

    @classmethod
    def from_url(cls, url: str, *, scope: Sequence[str] = (), embedder: object = None) -> PostgresMemoryAdapter:
        """Open ``postgresql://...`` (or ``postgres://...``)."""
        return cls(url, scope=scope, embedder=embedder)

    # -- properties ---------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The embedder that makes this store's vectors."""
        return self._store.embedder

    @property
    def schema(self) -> str:
        """The PostgreSQL schema holding this store."""
        return self._store.schema

    def _reading(self) -> AbstractContextManager[Any]:
        return self._store.reading()

    def _writing(self) -> AbstractContextManager[Any]:
        return self._store.writing()

    def _exclusive(self) -> Any:
        """Read-modify-write (update, supersede) in one transaction holding the store's
        update lock, so other threads, adapters and processes cannot interleave."""
        return self._rmw()

    @contextmanager
    def _rmw(self) -> Iterator[Any]:
        with self._store.writing() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (self._store.lock_key("rmw"),))
            yield conn

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.ascontiguousarray(self._store.embedder.embed(list(texts)), dtype=np.float32)

    # -- the abstract core ------------------------------------------------------------------

    def _insert(
        self, conn: Any, records_: Sequence[MemoryRecord], vectors: np.ndarray, *, dedup: bool
    ) -> list[MemoryRecord]:
        hashes = [content_hash(r.content) for r in records_]
        result: list[MemoryRecord] = list(records_)
        keep = [True] * len(records_)
        if dedup:
            for ns in sorted({ns_key(r.namespace) for r in records_}):
                # one writer at a time per namespace decides what is new
                conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                             (self._store.lock_key(f"ns:{ns}"),))
            existing: dict[tuple[str, str], MemoryRecord] = {}
            for row in conn.execute(
                f"SELECT {RECORD_COLUMNS}, m.content_hash FROM memories m WHERE m.content_hash = ANY(%s) "
                "AND m.valid_to IS NULL AND (m.expires_at IS NULL OR m.expires_at > %s) ORDER BY m.rowid",
                (sorted(set(hashes)), self.now()),
            ):
                existing.setdefault((row[2], row[15]), row_to_record(row))
            result, keep = split_duplicates(records_, hashes, existing)
        fresh = [i for i in range(len(records_)) if keep[i]]
        if not fresh:
            return result
        # only an id in this scope is replaced; a foreign one then fails the UNIQUE constraint
        in_scope, scope_params = self.dialect.ns_cond(self._scope, "ns")
        replaced = f"id = ANY(%s) AND {in_scope}", [[records_[i].id for i in fresh], *scope_params]
        speakers = {i: record_speaker(records_[i].provenance.agent, records_[i].metadata) for i in fresh}
        lock_counters(conn, *replaced, item_keys((ns_key(records_[i].namespace), records_[i].content, speakers[i])
                                                 for i in fresh), if_found=True)
        conn.execute(f"DELETE FROM memories WHERE {replaced[0]}", replaced[1])
        with conn.cursor() as cur:
            cur.executemany(
                _INSERT,
                [
                    [r.id, *record_params(r), hashes[i], episode_key(r), _doc_len(r.content), vectors[i]]
                    for i in fresh
                    for r in (records_[i],)
                ],
            )
        rowids = dict(conn.execute(
            "SELECT id, rowid FROM memories WHERE id = ANY(%s)", ([records_[i].id for i in fresh],)
        ).fetchall())
        semantic = [records_[i] for i in fresh if records_[i].kind is MemoryKind.SEMANTIC]
        if semantic:
            pg_graph.index_mentions(conn, ((rowids[r.id], ns_key(r.namespace), r.content) for r in semantic))
        write_items(conn, ((rowids[records_[i].id], ns_key(records_[i].namespace), records_[i].content, speakers[i])
                           for i in fresh))
        return result

    def _update(self, record: MemoryRecord) -> MemoryRecord:
        with self._store.writing() as conn:
            row = conn.execute(
                f"SELECT {RECORD_COLUMNS} FROM memories m WHERE m.id = %s FOR UPDATE", (record.id,)
            ).fetchone()
            if row is None:
                raise MemoryNotFoundError(record.id)
            old = row_to_record(row)
            save_versions(conn, POSTGRES, [old])
            changed_text = record.content != old.content
            sets = ", ".join(f"{c.strip()} = %s" for c in _COLUMNS.split(","))
            params = [*record_params(record), content_hash(record.content), episode_key(record),
                      _doc_len(record.content)]
            sql = f"UPDATE memories SET {sets}, content_hash = %s, episode = %s, doc_len = %s"
            if changed_text:
                sql += ", embedding = %s"
                params.append(self._embed([record.content])[0])
            conn.execute(sql + " WHERE id = %s", [*params, record.id])
            if changed_text and record.kind is MemoryKind.SEMANTIC:
                pg_graph.index_mentions(conn, [(row[0], ns_key(record.namespace), record.content)])
            write_items(conn, [(row[0], ns_key(record.namespace), record.content,
                                record_speaker(record.provenance.agent, record.metadata))], replace=True)
        return record

    def _after_erase(self) -> None:
        with self._store.writing() as conn:  # the erased namespaces' keys leave the scope counts' log
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (self._store.lock_key("scope_counts"),))
            conn.execute("SELECT fold_scope_counts()")
        self.vacuum()

    def vacuum(self) -> None:
        """``VACUUM`` the store's tables: remove deleted rows and their index entries, so
        their bytes are no longer reachable through the tables (PostgreSQL reuses the
        freed space; ``VACUUM FULL`` by an administrator rewrites the files). :meth:`erase`
        calls it; after :meth:`delete` or :meth:`purge` autovacuum does it in time."""
        with self._store.reading() as conn:
            if conn.info.transaction_status != 0:  # inside a transaction: leave it to autovacuum
                return
            for table in ("memories", "history", "mentions", "entities", "relations", "entity_items", "entity_df",
                          "scope_counts", "scope_count_log"):
                conn.execute(f"VACUUM {table}")

    def _entity_graph(self, conn: Any, prefix: Namespace) -> nx.Graph:
        return pg_graph.build_graph(conn, prefix)

    def _storage_stats(self, conn: Any, meta: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        size = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            (self._store.schema,),
        ).fetchone()[0]
        head = {"adapter": self.name, "schema": self._store.schema, "disk_size": int(size)}
        return head, {"text_search": meta.get("text_search")}

    def _close(self) -> None:
        with self._store.lock:
            if not self._store.closed:
                self._store.apool.close_soon()
                self._store.close()

    def _search(self, query: SearchQuery) -> list[ScoredMemory]:
        if self._capture is not None:  # a probe of the async twins: checked, nothing to run
            self._capture.append((query, self.ranking))
            return []
        vector = None
        if query.text is not None and self.ranking.mode != "keyword":
            vector = self._query_vector(query.text)
        with self._store.reading() as conn:
            return run(conn, self._search_steps(query, vector, self.ranking))

    def _query_vector(self, text: str) -> np.ndarray:
        return np.asarray(self._store.embedder.embed_query(text), dtype=np.float32)

    def _search_steps(
        self, query: SearchQuery, vector: np.ndarray | None, ranking: RankingConfig
    ) -> Steps[list[ScoredMemory]]:
        if query.text is None:
            return [ScoredMemory(record=r, score=0.0) for r in (yield from listing(query))]
        return (yield from ranked_search(self._store, query, ranking, vector))

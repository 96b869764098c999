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
and threads may share a store (see ``docs/postgres.md``).

>>> memory = open_memory("postgresql://app@db.internal/app?schema=mnemos")  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

import numpy as np

from mnemos.exceptions import EmbedderMismatchError, MemoryNotFoundError, StorageError, UsageError
from mnemos.memory_adapters import _postgres_graph as pg_graph
from mnemos.memory_adapters._graph import Relation, memory_hops
from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._native_schema import ns_key, ns_tuple
from mnemos.memory_adapters._postgres_async import AsyncPool, AsyncReadsMixin
from mnemos.memory_adapters._postgres_bulk import BulkLoadMixin
from mnemos.memory_adapters._postgres_io import Steps, run
from mnemos.memory_adapters._postgres_schema import (
    Settings,
    migrate,
    parse_url,
    require_driver,
    with_options,
)
from mnemos.memory_adapters._postgres_search import listing, ranked_search
from mnemos.memory_adapters._postgres_store import (
    RECORD_COLUMNS,
    PgStore,
    ns_cond,
    record_params,
    records,
    row_to_record,
)
from mnemos.memory_adapters._ranking import RankingConfig
from mnemos.memory_adapters._text import content_hash, normalize_entity, tokens
from mnemos.memory_adapters.base import (
    BaseMemoryAdapter,
    Capability,
    MemoryKind,
    MemoryRecord,
    ScoredMemory,
    ScoreReason,
    SearchQuery,
    utcnow,
)
from mnemos.memory_adapters.embedders.base import Embedder

__all__ = ["PostgresMemoryAdapter", "RankingConfig", "Relation"]

_COLUMNS = ("ns, kind, content, metadata, created_at, updated_at, importance, expires_at, provenance, "
            "valid_from, valid_to, superseded_by, version")
_INSERT = (f"INSERT INTO memories (id, {_COLUMNS}, content_hash, episode, doc_len, embedding) "
           f"VALUES (%s, {', '.join(['%s'] * 13)}, %s, %s, %s, %s)")


def _episode(record: MemoryRecord) -> str | None:
    """The key grouping an episodic record with its neighbouring events (as native)."""
    if record.kind is not MemoryKind.EPISODIC:
        return None
    md = record.metadata
    session = md.get("episode", md.get("session"))
    return json.dumps([record.provenance.thread, session], separators=(",", ":"), default=str)


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


class PostgresMemoryAdapter(AsyncReadsMixin, BulkLoadMixin, BaseMemoryAdapter):
    """Memory in a PostgreSQL schema with pgvector; the scale-out twin of the native store.

    ``url`` is a ``postgresql://`` URL (see the module docstring for the options
    it may carry). ``embedder``: as for the native store, recorded in the
    store; a different one raises :class:`~mnemos.exceptions.EmbedderMismatchError`.
    """

    name: ClassVar[str] = "postgres"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.KEYWORD_SEARCH,
            Capability.VECTOR_SEARCH,
            Capability.HYBRID_SEARCH,
            Capability.METADATA_FILTER,
            Capability.TIME_FILTER,
            Capability.UPDATE,
            Capability.HISTORY,
            Capability.DELETE,
            Capability.TTL,
            Capability.DEDUP,
            Capability.SUPERSEDE,
            Capability.GRAPH,
            Capability.EXPORT,
            Capability.PRESERVE_IDS,
        }
    )

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

    def _add(self, records_: Sequence[MemoryRecord], *, dedup: bool) -> list[MemoryRecord]:
        vectors = self._embed([r.content for r in records_])
        with self._store.writing() as conn:
            return self._insert(conn, records_, vectors, dedup=dedup)

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
            for i, (record, digest) in enumerate(zip(records_, hashes, strict=True)):
                key = (ns_key(record.namespace), digest)
                if key in existing:
                    result[i] = existing[key]
                    keep[i] = False
                else:
                    existing[key] = record
        fresh = [i for i in range(len(records_)) if keep[i]]
        if not fresh:
            return result
        conn.execute("DELETE FROM memories WHERE id = ANY(%s)", ([records_[i].id for i in fresh],))
        with conn.cursor() as cur:
            cur.executemany(
                _INSERT,
                [
                    [r.id, *record_params(r), hashes[i], _episode(r), _doc_len(r.content), vectors[i]]
                    for i in fresh
                    for r in (records_[i],)
                ],
            )
        semantic = [records_[i] for i in fresh if records_[i].kind is MemoryKind.SEMANTIC]
        if semantic:
            rowids = dict(conn.execute(
                "SELECT id, rowid FROM memories WHERE id = ANY(%s)", ([r.id for r in semantic],)
            ).fetchall())
            pg_graph.index_mentions(conn, ((rowids[r.id], ns_key(r.namespace), r.content) for r in semantic))
        return result

    def _get(self, ids: Sequence[str]) -> list[MemoryRecord | None]:
        now = self.now()
        with self._store.reading() as conn:
            rows = conn.execute(
                f"SELECT {RECORD_COLUMNS} FROM memories m WHERE m.id = ANY(%s)", (list(ids),)
            ).fetchall()
        found = {r.id: r for r in map(row_to_record, rows) if not r.is_expired(now)}
        return [found.get(i) for i in ids]

    def _update(self, record: MemoryRecord) -> MemoryRecord:
        with self._store.writing() as conn:
            row = conn.execute(
                f"SELECT {RECORD_COLUMNS} FROM memories m WHERE m.id = %s FOR UPDATE", (record.id,)
            ).fetchone()
            if row is None:
                raise MemoryNotFoundError(record.id)
            old = row_to_record(row)
            conn.execute(
                "INSERT INTO history (id, version, record) VALUES (%s, %s, %s) "
                "ON CONFLICT (id, version) DO UPDATE SET record = excluded.record",
                (old.id, old.version, json.dumps(old.to_dict(), ensure_ascii=False)),
            )
            changed_text = record.content != old.content
            sets = ", ".join(f"{c.strip()} = %s" for c in _COLUMNS.split(","))
            params = [*record_params(record), content_hash(record.content), _episode(record),
                      _doc_len(record.content)]
            sql = f"UPDATE memories SET {sets}, content_hash = %s, episode = %s, doc_len = %s"
            if changed_text:
                sql += ", embedding = %s"
                params.append(self._embed([record.content])[0])
            conn.execute(sql + " WHERE id = %s", [*params, record.id])
            if changed_text and record.kind is MemoryKind.SEMANTIC:
                pg_graph.index_mentions(conn, [(row[0], ns_key(record.namespace), record.content)])
        return record

    def _delete(self, ids: Sequence[str]) -> int:
        with self._store.writing() as conn:
            count = conn.execute("DELETE FROM memories WHERE id = ANY(%s)", (list(ids),)).rowcount
            conn.execute("DELETE FROM history WHERE id = ANY(%s)", (list(ids),))
            conn.execute("DELETE FROM relations WHERE memory_id = ANY(%s)", (list(ids),))
        return int(count)

    def _history(self, memory_id: str) -> list[MemoryRecord]:
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT record FROM history WHERE id = %s ORDER BY version", (memory_id,)
            ).fetchall()
        return [MemoryRecord.from_dict(json.loads(r[0])) for r in rows]

    def _purge(self, now: datetime, namespace_prefix: Namespace) -> int:
        cond, params = ns_cond(namespace_prefix)
        with self._store.writing() as conn:
            ids = [r[0] for r in conn.execute(
                f"SELECT id FROM memories WHERE expires_at IS NOT NULL AND expires_at <= %s AND {cond}",
                [now, *params],
            )]
            if not ids:
                return 0
            conn.execute("DELETE FROM history WHERE id = ANY(%s)", (ids,))
            conn.execute("DELETE FROM relations WHERE memory_id = ANY(%s)", (ids,))
            return int(conn.execute("DELETE FROM memories WHERE id = ANY(%s)", (ids,)).rowcount)

    def _owners(self, ids: Sequence[str]) -> dict[str, Namespace]:
        """Namespaces of stored records among ``ids``, expired ones included."""
        with self._store.reading() as conn:
            rows = conn.execute("SELECT id, ns FROM memories WHERE id = ANY(%s)", (list(ids),)).fetchall()
        return {i: ns_tuple(ns) for i, ns in rows}

    def _erase(self, namespace_prefix: Namespace) -> int:
        cond, params = ns_cond(namespace_prefix)
        owned = f"SELECT id FROM memories WHERE {cond}"
        with self._store.writing() as conn:
            conn.execute(f"DELETE FROM history WHERE id IN ({owned})", params)
            conn.execute(f"DELETE FROM relations WHERE {cond} OR memory_id IN ({owned})", [*params, *params])
            count = int(conn.execute(f"DELETE FROM memories WHERE {cond}", params).rowcount)
            conn.execute(f"DELETE FROM entities WHERE {cond}", params)  # mentions go with them
        self.vacuum()
        return count

    def vacuum(self) -> None:
        """``VACUUM`` the store's tables: remove deleted rows and their index entries, so
        their bytes are no longer reachable through the tables (PostgreSQL reuses the
        freed space; ``VACUUM FULL`` by an administrator rewrites the files). :meth:`erase`
        calls it; after :meth:`delete` or :meth:`purge` autovacuum does it in time."""
        with self._store.reading() as conn:
            if conn.info.transaction_status != 0:  # inside a transaction: leave it to autovacuum
                return
            for table in ("memories", "history", "mentions", "entities", "relations"):
                conn.execute(f"VACUUM {table}")

    def _namespaces(self, prefix: Namespace) -> list[Namespace]:
        cond, params = ns_cond(prefix)
        with self._store.reading() as conn:
            rows = conn.execute(
                f"SELECT DISTINCT ns FROM memories WHERE {cond} AND (expires_at IS NULL OR expires_at > %s)",
                [*params, self.now()],
            ).fetchall()
        return sorted(ns_tuple(r[0]) for r in rows)

    def _count(self, prefix: Namespace) -> int:
        cond, params = ns_cond(prefix)
        with self._store.reading() as conn:
            return int(conn.execute(
                f"SELECT count(*) FROM memories WHERE {cond} AND (expires_at IS NULL OR expires_at > %s)",
                [*params, self.now()],
            ).fetchone()[0])

    def _close(self) -> None:
        with self._store.lock:
            if not self._store.closed:
                self._store.apool.close_soon()
                self._store.close()

    def _import_records(
        self,
        records_: Sequence[MemoryRecord],
        *,
        on_progress: Callable[[int, int], None] | None,
        batch_size: int,
    ) -> None:
        """Store imported records in ONE transaction, reporting progress after each batch."""
        total = len(records_)
        step = max(1, batch_size)
        with self._store.writing() as conn:
            for done in range(0, total, step):
                batch = records_[done : done + step]
                self._insert(conn, batch, self._embed([r.content for r in batch]), dedup=False)
                if on_progress is not None:
                    on_progress(done + len(batch), total)
        if on_progress is not None and total == 0:
            on_progress(0, 0)

    # -- search ---------------------------------------------------------------------------

    def search(  # type: ignore[override]
        self,
        query: str | None = None,
        *,
        graph_hops: int | None = None,
        ranking: RankingConfig | None = None,
        **kwargs: Any,
    ) -> list[ScoredMemory]:
        """Hybrid search (see :meth:`BaseMemoryAdapter.search`), with the native options
        ``graph_hops`` and ``ranking``."""
        if graph_hops is None and ranking is None:
            return super().search(query, **kwargs)
        config = ranking or self.ranking
        if graph_hops is not None:
            if isinstance(graph_hops, bool) or not isinstance(graph_hops, int) or graph_hops < 0:
                raise UsageError(f"graph_hops is a non-negative integer, got {graph_hops!r}")
            config = replace(config, graph_hops=graph_hops)
        tuned = copy.copy(self)
        tuned.ranking = config
        return BaseMemoryAdapter.search(tuned, query, **kwargs)

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

    # -- graph API ------------------------------------------------------------------------

    def add_relation(
        self,
        subject: str,
        predicate: str,
        object: str,
        *,
        namespace: Sequence[str],
        memory_id: str | None = None,
    ) -> Relation:
        """Record ``subject -predicate-> object`` in ``namespace`` (relative to the scope)."""
        self.require(Capability.GRAPH)
        for label, value in (("subject", subject), ("predicate", predicate), ("object", object)):
            if not isinstance(value, str) or not value.strip():
                raise UsageError(f"a relation's {label} is a non-empty string, got {value!r}")
        ns = self._abs(namespace, allow_empty=False)
        if memory_id is not None:
            self._get_abs(memory_id)
        key = ns_key(ns)
        with self._store.writing() as conn:
            eids = {name: pg_graph.ensure_entity(conn, key, name)
                    for name in sorted({subject, object}, key=normalize_entity)}
            s, o = eids[subject], eids[object]
            conn.execute(
                """INSERT INTO relations (ns, subject, predicate, object, memory_id, created_at)
                   VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (ns, subject, predicate, object)
                   DO UPDATE SET memory_id = coalesce(excluded.memory_id, relations.memory_id)""",
                (key, s, predicate.strip(), o, memory_id, self.now()),
            )
        return Relation(subject=subject.strip(), predicate=predicate.strip(), object=object.strip(),
                        namespace=ns[len(self._scope):], memory_id=memory_id)

    def relations(self, entity: str, *, namespace: Sequence[str] = (), hops: int = 1) -> list[Relation]:
        """Relations within ``hops`` relation edges of ``entity``, under ``namespace``."""
        self.require(Capability.GRAPH)
        if isinstance(hops, bool) or not isinstance(hops, int) or hops < 1:
            raise UsageError(f"hops is a positive integer, got {hops!r}")
        if not isinstance(entity, str) or not entity.strip():
            raise UsageError(f"an entity is a non-empty string, got {entity!r}")
        with self._store.reading() as conn:
            found = pg_graph.relations_near(conn, entity, self._abs(namespace), hops)
        n = len(self._scope)
        return [replace(r, namespace=r.namespace[n:]) for r in found]

    def export_relations(self, namespace: Sequence[str] = ()) -> list[Relation]:
        """Every relation under ``namespace``, oldest first (for copying a store)."""
        self.require(Capability.GRAPH)
        cond, params = ns_cond(self._abs(namespace), "r.ns")
        with self._store.reading() as conn:
            rows = conn.execute(
                f"""SELECT s.name, r.predicate, o.name, r.ns, r.memory_id FROM relations r
                    JOIN entities s ON s.eid = r.subject JOIN entities o ON o.eid = r.object
                    WHERE {cond} ORDER BY r.rid""",
                params,
            ).fetchall()
        n = len(self._scope)
        return [Relation(subject=s, predicate=p, object=o, namespace=ns_tuple(ns)[n:], memory_id=m)
                for s, p, o, ns, m in rows]

    def import_history(self, versions: Sequence[MemoryRecord]) -> int:
        """Store earlier versions of memories (namespaces relative to the scope), replacing
        any stored under the same id and version; return how many."""
        self.require(Capability.HISTORY)
        if not versions:
            return 0
        with self._store.writing() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO history (id, version, record) VALUES (%s, %s, %s) "
                "ON CONFLICT (id, version) DO UPDATE SET record = excluded.record",
                [(v.id, v.version, json.dumps(replace(v, namespace=self._scope + v.namespace).to_dict(),
                                              ensure_ascii=False)) for v in versions],
            )
        return len(versions)

    def entities(self, memory_id: str) -> list[str]:
        """The entity names linked to a memory."""
        self.require(Capability.GRAPH)
        record = self._get_abs(memory_id)
        with self._store.reading() as conn:
            rows = conn.execute(
                """SELECT e.name FROM mentions x JOIN entities e ON e.eid = x.eid
                   JOIN memories m ON m.rowid = x.memory WHERE m.id = %s ORDER BY e.name""",
                (record.id,),
            ).fetchall()
        return [r[0] for r in rows]

    def related(self, memory_id: str, *, hops: int = 1, limit: int = 10) -> list[ScoredMemory]:
        """Memories linked to ``memory_id`` through the entity graph, nearest first."""
        self.require(Capability.GRAPH)
        if isinstance(hops, bool) or not isinstance(hops, int) or hops < 1:
            raise UsageError(f"hops is a positive integer, got {hops!r}")
        record = self._get_abs(memory_id)
        query = SearchQuery(namespace_prefix=self._scope, limit=limit, now=self.now())
        with self._store.reading() as conn:
            rowid = conn.execute("SELECT rowid FROM memories WHERE id = %s", (record.id,)).fetchone()[0]
            reached = memory_hops(pg_graph.build_graph(conn, self._scope), [rowid], hops)
            rows = records(conn, list(reached))
        hits = []
        for target, (distance, _source) in reached.items():
            rec = rows.get(target)
            if rec is None or not query.accepts(rec):
                continue
            score = self.ranking.graph_decay ** (distance - 1)
            reason = ScoreReason(signal="graph", value=float(distance), contribution=score,
                                 detail=f"{distance} hop(s) from {record.id}")
            hits.append(ScoredMemory(record=self._rel(rec), score=score, reasons=(reason,)))
        hits.sort(key=lambda h: (-h.score, h.record.id))
        return hits[:limit]

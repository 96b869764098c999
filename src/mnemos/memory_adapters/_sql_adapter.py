"""The part of the native and PostgreSQL adapters written once: an SQL store base class.

:class:`SqlMemoryAdapter` implements the memory contract's storage core
(get, delete, history, purge, erase, namespaces, count, import), the graph API
(relations, entities, related memories, export and import of relations and
history) and :meth:`~SqlMemoryAdapter.stats` over the tables both stores share,
in the SQL both speak. A backend supplies its :class:`SqlDialect` and a few
methods, the way LangGraph's ``BaseStore`` builds every operation on ``batch``:

- ``_reading()`` / ``_writing()``: a connection, and one write transaction
  (nested uses join the outer one);
- ``_embed(texts)`` and ``_insert(conn, records, vectors, dedup=...)``: the
  write path, with the backend's vector storage;
- ``_update(record)`` and ``_search(query)``: as in ``BaseMemoryAdapter``;
- ``_entity_graph(conn, prefix)``: the mention/relation graph (cached or not);
- ``_after_erase()`` and ``_storage_stats(conn, meta)``: what erasure leaves to
  clean up, and what the store says about its files or schema.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

import networkx as nx

from mnemos.exceptions import UsageError
from mnemos.memory_adapters._graph import Relation, ensure_entity, memory_hops
from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._native_schema import ns_key, ns_tuple
from mnemos.memory_adapters._ranking import RankingConfig
from mnemos.memory_adapters._sql_dialect import (
    SqlDialect,
    fetch_records,
    relations_near,
    save_versions,
)
from mnemos.memory_adapters._text import normalize_entity
from mnemos.memory_adapters.base import (
    BaseMemoryAdapter,
    Capability,
    MemoryKind,
    MemoryRecord,
    ScoredMemory,
    ScoreReason,
    SearchQuery,
)

__all__ = ["SqlMemoryAdapter"]


class SqlMemoryAdapter(BaseMemoryAdapter):
    """The shared body of the SQL stores; a backend fills in the hooks listed above."""

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
    """Both SQL stores can do everything the contract names."""
    dialect: ClassVar[SqlDialect]
    schema_version: ClassVar[int]
    """The schema version ``stats()`` reports when the store records none."""
    ranking: RankingConfig

    # -- the hooks a backend implements --------------------------------------------------

    def _reading(self) -> AbstractContextManager[Any]:
        """A connection to read on (this thread's open write transaction, if any)."""
        raise NotImplementedError

    def _writing(self) -> AbstractContextManager[Any]:
        """One write transaction; nested uses join the outer one."""
        raise NotImplementedError

    def _embed(self, texts: Sequence[str]) -> Any:
        """The stored form of the embeddings of ``texts``: a sequence, one per text."""
        raise NotImplementedError

    def _insert(
        self, conn: Any, records: Sequence[MemoryRecord], vectors: Any, *, dedup: bool
    ) -> list[MemoryRecord]:
        """Store ``records`` with their ``vectors`` inside the open write transaction."""
        raise NotImplementedError

    def _entity_graph(self, conn: Any, prefix: Namespace) -> nx.Graph:
        """The mention/relation graph under ``prefix`` (see ``_graph``)."""
        raise NotImplementedError

    def _after_erase(self) -> None:
        """Make erased rows unreachable in the storage files (after :meth:`erase`)."""

    def _storage_stats(self, conn: Any, meta: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The entries :meth:`stats` puts before the counts (``adapter`` first) and
        after the embedder."""
        raise NotImplementedError

    # -- the abstract core -----------------------------------------------------------------

    def _add(self, records: Sequence[MemoryRecord], *, dedup: bool) -> list[MemoryRecord]:
        vectors = self._embed([r.content for r in records])
        with self._writing() as conn:
            return self._insert(conn, records, vectors, dedup=dedup)

    def _get(self, ids: Sequence[str]) -> list[MemoryRecord | None]:
        now = self.now()
        with self._reading() as conn:
            rows = fetch_records(conn, self.dialect, "m.id", list(ids))
        found = {r.id: r for _, r in rows if not r.is_expired(now)}
        return [found.get(i) for i in ids]

    def _owners(self, ids: Sequence[str]) -> dict[str, Namespace]:
        """Namespaces of stored records among ``ids``, expired ones included."""
        out: dict[str, Namespace] = {}
        with self._reading() as conn:
            for cond, params in self.dialect.id_in("id", list(ids)):
                rows = conn.execute(f"SELECT id, ns FROM memories WHERE {cond}", params).fetchall()
                out.update((i, ns_tuple(ns)) for i, ns in rows)
        return out

    def _delete(self, ids: Sequence[str]) -> int:
        count = 0
        with self._writing() as conn:
            d = self.dialect
            for batch in d.batches(list(ids)):
                cond, params = d.in_cond("id", batch)
                d.lock_items(conn, cond, params)
                count += conn.execute(f"DELETE FROM memories WHERE {cond}", params).rowcount
                conn.execute(f"DELETE FROM history WHERE {cond}", params)
                conn.execute(f"DELETE FROM relations WHERE {d.in_cond('memory_id', batch)[0]}", params)
        return int(count)

    def _history(self, memory_id: str) -> list[MemoryRecord]:
        with self._reading() as conn:
            rows = conn.execute(
                self.dialect.sql("SELECT record FROM history WHERE id = ? ORDER BY version"), (memory_id,)
            ).fetchall()
        return [MemoryRecord.from_dict(json.loads(r[0])) for r in rows]

    def _purge(self, now: datetime, namespace_prefix: Namespace) -> int:
        d = self.dialect
        cond, params = d.ns_cond(namespace_prefix, "ns")
        where = f"expires_at IS NOT NULL AND expires_at <= {d.mark} AND {cond}"
        args = [d.encode_time(now), *params]
        with self._writing() as conn:
            for table, column in (("history", "id"), ("relations", "memory_id")):
                conn.execute(f"DELETE FROM {table} WHERE {column} IN (SELECT id FROM memories WHERE {where})", args)
            d.lock_items(conn, where, args)
            return int(conn.execute(f"DELETE FROM memories WHERE {where}", args).rowcount)

    def _erase(self, namespace_prefix: Namespace) -> int:
        cond, params = self.dialect.ns_cond(namespace_prefix, "ns")
        owned = f"SELECT id FROM memories WHERE {cond}"
        with self._writing() as conn:
            conn.execute(f"DELETE FROM history WHERE id IN ({owned})", params)
            conn.execute(f"DELETE FROM relations WHERE {cond} OR memory_id IN ({owned})", [*params, *params])
            self.dialect.lock_items(conn, cond, params)
            count = int(conn.execute(f"DELETE FROM memories WHERE {cond}", params).rowcount)
            conn.execute(f"DELETE FROM mentions WHERE eid IN (SELECT eid FROM entities WHERE {cond})", params)
            conn.execute(f"DELETE FROM entities WHERE {cond}", params)
        self._after_erase()
        return count

    def _live(self, prefix: Namespace) -> tuple[str, list[Any]]:
        """Condition and params: namespaces under ``prefix``, not expired now."""
        d = self.dialect
        cond, params = d.ns_cond(prefix, "ns")
        return f"{cond} AND (expires_at IS NULL OR expires_at > {d.mark})", [*params, d.encode_time(self.now())]

    def _namespaces(self, prefix: Namespace) -> list[Namespace]:
        live, params = self._live(prefix)
        with self._reading() as conn:
            rows = conn.execute(f"SELECT DISTINCT ns FROM memories WHERE {live}", params).fetchall()
        return sorted(ns_tuple(r[0]) for r in rows)

    def _count(self, prefix: Namespace) -> int:
        live, params = self._live(prefix)
        with self._reading() as conn:
            return int(conn.execute(f"SELECT count(*) FROM memories WHERE {live}", params).fetchone()[0])

    def _import_records(
        self,
        records: Sequence[MemoryRecord],
        *,
        on_progress: Callable[[int, int], None] | None,
        batch_size: int,
    ) -> None:
        """Store imported records in ONE transaction, reporting progress after each batch."""
        total = len(records)
        step = max(1, batch_size)
        with self._writing() as conn:
            for done in range(0, total, step):
                batch = records[done : done + step]
                self._insert(conn, batch, self._embed([r.content for r in batch]), dedup=False)
                if on_progress is not None:
                    on_progress(done + len(batch), total)
        if on_progress is not None and total == 0:
            on_progress(0, 0)

    # -- search options --------------------------------------------------------------------

    def search(  # type: ignore[override]
        self,
        query: str | None = None,
        *,
        graph_hops: int | None = None,
        ranking: RankingConfig | None = None,
        **kwargs: Any,
    ) -> list[ScoredMemory]:
        """Hybrid search (see :meth:`BaseMemoryAdapter.search`), plus two options.

        ``graph_hops`` pulls in memories linked to the best hits through the
        entity graph (1: they name the same entity; 2: one relation further...).
        ``ranking`` overrides this adapter's :class:`RankingConfig` for one call.
        """
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

    # -- graph API -------------------------------------------------------------------------

    def add_relation(
        self,
        subject: str,
        predicate: str,
        object: str,
        *,
        namespace: Sequence[str],
        memory_id: str | None = None,
    ) -> Relation:
        """Record ``subject -predicate-> object`` in ``namespace`` (relative to the scope).

        ``memory_id`` names the memory the relation came from (it must be in scope);
        the relation is removed when that memory is deleted.
        """
        self.require(Capability.GRAPH)
        for label, value in (("subject", subject), ("predicate", predicate), ("object", object)):
            if not isinstance(value, str) or not value.strip():
                raise UsageError(f"a relation's {label} is a non-empty string, got {value!r}")
        ns = self._abs(namespace, allow_empty=False)
        if memory_id is not None:
            self._get_abs(memory_id)
        key = ns_key(ns)
        d = self.dialect
        with self._writing() as conn:
            # entities are created in one global order, so concurrent writers never wait in a cycle
            eids = {name: ensure_entity(conn, key, name, mark=d.mark)
                    for name in sorted({subject, object}, key=normalize_entity)}
            conn.execute(
                d.sql("""INSERT INTO relations (ns, subject, predicate, object, memory_id, created_at)
                   VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ns, subject, predicate, object)
                   DO UPDATE SET memory_id = coalesce(excluded.memory_id, relations.memory_id)"""),
                (key, eids[subject], predicate.strip(), eids[object], memory_id, d.encode_time(self.now())),
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
        prefix = self._abs(namespace)
        with self._reading() as conn:
            found = relations_near(conn, self.dialect, entity, prefix, hops)
        n = len(self._scope)
        return [replace(r, namespace=r.namespace[n:]) for r in found]

    def export_relations(self, namespace: Sequence[str] = ()) -> list[Relation]:
        """Every relation under ``namespace``, oldest first (for copying a store)."""
        self.require(Capability.GRAPH)
        cond, params = self.dialect.ns_cond(self._abs(namespace), "r.ns")
        with self._reading() as conn:
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
        with self._writing() as conn:
            save_versions(conn, self.dialect, [replace(v, namespace=self._scope + v.namespace) for v in versions])
        return len(versions)

    def entities(self, memory_id: str) -> list[str]:
        """The entity names linked to a memory."""
        self.require(Capability.GRAPH)
        record = self._get_abs(memory_id)
        with self._reading() as conn:
            rows = conn.execute(
                self.dialect.sql("""SELECT e.name FROM mentions x JOIN entities e ON e.eid = x.eid
                   JOIN memories m ON m.rowid = x.memory WHERE m.id = ? ORDER BY e.name"""),
                (record.id,),
            ).fetchall()
        return [r[0] for r in rows]

    def related(self, memory_id: str, *, hops: int = 1, limit: int = 10) -> list[ScoredMemory]:
        """Memories linked to ``memory_id`` through the entity graph, nearest first.

        The score is ``graph_decay ** (hops - 1)``; the reason says how many hops.
        """
        self.require(Capability.GRAPH)
        if isinstance(hops, bool) or not isinstance(hops, int) or hops < 1:
            raise UsageError(f"hops is a positive integer, got {hops!r}")
        record = self._get_abs(memory_id)
        query = SearchQuery(namespace_prefix=self._scope, limit=limit, now=self.now())
        with self._reading() as conn:
            rowid = conn.execute(self.dialect.sql("SELECT rowid FROM memories WHERE id = ?"), (record.id,)).fetchone()[0]
            reached = memory_hops(self._entity_graph(conn, self._scope), [rowid], hops)
            rows = dict(fetch_records(conn, self.dialect, "m.rowid", list(reached)))
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

    # -- statistics ------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts by kind and namespace (live records in scope), what the store says about
        its storage (file or schema sizes), embedder and schema version."""
        d = self.dialect
        cond, params = d.ns_cond(self._scope, "ns")
        live, live_params = self._live(self._scope)
        now = live_params[-1]
        with self._reading() as conn:
            by_kind = dict(conn.execute(
                f"SELECT kind, count(*) FROM memories WHERE {live} GROUP BY kind", live_params
            ).fetchall())
            by_ns = conn.execute(
                f"SELECT ns, count(*) FROM memories WHERE {live} GROUP BY ns ORDER BY ns", live_params
            ).fetchall()
            superseded = conn.execute(
                f"SELECT count(*) FROM memories WHERE {live} AND valid_to IS NOT NULL", live_params
            ).fetchone()[0]
            expired = conn.execute(
                f"SELECT count(*) FROM memories WHERE {cond} AND expires_at <= {d.mark}", [*params, now]
            ).fetchone()[0]
            entities = conn.execute(f"SELECT count(*) FROM entities WHERE {cond}", params).fetchone()[0]
            relations = conn.execute(f"SELECT count(*) FROM relations WHERE {cond}", params).fetchone()[0]
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            head, tail = self._storage_stats(conn, meta)
        n = len(self._scope)
        return {
            **head,
            "total": sum(by_kind.values()),
            "by_kind": {k.value: int(by_kind.get(k.value, 0)) for k in MemoryKind},
            "by_namespace": {"/".join(ns_tuple(k)[n:]) or "/": int(c) for k, c in by_ns},
            "superseded": int(superseded),
            "expired_pending_purge": int(expired),
            "entities": int(entities),
            "relations": int(relations),
            "embedder": meta.get("embedder"),
            "embedder_dims": int(meta["embedder_dims"]) if "embedder_dims" in meta else None,
            **tail,
            "schema_version": int(meta.get("schema_version", self.schema_version)),
        }

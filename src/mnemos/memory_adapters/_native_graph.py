"""The native adapter's entity graph and history API, on the adapter's connection.

:class:`NativeGraphMethods` is the part of
:class:`~mnemos.memory_adapters.native.NativeMemoryAdapter` that records relations,
walks the entity graph and imports earlier versions; the adapter supplies the
connection (``_locked``/``_writing``), the shared store state and the ranking.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace

from mnemos.exceptions import UsageError
from mnemos.memory_adapters import _graph
from mnemos.memory_adapters._graph import Relation
from mnemos.memory_adapters._native_schema import ns_key, ns_range, ns_tuple, to_micros
from mnemos.memory_adapters._native_store import Store, chunks, graph_for, marks, records
from mnemos.memory_adapters._ranking import RankingConfig
from mnemos.memory_adapters.base import (
    BaseMemoryAdapter,
    Capability,
    MemoryRecord,
    ScoredMemory,
    ScoreReason,
    SearchQuery,
)

__all__ = ["NativeGraphMethods"]


class NativeGraphMethods(BaseMemoryAdapter):
    """Relations, entities, graph neighbours and history import of a native store."""

    _store: Store
    ranking: RankingConfig

    def _locked(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _writing(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    @staticmethod
    def _rowids(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in chunks(ids):
            out.update(
                conn.execute(f"SELECT id, rowid FROM memories WHERE id IN ({marks(len(chunk))})", list(chunk))
            )
        return out

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
        with self._writing() as conn:
            s = _graph.ensure_entity(conn, key, subject)
            o = _graph.ensure_entity(conn, key, object)
            conn.execute(
                """INSERT INTO relations (ns, subject, predicate, object, memory_id, created_at)
                   VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ns, subject, predicate, object)
                   DO UPDATE SET memory_id = coalesce(excluded.memory_id, memory_id)""",
                (key, s, predicate.strip(), o, memory_id, to_micros(self.now())),
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
        with self._locked() as conn:
            found = _graph.relations_near(conn, entity, prefix, hops)
        n = len(self._scope)
        return [replace(r, namespace=r.namespace[n:]) for r in found]

    def export_relations(self, namespace: Sequence[str] = ()) -> list[Relation]:
        """Every relation under ``namespace``, oldest first (for copying a store)."""
        self.require(Capability.GRAPH)
        cond, params = ns_range(self._abs(namespace), "r.ns")
        with self._locked() as conn:
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
        with self._writing() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO history (id, version, record) VALUES (?, ?, ?)",
                [(v.id, v.version, json.dumps(replace(v, namespace=self._scope + v.namespace).to_dict(),
                                              ensure_ascii=False)) for v in versions],
            )
        return len(versions)

    def entities(self, memory_id: str) -> list[str]:
        """The entity names linked to a memory."""
        self.require(Capability.GRAPH)
        record = self._get_abs(memory_id)
        with self._locked() as conn:
            rows = conn.execute(
                """SELECT e.name FROM mentions x JOIN entities e ON e.eid = x.eid
                   JOIN memories m ON m.rowid = x.memory WHERE m.id = ? ORDER BY e.name""",
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
        with self._locked() as conn:
            rowid = self._rowids(conn, [record.id])[record.id]
            reached = _graph.memory_hops(graph_for(self._store, self._scope), [rowid], hops)
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

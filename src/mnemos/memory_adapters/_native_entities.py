"""The native adapter's side of the typed entity graph (``_episodic_graph``): reading a scope's rows."""

from __future__ import annotations

from collections.abc import Iterable

from mnemos.memory_adapters import _episodic_graph
from mnemos.memory_adapters._native_schema import ns_range
from mnemos.memory_adapters._native_store import CHUNK, Store, marks
from mnemos.memory_adapters.base import SearchQuery

__all__ = ["entity_gains"]


def entity_gains(
    store: Store, query: SearchQuery, weight: float, keep: Iterable[int]
) -> dict[int, tuple[str, float]]:
    """What the second round through the typed entity graph gives the memories of the
    query's scope: rowid -> (item, gain) (call with the store's lock held).

    The graph is kept per scope and brought up to date after the store changed: the
    versions of the scope's memories are read, and only new or changed ones again.
    """
    if weight <= 0 or not _episodic_graph.question_types(query.text):
        return {}
    prefix = query.namespace_prefix
    index = _episodic_graph.scope_index(store, prefix)
    stamp = (store.conn.execute("PRAGMA data_version").fetchone()[0], store.own_writes)
    if index.stamp != stamp:
        cond, params = ns_range(prefix)
        stale = index.stale(store.conn.execute(f"SELECT rowid, version FROM memories WHERE {cond}", params))
        rows = []
        for start in range(0, len(stale), CHUNK):
            part = stale[start : start + CHUNK]
            rows += store.conn.execute(
                "SELECT rowid, version, content, provenance, metadata FROM memories "
                f"WHERE rowid IN ({marks(len(part))}) ORDER BY rowid",
                part,
            ).fetchall()
        index.refresh(rows, stamp)
    return _episodic_graph.entity_gains(query.text, index, weight, keep)

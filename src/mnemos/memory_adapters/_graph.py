"""The native adapter's entity/relation graph, traversed with networkx.

Entities live per namespace (``entities``); a memory that names one is linked
to it (``mentions``); ``relations`` hold ``subject -predicate-> object``
triples. For traversal the store under a namespace prefix becomes one
undirected networkx graph with memory nodes ``("m", rowid)`` and entity nodes
``("e", eid)``: memory-entity edges for mentions, entity-entity edges for
relations. Two memories naming the same entity are one *hop* apart; one more
hop crosses a relation or a memory that names both entities.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._native_schema import ns_range, ns_tuple
from mnemos.memory_adapters._text import extract_entities, normalize_entity

__all__ = [
    "Relation",
    "build_graph",
    "ensure_entity",
    "index_mentions",
    "memory_hops",
    "relations_within",
]


@dataclass(kw_only=True, frozen=True)
class Relation:
    """A ``subject -predicate-> object`` triple in a namespace (absolute inside the adapter)."""

    subject: str
    predicate: str
    object: str
    namespace: Namespace
    memory_id: str | None = None


def ensure_entity(conn: Any, ns: str, name: str, *, mark: str = "?") -> int:
    """The id of entity ``name`` in namespace key ``ns``, creating it if needed
    (``mark``: the connection's placeholder, ``?`` or ``%s``)."""
    key = normalize_entity(name)
    conn.execute(
        f"INSERT INTO entities (ns, key, name) VALUES ({mark}, {mark}, {mark}) ON CONFLICT (ns, key) DO NOTHING",
        (ns, key, name.strip()),
    )
    row = conn.execute(f"SELECT eid FROM entities WHERE ns = {mark} AND key = {mark}", (ns, key)).fetchone()
    return int(row[0])


def index_mentions(conn: sqlite3.Connection, items: Iterable[tuple[int, str, str]]) -> None:
    """Link memories ``(rowid, ns, content)`` to the entities their text names (inside a transaction)."""
    for rowid, ns, content in items:
        conn.execute("DELETE FROM mentions WHERE memory = ?", (rowid,))
        for name in extract_entities(content):
            eid = ensure_entity(conn, ns, name)
            conn.execute("INSERT OR IGNORE INTO mentions (memory, eid) VALUES (?, ?)", (rowid, eid))


def build_graph(conn: sqlite3.Connection, prefix: Namespace) -> nx.Graph:
    """The mention/relation graph of every memory and entity under ``prefix``."""
    graph = nx.Graph()
    cond, params = ns_range(prefix, "m.ns")
    graph.add_edges_from(
        (("m", rowid), ("e", eid))
        for rowid, eid in conn.execute(
            f"SELECT x.memory, x.eid FROM mentions x JOIN memories m ON m.rowid = x.memory WHERE {cond}",
            params,
        )
    )
    cond, params = ns_range(prefix)
    graph.add_edges_from(
        (("e", s), ("e", o), {"predicate": p})
        for s, p, o in conn.execute(f"SELECT subject, predicate, object FROM relations WHERE {cond}", params)
    )
    return graph


def memory_hops(graph: nx.Graph, seeds: Sequence[int], hops: int) -> dict[int, tuple[int, int]]:
    """Memories within ``hops`` of the seed memories: ``rowid -> (hops, nearest seed)``."""
    found: dict[int, tuple[int, int]] = {}
    for seed in seeds:
        node = ("m", seed)
        if node not in graph:
            continue
        lengths = nx.single_source_shortest_path_length(graph, node, cutoff=2 * hops)
        for (kind, ident), length in lengths.items():
            if kind != "m" or ident == seed:
                continue
            distance = (length + 1) // 2
            if ident not in found or distance < found[ident][0]:
                found[ident] = (distance, seed)
    return found


def relations_within(
    rows: Sequence[Sequence[Any]], starts: Iterable[int], hops: int
) -> list[Relation]:
    """The relation ``rows`` (subject eid, predicate, object eid, ns key, memory id,
    subject name, object name; in creation order) on paths of at most ``hops``
    relation edges from the entities ``starts``."""
    graph = nx.MultiGraph()
    for i, (s, _p, o, *_rest) in enumerate(rows):
        graph.add_edge(s, o, key=i)
    begin = [e for e in starts if e in graph]
    if not begin or hops < 1:
        return []
    reach = nx.multi_source_dijkstra_path_length(graph, begin, cutoff=hops - 1)
    out = []
    for s, p, o, ns, memory_id, s_name, o_name in rows:
        if s in reach or o in reach:
            out.append(Relation(subject=s_name, predicate=p, object=o_name,
                                namespace=ns_tuple(ns), memory_id=memory_id))
    return out

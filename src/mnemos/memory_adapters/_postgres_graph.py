"""The entity/relation graph in PostgreSQL: the native graph's tables and traversal.

Same model as ``_graph`` (entities per namespace, mentions, relations, one
networkx graph per traversal), with the SQL in PostgreSQL's dialect.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import networkx as nx

from mnemos.memory_adapters._graph import Relation, relations_within
from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._postgres_io import Steps, fetch, run
from mnemos.memory_adapters._postgres_store import ns_cond
from mnemos.memory_adapters._text import extract_entities, normalize_entity

__all__ = ["build_graph", "ensure_entity", "graph_steps", "index_mentions", "relations_near"]


def ensure_entity(conn: Any, ns: str, name: str) -> int:
    """The id of entity ``name`` in namespace key ``ns``, creating it if needed."""
    key = normalize_entity(name)
    conn.execute(
        "INSERT INTO entities (ns, key, name) VALUES (%s, %s, %s) ON CONFLICT (ns, key) DO NOTHING",
        (ns, key, name.strip()),
    )
    row = conn.execute("SELECT eid FROM entities WHERE ns = %s AND key = %s", (ns, key)).fetchone()
    return int(row[0])


def index_mentions(conn: Any, items: Iterable[tuple[int, str, str]]) -> None:
    """Link memories ``(rowid, ns, content)`` to the entities their text names (inside a transaction).

    Entities are created in one global order, so concurrent writers never wait on
    each other in a cycle.
    """
    wanted = [(rowid, ns, extract_entities(content)) for rowid, ns, content in items]
    names: dict[tuple[str, str], str] = {}
    for _rowid, ns, found in wanted:
        for name in found:
            names.setdefault((ns, normalize_entity(name)), name)
    eid = {key: ensure_entity(conn, key[0], names[key]) for key in sorted(names)}
    for rowid, ns, found in wanted:
        conn.execute("DELETE FROM mentions WHERE memory = %s", (rowid,))
        eids = sorted({eid[(ns, normalize_entity(name))] for name in found})
        if eids:
            conn.execute(
                "INSERT INTO mentions (memory, eid) SELECT %s, unnest(%s::bigint[]) ON CONFLICT DO NOTHING",
                (rowid, eids),
            )


def graph_steps(prefix: Namespace) -> Steps[nx.Graph]:
    """The mention/relation graph of every memory and entity under ``prefix`` (steps for
    ``_postgres_io``)."""
    graph = nx.Graph()
    cond, params = ns_cond(prefix, "m.ns")
    mentions = yield from fetch(
        f"SELECT x.memory, x.eid FROM mentions x JOIN memories m ON m.rowid = x.memory WHERE {cond}", params
    )
    graph.add_edges_from((("m", rowid), ("e", eid)) for rowid, eid in mentions)
    cond, params = ns_cond(prefix)
    relations = yield from fetch(f"SELECT subject, predicate, object FROM relations WHERE {cond}", params)
    graph.add_edges_from((("e", s), ("e", o), {"predicate": p}) for s, p, o in relations)
    return graph


def build_graph(conn: Any, prefix: Namespace) -> nx.Graph:
    """The mention/relation graph of every memory and entity under ``prefix``, read on ``conn``."""
    return run(conn, graph_steps(prefix))


def relations_near(conn: Any, name: str, prefix: Namespace, hops: int) -> list[Relation]:
    """Relations on paths of at most ``hops`` relation edges from entity ``name``."""
    cond, params = ns_cond(prefix, "r.ns")
    rows = conn.execute(
        f"""SELECT r.subject, r.predicate, r.object, r.ns, r.memory_id, s.name, o.name
            FROM relations r JOIN entities s ON s.eid = r.subject JOIN entities o ON o.eid = r.object
            WHERE {cond} ORDER BY r.rid""",
        params,
    ).fetchall()
    cond, params = ns_cond(prefix)
    starts = [r[0] for r in conn.execute(
        f"SELECT eid FROM entities WHERE key = %s AND {cond}", [normalize_entity(name), *params]
    )]
    return relations_within(rows, starts, hops)

"""The entity/relation graph in PostgreSQL: the native graph's tables and traversal.

Same model as ``_graph`` (entities per namespace, mentions, relations, one
networkx graph per traversal): what PostgreSQL does its own way, indexing the
mentions of many memories at once and reading the graph as search steps. The
graph API over these tables is shared with native (``_sql_adapter``). The
second round through the typed items of the memories (``_entity_items``) is
read here as search steps.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping, Sequence
from typing import Any

import networkx as nx

from mnemos.memory_adapters._answers import answer_steps
from mnemos.memory_adapters._coverage import coverage_steps
from mnemos.memory_adapters._entity_items import entity_steps
from mnemos.memory_adapters._graph import ensure_entity
from mnemos.memory_adapters._hops import hop_steps
from mnemos.memory_adapters._lists import list_steps
from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._postgres_io import Steps, fetch, run
from mnemos.memory_adapters._postgres_store import ns_cond
from mnemos.memory_adapters._query import QueryAnalysis
from mnemos.memory_adapters._ranking import Candidate, RankingConfig
from mnemos.memory_adapters._text import extract_entities, normalize_entity

__all__ = [
    "answer_gain_steps", "build_graph", "coverage_gain_steps", "entity_gain_steps", "graph_steps", "hop_gain_steps", "index_mentions", "list_gain_steps",
]


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
    eid = {key: ensure_entity(conn, key[0], names[key], mark="%s") for key in sorted(names)}
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


def entity_gain_steps(
    text: str | None, prefix: Namespace, weight: float, keep: Iterable[int]
) -> Steps[dict[int, tuple[str, float]]]:
    """The second round through the typed entity graph (``_entity_items``), as search steps."""
    return (yield from _driven(entity_steps(text, prefix, lambda p, column: _marked(ns_cond(p, column)), weight, keep)))


def hop_gain_steps(
    text: str | None, prefix: Namespace, weight: float, seeds: Sequence[tuple[int, float]]
) -> Steps[dict[int, tuple[str, float]]]:
    """The hop round through the best hits' typed items (``_hops``), as search steps."""
    return (yield from _driven(hop_steps(text, prefix, lambda p, column: _marked(ns_cond(p, column)), weight, seeds)))


def list_gain_steps(
    text: str | None, weight: float, seeds: Sequence[tuple[int, float]]
) -> Steps[dict[int, tuple[str, float]]]:
    """The list bridge (``_lists``), as search steps."""
    return (yield from _driven(list_steps(text, weight, seeds)))


def answer_gain_steps(
    text: str | None, cands: Mapping[int, Candidate], config: RankingConfig, analysis: QueryAnalysis
) -> Steps[dict[int, tuple[str, float]]]:
    """The answering turns of a spread question (``_answers``), as search steps."""
    return (yield from _driven(answer_steps(text, cands, config, analysis)))


def coverage_gain_steps(
    cands: Mapping[int, Candidate], config: RankingConfig, analysis: QueryAnalysis
) -> Steps[dict[int, float]]:
    """Each episode's best hit of a spread question (``_coverage``), as search steps."""
    return (yield from _driven(coverage_steps(cands, config, analysis)))


def _driven(steps: Generator[tuple[str, list[Any]], list[Any], Any]) -> Steps[Any]:
    """Run steps written with ``?`` placeholders (``_entity_items``, ``_hops``, ``_lists``) as search steps."""
    try:
        sql, params = next(steps)
        while True:
            rows = yield from fetch(sql.replace("?", "%s"), params)
            sql, params = steps.send(list(rows))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _marked(cond: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    """A condition of ``ns_cond`` (``%s``) with the shared steps' ``?`` placeholders."""
    return cond[0].replace("%s", "?"), cond[1]

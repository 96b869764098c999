"""PostgreSQL search: listing, and the native hybrid ranking over full-text and pgvector.

A ranked search runs the native store's steps (see ``_native_search``) with
PostgreSQL doing the filtering:

1. the query's words become lexemes of the store's text-search configuration;
   the commonest are dropped past the posting budget, as native does (counted
   no further than that decides, see ``_postgres_terms``);
2. the keyword list is the best BM25 scores among rows matching the ``tsquery``
   (GIN index) and every filter. By default (``keyword_statistics="scope"``) its
   statistics are those of the records the search can see, as native computes
   them (idf ``ln(1 + (N - n + 0.5) / (n + 0.5))``, lengths normalised by the
   matching records' mean), so nothing another scope stores shows in scores or
   reasons; with ``"store"`` it is FTS5's formula over the whole table (idf
   ``log((N - n + 0.5) / (n + 0.5))``), computed in SQL from the ``tsvector``.
   Term frequencies for the posting budget are counted under the query's
   namespace prefix (the whole table with ``"store"``);
3. the vector list is the nearest rows by cosine (HNSW index over half-precision
   copies; pgvector's iterative scan keeps going until enough rows pass the
   filters), scored by the full-precision cosine;
4. fusion, episode neighbours, graph links, recency and importance come from
   ``_ranking``, shared with native, with the same reasons.

Every filter is SQL (namespace range, kinds, times, expiry, supersession and
metadata as jsonb); a metadata filter SQL cannot say exactly is also checked
in Python, fetching deeper until enough rows pass.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mnemos.memory_adapters import _episodic_graph
from mnemos.memory_adapters._answers import add_answers, uses_answers
from mnemos.memory_adapters._context import (
    MEMBER_LIMIT,
    add_context,
    positions_from_members,
    uses_context,
)
from mnemos.memory_adapters._coverage import add_coverage, uses_coverage
from mnemos.memory_adapters._decompose import add_sub_results, sub_queries, uses_decomposition
from mnemos.memory_adapters._episodes import (
    MEMBER_ROWS,
    WINDOW_ROWS,
    Members,
    date_windows,
    pool_seeds,
    session_gains,
    session_reason,
    uses_sessions,
    within_budget,
)
from mnemos.memory_adapters._feedback import (
    add_feedback,
    expanded_query,
    feedback_terms,
    pool,
    uses_feedback,
)
from mnemos.memory_adapters._filters import matches_filter, page_passing
from mnemos.memory_adapters._hops import hop_reason, hop_seeds, uses_hops
from mnemos.memory_adapters._lists import list_reason, list_seeds
from mnemos.memory_adapters._postgres_filters import SqlFilter, filter_sql
from mnemos.memory_adapters._postgres_graph import (
    answer_gain_steps,
    coverage_gain_steps,
    entity_gain_steps,
    graph_steps,
    hop_gain_steps,
    list_gain_steps,
)
from mnemos.memory_adapters._postgres_io import Steps, fetch
from mnemos.memory_adapters._postgres_store import (
    RECORD_COLUMNS,
    PgStore,
    record_steps,
    row_to_record,
    where,
)
from mnemos.memory_adapters._postgres_terms import (
    EXACT_BELOW,
    document_frequencies,
    lexemes,
    quote_lexeme,
    table_stats,
)
from mnemos.memory_adapters._query import QueryAnalysis, analyze, is_question, strip_exclusions
from mnemos.memory_adapters._ranking import (
    Candidate,
    RankingConfig,
    add_gains,
    fuse,
    fusion_reasons,
    graph_gains,
    graph_reason,
    kept_terms,
    neighbour_links,
    neighbour_reason,
    page,
    recency_and_importance,
    reply_gains,
    reply_reason,
    reply_seeds,
    spread,
)
from mnemos.memory_adapters._rerank import (
    Facts,
    diversified_page,
    fact_rows,
    needs_facts,
    needs_speaker,
    rerank,
    uses_query,
)
from mnemos.memory_adapters._text import query_words
from mnemos.memory_adapters.base import MemoryRecord, ScoredMemory, ScoreReason, SearchQuery

__all__ = ["listing", "ranked_search"]

# Both are step generators (see ``_postgres_io``): the sync adapter runs them on a
# pooled connection, the async twins on an ``AsyncConnection``.


class _Conditions:
    """A query's SQL conditions and how to check what SQL could not."""

    def __init__(self, query: SearchQuery) -> None:
        self.query = query
        conds, params = where(query)
        self.filter: SqlFilter = filter_sql(query.filter)
        self.sql = " AND ".join(conds + self.filter.conds)
        self.params: list[Any] = params + self.filter.params
        self.seen: dict[int, tuple[Any, float]] = {}
        """(created_at, importance) of the rows the rank lists fetched (recency and
        importance need no statement of their own)."""

    @property
    def metadata(self) -> str:
        """The column to fetch for :meth:`passes`: the metadata only if Python must check it."""
        return "NULL" if self.exact else "m.metadata"

    @property
    def exact(self) -> bool:
        return self.filter.exact

    def passes(self, metadata: str) -> bool:
        return self.exact or matches_filter(json.loads(metadata), self.query.filter)


def listing(query: SearchQuery) -> Steps[list[MemoryRecord]]:
    """Records passing ``query``, newest first, paged by its offset and limit."""
    where_ = _Conditions(query)
    sql = f"SELECT {RECORD_COLUMNS} FROM memories m WHERE {where_.sql} ORDER BY m.created_at DESC, m.id DESC"
    params = list(where_.params)
    if where_.exact:
        if query.limit is not None:
            sql += " LIMIT %s"
            params.append(query.limit)
        if query.offset:
            sql += " OFFSET %s"
            params.append(query.offset)
        return [row_to_record(r) for r in (yield from fetch(sql, params))]
    rows = yield from fetch(sql, params)
    return [row_to_record(r) for r in page_passing(rows, where_.passes, query.offset, query.limit)]


def ranked_search(
    store: PgStore, query: SearchQuery, config: RankingConfig, vector: npt.NDArray[np.float32] | None
) -> Steps[list[ScoredMemory]]:
    """Hybrid search for ``query.text`` on one connection."""
    limit = query.limit if query.limit is not None else 10
    want = max(config.candidates, limit + query.offset)
    where_ = _Conditions(query)
    analysis = analyze(query.text) if uses_query(config) else QueryAnalysis()
    text = query.text or ""
    if analysis.excluded and config.exclusion_penalty:
        text = strip_exclusions(text)
    keyword: list[tuple[int, float]] = []
    if config.mode != "vector":
        keyword = yield from _keyword_list(store, text, config, where_, want)
    vectors: list[tuple[int, float]] = []
    if vector is not None and config.mode != "keyword":
        vectors = yield from _vector_list(store, vector, where_, want)
    cands = fuse(keyword, vectors, config)
    if uses_decomposition(config):  # a question joining two facts, searched as two (``_decompose``)
        yield from _add_sub_queries(store, config, cands, where_, want, vector is not None)
    if uses_context(config) and cands:
        add_context(cands, keyword, vectors, (yield from _positions(list(cands))), config)
    if uses_feedback(config) and cands:
        yield from _add_feedback(store, config, cands, where_, want)
    if config.neighbour_weight > 0 and cands:
        yield from _add_neighbours(config, cands, where_)
    if config.reply_weight > 0 and config.neighbour_weight > 0 and cands:
        yield from _add_replies(config, cands, where_)
    if config.graph_hops > 0 and cands:
        yield from _add_graph(query, config, cands, where_)
    if config.entity_weight > 0 and cands:  # a second round through the typed entity graph
        typed = yield from entity_gain_steps(query.text, query.namespace_prefix, config.entity_weight, cands)
        yield from _admit_items(cands, where_, typed, _episodic_graph.entity_reason)
    if config.list_weight > 0 and cands:  # items of the best hits, bridged to their other holders
        listed = yield from list_gain_steps(query.text, config.list_weight, list_seeds(cands, config))
        yield from _admit_items(cands, where_, listed, list_reason)
    if uses_sessions(config) and cands:
        yield from _add_sessions(config, cands, where_, vector if config.mode != "keyword" else None)
    if cands and uses_hops(config.item_hops_weight, query.text):  # hops through the best hits' items
        hops = yield from hop_gain_steps(query.text, query.namespace_prefix, config.item_hops_weight,
                                         hop_seeds(cands, config.item_hops_seeds))
        yield from _admit_items(cands, where_, hops, hop_reason)
    cands = {rowid: cand for rowid, cand in cands.items() if cand.score > 0}
    explain = yield from _add_recency_and_importance(query, config, cands, where_)
    facts: dict[int, Facts] | None = None
    if cands and needs_facts(config, analysis):
        facts = yield from _facts(fact_rows(cands, analysis, config, query.offset + limit), needs_speaker(config, analysis))
        rerank(cands, facts, analysis, config)
    if cands and uses_answers(config, query.text, analysis):  # the named person's answering turns (``_answers``)
        add_answers(cands, (yield from answer_gain_steps(query.text, cands, config, analysis)))
    if cands and uses_coverage(config, query.text, analysis):  # each episode's best hit (``_coverage``)
        add_coverage(cands, (yield from coverage_gain_steps(cands, config, analysis)))
    if facts is not None:
        ranked = diversified_page(cands, facts, analysis, config, query.offset, limit)
    else:
        ranked = page(cands, query.offset, limit)
    for cand in ranked:
        cand.reasons[:0] = fusion_reasons(cand)
        explain(cand)
    found = yield from record_steps([c.rowid for c in ranked])
    return [
        ScoredMemory(record=found[c.rowid], score=c.score, reasons=tuple(c.reasons))
        for c in ranked
        if c.rowid in found
    ]


def _add_recency_and_importance(
    query: SearchQuery, config: RankingConfig, cands: dict[int, Candidate], where_: _Conditions
) -> Steps[Callable[[Candidate], None]]:
    rowids = list(cands)
    if not rowids or not (config.recency_weight or config.importance_weight):
        return lambda cand: None
    rows = where_.seen
    missing = [r for r in rowids if r not in rows]
    if missing:
        for r in (yield from fetch(
            "SELECT rowid, created_at, importance FROM memories WHERE rowid = ANY(%s)", (missing,)
        )):
            rows[r[0]] = (r[1], r[2])
    rowids = [r for r in rowids if r in rows]
    ages = np.asarray([(query.now - rows[r][0]).total_seconds() for r in rowids], dtype=np.float64)
    return recency_and_importance(cands, rowids, ages, [rows[r][1] for r in rowids], config)


def _facts(rowids: list[int], speaker: bool) -> Steps[dict[int, Facts]]:
    """What the text signals read of each candidate (see ``_rerank``)."""
    columns = "rowid, content, episode, created_at" + (", provenance, metadata" if speaker else "")
    out: dict[int, Facts] = {}
    for row in (yield from fetch(f"SELECT {columns} FROM memories WHERE rowid = ANY(%s)", (rowids,))):
        who = None
        if speaker:
            who = json.loads(row[4]).get("agent") or json.loads(row[5]).get("speaker")
        out[row[0]] = Facts(row[1], row[2], row[3], str(who) if who else None)
    return out


def _positions(rowids: list[int]) -> Steps[dict[int, tuple[object, int]]]:
    """Each candidate's place in its episode (see ``_context``); empty past ``MEMBER_LIMIT``."""
    rows = yield from fetch(
        "SELECT rowid, ns, episode FROM memories WHERE (ns, episode) IN "
        "(SELECT ns, episode FROM memories WHERE rowid = ANY(%s) AND episode IS NOT NULL) "
        "ORDER BY ns, episode, created_at, rowid LIMIT %s",
        (rowids, MEMBER_LIMIT + 1),
    )
    return positions_from_members(rows, rowids) if len(rows) <= MEMBER_LIMIT else {}


def _add_sub_queries(
    store: PgStore, config: RankingConfig, cands: dict[int, Candidate], where_: _Conditions, want: int, vectors: bool
) -> Steps[None]:
    """Search each sub-query of the question like the question, and fuse it in (``_decompose``)."""
    rounds = []
    for sub in sub_queries(where_.query.text):
        keyword = (yield from _keyword_list(store, sub.text, config, where_, want)) if config.mode != "vector" else []
        near: list[tuple[int, float]] = []
        if vectors and config.mode != "keyword":
            vector = np.asarray(store.embedder.embed_query(sub.text), dtype=np.float32)
            near = yield from _vector_list(store, vector, where_, want)
        rounds.append((sub, keyword, near))
    hits = [r for sub, keyword, near in rounds if sub.person for r in dict([*keyword, *near])]
    speakers = {r: f.speaker for r, f in (yield from _facts(hits, True)).items()} if hits else {}
    add_sub_results(cands, rounds, speakers, config)


def _add_feedback(
    store: PgStore, config: RankingConfig, cands: dict[int, Candidate], where_: _Conditions, want: int
) -> Steps[None]:
    """A second keyword round with the salient words of the best hits (see ``_feedback``)."""
    rowids = pool(cands, config)
    text = dict((r[0], r[1]) for r in (yield from fetch(
        "SELECT rowid, content FROM memories WHERE rowid = ANY(%s)", (rowids,)
    )))
    question = where_.query.text or ""
    terms = feedback_terms(question, [text[r] for r in rowids if r in text], config)
    if terms:
        second = yield from _keyword_list(store, expanded_query(question, terms), config, where_, want)
        add_feedback(cands, second, terms, config)


# -- the two rank lists -----------------------------------------------------------------


def _keyword_list(
    store: PgStore, text: str, config: RankingConfig, where_: _Conditions, want: int
) -> Steps[list[tuple[int, float]]]:
    words = query_words(text)
    if not words:
        return []
    found = yield from lexemes(store, words)
    if not found:
        return []
    budget = config.max_keyword_postings
    prefix = where_.query.namespace_prefix if config.keyword_statistics == "scope" else None
    table = yield from table_stats(store)
    if prefix is None:
        n, avgdl = yield from store.corpus_stats(None)
        mark = n
    else:
        mark = (yield from store.corpus_stats(prefix))[0] if table.live < EXACT_BELOW else table.changes
    docs = yield from document_frequencies(store, found, budget + 1, prefix, mark)
    if not any(0 < docs[t] <= budget for t in found) and any(docs.values()):
        # every term is past the budget: the rarest is kept if it has at most twice it
        docs = yield from document_frequencies(store, found, 2 * budget + 1, prefix, mark)
    kept = kept_terms(docs, found, budget)
    if not kept:
        return []
    if prefix is not None:
        return (yield from _keyword_list_scope(store, kept, where_, want, config))
    n = max(n, *(docs[t] for t in kept))  # the count may lag writes made since
    idf = [max(1e-6, math.log((n - docs[t] + 0.5) / (docs[t] + 0.5))) for t in kept]
    tsquery = " | ".join(quote_lexeme(t) for t in kept)
    # BM25 per row: idf · tf·(k1+1) / (tf + k1·(1 - b + b·len/avgdl)), with tf read from the
    # row's term counts at the lexeme's place in its tsvector (NULL, i.e. 0, when absent).
    k1, b = float(config.bm25_k1), float(config.bm25_b_for(store.embedder))
    norm = f"({k1!r} * ({1 - b!r} + {b!r} * m.doc_len / %s::float8))"
    terms = " + ".join(
        f"coalesce(%s::float8 * m.tf[array_position(a.lx, %s)] * {k1 + 1!r} "
        f"/ (m.tf[array_position(a.lx, %s)] + {norm}), 0)"
        for _ in kept
    )
    score_params: list[Any] = []
    for term, weight in zip(kept, idf, strict=True):
        score_params += [weight, term, term, max(avgdl, 1e-9)]
    size = 2 * want
    while True:
        rows = yield from fetch(
            f"""SELECT m.rowid, {terms} AS score, {where_.metadata}, m.created_at, m.importance FROM memories m
                CROSS JOIN LATERAL (SELECT tsvector_to_array(m.tsv) AS lx OFFSET 0) a
                WHERE m.tsv @@ %s::tsquery AND {where_.sql}
                ORDER BY score DESC, m.rowid LIMIT %s""",
            [*score_params, tsquery, *where_.params, size],
        )
        kept_rows = [(r[0], float(r[1])) for r in rows if where_.passes(r[2])]
        where_.seen.update((r[0], (r[3], r[4])) for r in rows)
        if where_.exact or len(rows) < size or len(kept_rows) >= want:
            return kept_rows[:want]
        size *= 4


def _keyword_list_scope(
    store: PgStore, kept: list[str], where_: _Conditions, want: int, config: RankingConfig
) -> Steps[list[tuple[int, float]]]:
    """BM25 with the statistics of what the query can see, as native's: every row matching
    ``kept`` (within the posting budget, so few) that passes the filters is fetched and
    scored with ``N`` the records the query's conditions but its metadata filter admit,
    ``df`` the matching rows holding each term, lengths over the matching rows' mean."""
    tfs = ", ".join("m.tf[array_position(a.lx, %s)]" for _ in kept)
    rows = [
        r for r in (yield from fetch(
            f"""SELECT m.rowid, m.doc_len, {where_.metadata}, m.created_at, m.importance, {tfs} FROM memories m
                CROSS JOIN LATERAL (SELECT tsvector_to_array(m.tsv) AS lx OFFSET 0) a
                WHERE m.tsv @@ %s::tsquery AND {where_.sql}""",
            [*kept, " | ".join(quote_lexeme(t) for t in kept), *where_.params],
        ))
        if where_.passes(r[2])
    ]
    if not rows:
        return []
    where_.seen.update((r[0], (r[3], r[4])) for r in rows)
    visible = yield from store.visible_count(where_.query)
    n = max(visible, len(rows))
    df = [sum(1 for r in rows if r[5 + i]) for i in range(len(kept))]
    idf = [math.log1p((n - d + 0.5) / (d + 0.5)) for d in df]
    mean = sum(r[1] for r in rows) / len(rows) or 1.0
    k1, b = config.bm25_k1, config.bm25_b_for(store.embedder)
    scored = []
    for r in rows:
        norm = k1 * (1 - b + b * r[1] / mean)
        score = sum(idf[i] * tf * (k1 + 1) / (tf + norm) for i, tf in enumerate(r[5:]) if tf)
        scored.append((r[0], float(score)))
    scored.sort(key=lambda x: (-x[1], x[0]))
    return scored[:want]


def _vector_list(
    store: PgStore, vector: npt.NDArray[np.float32], where_: _Conditions, want: int
) -> Steps[list[tuple[int, float]]]:
    size = want
    dims = int(store.embedder.dims)
    text = "[" + ",".join(map(repr, vector.astype(np.float32).tolist())) + "]"  # pgvector's text form
    while True:
        settings = [("hnsw.ef_search", str(min(1000, max(40, size))))]
        if store.iterative_scan:
            settings.append(("hnsw.iterative_scan", "relaxed_order"))
        rows = yield from fetch(
            f"""SELECT m.rowid, 1 - (m.embedding <=> %s::vector) AS sim, {where_.metadata}, m.created_at,
                m.importance FROM memories m
                WHERE {where_.sql} ORDER BY m.embedding::halfvec({dims}) <=> %s::halfvec({dims}) LIMIT %s""",
            [text, *where_.params, text, size],
            tuple(settings),
        )
        # the index orders by half-precision distance, relaxed_order may return near-ties
        # out of order: sort exactly by the full-precision similarity
        # a zero vector has no direction (NaN in pgvector): similarity 0, as native
        pairs = ((r[0], float(r[1]) if r[1] == r[1] else 0.0) for r in rows if where_.passes(r[2]))
        kept = sorted(pairs, key=lambda x: (-x[1], x[0]))
        where_.seen.update((r[0], (r[3], r[4])) for r in rows)
        if where_.exact or len(rows) < size or len(kept) >= want:
            return kept[:want]
        size *= 4


# -- signals that pull in more records -------------------------------------------------------


def _admit(
    cands: dict[int, Candidate],
    where_: _Conditions,
    gains: Mapping[int, tuple[int, float]],
    reason: Callable[[int, int, float], ScoreReason],
) -> Steps[None]:
    """Add score ``gains`` (target -> (source, value)) to candidates, admitting new ones
    only if they pass the query's filters."""
    new = [t for t in gains if t not in cands]
    allowed: set[int] = set()
    if new:
        rows = yield from fetch(
            f"SELECT m.rowid, m.metadata, m.created_at, m.importance FROM memories m "
            f"WHERE m.rowid = ANY(%s) AND {where_.sql}",
            [new, *where_.params],
        )
        allowed = {r[0] for r in rows if where_.passes(r[1])}
        where_.seen.update((r[0], (r[2], r[3])) for r in rows)
    add_gains(cands, gains, allowed, reason)


def _add_neighbours(config: RankingConfig, cands: dict[int, Candidate], where_: _Conditions) -> Steps[None]:
    """Give the events next to the best hits, in the same episode, a share of their score."""
    seeds = [c.rowid for c in sorted(cands.values(), key=lambda c: -c.fusion)[: config.neighbour_seeds]]
    window = max(1, config.neighbour_window)
    arm = """SELECT s.rowid, s.id, '{side}', n.rowid, n.created_at FROM memories s
        LEFT JOIN LATERAL (SELECT x.rowid, x.created_at FROM memories x
            WHERE x.ns = s.ns AND x.episode = s.episode AND (x.created_at, x.rowid) {side} (s.created_at, s.rowid)
            ORDER BY x.created_at {order}, x.rowid {order} LIMIT %s) n ON true
        WHERE s.rowid = ANY(%s) AND s.episode IS NOT NULL"""
    rows = yield from fetch(  # the seeds and their neighbours either side, in one statement
        arm.format(side="<", order="DESC") + " UNION ALL " + arm.format(side=">", order="ASC"),
        (window, seeds, window, seeds),
    )
    names: dict[int, str] = {}
    sides: dict[tuple[int, str], list[tuple[Any, int]]] = {}
    for seed, memory_id, side, near, created in sorted(rows, key=lambda r: (r[0], r[2] != "<")):
        names[seed] = memory_id  # the order native visits them, for equal ties
        if near is not None:
            sides.setdefault((seed, side), []).append((created, near))
    links = neighbour_links(list(names), sides, config)
    yield from _admit(
        cands, where_, spread(cands, links),
        lambda target, source, value: neighbour_reason(cands[source].fusion, value, names[source]),
    )


def _add_replies(config: RankingConfig, cands: dict[int, Candidate], where_: _Conditions) -> Steps[None]:
    """Raise the reply to each of the best hits that is itself a question (``reply_gains``)."""
    rows = yield from fetch(
        """SELECT s.rowid, s.id, s.content, n.rowid FROM memories s
        JOIN LATERAL (SELECT x.rowid FROM memories x
            WHERE x.ns = s.ns AND x.episode = s.episode AND (x.created_at, x.rowid) > (s.created_at, s.rowid)
            ORDER BY x.created_at, x.rowid LIMIT 1) n ON true
        WHERE s.rowid = ANY(%s) AND s.episode IS NOT NULL""",
        (reply_seeds(cands, config),),
    )
    asked = [r for r in rows if is_question(r[2])]
    names = {r[0]: r[1] for r in asked}
    yield from _admit(cands, where_, reply_gains(cands, {r[0]: r[3] for r in asked}, config),
                      lambda target, source, value: reply_reason(value, names[source]))


def _add_graph(
    query: SearchQuery, config: RankingConfig, cands: dict[int, Candidate], where_: _Conditions
) -> Steps[None]:
    """Pull in memories linked to the best hits through the entity graph."""
    from mnemos.memory_adapters._graph import memory_hops

    graph = yield from graph_steps(query.namespace_prefix)
    seeds = [c.rowid for c in sorted(cands.values(), key=lambda c: -c.fusion)[: config.graph_seeds]]
    reached = memory_hops(graph, seeds, config.graph_hops)
    best = graph_gains(cands, reached, config)
    names = yield from _ids(seeds)
    yield from _admit(
        cands, where_, best,
        lambda target, source, value: graph_reason(reached[target][0], value, names.get(source, str(source))),
    )


def _ids(rowids: Sequence[int]) -> Steps[dict[int, str]]:
    rows = yield from fetch("SELECT rowid, id FROM memories WHERE rowid = ANY(%s)", (list(rowids),))
    return {int(r[0]): str(r[1]) for r in rows}


def _admit_items(
    cands: dict[int, Candidate],
    where_: _Conditions,
    gains: Mapping[int, tuple[str, float]],
    reason: Callable[[str, float], ScoreReason],
) -> Steps[None]:
    """:func:`_admit` the gains of a round through typed items (rowid -> (item, gain)),
    each explained by its item (the entity round, the list bridge, the hops)."""
    yield from _admit(cands, where_, {r: (r, v) for r, (_, v) in gains.items()},
                      lambda target, source, value: reason(gains[target][0], value))


def _add_sessions(
    config: RankingConfig, cands: dict[int, Candidate], where_: _Conditions, vector: npt.NDArray[np.float32] | None
) -> Steps[None]:
    """Read the members of the candidates' episodes that the query may see, and add what
    the best episodes give their members (see ``_episodes``)."""
    seeds = pool_seeds(cands, config)
    found = {r[0]: (r[1], r[2]) for r in (yield from fetch(
        "SELECT rowid, ns, episode FROM memories WHERE rowid = ANY(%s) AND episode IS NOT NULL", (seeds,)
    ))}
    episodes = list(dict.fromkeys(found[r] for r in seeds if r in found))  # best first
    dated: list[tuple[str, str]] = []
    windows = date_windows(where_.query.text or "", config)
    if windows:  # the episodes with a memory the query may see written inside a window
        inside = " OR ".join(["(m.created_at >= %s AND m.created_at < %s)"] * len(windows))
        rows = yield from fetch(
            f"""SELECT m.ns, m.episode, {where_.metadata} FROM memories m
                WHERE ({inside}) AND m.episode IS NOT NULL AND {where_.sql}
                ORDER BY m.created_at, m.rowid LIMIT %s""",
            [*(t for window in windows for t in window), *where_.params, WINDOW_ROWS],
        )
        dated = list(dict.fromkeys((r[0], r[1]) for r in rows if where_.passes(r[2])))
        pooled = set(episodes)
        episodes += [key for key in dated if key not in pooled][: config.session_pool]
    if not episodes:
        return
    sim = "NULL::float8"
    params: list[Any] = [[e[0] for e in episodes], [e[1] for e in episodes]]
    if vector is not None:
        sim = "1 - (m.embedding <=> %s::vector)"
        params.insert(0, "[" + ",".join(map(repr, vector.astype(np.float32).tolist())) + "]")
    rows = yield from fetch(  # only what the query may see
        f"""SELECT m.rowid, m.ns, m.episode, m.content, {sim}, {where_.metadata} FROM memories m
            WHERE (m.ns, m.episode) IN (SELECT * FROM unnest(%s::text[], %s::text[])) AND {where_.sql}
            LIMIT %s""",
        [*params, *where_.params, 4 * MEMBER_ROWS],
    )
    rows = within_budget([r for r in rows if where_.passes(r[5])], lambda r: (r[1], r[2]), episodes)
    sims = None  # a zero vector has no direction (NaN in pgvector): similarity 0, as native
    if vector is not None:
        sims = [float(r[4]) if r[4] == r[4] else 0.0 for r in rows]
    members = Members([r[0] for r in rows], [(r[1], r[2]) for r in rows], [r[3] for r in rows], sims)
    gains = session_gains(where_.query.text or "", members, config, set(dated))
    yield from _admit(
        cands, where_, {r: (r, g[2]) for r, g in gains.items()},
        lambda target, source, value: session_reason(gains[target][0], gains[target][1], value),
    )

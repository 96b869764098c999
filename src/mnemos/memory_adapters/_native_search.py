"""Native search: hybrid ranking over FTS5 and the vector cache.

A ranked search, under the store's lock:

1. refresh the vector cache and compute the filter mask (namespace, kind,
   time, expiry, supersession) on its columns;
2. start the cosine scan's reading of the rows (numpy's loops, which release
   the GIL) on a worker thread, and meanwhile run the FTS5
   query (quoted words, the commonest dropped past a posting budget); then the
   searching thread scores the parts of the rows the worker has not taken; an
   embedder declaring ``parallel_query`` has its query embedded on a worker,
   begun before the lock is taken (:func:`start_query_vector`), beside steps 1-2;
3. keep from each list only rows passing the mask and the metadata filter,
   fetching deeper until enough pass, so ``limit`` hits come back when they exist;
4. fuse the two rank lists, then add episode neighbours and graph links;
   drop what no signal vouches for (a vector hit under the similarity floor
   with no keyword match, neighbour or link), add recency and importance
   (see ``_ranking``), and decode only the final pages (in one statement).

Several queries differing only in kinds and limit share steps 1-3
(:func:`ranked_search_each`), as an agent recalling each kind of memory does.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from mnemos.memory_adapters import _graph
from mnemos.memory_adapters._answers import add_answers, answer_steps, uses_answers
from mnemos.memory_adapters._coverage import add_coverage, coverage_steps, uses_coverage
from mnemos.memory_adapters._decompose import add_sub_results, sub_queries, uses_decomposition
from mnemos.memory_adapters._entity_items import run_sqlite
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
from mnemos.memory_adapters._episodic_graph import entity_reason
from mnemos.memory_adapters._hops import hop_reason, uses_hops
from mnemos.memory_adapters._lists import list_reason, list_seeds, list_steps
from mnemos.memory_adapters._native_beside import (
    SeedRows,
    add_neighbours,
    add_replies,
    admit,
    admit_items,
)
from mnemos.memory_adapters._native_entities import entity_gains, hop_gains
from mnemos.memory_adapters._native_facts import facts_of
from mnemos.memory_adapters._native_keyword import (
    QUERY_CACHE,
    keyword_lists,
    keyword_lists_store,
    keyword_match,
)
from mnemos.memory_adapters._native_reuse import kept_keyword_lists
from mnemos.memory_adapters._native_schema import to_micros
from mnemos.memory_adapters._native_store import (
    CHUNK,
    Store,
    filter_rows,
    graph_for,
    ids,
    marks,
    records,
)
from mnemos.memory_adapters._native_units import add_units, uses_units
from mnemos.memory_adapters._query import QueryAnalysis, analyze, strip_exclusions
from mnemos.memory_adapters._ranking import (
    Candidate,
    RankingConfig,
    fuse,
    fusion_reasons,
    graph_gains,
    graph_reason,
    page,
    recency_and_importance,
)
from mnemos.memory_adapters._rerank import (
    Facts,
    diversified_page,
    fact_rows,
    needs_facts,
    needs_speaker,
    rerank,
    text_rows,
    uses_query,
)
from mnemos.memory_adapters._vectors import VectorCache
from mnemos.memory_adapters.base import (
    MemoryKind,
    ScoredMemory,
    SearchQuery,
)

__all__ = ["add_recency_and_importance", "query_vector", "ranked_search", "ranked_search_each",
           "start_query_vector"]

Mask = npt.NDArray[np.bool_]
Vector = npt.NDArray[np.float32]
QueryVector = Vector | Future[Vector | None] | None
"""A query's embedding, or its computation under way on a worker thread."""
_workers: tuple[int, ThreadPoolExecutor] | None = None
_workers_lock = threading.Lock()


def _worker_pool() -> ThreadPoolExecutor:
    """This process's worker threads (a forked child must not reuse its parent's)."""
    global _workers
    with _workers_lock:
        if _workers is None or _workers[0] != os.getpid():
            _workers = (os.getpid(), ThreadPoolExecutor(max_workers=4, thread_name_prefix="mnemos-vectors"))
        return _workers[1]


def query_vector(store: Store, query: SearchQuery, config: RankingConfig) -> npt.NDArray[np.float32] | None:
    """The query's embedding if ``config`` uses vectors (compute it outside the lock)."""
    if config.mode == "keyword" or query.text is None:
        return None
    # Agents in one graph recall with the same request, node after node: embed it once.
    key = (store.embedder, query.text)
    vector = store.query_vectors.get(key)
    if vector is None:
        vector = np.asarray(store.embedder.embed_query(query.text), dtype=np.float32)
        vector.setflags(write=False)
        if len(store.query_vectors) >= QUERY_CACHE:
            store.query_vectors.clear()
        store.query_vectors[key] = vector
    return vector


def start_query_vector(store: Store, query: SearchQuery, config: RankingConfig) -> QueryVector:
    """:func:`query_vector`, started on a worker thread when it takes time outside the GIL
    (see ``Embedder.parallel_query``): the search's keyword list runs meanwhile."""
    if config.mode == "keyword" or query.text is None:
        return None
    vector = store.query_vectors.get((store.embedder, query.text))
    if vector is not None or not store.embedder.parallel_query:
        return vector if vector is not None else query_vector(store, query, config)
    return _worker_pool().submit(query_vector, store, query, config)


def _top_each(cache: VectorCache, vector: QueryVector, masks: list[Mask], want: int) -> Any:
    """The cache's top-k lists once the vector is there (None if it no longer fits the cache)."""
    found = vector.result() if isinstance(vector, Future) else vector
    if found is None or found.shape != (cache.dims,):
        return None
    return cache.top_each(found, masks, want)


def ranked_search(
    store: Store, query: SearchQuery, config: RankingConfig, vector: QueryVector
) -> list[ScoredMemory]:
    """Hybrid search for ``query.text`` (call with the store's lock held)."""
    return ranked_search_each(store, [query], config, vector)[0]


def ranked_search_each(
    store: Store, queries: Sequence[SearchQuery], config: RankingConfig, pending: QueryVector
) -> list[list[ScoredMemory]]:
    """:func:`ranked_search` for queries that differ only in kinds, limit and offset.

    Each result is what its query alone would find; the embedding, the keyword
    query and the vector scan are shared.
    """
    first = queries[0]
    text = first.text or ""
    want = max(config.candidates, *(_limit(q) + q.offset for q in queries))
    store.refresh()
    cache = store.cache
    if len(queries) == 1:
        masks = [cache.mask(first)]
    else:
        every_kind = cache.mask(replace(first, kinds=None))
        masks = [every_kind if q.kinds is None else cache.of_kinds(every_kind, q.kinds) for q in queries]
    # The matrix product runs on a worker thread while SQLite does the keyword search
    # (both release the GIL); the cache is not changed until both are done.
    # A small scan (or one with nothing to overlap) runs inline: waking a thread costs more.
    sizes = [int(np.count_nonzero(mask)) for mask in masks]  # read by the scan and the keyword list
    inline = pending is not None and (config.mode == "vector" or cache.scan_is_small(masks, sizes))
    best: Future[Any] | None = None
    scan = None
    if isinstance(pending, Future):
        if not inline:
            best = _worker_pool().submit(_top_each, cache, pending, masks, want)
    elif pending is not None and not inline and pending.shape == (cache.dims,):
        # Only the reading of the rows goes to the worker: numpy's loops release the GIL,
        # while the rest of a scan would hold it whenever SQLite here lets it go.
        scan = cache.scan(pending, masks, want)
        best = _worker_pool().submit(scan.work)
    try:
        analysis = _analysis(text) if uses_query(config) else QueryAnalysis()
        keyword_text = strip_exclusions(text) if analysis.excluded and config.exclusion_penalty else text
        match = keyword_match(store, keyword_text, config) if config.mode != "vector" else None
        if match is None:
            keywords: list[list[tuple[int, float]]] = [[] for _ in queries]
        elif config.keyword_statistics == "store":
            keywords = keyword_lists_store(store, queries, match[0], want, masks)
        else:
            keywords = kept_keyword_lists(store, queries, match, want, masks, k1=config.bm25_k1,
                                          b=config.bm25_b_for(store.embedder), sizes=sizes)
        if scan is not None:  # the parts of the scan the worker has not taken yet, scored here
            scan.work()
    finally:
        found = best.result() if best is not None else None
        tops = scan.best(scan.scores) if scan is not None else found
    vector = pending.result() if isinstance(pending, Future) else pending
    if vector is not None and vector.shape != (cache.dims,):  # re-embedded meanwhile
        vector, tops = query_vector(store, first, config), None
    if vector is not None and tops is None:
        tops = cache.top_each(vector, masks, want)
    pages: list[list[Candidate]] = []
    for i, (query, mask) in enumerate(zip(queries, masks, strict=True)):
        vectors = _vector_list(store, query, vector, want, mask, tops[i]) if tops is not None else []
        pages.append(_rank(store, query, config, mask, keywords[i], vectors, analysis, vector))
    # the records of every page in one statement
    found = records(store.conn, list(dict.fromkeys(c.rowid for ranked in pages for c in ranked)))
    return [
        [ScoredMemory(record=found[c.rowid], score=c.score, reasons=tuple(c.reasons)) for c in ranked if c.rowid in found]
        for ranked in pages
    ]


_ANALYSES: dict[str, QueryAnalysis] = {}


def _analysis(text: str) -> QueryAnalysis:
    """:func:`analyze` of ``text``, kept for the next searches (it depends on the text alone,
    and the agents of a graph often recall with the same text, one node after the other)."""
    found = _ANALYSES.get(text)
    if found is None:
        if len(_ANALYSES) >= QUERY_CACHE:
            _ANALYSES.clear()
        found = _ANALYSES[text] = analyze(text)
    return found


def _limit(query: SearchQuery) -> int:
    return query.limit if query.limit is not None else 10


def _rank(
    store: Store,
    query: SearchQuery,
    config: RankingConfig,
    mask: Mask,
    keyword: list[tuple[int, float]],
    vectors: list[tuple[int, float]],
    analysis: QueryAnalysis,
    vector: npt.NDArray[np.float32] | None = None,
) -> list[Candidate]:
    """Fuse the two lists, add the other signals, and keep the page asked for, explained."""
    cands = fuse(keyword, vectors, config)
    if uses_decomposition(config):  # a question joining two facts, searched as two (``_decompose``)
        _add_sub_queries(store, query, config, cands, mask)
    if cands and uses_units(config):  # neighbour context, feedback round (``_native_units``)
        add_units(store, query, config, cands, keyword, vectors, lambda t: _keyword_again(store, query, config, t, mask))
    seen = SeedRows(store)  # the rows of the best hits, read once for both rounds
    if config.neighbour_weight > 0 and cands and _may_have_episodes(query):
        add_neighbours(store, query, config, cands, mask, seen)
    if config.reply_weight > 0 and config.neighbour_weight > 0 and cands and _may_have_episodes(query):
        add_replies(store, query, config, cands, mask, seen)
    if config.graph_hops > 0 and cands:
        _add_graph(store, query, config, cands, mask)
    if config.entity_weight > 0 and cands:  # a second round through the typed entity graph
        admit_items(store, query, cands, mask, entity_gains(store, query, config.entity_weight, cands), entity_reason)
    if config.list_weight > 0 and cands:  # items of the best hits, bridged to their other holders
        listed = run_sqlite(store.conn, list_steps(query.text, config.list_weight, list_seeds(cands, config)))
        admit_items(store, query, cands, mask, listed, list_reason)
    if cands and uses_sessions(config):  # the best episodes as wholes, then their members
        _add_sessions(store, query, config, cands, mask, vector)
    known = analysis if uses_query(config) else None  # the text's analysis, if this search made it
    if cands and uses_hops(config.item_hops_weight, query.text, known):  # hops through the best hits' items
        admit_items(store, query, cands, mask, hop_gains(store, query, config, cands, known), hop_reason)
    cands = {rowid: cand for rowid, cand in cands.items() if cand.score > 0}
    explain = add_recency_and_importance(store, query, config, cands)
    facts: dict[int, Facts] | None = None
    if cands and needs_facts(config, analysis):
        rows = fact_rows(cands, analysis, config, query.offset + _limit(query))
        facts = facts_of(store, rows, needs_speaker(config, analysis), text_rows(cands, rows, config, analysis))
        rerank(cands, facts, analysis, config)
    if cands and uses_answers(config, query.text, analysis):  # the named person's answering turns (``_answers``)
        add_answers(cands, run_sqlite(store.conn, answer_steps(query.text, cands, config, analysis)))
    if cands and uses_coverage(config, query.text, analysis):  # each episode's best hit (``_coverage``)
        add_coverage(cands, run_sqlite(store.conn, coverage_steps(cands, config, analysis)))
    if facts is not None:
        ranked = diversified_page(cands, facts, analysis, config, query.offset, _limit(query))
    else:
        ranked = page(cands, query.offset, _limit(query))
    for cand in ranked:
        cand.reasons[:0] = fusion_reasons(cand)
        explain(cand)
    return ranked


def _may_have_episodes(query: SearchQuery) -> bool:
    """Whether the query's hits can be events of an episode: only episodic memories have one."""
    return query.kinds is None or MemoryKind.EPISODIC in query.kinds


def add_recency_and_importance(
    store: Store, query: SearchQuery, config: RankingConfig, cands: dict[int, Candidate]
) -> Callable[[Candidate], None]:
    """Add recency and importance to every score, from the vector cache's columns."""
    cache = store.cache
    rowids = list(cands)
    if not rowids or not (config.recency_weight or config.importance_weight):
        return lambda cand: None
    slots = cache.slot_of.lookup(np.asarray(rowids, dtype=np.int64))
    ages = (to_micros(query.now) - cache.created[slots]) / 1e6
    return recency_and_importance(cands, rowids, ages, cache.importance[slots].tolist(), config)


def _add_sub_queries(store: Store, query: SearchQuery, config: RankingConfig, cands: dict[int, Candidate], mask: Mask) -> None:
    """Search each sub-query of the question like the question, and fuse it in (``_decompose``)."""
    rounds = []
    want = max(config.candidates, _limit(query) + query.offset)
    for sub in sub_queries(query.text):
        keyword = _keyword_again(store, query, config, sub.text, mask) if config.mode != "vector" else []
        vectors: list[tuple[int, float]] = []
        if config.mode != "keyword":
            vector = query_vector(store, replace(query, text=sub.text), config)
            if vector is not None:
                vectors = _vector_list(store, query, vector, want, mask, store.cache.top_each(vector, [mask], want)[0])
        rounds.append((sub, keyword, vectors))
    hits = {r for sub, keyword, vectors in rounds if sub.person for r, _ in [*keyword, *vectors]}
    speakers = {r: f.speaker for r, f in facts_of(store, list(hits), True).items()} if hits else {}
    add_sub_results(cands, rounds, speakers, config)


def _keyword_again(store: Store, query: SearchQuery, config: RankingConfig, text: str, mask: Mask) -> list[tuple[int, float]]:
    """The keyword list of ``text`` for ``query`` alone (the feedback round of ``_feedback``)."""
    match = keyword_match(store, text, config)
    if match is None:
        return []
    want = max(config.candidates, _limit(query) + query.offset)
    if config.keyword_statistics == "store":
        return keyword_lists_store(store, [query], match[0], want, [mask])[0]
    return keyword_lists(store, [query], match, want, [mask], k1=config.bm25_k1, b=config.bm25_b_for(store.embedder))[0]


# -- the vector list ---------------------------------------------------------------------


def _vector_list(
    store: Store,
    query: SearchQuery,
    vector: npt.NDArray[np.float32] | None,
    want: int,
    mask: Mask,
    best: tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]],
) -> list[tuple[int, float]]:
    """The best ``want`` cosine hits passing the query's filters, from ``best`` (the top
    of the vector cache for ``mask``) or deeper."""
    rowids, sims = best
    if not query.filter or vector is None:
        return list(zip(rowids.tolist(), sims.tolist(), strict=True))
    kept = filter_rows(store.conn, rowids.tolist(), sims.tolist(), query)
    if len(kept) >= want or len(rowids) < want:
        return kept[:want]
    rowids, sims = store.cache.ranked(vector, mask)
    kept = []
    for start in range(0, len(rowids), 4 * CHUNK):
        stop = start + 4 * CHUNK
        kept += filter_rows(store.conn, rowids[start:stop].tolist(), sims[start:stop].tolist(), query)
        if len(kept) >= want:
            break
    return kept[:want]


# -- signals that pull in more records -------------------------------------------------------


def _add_graph(
    store: Store, query: SearchQuery, config: RankingConfig, cands: dict[int, Candidate], mask: Mask
) -> None:
    """Pull in memories linked to the best hits through the entity graph."""
    graph = graph_for(store, query.namespace_prefix)
    seeds = [c.rowid for c in sorted(cands.values(), key=lambda c: -c.fusion)[: config.graph_seeds]]
    reached = _graph.memory_hops(graph, seeds, config.graph_hops)
    best = graph_gains(cands, reached, config)
    names = ids(store.conn, seeds)
    admit(
        store, query, cands, mask, best,
        lambda target, source, value: graph_reason(reached[target][0], value, names.get(source, str(source))),
    )


def _add_sessions(
    store: Store,
    query: SearchQuery,
    config: RankingConfig,
    cands: dict[int, Candidate],
    mask: Mask,
    vector: npt.NDArray[np.float32] | None,
) -> None:
    """Read the members of the candidates' episodes that the query may see, and add what
    the best episodes give their members (see ``_episodes``)."""
    conn = store.conn
    seeds = pool_seeds(cands, config)
    found = dict(
        (r[0], (r[1], r[2])) for r in conn.execute(
            f"SELECT rowid, ns, episode FROM memories WHERE rowid IN ({marks(len(seeds))}) AND episode IS NOT NULL",
            seeds,
        )
    )
    episodes = list(dict.fromkeys(found[r] for r in seeds if r in found))  # best first
    dated = _dated_episodes(store, query, mask, date_windows(query.text or "", config))
    pooled = set(episodes)
    episodes += [key for key in dated if key not in pooled][: config.session_pool]
    if not episodes:
        return
    by_ns: dict[str, list[str]] = {}
    for ns, episode in episodes:
        by_ns.setdefault(ns, []).append(episode)
    rows: list[tuple[int, str, str, str]] = []
    for ns, keys in by_ns.items():  # one index range per episode (a row-value IN would scan)
        rows += conn.execute(
            f"SELECT rowid, ns, episode, content FROM memories WHERE ns = ? AND episode IN ({marks(len(keys))}) LIMIT ?",
            [ns, *keys, 4 * MEMBER_ROWS - len(rows)],
        ).fetchall()
    ok = store.cache.passes([r[0] for r in rows], mask)  # only what the query may see
    rows = [r for r, good in zip(rows, ok, strict=True) if good]
    if query.filter and rows:
        kept = {k for k, _ in filter_rows(conn, [r[0] for r in rows], [0.0] * len(rows), query)}
        rows = [r for r in rows if r[0] in kept]
    rows = within_budget(rows, lambda r: (r[1], r[2]), episodes)
    if not rows:
        return
    rowids = [r[0] for r in rows]
    sims = None
    if vector is not None:
        sims = (store.cache.matrix[store.cache.slot_of.lookup(np.asarray(rowids, dtype=np.int64))] @ vector).tolist()
    members = Members(rowids, [(r[1], r[2]) for r in rows], [r[3] for r in rows], sims)
    gains = session_gains(query.text or "", members, config, set(dated))
    admit(store, query, cands, mask, {r: (r, g[2]) for r, g in gains.items()},
           lambda target, source, value: session_reason(gains[target][0], gains[target][1], value))



def _dated_episodes(
    store: Store, query: SearchQuery, mask: Mask, windows: Sequence[tuple[datetime, datetime]]
) -> list[tuple[str, str]]:
    """The episodes with a memory the query may see written inside one of ``windows``."""
    if not windows:
        return []
    cache = store.cache
    created = cache.created[: len(mask)]
    inside = np.zeros(len(mask), dtype=bool)
    for start, end in windows:
        inside |= (created >= to_micros(start)) & (created < to_micros(end))
    rowids = cache.rowids[np.flatnonzero(inside & mask)[:WINDOW_ROWS]].tolist()
    if query.filter and rowids:
        rowids = [r for r, _ in filter_rows(store.conn, rowids, [0.0] * len(rowids), query)]
    if not rowids:
        return []
    found: list[tuple[str, str]] = []
    for at in range(0, len(rowids), CHUNK):
        part = rowids[at : at + CHUNK]
        found += store.conn.execute(
            f"SELECT ns, episode FROM memories WHERE rowid IN ({marks(len(part))}) AND episode IS NOT NULL "
            "ORDER BY created_at, rowid",
            part,
        ).fetchall()
    return list(dict.fromkeys(found))

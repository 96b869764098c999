"""The texts a search by words alone finds, without the rest of a search's work.

A novelty check (``mnemos.agents._memops.novelty_flags``) searches the memories of a
namespace by the keyword list alone and reads only the texts of its best hits. With
such a ranking, :func:`~mnemos.memory_adapters._native_search.ranked_search` fuses the
keyword list alone, adds recency and importance and takes the page; every other step
of its ``_rank`` is off. :func:`word_match_contents` does exactly those steps and reads
the page's texts in one statement, without the records' decoding, the reasons and the
machinery for the other signals: the same texts, in the same order.
"""

from __future__ import annotations

import functools

from mnemos.memory_adapters._answers import uses_answers
from mnemos.memory_adapters._coverage import uses_coverage
from mnemos.memory_adapters._decompose import uses_decomposition
from mnemos.memory_adapters._episodes import uses_sessions
from mnemos.memory_adapters._hops import uses_hops
from mnemos.memory_adapters._native_keyword import keyword_lists_store, keyword_match
from mnemos.memory_adapters._native_reuse import kept_keyword_lists
from mnemos.memory_adapters._native_search import add_recency_and_importance
from mnemos.memory_adapters._native_store import Store, marks
from mnemos.memory_adapters._native_units import uses_units
from mnemos.memory_adapters._query import QueryAnalysis
from mnemos.memory_adapters._ranking import RankingConfig, fuse, page
from mnemos.memory_adapters._rerank import needs_facts, uses_query
from mnemos.memory_adapters.base import SearchQuery

__all__ = ["by_words_alone", "word_match_contents"]


def by_words_alone(config: RankingConfig, text: str | None) -> bool:
    """Whether a search for ``text`` with ``config`` ranks by the keyword list, recency and
    importance alone: each condition of ``_native_search._rank`` for another signal is
    false (the query is not even analysed, as ``uses_query`` is false)."""
    return (
        _no_other_signal(config)
        and not uses_hops(config.item_hops_weight, text)
        and not uses_answers(config, text, _NOTHING)
        and not uses_coverage(config, text, _NOTHING)
    )


_NOTHING = QueryAnalysis()
"""What a search whose ``uses_query`` is false knows of its text."""


@functools.lru_cache(maxsize=32)
def _no_other_signal(config: RankingConfig) -> bool:
    """The conditions of :func:`by_words_alone` that do not depend on the text (kept per
    configuration: a frozen dataclass, and a search asks for every write)."""
    return (
        config.mode == "keyword"
        and not uses_query(config)
        and not uses_decomposition(config)
        and not uses_units(config)
        and not config.neighbour_weight > 0  # the neighbours, and the replies with them
        and not config.graph_hops > 0
        and not config.entity_weight > 0
        and not config.list_weight > 0
        and not uses_sessions(config)
        and not needs_facts(config, _NOTHING)
    )


def word_match_contents(store: Store, query: SearchQuery, config: RankingConfig) -> list[str]:
    """The contents of the hits ``ranked_search(store, query, config, None)`` returns, in
    its order, for a ``config`` that :func:`by_words_alone` admits for ``query.text``
    (call with the store's lock held)."""
    assert query.text is not None
    limit = query.limit if query.limit is not None else 10
    want = max(config.candidates, limit + query.offset)
    store.refresh()
    match = keyword_match(store, query.text, config)
    if match is None:
        return []
    if config.keyword_statistics == "store":
        hits = keyword_lists_store(store, [query], match[0], want, [store.cache.mask(query)])[0]
    else:  # the mask is made (and counted) only if the list is not kept from the turn's recall
        hits = kept_keyword_lists(store, [query], match, want, lambda: [store.cache.mask(query)], k1=config.bm25_k1,
                                  b=config.bm25_b_for(store.embedder))[0]
    cands = {rowid: cand for rowid, cand in fuse(hits, [], config).items() if cand.score > 0}
    add_recency_and_importance(store, query, config, cands)  # the reasons are not wanted
    ranked = [cand.rowid for cand in page(cands, query.offset, limit)]
    if not ranked:
        return []
    found = dict(store.conn.execute(
        f"SELECT rowid, content FROM memories WHERE rowid IN ({marks(len(ranked))})", ranked))
    return [found[rowid] for rowid in ranked if rowid in found]

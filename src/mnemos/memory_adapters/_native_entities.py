"""The native adapter's side of the typed entity graph (``_episodic_graph``): its second round."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mnemos.memory_adapters._entity_items import entity_steps, run_sqlite
from mnemos.memory_adapters._hops import hop_seeds, hop_steps
from mnemos.memory_adapters._native_schema import ns_range
from mnemos.memory_adapters._native_store import Store
from mnemos.memory_adapters._query import QueryAnalysis
from mnemos.memory_adapters._ranking import Candidate, RankingConfig
from mnemos.memory_adapters.base import SearchQuery

__all__ = ["entity_gains", "hop_gains"]


def entity_gains(
    store: Store, query: SearchQuery, weight: float, keep: Iterable[int]
) -> dict[int, tuple[str, float]]:
    """What the second round through the typed entity graph gives the memories of the
    query's scope: rowid -> (item, gain) (call with the store's lock held), read by
    index from the items kept with the memories (``_entity_items``)."""
    return run_sqlite(store.conn, entity_steps(query.text, query.namespace_prefix, ns_range, weight, keep))


def hop_gains(
    store: Store, query: SearchQuery, config: RankingConfig, cands: Mapping[int, Candidate],
    analysis: QueryAnalysis | None = None,
) -> dict[int, tuple[str, float]]:
    """What the hop round through the best hits' typed items gives the memories of the
    query's scope: rowid -> (item, gain) (``_hops``; call with the store's lock held).
    ``analysis`` is ``analyze(query.text)`` when the caller has it."""
    steps = hop_steps(query.text, query.namespace_prefix, ns_range, config.item_hops_weight,
                      hop_seeds(cands, config.item_hops_seeds), analysis)
    return run_sqlite(store.conn, steps)

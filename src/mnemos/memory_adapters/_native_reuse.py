"""Keyword lists kept between searches while the store does not change.

An agent's turn searches twice before it writes: its recall (facts and episodes) and
the novelty check of the episode it is about to store (episodes, by words alone).
The two texts differ, but once the commonest words are dropped past the posting
budget they often leave the same MATCH expression, and the episodes' keyword list
of the recall is then exactly the list the novelty check needs. A list is kept under
its MATCH expression, ``want``, BM25's parameters and every condition of its query that the scores
depend on, and all of them are dropped as soon as the store changes (a commit here
or in another process, a re-embedding) or a search runs inside an open transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np
import numpy.typing as npt

from mnemos.memory_adapters._native_keyword import keyword_lists
from mnemos.memory_adapters._native_schema import to_micros
from mnemos.memory_adapters._native_store import Store
from mnemos.memory_adapters.base import SearchQuery

__all__ = ["KEPT_LISTS", "kept_keyword_lists"]

KEPT_LISTS = 32
"""Keyword lists a store keeps at most (all are dropped when full, or when the store changes)."""

Hits = list[tuple[int, float]]


def kept_keyword_lists(
    store: Store,
    queries: Sequence[SearchQuery],
    match: tuple[str, list[str]],
    want: int,
    masks: Sequence[npt.NDArray[np.bool_]] | Callable[[], Sequence[npt.NDArray[np.bool_]]],
    *,
    k1: float = 1.2,
    b: float = 0.75,
    sizes: Sequence[int] | None = None,
) -> list[Hits]:
    """:func:`~mnemos.memory_adapters._native_keyword.keyword_lists`, the lists of queries
    asked before on the unchanged store taken from there (call after ``store.refresh()``,
    under the store's lock). Each query's list depends on its own mask only, so the
    queries not kept are computed together and the others are not computed at all.
    ``masks``: each query's mask, or a function making them, called only when a list
    must be computed."""
    stamp = _stamp(store)
    if store.kept_lists_stamp != stamp or len(store.kept_lists) >= KEPT_LISTS:
        store.kept_lists.clear()
        store.kept_lists_stamp = stamp
    keys = [_key(store, query, match, want, k1, b) for query in queries]
    out: list[Hits | None] = [
        None if key is None else store.kept_lists.get(key) for key in keys
    ]
    missing = [i for i, found in enumerate(out) if found is None]
    if missing:
        if callable(masks):
            masks = masks()
        found_now = keyword_lists(
            store, [queries[i] for i in missing], match, want, [masks[i] for i in missing], k1=k1, b=b,
            sizes=None if sizes is None else [sizes[i] for i in missing],
        )
        for i, hits in zip(missing, found_now, strict=True):
            out[i] = hits
            key = keys[i]
            if key is not None:
                store.kept_lists[key] = hits
    return [list(hits) for hits in out if hits is not None]


def _stamp(store: Store) -> Hashable:
    """What the vector cache saw of the database at its last refresh."""
    cache = store.cache
    return (id(cache), cache.epoch, cache.data_version, cache.own_writes, cache.last_seq, cache.n, cache.dead)


def _key(
    store: Store, query: SearchQuery, match: tuple[str, list[str]], want: int, k1: float, b: float
) -> Hashable | None:
    """The conditions ``query``'s keyword list depends on; None when it must not be kept:
    a metadata filter (not hashable in general), uncommitted writes of this connection,
    or a memory that may have expired (then the list depends on the query's time)."""
    if query.filter or store.conn.in_transaction or to_micros(query.now) >= store.cache.soonest_expiry:
        return None
    return (match[0], tuple(match[1]), want, k1, b, query.namespace_prefix, query.kinds, query.since, query.until,
            query.include_superseded)

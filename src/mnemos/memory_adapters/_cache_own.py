"""What the native vector cache learns without reading SQLite: its own connection's writes,
and the per-scope change stamp it counts (see ``_vectors``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._native_schema import ns_key
from mnemos.memory_adapters._vector_rows import count_change
from mnemos.memory_adapters._vectors import VectorCache, _any_of

__all__ = ["change_stamp", "take_own_write"]


def take_own_write(
    cache: VectorCache, rows: Sequence[tuple], importance: Sequence[tuple[int, float]], last_seq: int,
    max_rowid: int, own_writes: int,
) -> None:
    """What :meth:`VectorCache.refresh` would read after this connection's write transaction,
    given by the writer: the new ``rows`` (as the refresh selects them) and the reinforced
    rows' new importance, with the change log's last entry and the last rowid after it (call
    under the adapter lock, once the transaction committed and nothing else did)."""
    prefix = ns_key(cache.root)
    for rowid, value in importance:  # a turn reinforces a few: counted one by one
        slot = cache.slot_of.get(rowid)
        if slot is not None and cache.alive[slot]:
            cache.importance[slot] = value
            count_change(cache, cache.ns_ids[slot], cache.kinds[slot], cache.expires[slot])
    mine = [r for r in rows if r[1].startswith(prefix)]
    cache._append(mine)
    cache.unsaved += len(importance) + len(mine)
    cache.last_seq = last_seq
    cache.max_rowid = max(cache.max_rowid, max_rowid)
    cache.own_writes = own_writes
    if cache.dead > 1000 and cache.dead * 3 > cache.n:
        cache._compact()


def change_stamp(cache: VectorCache, prefix: Namespace, code: int, now: int) -> tuple[int, int, int]:
    """A value equal for two calls only if no row of kind ``code`` in a namespace under
    ``prefix`` was added, changed, removed, or reached its expiry at ``now`` (microseconds)
    in between; rows elsewhere never move it (call after a refresh, under the lock)."""
    key = ns_key(prefix)
    known = cache.stamp_ids.get(key)
    if known is None or known[0] != len(cache.ns_names):
        ids = [i for i, name in enumerate(cache.ns_names) if name.startswith(key)]
        if len(cache.stamp_ids) >= 64:
            cache.stamp_ids.clear()
        known = cache.stamp_ids[key] = (len(cache.ns_names), ids)
    ids = known[1]
    changes = int(cache.changes[ids, code].sum())
    expired = 0
    if ids and cache.expiring[ids, code].any():  # rows that may expire: count those expired by now
        n = cache.n
        rows = cache.alive[:n] & (cache.kinds[:n] == code) & (cache.expires[:n] <= now)
        expired = int(np.count_nonzero(rows & _any_of(cache.ns_ids[:n], ids)))
    return cache.generation, changes, expired

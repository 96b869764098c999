"""How rows enter the native vector cache (see ``_vectors``): appended, and their sign
sketches computed when first read.

An agent's turn appends one row to the cache after its commit. Its sketch (the signs of
its projections on the cache's random directions) costs a product with the whole
projection matrix, a megabyte at 512 dimensions, read again each time from memory
after a search has swept the caches; and it is read only by the coarse pass of a
search over a large scope and by a save of the vector file. So the sketches of
appended rows are computed when one of their words is first read, each batch of rows
by the same product as when it was appended, so the bits are those it would have had.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mnemos.memory_adapters._sketches import pack
from mnemos.memory_adapters._vector_file import CODE_ARRAYS
from mnemos.memory_adapters.base import MemoryKind

__all__ = [
    "KIND_CODE", "KIND_CODES", "MAX_PENDING", "NEVER", "append_rows", "code_word", "count_change", "sketch_pending",
]

KIND_CODES = {MemoryKind.EPISODIC: 0, MemoryKind.SEMANTIC: 1, MemoryKind.PROCEDURAL: 2}
KIND_CODE = {k.value: v for k, v in KIND_CODES.items()}
NEVER = int(np.iinfo(np.int64).max)
"""The expiry of a row that never expires."""
MAX_PENDING = 1024
"""Batches of rows whose sketches may wait; past this they are computed at once (a cache
whose sketches are never read keeps no growing list)."""


def code_word(index: int) -> property:
    """The cache attribute holding word ``index`` of every row's sketch: reading it first
    computes the sketches still pending."""
    stored = f"_{CODE_ARRAYS[index]}"

    def get(cache: Any) -> Any:
        if cache.unsketched:
            sketch_pending(cache)
        return cache.__dict__[stored]

    def put(cache: Any, value: Any) -> None:
        cache.__dict__[stored] = value

    return property(get, put)


def count_change(cache: Any, ns_id: int, code: int, expires: int) -> None:
    """Count one row added or changed, by namespace and kind (``VectorCache._touched`` for a
    single row, without numpy's per-call cost)."""
    cache.changes[ns_id, code] += 1
    if expires != NEVER:
        cache.expiring[ns_id, code] += 1


def sketch_pending(cache: Any) -> None:
    """Compute the sketches of the rows appended since the last were read, each batch
    ``[lo, hi)`` as one product (as a batch appended at once had it)."""
    pending, cache.unsketched = cache.unsketched, []
    words = [cache.__dict__[f"_{name}"] for name in CODE_ARRAYS]
    for lo, hi in pending:
        codes = pack(cache.matrix[lo:hi] @ cache.projection.T > 0)
        for word, column in enumerate(words):
            column[lo:hi] = codes[:, word]


def append_rows(cache: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    """Append ``rows`` (the columns ``_vectors`` selects) to the cache; a row already
    cached under its rowid dies in its old slot."""
    if not rows:
        return
    if len(cache.unsketched) >= MAX_PENDING:
        sketch_pending(cache)
    if len(rows) == 1:
        _append_one(cache, rows[0])
        return
    count = len(rows)
    cache._grow(cache.n + count)
    vectors = np.frombuffer(b"".join(r[6] for r in rows), dtype=np.float32)
    if vectors.size != count * cache.dims:
        raise ValueError("stored vectors do not match the embedder's dimensions")
    lo, hi = cache.n, cache.n + count
    cache.matrix[lo:hi] = vectors.reshape(count, cache.dims)
    cache.unsketched.append((lo, hi))
    cache.rowids[lo:hi] = [r[0] for r in rows]
    cache.ns_ids[lo:hi] = [cache._ns_id(r[1]) for r in rows]
    cache.kinds[lo:hi] = [KIND_CODE[r[2]] for r in rows]
    cache.created[lo:hi] = [r[3] for r in rows]
    cache.expires[lo:hi] = [NEVER if r[4] is None else r[4] for r in rows]
    cache.superseded[lo:hi] = [bool(r[5]) for r in rows]
    cache.importance[lo:hi] = [r[7] for r in rows]
    cache.lengths[lo:hi] = [r[8] for r in rows]
    cache.alive[lo:hi] = True
    cache.soonest_expiry = min(cache.soonest_expiry, int(cache.expires[lo:hi].min()))
    cache._touched(np.arange(lo, hi))
    new = cache.rowids[lo:hi]
    cache._kill(new[cache.slot_of.lookup(new) >= 0].tolist())  # updated rows: the old copy dies
    cache.slot_of.set_many(new, np.arange(lo, hi, dtype=np.int64))
    cache.n = hi


def _append_one(cache: Any, row: tuple[Any, ...]) -> None:
    """:func:`append_rows` of one row, column by column (no array built per column)."""
    rowid, ns, kind, created, expires, superseded, blob, importance, length = row
    vector = np.frombuffer(blob, dtype=np.float32)
    if vector.size != cache.dims:
        raise ValueError("stored vectors do not match the embedder's dimensions")
    slot = cache.n
    cache._grow(slot + 1)
    cache.matrix[slot] = vector
    cache.unsketched.append((slot, slot + 1))
    ns_id, code = cache._ns_id(ns), KIND_CODE[kind]
    ends = NEVER if expires is None else expires
    cache.rowids[slot] = rowid
    cache.ns_ids[slot] = ns_id
    cache.kinds[slot] = code
    cache.created[slot] = created
    cache.expires[slot] = ends
    cache.superseded[slot] = bool(superseded)
    cache.importance[slot] = importance
    cache.lengths[slot] = length
    cache.alive[slot] = True
    cache.soonest_expiry = min(cache.soonest_expiry, int(ends))
    count_change(cache, ns_id, code, ends)
    if cache.slot_of.get(rowid) is not None:  # an updated row: the old copy dies
        cache._kill([rowid])
    cache.slot_of[rowid] = slot
    cache.n = slot + 1

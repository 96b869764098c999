"""An in-process matrix of a store's vectors, for brute-force cosine search.

No SQLite extension is needed: embeddings are float32 blobs in the
``vectors`` table, and this cache holds them as one numpy matrix together
with the columns search filters on (namespace, kind, time, expiry,
supersession), so a query is one matrix-vector product plus vectorised masks.

The cache follows commits from every connection and process without reloading
everything: new rows have larger rowids (AUTOINCREMENT), updated and deleted
rows are logged in the ``changes`` table by triggers, and ``PRAGMA
data_version`` tells when another connection committed at all. A change of the
``epoch`` in ``meta`` (after a re-embed or when the log is pruned) rebuilds it.

A write of the cache's own connection that only adds and reinforces memories is
handed over by the writer after its commit (``_cache_own.take_own_write``), so
the next search reads nothing back.

A new process does not rebuild it from SQLite either: it maps the store's saved
vector file (see ``_vector_file``) and reads only what was committed after it.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mnemos.exceptions import EmbedderMismatchError
from mnemos.memory_adapters._dots import dot as _dot
from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._native_schema import ns_key, ns_range, to_micros
from mnemos.memory_adapters._row_runs import at as _at
from mnemos.memory_adapters._row_runs import parts as _parts
from mnemos.memory_adapters._row_runs import pieces as _pieces
from mnemos.memory_adapters._row_runs import runs as _runs
from mnemos.memory_adapters._row_runs import spans as _spans
from mnemos.memory_adapters._sketches import closest, hamming, pack
from mnemos.memory_adapters._slot_map import SlotMap
from mnemos.memory_adapters._vector_file import (
    CODE_ARRAYS,
    CODE_WORDS,
    SAVE_AFTER_CHANGES,
    SAVE_MIN_ROWS,
    VectorFile,
)
from mnemos.memory_adapters._vector_rows import KIND_CODE as _KIND_CODE
from mnemos.memory_adapters._vector_rows import KIND_CODES, append_rows, code_word, sketch_pending
from mnemos.memory_adapters._vector_rows import NEVER as _NEVER
from mnemos.memory_adapters.base import MemoryKind, SearchQuery

__all__ = ["KIND_CODES", "Scan", "VectorCache"]

_GENERATIONS = iter(range(1 << 62))
_NOTHING = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
_WORD_COUNT = "length(trim({0})) - length(replace(trim({0}), ' ', '')) + 1"
"""SQL for the length of a text as keyword search counts it: its space-separated words."""
_COLUMNS = (
    "m.rowid, m.ns, m.kind, m.created_at, m.expires_at, m.valid_to IS NOT NULL, v.embedding, "
    f"m.importance, {_WORD_COUNT.format('m.content')} "
    "FROM memories m JOIN vectors v ON v.rowid = m.rowid"
)
_ARRAYS = (
    "matrix", *CODE_ARRAYS, "rowids", "ns_ids", "kinds", "created", "expires", "superseded", "alive", "importance",
    "lengths",
)
_STORED = tuple(f"_{name}" if name in CODE_ARRAYS else name for name in _ARRAYS)
COARSE_BITS = 64 * CODE_WORDS
"""Bits of each row's sign sketch (the signs of its projections on random directions), which
a first pass over a large store compares: rows differing from the query in fewer bits lie
at a smaller angle. 64 bytes a row; at 100k rows the best 2,000 by sketch held 97% of the
exact top 100 and 99.5% of the top 10 (a 64-float projection of 256 bytes: 69% and 83%)."""
_CODE_COST = 32
"""Floats of an exact scan that comparing one row's sketch costs about as much as."""
EXACT_LIMIT = 8_000_000
"""Above this many stored floats (rows x dims), search starts with the coarse pass."""
RERANK_FLOOR = 1000
"""The coarse pass keeps at least this many rows for exact re-scoring."""
SMALL_SCAN = 1_000_000
"""A scan of at most this many floats runs on the searching thread, not a worker."""


SCAN_PART = 1024
"""About the rows a thread scores at a time, so that two may share a scan (a row's score is
the same to the last bit however the rows are shared: :func:`_dot` reduces each on its own)."""


def _any_of(column: npt.NDArray[np.integer], values: Sequence[int]) -> npt.NDArray[np.bool_]:
    """Where ``column`` holds one of ``values`` (comparisons for a few, a lookup table for many)."""
    if len(values) <= 4:
        found = np.zeros(len(column), dtype=bool)
        for value in values:
            found |= column == value
        return found
    table = np.zeros(int(column.max(initial=0)) + 1, dtype=bool)
    table[[v for v in values if v < len(table)]] = True
    return table[column]


class VectorCache:
    """Vectors and filter columns of every record under ``root`` (the adapter's scope)."""

    def __init__(self, root: Namespace, dims: int, file: VectorFile | None = None) -> None:
        self.root = root
        self.file = file
        """Where this cache is saved and loaded from (None: rebuilt from SQLite each time)."""
        self.dims = dims
        self.coarse_bits = COARSE_BITS
        self.projection = np.random.default_rng(0).standard_normal((COARSE_BITS, dims)).astype(np.float32)
        """One random direction a row: the bits of the sign sketch."""
        self._reset()
        self.data_version: int | None = None
        self.own_writes = -1

    def _reset(self, capacity: int = 1024) -> None:
        self.generation = next(_GENERATIONS)
        """Unique in the process: with :attr:`changes`, the state of the rows (see :meth:`stamp`)."""
        self.changes = np.zeros((0, len(KIND_CODES)), dtype=np.int64)
        """By namespace id and kind code: how often rows were added, changed or removed (only grows)."""
        self.expiring = np.zeros((0, len(KIND_CODES)), dtype=np.int64)
        """By namespace id and kind code: rows added or changed with an expiry (only grows)."""
        self.stamp_ids: dict[str, tuple[int, list[int]]] = {}
        """Namespace ids under a prefix, with the count of namespaces they were found among."""
        self.n = 0
        self.dead = 0
        self.matrix = np.zeros((capacity, self.dims), dtype=np.float32)
        self.unsketched: list[tuple[int, int]] = []
        """Runs of slots whose sketches are still to compute (``_vector_rows``)."""
        for name in CODE_ARRAYS:  # each row's sign sketch, a 64-bit word in each
            setattr(self, name, np.zeros(capacity, dtype=np.uint64))
        self.rowids = np.zeros(capacity, dtype=np.int64)
        self.ns_ids = np.zeros(capacity, dtype=np.int32)
        self.kinds = np.zeros(capacity, dtype=np.int8)
        self.created = np.zeros(capacity, dtype=np.int64)
        self.expires = np.zeros(capacity, dtype=np.int64)
        self.superseded = np.zeros(capacity, dtype=bool)
        self.importance = np.zeros(capacity, dtype=np.float32)
        self.lengths = np.zeros(capacity, dtype=np.int32)
        """Words of each record's content (keyword search's document lengths)."""
        self.alive = np.zeros(capacity, dtype=bool)
        self.slot_of = SlotMap()
        self.ns_names: list[str] = []
        self.ns_index: dict[str, int] = {}
        self.max_rowid = 0
        self.last_seq = 0
        self.epoch: str | None = None
        self.unsaved = 0
        """Rows added or changed since the cache was loaded from, or saved to, its file."""
        self.from_file = False
        self.save_failed = False
        self._forget_layout()

    def _forget_layout(self) -> None:
        """Drop what is derived from which row sits in which slot (after rows moved)."""
        self._column_masks: dict[tuple[Any, ...], tuple[int, npt.NDArray[np.bool_]]] = {}
        self.soonest_expiry = int(self.expires[: self.n].min(initial=_NEVER))
        """The earliest expiry of a row in ``[0, n)``: before it, no row has expired."""

    # -- following the database -----------------------------------------------------

    def refresh(self, conn: sqlite3.Connection, own_writes: int, embedder: str) -> None:
        """Bring the cache up to date with everything committed (call under the adapter lock).

        Raises :class:`EmbedderMismatchError` if the store was re-embedded with
        another embedder than ``embedder`` since it was opened.
        """
        data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        if data_version == self.data_version and own_writes == self.own_writes:
            return
        own_transaction = not conn.in_transaction
        if own_transaction:
            conn.execute("BEGIN")
        try:
            epoch, last_seq, max_rowid = conn.execute(
                "SELECT coalesce((SELECT value FROM meta WHERE key = 'epoch'), '0'), "
                "(SELECT coalesce(max(seq), 0) FROM changes), (SELECT coalesce(max(rowid), 0) FROM memories)"
            ).fetchone()
            cond, params = ns_range(self.root, "m.ns")
            if self.epoch is None and self.file is not None:
                self.from_file = self.file.load(self, conn, (epoch, last_seq, max_rowid), embedder)
            if epoch != self.epoch or last_seq < self.last_seq:
                stored = conn.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
                if stored is not None and stored[0] != embedder:
                    raise EmbedderMismatchError(stored[0], embedder)
                count = conn.execute(f"SELECT count(*) FROM memories m WHERE {cond}", params).fetchone()[0]
                self._reset(capacity=count + 1024)
                cursor = conn.execute(f"SELECT {_COLUMNS} WHERE {cond}", params)
                while batch := cursor.fetchmany(4096):  # in pieces: no second copy of every blob
                    self._append(batch)
                rows = []
                self.unsaved = self.n
            else:
                changed = [
                    r for (r,) in conn.execute(
                        "SELECT DISTINCT row FROM changes WHERE seq > ?", (self.last_seq,)
                    )
                ]
                self.unsaved += len(changed)
                again: list[tuple] = []
                for start in range(0, len(changed), 500):
                    chunk = changed[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    again += conn.execute(
                        f"SELECT {_COLUMNS} WHERE m.rowid IN ({marks}) AND m.rowid <= ? AND {cond}",
                        [*chunk, self.max_rowid, *params],
                    ).fetchall()
                rows = self._update_in_place(again)
                kept = {r[0] for r in again} - {r[0] for r in rows}
                self._kill(r for r in changed if r not in kept)
                rows += conn.execute(
                    f"SELECT {_COLUMNS} WHERE m.rowid > ? AND {cond}",
                    [self.max_rowid, *params],
                ).fetchall()
        finally:
            if own_transaction:
                conn.execute("COMMIT")
        self._append(rows)
        self.unsaved += len(rows)
        self.epoch = epoch
        self.last_seq = last_seq
        self.max_rowid = max(self.max_rowid, max_rowid)
        self.data_version = data_version
        self.own_writes = own_writes
        if self.dead > 1000 and self.dead * 3 > self.n:
            self._compact()

    def wants_saving(self, closing: bool) -> bool:
        """Whether the cache should be written to its file now: after a rebuild from
        SQLite, or (when ``closing``) once it is well ahead of the file."""
        if self.file is None or self.file.read_only or self.root or self.epoch is None:
            return False
        if self.n - self.dead < SAVE_MIN_ROWS or (self.save_failed and not closing):
            return False
        return self.unsaved >= (SAVE_AFTER_CHANGES if closing else self.n - self.dead)

    def save(self, conn: sqlite3.Connection, embedder: str) -> None:
        """Write the cache to its file (call under the adapter lock, outside a transaction).

        A save that fails (no room, another writer holding the lock) is not retried
        before the store closes: the file is only a cache."""
        if self.file is not None and self.file.save(self, conn, embedder):
            self.unsaved = 0
        else:
            self.save_failed = True

    def adopt(
        self, arrays: dict[str, Any], n: int, ns_names: list[str], epoch: str, last_seq: int, max_rowid: int
    ) -> None:
        """Take the arrays of a loaded vector file (rows ``[0, n)`` in use) as this cache.

        A cache scoped to a namespace keeps a copy of its own rows only.
        """
        self._reset(capacity=1)
        if self.root:
            prefix = ns_key(self.root)
            mine = [i for i, name in enumerate(ns_names) if name.startswith(prefix)]
            keep = np.flatnonzero(_any_of(arrays["ns_ids"][:n], mine)) if mine else np.zeros(0, dtype=np.int64)
            arrays = {name: arr[keep] for name, arr in arrays.items()}
            n = len(keep)
        for name in _ARRAYS:
            setattr(self, name, arrays[name])
        self.n = n
        self.alive[:n] = True
        self.ns_names = list(ns_names)
        self.ns_index = {name: i for i, name in enumerate(self.ns_names)}
        self._grow_counts()
        self.slot_of = SlotMap(np.asarray(self.rowids[:n]))
        self.epoch, self.last_seq, self.max_rowid = epoch, last_seq, max_rowid
        self.unsaved = 0
        self._touched(np.arange(n))
        self._forget_layout()

    def _kill(self, rowids: Iterable[int]) -> None:
        for rowid in rowids:
            slot = self.slot_of.pop(rowid, None)
            if slot is not None and self.alive[slot]:
                self.alive[slot] = False
                self.dead += 1
                self.changes[self.ns_ids[slot], self.kinds[slot]] += 1

    def _append(self, rows: Sequence[tuple]) -> None:
        append_rows(self, rows)

    def _update_in_place(self, rows: Sequence[tuple]) -> list[tuple]:
        """Take the changed ``rows`` whose namespace, kind and vector are what their slot
        holds (an update of importance or metadata, such as a reinforcement) into that slot;
        return the others, to be appended anew. A slot keeps its place, so a namespace's
        rows stay side by side and the matrix does not grow."""
        moved: list[tuple] = []
        kept: list[int] = []
        for row in rows:
            slot = self.slot_of.get(row[0])
            if (
                slot is None
                or not self.alive[slot]
                or self.ns_index.get(row[1]) != self.ns_ids[slot]
                or _KIND_CODE[row[2]] != self.kinds[slot]
                or row[6] != self.matrix[slot].tobytes()
            ):
                moved.append(row)
                continue
            self.created[slot] = row[3]
            self.expires[slot] = _NEVER if row[4] is None else row[4]
            self.soonest_expiry = min(self.soonest_expiry, int(self.expires[slot]))
            self.superseded[slot] = bool(row[5])
            self.importance[slot] = row[7]
            self.lengths[slot] = row[8]
            kept.append(slot)
        self._touched(np.asarray(kept, dtype=np.int64))
        return moved

    def _touched(self, slots: npt.NDArray[np.int64]) -> None:
        """Count the rows in ``slots`` as added or changed, by namespace and kind."""
        if not len(slots):
            return
        ns_ids, kinds = self.ns_ids[slots], self.kinds[slots]
        np.add.at(self.changes, (ns_ids, kinds), 1)
        ends = self.expires[slots] != _NEVER
        if ends.any():
            np.add.at(self.expiring, (ns_ids[ends], kinds[ends]), 1)

    def _ns_id(self, key: str) -> int:
        found = self.ns_index.get(key)
        if found is None:
            found = self.ns_index[key] = len(self.ns_names)
            self.ns_names.append(key)
            self._grow_counts()
        return found

    def _grow_counts(self) -> None:
        """Give every namespace id its rows in :attr:`changes` and :attr:`expiring`."""
        missing = len(self.ns_names) - len(self.changes)
        if missing > 0:
            more = np.zeros((max(missing, len(self.changes)), len(KIND_CODES)), dtype=np.int64)
            self.changes = np.concatenate((self.changes, more))
            self.expiring = np.concatenate((self.expiring, more))

    def _grow(self, needed: int) -> None:
        capacity = len(self.rowids)
        if needed <= capacity:
            return
        new_cap = max(needed, capacity * 2)
        for name in _STORED:  # the sketches as they are (pending ones are computed later)
            old = self.__dict__[name]
            new = np.zeros((new_cap, *old.shape[1:]), dtype=old.dtype)
            new[: self.n] = old[: self.n]
            self.__dict__[name] = new

    def _compact(self) -> None:
        sketch_pending(self)  # from the rows in their slots, before they move
        keep = np.flatnonzero(self.alive[: self.n])
        for name in _ARRAYS:
            arr = getattr(self, name)
            arr[: len(keep)] = arr[keep]
        self.n = len(keep)
        self.dead = 0
        self.slot_of = SlotMap(np.asarray(self.rowids[: self.n]))
        self._forget_layout()

    # -- searching --------------------------------------------------------------------

    def mask(self, query: SearchQuery) -> npt.NDArray[np.bool_]:
        """Slots passing every condition of ``query`` except the metadata filter."""
        mask = self._mask_but_kinds(query)
        return mask if query.kinds is None else self.of_kinds(mask, query.kinds)

    def of_kinds(self, mask: npt.NDArray[np.bool_], kinds: Iterable[MemoryKind]) -> npt.NDArray[np.bool_]:
        """The slots of ``mask`` holding one of ``kinds``."""
        codes = tuple(sorted({KIND_CODES[k] for k in kinds}))
        if len(codes) == len(KIND_CODES):
            return mask
        return mask & self._column_mask(("kinds", codes), lambda lo, hi: _any_of(self.kinds[lo:hi], codes))

    def _column_mask(
        self, key: tuple[Any, ...], compute: Callable[[int, int], npt.NDArray[np.bool_]]
    ) -> npt.NDArray[np.bool_]:
        """``compute(0, n)``, a condition on columns a slot keeps for its lifetime (namespace,
        kind), kept from one search to the next: only the rows appended since are computed."""
        n = self.n
        done, found = self._column_masks.get(key, (0, None))
        if found is None or done < n:
            fresh = compute(done, n)
            found = fresh if found is None else np.concatenate((found[:done], fresh))
            if len(self._column_masks) >= 64:
                self._column_masks.clear()
            self._column_masks[key] = (n, found)
        return found[:n]

    def _mask_but_kinds(self, query: SearchQuery) -> npt.NDArray[np.bool_]:
        n = self.n
        mask = self.alive[:n].copy()
        prefix = ns_key(query.namespace_prefix)
        if prefix:
            allowed = [i for i, name in enumerate(self.ns_names) if name.startswith(prefix)]
            if len(allowed) < len(self.ns_names):
                # new namespaces get new ids, so the ids under a prefix only grow: keyed by their count
                mask &= self._column_mask(("ns", prefix, len(allowed)),
                                          lambda lo, hi: _any_of(self.ns_ids[lo:hi], allowed))
        now = to_micros(query.now)
        if now >= self.soonest_expiry:
            mask &= self.expires[:n] > now
        if not query.include_superseded:
            mask &= ~self.superseded[:n]
        if query.since is not None:
            mask &= self.created[:n] >= to_micros(query.since)
        if query.until is not None:
            mask &= self.created[:n] <= to_micros(query.until)
        return mask

    def passes(self, rowids: Sequence[int] | npt.NDArray[np.int64], mask: npt.NDArray[np.bool_]) -> list[bool]:
        """Whether each rowid is cached and passes ``mask``."""
        slots = self.slot_of.lookup(np.asarray(rowids, dtype=np.int64).reshape(-1))
        found = slots >= 0
        out = np.zeros(len(slots), dtype=bool)
        out[found] = mask[slots[found]]
        return out.tolist()  # type: ignore[no-any-return]

    def ranked(
        self, vector: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Rowids of every slot passing ``mask``, best cosine first, with their scores."""
        n = self.n
        if n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        slots = np.flatnonzero(mask)
        sims = _dot(self.matrix[:n] if len(slots) == n else self.matrix[slots], vector)
        order = np.argsort(-sims, kind="stable")
        return self.rowids[slots[order]], sims[order]

    def top(
        self, vector: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_], k: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The best ``k`` slots passing ``mask``, best first: ``(rowids, cosines)``.

        On a large store a first pass over the rows' sign sketches keeps the
        best ``max(RERANK_FLOOR, 20 k)`` rows, which are then scored exactly.
        """
        return self.top_each(vector, [mask], k)[0]

    def scan_is_small(self, masks: Sequence[npt.NDArray[np.bool_]], sizes: Sequence[int] | None = None) -> bool:
        """Whether :meth:`top_each` over ``masks`` (passing ``sizes`` slots, if counted) is a
        small job (well under a millisecond)."""
        rows = sum(int(np.count_nonzero(mask)) for mask in masks) if sizes is None else sum(sizes)
        if rows * self.dims <= SMALL_SCAN:
            return True
        # The coarse pass is certain only when the rows are too many to score exactly even
        # in place (a namespace lying in a few runs of a large store is scanned exactly).
        return self.n * self.dims > EXACT_LIMIT and rows * self.dims > EXACT_LIMIT and rows * _CODE_COST <= SMALL_SCAN

    def top_each(
        self, vector: npt.NDArray[np.float32], masks: Sequence[npt.NDArray[np.bool_]], k: int
    ) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        """:meth:`top` for each of several masks, scanning the rows they pass once."""
        scan = self.scan(vector, masks, k)
        return scan.best(scan.score())

    def scan(self, vector: npt.NDArray[np.float32], masks: Sequence[npt.NDArray[np.bool_]], k: int) -> Scan:
        """:meth:`top_each` in three steps: this one chooses the rows, :meth:`Scan.score`
        reads them (numpy's loops alone, which release the GIL: it may run on a worker
        thread without keeping the caller's Python from running), :meth:`Scan.best` picks
        each mask's best. The cache must not change until the scan is done."""
        return Scan(self, vector, masks, k)


class Scan:
    """One vector scan of :meth:`VectorCache.top_each`, in steps (see :meth:`VectorCache.scan`)."""

    def __init__(self, cache: VectorCache, vector: npt.NDArray[np.float32],
                 masks: Sequence[npt.NDArray[np.bool_]], k: int) -> None:
        self.cache, self.vector, self.masks, self.k, self.pool = cache, vector, masks, k, max(RERANK_FLOOR, 20 * k)
        self.slots: npt.NDArray[np.int64] | None = None
        self.scores: npt.NDArray[Any] | None = None
        """Each chosen row's cosine (sketch distance on the coarse pass) once :meth:`work` is done."""
        self.parts: list[tuple[int, int, int, int]] = []
        self._claim, self._next = threading.Lock(), 0  # the first part no thread has taken
        if not (cache.n and k > 0 and masks):
            return
        slots = np.flatnonzero(functools.reduce(np.logical_or, masks))  # (not .reduce: it stacks them first)
        if not len(slots):
            return
        self.slots = slots
        runs = _runs(slots)
        # the coarse pass, unless the rows lie in a few runs small enough to score exactly
        coarse = cache.n * cache.dims > EXACT_LIMIT and len(slots) > self.pool
        if coarse and runs is not None and int((runs[1] - runs[0]).sum()) * cache.dims <= EXACT_LIMIT:
            coarse = False
        self.coarse = coarse
        self.pieces = _pieces(slots, runs) if runs is not None else None
        self.words: list[npt.NDArray[np.uint64]] = []
        if coarse:  # bits differing from the query's sketch: fewer is closer
            self.code = pack(_dot(cache.projection, vector)[None, :] > 0)[0]
            first, last = int(slots[0]), int(slots[-1])
            run = last - first + 1 == len(slots)
            self.words = [w[first : last + 1] if run else w[slots]
                          for w in (getattr(cache, name) for name in CODE_ARRAYS)]
            self.parts = [(0, 0, 0, 0)]  # one part: every sketch's distance
            return
        self.parts = _parts(slots, self.pieces, SCAN_PART, SCAN_PART // 4)
        self.scores = np.empty(len(slots), dtype=np.result_type(cache.matrix.dtype, vector.dtype))

    def work(self) -> None:
        """Score parts of the rows until none is left, half of those left at a time (two threads
        may run this at once: numpy's loops release the GIL; parts side by side are one call)."""
        parts, slots, out = self.parts, self.slots, self.scores
        while True:
            with self._claim:
                first = self._next
                if first >= len(parts):
                    return
                self._next = last = first + max(1, (len(parts) - first) // 2)
            if out is None or slots is None:  # the coarse pass: one part
                self.scores = hamming(self.words, self.code)
                continue
            for start, end, lo, hi in _spans(parts[first:last]):
                rows = self.cache.matrix[slots[lo:hi]] if start < 0 else self.cache.matrix[start:end]
                found = _dot(rows, self.vector)
                out[lo:hi] = found if start < 0 or hi - lo == end - start else found[slots[lo:hi] - start]

    def score(self) -> npt.NDArray[Any] | None:
        """:attr:`scores`, the parts no other thread took scored here."""
        self.work()
        return self.scores

    def best(self, scores: npt.NDArray[Any] | None) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        """The best ``k`` of each mask, given :meth:`score`'s result."""
        if self.slots is None or scores is None:
            return [_NOTHING for _ in self.masks]
        cache, slots, masks = self.cache, self.slots, self.masks
        out = []
        for mask in masks:
            mine, sims = slots, scores
            if len(masks) > 1:  # positions, not a boolean mask: taking them is twice as fast
                chosen = np.flatnonzero(_at(mask, slots, self.pieces))
                mine, sims = slots[chosen], scores[chosen]
            if self.coarse:  # the best by sketch, scored exactly
                if len(mine) > self.pool:
                    mine = mine[closest(sims, self.pool)]
                sims = _dot(cache.matrix[mine], self.vector)
            k = min(self.k, len(mine))
            if k == 0:
                out.append(_NOTHING)
                continue
            best = np.argpartition(-sims, k - 1)[:k] if k < len(mine) else np.arange(len(mine))
            best = best[np.argsort(-sims[best], kind="stable")]
            out.append((cache.rowids[mine[best]], sims[best]))
        return out


for _index, _name in enumerate(CODE_ARRAYS):
    setattr(VectorCache, _name, code_word(_index))

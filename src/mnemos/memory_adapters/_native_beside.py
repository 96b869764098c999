"""Native search's rounds that pull in more records: how a gain admits a memory
(:func:`admit`), and the two rounds beside the best hits in their episode, the
neighbours (:func:`add_neighbours`) and the reply to a question (:func:`add_replies`).

Both rounds read the rows of their seeds, mostly the same hits (the best by fusion,
then the best by score once the neighbours have gained): :class:`SeedRows` reads
each row once per search.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from mnemos.memory_adapters._native_store import Store, filter_rows, marks
from mnemos.memory_adapters._query import is_question
from mnemos.memory_adapters._ranking import (
    Candidate,
    RankingConfig,
    add_gains,
    neighbour_links,
    neighbour_reason,
    reply_gains,
    reply_reason,
    reply_seeds,
    spread,
)
from mnemos.memory_adapters.base import ScoreReason, SearchQuery

__all__ = ["SeedRows", "add_neighbours", "add_replies", "admit", "admit_items"]

Mask = npt.NDArray[np.bool_]
Row = tuple[int, str, str, str | None, int, str]
"""``(rowid, id, ns, episode, created_at, content)`` of a memory."""
_FUSION = attrgetter("fusion")


class SeedRows:
    """The rows of the memories a search's rounds seed from, each read from SQLite once."""

    def __init__(self, store: Store) -> None:
        self.conn = store.conn
        self.rows: dict[int, Row] = {}

    def of(self, seeds: Iterable[int]) -> list[Row]:
        """The rows of ``seeds`` that exist, by rowid (the order SQLite gives a ``rowid IN`` list)."""
        wanted = set(seeds)
        missing = [r for r in wanted if r not in self.rows]
        if missing:
            for row in self.conn.execute(
                f"SELECT rowid, id, ns, episode, created_at, content FROM memories WHERE rowid IN ({marks(len(missing))})",
                missing,
            ):
                self.rows[row[0]] = row
        return sorted(self.rows[r] for r in wanted if r in self.rows)


def admit_items(
    store: Store,
    query: SearchQuery,
    cands: dict[int, Candidate],
    mask: Mask,
    gains: Mapping[int, tuple[str, float]],
    reason: Callable[[str, float], ScoreReason],
) -> None:
    """:func:`admit` the gains of a round through typed items (rowid -> (item, gain)),
    each explained by its item (the entity round, the list bridge, the hops)."""
    admit(store, query, cands, mask, {r: (r, v) for r, (_, v) in gains.items()},
          lambda target, source, value: reason(gains[target][0], value))


def admit(
    store: Store,
    query: SearchQuery,
    cands: dict[int, Candidate],
    mask: Mask,
    gains: Mapping[int, tuple[int, float]],
    reason: Callable[[int, int, float], ScoreReason],
) -> None:
    """Add score ``gains`` (target -> (source, value)) to candidates, admitting new ones
    only if they pass the query's filters."""
    if not gains:
        return
    new = [t for t in gains if t not in cands]
    ok = store.cache.passes(new, mask)
    new = [t for t, good in zip(new, ok, strict=True) if good]
    if query.filter and new:
        new = [r for r, _ in filter_rows(store.conn, new, [0.0] * len(new), query)]
    allowed = set(new)
    add_gains(cands, gains, allowed, reason)


def add_neighbours(
    store: Store, query: SearchQuery, config: RankingConfig, cands: dict[int, Candidate], mask: Mask, seen: SeedRows
) -> None:
    """Give the events next to the best hits, in the same episode, a share of their score."""
    # best fusion first (a stable sort: ties keep their order)
    seeds = [c.rowid for c in sorted(cands.values(), key=_FUSION, reverse=True)[: config.neighbour_seeds]]
    window = max(1, config.neighbour_window)
    names: dict[int, str] = {}
    # Up to ``window`` events before and after each seed, all in one statement. The
    # memories of one batch share a timestamp: the events at the seed's own time and
    # those before (or after) it are two index seeks, each taking ``window`` at most;
    # the nearest ``window`` of both are kept.
    params: list[object] = []
    for rowid, memory_id, ns, episode, created, _ in seen.of(seeds):
        if episode is None:
            continue
        names[rowid] = memory_id
        arm_values = [rowid, ns, episode, created, rowid, window, rowid, ns, episode, created, window]
        params += arm_values * 2  # the arms before and after the seed take the same values
    sides: dict[tuple[int, str], list[tuple[int, int]]] = {}
    if params:
        for seed, side, near, created in store.conn.execute(_neighbour_sql(len(names)), params):
            sides.setdefault((seed, side), []).append((created, near))
    for (_, side), near in sides.items():  # nearest first, ``window`` of them
        near.sort(reverse=side == "<")
        del near[window:]
    links = neighbour_links(list(names), sides, config)
    admit(
        store, query, cands, mask, spread(cands, links),
        lambda target, source, value: neighbour_reason(cands[source].fusion, value, names[source]),
    )


@functools.lru_cache(maxsize=64)
def _neighbour_sql(seeds: int) -> str:
    """The statement of :func:`add_neighbours` for ``seeds`` seeds (four arms each)."""
    arms = [
        f"""SELECT * FROM (SELECT ? AS seed, '{op}' AS side, rowid, created_at FROM memories
            WHERE ns = ? AND episode = ? AND {where} ORDER BY {order} LIMIT ?)"""
        for op, way in (("<", "DESC"), (">", "ASC"))
        for where, order in ((f"created_at = ? AND rowid {op} ?", f"rowid {way}"),
                             (f"created_at {op} ?", f"created_at {way}, rowid {way}"))
    ]
    return " UNION ALL ".join(arms * seeds)


def add_replies(
    store: Store, query: SearchQuery, config: RankingConfig, cands: dict[int, Candidate], mask: Mask, seen: SeedRows
) -> None:
    """Raise the reply to each of the best hits that is itself a question (``reply_gains``)."""
    rows = [r for r in seen.of(reply_seeds(cands, config)) if r[3] is not None]
    names = {r[0]: r[1] for r in rows if is_question(r[5])}
    if not names:
        return
    arms: list[str] = []
    params: list[object] = []
    for rowid, _, ns, episode, created, _ in (r for r in rows if r[0] in names):
        # the next event of its episode: the next one at the same time (one batch), else the first later
        arms.append("""SELECT * FROM (SELECT ? AS seed, 0 AS later, rowid FROM memories
            WHERE ns = ? AND episode = ? AND created_at = ? AND rowid > ? ORDER BY rowid LIMIT 1)
            UNION ALL SELECT * FROM (SELECT ? AS seed, 1 AS later, rowid FROM memories
            WHERE ns = ? AND episode = ? AND created_at > ? ORDER BY created_at, rowid LIMIT 1)""")
        params += [rowid, ns, episode, created, rowid, rowid, ns, episode, created]
    replies: dict[int, int] = {}
    for seed, _, reply in sorted(store.conn.execute(" UNION ALL ".join(arms), params), key=lambda r: -r[1]):
        replies[seed] = reply  # the same-time one, if any, is written last
    gains = reply_gains(cands, replies, config)
    admit(store, query, cands, mask, gains, lambda target, source, value: reply_reason(value, names[source]))

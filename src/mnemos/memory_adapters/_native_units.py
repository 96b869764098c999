"""The native adapter's side of the neighbour context (``_context``) and the feedback round
(``_feedback``): what they read from SQLite. The scoring itself is shared with PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mnemos.memory_adapters._context import (
    MEMBER_LIMIT,
    add_context,
    positions_from_members,
    uses_context,
)
from mnemos.memory_adapters._feedback import (
    add_feedback,
    expanded_query,
    feedback_terms,
    pool,
    uses_feedback,
)
from mnemos.memory_adapters._native_store import Store, marks
from mnemos.memory_adapters._ranking import Candidate, RankingConfig
from mnemos.memory_adapters.base import SearchQuery

__all__ = ["add_units", "positions", "uses_units"]

Hits = list[tuple[int, float]]


def uses_units(config: RankingConfig) -> bool:
    """Whether the context or the feedback signal is on."""
    return uses_context(config) or uses_feedback(config)


def positions(store: Store, rowids: list[int]) -> dict[int, tuple[object, int]]:
    """Each candidate's place in its episode (see ``_context``); empty past ``MEMBER_LIMIT``."""
    rows = store.conn.execute(
        "SELECT rowid, ns, episode FROM memories WHERE (ns, episode) IN "
        f"(SELECT ns, episode FROM memories WHERE rowid IN ({marks(len(rowids))}) AND episode IS NOT NULL) "
        "ORDER BY ns, episode, created_at, rowid LIMIT ?",
        [*rowids, MEMBER_LIMIT + 1],
    ).fetchall()
    return positions_from_members(rows, rowids) if len(rows) <= MEMBER_LIMIT else {}


def add_units(
    store: Store,
    query: SearchQuery,
    config: RankingConfig,
    cands: dict[int, Candidate],
    keyword: Sequence[tuple[int, float]],
    vectors: Sequence[tuple[int, float]],
    keyword_again: Callable[[str], Hits],
) -> None:
    """Blend in the context scores, then fuse in the feedback round (``keyword_again`` runs
    the adapter's keyword search for a text, with every filter of ``query``)."""
    if uses_context(config):
        add_context(cands, keyword, vectors, positions(store, list(cands)), config)
    if not uses_feedback(config):
        return
    rowids = pool(cands, config)
    text = dict(
        store.conn.execute(
            f"SELECT rowid, content FROM memories WHERE rowid IN ({marks(len(rowids))})", rowids
        ).fetchall()
    )
    terms = feedback_terms(query.text or "", [text[r] for r in rowids if r in text], config)
    if terms:
        add_feedback(cands, keyword_again(expanded_query(query.text or "", terms)), terms, config)

"""Neighbour context at query time: each candidate scored together with the turns beside it.

A turn of a conversation is often only half of what answers a question: "Do
you have any hobbies?" is answered by "Kayaking, mostly", and a question about
kayaking as a hobby needs both. Indexing each turn with its neighbours'
text would find such pairs, but it replaces what a turn says and needs a
second index on every adapter. Here the same thing is done at query time
from the two rank lists the adapter already has: every candidate gets a
*context* keyword score and a *context* vector score::

    ctx(c) = raw(c) + context_mix · Σ_{d=1..W} (W + 1 - d)/W · (raw(c - d) + raw(c + d))

where ``raw`` is the BM25 score (keyword) or the cosine (vector, negatives as
0) of a candidate, 0 for a turn in neither list, ``c ± d`` are the turns ``d``
places before and after ``c`` in its episode and ``W`` is ``context_window``.
The two context lists are fused like the plain ones, and a candidate's fused
score becomes ``(1 - context_weight) · fusion + context_weight · fusion_ctx``:
the scale of the scores, and so the weight of the later signals, is kept.

Only candidates are re-scored (the neighbours' scores come from the lists
themselves), so no record outside what the query may see is read; the
adapter supplies each candidate's place in its episode
(:func:`positions_from_members`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mnemos.memory_adapters._ranking import Candidate, RankingConfig, fuse
from mnemos.memory_adapters.base import ScoreReason

__all__ = ["MEMBER_LIMIT", "add_context", "positions_from_members", "uses_context"]

MEMBER_LIMIT = 20_000
"""Most episode members an adapter reads to place the candidates; past it the
context signal is skipped for that search (an episode that long is not a conversation)."""

Position = tuple[Any, int]
"""(episode key, place in the episode)."""


def uses_context(config: RankingConfig) -> bool:
    """Whether the context signal is on."""
    return config.context_weight > 0 and config.context_mix > 0 and config.context_window > 0


def positions_from_members(
    rows: Iterable[Sequence[Any]], wanted: Iterable[int]
) -> dict[int, Position]:
    """Places of the ``wanted`` rowids from ``(rowid, ns, episode)`` rows ordered by
    ``(ns, episode, created_at, rowid)`` (every member of the episodes concerned)."""
    want = set(wanted)
    out: dict[int, Position] = {}
    key: Any = None
    place = 0
    for rowid, ns, episode in rows:
        here = (ns, episode)
        if here != key:
            key, place = here, 0
        else:
            place += 1
        if rowid in want:
            out[int(rowid)] = (here, place)
    return out


def _mixed(
    raw: Mapping[int, float],
    positions: Mapping[int, Position],
    at: Mapping[Position, int],
    config: RankingConfig,
) -> list[tuple[int, float]]:
    window = config.context_window
    shares = [config.context_mix * (window + 1 - d) / window for d in range(1, window + 1)]
    out: list[tuple[int, float]] = []
    for rowid, (episode, place) in positions.items():
        value = raw.get(rowid, 0.0)
        for d, share in enumerate(shares, start=1):
            for other in (at.get((episode, place - d)), at.get((episode, place + d))):
                if other is not None:
                    value += share * raw.get(other, 0.0)
        if value > 0:
            out.append((rowid, value))
    out.sort(key=lambda x: (-x[1], x[0]))
    return out


def add_context(
    cands: Mapping[int, Candidate],
    keyword: Sequence[tuple[int, float]],
    vector: Sequence[tuple[int, float]],
    positions: Mapping[int, Position],
    config: RankingConfig,
) -> None:
    """Blend each candidate's fused score with its context score (module docstring), in place."""
    if not positions:
        return
    at = {place: rowid for rowid, place in positions.items()}
    kw = {r: max(0.0, s) for r, s in keyword}
    vec = {r: max(0.0, s) for r, s in vector if s >= config.vector_min_similarity}
    ctx = fuse(_mixed(kw, positions, at, config), _mixed(vec, positions, at, config), config)
    weight = config.context_weight
    for rowid, cand in cands.items():
        if rowid not in positions:
            continue
        found = ctx.get(rowid)
        value = found.fusion if found is not None else 0.0
        delta = weight * (value - cand.fusion)
        if not delta:
            continue
        cand.fusion += delta
        cand.score += delta
        cand.reasons.append(
            ScoreReason(
                signal="context",
                value=value,
                contribution=delta,
                detail="scored together with the turns beside it in its episode",
            )
        )

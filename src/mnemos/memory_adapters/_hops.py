"""Hops from the first hits through their typed items: new candidates for multi-hop questions.

A multi-hop question ("What activities has Melanie done with her family?") has
its evidence in passing remarks of sessions about something else; keyword and
vector search find one or two of them, and often not the others within their
first hundred hits. The best hits do name what the others share: a place, a
pet, a person, an activity (the typed items kept with every memory, see
``_entity_items``). With ``item_hops_weight`` on, a question asking for a list
or for all someone has done, that names a speaker of the scope, takes one more
round: every memory of that speaker holding
an item of one of the ``item_hops_seeds`` best candidates gains ::

    hops(m) = item_hops_weight · best · H(m) / max H,
    H(m)    = Σ over seeds s (rank r = 0, 1, ...) of Σ over items shared with s of
              1 / ((r + 1) · ln(1 + df(item)))

``best`` being the best candidate's score, so a memory that shares rare items
with several of the best hits comes first, even if neither search returned it
(the first :data:`LIMIT` by ``H`` are admitted, through the query's filters like
the other signals that pull in records). Items held by more than
:data:`MAX_DF` memories of their namespace say nothing and are not read.

It reads only the kept item rows, by index: the speakers of the scope, the
seeds' items, and the holders of those items (never the scope's texts). The
steps are written once with ``?`` placeholders and driven by each store, like
:func:`_entity_items.entity_steps`. A store whose items are not derived yet
(opened read-only before they were) takes no hops.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

from mnemos.memory_adapters import _episodic_graph as eg
from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._query import QueryAnalysis, analyze, asks
from mnemos.memory_adapters._ranking import Candidate
from mnemos.memory_adapters.base import ScoreReason

__all__ = ["LIMIT", "MAX_DF", "hop_reason", "hop_seeds", "hop_steps", "uses_hops"]

Step = tuple[str, list[Any]]
Steps = Generator[Step, list[Any], dict[int, tuple[str, float]]]
_EVER = re.compile(
    r"^\s*(?:what|where|which|who)\b.*\b(?:has|have)\s+\w+\s+(?:\w+\s+)?\w+(?:ed|en|t)\b", re.I
)
"""A question about all someone has done: "what has X painted", "where has X camped"."""
LIMIT = 50
"""At most this many memories gain (the best by their hop score)."""
MAX_DF = 50
"""Items held by more memories of their namespace than this are not hopped on."""


def uses_hops(weight: float, text: str | None, analysis: QueryAnalysis | None = None) -> bool:
    """Whether a search takes the hop round: a weight, and a question whose answers are
    spread over sessions: one asking for a list ("what activities", "how many", "besides
    X") or for all someone has done ("where has Melanie camped?"). On the LoCoMo dev
    conversations, hopping for every question moved single-hop and adversarial hits off
    the page. ``analysis`` is ``analyze(text)`` when the caller has it."""
    if weight <= 0 or not text or not asks(text):
        return False
    return bool(_EVER.search(text)) or (analysis if analysis is not None else analyze(text)).is_list


def hop_seeds(cands: Mapping[int, Candidate], count: int) -> list[tuple[int, float]]:
    """The ``count`` best candidates (rowid, score), best first."""
    best = heapq.nsmallest(max(1, count), cands.values(), key=lambda c: (-c.score, c.rowid))
    return [(c.rowid, c.score) for c in best if c.score > 0]


def hop_steps(
    text: str | None,
    prefix: Namespace,
    ns_cond: Callable[[Namespace, str], tuple[str, list[Any]]],
    weight: float,
    seeds: Sequence[tuple[int, float]],
    analysis: QueryAnalysis | None = None,
) -> Steps:
    """What the hop round gives the memories of the scope: rowid -> (item, gain), from
    ``seeds`` (rowid, score), best first (steps: each yields a statement, receives its rows).
    ``analysis`` is ``analyze(text)`` when the caller has it."""
    if not uses_hops(weight, text, analysis) or not seeds:
        return {}
    persons = frozenset((analysis if analysis is not None else analyze(text or "")).persons)
    if not persons:
        return {}
    version = yield ("SELECT value FROM meta WHERE key = 'entity_items'", [])
    if not version or version[0][0] != eg.ITEMS_VERSION:
        return {}
    cond, params = ns_cond(prefix, "d.ns")
    people = frozenset(r[0] for r in (yield (
        f"SELECT DISTINCT d.item FROM entity_df d WHERE d.kind = ? AND {cond}", [eg.SPEAKER, *params]
    )))
    named = persons & people
    if not named:
        return {}
    rank = {rowid: r for r, (rowid, _) in enumerate(seeds)}
    rows = yield (
        "SELECT e.memory, e.kind, e.ns, e.item, d.n FROM entity_items e JOIN entity_df d "
        "ON d.kind = e.kind AND d.ns = e.ns AND d.item = e.item "
        f"WHERE e.memory IN ({', '.join('?' * len(rank))}) AND e.kind <> ? AND d.n <= ?",
        [*rank, eg.SPEAKER, MAX_DF],
    )
    # an item's weight: the best seed holding it, and its rarity
    items: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    for memory, kind, ns, item, n in rows:
        if int(n) > 1 and not eg.is_person(item, people):
            items.setdefault((kind, ns, item), []).append(
                (int(memory), 1.0 / ((rank[int(memory)] + 1) * math.log(1.0 + int(n))))
            )
    if not items:
        return {}
    groups: dict[tuple[str, str], list[str]] = {}
    for kind, ns, item in sorted(items):
        groups.setdefault((kind, ns), []).append(item)
    held: dict[int, tuple[float, str, float]] = {}  # memory -> (H, its best item, that item's share)
    for (kind, ns), names in groups.items():
        holders = yield (
            f"SELECT item, memory, speaker FROM entity_items WHERE kind = ? AND ns = ? "
            f"AND item IN ({', '.join('?' * len(names))})",
            [kind, ns, *names],
        )
        for item, memory, who in holders:
            memory = int(memory)
            if who not in named:
                continue
            share = sum(w for seed, w in items[(kind, ns, item)] if seed != memory)
            if share <= 0:
                continue
            total, best_item, best_share = held.get(memory, (0.0, item, 0.0))
            if share > best_share:
                best_item, best_share = item, share
            held[memory] = (total + share, best_item, best_share)
    if not held:
        return {}
    top = sorted(held, key=lambda m: (-held[m][0], m))[:LIMIT]
    most = held[top[0]][0]
    best = max(score for _, score in seeds)
    return {m: (held[m][1], weight * best * held[m][0] / most) for m in top}


def hop_reason(item: str, value: float) -> ScoreReason:
    """Why a memory gained in the hop round."""
    return ScoreReason(
        signal="hops", value=1.0, contribution=value,
        detail=f"shares {item!r} with the best hits, said by the person the question names",
    )


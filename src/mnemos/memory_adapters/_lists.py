"""List questions: the items the first hits hold, bridged to every other memory holding them.

A list question ("What activities does Melanie partake in?", "What has she
painted?") is answered by many memories in many episodes, and none of them uses
the question's category word: they say "pottery", "swimming with the kids". The
typed entity round (``_episodic_graph``) lifts every memory holding *some* item
of the asked kind, rarest first, which does not tell a real answer from a
one-off word of that kind. This round asks the store which instances of the
kind the question is about: the items of the asked kinds that the best
first-round hits hold (said by the person the question names, when it names a
speaker). An item's support is the summed fused score of the ``list_seeds`` best
candidates holding it; every memory of the item's namespace holding it (by the
named person) gains::

    list_weight · support(item) / max support · ln 2 / ln(1 + df(item))

summed over its supported items (``df``: the memories of the namespace holding
the item). The category word is thus bridged to its instances with the store's
own data: the hits that match the question's words and meaning say which
items count ("de-stress" is said beside "running"), and their other mentions,
in other sessions, follow. An item the question excludes ("besides yoga, what
...") is never bridged: its turns are exactly the wrong ones.

Everything is read by index from the items the stores keep with each memory
(``entity_items``/``entity_df``), the holders only in the namespaces of the
seeds (which are candidates of the query's scope); the caller admits new
memories through the query's filters. The steps are written once, with ``?``
placeholders, and driven by each store.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping, Sequence
from typing import Any

from mnemos.memory_adapters import _episodic_graph as eg
from mnemos.memory_adapters._query import analyze
from mnemos.memory_adapters._ranking import Candidate, RankingConfig
from mnemos.memory_adapters.base import ScoreReason

__all__ = ["MAX_HOLDERS", "MAX_ITEMS", "list_reason", "list_seeds", "list_steps"]

Step = tuple[str, list[Any]]
"""One statement (``?`` placeholders) and its parameters; the rows come back."""
Steps = Generator[Step, list[Any], dict[int, tuple[str, float]]]
MAX_ITEMS = 20
"""At most this many supported items are bridged (the best supported first)."""
MAX_HOLDERS = 500
"""At most this many holders are read per item (a very common item gains little anyway)."""


def list_seeds(cands: Mapping[int, Candidate], config: RankingConfig) -> list[tuple[int, float]]:
    """``(rowid, fused score)`` of the ``list_seeds`` best fused candidates, best first."""
    best = sorted((c for c in cands.values() if c.fusion > 0), key=lambda c: (-c.fusion, c.rowid))
    return [(c.rowid, c.fusion) for c in best[: max(0, config.list_seeds)]]


def list_steps(text: str | None, weight: float, seeds: Sequence[tuple[int, float]]) -> Steps:
    """What the bridge gives the memories of the seeds' namespaces: rowid -> (item, gain)
    (steps: each yields a statement, receives its rows).

    ``seeds`` are ``(rowid, fused score)`` of the best candidates, best first; they are
    in the query's scope, and every holder read shares a namespace with one of them.
    """
    planned = eg.plan(text, weight)
    if planned is None or not seeds:
        return {}
    types, persons = planned
    kinds = frozenset(eg.kinds_read(types))
    excluded = analyze(text).excluded  # "besides yoga": yoga is no answer, and must not spread
    persony = eg.person_kinds(types)
    score = {int(r): float(s) for r, s in seeds if s > 0}
    if not score:
        return {}
    rows = yield (
        "SELECT e.memory, e.kind, e.ns, e.item, e.speaker, d.n FROM entity_items e JOIN entity_df d "
        "ON d.kind = e.kind AND d.ns = e.ns AND d.item = e.item "
        f"WHERE e.memory IN ({', '.join('?' * len(score))})",
        list(score),
    )
    namespaces = sorted({str(r[2]) for r in rows})
    if not namespaces:
        return {}
    # the speakers of the seeds' namespaces: a speaker's name is a person, not an item
    people = frozenset(str(r[0]) for r in (yield (
        f"SELECT DISTINCT item FROM entity_df WHERE kind = ? AND ns IN ({', '.join('?' * len(namespaces))})",
        [eg.SPEAKER, *namespaces],
    )))
    named = frozenset(persons) & people
    support: dict[tuple[str, str, str], float] = {}
    df: dict[tuple[str, str, str], int] = {}
    for memory, kind, ns, item, who, n in rows:
        if kind not in kinds or (named and who not in named) or (kind in persony and eg.is_person(item, people)):
            continue
        if _is_excluded(str(item), excluded):
            continue
        key = (str(kind), str(ns), str(item))
        support[key] = support.get(key, 0.0) + score[int(memory)]
        df[key] = int(n)
    if not support:
        return {}
    best = max(support.values())
    chosen = sorted(support, key=lambda k: (-support[k], k))[:MAX_ITEMS]
    gains: dict[int, tuple[str, float]] = {}
    for key in chosen:
        kind, ns, item = key
        value = weight * support[key] / best * math.log(2.0) / math.log(1.0 + max(1, df[key]))
        for memory, who in (yield (
            "SELECT memory, speaker FROM entity_items WHERE kind = ? AND ns = ? AND item = ? ORDER BY memory LIMIT ?",
            [kind, ns, item, MAX_HOLDERS],
        )):
            if named and who not in named:
                continue
            found = gains.get(int(memory))
            gains[int(memory)] = (found[0] if found else item, (found[1] if found else 0.0) + value)
    return gains


def _is_excluded(item: str, excluded: Sequence[str]) -> bool:
    """Whether ``item`` is a word the question excludes, or its inflection ("painting"/"paint")."""
    return any(item == w or (len(w) > 4 and item.startswith(w[: max(4, len(w) - 3)])) for w in excluded)


def list_reason(item: str, value: float) -> ScoreReason:
    """The reason a memory gained through the list bridge."""
    return ScoreReason(
        signal="list",
        value=1.0,
        contribution=value,
        detail=f"holds {item!r}, which the best hits for this list question hold",
    )

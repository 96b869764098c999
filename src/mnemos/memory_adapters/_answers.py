"""Answering turns of a spread question: the named person's turns that name an instance.

A question whose answers are spread over sessions ("What activities does
Melanie partake in?", "What has Melanie painted?", see ``_hops.uses_hops``) is
answered by the named person's own turns, each naming one instance of what is
asked ("I'm off to go swimming", "we went camping"). The first round ranks the
other person's replies beside them (neighbours, replies) about as high, and
several turns naming the same instance ("pottery" three times) fill the page.
With ``answer_weight`` on, the best :data:`ROWS` candidates of such a question
naming a speaker are re-scored from the items kept with them (``_entity_items``:
the speaker row and the typed items, read by index for these rowids only)::

    gain(m)   = g · (answer_weight + answer_item_weight · [m holds an item of an asked kind])
                for a memory m said by the named person,
    g         = clip((share - answer_gate) / (1 - answer_gate), 0, 1),
    share     = the named person's part of the summed score of the best :data:`POOL`,

so the signal holds back when the first round says the question is about the
other person (LoCoMo's adversarial questions name the wrong one on purpose).
Then, walking down by score, a memory whose asked-kind items were all named
by a better one keeps ``1 - g · answer_cover`` of its score: the page lists
more instances.

It reads nothing but the kept rows of memories that are already candidates
(so nothing beyond the query's namespace and filters), and nothing at all for
a question of another shape or naming no speaker, or in a store whose items
are not derived yet (opened read-only before they were). The steps are written
once with ``?`` placeholders and driven by each store, like ``_hops``.
"""

from __future__ import annotations

import heapq
from collections.abc import Generator, Mapping
from typing import Any

from mnemos.memory_adapters import _episodic_graph as eg
from mnemos.memory_adapters._hops import uses_hops
from mnemos.memory_adapters._query import QueryAnalysis, analyze
from mnemos.memory_adapters._ranking import Candidate, RankingConfig
from mnemos.memory_adapters.base import ScoreReason

__all__ = ["POOL", "ROWS", "add_answers", "answer_steps", "uses_answers"]

Step = tuple[str, list[Any]]
Steps = Generator[Step, list[Any], dict[int, tuple[str, float]]]
ROWS = 50
"""How many of the best candidates are re-scored (their kept rows are read)."""
POOL = 20
"""How many of the best candidates say whose question it is (the gate's share)."""


def uses_answers(config: RankingConfig, text: str | None, analysis: QueryAnalysis | None = None) -> bool:
    """Whether a search takes this signal: a weight, and a question whose answers are
    spread over sessions, naming someone. ``analysis`` is the search's own ``analyze(text)``."""
    if not (config.answer_weight or config.answer_item_weight):
        return False
    q = analysis if analysis is not None else analyze(text)
    return bool(q.persons) and uses_hops(1.0, text, q)


def answer_steps(
    text: str | None, cands: Mapping[int, Candidate], config: RankingConfig, analysis: QueryAnalysis | None = None
) -> Steps:
    """What the signal changes: rowid -> (why, change of score), for some of the best
    :data:`ROWS` candidates (steps: each yields a statement, receives its rows), for a
    question that :func:`uses_answers` (the caller checks; ``analysis`` as there)."""
    persons = frozenset((analysis if analysis is not None else analyze(text)).persons)
    best = heapq.nsmallest(ROWS, (c for c in cands.values() if c.score > 0), key=lambda c: (-c.score, c.rowid))
    if not best or not persons or not (config.answer_weight or config.answer_item_weight):
        return {}
    version = yield ("SELECT value FROM meta WHERE key = 'entity_items'", [])
    if not version or version[0][0] != eg.ITEMS_VERSION:
        return {}
    rowids = [c.rowid for c in best]
    rows = yield (f"SELECT memory, kind, item FROM entity_items WHERE memory IN ({', '.join('?' * len(rowids))})",
                  list(rowids))
    return _changes(text, persons, {c.rowid: c.score for c in best}, rows, config)


def _changes(
    text: str | None, persons: frozenset[str], scores: dict[int, float], rows: list[Any], config: RankingConfig
) -> dict[int, tuple[str, float]]:
    """The module docstring's gains and cover, from the kept ``rows`` of the candidates
    ``scores`` (rowid -> score, best first)."""
    types = eg.question_types(text)
    kinds = frozenset(eg.kinds_read(types)) if types else frozenset()
    speaker: dict[int, str] = {}
    held: dict[int, list[tuple[str, str]]] = {}
    for memory, kind, item in rows:
        if kind == eg.SPEAKER:
            speaker[int(memory)] = str(item)
        elif kind in kinds:
            held.setdefault(int(memory), []).append((str(kind), str(item)))
    people = frozenset(speaker.values())
    named = persons & people
    if not named:
        return {}
    pool = list(scores)[:POOL]
    total = sum(scores[r] for r in pool)
    share = sum(scores[r] for r in pool if speaker.get(r) in named) / total if total > 0 else 0.0
    gate = min(config.answer_gate, 0.99)
    g = min(1.0, max(0.0, (share - gate) / (1.0 - gate)))
    if g <= 0:
        return {}
    persony = eg.person_kinds(types)
    items = {r: frozenset(i for i in found if not (i[0] in persony and eg.is_person(i[1], people)))
             for r, found in held.items()} if persony else {r: frozenset(found) for r, found in held.items()}
    out: dict[int, tuple[str, float]] = {}
    after = dict(scores)
    for rowid in scores:
        if speaker.get(rowid) not in named:
            continue
        holds = bool(items.get(rowid))
        value = g * (config.answer_weight + (config.answer_item_weight if holds else 0.0))
        if value:
            after[rowid] += value
            out[rowid] = (f"said by {speaker[rowid]}, named in a list question"
                          + (", names an asked item" if holds else ""), value)
    if not (config.answer_cover and kinds):
        return out
    keep = 1.0 - g * min(1.0, config.answer_cover)
    seen: set[tuple[str, str]] = set()
    for rowid in sorted(after, key=lambda r: (-after[r], r)):
        found = items.get(rowid)
        if not found:
            continue
        if found <= seen:
            why, value = out.get(rowid, ("", 0.0))
            cut = after[rowid] * (1.0 - keep)
            out[rowid] = ((why + "; " if why else "") + "names only items a better hit names", value - cut)
        seen |= found
    return out


def add_answers(cands: Mapping[int, Candidate], changes: Mapping[int, tuple[str, float]]) -> None:
    """Apply :func:`answer_steps`' ``changes`` to ``cands`` (in place), each with its reason."""
    for rowid, (why, value) in changes.items():
        cand = cands.get(rowid)
        if cand is not None:
            cand.score += value
            cand.reasons.append(ScoreReason(signal="answer", value=1.0, contribution=value, detail=why))

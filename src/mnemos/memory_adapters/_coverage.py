"""Episode coverage of a spread question: each episode's best hit, when it is the named person's answer.

A question whose answers are spread over sessions ("What activities has
Melanie done with her family?", see ``_hops.uses_hops``) has about one
evidence turn per session (on the LoCoMo dev conversations, 184 evidence
turns of the multi-hop questions lie in 171 sessions), each a passing remark
of the named person. The first round, with its neighbour shares, fills the
page with a few episodes, three to five turns of each (the hit, the turns
around it, the other person's replies), while the remark of another episode
sits just below the page.

With ``coverage_weight`` on, the best :data:`POOL` candidates of such a
question naming a speaker are grouped by episode. An episode's best candidate
gains ::

    coverage(m) = g · coverage_weight · score(m)

when it is said by the person the question names and is not itself a question
("Do you have any hobbies?"): the page then holds the named person's best
statement of more episodes, instead of the second and third turns of the same
ones. A memory outside an episode gains nothing. ``g`` is the gate of
``_answers`` (from 0 to 1 as the named person's share of the best candidates'
score goes from ``answer_gate`` to all), so the signal holds back when the
first round says the question is about the other person.

It reads nothing but the rows of memories that are already candidates (their
speaker, kept with the typed items by ``_entity_items``, and their episode
and text), so nothing beyond the query's namespace and filters, and nothing
at all for a question of another shape or naming no speaker, or in a store
whose items are not derived yet (opened read-only before they were). The
steps are written once with ``?`` placeholders and driven by each store, like
``_answers``.
"""

from __future__ import annotations

import heapq
from collections.abc import Generator, Mapping
from typing import Any

from mnemos.memory_adapters import _episodic_graph as eg
from mnemos.memory_adapters._answers import POOL as ANSWER_POOL
from mnemos.memory_adapters._hops import uses_hops
from mnemos.memory_adapters._query import QueryAnalysis, analyze, is_question
from mnemos.memory_adapters._ranking import Candidate, RankingConfig
from mnemos.memory_adapters.base import ScoreReason

__all__ = ["POOL", "add_coverage", "coverage_gains", "coverage_steps", "uses_coverage"]

Step = tuple[str, list[Any]]
Steps = Generator[Step, list[Any], dict[int, float]]
POOL = 30
"""How many of the best candidates are grouped by episode (their rows are read)."""
SHARE_POOL = ANSWER_POOL
"""How many of the best candidates say whose question it is (the gate's share, as in ``_answers``)."""


def uses_coverage(config: RankingConfig, text: str | None, analysis: QueryAnalysis | None = None) -> bool:
    """Whether a search takes this signal: a weight, and a question whose answers are spread
    over sessions, naming someone (the questions of ``_answers``). ``analysis`` is the
    search's own ``analyze(text)``, if it has one."""
    if config.coverage_weight <= 0:
        return False
    q = analysis if analysis is not None else analyze(text)
    return bool(q.persons) and uses_hops(1.0, text, q)


def coverage_steps(
    cands: Mapping[int, Candidate], config: RankingConfig, analysis: QueryAnalysis
) -> Steps:
    """What each gaining candidate gains (rowid -> value), for a question that
    :func:`uses_coverage` (the caller checks; steps: each yields a statement, receives its rows)."""
    persons = frozenset(analysis.persons)
    best = heapq.nsmallest(POOL, (c for c in cands.values() if c.score > 0), key=lambda c: (-c.score, c.rowid))
    if not best or not persons or config.coverage_weight <= 0:
        return {}
    version = yield ("SELECT value FROM meta WHERE key = 'entity_items'", [])
    if not version or version[0][0] != eg.ITEMS_VERSION:
        return {}
    rowids = [c.rowid for c in best]
    held = ", ".join("?" * len(rowids))
    speakers = yield (f"SELECT memory, item FROM entity_items WHERE kind = ? AND memory IN ({held})",
                      [eg.SPEAKER, *rowids])
    named = {int(memory) for memory, who in speakers if str(who) in persons}
    if not named:
        return {}
    ranked = [(c.rowid, c.score) for c in best]
    g = _gate(ranked, named, config)
    if g <= 0:
        return {}
    rows = yield (f"SELECT rowid, ns, episode, content FROM memories WHERE rowid IN ({held})", list(rowids))
    return coverage_gains(ranked, named, rows, config, g)


def _gate(ranked: list[tuple[int, float]], named: set[int], config: RankingConfig) -> float:
    """``g`` of ``_answers``: from 0 to 1 as the named person's share of the summed score of
    the best :data:`_answers.POOL` goes from ``answer_gate`` to all."""
    pool = ranked[:SHARE_POOL]
    total = sum(score for _, score in pool)
    share = sum(score for rowid, score in pool if rowid in named) / total if total > 0 else 0.0
    gate = min(config.answer_gate, 0.99)
    return min(1.0, max(0.0, (share - gate) / (1.0 - gate)))


def coverage_gains(
    ranked: list[tuple[int, float]], named: set[int], rows: list[Any], config: RankingConfig, g: float = 1.0
) -> dict[int, float]:
    """The module docstring's gains: ``ranked`` the pool (rowid, score), best first; ``named``
    the rowids said by a person the question names; ``rows`` (rowid, ns, episode, content);
    ``g`` the gate's factor."""
    facts = {int(r[0]): ((str(r[1]), str(r[2])) if r[2] is not None else None, str(r[3])) for r in rows}
    seen: set[tuple[str, str]] = set()
    out: dict[int, float] = {}
    for rowid, score in ranked:
        episode, content = facts.get(rowid, (None, ""))
        if episode is None or episode in seen:
            continue
        seen.add(episode)
        if rowid in named and not is_question(content):
            out[rowid] = g * config.coverage_weight * score
    return out


def add_coverage(cands: Mapping[int, Candidate], gains: Mapping[int, float]) -> None:
    """Apply :func:`coverage_steps`' ``gains`` to ``cands`` (in place), each with its reason."""
    for rowid, value in gains.items():
        cand = cands.get(rowid)
        if cand is not None and value:
            cand.score += value
            cand.reasons.append(ScoreReason(
                signal="coverage", value=1.0, contribution=value,
                detail="the best hit of its episode, said by the person a list question names",
            ))

"""Episode focus of a question about one moment: the episode that matches as a whole lifts its turns.

A question that is not list-shaped ("How did Melanie feel while watching the
meteor shower?") is mostly answered inside one episode, often by a turn that
shares few of its words ("It was one of those moments where I felt tiny and in
awe of the universe"), while the turns that do share them sit in that episode
too (the camping trip, the meteor shower). With ``episode_focus`` on, each
candidate gains ::

    focus(m) = episode_focus · E(episode of m) / E_max

``E`` the summed score of the best ``episode_top`` candidates of an episode,
``E_max`` the best episode's: the turns of the episode the question is about
climb past the lone matches of other episodes. It is ``episode_weight``
(``_rerank``) held to the question shape it helps: on the LoCoMo dev
conversations, lifting whole episodes lowers the recall of list questions,
whose answers are spread over sessions (``coverage_weight`` spreads them
instead), and raises that of questions about one moment. A text that is not
put as a question (an agent's task, a phrase to look up), a list question and
a question naming no one are left as they are, and their candidates' text is
not read for it: every LoCoMo question that gains names the person it is
about, and for a question naming no one ("What did we decide about the
budget?", an agent's recall) the signal is unmeasured and would read every
candidate's facts (about 1.5 ms on a 10,000-memory agent namespace).

It reads only the episode of the candidates already fetched by ``_rerank``
(their :class:`~mnemos.memory_adapters._rerank.Facts`), so nothing beyond the
query's namespace and filters, on both stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from mnemos.memory_adapters._query import QueryAnalysis
from mnemos.memory_adapters._ranking import Candidate, RankingConfig
from mnemos.memory_adapters.base import ScoreReason

__all__ = ["add_focus", "lift_episodes", "uses_focus"]


class _InEpisode(Protocol):
    """What the focus reads of a candidate's facts (``_rerank.Facts``)."""

    @property
    def episode(self) -> str | None: ...


def uses_focus(config: RankingConfig, q: QueryAnalysis) -> bool:
    """Whether the episode focus is on for this query: a question that is not list-shaped and
    names someone."""
    return config.episode_focus > 0 and q.asks_question and not q.is_list and bool(q.persons)


def add_focus(cands: Mapping[int, Candidate], facts: Mapping[int, _InEpisode], config: RankingConfig) -> None:
    """Add each candidate's episode focus (see the module docstring) to its score, in place."""
    lift_episodes(cands, facts, config.episode_focus, config.episode_top, "focus", "matches the question as a whole")


def lift_episodes(cands: Mapping[int, Candidate], facts: Mapping[int, _InEpisode], weight: float, top: int,
                  signal: str, says: str) -> None:
    """Add ``weight · E/E_max`` to each scored candidate with an episode, in place: ``E`` the
    summed score of the best ``top`` candidates of its episode (``episode_weight`` in
    ``_rerank`` and the focus here)."""
    members: dict[str, list[float]] = {}
    for rowid, cand in cands.items():
        fact = facts.get(rowid)
        if fact is not None and fact.episode is not None and cand.score > 0:
            members.setdefault(fact.episode, []).append(cand.score)
    if not members:
        return
    top = max(1, top)
    totals = {ep: sum(sorted(scores, reverse=True)[:top]) for ep, scores in members.items()}
    best = max(totals.values())
    if best <= 0:
        return
    for rowid, cand in cands.items():
        fact = facts.get(rowid)
        if fact is None or fact.episode is None or cand.score <= 0:
            continue
        total = totals[fact.episode]
        value = weight * total / best
        cand.score += value
        cand.reasons.append(ScoreReason(signal=signal, value=total, contribution=value,
                                        detail=f"episode {fact.episode} {says}"))

"""What a memory gained from standing beside a match, weighed by what the memory is.

The neighbour share (``neighbour_weight``) and the reply signal (``reply_weight``)
lift the turns next to a matching turn of a conversation: the context of a match
often holds the answer. But not every turn beside a match is alike. In LoCoMo's
conversations, a third of the turns that reach the first ten through their
neighbours are the other person's reactions, put as questions ("Cool! What did it
look like?"), while the turn holding the answer is a statement by the person the
question is about. So, after fusion, with ``Facts`` read for the candidates that
can reach the page (see ``_rerank``), what a candidate gained from its neighbours
and its question (``g``, the sum of its ``neighbour`` and ``reply`` reasons) is
weighed::

    score -= neighbour_question_cut · g      if the memory is itself a question
    score += neighbour_speaker_boost · g     if its speaker is a person the query names

Both use only the candidate's own text and speaker (no other record is read), so
another namespace's data changes nothing here. A memory that gained nothing from
a neighbour is left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping

from mnemos.memory_adapters._query import QueryAnalysis, is_question
from mnemos.memory_adapters._ranking import Candidate, RankingConfig
from mnemos.memory_adapters.base import ScoreReason

__all__ = ["beside_gain", "beside_gains", "uses_beside", "weigh_beside"]

_SIGNALS = frozenset({"neighbour", "reply"})


def uses_beside(config: RankingConfig, q: QueryAnalysis) -> tuple[bool, bool]:
    """Whether the question cut and the speaker boost are on for this query (the boost
    only if the query names someone; neither without the neighbour share, which the
    replies need too)."""
    if not config.neighbour_weight > 0:
        return False, False
    return config.neighbour_question_cut > 0, bool(config.neighbour_speaker_boost and q.persons)


def beside_gain(cand: Candidate) -> float:
    """What ``cand`` gained from the turns beside a match (its neighbour and reply reasons)."""
    return sum(r.contribution for r in cand.reasons if r.signal in _SIGNALS and r.contribution > 0)


def beside_gains(cands: Mapping[int, Candidate]) -> dict[int, float]:
    """What each candidate that gained beside a match gained (the others are left out);
    run over every candidate of a search, so written for speed."""
    out: dict[int, float] = {}
    for rowid, cand in cands.items():
        gain = 0.0
        for r in cand.reasons:
            if r.signal in _SIGNALS and r.contribution > 0:
                gain += r.contribution
        if gain > 0:
            out[rowid] = gain
    return out


def weigh_beside(
    cand: Candidate, content: str, speaker: str | None, persons: frozenset[str], config: RankingConfig
) -> None:
    """Apply the module docstring's weights to ``cand`` (in place)."""
    cut = config.neighbour_question_cut
    boost = config.neighbour_speaker_boost if persons and speaker and speaker.casefold() in persons else 0.0
    if not cut and not boost:
        return
    gain = beside_gain(cand)
    if gain <= 0:
        return
    if cut and is_question(content):
        cand.score -= cut * gain
        cand.reasons.append(ScoreReason(
            signal="question", value=gain, contribution=-cut * gain,
            detail="a question beside a match: keeps less of its neighbours' share",
        ))
    if boost:
        cand.score += boost * gain
        cand.reasons.append(ScoreReason(
            signal="speaker", value=gain, contribution=boost * gain,
            detail=f"beside a match and said by {speaker}, named in the query",
        ))

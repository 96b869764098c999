"""Pseudo-relevance feedback: a second keyword round with the salient words of the first hits.

The words a question uses are often not the words its evidence uses ("hobbies"
against "kayaking"); the best first hits usually do hold some of them. With
``feedback_weight`` on, the adapter:

1. reads the text of the ``feedback_pool`` best candidates by fused score;
2. takes from the ``feedback_docs`` best of them the ``feedback_terms`` words
   with the highest ``tf · idf`` (tf over those best hits, idf over the pool),
   leaving out stopwords, numbers, the question's own words, and words held by
   every hit of the pool (:func:`feedback_terms`);
3. runs its keyword search again with the question plus those words, and fuses
   that list into every candidate's score with weight ``feedback_weight``
   (:func:`add_feedback`); a record only the second round finds becomes a
   candidate (the keyword search applies every filter of the query, so it
   passes them).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

from mnemos.memory_adapters._hop import content_terms
from mnemos.memory_adapters._ranking import Candidate, RankingConfig, fuse
from mnemos.memory_adapters._text import tokens
from mnemos.memory_adapters.base import ScoreReason
from mnemos.memory_adapters.embedders._lexical import stem

__all__ = ["add_feedback", "expanded_query", "feedback_terms", "pool", "uses_feedback"]


def uses_feedback(config: RankingConfig) -> bool:
    """Whether the second round is on (a keyword round: never in vector-only mode)."""
    return (
        config.feedback_weight > 0
        and config.feedback_terms > 0
        and config.feedback_docs > 0
        and config.mode != "vector"
    )


def pool(cands: Mapping[int, Candidate], config: RankingConfig) -> list[int]:
    """The rowids whose text the feedback reads: the best ``feedback_pool`` by fused score
    (at least ``feedback_docs``), best first."""
    size = max(config.feedback_pool, config.feedback_docs)
    ranked = sorted((c for c in cands.values() if c.fusion > 0), key=lambda c: (-c.fusion, c.rowid))
    return [c.rowid for c in ranked[:size]]


def feedback_terms(query: str, texts: Sequence[str], config: RankingConfig) -> list[str]:
    """The salient words (module docstring, step 2) of ``texts``, the pool best first."""
    if not texts:
        return []
    asked = frozenset(tokens(query))
    skip = asked | frozenset(stem(w) for w in asked)
    stems = [content_terms(t, skip) for t in texts]
    df: Counter[str] = Counter()
    for found in stems:
        df.update(found)
    n = len(texts)
    shown: dict[str, str] = {}  # a readable word for each stem, from the best hits
    tf: Counter[str] = Counter()
    for text in texts[: config.feedback_docs]:
        for word in tokens(text):
            key = stem(word)
            if key in df and (df[key] < n or n == 1):
                tf[key] += 1
                shown.setdefault(key, word)
    scored = sorted(
        ((tf[k] * math.log(1.0 + n / df[k]), k) for k in tf), key=lambda x: (-x[0], x[1])
    )
    return [shown[k] for _, k in scored[: config.feedback_terms]]


def expanded_query(query: str, terms: Sequence[str]) -> str:
    """The second round's text: the question, then the feedback words."""
    return " ".join([query, *terms])


def add_feedback(
    cands: dict[int, Candidate],
    second: Sequence[tuple[int, float]],
    terms: Sequence[str],
    config: RankingConfig,
) -> None:
    """Fuse the second round's keyword list into ``cands`` with weight ``feedback_weight``,
    adding the records only it found (in place)."""
    if not second:
        return
    # the adapters sum BM25 in different orders: round so that equal scores tie on both
    rounded = sorted(((r, round(s, 9)) for r, s in second), key=lambda x: (-x[1], x[0]))
    found = fuse(rounded, [], config)
    note = ", ".join(terms[:5])
    for rowid, hit in found.items():
        value = config.feedback_weight * hit.fusion
        if value <= 0:
            continue
        cand = cands.get(rowid)
        if cand is None:
            cand = cands[rowid] = Candidate(rowid=rowid)
        cand.fusion += value
        cand.score += value
        cand.reasons.append(
            ScoreReason(
                signal="feedback",
                value=hit.fusion,
                contribution=value,
                detail=f"found again with the words of the best hits ({note})",
            )
        )

"""A second hop inside the candidates: what the best hits are about, found in other episodes.

A multi-hop question ("What might Caroline study, given her work and her
hobbies?") has its evidence in several episodes, and only the first part
shares words with the question. The best hits do share words with the rest:
the second part usually names what the first one was about (the centre, the
shelter, the adoption). With ``hop_weight`` on, :func:`add_hops` gives every
candidate of another episode a share of a seed's score in proportion to the
seed's rare words it holds::

    hop(c) = hop_weight · max over seeds s in another episode of
             (score(s) / score(best)) · Σ idf(shared words) / Σ idf(words of s)

where the seeds are the ``hop_seeds`` best candidates, a seed's words are its
content words that are not in the question and occur in at most
``hop_max_share`` of the candidates, or in two (names and small talk that every turn
holds say nothing), and idf is counted over the candidates. It reads only the
candidates the adapter already fetched (no second search), so it costs a few
string operations per candidate.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

from mnemos.memory_adapters._ranking import Candidate, RankingConfig
from mnemos.memory_adapters._text import STOPWORDS, tokens
from mnemos.memory_adapters.base import ScoreReason
from mnemos.memory_adapters.embedders._lexical import stem

__all__ = ["add_hops", "content_terms"]


def content_terms(content: str, skip: frozenset[str]) -> frozenset[str]:
    """The stemmed content words of ``content``, without stopwords and the words of ``skip``."""
    return frozenset(
        stem(w) for w in tokens(content)
        if len(w) > 2 and w not in STOPWORDS and w not in skip and not w.isdigit()
    )


def add_hops(
    cands: Mapping[int, Candidate],
    contents: Mapping[int, tuple[str, str | None]],
    query_words: frozenset[str],
    config: RankingConfig,
) -> None:
    """Add the hop share of the module docstring to ``cands`` (in place).

    ``contents`` maps a rowid to ``(content, episode)``; candidates without an
    episode neither seed nor gain (a hop goes from one episode to another).
    """
    live = [c for c in cands.values() if c.score > 0 and c.rowid in contents]
    if len(live) < 2 or config.hop_weight <= 0:
        return
    skip = frozenset(query_words) | frozenset(stem(w) for w in query_words)
    terms = {c.rowid: content_terms(contents[c.rowid][0], skip) for c in live}
    df: Counter[str] = Counter()
    for found in terms.values():
        df.update(found)
    n = len(live)
    most = max(2, int(config.hop_max_share * n))  # the seed and one more
    idf = {t: math.log(1.0 + n / k) for t, k in df.items() if k <= most}
    ranked = sorted(live, key=lambda c: (-c.score, c.rowid))
    top = ranked[0].score
    seeds = [(c, {t: idf[t] for t in terms[c.rowid] if t in idf}) for c in ranked[: max(1, config.hop_seeds)]]
    seeds = [(c, words) for c, words in seeds if words and contents[c.rowid][1] is not None]
    if not seeds:
        return
    gains: list[tuple[Candidate, float, list[str]]] = []
    for cand in live:
        episode = contents[cand.rowid][1]
        if episode is None:
            continue
        best: tuple[float, Candidate | None, list[str]] = (0.0, None, [])
        for seed, words in seeds:
            if seed.rowid == cand.rowid or contents[seed.rowid][1] == episode:
                continue
            shared = [t for t in words if t in terms[cand.rowid]]
            if not shared:
                continue
            value = (seed.score / top) * sum(words[t] for t in shared) / sum(words.values())
            if value > best[0]:
                best = (value, seed, shared)
        if best[1] is not None:
            gains.append((cand, config.hop_weight * best[0], best[2]))
    for cand, value, shared in gains:  # after the loop: seeds are read at their own score
        cand.score += value
        cand.reasons.append(ScoreReason(
            signal="hop", value=value / config.hop_weight, contribution=value,
            detail=f"shares {', '.join(sorted(shared)[:4])} with a best hit of another episode",
        ))

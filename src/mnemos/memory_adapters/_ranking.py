"""Hybrid ranking shared by the native and PostgreSQL adapters: rank fusion, then small extra signals.

The score of a hit is::

    fusion      = Σ weight_list / (rrf_k + rank_list)       (reciprocal-rank fusion),
                  scaled so rank 1 in every list gives 1.0; vector hits below
                  ``vector_min_similarity`` add nothing; or, with ``fusion="zscore"``,
                  Σ weight_list · max(0, z_list) / z_best_list / Σ weight
                  (z the z-score of the raw score among the list's hits)
    + neighbour = neighbour_weight · best fusion of an adjacent event in the same episode
    + graph     = graph_weight · fusion of the hit it is linked to · graph_decay^(hops-1)
    + recency   = recency_weight · 0.5^(age / half-life)
    + importance= importance_weight · (importance - 0.5)

Every term that contributes is reported as a :class:`ScoreReason`.

The defaults were tuned on the LoCoMo dev conversations (one memory per dialog
turn): evidence recall@10 0.70 with the built-in hashing embedder and 0.75 with
all-MiniLM-L6-v2, against 0.59 for plain BM25 and 0.50 for plain dense cosine.
A small ``rrf_k``, keyword rank weighted above vector rank, and a strong
neighbour share (two events either side) each added several points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mnemos.exceptions import ConfigurationError
from mnemos.memory_adapters.base import ScoreReason
from mnemos.memory_adapters.embedders.base import CLASSIC_BM25_B, Embedder

__all__ = [
    "Candidate",
    "RankingConfig",
    "add_gains",
    "fuse",
    "fusion_reasons",
    "graph_gains",
    "graph_reason",
    "kept_terms",
    "neighbour_links",
    "neighbour_reason",
    "page",
    "recency_and_importance",
    "reply_gains",
    "reply_reason",
    "reply_seeds",
    "spread",
]


@dataclass(kw_only=True, frozen=True)
class RankingConfig:
    """Tunable parameters of native search (one place, so benchmarks can sweep them)."""

    mode: Literal["hybrid", "keyword", "vector"] = "hybrid"
    """Which rank lists to fuse."""
    keyword_statistics: Literal["scope", "store"] = "scope"
    """Where BM25's statistics come from: the records the search can see (``scope``,
    so nothing about other scopes shows in scores or reasons), or the whole store
    (``store``: FTS5's own bm25; on PostgreSQL the same formula over the whole table)."""
    fusion: Literal["rrf", "zscore"] = "zscore"
    """How the keyword and vector lists are combined: by rank (reciprocal-rank fusion),
    or by their raw scores standardised per list (``zscore``: 95% of a hit's contribution
    is ``weight · max(0, z) / z_best``, ``z`` its score's z-score among the list's hits, and
    5% its reciprocal-rank one), so a hit far ahead of the rest of its list counts for more
    than one just ahead. A list of fewer than 10 hits is fused by rank."""
    rrf_k: float = 3.0
    """Reciprocal-rank-fusion constant: larger flattens the rank differences (the
    usual 60 is far too flat for conversational memory; see the module docstring)."""
    keyword_weight: float = 4.0
    vector_weight: float = 1.0
    vector_min_similarity: float = 0.1
    """A vector hit below this cosine stays a candidate but earns no fusion score (rank
    alone would give near-random neighbours of a query as much credit as real matches)."""
    candidates: int = 100
    """How many hits each list contributes before fusion (at least ``limit``)."""
    bm25_k1: float = 1.2
    """BM25's term-frequency saturation (> 0) of the keyword list computed with the scope's
    statistics, and of PostgreSQL's in either mode (FTS5's own bm25, ``keyword_statistics
    ="store"`` on SQLite, keeps 1.2)."""
    bm25_b: float | None = None
    """BM25's length normalisation (0: none, 1: full), where ``bm25_k1`` applies; None (the
    default) takes the embedder's preference (``Embedder.bm25_b``, see :meth:`bm25_b_for`):
    0.3 with the built-in hashing embedder and with the neural ones (sentence-transformers,
    LangChain), each chosen leave-one-conversation-out on LoCoMo (0.2-0.4 in every fold with
    hashing, 0.2-0.3 with all-MiniLM-L6-v2); BM25's usual 0.75 with an embedder that states
    none, and with ``keyword_statistics="store"`` (FTS5's own value on SQLite)."""
    max_keyword_postings: int = 4_000
    """Keyword search drops the query's most common terms beyond this many matching
    postings (the rarest term is kept up to twice that): bounds its cost on large
    stores, where such terms barely move bm25 and vector search still sees them."""
    recency_weight: float = 0.02
    recency_half_life_days: float = 30.0
    importance_weight: float = 0.02
    neighbour_weight: float = 0.5
    """Share of a hit's fused score given to its adjacent events (0 disables)."""
    neighbour_window: int = 2
    """How many events before and after a hit count as adjacent."""
    neighbour_seeds: int = 10
    """How many of the best fused hits spread score to their neighbours."""
    reply_weight: float = 0.75
    """A best hit that is itself a question ("What inspired you?") raises the event just after
    it in its episode, its reply, to at least this share of its own score (0 disables; so
    does ``neighbour_weight=0``, the reply being the neighbour after the question): the
    question shares the asker's words, the reply holds the answer. On by default: chosen
    leave-one-conversation-out on LoCoMo in every fold with both the built-in embedder
    (0.75-0.8) and MiniLM (0.7); 0.75 is the middle of the six choices."""
    reply_seeds: int = 10
    """How many of the best hits (after the neighbour shares) may pass their score to a reply."""
    graph_hops: int = 0
    """Default for the ``graph_hops`` search option (0: no graph expansion)."""
    graph_weight: float = 0.3
    graph_decay: float = 0.5
    graph_seeds: int = 5
    """How many of the best hits seed the graph expansion."""
    graph_limit: int = 50
    """Most memories pulled in through the graph per search."""
    question_penalty: float = 0.0
    """Share of its score a memory that is itself a question loses (see ``_rerank``)."""
    exclusion_penalty: float = 0.0
    """Share of its score a memory holding a word the query excludes ("besides X") loses."""
    speaker_weight: float = 0.03
    """Added when the memory's speaker is a person the query names (soft: a question that
    swaps the person on purpose still finds the other's memories). Leave-one-conversation-out
    on LoCoMo chose 0.03 in every fold with both embedders, together with ``reply_weight``."""
    when_weight: float = 0.0
    """Added to a memory that says when, if the query asks when."""
    date_weight: float = 0.3
    """Added to a memory written inside a period the query names ("7 May 2023", "May 2023",
    "two weeks before 11 August 2023", "in June"; see ``_query``). On by default: chosen
    leave-one-conversation-out on LoCoMo (every fold, with both embedders)."""
    episode_weight: float = 0.0
    """Share of the best episode's summed score each of its memories gains (scaled per episode)."""
    episode_top: int = 3
    """How many of an episode's best candidates make up its score."""
    episode_focus: float = 0.15
    """``episode_weight`` for a text put as a question that names someone and is not list-shaped
    only (a question about one moment, answered inside one episode; see ``_focus``; 0 disables). On by default:
    leave-one-conversation-out on LoCoMo turned it on in every fold with the built-in embedder
    (0.15 in each, and 0.15-0.25 with bm25_b and the answering turns chosen per fold too) and
    with MiniLM (0.1-0.25)."""
    diversity: float = 0.0
    """For list questions: share of its score a memory loses per memory of its episode
    already on the page."""
    hop_weight: float = 0.0
    """Share of a best hit's score a candidate of another episode gains for holding the
    hit's rare words that the query lacks (a second hop, see ``_hop``; 0 disables)."""
    hop_seeds: int = 3
    """How many of the best candidates seed the second hop."""
    hop_max_share: float = 0.05
    """A word held by more than this share of the candidates is too common to hop on."""
    context_weight: float = 0.0
    """Share of a candidate's fused score taken from its score together with the turns
    beside it in its episode (see ``_context``; 0 disables)."""
    context_mix: float = 0.5
    """Weight of an adjacent turn's raw score in a candidate's context score."""
    context_window: int = 1
    """How many turns either side count as a candidate's context."""
    feedback_weight: float = 0.0
    """Weight of a second keyword round with the salient words of the best hits (pseudo-
    relevance feedback, see ``_feedback``; 0 disables)."""
    feedback_docs: int = 3
    """How many of the best hits give the feedback words."""
    feedback_terms: int = 5
    """How many words the second round adds to the question."""
    feedback_pool: int = 30
    """How many of the best candidates the words' rarity is counted over."""
    entity_weight: float = 0.2
    """A second retrieval round through the typed entity graph of the scope: a memory
    holding an item of a kind the question asks for ("what pets": "cat"), said by the
    person the question names, gains ``entity_weight / ln(1 + df(item))`` even if it was
    not a candidate (see ``_episodic_graph``; 0 disables). The items are kept with each
    memory when it is written; leave-one-conversation-out on LoCoMo chose 0.2 in every
    fold with the built-in embedder, 0.1-0.2 with MiniLM."""
    item_hops_weight: float = 0.3
    """For a list question naming a person: hops from the best hits through their typed
    items, where a memory of that person sharing rare items (places, pets, names,
    activities) with the ``item_hops_seeds`` best candidates gains up to this share of
    the best score, even if it was not a candidate (see ``_hops``; 0 disables).
    Leave-one-conversation-out on LoCoMo chose 0.2-0.3 in every fold with both the
    built-in embedder and MiniLM."""
    item_hops_seeds: int = 5
    """How many of the best candidates seed the hop round."""
    list_weight: float = 0.0
    """For a list question: the items of the asked kinds that the best first-round hits hold
    ("running", beside "de-stress") lift every other memory holding them, up to this much
    (see ``_lists``; 0 disables)."""
    list_seeds: int = 20
    """How many of the best fused candidates say which items the list question is about."""
    session_weight: float = 0.0
    """Episode-level retrieval: the best episodes, each scored as one document, admit
    their members, which gain up to this much (see ``_episodes``; 0 disables)."""
    session_top: int = 3
    """How many of the best episodes admit their members."""
    session_pool: int = 30
    """The episodes of this many of the best candidates are scored."""
    session_date_weight: float = 0.0
    """With ``session_weight`` on, added to the score of an episode written inside a date
    window the question names ("in May 2023"), which is read even if none of its
    members was a candidate (0 disables)."""
    decompose_weight: float = 0.0
    """For a question that joins two people or two facts ("what do X and Y both like",
    "what did X do after Y"): share of each sub-query's fused score its hits gain, the
    sub-queries searched like the question (see ``_decompose``; 0 disables)."""
    answer_weight: float = 0.1
    """For a question whose answers are spread over sessions, naming someone: what each of
    the best candidates said by that person gains, scaled by how much of the first round's
    score is theirs (see ``_answers``; 0 disables, with ``answer_item_weight``).
    Leave-one-conversation-out on LoCoMo turned the signal on in every fold with both
    the built-in embedder and MiniLM (0.1-0.3; these defaults were chosen by two folds)."""
    answer_item_weight: float = 0.6
    """With it, what such a memory gains more when it names an item of a kind the question
    asks for ("what activities": "swimming")."""
    answer_cover: float = 0.3
    """With it, the share of its score a memory loses when every asked item it names is
    named by a better one (so the page lists more items)."""
    answer_gate: float = 0.5
    """The named person's share of the best candidates' score below which the signal
    stays off (the question is more likely about the other person)."""
    coverage_weight: float = 0.3
    """For a question whose answers are spread over sessions, naming someone: the share of its
    score the best candidate of each episode gains when the named person said it and it is no
    question, so the page covers more episodes (gated by ``answer_gate``, see ``_coverage``; 0
    disables). Leave-one-conversation-out on LoCoMo turned it on in five folds of six (hashing
    0.1-0.3 in every fold, MiniLM 0.3-0.5 in two)."""
    neighbour_question_cut: float = 0.3
    """Share of what a memory gained from the turns beside a match (its neighbour and reply
    shares) that it loses if it is itself a question (the other person's reaction, "What did
    it look like?", rarely holds the answer; see ``_beside``; 0 disables). On by default:
    leave-one-conversation-out on LoCoMo turned it on in every fold with both the built-in
    embedder and MiniLM (0.3-0.5); 0.3 gives the best recall on all three conversations."""
    neighbour_speaker_boost: float = 0.0
    """Share of what a memory gained from the turns beside a match that it gains more if
    its speaker is a person the query names (see ``_beside``; 0 disables). Off: chosen
    leave-one-conversation-out in two folds of three with the built-in embedder, in none
    with MiniLM."""

    def __post_init__(self) -> None:
        b, k1 = self.bm25_b, self.bm25_k1
        if b is not None and (isinstance(b, bool) or not isinstance(b, int | float) or not 0.0 <= b <= 1.0):
            raise ConfigurationError(f"bm25_b must be None or a number between 0 and 1, got {b!r}")
        if isinstance(k1, bool) or not isinstance(k1, int | float) or not 0.0 < k1 < float("inf"):
            raise ConfigurationError(f"bm25_k1 must be a positive number, got {k1!r}")

    def bm25_b_for(self, embedder: Embedder) -> float:
        """The BM25 length normalisation a search with ``embedder``'s vectors uses: ``bm25_b``
        if set, else the embedder's own preference (``Embedder.bm25_b``); with the whole
        store's statistics (``keyword_statistics="store"``), else 0.75, as FTS5's own bm25 has
        on SQLite, so PostgreSQL's ranks alike."""
        if self.bm25_b is not None:
            return self.bm25_b
        return CLASSIC_BM25_B if self.keyword_statistics == "store" else embedder.bm25_b


@dataclass(kw_only=True, slots=True)
class Candidate:
    """A record under consideration, with the signals gathered for it so far."""

    rowid: int
    keyword: tuple[int, float, float] | None = None
    """(rank, bm25 score, contribution) in the keyword list."""
    vector: tuple[int, float, float] | None = None
    """(rank, cosine, contribution) in the vector list."""
    reasons: list[ScoreReason] = field(default_factory=list)
    fusion: float = 0.0
    score: float = 0.0


def add_gains(
    cands: dict[int, Candidate],
    gains: Mapping[int, tuple[int, float]],
    allowed: set[int],
    reason: Callable[[int, int, float], ScoreReason],
) -> None:
    """Add score ``gains`` (target -> (source, value)) to candidates, each explained by
    ``reason``; a target not yet a candidate joins only if it is in ``allowed``."""
    for target, (source, value) in gains.items():
        cand = cands.get(target)
        if cand is None:
            if target not in allowed:
                continue
            cand = cands[target] = Candidate(rowid=target)
        cand.score += value
        cand.reasons.append(reason(target, source, value))


def fuse(
    keyword: Sequence[tuple[int, float]],
    vector: Sequence[tuple[int, float]],
    config: RankingConfig,
) -> dict[int, Candidate]:
    """Reciprocal-rank fusion of two ``(rowid, raw score)`` lists, best first.

    The reasons of the fusion are not written yet (most candidates are dropped):
    :func:`fusion_reasons` gives them for the candidates kept.
    """
    out: dict[int, Candidate] = {}
    use_kw = config.mode in ("hybrid", "keyword") and bool(keyword)
    use_vec = config.mode in ("hybrid", "vector") and bool(vector)
    total = (config.keyword_weight if use_kw else 0.0) + (config.vector_weight if use_vec else 0.0)
    scale = (config.rrf_k + 1.0) / total if total > 0 else 0.0
    lists: list[tuple[bool, Sequence[tuple[int, float]], float]] = []
    if use_kw:
        lists.append((False, keyword, config.keyword_weight))
    if use_vec:
        lists.append((True, vector, config.vector_weight))
    rrf_k = config.rrf_k
    # a vector hit under the similarity floor stays in the list but earns nothing
    floor = config.vector_min_similarity
    for is_vector, ranked, weight in lists:
        shares = _zshares(ranked) if config.fusion == "zscore" and len(ranked) >= Z_MIN_HITS else None
        z_weight = (1 - Z_RANK_SHARE) * weight
        get = out.get
        rank, previous = 0, None
        for position, (rowid, raw) in enumerate(ranked, start=1):
            if raw != previous:  # equal raw scores share a rank
                rank, previous = position, raw
            if is_vector and raw < floor:
                contribution = 0.0
            elif shares is None:
                contribution = weight / (rrf_k + rank) * scale
            else:  # with a little of the rank, so every hit keeps a score
                contribution = z_weight * shares[position - 1] / total + Z_RANK_SHARE * (weight / (rrf_k + rank) * scale)
            found = (rank, raw, contribution)
            cand = get(rowid)
            if cand is None:
                cand = out[rowid] = _candidate(rowid)
                cand.fusion = cand.score = 0.0 + contribution
            else:
                cand.fusion += contribution
                cand.score = cand.fusion
            if is_vector:
                cand.vector = found
            else:
                cand.keyword = found
    return out


_new = object.__new__


def _candidate(rowid: int) -> Candidate:
    """``Candidate(rowid=rowid)``, built without the dataclass's keyword-only ``__init__``
    (a third of its cost; fusion builds one for each hit of both lists)."""
    cand: Candidate = _new(Candidate)
    cand.rowid = rowid
    cand.keyword = cand.vector = None
    cand.reasons = []
    cand.fusion = cand.score = 0.0
    return cand


Z_MIN_HITS = 10
"""With ``fusion="zscore"``, a list with fewer hits is fused by rank: a spread of a few scores
says little (two hits are always one standard deviation either side of their mean)."""
Z_RANK_SHARE = 0.05
"""With ``fusion="zscore"``, the share of a hit's contribution that still comes from its rank:
a hit below its list's mean keeps a small score, in rank order (else it would be no match)."""


def _zshares(ranked: Sequence[tuple[int, float]]) -> list[float]:
    """Each hit's ``max(0, z) / z_best`` (``z`` the z-score of its raw score in the list);
    1.0 for every hit of a list whose scores are all equal.

    In plain Python, a list being short (numpy's calls cost more than its hundred
    floats): the mean and standard deviation are summed the way numpy sums them
    (:func:`_pairwise_sum`), so every share is what ``numpy.std`` and ``mean`` give."""
    raw = [r for _, r in ranked]
    n = len(raw)
    mean = _pairwise_sum(raw, 0, n) / n
    sd = math.sqrt(_pairwise_sum([(x - mean) * (x - mean) for x in raw], 0, n) / n)
    if not sd > 1e-12:
        return [1.0] * n
    z = [(x - mean) / sd for x in raw]
    best = max(z)
    return [(x if x > 0.0 else 0.0) / best for x in z]


def _pairwise_sum(a: Sequence[float], lo: int, n: int) -> float:
    """``sum(a[lo:lo + n])`` added in numpy's order (pairwise, eight partial sums per
    block of up to 128), so the result is numpy's to the last bit."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    if n <= 128:
        r0, r1, r2, r3, r4, r5, r6, r7 = a[lo : lo + 8]
        end = lo + n - n % 8
        for i in range(lo + 8, end, 8):
            r0 += a[i]
            r1 += a[i + 1]
            r2 += a[i + 2]
            r3 += a[i + 3]
            r4 += a[i + 4]
            r5 += a[i + 5]
            r6 += a[i + 6]
            r7 += a[i + 7]
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for i in range(end, lo + n):
            res += a[i]
        return res
    half = n // 2
    half -= half % 8
    return _pairwise_sum(a, lo, half) + _pairwise_sum(a, lo + half, n - half)


def fusion_reasons(cand: Candidate) -> list[ScoreReason]:
    """The keyword and vector reasons of a fused candidate."""
    out = []
    for signal, label, found in (("keyword", "bm25", cand.keyword), ("vector", "cosine", cand.vector)):
        if found is not None:
            rank, raw, contribution = found
            out.append(ScoreReason(signal=signal, value=float(raw), contribution=contribution,
                                   detail=f"rank {rank}, {label} {raw:.3g}"))
    return out


def spread(
    candidates: Mapping[int, Candidate], links: Mapping[int, Sequence[tuple[int, float]]]
) -> dict[int, tuple[int, float]]:
    """For each target rowid, the best ``(source rowid, weighted fusion)`` among its links.

    ``links`` maps a source rowid to ``(target rowid, weight)`` pairs.
    """
    best: dict[int, tuple[int, float]] = {}
    for source, targets in links.items():
        base = candidates[source].fusion
        for target, weight in targets:
            value = base * weight
            if target != source and value > best.get(target, (0, 0.0))[1]:
                best[target] = (source, value)
    return best


def neighbour_links(
    seeds: Sequence[int],
    sides: Mapping[tuple[int, str], Sequence[tuple[Any, int]]],
    config: RankingConfig,
) -> dict[int, list[tuple[int, float]]]:
    """Neighbour weights from the events found either side of each seed.

    ``seeds`` are the seeds in an episode; ``sides`` maps ``(seed rowid, "<" or ">")``
    to ``(created, rowid)`` pairs of the events before or after it (any order); the
    nearest gets the largest share.
    """
    window = max(1, config.neighbour_window)
    links: dict[int, list[tuple[int, float]]] = {seed: [] for seed in seeds}
    for (seed, side), near in sides.items():
        ordered = sorted(near, reverse=side == "<")  # nearest first
        links[seed].extend(
            (r, config.neighbour_weight * (1.0 - i / (window + 1))) for i, (_, r) in enumerate(ordered)
        )
    return links


def reply_seeds(candidates: Mapping[int, Candidate], config: RankingConfig) -> list[int]:
    """The best ``config.reply_seeds`` candidates by score so far: those whose reply may gain."""
    ranked = sorted(candidates.values(), key=_ROWID)  # best score first, ties by rowid (as ``page``)
    ranked.sort(key=_SCORE, reverse=True)
    return [c.rowid for c in ranked[: config.reply_seeds]]


def reply_gains(
    candidates: Mapping[int, Candidate], replies: Mapping[int, int], config: RankingConfig
) -> dict[int, tuple[int, float]]:
    """What each reply gains (``target -> (question, value)``): up to ``reply_weight`` times
    the score of the question it follows (``replies`` maps a question to its reply)."""
    gains: dict[int, tuple[int, float]] = {}
    for question, reply in replies.items():
        value = config.reply_weight * candidates[question].score
        have = candidates[reply].score if reply in candidates else 0.0
        if value > have and value - have > gains.get(reply, (0, 0.0))[1]:
            gains[reply] = (question, value - have)
    return gains


def reply_reason(value: float, question_id: str) -> ScoreReason:
    return ScoreReason(signal="reply", value=value, contribution=value,
                       detail=f"the reply to {question_id}, a question matching the query")


def graph_gains(
    candidates: Mapping[int, Candidate], reached: Mapping[int, tuple[int, int]], config: RankingConfig
) -> dict[int, tuple[int, float]]:
    """The score each memory reached through the graph (``rowid -> (hops, seed)``) gains:
    ``target -> (seed, value)``, the best ``config.graph_limit`` of them."""
    gains: dict[int, tuple[int, float]] = {}
    for target, (hops, source) in reached.items():
        gains[target] = (source, config.graph_weight * candidates[source].fusion * config.graph_decay ** (hops - 1))
    return dict(sorted(gains.items(), key=lambda kv: -kv[1][1])[: config.graph_limit])


def recency_and_importance(
    candidates: Mapping[int, Candidate],
    rowids: Sequence[int],
    ages: npt.NDArray[np.float64],
    importances: Sequence[float],
    config: RankingConfig,
) -> Callable[[Candidate], None]:
    """Add recency (from ``ages`` in seconds) and importance to the scores of ``rowids``;
    return what adds their reasons to a candidate (worth doing only for the page returned)."""
    if not rowids or not (config.recency_weight or config.importance_weight):
        return lambda cand: None
    half_life = config.recency_half_life_days
    decayed = np.exp(-np.log(2) * np.maximum(ages, 0.0) / (half_life * 86400.0))
    importance = list(importances)
    # each addend in numpy, with the float64 operations of ``w_r * decay + w_i * (value - 0.5)``
    added = config.recency_weight * decayed + config.importance_weight * (np.asarray(importance, dtype=np.float64) - 0.5)
    for rowid, value in zip(rowids, added.tolist(), strict=True):
        candidates[rowid].score += value
    decays = decayed.tolist()
    position: dict[int, int] = {}  # built for the page's first reason (few candidates get one)

    def explain(cand: Candidate) -> None:
        if not position:
            position.update(zip(rowids, range(len(rowids)), strict=True))
        i = position[cand.rowid]
        if config.recency_weight:
            cand.reasons.append(ScoreReason(
                signal="recency", value=decays[i], contribution=config.recency_weight * decays[i],
                detail=f"half-life {half_life:g} days",
            ))
        if config.importance_weight:
            cand.reasons.append(ScoreReason(
                signal="importance", value=importance[i],
                contribution=config.importance_weight * (importance[i] - 0.5),
            ))

    return explain


def neighbour_reason(source_fusion: float, value: float, source_id: str) -> ScoreReason:
    return ScoreReason(signal="neighbour", value=source_fusion, contribution=value,
                       detail=f"next to {source_id} in the same episode")


def graph_reason(hops: int, value: float, source_id: str) -> ScoreReason:
    return ScoreReason(signal="graph", value=float(hops), contribution=value,
                       detail=f"{hops} hop(s) from {source_id}")


def page(candidates: Mapping[int, Candidate], offset: int, limit: int) -> list[Candidate]:
    """The candidates that earned a score (a vector hit under the similarity floor that
    nothing else vouches for is no match), best first, ``offset``/``limit`` applied."""
    kept = [c for c in candidates.values() if c.score > 0]
    # best score first, ties by rowid: two stable sorts with C key functions
    kept.sort(key=_ROWID)
    kept.sort(key=_SCORE, reverse=True)
    return kept[offset : offset + limit]


_ROWID = attrgetter("rowid")
_SCORE = attrgetter("score")


def kept_terms(docs: dict[str, int], lexemes: Sequence[str], budget: int) -> list[str]:
    """The rarest of ``lexemes`` (by ``docs``, their document frequencies) whose postings
    together fit ``budget``, the rarest alone up to twice it: the terms a keyword search
    keeps (``RankingConfig.max_keyword_postings``); the commonest add little and cost much."""
    kept: list[str] = []
    total = 0
    for count, term in sorted((docs[t], t) for t in lexemes if docs.get(t)):
        if total + count > budget and (kept or count > 2 * budget):
            break
        kept.append(term)
        total += count
    return kept

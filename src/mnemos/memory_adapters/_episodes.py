"""Episode-level retrieval: find the episodes (sessions) about the query, then their turns.

A turn often answers a question with none of its words ("kayaking" for "what
hobbies"), while the session it belongs to, taken as a whole, is plainly about
it. With ``session_weight`` on, after fusion the adapter:

1. takes the episodes of the best ``session_pool`` candidates (by fused score),
   and reads every member of those episodes that the query may see (the same
   namespace, kinds, times and filters as the search itself: nothing of another
   scope is read, so nothing of it can enter or move a score), with its text and
   its cosine to the query;
2. scores each episode as one document (:func:`session_gains`): BM25 over the
   concatenated text of its members (statistics over the episodes read), and
   the cosine of the query with the episode's mean embedding, each standardised
   over the episodes (the share of a z-score above the mean, as ``zscore``
   fusion does) and weighted as the fusion weights the two lists. With
   ``session_date_weight``, the episodes with a member written inside a date
   window the question names ("in May 2023", see ``_query``) are read too, and
   their score gains ``session_date_weight``;
3. admits the members of the best ``session_top`` episodes, each gaining
   ``session_weight · E/E_best · (1 + own)/2``: ``E`` its episode's score,
   ``own`` the member's own keyword and vector score among what was read (BM25
   over the members, cosine standardised over them), so a turn need not have
   been one of the first candidates to be found, and its own words or meaning
   still order it within its episode.

The scoring is shared: each adapter only reads the members (native: SQLite and
the vector cache, PostgreSQL: one statement).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from mnemos.memory_adapters._query import analyze
from mnemos.memory_adapters._ranking import Candidate, RankingConfig
from mnemos.memory_adapters._text import STOPWORDS, tokens
from mnemos.memory_adapters.base import ScoreReason
from mnemos.memory_adapters.embedders._lexical import stem

__all__ = [
    "MEMBER_ROWS",
    "WINDOW_ROWS",
    "Members",
    "date_windows",
    "pool_seeds",
    "session_gains",
    "session_reason",
    "uses_sessions",
    "within_budget",
]

MEMBER_ROWS = 4_000
"""Most members read per search: the episodes of the pool are read best first until
this many rows (an episode that does not fit whole is left out)."""

WINDOW_ROWS = 2_000
"""Most memories inside the question's date windows whose episodes are read."""

_K1 = 1.2
_B = 0.75


@dataclass(frozen=True, slots=True)
class Members:
    """The members of the candidate episodes that the adapter read, column by column."""

    rowids: Sequence[int]
    episodes: Sequence[Hashable]
    """Each member's episode as the store identifies it (its namespace and its key)."""
    contents: Sequence[str]
    similarities: Sequence[float] | None = None
    """Each member's cosine to the query (None without a query vector)."""

    def __len__(self) -> int:
        return len(self.rowids)


def uses_sessions(config: RankingConfig) -> bool:
    """Whether episode-level retrieval is on."""
    return config.session_weight > 0 and config.session_top > 0 and config.session_pool > 0


def pool_seeds(cands: Mapping[int, Candidate], config: RankingConfig) -> list[int]:
    """The candidates whose episodes are read: the best ``session_pool`` by fused score, best first."""
    ranked = sorted((c for c in cands.values() if c.fusion > 0), key=lambda c: (-c.fusion, c.rowid))
    return [c.rowid for c in ranked[: config.session_pool]]


T = TypeVar("T")


def within_budget(rows: list[T], episode_of: Callable[[T], Hashable], episodes: Sequence[Hashable]) -> list[T]:
    """The ``rows`` of the best ``episodes`` (best first) that fit :data:`MEMBER_ROWS` together."""
    if len(rows) <= MEMBER_ROWS:
        return rows
    sizes = Counter(episode_of(r) for r in rows)
    kept: set[Hashable] = set()
    total = 0
    for key in episodes:
        if total + sizes[key] > MEMBER_ROWS:
            break
        kept.add(key)
        total += sizes[key]
    return [r for r in rows if episode_of(r) in kept]


def date_windows(query: str, config: RankingConfig) -> tuple[tuple[datetime, datetime], ...]:
    """The date windows ``[start, end)`` the question names, if ``session_date_weight`` is on."""
    return analyze(query).windows if config.session_date_weight > 0 and query else ()


@lru_cache(maxsize=65_536)
def _stem(word: str) -> str:
    return stem(word)


def _terms(text: str) -> list[str]:
    return [_stem(w) for w in tokens(text) if len(w) > 1 and w not in STOPWORDS]


@lru_cache(maxsize=16_384)
def _counted(text: str) -> dict[str, int]:
    """The stemmed content words of ``text`` with their counts (a function of the text
    alone; kept for the texts searched most)."""
    return dict(Counter(_terms(text)))


def _holding(texts: Sequence[str], asked: Sequence[str]) -> list[int]:
    """The indexes of ``texts`` that may hold one of the ``asked`` stems: every word a stem
    comes from starts with the stem less its last letter, so the texts without such a
    start need no tokenizing."""
    heads = sorted({t[:-1] if len(t) > 3 else t for t in asked}, key=len, reverse=True)
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, heads)) + ")")
    return [i for i, text in enumerate(texts) if pattern.search(text.casefold()) is not None]


def _bm25(tf: npt.NDArray[np.float64], lengths: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """BM25 of each row of ``tf`` (documents × asked terms) with statistics over the rows."""
    n = len(tf)
    df = np.count_nonzero(tf, axis=0).astype(np.float64)
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    mean = float(lengths.mean()) if n else 1.0
    norm = _K1 * (1 - _B + _B * lengths / (mean or 1.0))
    return ((tf * (_K1 + 1) / (tf + norm[:, None])) @ idf).astype(np.float64)


def _shares(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each value's ``max(0, z) / z_best`` among ``values`` (all 0 when they are equal)."""
    if len(values) < 2:
        return (values > 0).astype(np.float64)
    sd = float(values.std())
    if not sd > 1e-12:
        return np.zeros(len(values))
    z = (values - float(values.mean())) / sd
    return np.maximum(z, 0.0) / float(z.max())


def _max_shares(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    best = float(values.max()) if len(values) else 0.0
    return values / best if best > 0 else np.zeros(len(values))


def session_gains(
    query: str, members: Members, config: RankingConfig, dated: Collection[Hashable] = ()
) -> dict[int, tuple[Hashable, float, float]]:
    """What the members of the best episodes gain (module docstring, steps 2-3):
    ``rowid -> (episode, episode score share, gain)``, gains above 0 only; ``dated``
    are the episodes written inside the question's date windows."""
    if not len(members):
        return {}
    asked = list(dict.fromkeys(_terms(query)))
    use_kw = config.mode != "vector" and bool(asked)
    use_vec = config.mode != "keyword" and members.similarities is not None
    kw_weight = config.keyword_weight if use_kw else 0.0
    vec_weight = config.vector_weight if use_vec else 0.0
    total = kw_weight + vec_weight
    if total <= 0:
        return {}
    # by rowid, so ties go the same way whatever order the members were read in
    by_rowid = np.argsort(np.asarray(members.rowids, dtype=np.int64), kind="stable").tolist()
    rowids = [members.rowids[i] for i in by_rowid]
    keys = [members.episodes[i] for i in by_rowid]
    order: dict[Hashable, int] = {}
    episode_of = np.fromiter((order.setdefault(k, len(order)) for k in keys), dtype=np.int64, count=len(keys))
    n_episodes = len(order)
    episode_score = np.zeros(n_episodes)
    own = np.zeros(len(keys))
    if use_kw:
        column = {term: j for j, term in enumerate(asked)}
        wanted = column.keys()
        tf = np.zeros((len(keys), len(asked)))
        lengths = np.zeros(len(keys))
        contents = [members.contents[at] for at in by_rowid]
        for i, content in enumerate(contents):
            lengths[i] = len(content.split())
        for i in _holding(contents, asked):
            counts = _counted(contents[i])
            for term in wanted & counts.keys():
                tf[i, column[term]] = counts[term]
        episode_tf = np.zeros((n_episodes, len(asked)))
        np.add.at(episode_tf, episode_of, tf)
        episode_length = np.bincount(episode_of, weights=lengths, minlength=n_episodes).astype(np.float64)
        episode_score += kw_weight / total * _shares(_bm25(episode_tf, episode_length))
        own += kw_weight / total * _max_shares(_bm25(tf, lengths))
    if members.similarities is not None and use_vec:
        sims = np.asarray(members.similarities, dtype=np.float64)[by_rowid]
        sizes = np.bincount(episode_of, minlength=n_episodes).astype(np.float64)
        means = np.bincount(episode_of, weights=sims, minlength=n_episodes) / np.maximum(sizes, 1.0)
        episode_score += vec_weight / total * _shares(means)
        own += vec_weight / total * _shares(sims)
    if dated:
        episode_score[[e for key, e in order.items() if key in dated]] += config.session_date_weight
    best = float(episode_score.max())
    if best <= 0:
        return {}
    top = [e for e in np.argsort(-episode_score, kind="stable")[: config.session_top].tolist() if episode_score[e] > 0]
    shares = np.zeros(n_episodes)
    shares[top] = episode_score[top] / best
    gains = config.session_weight * shares[episode_of] * (0.5 + 0.5 * own)
    return {
        rowids[i]: (keys[i], float(shares[episode_of[i]]), float(gains[i]))
        for i in np.flatnonzero(gains > 0).tolist()
    }


def session_reason(episode: Hashable, share: float, gain: float) -> ScoreReason:
    """The reason a member of a matching episode gained ``gain``."""
    name = episode[-1] if isinstance(episode, tuple) and episode else episode
    return ScoreReason(signal="session", value=share, contribution=gain,
                       detail=f"its episode {name} matches the query as a whole")

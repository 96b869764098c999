"""Signals read from the candidates' own text and place in the store, after fusion.

Shared by the native and PostgreSQL adapters: each fetches :class:`Facts` for
its candidates (one query over at most a few hundred rows) and calls
:func:`rerank`, then :func:`diversified_page` instead of a plain sort.

With ``q`` the :class:`~mnemos.memory_adapters._query.QueryAnalysis` of the query:

- ``question``: a memory that is itself a question ("Do you have any hobbies?")
  keeps ``1 - question_penalty`` of its score: it shares the asker's words but
  rarely holds the answer (its neighbour, the reply, still gets its share);
- ``exclusion``: a memory holding a word the query excludes ("besides yoga")
  keeps ``1 - exclusion_penalty`` of its score;
- ``speaker``: ``+ speaker_weight`` when its speaker (``provenance.agent`` or
  ``metadata.speaker``) is a person the query names (soft: questions that swap
  the person on purpose must still find the other's memories);
- ``time``: ``+ when_weight`` for a memory that says when ("last week", "in
  May") if the query asks when; ``+ date_weight`` for one written inside a
  date window the query names;
- ``episode``: ``+ episode_weight · E/Emax``, where ``E`` is the summed score of
  the best ``episode_top`` candidates of the memory's episode: a session that
  is about the question lifts all its turns;
- ``focus``: ``+ episode_focus · E/Emax`` likewise, for a question that is not
  list-shaped only (see ``_focus``);
- ``hop``: ``+ hop_weight · ...`` for a memory of another episode holding the
  rare words of a best hit that the query lacks (see ``_hop``);
- diversification (list questions only): the page is chosen greedily, a
  memory's score multiplied by ``(1 - diversity)`` for each memory of its
  episode already chosen, so a list's items come from several episodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from mnemos.memory_adapters._beside import beside_gains, uses_beside, weigh_beside
from mnemos.memory_adapters._focus import add_focus, lift_episodes, uses_focus
from mnemos.memory_adapters._hop import add_hops
from mnemos.memory_adapters._query import QueryAnalysis, is_question, mentions_time
from mnemos.memory_adapters._ranking import Candidate, RankingConfig, page
from mnemos.memory_adapters._text import tokens
from mnemos.memory_adapters.base import ScoreReason

__all__ = [
    "Facts", "diversified_page", "fact_rows", "needs_facts", "needs_speaker", "needs_text", "rerank", "text_rows",
    "uses_query",
]


@dataclass(frozen=True, slots=True)
class Facts:
    """What :func:`rerank` reads of one candidate."""

    content: str
    episode: str | None
    created: datetime | None
    speaker: str | None = None


def uses_query(config: RankingConfig) -> bool:
    """Whether any signal here is on (else the query is not even analysed: the default path)."""
    return bool(
        config.question_penalty or config.exclusion_penalty or config.speaker_weight
        or config.when_weight or config.date_weight or config.episode_weight or config.diversity
        or config.hop_weight or config.answer_weight or config.answer_item_weight or config.coverage_weight
        or config.episode_focus
        or (config.neighbour_weight > 0 and (config.neighbour_question_cut or config.neighbour_speaker_boost))
    )


def needs_facts(config: RankingConfig, q: QueryAnalysis) -> bool:
    """Whether any signal of :func:`rerank` can change a score for this query."""
    return (needs_text(config, q) or needs_speaker(config, q) or bool(q.dated and config.date_weight)
            or any(uses_beside(config, q)))


def _weighs_content(config: RankingConfig, q: QueryAnalysis) -> bool:
    """Whether a signal on for this query does more than add a fixed bonus (speaker,
    time) to a memory's own score: it reads the content or the episode, or weighs
    candidates against each other."""
    return bool(
        config.question_penalty
        or (q.excluded and config.exclusion_penalty)
        or config.episode_weight
        or (q.is_list and config.diversity)
        or config.hop_weight
        or uses_focus(config, q)
    )


def needs_text(config: RankingConfig, q: QueryAnalysis) -> bool:
    """Whether the signals on for this query read the candidates' content or episode (else
    only their time, and the speaker if :func:`needs_speaker`)."""
    return _reads_every_text(config, q) or uses_beside(config, q)[0]


def _reads_every_text(config: RankingConfig, q: QueryAnalysis) -> bool:
    """Whether a signal on for this query reads the content of every candidate whose facts are read."""
    return _weighs_content(config, q) or bool(q.asks_when and config.when_weight)


def text_rows(cands: Mapping[int, Candidate], rows: list[int], config: RankingConfig, q: QueryAnalysis) -> list[int]:
    """Of the ``rows`` whose facts are read, those whose text a signal on for this query reads:
    all of them, or with only the question cut of ``_beside`` reading text, those that gained
    beside a match (an adapter may read the others' facts without their text)."""
    if _reads_every_text(config, q):
        return rows
    if not uses_beside(config, q)[0]:
        return []
    gains = beside_gains({r: cands[r] for r in rows if r in cands})
    return [r for r in rows if r in gains]


def needs_speaker(config: RankingConfig, q: QueryAnalysis) -> bool:
    """Whether the speakers of the candidates are needed (the query names someone)."""
    return bool(q.persons and (config.speaker_weight or config.neighbour_speaker_boost))


def fact_rows(cands: Mapping[int, Candidate], q: QueryAnalysis, config: RankingConfig, want: int) -> list[int]:
    """The candidates whose :class:`Facts` can change the first ``want`` hits: all of them,
    unless every signal on for this query adds at most a fixed bonus to a memory's own score
    (speaker, time); then a candidate that would stay below the ``want``-th best even with
    every bonus is left out (its facts are never read; the page is the same)."""
    if _weighs_content(config, q) or len(cands) <= want:
        return list(cands)
    # ``_beside`` may lower (cut) or raise (boost) what a candidate gained beside a match;
    # the other signals here add at most a fixed bonus
    cut, boost = uses_beside(config, q)
    gains = beside_gains(cands) if cut or boost else {}
    down = config.neighbour_question_cut if cut else 0.0
    up = config.neighbour_speaker_boost if boost else 0.0
    if down and gains:  # the lowest score each may end with
        lows = [c.score - down * gains.get(r, 0.0) for r, c in cands.items()]
    else:
        lows = [c.score for c in cands.values()]
    lows.sort(reverse=True)
    bonus = ((config.speaker_weight if q.persons else 0.0) + (config.when_weight if q.asks_when else 0.0)
             + (config.date_weight if q.dated else 0.0))
    floor = lows[want - 1] - bonus - 1e-9  # ties on the page break by rowid: keep them
    if not bonus:  # only ``_beside`` can move a score: only what gained beside a match
        return [r for r, g in gains.items() if cands[r].score + up * g >= floor]
    return [r for r, c in cands.items() if c.score + up * gains.get(r, 0.0) >= floor]


def _excluded(content: str, excluded: tuple[str, ...]) -> str | None:
    """The first excluded word ``content`` holds (a word or its inflection: "yoga", "painting"/"paint")."""
    words = tokens(content)
    for word in excluded:
        stem = word[: max(4, len(word) - 3)]
        if any(w == word or (len(word) > 4 and w.startswith(stem)) for w in words):
            return word
    return None


def _reason(cand: Candidate, signal: str, value: float, contribution: float, detail: str) -> None:
    cand.reasons.append(ScoreReason(signal=signal, value=value, contribution=contribution, detail=detail))


def rerank(
    cands: Mapping[int, Candidate], facts: Mapping[int, Facts], q: QueryAnalysis, config: RankingConfig
) -> None:
    """Apply the signals of the module docstring to the scores of ``cands`` (in place)."""
    persons = frozenset(q.persons)
    beside = any(uses_beside(config, q))
    in_period: dict[datetime, bool] = {}  # the memories of a batch share their time
    for rowid, fact in facts.items():  # often far fewer than the candidates (``fact_rows``)
        cand = cands.get(rowid)
        if cand is None or cand.score <= 0:
            continue
        if beside:  # what it gained beside a match, weighed by what it is (``_beside``)
            weigh_beside(cand, fact.content, fact.speaker, persons, config)
        if config.question_penalty and is_question(fact.content):
            cut = cand.score * config.question_penalty
            cand.score -= cut
            _reason(cand, "question", 1.0, -cut, "the memory is itself a question")
        if q.excluded and config.exclusion_penalty:
            word = _excluded(fact.content, q.excluded)
            if word is not None:
                cut = cand.score * config.exclusion_penalty
                cand.score -= cut
                _reason(cand, "exclusion", 1.0, -cut, f"holds {word!r}, which the query excludes")
        if persons and config.speaker_weight and fact.speaker and fact.speaker.casefold() in persons:
            cand.score += config.speaker_weight
            _reason(cand, "speaker", 1.0, config.speaker_weight, f"said by {fact.speaker}, named in the query")
        if q.asks_when and config.when_weight and mentions_time(fact.content):
            cand.score += config.when_weight
            _reason(cand, "time", 1.0, config.when_weight, "says when, and the query asks when")
        if q.dated and config.date_weight and fact.created is not None and _in_period(q, fact.created, in_period):
            cand.score += config.date_weight
            _reason(cand, "time", 1.0, config.date_weight, "written in a period the query names")
    if config.hop_weight:
        add_hops(cands, {r: (f.content, f.episode) for r, f in facts.items()}, q.words, config)
    if config.episode_weight:
        lift_episodes(cands, facts, config.episode_weight, config.episode_top, "episode", "matches as a whole")
    if uses_focus(config, q):  # the episode a question about one moment is about (``_focus``)
        add_focus(cands, facts, config)


def _in_period(q: QueryAnalysis, when: datetime, known: dict[datetime, bool]) -> bool:
    found = known.get(when)
    if found is None:
        found = known[when] = q.in_period(when)
    return found


def diversified_page(
    cands: Mapping[int, Candidate],
    facts: Mapping[int, Facts],
    q: QueryAnalysis,
    config: RankingConfig,
    offset: int,
    limit: int,
) -> list[Candidate]:
    """The page ``offset``/``limit`` of the candidates with a score, best first; for a list
    question the page is chosen greedily across episodes (see the module docstring)."""
    if not (q.is_list and config.diversity):
        return page(cands, offset, limit)
    kept = page(cands, 0, len(cands))  # best first, ties by rowid
    if not kept:
        return kept
    keep = 1.0 - config.diversity
    want = offset + limit
    chosen: list[Candidate] = []
    used: dict[str, int] = {}
    pool = kept[: max(4 * want, want + 50)]
    rest = kept[len(pool) :]
    while pool and len(chosen) < want:
        best_i, best_value = 0, float("-inf")
        for i, cand in enumerate(pool):
            fact = facts.get(cand.rowid)
            value = cand.score * keep ** used.get(fact.episode, 0) if fact and fact.episode else cand.score
            if value > best_value:
                best_i, best_value = i, value
            if cand.score <= best_value:  # sorted: no later one can do better
                break
        cand = pool.pop(best_i)
        fact = facts.get(cand.rowid)
        if fact is not None and fact.episode is not None:
            used[fact.episode] = used.get(fact.episode, 0) + 1
        chosen.append(cand)
    chosen += rest
    return chosen[offset : offset + limit]

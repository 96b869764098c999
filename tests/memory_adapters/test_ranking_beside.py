"""What a memory gained beside a match, weighed by what it is (``_beside``).

``neighbour_question_cut``: a turn that is itself a question keeps less of what it
gained from the match beside it; ``neighbour_speaker_boost``: a turn said by the
person the query names gains more of it. The store tests run on a real native store
(SQLite) and on PostgreSQL (the server of the ``pgvector_url`` fixture), with the
built-in hashing embedder, keyword ranking only so the scores are exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from episode_turns import texts, turns

from mnemos.memory_adapters._query import analyze
from mnemos.memory_adapters._ranking import Candidate
from mnemos.memory_adapters._rerank import fact_rows
from mnemos.memory_adapters._sql_adapter import SqlMemoryAdapter
from mnemos.memory_adapters.base import ScoreReason
from mnemos.memory_adapters.native import RankingConfig

KEYWORD = RankingConfig(mode="keyword", episode_focus=0.0, entity_weight=0.0, item_hops_weight=0.0, recency_weight=0.0,
                        importance_weight=0.0, reply_weight=0.0, speaker_weight=0.0, answer_weight=0.0,
                        answer_item_weight=0.0, date_weight=0.0, neighbour_question_cut=0.0,
                        coverage_weight=0.0)
QUERY = "How was the meteor shower for Melanie?"
MATCH = "We saw the meteor shower from the campsite"
QUESTION = "Cool! What did it look like?"
ANSWER = "I felt tiny, in awe of the universe."
OTHER = ["The shower at the gym was cold", "A meteor crater is a big hole", "Camping again next week"]


def _said(items: list[dict[str, Any]], speakers: list[str]) -> list[dict[str, Any]]:
    return [{**t, "provenance": {"thread": "chat", "agent": who}} for t, who in zip(items, speakers, strict=True)]


def _night(namespace: tuple[str, ...] = ("a",)) -> list[dict[str, Any]]:
    return (_said(turns(namespace, 1, [MATCH, QUESTION, ANSWER]), ["Melanie", "Caroline", "Melanie"])
            + _said(turns(namespace, 2, OTHER), ["Caroline", "Melanie", "Caroline"]))


def _by_text(store: SqlMemoryAdapter, config: RankingConfig) -> dict[str, Any]:
    return {h.record.content: h for h in store.search(QUERY, namespace=("a",), ranking=config)}


def test_a_question_beside_a_match_keeps_less_of_its_share(open_store: Callable[[], SqlMemoryAdapter]) -> None:
    store = open_store()
    store.add_many(_night())
    off = texts(store.search(QUERY, namespace=("a",), ranking=KEYWORD))
    assert off.index(QUESTION) < off.index(ANSWER)  # nearer the match: the larger neighbour share
    on = _by_text(store, replace(KEYWORD, neighbour_question_cut=0.4))
    order = sorted(on, key=lambda t: -on[t].score)
    assert order.index(ANSWER) < order.index(QUESTION)
    share = next(r.contribution for r in on[QUESTION].reasons if r.signal == "neighbour")
    cut = next(r for r in on[QUESTION].reasons if r.signal == "question")
    assert cut.contribution == pytest.approx(-0.4 * share)
    assert on[QUESTION].score == pytest.approx(0.6 * share)
    assert "beside a match" in cut.detail
    # a statement, and a match that gained nothing beside another, are left as they were
    assert not any(r.signal == "question" for t in (ANSWER, MATCH) for r in on[t].reasons)
    assert on[MATCH].score == pytest.approx(_by_text(store, KEYWORD)[MATCH].score)


def test_a_turn_of_the_person_named_gains_more_of_its_share(open_store: Callable[[], SqlMemoryAdapter]) -> None:
    store = open_store()
    before, after = "Nice, we love camping too", "We stayed up all night, it was so clear"
    store.add_many(_said(turns(("a",), 1, [before, MATCH, after]), ["Caroline", "Melanie", "Melanie"])
                   + _said(turns(("a",), 2, OTHER), ["Caroline", "Melanie", "Caroline"]))
    off = _by_text(store, KEYWORD)
    assert off[before].score == pytest.approx(off[after].score)  # the same distance from the match
    on = _by_text(store, replace(KEYWORD, neighbour_speaker_boost=0.3))
    assert on[after].score == pytest.approx(1.3 * off[after].score)
    assert on[before].score == pytest.approx(off[before].score)  # Caroline is not named
    reason = next(r for r in on[after].reasons if r.signal == "speaker")
    assert "said by Melanie" in reason.detail
    # a query naming nobody boosts nothing
    plain = {h.record.content: h for h in store.search("how was the meteor shower", namespace=("a",),
                                                      ranking=replace(KEYWORD, neighbour_speaker_boost=0.3))}
    assert not any(r.signal == "speaker" for h in plain.values() for r in h.reasons)


def test_another_namespace_changes_no_score(open_store: Callable[[], SqlMemoryAdapter]) -> None:
    """The other namespace holds the same episode keys, speakers and questions, and more
    matches: the scores of a search in ``("a",)`` are those of a store without it."""
    config = replace(KEYWORD, neighbour_question_cut=0.4, neighbour_speaker_boost=0.3, reply_weight=0.75)
    theirs = (_said(turns(("b",), 1, [MATCH, "What? The meteor shower?", "Melanie loved the meteor shower"]),
                    ["Caroline", "Melanie", "Caroline"]) + _said(turns(("b",), 2, OTHER), ["Melanie"] * 3))
    alone, shared = open_store(), open_store()
    alone.add_many(_night())
    shared.add_many(_night() + theirs)
    expected = [(h.record.content, round(h.score, 9)) for h in alone.search(QUERY, namespace=("a",), ranking=config)]
    got = [(h.record.content, round(h.score, 9)) for h in shared.search(QUERY, namespace=("a",), ranking=config)]
    assert got == expected
    assert any(r.signal == "question" for h in alone.search(QUERY, namespace=("a",), ranking=config)
               for r in h.reasons)


def _cand(rowid: int, score: float, beside: float = 0.0) -> Candidate:
    cand = Candidate(rowid=rowid, score=score, fusion=score - beside)
    if beside:
        cand.reasons.append(ScoreReason(signal="neighbour", value=1.0, contribution=beside))
    return cand


def test_facts_are_read_only_for_candidates_a_signal_can_move_onto_the_page() -> None:
    """Facts are read only for candidates that may be on the page and whose score a signal
    may change: with only these weights on, those that gained beside a match."""
    cands = {i: _cand(i, 1.0 - i / 10) for i in range(6)}  # 1.0, 0.9, ... 0.5
    cands[1] = _cand(1, 0.9, beside=0.4)  # on the page, but may be cut by 0.5 * 0.4, to 0.7
    cands[6] = _cand(6, 0.45, beside=0.3)  # below the page, unless boosted
    q = analyze("What did Melanie see?")
    named = replace(KEYWORD, speaker_weight=0.03)  # a fixed bonus for every candidate
    assert sorted(fact_rows(cands, q, named, 2)) == [0, 1]
    assert sorted(fact_rows(cands, q, replace(KEYWORD, neighbour_question_cut=0.5), 2)) == [1]
    # the 3rd best takes the 2nd place if the 2nd is cut, and may gain the bonus
    assert sorted(fact_rows(cands, q, replace(named, neighbour_question_cut=0.5), 2)) == [0, 1, 2]
    # 0.45 + 3 * 0.3 may pass 0.9
    assert sorted(fact_rows(cands, q, replace(KEYWORD, neighbour_speaker_boost=3.0), 2)) == [1, 6]
    # a query naming nobody boosts nothing
    assert fact_rows(cands, analyze("what was seen"), replace(KEYWORD, neighbour_speaker_boost=3.0), 2) == []


def test_the_question_cut_is_on_by_default_and_the_speaker_boost_off(
    open_store: Callable[[], SqlMemoryAdapter],
) -> None:
    """Chosen leave-one-conversation-out on LoCoMo (see ``RankingConfig``)."""
    assert RankingConfig().neighbour_question_cut == 0.3
    assert RankingConfig().neighbour_speaker_boost == 0.0
    store = open_store()
    store.add_many(_night())
    hits = {h.record.content: h for h in store.search(QUERY, namespace=("a",))}
    assert any(r.signal == "question" and "beside a match" in r.detail for r in hits[QUESTION].reasons)


def test_without_the_neighbour_share_the_question_is_not_even_analysed() -> None:
    """Nothing is gained beside a match without neighbours: a search that turns them off
    (the agents' novelty check) pays for no analysis of its text."""
    from mnemos.memory_adapters._rerank import uses_query

    quiet = replace(KEYWORD, neighbour_weight=0.0, neighbour_question_cut=0.3, neighbour_speaker_boost=0.3)
    assert not uses_query(quiet)
    assert uses_query(replace(quiet, neighbour_weight=0.5))

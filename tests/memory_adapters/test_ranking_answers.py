"""The named person's answering turns of a spread question (``RankingConfig.answer_*``, ``_answers``).

Real stores (native SQLite, and PostgreSQL with pgvector through the ``sql_store``
fixture), the built-in hashing embedder, keyword search alone so that which
memories are candidates is plain; the other signals are off to isolate this one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mnemos.memory_adapters import _episodic_graph as eg
from mnemos.memory_adapters._answers import add_answers, answer_steps, uses_answers
from mnemos.memory_adapters._ranking import Candidate
from mnemos.memory_adapters._sql_adapter import SqlMemoryAdapter
from mnemos.memory_adapters.native import RankingConfig

OFF = RankingConfig(mode="keyword", neighbour_weight=0.0, reply_weight=0.0, entity_weight=0.0, recency_weight=0.0,
                    importance_weight=0.0, date_weight=0.0, item_hops_weight=0.0, speaker_weight=0.0,
                    answer_weight=0.0, answer_item_weight=0.0, answer_cover=0.0)
ON = replace(OFF, answer_weight=0.3, answer_item_weight=0.6, answer_cover=0.5, answer_gate=0.0)
QUESTION = "What activities does Melanie do?"
ASKER = "Melanie, your activities sound like fun, which activities do you like?"  # the other person
SWIMMING = "Activities this weekend: swimming with the kids"
MORE = ["Busy with activities for the school", "The activities at work were long"]  # hers, no item


def said(who: str, lines: list[str], namespace: tuple[str, ...] = ("a",), **metadata: Any) -> list[dict[str, Any]]:
    return [
        {"content": line, "namespace": namespace, "kind": "episodic",
         "metadata": {"n": i, **metadata}, "provenance": {"agent": who, "thread": f"{who}-{i}"}}
        for i, line in enumerate(lines)
    ]


def ranked(store: SqlMemoryAdapter, ranking: RankingConfig, namespace: tuple[str, ...] = ("a",),
           question: str = QUESTION, **kw: Any) -> list[str]:
    return [h.record.content for h in store.search(question, namespace=namespace, ranking=ranking, **kw)]


def test_the_named_persons_turn_naming_an_item_rises_above_the_askers(sql_store: SqlMemoryAdapter) -> None:
    sql_store.add_many(said("Caroline", [ASKER]) + said("Melanie", [SWIMMING, *MORE]))
    assert ranked(sql_store, OFF)[0] == ASKER  # the asker repeats the question's words
    on = sql_store.search(QUESTION, namespace=("a",), ranking=ON)
    assert on[0].record.content == SWIMMING
    reasons = [r for r in on[0].reasons if r.signal == "answer"]
    assert len(reasons) == 1 and "names an asked item" in reasons[0].detail
    assert all(r.signal != "answer" for h in on if h.record.content == ASKER for r in h.reasons)


def test_a_question_about_the_other_person_is_left_alone(sql_store: SqlMemoryAdapter) -> None:
    """When the best hits are mostly the other person's, the question is more likely about
    them (named by mistake): the scores stay those of the first round."""
    sql_store.add_many(said("Caroline", [ASKER, "My activities: painting", "Activities with friends"])
                       + said("Melanie", [SWIMMING]))
    off = {h.record.content: h.score for h in sql_store.search(QUESTION, namespace=("a",), ranking=OFF)}
    gated = replace(ON, answer_gate=0.5)
    on = {h.record.content: h.score for h in sql_store.search(QUESTION, namespace=("a",), ranking=gated)}
    assert on == off


def test_another_namespace_never_enters_nor_moves_a_score(sql_store: SqlMemoryAdapter) -> None:
    """Another scope's memories of the same person, holding the same items, are never read:
    the page and its scores are those of a store without them."""
    sql_store.add_many(said("Caroline", [ASKER]) + said("Melanie", [SWIMMING, *MORE]))
    alone = {h.record.content: h.score for h in sql_store.search(QUESTION, namespace=("a",), ranking=ON)}
    sql_store.add_many(said("Melanie", [f"Activities: swimming and pottery {i}" for i in range(5)], namespace=("b",)))
    sql_store.add_many(said("Caroline", ["Activities, activities, activities"], namespace=("a2",)))
    assert {h.record.content: h.score
            for h in sql_store.search(QUESTION, namespace=("a",), ranking=ON)} == alone
    under_b = sql_store.search(QUESTION, namespace=("b",), ranking=ON)
    assert under_b and all(h.record.namespace == ("b",) for h in under_b)


def test_the_filter_still_holds(sql_store: SqlMemoryAdapter) -> None:
    sql_store.add_many(said("Caroline", [ASKER], keep=True) + said("Melanie", [*MORE], keep=True)
                       + said("Melanie", [SWIMMING], keep=False))
    assert SWIMMING in ranked(sql_store, ON)
    assert SWIMMING not in ranked(sql_store, ON, filter={"keep": True})


def test_only_spread_questions_naming_someone_take_it() -> None:
    assert uses_answers(ON, QUESTION)
    assert uses_answers(ON, "What has Melanie painted?")
    assert not uses_answers(ON, "What activities are fun?")  # nobody named
    assert not uses_answers(ON, "Where did Melanie go camping?")  # one moment, not a list
    assert not uses_answers(OFF, QUESTION)


def _changes(scores: dict[int, float], rows: list[tuple[int, str, str]], config: RankingConfig,
             version: str = eg.ITEMS_VERSION) -> dict[int, Candidate]:
    """Drive the steps over ``rows`` (the kept rows of the candidates) and apply them."""
    cands = {r: Candidate(rowid=r, score=s) for r, s in scores.items()}
    steps = answer_steps(QUESTION, cands, config)
    changes = {}
    try:
        steps.send(None)
        steps.send([(version,)])
        steps.send(list(rows))
    except StopIteration as done:
        changes = done.value
    add_answers(cands, changes)
    return cands


def test_a_turn_naming_only_items_a_better_one_named_loses_its_cover_share() -> None:
    rows = [(1, "", "melanie"), (2, "", "melanie"), (3, "", "melanie"),
            (1, "activity", "pottery"), (2, "activity", "pottery"), (3, "activity", "swimming")]
    config = RankingConfig(answer_weight=0.0, answer_item_weight=0.1, answer_cover=0.5, answer_gate=0.0)
    cands = _changes({1: 1.0, 2: 0.9, 3: 0.8}, rows, config)
    assert cands[1].score == 1.1 and abs(cands[3].score - 0.9) < 1e-9  # each names an item first
    assert abs(cands[2].score - 0.5) < 1e-9  # pottery again: half of 1.0
    assert [r.signal for r in cands[2].reasons] == ["answer"]


def test_a_store_without_derived_items_takes_no_change() -> None:
    rows = [(1, "", "melanie"), (1, "activity", "pottery")]
    config = RankingConfig(answer_gate=0.0)
    assert _changes({1: 1.0}, rows, config, version="0")[1].score == 1.0
    assert _changes({1: 1.0}, rows, config)[1].score > 1.0

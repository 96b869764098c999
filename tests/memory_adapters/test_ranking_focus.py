"""Episode focus of a question about one moment (``RankingConfig.episode_focus``, ``_focus``).

Real stores (native SQLite, and PostgreSQL with pgvector through the ``sql_store``
fixture), the built-in hashing embedder, keyword search alone so that which
memories are candidates is plain; the other signals are off to isolate this one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mnemos.memory_adapters._focus import uses_focus
from mnemos.memory_adapters._query import analyze
from mnemos.memory_adapters._sql_adapter import SqlMemoryAdapter
from mnemos.memory_adapters.native import RankingConfig

OFF = RankingConfig(mode="keyword", neighbour_weight=0.0, reply_weight=0.0, entity_weight=0.0, recency_weight=0.0,
                    importance_weight=0.0, date_weight=0.0, item_hops_weight=0.0, speaker_weight=0.0,
                    answer_weight=0.0, answer_item_weight=0.0, answer_cover=0.0, coverage_weight=0.0,
                    neighbour_question_cut=0.0, episode_focus=0.0)
ON = replace(OFF, episode_focus=0.5)
QUESTION = "How did Melanie feel watching the meteor shower?"
SHOWER = "Melanie: the meteor shower, so many meteors, a meteor shower on our camping trip"  # session 1
SKY = "Melanie: the sky was clear, a meteor shower like no other"  # session 1
AWE = "Melanie: I was in awe of the universe, watching it felt unreal"  # session 1, the answer
TV = "Melanie: watching TV tonight"  # session 2, a lone match


def said(session: str, lines: list[str], namespace: tuple[str, ...] = ("a",)) -> list[dict[str, Any]]:
    return [
        {"content": line, "namespace": namespace, "kind": "episodic",
         "metadata": {"n": i, "session": session}, "provenance": {"agent": "Melanie", "thread": "t"}}
        for i, line in enumerate(lines)
    ]


def scores(store: SqlMemoryAdapter, ranking: RankingConfig, question: str = QUESTION,
           namespace: tuple[str, ...] = ("a",)) -> dict[str, float]:
    return {h.record.content: h.score for h in store.search(question, namespace=namespace, ranking=ranking)}


def test_the_episode_the_question_is_about_lifts_its_weak_turn(sql_store: SqlMemoryAdapter) -> None:
    sql_store.add_many(said("1", [SHOWER, SKY, AWE]) + said("2", [TV]))
    off = scores(sql_store, OFF)
    assert off[TV] > off[AWE]  # the lone match of another episode outranks the answer
    hits = sql_store.search(QUESTION, namespace=("a",), ranking=ON)
    on = {h.record.content: h for h in hits}
    assert on[AWE].score > on[TV].score
    best = sum(sorted((off[SHOWER], off[SKY], off[AWE]), reverse=True)[:3])
    for text in (SHOWER, SKY, AWE):  # the best episode: each of its turns gains the whole weight
        assert abs(on[text].score - (off[text] + 0.5)) < 1e-9
    assert abs(on[TV].score - (off[TV] + 0.5 * off[TV] / best)) < 1e-9
    assert [r.signal for r in on[AWE].reasons if r.signal == "focus"] == ["focus"]


def test_a_list_question_and_a_text_that_asks_nothing_are_left_as_they_are(sql_store: SqlMemoryAdapter) -> None:
    sql_store.add_many(said("1", [SHOWER, SKY, AWE]) + said("2", [TV]))
    for text in ("What things did Melanie feel watching the meteor shower?",  # a list question
                 "Melanie feel watching the meteor shower"):  # not put as a question
        assert scores(sql_store, ON, text) == scores(sql_store, OFF, text)
    assert scores(sql_store, ON) != scores(sql_store, OFF)


def test_another_namespace_never_moves_a_score(sql_store: SqlMemoryAdapter) -> None:
    """Another scope's turns of the same episode are never read: the scores are those of a
    store without them."""
    sql_store.add_many(said("1", [SHOWER, SKY, AWE]) + said("2", [TV]))
    alone = scores(sql_store, ON)
    sql_store.add_many(said("2", [f"Melanie: watching the meteor shower, I feel {i}" for i in range(5)],
                            namespace=("b",)))
    assert scores(sql_store, ON) == alone


def test_the_gate() -> None:
    assert uses_focus(ON, analyze(QUESTION))
    assert not uses_focus(OFF, analyze(QUESTION))
    assert not uses_focus(ON, analyze("What activities does Melanie do?"))  # a list question
    assert not uses_focus(ON, analyze("the meteor shower on the camping trip"))  # asks nothing
    assert not uses_focus(ON, analyze("How did we feel watching the meteor shower?"))  # names no one

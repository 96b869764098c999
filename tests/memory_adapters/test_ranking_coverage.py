"""Episode coverage of a spread question (``RankingConfig.coverage_weight``, ``_coverage``).

Real stores (native SQLite, and PostgreSQL with pgvector through the ``sql_store``
fixture), the built-in hashing embedder, keyword search alone so that which
memories are candidates is plain; the other signals are off to isolate this one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mnemos.memory_adapters import _episodic_graph as eg
from mnemos.memory_adapters._coverage import (
    add_coverage,
    coverage_gains,
    coverage_steps,
    uses_coverage,
)
from mnemos.memory_adapters._query import analyze
from mnemos.memory_adapters._ranking import Candidate
from mnemos.memory_adapters._sql_adapter import SqlMemoryAdapter
from mnemos.memory_adapters.native import RankingConfig

OFF = RankingConfig(mode="keyword", neighbour_weight=0.0, reply_weight=0.0, entity_weight=0.0, recency_weight=0.0,
                    importance_weight=0.0, date_weight=0.0, item_hops_weight=0.0, speaker_weight=0.0,
                    answer_weight=0.0, answer_item_weight=0.0, answer_cover=0.0, coverage_weight=0.0)
ON = replace(OFF, coverage_weight=0.5)
QUESTION = "What activities does Melanie do with her kids?"
FIRST = "Melanie: activities with the kids, so many activities: pottery"  # session 1, the best hit
AGAIN = "Melanie: activities with the kids, pottery"  # session 1, the same moment
OTHER = "Melanie: we went camping, such fun activities with the kids"  # session 2, a little lower


def said(who: str, session: str, lines: list[str], namespace: tuple[str, ...] = ("a",),
         **metadata: Any) -> list[dict[str, Any]]:
    return [
        {"content": line, "namespace": namespace, "kind": "episodic",
         "metadata": {"n": i, "session": session, **metadata}, "provenance": {"agent": who, "thread": "t"}}
        for i, line in enumerate(lines)
    ]


def scores(store: SqlMemoryAdapter, ranking: RankingConfig, namespace: tuple[str, ...] = ("a",),
           question: str = QUESTION, **kw: Any) -> dict[str, float]:
    return {h.record.content: h.score for h in store.search(question, namespace=namespace, ranking=ranking, **kw)}


def test_the_best_turn_of_another_episode_rises_above_the_second_of_the_first(sql_store: SqlMemoryAdapter) -> None:
    sql_store.add_many(said("Melanie", "1", [FIRST, AGAIN]) + said("Melanie", "2", [OTHER]))
    off = scores(sql_store, OFF)
    assert off[FIRST] > off[AGAIN] > off[OTHER]  # one episode fills the top
    hits = sql_store.search(QUESTION, namespace=("a",), ranking=ON)
    assert [h.record.content for h in hits] == [FIRST, OTHER, AGAIN]
    on = {h.record.content: h for h in hits}
    assert on[AGAIN].score == off[AGAIN]  # the second of its episode gains nothing
    assert abs(on[OTHER].score - 1.5 * off[OTHER]) < 1e-9
    assert [r.signal for r in on[OTHER].reasons if r.signal == "coverage"] == ["coverage"]


def test_the_other_persons_turn_and_a_question_gain_nothing(sql_store: SqlMemoryAdapter) -> None:
    """The best hit of an episode gains only if the named person said it and it is no question;
    a better turn of the other person, or a question, keeps the episode from gaining at all."""
    sql_store.add_many(said("Melanie", "1", [FIRST, AGAIN])
                       + said("Caroline", "2", ["Caroline: activities with the kids? pottery activities, Melanie?"])
                       + said("Melanie", "2", [OTHER])
                       + said("Melanie", "3", ["Melanie, which activities do the kids like?"]))
    off, on = scores(sql_store, OFF), scores(sql_store, ON)
    gained = {text for text in on if on[text] != off[text]}
    assert gained == {FIRST}


def test_another_namespace_never_enters_nor_moves_a_score(sql_store: SqlMemoryAdapter) -> None:
    """Another scope's memories of the same person, in the same episodes, are never read:
    the page and its scores are those of a store without them."""
    sql_store.add_many(said("Melanie", "1", [FIRST, AGAIN]) + said("Melanie", "2", [OTHER]))
    alone = scores(sql_store, ON)
    sql_store.add_many(said("Melanie", "2", [f"Melanie: activities with the kids, pottery {i}" for i in range(5)],
                            namespace=("b",)))
    sql_store.add_many(said("Caroline", "1", ["Activities, activities with the kids"], namespace=("a2",)))
    assert scores(sql_store, ON) == alone
    under_b = sql_store.search(QUESTION, namespace=("b",), ranking=ON)
    assert under_b and all(h.record.namespace == ("b",) for h in under_b)


def test_the_filter_still_holds(sql_store: SqlMemoryAdapter) -> None:
    sql_store.add_many(said("Melanie", "1", [FIRST, AGAIN], keep=True) + said("Melanie", "2", [OTHER], keep=False))
    assert OTHER in scores(sql_store, ON)
    assert set(scores(sql_store, ON, filter={"keep": True})) == {FIRST, AGAIN}


def test_only_spread_questions_naming_someone_take_it() -> None:
    assert uses_coverage(ON, QUESTION)
    assert uses_coverage(ON, "What has Melanie painted?")
    assert not uses_coverage(ON, "What activities are fun?")  # nobody named
    assert not uses_coverage(ON, "Where did Melanie go camping?")  # one moment, not a list
    assert not uses_coverage(OFF, QUESTION)


def test_gains_walk_down_the_pool_one_episode_at_a_time() -> None:
    rows = [(1, "a", "e1", "mine"), (2, "a", "e1", "mine too"), (3, "a", "e2", "theirs"), (4, "a", "e2", "mine"),
            (5, "a", "e3", "a question?"), (6, "a", None, "no episode"), (7, "b", "e1", "another scope's e1")]
    ranked = [(1, 1.0), (2, 0.9), (3, 0.8), (4, 0.7), (5, 0.6), (6, 0.5), (7, 0.4)]
    gains = coverage_gains(ranked, {1, 2, 4, 5, 6, 7}, rows, RankingConfig(coverage_weight=0.2))
    assert gains == {1: 0.2, 7: 0.2 * 0.4}


def test_a_store_without_derived_items_takes_no_change() -> None:
    cands = {1: Candidate(rowid=1, score=1.0)}

    def drive(version: str) -> dict[int, float]:
        steps = coverage_steps(cands, ON, analyze(QUESTION))
        try:
            steps.send(None)
            steps.send([(version,)])
            steps.send([(1, "melanie")])
            steps.send([(1, "a", "e1", "we went swimming")])
        except StopIteration as done:
            return dict(done.value)
        raise AssertionError("more steps than expected")

    assert drive("0") == {}
    gains = drive(eg.ITEMS_VERSION)
    assert gains == {1: 0.5}
    add_coverage(cands, gains)
    assert cands[1].score == 1.5 and [r.signal for r in cands[1].reasons] == ["coverage"]


def test_a_question_about_the_other_person_is_left_alone(sql_store: SqlMemoryAdapter) -> None:
    """When the best hits are mostly the other person's, the question is more likely about
    them (named by mistake, as LoCoMo's adversarial questions do): the scores stay those of
    the first round (``answer_gate``, as for the answering turns)."""
    sql_store.add_many(said("Caroline", "1", ["Caroline: activities with the kids, activities", "Kids activities!"])
                       + said("Caroline", "2", ["Caroline: the kids and their activities"])
                       + said("Melanie", "3", [OTHER]))
    assert scores(sql_store, ON) == scores(sql_store, OFF)
    assert scores(sql_store, replace(ON, answer_gate=0.0)) != scores(sql_store, OFF)

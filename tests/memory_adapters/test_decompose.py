"""Query decomposition without a model (``_decompose``): which questions split, and what a
split search finds that the whole question does not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mnemos.memory_adapters._decompose import SubQuery, said_by, sub_queries
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

NS = ("chat",)


def test_two_people_split_into_one_sub_query_each() -> None:
    assert sub_queries("What do Jon and Gina both like to cook?") == [
        SubQuery("What do Jon like to cook", "jon"), SubQuery("What do Gina like to cook", "gina"),
    ]
    assert [s.person for s in sub_queries("Which city have both Jean and John visited?")] == ["jean", "john"]
    # "her kids" are told about by Melanie
    assert sub_queries("What types of pottery have Melanie and her kids made?") == [
        SubQuery("What types of pottery have Melanie made", "melanie"),
        SubQuery("What types of pottery have Melanie's kids made", "melanie"),
    ]


def test_exclusions_stay_out_of_the_sub_queries() -> None:
    subs = sub_queries("Besides yoga, what do Jon and Gina both like?")
    assert len(subs) == 2 and not any("yoga" in s.text.casefold() for s in subs)


def test_reasoning_clauses_split_and_time_anchors_do_not() -> None:
    head, tail = sub_queries("Would Caroline pursue counseling if she had no support growing up?")
    assert "counseling" in head.text and "support growing up" in tail.text
    assert tail.text.startswith("Caroline")  # the person of the first side, carried over
    assert sub_queries("What did Melanie do after the road trip?") == []
    assert sub_queries("What did Maria do the week before 10 April 2023?") == []
    assert sub_queries("What is Caroline's job?") == [] and sub_queries("") == [] and sub_queries(None) == []


def test_said_by_accepts_a_short_form_of_the_name() -> None:
    assert said_by("Melanie", "mel") and said_by("Jon", "jon")
    assert not said_by("Jonathan", "jo") and not said_by(None, "jon") and not said_by("Gina", "jon")


def _say(store: NativeMemoryAdapter, speaker: str, text: str, session: int) -> None:
    store.add(f"{speaker}: {text}", namespace=NS, kind="episodic",
              metadata={"speaker": speaker, "session": session}, provenance={"agent": speaker})


def test_both_people_reach_the_page(store: NativeMemoryAdapter) -> None:
    """Jon talks about cooking a lot, Gina once: the whole question fills the page with
    Jon's turns; searched per person, Gina's own best turn stands beside Jon's best."""
    for i, dish in enumerate(["soup", "curry", "bread", "risotto"]):
        _say(store, "Jon", f"I like to cook {dish}, cooking {dish} is what I like to cook most", i)
    for i, dish in enumerate(["stew", "fish", "rice", "pie"]):
        _say(store, "Jon", f"I cook {dish} for friends when they come over to watch the game", 4 + i)
    _say(store, "Gina", "Making pasta at home is my thing", 9)
    for i in range(6):
        _say(store, "Gina", f"The studio opened room {i} for dancers this week", 10 + i)
    question = "What do Jon and Gina both like to cook?"
    off = RankingConfig(neighbour_weight=0, entity_weight=0)  # the decomposition alone
    on = replace(off, decompose_weight=0.8)
    assert not any("pasta" in h.record.content for h in store.search(question, namespace=NS, limit=5, ranking=off))
    hits = store.search(question, namespace=NS, limit=5, ranking=on)
    gina = next(h for h in hits if "pasta" in h.record.content)
    assert any(r.signal == "decomposition" and "said by gina" in r.detail for r in gina.reasons)
    assert gina.score == pytest.approx(0.8 * hits[0].score, rel=0.05)
    # a question that joins nothing searches as before
    plain = "What does Jon like to cook?"
    assert [h.record.id for h in store.search(plain, namespace=NS, ranking=on)] == [
        h.record.id for h in store.search(plain, namespace=NS, ranking=off)
    ]

"""Hops from the best hits through their typed items (``RankingConfig.item_hops_weight``, ``_hops``).

Real stores (native SQLite, and PostgreSQL with pgvector through the ``sql_store``
fixture), the built-in hashing embedder, keyword search alone so that which
memories are candidates is plain; the entity round is off to isolate the hops.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mnemos.memory_adapters._hops import hop_seeds, uses_hops
from mnemos.memory_adapters._ranking import Candidate
from mnemos.memory_adapters._sql_adapter import SqlMemoryAdapter
from mnemos.memory_adapters.native import RankingConfig

OFF = RankingConfig(mode="keyword", neighbour_weight=0.0, entity_weight=0.0, recency_weight=0.0, date_weight=0.0,
                    item_hops_weight=0.0)
ON = replace(OFF, item_hops_weight=0.3)
QUESTION = "What activities has Melanie done with her kids?"
SEED = "We went camping near Tahoe with the kids"
REMARK = "I still think about Tahoe, it was so quiet"  # no word of the question


def said(who: str, lines: list[str], namespace: tuple[str, ...] = ("a",), **metadata: Any) -> list[dict[str, Any]]:
    return [
        {"content": line, "namespace": namespace, "kind": "episodic",
         "metadata": {"n": i, **metadata}, "provenance": {"agent": who, "thread": f"{who}-{i}"}}
        for i, line in enumerate(lines)
    ]


FILLER = [f"Work was busy on day {i}, the report again" for i in range(6)]


def contents(store: SqlMemoryAdapter, ranking: RankingConfig, namespace: tuple[str, ...] = ("a",),
             **kw: Any) -> dict[str, Any]:
    return {h.record.content: h for h in store.search(QUESTION, namespace=namespace, ranking=ranking, **kw)}


def test_a_remark_sharing_an_item_with_the_best_hit_enters(sql_store: SqlMemoryAdapter) -> None:
    sql_store.add_many(said("Melanie", [SEED, REMARK, *FILLER]))
    assert REMARK not in contents(sql_store, OFF)  # neither search finds it
    hit = contents(sql_store, ON)[REMARK]
    hops = [r for r in hit.reasons if r.signal == "hops"]
    assert len(hops) == 1 and "tahoe" in hops[0].detail and not hit.reasons[0].signal.startswith("keyword")
    assert hit.score > 0


def test_only_the_named_persons_memories_hop(sql_store: SqlMemoryAdapter) -> None:
    sql_store.add_many(said("Melanie", [SEED, *FILLER]) + said("Caroline", [REMARK]))
    assert REMARK not in contents(sql_store, ON)


def test_only_questions_whose_answers_are_spread_hop() -> None:
    assert uses_hops(0.3, QUESTION)
    assert uses_hops(0.3, "Where has Melanie camped?")  # all she has done
    assert uses_hops(0.3, "How many pets does Melanie have?")
    assert not uses_hops(0.3, "Where did Melanie go camping?")  # one moment, not a list
    assert not uses_hops(0.3, "activities with the kids")  # no question
    assert not uses_hops(0.0, QUESTION)


def test_the_seeds_are_the_best_candidates() -> None:
    cands = {r: Candidate(rowid=r, score=s) for r, s in [(1, 0.2), (2, 0.9), (3, 0.0), (4, 0.5)]}
    assert hop_seeds(cands, 2) == [(2, 0.9), (4, 0.5)]
    assert hop_seeds(cands, 10) == [(2, 0.9), (4, 0.5), (1, 0.2)]


def test_another_namespace_never_enters_nor_moves_a_score(sql_store: SqlMemoryAdapter) -> None:
    """Another scope holds the same item said by the same person: it is neither a hop target
    nor counted in the item's rarity, so the scores are those of a store without it."""
    sql_store.add_many(said("Melanie", [SEED, REMARK, *FILLER]))
    alone = {c: h.score for c, h in contents(sql_store, ON).items()}
    sql_store.add_many(said("Melanie", [f"Tahoe, Tahoe again {i}" for i in range(5)], namespace=("b",)))
    sql_store.add_many(said("Melanie", ["Tahoe in the sub scope"], namespace=("a2",)))
    assert {c: h.score for c, h in contents(sql_store, ON).items()} == alone
    under_b = contents(sql_store, ON, namespace=("b",))
    assert REMARK not in under_b and all(h.record.namespace == ("b",) for h in under_b.values())


def test_a_memory_the_filter_rejects_is_not_admitted(sql_store: SqlMemoryAdapter) -> None:
    sql_store.add_many(said("Melanie", [SEED, *FILLER], keep=True) + said("Melanie", [REMARK], keep=False))
    assert REMARK in contents(sql_store, ON)
    assert REMARK not in contents(sql_store, ON, filter={"keep": True})

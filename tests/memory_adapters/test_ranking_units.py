"""Z-score fusion (``RankingConfig.fusion``) and the neighbour context (``_context``).

Each store test uses a real native store (SQLite, the built-in hashing
embedder) and shows the order the option gives against the order without it,
so it fails when the option does nothing.
"""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from mnemos.memory_adapters._context import positions_from_members
from mnemos.memory_adapters._ranking import Candidate, _candidate, fuse
from mnemos.memory_adapters.base import ScoredMemory
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

NS = ("t",)


def texts(hits: list[ScoredMemory]) -> list[str]:
    return [h.record.content for h in hits]


def test_zscore_fusion_counts_how_far_ahead_a_hit_is() -> None:
    """By rank, "b" wins (first in the heavier keyword list); by z-score, "a" wins: it is
    level with "b" in keywords and far ahead of everything in the vector list."""
    keyword = [(2, 5.0), (1, 4.9), (3, 1.0), (4, 0.9), (5, 0.8)] + [(i, 0.7) for i in range(6, 12)]
    vector = [(1, 0.9), (2, 0.35), (3, 0.3), (4, 0.29), (5, 0.28)] + [(i, 0.27) for i in range(6, 12)]
    rrf = fuse(keyword, vector, RankingConfig(fusion="rrf", keyword_weight=2.0))
    assert max(rrf.values(), key=lambda c: c.score).rowid == 2
    z = fuse(keyword, vector, RankingConfig(fusion="zscore", keyword_weight=2.0))
    assert max(z.values(), key=lambda c: c.score).rowid == 1
    assert 0.95 < z[1].score < 1.0  # first in both lists would score 1.0, as by rank
    assert 0 < z[5].score < 0.05  # below its lists' means: only the small share of its ranks
    # a list whose scores are all equal gives every hit its full weight
    flat = fuse([(i, 2.0) for i in range(10)], [], RankingConfig(fusion="zscore"))
    assert flat[0].score == flat[9].score == pytest.approx(1.0)
    # two hits are always one deviation either side of their mean: a short list goes by rank
    short = fuse([(7, 2.0), (8, 1.99)], [], RankingConfig(fusion="zscore"))
    assert short[8].score == pytest.approx(4 / 5)


def test_fusion_builds_each_candidate_as_the_dataclass_does() -> None:
    # fusion builds its candidates without the dataclass's __init__: every field is set alike
    assert _candidate(5) == Candidate(rowid=5)
    assert all(hasattr(_candidate(5), f.name) for f in fields(Candidate))
    assert _candidate(5).reasons is not _candidate(5).reasons
    # equal scores share a rank; a vector hit under the floor stays, earning nothing; a hit in
    # both lists adds both contributions
    got = fuse([(1, 2.0), (2, 2.0), (3, 1.0)], [(3, 0.9), (4, 0.05)], RankingConfig(fusion="rrf"))
    assert [got[r].keyword[0] for r in (1, 2, 3)] == [1, 1, 3]  # type: ignore[index]
    assert got[4].vector == (2, 0.05, 0.0) and got[4].score == 0.0
    assert got[3].score == got[3].fusion == got[3].keyword[2] + got[3].vector[2] > 0  # type: ignore[index]


def test_zscore_fusion_in_the_store_explains_the_same_way(store: NativeMemoryAdapter) -> None:
    store.add_many(
        [
            {"content": "the violin concert in Lisbon", "namespace": NS},
            {"content": "a concert of guitars", "namespace": NS},
            {"content": "we cooked rice", "namespace": NS},
        ]
    )
    hits = store.search("violin concert", namespace=NS, ranking=RankingConfig(fusion="zscore"))
    assert texts(hits)[0] == "the violin concert in Lisbon"
    for hit in hits:
        assert hit.score == pytest.approx(sum(r.contribution for r in hit.reasons))


def test_positions_count_every_member_of_an_episode() -> None:
    rows = [(10, "a", "s1"), (11, "a", "s1"), (12, "a", "s1"), (20, "a", "s2"), (21, "a", "s2")]
    assert positions_from_members(rows, [12, 20, 99]) == {
        12: (("a", "s1"), 2),
        20: (("a", "s2"), 0),
    }


def _session(store: NativeMemoryAdapter, session: int, turns: list[str]) -> None:
    store.add_many(
        [{"content": t, "namespace": NS, "metadata": {"session": session}} for t in turns]
    )


def test_context_scores_a_turn_with_the_turn_before_it(store: NativeMemoryAdapter) -> None:
    """The reply "Kayaking, mostly" answers a question about sport only with the question
    before it; another session mentions kayaking more strongly but not as a sport."""
    _session(
        store, 1, ["What sport do you play these days?", "Kayaking, mostly.", "Nice, enjoy it"]
    )
    _session(store, 2, ["Kayaking videos, kayaking!", "Ha, ok", "Bye now"])
    query = "which sport: kayaking?"
    off = RankingConfig(neighbour_weight=0.0)
    on = replace(off, context_weight=0.6, context_mix=1.0)
    ranked_off = texts(store.search(query, namespace=NS, limit=4, ranking=off))
    assert ranked_off.index("Kayaking videos, kayaking!") < ranked_off.index("Kayaking, mostly.")
    hits = store.search(query, namespace=NS, limit=4, ranking=on)
    ranked_on = texts(hits)
    assert ranked_on.index("Kayaking, mostly.") < ranked_on.index("Kayaking videos, kayaking!")
    reply = next(h for h in hits if h.record.content == "Kayaking, mostly.")
    assert any(r.signal == "context" and r.contribution > 0 for r in reply.reasons)
    assert reply.score == pytest.approx(sum(r.contribution for r in reply.reasons))


def test_feedback_finds_what_shares_no_word_with_the_question(store: NativeMemoryAdapter) -> None:
    """ "hobbies" finds the turn naming kayaking as a hobby; only the second round, with the
    words of that hit, finds the turn about a kayaking trip that never says "hobby"."""
    _session(store, 1, ["My hobbies these days: kayaking", "Cool"])
    _session(store, 2, ["Went kayaking on the lake yesterday", "The water was cold"])
    _session(store, 3, ["I cooked rice for dinner", "Tasty"])
    # without the typed entity round (on by default), which finds "kayaking" as an activity itself
    off = RankingConfig(mode="keyword", neighbour_weight=0.0, entity_weight=0.0)
    assert "Went kayaking on the lake yesterday" not in texts(
        store.search("hobbies", namespace=NS, ranking=off)
    )
    hits = store.search("hobbies", namespace=NS, ranking=replace(off, feedback_weight=0.5))
    assert texts(hits)[:2] == [
        "My hobbies these days: kayaking",
        "Went kayaking on the lake yesterday",
    ]
    trip = hits[1]
    assert trip.reasons[0].signal == "feedback" and "kayaking" in trip.reasons[
        0
    ].detail
    assert "I cooked rice for dinner" not in texts(hits)

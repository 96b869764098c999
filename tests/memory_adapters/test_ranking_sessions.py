"""Episode-level retrieval (``RankingConfig.session_weight``, ``_episodes``).

The store tests use a real native store (SQLite, the built-in hashing embedder)
and compare the result with the setting on against the same search with it off;
the isolation tests run on PostgreSQL too (the server of the ``pgvector_url`` fixture).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from episode_turns import texts, turns

from mnemos.memory_adapters._episodes import MEMBER_ROWS, Members, session_gains, within_budget
from mnemos.memory_adapters._sql_adapter import SqlMemoryAdapter
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

KEYWORD = RankingConfig(mode="keyword", episode_focus=0.0, neighbour_weight=0.0, entity_weight=0.0)  # session_weight alone
QUERY = "how was the kayaking trip on the lake?"


TRIP = [
    "We finally did the kayaking trip on the lake",
    "The water was cold but the view was worth it",
    "I want to go back to the lake next summer",
]
WORK = [
    "The quarterly report is due on Friday",
    "My manager liked the slides",
    "Kayaking is on my list, someday",
]


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing:256")
    yield s
    s.close()


def test_the_best_episode_brings_in_turns_no_list_found(store: NativeMemoryAdapter) -> None:
    """Keyword search finds only the turns naming the kayaking; the episode about the
    trip, read as one document, admits its other turns, which hold no word of the query."""
    store.add_many(turns(("u",), 1, TRIP) + turns(("u",), 2, WORK))
    off = store.search(QUERY, namespace=("u",), ranking=KEYWORD)
    assert set(texts(off)) == {TRIP[0], TRIP[2], WORK[2]}
    on = store.search(QUERY, namespace=("u",), ranking=replace(KEYWORD, session_weight=0.2, session_top=1))
    assert texts(on)[:1] == [TRIP[0]]
    assert set(TRIP) <= set(texts(on))
    assert WORK[0] not in texts(on)  # only the best episode admits its members
    admitted = next(h for h in on if h.record.content == TRIP[1])
    assert [r.signal for r in admitted.reasons] == ["session", "recency", "importance"]
    assert admitted.score == pytest.approx(sum(r.contribution for r in admitted.reasons))


def test_an_episode_is_scored_as_one_document() -> None:
    """The words of the query spread over the turns of one episode make it the best,
    above an episode with one turn holding one word of the query twice; an episode
    scoring below the mean of those read gains nothing."""
    rows = [
        (1, "a", "I renewed my passport this week"),
        (2, "a", "the visa for Japan came through"),
        (3, "a", "we will pack tonight"),
        (4, "b", "passport photos, passport photos everywhere"),
        (5, "b", "the printer broke"),
        (6, "c", "lunch was pasta"),
        (7, "d", "the cat slept all day"),
        (8, "e", "rain again"),
    ]
    members = Members(*map(list, zip(*rows, strict=True)), [0.1] * len(rows))  # type: ignore[arg-type]
    backwards = Members(*map(list, zip(*rows[::-1], strict=True)), [0.1] * len(rows))  # type: ignore[arg-type]
    gains = session_gains("passport and visa for the Japan trip", members, RankingConfig(session_weight=1.0,
                                                                                      session_top=2))
    assert {r: g[0] for r, g in gains.items()} == {1: "a", 2: "a", 3: "a", 4: "b", 5: "b"}
    assert gains[1][1] == 1.0 and gains[4][1] < 1.0  # the episodes' shares of the best
    # inside the episode, a member's own words count: the visa turn above the packing one
    assert gains[2][2] > gains[3][2] > 0
    assert session_gains("passport", members, RankingConfig(session_weight=1.0, session_top=0)) == {}
    # the order the members were read in changes nothing
    assert session_gains("passport visa", backwards, RankingConfig(session_weight=1.0)) == session_gains(
        "passport visa", members, RankingConfig(session_weight=1.0))


def test_a_search_reads_a_bounded_number_of_members() -> None:
    """The best episodes first, each whole, while they fit ``MEMBER_ROWS`` together."""
    sizes = {"a": MEMBER_ROWS - 10, "b": 20, "c": 5}
    rows = [(i, key) for key, size in sizes.items() for i in range(size)]
    kept = within_budget(rows, lambda r: r[1], ["a", "c", "b"])
    assert {r[1] for r in kept} == {"a", "c"} and len(kept) == MEMBER_ROWS - 5
    assert within_budget(rows[:50], lambda r: r[1], ["b"]) == rows[:50]  # under the budget: all


def test_another_scope_never_enters_nor_moves_an_episode(open_store: Callable[[], SqlMemoryAdapter]) -> None:
    """Two namespaces hold an episode with the same key (thread and session): a search in
    one never reads the other's members, so they neither appear nor change a score."""
    mine = turns(("a",), 1, TRIP) + turns(("a",), 2, WORK)
    theirs = turns(("b",), 2, [f"kayaking, the kayaking trip on the lake, lake {i}" for i in range(30)])
    ranking = replace(KEYWORD, session_weight=0.3, session_top=1, recency_weight=0.0)  # no clock in scores
    alone, shared = open_store(), open_store()
    alone.add_many(mine)
    shared.add_many(mine + theirs)
    for store in (alone, shared):
        for i in range(3):
            store.add_many(turns(("a", f"sub{i}"), 2, ["the lake", "kayaking", "trip"]))
    for namespace in (("a",), ("a", "sub1")):
        expected = [(h.record.content, h.score) for h in alone.search(QUERY, namespace=namespace, ranking=ranking)]
        assert [(h.record.content, h.score) for h in shared.search(QUERY, namespace=namespace, ranking=ranking)] == expected
    assert WORK[0] not in texts(shared.search(QUERY, namespace=("a",), ranking=ranking))
    # under a common prefix both are in scope, and each episode is its namespace's own
    both = shared.search(QUERY, namespace=(), ranking=ranking, limit=50)
    assert {h.record.namespace[0] for h in both} == {"a", "b"}


def test_members_the_filter_rejects_are_not_read(open_store: Callable[[], SqlMemoryAdapter]) -> None:
    """What a member the query's filter rejects says changes nothing (it is never read)."""
    ranking = replace(KEYWORD, session_weight=0.3, session_top=1, recency_weight=0.0)
    results = []
    for first in (TRIP[0], "nothing to see here"):
        store = open_store()
        store.add_many(turns(("a",), 1, [first, *TRIP[1:]]) + turns(("a",), 2, WORK))
        hits = store.search(QUERY, namespace=("a",), ranking=ranking, filter={"n": {"$gte": 1}})
        results.append([(h.record.content, h.score) for h in hits])
    assert results[0] == results[1]
    assert TRIP[0] not in [c for c, _ in results[0]]


def test_a_date_in_the_question_reads_the_episodes_of_that_period(open_store: Callable[[], SqlMemoryAdapter]) -> None:
    """The episode written in the month the question names is read and lifted, although
    none of its turns holds a word of the question."""
    store = open_store()
    may = [dict(t, created_at=datetime(2023, 5, 8, 12, tzinfo=UTC))
           for t in turns(("u",), 1, ["We adopted a puppy", "She chews every shoe", "Her name is Pepper"])]
    august = [dict(t, created_at=datetime(2023, 8, 1, 12, tzinfo=UTC))
              for t in turns(("u",), 2, ["What did we do this summer?", "We did a lot", "What a trip to do again"])]
    store.add_many(may + august)
    query = "What did we do in May 2023?"
    base = RankingConfig(neighbour_weight=0.0, episode_focus=0.0, recency_weight=0.0, entity_weight=0.0)
    assert not set(texts(store.search(query, namespace=("u",), ranking=base, limit=3))) & {m["content"] for m in may}
    on = replace(base, session_weight=0.2, session_date_weight=1.0, session_top=1)
    assert set(texts(store.search(query, namespace=("u",), ranking=on, limit=3))) == {m["content"] for m in may}
    # the window's episodes come from what the query may see: another namespace's May stays out
    store.add_many([dict(m, namespace=("v",)) for m in may])
    assert {h.record.namespace for h in store.search(query, namespace=("u",), ranking=on)} == {("u",)}

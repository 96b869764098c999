"""A question's reply (``RankingConfig.reply_weight``, ``_ranking.reply_gains``).

A best hit that is itself a question ("What inspired you?") raises the event just
after it in its episode. Every test runs on a real native store (SQLite) and on
PostgreSQL (the server of the ``pgvector_url`` fixture), with the built-in hashing
embedder, keyword ranking only so the scores are exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from episode_turns import texts, turns

from mnemos.memory_adapters._sql_adapter import SqlMemoryAdapter
from mnemos.memory_adapters.native import RankingConfig

KEYWORD = RankingConfig(mode="keyword", episode_focus=0.0, entity_weight=0.0, item_hops_weight=0.0, recency_weight=0.0,
                        importance_weight=0.0, reply_weight=0.0, neighbour_question_cut=0.0)
ON = replace(KEYWORD, reply_weight=0.8)
QUERY = "What inspired Caroline's painting for the art show?"
QUESTION = "Melanie: That painting is awesome! What inspired it?"
REPLY = "Caroline: I made it after a visit to the community center, all that unity and strength."
SHOW = [
    "Caroline: Next month I'm having an art show!",
    QUESTION,
    REPLY,
    "Melanie: So vivid, I love it.",
]
OTHER = [  # each matches the query a little, less than the question does
    "Caroline: The art museum was closed today",
    "Melanie: My kids made a painting for the show",
    "Caroline: I watched a show about clouds",
    "Melanie: Art class again tomorrow",
]


def test_the_reply_to_a_matching_question_rises_above_other_matches(open_store: Callable[[], SqlMemoryAdapter]) -> None:
    store = open_store()
    store.add_many(turns(("a",), 1, SHOW) + turns(("a",), 2, OTHER))
    off = texts(store.search(QUERY, namespace=("a",), ranking=KEYWORD))
    assert off.index(REPLY) > max(off.index(t) for t in OTHER[:3])  # its neighbour share is not enough
    hits = store.search(QUERY, namespace=("a",), ranking=ON)
    order = texts(hits)
    assert order.index(REPLY) < min(order.index(t) for t in OTHER)
    by_text = {h.record.content: h for h in hits}
    reason = next(r for r in by_text[REPLY].reasons if r.signal == "reply")
    assert "a question matching the query" in (reason.detail or "")
    assert by_text[REPLY].score == pytest.approx(0.8 * by_text[QUESTION].score)
    # a hit that is no question passes nothing on: the turn after the opening line gains no reply share
    assert not any(r.signal == "reply" for r in by_text[QUESTION].reasons)


def test_the_reply_is_the_next_event_of_the_questions_own_episode_and_namespace(
    open_store: Callable[[], SqlMemoryAdapter],
) -> None:
    """Another namespace holds an episode with the same key, with an event written between
    the question and its reply: a search in one namespace never reads it, so it neither
    takes the reply's place nor changes a score."""
    start = datetime(2023, 5, 1, tzinfo=UTC)

    def timed(items: list[dict[str, Any]], minutes: list[float]) -> list[dict[str, Any]]:
        return [{**t, "created_at": start + timedelta(minutes=m)} for t, m in zip(items, minutes, strict=True)]

    mine = timed(turns(("a",), 1, SHOW) + turns(("a",), 2, OTHER), [0, 1, 2, 3, 10, 11, 12, 13])
    theirs = timed(turns(("b",), 1, ["Caroline: art show painting inspired, inspired, inspired"]), [1.5])
    alone, shared = open_store(), open_store()
    alone.add_many(mine)
    shared.add_many(mine + theirs)
    expected = [(h.record.content, h.score) for h in alone.search(QUERY, namespace=("a",), ranking=ON)]
    got = shared.search(QUERY, namespace=("a",), ranking=ON)
    assert [(h.record.content, h.score) for h in got] == expected
    assert any(r.signal == "reply" for h in got if h.record.content == REPLY for r in h.reasons)
    # a question that ends its episode has no reply (the next event of another namespace is none)
    last = open_store()
    last.add_many(timed(turns(("a",), 1, SHOW[:2]) + turns(("a",), 2, OTHER), [0, 1, 10, 11, 12, 13])
                  + timed(turns(("b",), 1, [REPLY]), [2]))
    assert not any(r.signal == "reply" for h in last.search(QUERY, namespace=("a",), ranking=ON) for r in h.reasons)


def test_a_reply_the_filter_rejects_is_not_admitted(open_store: Callable[[], SqlMemoryAdapter]) -> None:
    store = open_store()
    store.add_many(turns(("a",), 1, SHOW) + turns(("a",), 2, OTHER))
    hits = store.search(QUERY, namespace=("a",), ranking=ON, filter={"n": {"$ne": 2}})  # REPLY is n=2
    assert REPLY not in texts(hits)
    assert not any(r.signal == "reply" for h in hits for r in h.reasons)


def test_replies_are_on_by_default(open_store: Callable[[], SqlMemoryAdapter]) -> None:
    """Chosen leave-one-conversation-out on LoCoMo in every fold (see ``RankingConfig``)."""
    store = open_store()
    store.add_many([{**t, "provenance": {"thread": "chat", "agent": t["content"].split(":")[0]}}
                    for t in turns(("a",), 1, SHOW) + turns(("a",), 2, OTHER)])
    hits = {h.record.content: h for h in store.search(QUERY, namespace=("a",))}
    assert any(r.signal == "reply" for r in hits[REPLY].reasons)

"""The ranking signals read from the query and the candidates (``_query``, ``_rerank``).

Each test builds a small real native store (SQLite, the built-in hashing
embedder), shows the signal changes the order the way it should with the
default settings, and that the same search with that one signal turned off
ranks the other way, so the test fails without the signal.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mnemos.memory_adapters._query import analyze, is_question, mentions_time, strip_exclusions
from mnemos.memory_adapters.base import ScoredMemory
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

NS = ("t",)
DEFAULT = RankingConfig(fusion="rrf", keyword_weight=2.0, entity_weight=0.0)
"""The scores these tests were built on: rank fusion, as by default before z-score fusion,
and each signal alone (the typed entity round, on by default, has its own tests)."""


def texts(hits: list[ScoredMemory]) -> list[str]:
    return [h.record.content for h in hits]


# -- reading the query ------------------------------------------------------------------------


def test_analyze_reads_lists_exclusions_people_and_dates() -> None:
    q = analyze("Besides yoga, what other activities does Caroline enjoy?")
    assert q.is_list and q.excluded == ("yoga",) and q.persons == ("caroline",)
    assert not analyze("What is Caroline's job?").is_list
    assert analyze("How many pets does Jon have?").is_list
    assert analyze("When did Jon move to Paris?").asks_when
    assert not analyze("Why did Jon move to Paris?").asks_when
    (start, end), = analyze("What did Jon do on 7 May 2023?").windows
    assert start < datetime(2023, 5, 7, tzinfo=UTC) < end and end - start < timedelta(days=20)
    (start, end), = analyze("What happened in June 2022?").windows
    assert start.month in (5, 6) and end.month in (7, 7)
    assert analyze("").windows == () and analyze(None).persons == ()
    assert "yoga" not in strip_exclusions("Besides yoga, what sports does she play?")


def test_question_and_time_shapes_of_memory_text() -> None:
    assert is_question("Caroline: Do you have any hobbies?")
    assert is_question("Mel: Did you see it? [shared an image: a dog]")
    assert not is_question("Mel: I paint. Do you?  Anyway, I love it.")
    assert mentions_time("we went there last week") and mentions_time("back in May")
    assert not mentions_time("I love painting")


# -- each signal in the store --------------------------------------------------------------------


def test_a_memory_that_is_itself_a_question_is_demoted(store: NativeMemoryAdapter) -> None:
    question = "What hobbies? Hobbies?"
    answer = "I love pottery and hiking, those are my hobbies these days"
    store.add(question, namespace=NS, metadata={"session": 1})
    store.add(answer, namespace=NS, metadata={"session": 2})
    off = replace(DEFAULT, question_penalty=0.0, neighbour_weight=0)
    on = replace(DEFAULT, question_penalty=0.5, neighbour_weight=0)
    assert texts(store.search("what hobbies", namespace=NS, ranking=off))[0] == question
    hits = store.search("what hobbies", namespace=NS, ranking=on)
    assert texts(hits)[0] == answer
    assert any(r.signal == "question" and r.contribution < 0 for r in hits[1].reasons)


def test_excluded_words_neither_search_nor_rank(store: NativeMemoryAdapter) -> None:
    store.add("I love yoga, yoga every morning, yoga is my sport", namespace=NS, metadata={"session": 1})
    store.add("I took up kayaking, a great sport", namespace=NS, metadata={"session": 2})
    query = "Besides yoga, what sport does she do?"
    off = replace(DEFAULT, exclusion_penalty=0.0, neighbour_weight=0)
    on = replace(DEFAULT, exclusion_penalty=0.5, neighbour_weight=0)
    assert texts(store.search(query, namespace=NS, ranking=off))[0].startswith("I love yoga")
    assert texts(store.search(query, namespace=NS, ranking=on))[0].startswith("I took up kayaking")


def test_the_named_persons_own_memories_rank_first_softly(store: NativeMemoryAdapter) -> None:
    jon = store.add("I adopted a puppy named Rex", namespace=NS, provenance={"agent": "Jon"},
                    metadata={"session": 1})
    gina = store.add("I adopted a dog named Rex", namespace=NS, provenance={"agent": "Gina"},
                     metadata={"session": 2})
    query = "What dog did Jon adopt?"
    off = replace(DEFAULT, speaker_weight=0.0, neighbour_weight=0)
    on = replace(DEFAULT, speaker_weight=0.3, neighbour_weight=0)
    # Gina's memory matches the words better
    assert next(h.record.id for h in store.search(query, namespace=NS, ranking=off)) == gina.id
    hits = store.search(query, namespace=NS, ranking=on)
    assert [h.record.id for h in hits] == [jon.id, gina.id]  # soft: the other one is still found


def test_when_questions_prefer_memories_that_say_when(store: NativeMemoryAdapter) -> None:
    store.add("The charity race was for mental health", namespace=NS, metadata={"session": 1})
    store.add("I ran the charity race last Saturday", namespace=NS, metadata={"session": 2})
    query = "When did Mel run the charity race for mental health?"
    off = replace(DEFAULT, when_weight=0.0, neighbour_weight=0)
    on = replace(DEFAULT, when_weight=0.3, neighbour_weight=0)
    assert texts(store.search(query, namespace=NS, ranking=off))[0].startswith("The charity race")
    assert texts(store.search(query, namespace=NS, ranking=on))[0].startswith("I ran")


def test_a_date_in_the_query_selects_memories_of_that_period(store: NativeMemoryAdapter) -> None:
    may = datetime(2023, 5, 8, tzinfo=UTC)
    store.add("We went camping by the lake", namespace=NS, created_at=may - timedelta(days=200),
              metadata={"session": 1})
    store.add("We went camping in the forest", namespace=NS, created_at=may, metadata={"session": 2})
    query = "Where did they go camping on 7 May 2023?"
    off = replace(DEFAULT, date_weight=0.0, neighbour_weight=0, recency_weight=0)
    on = replace(DEFAULT, date_weight=0.3, neighbour_weight=0, recency_weight=0)
    assert texts(store.search(query, namespace=NS, ranking=off))[0].endswith("lake")
    hits = store.search(query, namespace=NS, ranking=on)
    assert texts(hits)[0].endswith("forest")
    assert any(r.signal == "time" for r in hits[0].reasons)


def test_an_episode_that_matches_as_a_whole_lifts_its_memories(store: NativeMemoryAdapter) -> None:
    # session 1 talks about the trip in several turns; session 2 mentions "trip" once
    store.add("Planning the trip to Rome", namespace=NS, metadata={"session": 1})
    store.add("The Rome trip flights are booked", namespace=NS, metadata={"session": 1})
    target = store.add("Packed sunscreen, towels, two hats and some snacks", namespace=NS, metadata={"session": 1})
    store.add("a trip", namespace=NS, metadata={"session": 2})
    other = store.add("Packed sunscreen", namespace=NS, metadata={"session": 2})
    query = "Rome trip sunscreen"
    off = replace(DEFAULT, episode_weight=0.0, neighbour_weight=0)
    on = replace(DEFAULT, episode_weight=0.3, neighbour_weight=0)

    def order(config: RankingConfig) -> list[str]:
        return [h.record.id for h in store.search(query, namespace=NS, limit=5, ranking=config)]

    assert order(off).index(other.id) < order(off).index(target.id)
    assert order(on).index(target.id) < order(on).index(other.id)


def test_list_questions_spread_the_page_over_episodes(store: NativeMemoryAdapter) -> None:
    for i in range(4):
        store.add(f"painting class again, painting number {i}", namespace=NS, metadata={"session": 1})
    kayak = store.add("went kayaking, a favourite painting trip", namespace=NS, metadata={"session": 2})
    query = "What activities does she do besides work, painting?"  # a list question
    off = replace(DEFAULT, diversity=0.0, neighbour_weight=0, episode_weight=0)
    on = replace(DEFAULT, diversity=0.6, neighbour_weight=0, episode_weight=0)
    assert kayak.id not in [h.record.id for h in store.search(query, namespace=NS, limit=2, ranking=off)]
    assert kayak.id in [h.record.id for h in store.search(query, namespace=NS, limit=2, ranking=on)]


def test_the_ranking_signals_example_in_the_docs_runs() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "adapters.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Ranking signals read from the question"):]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    exec(compile(block.group(1), "docs/adapters.md", "exec"), {})


def test_a_second_hop_reaches_another_episode_through_a_best_hits_words(store: NativeMemoryAdapter) -> None:
    # session 1 answers the first part ("what did Jon research"); session 3 holds the second
    # part and shares only the seed's rarer words (adoption, agency), not the question's
    store.add("Jon: I did some research on adoption agencies this week", namespace=NS, metadata={"session": 1})
    store.add("Jon: my research paper on birds is late again", namespace=NS, metadata={"session": 2})
    target = store.add("Jon: the adoption agencies called, the papers are signed", namespace=NS,
                       metadata={"session": 3})
    for i in range(6):
        store.add(f"Jon: walked the dog in the park, lap {i}", namespace=NS, metadata={"session": 4 + i})
    query = "What did Jon research, and what came of it?"
    off = replace(DEFAULT, hop_weight=0.0, neighbour_weight=0)
    on = replace(DEFAULT, hop_weight=0.5, neighbour_weight=0)

    def order(config: RankingConfig) -> list[str]:
        return [h.record.content for h in store.search(query, namespace=NS, limit=10, ranking=config)]

    assert order(off).index(target.content) > 2  # below a dog walk that only shares "Jon"
    assert order(on).index(target.content) == 2  # right after the two research turns
    hit = store.search(query, namespace=NS, limit=3, ranking=on)[2]
    assert any(r.signal == "hop" and "adopt" in r.detail for r in hit.reasons)


def test_facts_are_read_only_for_candidates_that_can_reach_the_page(store: NativeMemoryAdapter) -> None:
    """With only bonus signals on (speaker, time), a candidate below the page even with every
    bonus is not read; the page is the one every candidate's facts give."""
    from mnemos.memory_adapters._ranking import Candidate
    from mnemos.memory_adapters._rerank import fact_rows

    cands = {r: Candidate(rowid=r, score=s) for r, s in enumerate([1.0, 0.9, 0.8, 0.79, 0.5, 0.2])}
    named = analyze("What did Jon adopt?")
    assert fact_rows(cands, named, RankingConfig(episode_focus=0.0, speaker_weight=0.03), 3) == [0, 1, 2, 3]  # 0.79 + 0.03 >= 0.8
    assert fact_rows(cands, named, RankingConfig(episode_focus=0.0, speaker_weight=0.03), 6) == list(cands)
    assert fact_rows(cands, named, RankingConfig(episode_focus=0.0, speaker_weight=0.03, question_penalty=0.3), 3) == list(cands)
    dated = analyze("What did Jon adopt in May 2023?")
    assert fact_rows(cands, dated, RankingConfig(episode_focus=0.0, speaker_weight=0.03, date_weight=0.3), 3) == [0, 1, 2, 3, 4]
    # in a store: Jon's memories rise onto a short page from below it (his name is in no text),
    # and the page is the first hits of a page long enough to read every candidate
    for i in range(4):
        store.add(f"I bought a bike at the market, the market stall {i}", namespace=NS, provenance={"agent": "Gina"},
                  metadata={"session": i})
        store.add(f"I bought a bike near the market, number {i}", namespace=NS, provenance={"agent": "Jon"}, metadata={"session": 9 + i})
    ranking = replace(RankingConfig(), speaker_weight=0.5, recency_weight=0.0, neighbour_weight=0.0)  # no clock
    query = "What did Jon buy at the market?"
    full = [(h.record.id, h.score) for h in store.search(query, namespace=NS, limit=100, ranking=ranking)]
    assert [h.record.id for h in store.search(query, namespace=NS, limit=3, ranking=replace(ranking, speaker_weight=0))] \
        != [i for i, _ in full[:3]]
    for limit in (1, 3, 6):
        assert [(h.record.id, h.score) for h in store.search(query, namespace=NS, limit=limit, ranking=ranking)] == full[:limit]

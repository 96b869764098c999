"""The typed entity graph over a scope's memories and its second retrieval round (``_episodic_graph``).

Real native stores (SQLite, the built-in hashing embedder) with synthetic
conversations: a list question ("what pets...") whose answers never use the
question's words reaches them through the graph only with ``entity_weight`` on,
even when they are outside the first candidates. PostgreSQL runs the same code
(its ranking is compared with native's in ``test_postgres.py``).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from mnemos.memory_adapters._episodic_graph import (
    ItemRow,
    item_rows,
    question_types,
    typed_gains,
    typed_items,
)
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

NS = ("chat",)
PEOPLE = frozenset({"nora", "omar"})


def _say(store: NativeMemoryAdapter, who: str, text: str, session: int) -> str:
    """A turn said by ``who`` (named in its metadata only, as a chat log would keep it)."""
    return store.add(text, namespace=NS, metadata={"session": session, "speaker": who}).id


def test_question_types_read_what_kind_of_answer_is_wanted() -> None:
    assert question_types("What pets does Nora have?") == ("animal",)
    assert "place" in question_types("Which cities has Omar visited?")
    assert "activity" in question_types("What hobbies does Nora have?")
    assert "family" in question_types("How many children does Omar have?")
    assert question_types("Is the report due today?") == ()
    assert question_types(None) == ()


def test_typed_items_find_animals_activities_and_names_but_not_people() -> None:
    found = typed_items("Omar: We went kayaking near Bergen, and our cat Miso came along!", PEOPLE)
    assert "cat" in found["animal"] and "kayaking" in found["activity"]
    assert "bergen" in found["place"]
    assert all("omar" not in items for items in found.values())  # a speaker is a person, not a place
    # a capitalised word opening a sentence is no name; a common "-ing" word is no activity
    assert "place" not in typed_items("Yesterday was long. Something amazing happened.", PEOPLE)
    assert "activity" not in typed_items("Something amazing happened this morning.", PEOPLE)


def test_days_and_months_are_no_names() -> None:
    """ "moved to Friday" is a time: neither a place nor a person a list question asks for."""
    found = typed_items("Omar said the launch moved to Friday, and we fly to Lisbon in May.", PEOPLE)
    assert found["place"] == {"lisbon"}


def _activities(content: str) -> frozenset[str]:
    """The activity items ``content`` holds, as typed and as kept by the stores."""
    kept = {item for kind, item, _ in item_rows(content, "Nora") if kind == "activity"}
    typed = typed_items(content, PEOPLE).get("activity", frozenset())
    assert kept == typed
    return typed


def test_posture_dress_expression_and_speech_verbs_are_no_activities() -> None:
    """ "standing", "wearing", "smiling", "holding", "saying" say how someone is, not what
    they do for fun; a pastime's "-ing" word still counts."""
    found = _activities("Nora: Standing there, wearing a hat, smiling, holding the leash, saying hi.")
    assert found == frozenset()
    assert _activities("Nora: Quilting on Sundays, looking forward to it.") == {"quilting"}


def test_bracketed_descriptions_add_no_activity_words() -> None:
    """An image's caption describes a picture ("a dog fetching a stick"), not what its
    speaker does; its lexicon words (a photo of a cat) still count as items."""
    shared = "Nora: Look at him! [shared an image: a dog fetching a stick near a lake]"
    assert _activities(shared) == frozenset()
    assert "dog" in typed_items(shared, PEOPLE)["animal"]
    assert _activities("Nora: My evenings are for fetching old records at flea markets.") == {"fetching"}


def test_an_ing_word_used_only_as_a_verb_going_on_is_no_activity() -> None:
    """ "I'm crafting a reply" is a verb going on; "crafting is my escape" names a pastime."""
    assert _activities("Nora: I'm crafting a reply to the landlord right now.") == frozenset()
    assert _activities("Nora: We were really drifting apart.") == frozenset()
    assert _activities("Nora: Crafting is my escape, I keep at it.") == {"crafting"}
    assert _activities("Nora: I'm crafting again: crafting calms me.") == {"crafting"}


def _rows(memories: list[tuple[int, str, str]]) -> tuple[list[ItemRow], frozenset[str]]:
    """The rows a store keeps for ``(rowid, content, speaker)`` memories of one namespace."""
    rows = [(kind, "chat/", item, rowid, who) for rowid, content, speaker in memories
            for kind, item, who in item_rows(content, speaker) if kind]
    return rows, frozenset(who.casefold() for _, _, who in memories)


def test_gains_prefer_rare_items_and_the_named_persons_memories() -> None:
    rows, people = _rows([
        (1, "Nora: my dog Pip is sick", "Nora"),
        (2, "Nora: walked the dog again", "Nora"),
        (3, "Nora: walked the dog, it rained", "Nora"),
        (4, "Nora: the parrot learned a word", "Nora"),
        (5, "Omar: my cat sleeps all day", "Omar"),
    ])
    gains = typed_gains(rows, ("animal",), people, ("nora",), 0.2)
    assert set(gains) == {1, 2, 3, 4}  # Omar's cat is not Nora's
    assert gains[4][1] > gains[1][1]  # a parrot (one memory) says more than a dog (three)
    assert set(typed_gains(rows, ("animal",), people, (), 0.2)) == {1, 2, 3, 4, 5}
    assert typed_gains(rows, ("animal",), people, ("nora",), 0.0) == {}


def test_a_list_question_reaches_items_outside_the_first_candidates(store: NativeMemoryAdapter) -> None:
    pets = [
        _say(store, "Nora", "Our new kitten knocked a vase over last night.", 1),
        _say(store, "Nora", "The parrot now says good morning to everyone.", 4),
    ]
    _say(store, "Omar", "My hamster escaped again, found him in a shoe.", 5)  # Omar's, not Nora's
    for i in range(12):  # turns that share the question's words; the answers share none
        _say(store, "Nora" if i % 2 else "Omar", f"Does Nora have time for a talk, round {i}?", 10 + i)
    query = "What pets does Nora have?"
    off = RankingConfig(neighbour_weight=0, entity_weight=0)
    on = replace(off, entity_weight=0.3)
    assert not {h.record.id for h in store.search(query, namespace=NS, limit=20, ranking=off)} & set(pets)
    hits = store.search(query, namespace=NS, limit=20, ranking=on)
    assert set(pets) <= {h.record.id for h in hits}
    assert all("hamster" not in h.record.content for h in hits)  # Omar's pet: Nora was asked about
    hit = next(h for h in hits if h.record.id == pets[0])
    reason = next(r for r in hit.reasons if r.signal == "entity")
    assert reason.contribution > 0 and "kitten" in reason.detail
    assert hit.score == pytest.approx(sum(r.contribution for r in hit.reasons))


def test_the_graph_follows_writes_and_respects_filters_and_scopes(store: NativeMemoryAdapter) -> None:
    ranking = RankingConfig(neighbour_weight=0, entity_weight=0.3)
    for i in range(3):
        _say(store, "Nora", f"Does Nora have a minute, round {i}?", i)
    query = "What pets does Nora have?"
    assert not any("goldfish" in h.record.content for h in store.search(query, namespace=NS, ranking=ranking))
    fish = _say(store, "Nora", "We bought a goldfish at the fair.", 20)  # written after the graph was built
    assert fish in {h.record.id for h in store.search(query, namespace=NS, ranking=ranking)}
    hidden = store.search(query, namespace=NS, ranking=ranking, filter={"session": {"$lt": 20}})
    assert fish not in {h.record.id for h in hidden}  # the second round admits only what passes the filter
    store.add("Our puppy chewed the sofa", namespace=("other",), metadata={"speaker": "Nora"})
    assert not any("puppy" in h.record.content for h in store.search(query, namespace=NS, ranking=ranking))
    store.delete(fish)
    assert fish not in {h.record.id for h in store.search(query, namespace=NS, ranking=ranking)}


def test_when_questions_and_untyped_questions_take_no_second_round(store: NativeMemoryAdapter) -> None:
    _say(store, "Nora", "Our kitten is called Miso.", 1)
    ranking = RankingConfig(entity_weight=0.3)
    for query in ("When did Nora get a pet?", "Is the report due today?"):
        for hit in store.search(query, namespace=NS, ranking=ranking):
            assert all(r.signal != "entity" for r in hit.reasons)


def test_a_phrase_to_look_up_takes_no_second_round(store: NativeMemoryAdapter) -> None:
    """A kind word in a phrase ("... for her daughter") is no question for every item of
    that kind: the memory that only holds the word must not gain over the one the phrase
    is about."""
    store.add("Alice's daughter Emma is seven years old", namespace=NS, metadata={"speaker": "Alice"})
    party = store.add("Alice mentioned Emma's birthday party is on Saturday", namespace=NS,
                      metadata={"speaker": "Alice"})
    ranking = RankingConfig(entity_weight=0.2)
    hits = store.search("birthday party plans for her daughter", namespace=NS, ranking=ranking)
    assert hits[0].record.id == party.id
    assert all(r.signal != "entity" for h in hits for r in h.reasons)
    asked = store.search("Which family members does Alice have?", namespace=NS, ranking=ranking)
    assert any(r.signal == "entity" for h in asked for r in h.reasons)

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from mnemos.agents._extract import DEFAULT_RULE, extract_facts, extract_rules, extractive_summary


def facts(text: str) -> dict[str, tuple[str, str]]:
    return {f.attribute: (f.value, f.statement) for f in extract_facts(text)}


def test_statements_about_oneself_become_facts() -> None:
    assert facts("I live in Paris.") == {"lives_in": ("Paris", "User lives in Paris")}
    found = facts("Actually I moved to Berlin and I work at Acme Corp. My favorite color is blue!")
    assert found["lives_in"] == ("Berlin", "User lives in Berlin")
    assert found["works_at"] == ("Acme Corp", "User works at Acme Corp")
    assert found["favorite_color"] == ("blue", "User's favorite color is blue")
    assert facts("My name is Ada")["name"] == ("Ada", "User's name is Ada")


def test_likes_are_keyed_by_their_object_with_polarity() -> None:
    found = facts("I like green tea. I don't like coffee.")
    assert found["likes:green tea"] == ("yes", "User likes green tea")
    assert found["likes:coffee"] == ("no", "User does not like coffee")


def test_questions_and_chatter_state_no_facts() -> None:
    assert extract_facts("Where do I live?") == []
    assert extract_facts("Hello, how are you today?") == []
    assert extract_facts("The weather is nice") == []


def test_rules_from_user_instructions_in_episodes() -> None:
    episodes = ["user: Please answer briefly.\nassistant: ok", "user: always cite sources\nassistant: sure"]
    assert extract_rules(episodes) == ["Answer briefly.", "Always cite sources."]
    assert extract_rules(episodes, existing=["Answer briefly."]) == ["Always cite sources."]
    assert extract_rules(["user: hi\nassistant: hello"]) == [DEFAULT_RULE]
    assert extract_rules(["user: hi"], existing=[DEFAULT_RULE]) == []


def test_extractive_summary_keeps_speakers_and_first_sentences() -> None:
    text = extractive_summary([SystemMessage("ignored"), HumanMessage("I live in Oslo. It is cold."),
                               AIMessage("Noted. Anything else?", name="helper")])
    assert text == "user: I live in Oslo.\nhelper: Noted."
    assert len(extractive_summary([HumanMessage("x" * 500)], max_chars=50)) == 50


def test_grounded_facts_keep_only_what_the_message_supports() -> None:
    from mnemos.agents._extract import FactList, grounded_facts

    # what SmolLM2-135M returned over HTTP for these messages (subjects and statements garbled)
    said = FactList.model_validate({"facts": [
        {"subject": "user", "attribute": "lives_in", "value": "Berlin", "statement": "Green"},
        {"subject": "works_at", "attribute": "works_at", "value": "Acme", "statement": "works_at"},
        {"subject": "user", "attribute": "pet", "value": "a cat named Miso", "statement": "User has a cat named Miso"},
    ]}).facts
    kept = grounded_facts(said, "I work at Acme. My cat Miso sleeps.")
    assert [(f.subject, f.attribute, f.value, f.statement) for f in kept] == [
        ("user", "works_at", "Acme", "User works at: Acme"),
        ("user", "pet", "a cat named Miso", "User has a cat named Miso"),
    ]
    assert grounded_facts(said, "My favourite colour is green") == []

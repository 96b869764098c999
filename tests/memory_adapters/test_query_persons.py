"""Which capitalized words of a query :func:`analyze` reads as the people it names."""

from __future__ import annotations

import pytest

from mnemos.memory_adapters._query import analyze


def test_an_agents_recall_text_names_nobody() -> None:
    assert analyze("Based on what I remember: the User's cat is Tom").persons == ("tom",)
    relayed = "Based on what I remember: step_2: Based on what I remember: [step_0] Based on it"
    assert analyze(relayed).persons == ()
    assert analyze("Looking back. Sure, the Assistant and the System said so").persons == ()


@pytest.mark.parametrize(
    ("text", "persons"),
    [
        ("Caroline went to the park", ("caroline",)),
        ("Melanie's kids like what?", ("melanie",)),
        ("What did Caroline say? Melanie answered", ("caroline", "melanie")),
        ("Sterling's dog. Where did Sterling go?", ("sterling",)),
        ("According to Gina, what makes Jon a mentor?", ("gina", "jon")),
        ("Fred came home", ("fred",)),
    ],
)
def test_names_are_still_found_at_the_start_of_a_sentence(text: str, persons: tuple[str, ...]) -> None:
    assert analyze(text).persons == persons

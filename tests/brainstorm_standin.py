"""A deterministic stand-in for a real chat model in brainstorm tests (a ``ScriptedChatModel``).

It reads the chair's brief as a real model would: it proposes ideas made of
the topic's words (from templates that differ from each other), critiques the
idea the chair puts up for review, and votes by a fixed leaning, all as the
small JSON object the brief asks for. It stands in for a real model where a
test needs exact, repeatable memory effects; the tests marked ``local_model``
run the same sessions on the real local model.

``python brainstorm_standin.py ARGS`` runs the ``mnemos`` command with every
model resolved to this stand-in (for tests that need separate processes).
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage

from mnemos.agents import ScriptedChatModel
from mnemos.agents._lexical import STOPWORDS, words

TEMPLATES: dict[str, list[str]] = {
    "product_manager": ["a weekly {w} check-in with the people affected", "a shared {w} calendar everyone sees",
                        "a small {w} pilot with one team first", "a {w} buddy system for newcomers"],
    "engineer": ["a simple {w} dashboard updated each morning", "an automatic {w} reminder by text message",
                 "an open {w} feedback form online", "a {w} rota planner that balances shifts"],
    "skeptic": ["a cheap {w} survey before anything else", "a {w} budget cap agreed upfront",
                "a monthly {w} risk review", "a {w} exit interview for leavers"],
}
LEANING = {"product_manager": "for", "engineer": "for", "skeptic": "against"}
_TOPIC = re.compile(r"^Topic: (.+)$", re.MULTILINE)
_REVIEW = re.compile(r"weak about idea #(\d+)")


def topic_word(topic: str) -> str:
    """The longest word of the topic that is not a stopword."""
    candidates = [w for w in words(topic) if w not in STOPWORDS] or ["topic"]
    return max(candidates, key=len)


def standin(name: str) -> ScriptedChatModel:
    """The stand-in model of participant ``name``."""
    counter = itertools.count()
    templates = TEMPLATES.get(name, ["a {w} idea from " + name + " number one", "another {w} step by " + name])

    def reply(messages: Sequence[BaseMessage]) -> str:
        brief = messages[-1].text
        topic = _TOPIC.search(brief)
        out: dict[str, Any] = {}
        if "Give one short practical idea" in brief:
            template = templates[next(counter) % len(templates)]
            out["idea"] = template.format(w=topic_word(topic.group(1) if topic else ""))
        if _REVIEW.search(brief):
            out["critique"] = f"{name} finds it " + ("useful" if LEANING.get(name, "for") == "for" else "risky")
            out["vote"] = LEANING.get(name, "for")
        return json.dumps(out)

    return ScriptedChatModel(reply)


def standin_team(personas: Any, memory: Any) -> tuple[list[Any], Any]:
    """Participants of a persona set, each thinking with its stand-in model."""
    from dataclasses import replace

    from mnemos.graphs.groupchat import participants_from_personas

    members, moderator = participants_from_personas(personas, model="offline", memory=memory)
    for p in members:
        p.agent = replace(p.agent, model=standin(p.name))
    if moderator is not None:
        moderator.agent = replace(moderator.agent, model=standin(moderator.name))
    return members, moderator


def _main() -> None:
    """``mnemos`` with every brainstorm participant on its stand-in model."""
    from mnemos.cli import main
    from mnemos.graphs import brainstorm as runner

    original = runner.brainstorm_chat

    def chat_with_standins(personas: Any = "builtin", *, model: Any = None, memory: Any = None,
                           rounds: int = 3) -> Any:
        from mnemos.graphs.groupchat import GroupChat

        _, team = original(personas, model="offline", memory=memory, rounds=rounds)
        members, moderator = standin_team(team, memory)
        return GroupChat(participants=members, moderator=moderator, team_memory=memory, team=team.team,
                         max_rounds=rounds), team

    runner.brainstorm_chat = chat_with_standins
    sys.argv = ["mnemos", *sys.argv[1:]]
    main()


if __name__ == "__main__":
    _main()

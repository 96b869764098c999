"""The chair's suggested move for a speaker, from its persona and the ledger.

A suggestion is offered in the speaker's brief as ``field: value`` lines. A
hosted model treats it as a starting point; the offline model copies it
(its structured output fills fields from ``field: value`` text), which makes
offline sessions deterministic and sensible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mnemos.agents._lexical import content_words
from mnemos.graphs._ledger import find_similar
from mnemos.graphs._personas import Persona

__all__ = ["suggest", "suggestion_lines"]


def suggest(
    persona: Persona,
    ledger: Mapping[str, Any],
    *,
    round: int,
    max_rounds: int,
    rejected_before: Sequence[str],
    revisit: bool,
) -> dict[str, Any]:
    """``{"idea", "critique_of", "critique", "vote_for", "vote"}`` for ``persona`` now."""
    name = persona.name
    ideas = ledger["ideas"]
    known = [i["text"] for i in ideas] + [d["text"] for d in ledger.get("dropped", [])]
    move: dict[str, Any] = {"idea": "none", "critique_of": 0, "critique": "none", "vote_for": 0, "vote": 0}
    if persona.angles and (round < max_rounds or max_rounds == 1):
        avoid = known + ([] if revisit else list(rejected_before))
        fresh = next((a for a in persona.angles if find_similar(a, avoid) is None), None)
        if fresh:
            move["idea"] = fresh
    open_ideas = [i for i in ideas if i["status"] == "proposed" and i["author"] != name]
    if persona.concerns:
        mine = sum(1 for i in ideas for c in i["critiques"] if c["author"] == name)
        target = next((i for i in reversed(open_ideas)
                       if all(c["author"] != name for c in i["critiques"])), None)
        if target is not None:
            move["critique_of"] = target["id"]
            move["critique"] = persona.concerns[mine % len(persona.concerns)]
    target = next((i for i in open_ideas if name not in i["votes"]), None)
    if target is not None:
        words = content_words(target["text"])
        if words & content_words(" ".join(persona.dislikes)):
            vote = -1
        elif words & content_words(" ".join(persona.likes)):
            vote = 1
        else:
            vote = persona.default_vote
        if vote:
            move["vote_for"], move["vote"] = target["id"], vote
    return move


def suggestion_lines(move: Mapping[str, Any]) -> str:
    """The suggestion as ``field: value`` lines (the fields of a contribution)."""
    return "\n".join([
        f"idea: {move['idea']}",
        f"critique of: {move['critique_of']}",
        f"critique: {move['critique']}",
        f"vote for: {move['vote_for']}",
        f"vote: {move['vote']}",
    ])

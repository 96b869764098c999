"""The idea ledger of a brainstorm: ideas, critiques, votes, statuses.

The ledger lives in the graph state as plain JSON (so every checkpointer can
save it); the functions here read and return that form. An idea::

    {"id": 3, "text": "...", "author": "engineer", "round": 1,
     "status": "proposed" | "accepted" | "rejected" | "merged",
     "critiques": [{"author", "text", "round"}], "votes": {"skeptic": -1, ...},
     "merged_into": None, "origin": "session" | "earlier session"}

Moves reach the ledger two ways: as structured output (:class:`Contribution`)
or, from a model without structured output, as lines of text::

    IDEA: a loyalty programme for repeat buyers
    CRITIQUE #2: who pays for the hardware?
    VOTE #2 +1
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from mnemos.agents._lexical import content_words

__all__ = [
    "Contribution",
    "Moves",
    "decide",
    "empty_ledger",
    "find_similar",
    "ledger_markdown",
    "moves_from_contribution",
    "moves_from_text",
    "record_moves",
    "render_moves",
    "score",
    "similar",
]

STATUSES = ("proposed", "accepted", "rejected", "merged")
_NONE = {"", "none", "n/a", "-", "nothing", "no", "null"}
_IDEA_LINE = re.compile(r"^\s*(?:[-*]\s*)?IDEA\s*:\s*(.+)$", re.IGNORECASE)
_CRITIQUE_LINE = re.compile(r"^\s*(?:[-*]\s*)?CRITIQUE\s*#?(\d+)\s*:\s*(.+)$", re.IGNORECASE)
_VOTE_LINE = re.compile(r"^\s*(?:[-*]\s*)?VOTE\s*#?(\d+)\s*([+-]?\d+)", re.IGNORECASE)


class Contribution(BaseModel):
    """One participant's turn in a brainstorm, as structured output."""

    say: str = Field(default="", description="What you say to the group, in a sentence or two.")
    idea: str = Field(default="", description="One new idea in one sentence, or 'none'.")
    critique_of: int = Field(default=0, description="The number of the idea you critique, or 0.")
    critique: str = Field(default="", description="Your critique of that idea in one sentence.")
    vote_for: int = Field(default=0, description="The number of the idea you vote on, or 0.")
    vote: int = Field(default=0, description="Your vote on that idea: 1 for, -1 against, 0 none.")


@dataclass(kw_only=True)
class Moves:
    """What a turn does to the ledger."""

    say: str = ""
    ideas: list[str] = field(default_factory=list)
    critiques: list[tuple[int, str]] = field(default_factory=list)
    votes: list[tuple[int, int]] = field(default_factory=list)


def _clean(text: str) -> str:
    text = " ".join(str(text).split()).strip().strip("\"'")
    return "" if text.casefold().rstrip(".") in _NONE else text


def moves_from_contribution(c: Contribution) -> Moves:
    """The moves of a structured contribution ('none' and zeros mean no move)."""
    moves = Moves(say=_clean(c.say))
    if idea := _clean(c.idea):
        moves.ideas.append(idea)
    if c.critique_of > 0 and (text := _clean(c.critique)):
        moves.critiques.append((c.critique_of, text))
    if c.vote_for > 0 and c.vote:
        moves.votes.append((c.vote_for, 1 if c.vote > 0 else -1))
    return moves


def moves_from_text(text: str) -> Moves:
    """The moves written as ``IDEA:`` / ``CRITIQUE #n:`` / ``VOTE #n +1`` lines; other lines are speech."""
    moves = Moves()
    said: list[str] = []
    for line in text.splitlines():
        if m := _IDEA_LINE.match(line):
            if idea := _clean(m.group(1)):
                moves.ideas.append(idea)
        elif m := _CRITIQUE_LINE.match(line):
            if critique := _clean(m.group(2)):
                moves.critiques.append((int(m.group(1)), critique))
        elif m := _VOTE_LINE.match(line):
            value = int(m.group(2))
            if value:
                moves.votes.append((int(m.group(1)), 1 if value > 0 else -1))
        elif line.strip():
            said.append(line.strip())
    moves.say = " ".join(said)
    return moves


def render_moves(moves: Moves) -> str:
    """A turn's text: the speech, then one line per move (the documented line format)."""
    lines = [moves.say] if moves.say else []
    lines += [f"IDEA: {i}" for i in moves.ideas]
    lines += [f"CRITIQUE #{n}: {t}" for n, t in moves.critiques]
    lines += [f"VOTE #{n} {v:+d}" for n, v in moves.votes]
    return "\n".join(lines) or "(passes)"


# --- similarity --------------------------------------------------------------------


def similar(a: str, b: str, threshold: float = 0.6) -> bool:
    """Whether two idea texts say the same thing (content-word overlap)."""
    wa, wb = content_words(a), content_words(b)
    if not wa or not wb:
        return a.strip().casefold() == b.strip().casefold()
    shared = len(wa & wb)
    return shared / len(wa | wb) >= threshold or shared / min(len(wa), len(wb)) >= 0.8


def find_similar(text: str, candidates: Iterable[str]) -> str | None:
    """The first candidate that says the same as ``text``, if any."""
    return next((c for c in candidates if similar(text, c)), None)


# --- the ledger ----------------------------------------------------------------------


def empty_ledger() -> dict[str, Any]:
    """A ledger with no ideas."""
    return {"ideas": [], "dropped": [], "next_id": 1}


def _copy(ledger: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "ideas": [dict(i, critiques=list(i["critiques"]), votes=dict(i["votes"])) for i in ledger["ideas"]],
        "dropped": list(ledger.get("dropped", [])),
        "next_id": int(ledger["next_id"]),
    }


def _idea(ledger: Mapping[str, Any], number: int) -> dict[str, Any] | None:
    return next((i for i in ledger["ideas"] if i["id"] == number), None)


def add_idea(
    ledger: Mapping[str, Any], *, text: str, author: str, round: int,
    status: str = "proposed", origin: str = "session",
) -> dict[str, Any]:
    """A copy of ``ledger`` with one more idea (no checks; see :func:`record_moves`)."""
    out = _copy(ledger)
    out["ideas"].append({
        "id": out["next_id"], "text": text, "author": author, "round": round, "status": status,
        "critiques": [], "votes": {}, "merged_into": None, "origin": origin,
    })
    out["next_id"] += 1
    return out


def record_moves(
    ledger: Mapping[str, Any],
    moves: Moves,
    *,
    author: str,
    round: int,
    rejected_before: Sequence[str] = (),
    revisit: bool = False,
) -> tuple[dict[str, Any], list[str]]:
    """Apply a turn's moves; return the new ledger and notes on what was refused.

    A new idea that repeats one already on the ledger is recorded as
    ``merged`` into it (and counts as the author's vote for it). One that
    repeats an idea rejected in an earlier session is dropped, unless
    ``revisit``. Critiques and votes on unknown ideas are ignored with a note;
    a participant's later vote on an idea replaces its earlier one, and nobody
    votes on their own idea.
    """
    out = _copy(ledger)
    notes: list[str] = []
    for text in moves.ideas:
        earlier = None if revisit else find_similar(text, rejected_before)
        if earlier is not None:
            out["dropped"].append({"text": text, "author": author, "round": round,
                                   "reason": f"repeats an idea rejected earlier: {earlier}"})
            notes.append(f"dropped {text!r}: it repeats an idea rejected in an earlier session")
            continue
        live = [i for i in out["ideas"] if i["status"] != "merged"]
        same = next((i for i in live if similar(text, i["text"])), None)
        out = add_idea(out, text=text, author=author, round=round,
                       status="merged" if same else "proposed")
        if same is not None:
            out["ideas"][-1]["merged_into"] = same["id"]
            target = _idea(out, same["id"])
            if target is not None and target["author"] != author:
                target["votes"][author] = 1
    for number, text in moves.critiques:
        idea = _idea(out, number)
        if idea is None:
            notes.append(f"critique of unknown idea #{number} ignored")
            continue
        idea["critiques"].append({"author": author, "text": text, "round": round})
    for number, value in moves.votes:
        idea = _idea(out, number)
        if idea is None or idea["author"] == author:
            notes.append(f"vote on #{number} ignored ({'unknown idea' if idea is None else 'own idea'})")
            continue
        idea["votes"][author] = value
    return out, notes


def score(idea: Mapping[str, Any]) -> int:
    """The sum of an idea's votes."""
    return sum(int(v) for v in idea["votes"].values())


def decide(ledger: Mapping[str, Any]) -> dict[str, Any]:
    """Close the open ideas: a positive score accepts, a negative one rejects, zero stays proposed."""
    out = _copy(ledger)
    for idea in out["ideas"]:
        if idea["status"] == "proposed" and idea["origin"] == "session":
            total = score(idea)
            if total > 0:
                idea["status"] = "accepted"
            elif total < 0:
                idea["status"] = "rejected"
    return out


def ledger_markdown(ledger: Mapping[str, Any]) -> str:
    """The ledger as a Markdown table, then critiques and dropped repeats."""
    lines = ["| # | idea | author | round | score | status |", "|---|---|---|---|---|---|"]
    for i in ledger["ideas"]:
        status = i["status"] + (f" into #{i['merged_into']}" if i.get("merged_into") else "")
        if i.get("origin") != "session":
            status += f" ({i['origin']})"
        text = i["text"].replace("|", "\\|")
        lines.append(f"| {i['id']} | {text} | {i['author']} | {i['round']} | {score(i):+d} | {status} |")
    critiques = [(i["id"], c) for i in ledger["ideas"] for c in i["critiques"]]
    if critiques:
        lines += ["", "Critiques:", ""]
        lines += [f"- #{n} ({c['author']}, round {c['round']}): {c['text']}" for n, c in critiques]
    if ledger.get("dropped"):
        lines += ["", "Dropped (repeats of ideas rejected in earlier sessions):", ""]
        lines += [f"- {d['text']} ({d['author']}, round {d['round']})" for d in ledger["dropped"]]
    return "\n".join(lines)

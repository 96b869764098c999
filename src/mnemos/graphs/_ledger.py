"""The idea ledger of a brainstorm: ideas, critiques, votes, statuses.

The ledger lives in the graph state as plain JSON (so every checkpointer can
save it); the functions here read and return that form. An idea::

    {"id": 3, "text": "...", "author": "engineer", "round": 1,
     "status": "proposed" | "accepted" | "rejected" | "merged",
     "critiques": [{"author", "text", "round"}], "votes": {"skeptic": -1, ...},
     "merged_into": None, "origin": "session" | "earlier session"}

A turn reaches the ledger two ways: as structured output (a JSON object with
``idea``, ``critique`` and ``vote``; the critique and the vote are about the
idea the chair put up for review) or, from a reply that is not JSON, as lines
of text::

    IDEA: a loyalty programme for repeat buyers
    CRITIQUE: who pays for the hardware?        (or CRITIQUE #2: ...)
    VOTE: for                                   (or against, +1, -1, VOTE #2 +1)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from mnemos.agents._lexical import content_words

__all__ = [
    "Contribution",
    "IdeaAndReviewTurn",
    "IdeaTurn",
    "Moves",
    "ReviewTurn",
    "apply_patch",
    "contribution_schema",
    "decide",
    "empty_ledger",
    "find_similar",
    "ledger_markdown",
    "ledger_patch",
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
_CRITIQUE_LINE = re.compile(r"^\s*(?:[-*]\s*)?CRITIQUE(?:\s+of)?\s*#?\s*(\d+)?\s*:\s*(.+)$", re.IGNORECASE)
_VOTE_LINE = re.compile(r"^\s*(?:[-*]\s*)?VOTE(?:\s+(?:on|for))?\s*#?\s*(\d+)?\s*:?\s*(for|against|[+-]?\d+)\b",
                        re.IGNORECASE)


IDEA_CHARS = 200
"""The longest idea a turn may propose (a schema bound, so a small model stops early)."""
CRITIQUE_CHARS = 120


class Contribution(BaseModel):
    """One participant's turn as structured output: a new idea, and a review of the idea under review."""

    idea: str = Field(default="", max_length=IDEA_CHARS,
                      description="One short practical idea about the topic, in one sentence.")
    critique: str = Field(default="", max_length=CRITIQUE_CHARS,
                          description="In a few words: what is good or weak about the idea under review.")
    vote: Literal["for", "against", "none"] = Field(default="none",
                                                    description="for or against the idea under review.")


class IdeaTurn(BaseModel):
    """A turn that proposes one idea (the JSON a small model is asked for)."""

    idea: str = Field(max_length=IDEA_CHARS, description="One short practical idea about the topic.")


class ReviewTurn(BaseModel):
    """A turn that critiques and votes on the idea under review."""

    critique: str = Field(max_length=CRITIQUE_CHARS, description="What is good or weak about the idea, briefly.")
    vote: Literal["for", "against"] = Field(description="for or against the idea under review.")


class IdeaAndReviewTurn(BaseModel):
    """A turn that proposes one idea and reviews another."""

    idea: str = Field(max_length=IDEA_CHARS, description="One short practical idea about the topic.")
    critique: str = Field(max_length=CRITIQUE_CHARS, description="What is good or weak about the idea, briefly.")
    vote: Literal["for", "against"] = Field(description="for or against the idea under review.")


def contribution_schema(*, propose: bool, review: bool) -> type[BaseModel]:
    """The schema of a turn: only the fields the chair asks for, all required, strings bounded.

    Small models follow a small schema best; a grammar-constrained model
    (llama.cpp) cannot leave a required field out or run past ``maxLength``.
    """
    if propose and review:
        return IdeaAndReviewTurn
    return ReviewTurn if review else IdeaTurn


@dataclass(kw_only=True)
class Moves:
    """What a turn does to the ledger."""

    say: str = ""
    ideas: list[str] = field(default_factory=list)
    critiques: list[tuple[int, str]] = field(default_factory=list)
    votes: list[tuple[int, int]] = field(default_factory=list)


_DANGLING = re.compile(r"(?:[\s,;:(-]+(?:and|or|to|the|a|an|of|for|with|by|in|on|that|which|their|its|,))+[\s,;:(-]*$",
                       re.IGNORECASE)


# what small models wrap around an answer: short bracket tags ("[/M1]", "[#207369]"), a leading
# run of digits and symbols ("0:36;2597} "), an answer label ("A: "), markup after the sentence
# (from an unmatched "]" or a brace on)
_TAG = re.compile(r"\[/?(?:[A-Z]\d*|#?\d+)\]")
_LEAD = re.compile(r"^(?:[^\w\s]+|\d+[:;{}\[\]#|]+|_+|[A-Z]:\s+|\s+)+")


def _unwrap(text: str) -> str:
    """The sentence inside the markup a small model sometimes wraps it in (unchanged if none)."""
    inner = _cut_markup(_LEAD.sub("", " ".join(_TAG.sub(" ", text).split()))).strip()
    return inner if any(c.isalpha() for c in inner) else text


def _cut_markup(text: str) -> str:
    """``text`` up to a brace or an unmatched ``]`` that follows at least three words."""
    depth = 0
    for i, c in enumerate(text):
        if c == "[":
            depth += 1
        elif c == "]" and depth:
            depth -= 1
        elif c in "]{}" and len(text[:i].split()) >= 3:
            return text[:i]
    return text


def _clean(text: Any) -> str:
    """One line, quotes and wrapping markup stripped, and a text cut off at its length bound
    ended at its last full word."""
    text = _unwrap(" ".join(str(text or "").split()).strip()).strip("\"'")
    if text.casefold().rstrip(".") in _NONE:
        return ""
    tidy = _DANGLING.sub("", text).rstrip(" ,;:-(").lstrip(" ,;:.-)")
    return tidy or text


def _vote_value(value: Any) -> int:
    """+1, -1 or 0 from 'for' / 'against' / '+1' / '-1' / 1 / -1 / 'yes' / 'no' (anything else: 0)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, (int, float)):
        return 1 if value > 0 else -1 if value < 0 else 0
    text = str(value or "").strip().casefold()
    if text in ("for", "+1", "1", "yes", "up", "+", "support", "agree"):
        return 1
    if text in ("against", "-1", "no", "down", "-", "oppose", "disagree"):
        return -1
    return 0


def moves_from_contribution(reply: BaseModel | Mapping[str, Any], *, review: int | None = None) -> Moves:
    """The moves of a structured turn; ``review`` is the idea its critique and vote are about.

    Unknown keys are ignored, 'none' and empty strings mean no move, a vote
    that is not for or against is no vote.
    """
    data = reply.model_dump() if isinstance(reply, BaseModel) else dict(reply)
    moves = Moves(say=_clean(data.get("say", "")))
    if idea := _clean(data.get("idea", ""))[: IDEA_CHARS * 2]:
        moves.ideas.append(idea)
    target = review if review is not None else _int(data.get("critique_of")) or _int(data.get("vote_for"))
    if target:
        if critique := _clean(data.get("critique", ""))[: CRITIQUE_CHARS * 2]:
            moves.critiques.append((target, critique))
        if value := _vote_value(data.get("vote")):
            moves.votes.append((target, value))
    return moves


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def moves_from_text(text: str, *, review: int | None = None) -> Moves:
    """The moves written as lines (see the module docs); other lines are speech.

    ``CRITIQUE:`` and ``VOTE: for`` without a number are about ``review``.
    """
    moves = Moves()
    said: list[str] = []
    for line in str(text or "").splitlines():
        if m := _IDEA_LINE.match(line):
            if idea := _clean(m.group(1))[: IDEA_CHARS * 2]:
                moves.ideas.append(idea)
        elif m := _CRITIQUE_LINE.match(line):
            number = int(m.group(1)) if m.group(1) else review
            if number and (critique := _clean(m.group(2))[: CRITIQUE_CHARS * 2]):
                moves.critiques.append((number, critique))
        elif m := _VOTE_LINE.match(line):
            number = int(m.group(1)) if m.group(1) else review
            if number and (value := _vote_value(m.group(2))):
                moves.votes.append((number, value))
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


def ledger_patch(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """What changed from ``old`` to ``new``: the ideas that differ, the dropped entries added, ``next_id``.

    Applying it to ``old`` with :func:`apply_patch` gives ``new``. The graph
    state stores patches, so a checkpoint holds what a turn changed, not the
    whole ledger again.
    """
    before = {i["id"]: i for i in (old or {}).get("ideas", [])}
    dropped = list((old or {}).get("dropped", []))
    return {
        "ideas": [dict(i) for i in new["ideas"] if before.get(i["id"]) != i],
        "dropped": list(new.get("dropped", []))[len(dropped):],
        "next_id": int(new["next_id"]),
        **({"rehearsal": new["rehearsal"]} if "rehearsal" in new else {}),
    }


def apply_patch(ledger: Mapping[str, Any] | None, patch: Mapping[str, Any]) -> dict[str, Any]:
    """``ledger`` with a :func:`ledger_patch` applied (changed ideas replaced, new ones appended)."""
    out = _copy(ledger if ledger and "ideas" in ledger else empty_ledger())
    index = {i["id"]: k for k, i in enumerate(out["ideas"])}
    for idea in patch.get("ideas", []):
        copy = dict(idea, critiques=list(idea["critiques"]), votes=dict(idea["votes"]))
        if idea["id"] in index:
            out["ideas"][index[idea["id"]]] = copy
        else:
            index[idea["id"]] = len(out["ideas"])
            out["ideas"].append(copy)
    out["dropped"] += list(patch.get("dropped", []))
    out["next_id"] = max(out["next_id"], int(patch.get("next_id", out["next_id"])))
    if "rehearsal" in patch:
        out["rehearsal"] = bool(patch["rehearsal"])
    return out


def _copy(ledger: Mapping[str, Any]) -> dict[str, Any]:
    out = {
        "ideas": [dict(i, critiques=list(i["critiques"]), votes=dict(i["votes"])) for i in ledger["ideas"]],
        "dropped": list(ledger.get("dropped", [])),
        "next_id": int(ledger["next_id"]),
    }
    if "rehearsal" in ledger:
        out["rehearsal"] = bool(ledger["rehearsal"])
    return out


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

"""One turn of a brainstorm: what the chair asks a speaker, and how its reply is read.

The requests are shaped for small local models (SmolLM2-135M runs at 25-60
tokens/s): the topic is restated in every request, one short practical idea
is asked for, the chair names the one idea to critique and vote on (a small
model cannot be trusted to pick idea numbers), and the reply is a small JSON
object with bounded strings. A reply that is not valid JSON is read as lines
(``IDEA:`` / ``CRITIQUE:`` / ``VOTE: for``); one that holds no move passes.

The offline model does not read the topic. A session with it is a
*rehearsal*: its brief carries numbered placeholders (``idea: placeholder 3
by engineer``) that the offline model copies, so the mechanics (ledger,
votes, decisions) run and show, while nothing pretends to be an idea about
the topic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig

from mnemos.agents import OfflineChatModel
from mnemos.agents._lexical import content_words
from mnemos.graphs._ledger import (
    Moves,
    contribution_schema,
    moves_from_contribution,
    moves_from_text,
    score,
)
from mnemos.graphs._personas import Persona

__all__ = [
    "REHEARSAL_NOTICE",
    "ask",
    "echo_of",
    "is_rehearsal_model",
    "normalize",
    "rehearsal_lines",
    "review_target",
    "score_label",
    "task_lines",
]

REHEARSAL_NOTICE = (
    "Rehearsal: the offline model does not read the topic, so its ideas are numbered placeholders. "
    "Nothing from this session is stored as a decision. Configure a model (the local one, or a provider) "
    "for a real brainstorm."
)
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def is_rehearsal_model(model: BaseChatModel) -> bool:
    """Whether ``model`` is the offline model, whose turns can only rehearse."""
    return isinstance(model, OfflineChatModel)


def normalize(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed: the form ideas are compared in."""
    return " ".join(_PUNCT.sub(" ", str(text).casefold()).split())


def review_target(ledger: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """The open idea ``name`` should review: not its own, not voted on by it, fewest votes first, then oldest."""
    open_ideas = [i for i in ledger["ideas"] if i["status"] == "proposed" and i["origin"] == "session"
                  and i["author"] != name and name not in i["votes"]]
    if not open_ideas:
        return None
    return min(open_ideas, key=lambda i: (len(i["votes"]), i["id"]))


def task_lines(topic: str, *, propose: bool, target: Mapping[str, Any] | None) -> list[str]:
    """What the chair asks for this turn, the topic restated, and the reply format."""
    lines = ["Your task:"]
    example: dict[str, str] = {}
    if propose:
        lines.append(f'- Give one short practical idea about "{topic}", in one sentence, '
                     "not one already listed.")
        example["idea"] = "..."
    if target is not None:
        lines.append(f"- Say in a few words what is good or weak about idea #{target['id']} "
                     f"\"{target['text']}\", and vote for or against it.")
        example.update(critique="...", vote="for or against")
    lines.append("Reply with JSON only: " + json.dumps(example))
    return lines


def rehearsal_lines(persona: Persona | None, name: str, *, number: int, propose: bool,
                    target: Mapping[str, Any] | None) -> list[str]:
    """Placeholders for the offline model to copy (``field: value`` lines it fills its reply from)."""
    lines = ["Rehearsal placeholders (the offline model copies them):"]
    if propose:
        lines.append(f"idea: placeholder {number} by {name}")
    if target is not None:
        lines.append(f"critique: placeholder critique of {target['id']}")
        lean = persona.default_vote if persona is not None else 1
        lines.append(f"vote: {'for' if lean > 0 else 'against' if lean < 0 else 'none'}")
    return lines


def echo_of(idea: str, texts: Sequence[str]) -> str | None:
    """The prompt line ``idea`` merely repeats (the topic, an instruction), if any.

    Small models often echo their prompt; a reply whose words all come from
    one line of the prompt (the topic restated, say) is not an idea.
    """
    mine = content_words(idea)
    for text in texts:
        for line in text.splitlines():
            theirs = content_words(line)
            if (mine and mine <= theirs) or (not mine and normalize(idea) == normalize(line)):
                return line.strip()
    return None


def ask(
    model: BaseChatModel,
    messages: list[BaseMessage],
    *,
    propose: bool,
    target: Mapping[str, Any] | None,
    config: RunnableConfig | None,
) -> tuple[Moves, list[str]]:
    """A turn's moves from ``model``: structured output first, then the reply read as JSON or lines.

    Returns the moves and notes on what could not be read. Never raises for
    a malformed reply; errors of the model call itself propagate.
    """
    review = int(target["id"]) if target is not None else None
    schema = contribution_schema(propose=propose, review=review is not None)
    parsed, raw = _structured(model, schema, messages, config)
    if parsed is not None:
        moves = moves_from_contribution(_only(parsed, schema), review=review)
        return moves, []
    data = _json_in(raw)
    moves = moves_from_contribution(_only(data, schema), review=review) if data else moves_from_text(raw, review=review)
    notes = [] if (moves.ideas or moves.critiques or moves.votes) else [
        f"no move could be read in the reply {raw.strip()[:80]!r}; the turn passes"]
    return moves, notes


def _only(data: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """The fields the chair asked for (a reply may carry others)."""
    return {k: v for k, v in data.items() if k in schema["properties"]}


def _structured(
    model: BaseChatModel, schema: dict[str, Any], messages: list[BaseMessage], config: RunnableConfig | None,
) -> tuple[dict[str, Any] | None, str]:
    """``(parsed, "")`` from structured output, or ``(None, raw_text)`` when it could not be had."""
    try:
        runnable = model.with_structured_output(schema, include_raw=True)
    except NotImplementedError:
        return None, model.invoke(messages, config=config).text
    result: Any = runnable.invoke(messages, config=config)
    parsed = result.get("parsed") if isinstance(result, dict) else None
    if isinstance(parsed, dict):
        return parsed, ""
    raw = result.get("raw") if isinstance(result, dict) else result
    if isinstance(raw, BaseMessage):
        calls = getattr(raw, "tool_calls", None) or []
        if calls and isinstance(calls[0].get("args"), dict):
            return calls[0]["args"], ""
        return None, raw.text
    return None, str(raw or "")


def _json_in(text: str) -> dict[str, Any] | None:
    """The JSON object written in ``text`` (fenced or not), if there is one."""
    match = _JSON_OBJECT.search(text or "")
    if not match:
        return None
    try:
        value = json.loads(match.group(0))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def score_label(idea: Mapping[str, Any]) -> str:
    """``votes +1`` for the ideas list of a brief."""
    return f"votes {score(idea):+d}"

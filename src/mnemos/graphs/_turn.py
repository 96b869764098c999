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
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from mnemos.agents import OfflineChatModel
from mnemos.agents._lexical import content_words, words
from mnemos.agents.structured import structured_call
from mnemos.exceptions import ModelOutputError
from mnemos.graphs._ledger import (
    Moves,
    contribution_schema,
    moves_from_contribution,
    moves_from_text,
)
from mnemos.graphs._personas import Persona

__all__ = [
    "REHEARSAL_NOTICE",
    "ask",
    "bare_answer",
    "echo_of",
    "is_rehearsal_model",
    "mostly_symbols",
    "normalize",
    "not_an_idea",
    "rehearsal_lines",
    "review_target",
    "task_lines",
]

REHEARSAL_NOTICE = (
    "Rehearsal: the offline model does not read the topic, so its ideas are numbered placeholders. "
    "Nothing from this session is stored as a decision. Configure a model (the local one, or a provider) "
    "for a real brainstorm."
)
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_NON_ANSWER = re.compile(r"\b(?:not sure|don'?t know|do not know|cannot answer|can'?t answer|no idea|"
                         r"as an ai|i am unable|i'?m unable)\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\[(?:your|insert|name|company)[^\]]*\]", re.IGNORECASE)
# "The answer is: ...", "My idea is to ...", "Idea: ...": a label before the reply, not part of it
_ANSWER_LABEL = re.compile(r"^\W*(?:the\s+)?answer\s+to\s+(?:the|this|that|your)\s+question\b.{0,160}?\s"
                           r"(?:is|would be)\s+(?:that\b|to\b|:)?\s*"
                           r"|^\W*(?:(?:the|my|our|a|one|another)\s+)?(?:(?:new|good|better|practical|simple)\s+)?"
                           r"(?:answer|idea|suggestion|proposal|solution)"
                           r"(?:\s+(?:is|would be|could be))?\s*(?::|-|\bto\b|\bthat\b)?\s*"
                           r"|^\W*(?:i|we)\s+(?:would\s+)?(?:suggest|propose|recommend)(?:\s+that)?\s*", re.IGNORECASE)
_HASHTAG = re.compile(r"(?<!\w)#[^\W\d]")
# the speaker talking about itself or to the reader ("I'm going to give you ...", "I'd like you to ...")
_SELF_TALK = re.compile(r"^\W*(?:i['’](?:m|d|ll|ve)|i\s+(?:am|will|have|want|think)|let\s+me)\b",
                        re.IGNORECASE)
# a question (imperatives such as "Do ..." and conditions such as "When ..." are not read as one)
_QUESTION = re.compile(r"^(?:how(?!\s+(?:to|about)\b)|what(?!\s+(?:if|about)\b)|why|should|can|could|would)\b",
                       re.IGNORECASE)
# the vote or the review spoken as if it were an idea: "voted down", "I vote for it", "+1", "I agree"
_VOTE_TALK = re.compile(r"\bvoted\b|\b(?:up|down)[- ]?vot|\bvot(?:e|es|ing)\s+(?:up|down|yes|no)\b"
                        r"|\b(?:i|we)\s+(?:would\s+)?vote\b|\bmy\s+vote\b"
                        r"|\bvote\s+(?:for|against)\s+(?:it|this|that|them|the\s+(?:idea|proposal|suggestion))\b"
                        r"|(?<![\w+-])[+-]1\b|\b(?:i|we)\s+(?:fully\s+)?(?:agree|disagree)\b", re.IGNORECASE)
# talk about the discussion instead of the topic: the question, the colleague, "this idea is good"
_META_TALK = re.compile(r"\b(?:the|this|that|your)\s+(?:question|topic|brainstorm)\b|\bcolleague'?s?\s+(?:idea|suggestion|proposal)\b"
                        r"|\b(?:the|this|that|your|their|my)\s+(?:idea|suggestion|proposal)\s+(?:is|was|would|sounds|seems)\b"
                        r"|\b(?:good|great|bad|nice|interesting)\s+(?:idea|suggestion|point)\b", re.IGNORECASE)
_YES_NO = re.compile(r"^(?:yes|no|maybe|none|nothing|agreed|correct|true|false|for|against)\W*$", re.IGNORECASE)


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


def task_lines(*, propose: bool, target: Mapping[str, Any] | None) -> list[str]:
    """What the chair asks for this turn, in plain words (the reply's format is the schema's business:
    asking a small model for JSON in the prompt makes it worse, a grammar does not)."""
    if target is None:
        return ["Answer with one new short practical idea, in one sentence."]
    lines = [f"A colleague suggested: {target['text']}"]
    if propose:
        lines.append("Answer with your own new idea in one sentence, as a statement, not a question. Then say "
                     "in a few words whether the colleague's idea is good, and vote for or against it.")
    else:
        lines.append("Is it a good idea? Say why in a few words, and vote for or against it.")
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


def not_an_idea(idea: str, prompt_texts: Sequence[str]) -> str | None:
    """Why ``idea`` is not an idea, or None.

    Small models sometimes answer with a number, a name, the question itself
    (restated, or as a new question), their vote ("voted down", "+1"), or
    talk about the discussion ("the colleague's idea is good"); such replies
    are dropped (with a note), not recorded as ideas. A label before the
    reply ("The answer is: ...") is read past: what follows it is judged.
    """
    if not any(w.isalpha() for w in words(idea)):
        return "it has no words"
    if mostly_symbols(idea):
        return "it is mostly numbers or symbols"
    if _PLACEHOLDER.search(idea):
        return "it is a template placeholder"
    if _NON_ANSWER.search(idea):
        return "it says the model has no answer"
    echo = echo_of(idea, prompt_texts)
    if echo is not None:
        return f"it repeats the prompt ({echo[:60]!r})"
    body = _ANSWER_LABEL.sub("", idea, count=1).strip()
    if bare_answer(idea):
        return "it is a bare answer word"
    if body != idea.strip() and (echo := echo_of(body, prompt_texts)) is not None:
        return f"it repeats the prompt ({echo[:60]!r})"
    if _HASHTAG.search(body):
        return "it is hashtags"
    if body.rstrip(" .!\"'").endswith("?") or _QUESTION.match(body):
        return "it is a question"
    if _VOTE_TALK.search(body):
        return "it is a vote, not a proposal"
    if _META_TALK.search(body):
        return "it talks about the discussion, not the topic"
    if _SELF_TALK.match(body):
        return "it is the speaker talking about itself"
    return None


def bare_answer(text: str) -> bool:
    """Whether ``text`` is only a yes, a no or the like, labelled or not ("The answer is no.")."""
    body = _ANSWER_LABEL.sub("", text, count=1).strip()
    return not body or bool(_YES_NO.match(body))


def mostly_symbols(text: str) -> bool:
    """Whether more than a fifth of the text's visible characters are not letters (dates, ids, markup)."""
    visible = [c for c in text if not c.isspace()]
    return bool(visible) and sum(not c.isalpha() for c in visible) > len(visible) / 5


def echo_of(idea: str, texts: Sequence[str]) -> str | None:
    """The prompt line ``idea`` merely repeats (the topic, an instruction), if any.

    A reply most of whose words come from one line of the prompt, and that
    repeats most of that line (the topic restated, say), is not an idea.
    """
    mine = content_words(idea)
    for text in texts:
        for line in text.splitlines():
            theirs = content_words(line)
            shared = len(mine & theirs)
            if mine and theirs and shared >= 0.7 * len(mine) and shared >= 0.6 * len(theirs):
                return line.strip()  # "The answer is: <the question>" and the like
            if not mine and normalize(idea) == normalize(line):
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
    """A turn's moves from ``model``, and notes on what could not be read.

    Structured output first (:func:`~mnemos.agents.structured_call`, a JSON
    schema grammar on the local model); a reply that is not the JSON asked
    for is read as lines (``IDEA:`` ...); a reply with no move in it gets one
    repair turn; after that the turn passes with a note. Never raises for a
    malformed reply; errors of the model call itself propagate.
    """
    review = int(target["id"]) if target is not None else None
    schema = contribution_schema(propose=propose, review=review is not None)
    notes: list[str] = []
    prompt = list(messages)
    first: Moves | None = None
    for attempt in (1, 2):
        try:
            reply = structured_call(model, schema, prompt, config=config, repair=False)
        except ModelOutputError as exc:
            raw = exc.raw
        else:
            return moves_from_contribution(reply, review=review), notes
        data = _json_in(raw)
        moves = moves_from_contribution(_only(data, schema), review=review) if data else moves_from_text(
            raw, review=review)
        if moves.ideas or moves.critiques or moves.votes:
            return moves, notes
        first = first or moves
        if attempt == 1:
            fields = ", ".join(schema.model_fields)
            prompt = [*prompt, AIMessage(raw[:2000] or "(empty reply)"),
                      HumanMessage(f"That reply could not be read. Reply with a JSON object with the fields {fields}.")]
    notes.append(f"no move could be read in the reply {raw.strip()[:80]!r}; the turn passes")
    return Moves(say=first.say if first else ""), notes


def _only(data: Mapping[str, Any], schema: type[BaseModel]) -> dict[str, Any]:
    """The fields the chair asked for (a reply may carry others)."""
    return {k: v for k, v in data.items() if k in schema.model_fields}


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

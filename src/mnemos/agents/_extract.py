"""Deterministic extractors used with the offline model: facts, rules, summaries.

They are rules, not understanding; the module docs of :mod:`mnemos.agents.policy`
list what they recognise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel, Field

from mnemos.agents._lexical import content_words, sentences

__all__ = [
    "ExtractedFact",
    "FactList",
    "RuleList",
    "extract_facts",
    "extract_rules",
    "extractive_summary",
    "grounded_facts",
]

DEFAULT_RULE = "Use what you remember about the user when it is relevant."


@dataclass(kw_only=True, frozen=True)
class ExtractedFact:
    """A fact about a subject: ``attribute`` names what it is about, so a new
    value for the same subject and attribute supersedes the old one."""

    subject: str
    attribute: str
    value: str
    statement: str


class _FactModel(BaseModel):
    subject: str = Field(max_length=60, description="who or what the fact is about, e.g. 'user'")
    attribute: str = Field(max_length=60, description="what about them, e.g. 'lives_in', 'favorite_color'")
    value: str = Field(max_length=200, description="the value, e.g. 'Berlin'")
    statement: str = Field(max_length=300, description="the fact as one short sentence")


class FactList(BaseModel):
    """Facts stated in a conversation turn (the structured output asked of a model).

    Bounded (at most 8 facts, short fields) so that a model constrained by the
    schema's grammar cannot run on until its token limit.
    """

    facts: list[_FactModel] = Field(default_factory=list, max_length=8)


class RuleList(BaseModel):
    """Rules learned from past episodes (the structured output asked of a model)."""

    rules: list[str] = Field(default_factory=list, max_length=10)


def _folded(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def grounded_facts(facts: Sequence[_FactModel], text: str) -> list[ExtractedFact]:
    """The model-extracted ``facts`` that ``text`` supports, cleaned.

    A fact is kept only if its value is grounded in the text: at least half of
    the value's content words (crudely stemmed; all of its words if it has
    only stopwords) occur in it. A model may invent, and an invented fact must
    not be stored. A statement that does not mention the value is rewritten
    from the attribute and the value.
    """
    source_words = content_words(text)
    source = f" {_folded(text)} "
    out: dict[tuple[str, str], ExtractedFact] = {}
    for fact in facts:
        attribute = "_".join(_folded(fact.attribute).split())
        value = " ".join(fact.value.split())
        if not attribute or not _folded(value):
            continue
        wanted = content_words(value)
        if wanted:
            if 2 * len(wanted & source_words) < len(wanted):
                continue
        elif f" {_folded(value)} " not in source:
            continue
        subject = _folded(fact.subject) or "user"
        statement = " ".join(fact.statement.split())
        if _folded(value) not in _folded(statement):
            who = "User's" if subject == "user" else f"{subject.capitalize()}'s"
            statement = f"{who} {attribute.replace('_', ' ')} is {value}"
        out[(subject, attribute)] = ExtractedFact(subject=subject, attribute=attribute, value=value,
                                                  statement=statement)
    return list(out.values())


_END = r"(?=\s+(?:and|but|because|so)\s|[,.;!?]|$)"
_VALUE = r"(?P<value>[^,.;!?\n]{1,80}?)"


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern + _VALUE + _END, re.IGNORECASE)


# (pattern, attribute or None for "my X is", statement template, keyed by value)
_PATTERNS: list[tuple[re.Pattern[str], str | None, str, bool]] = [
    (_rx(r"\bmy name is "), "name", "User's name is {value}", False),
    (_rx(r"\bcall me "), "name", "User's name is {value}", False),
    (_rx(r"\bi (?:live|reside) in "), "lives_in", "User lives in {value}", False),
    (_rx(r"\bi(?:'m| am) based in "), "lives_in", "User lives in {value}", False),
    (_rx(r"\bi moved to "), "lives_in", "User lives in {value}", False),
    (_rx(r"\bi(?:'m| am) from "), "from", "User is from {value}", False),
    (_rx(r"\bi work (?:at|for) "), "works_at", "User works at {value}", False),
    (_rx(r"\bi work as (?:an? )?"), "occupation", "User works as {value}", False),
    (_rx(r"\bi(?:'m| am) (?=\d)"), "age", "User is {value}", False),
    (_rx(r"\bi (?:don't|do not|dont) (?:like|enjoy|love) "), "likes", "User does not like {value}", True),
    (_rx(r"\bi (?:dislike|hate) "), "likes", "User does not like {value}", True),
    (_rx(r"\bi (?:really )?(?:like|love|enjoy) "), "likes", "User likes {value}", True),
    (_rx(r"\bi (?:don't|do not) prefer "), "prefers", "User does not prefer {value}", True),
    (_rx(r"\bi (?:really )?prefer "), "prefers", "User prefers {value}", True),
]
_MY_X_IS = re.compile(
    r"\bmy (?P<attr>(?:[a-z]+ ){0,2}[a-z]+) (?:is|are) " + _VALUE + _END, re.IGNORECASE
)
_NEGATIVE = ("does not", "do not")


def extract_facts(text: str) -> list[ExtractedFact]:
    """Facts a user states about themselves, by rule.

    Recognised: "my X is Y" / "my name is", "call me", "I live in / am based
    in / moved to", "I am from", "I work at / for / as", "I am N (years old)",
    "I like / love / enjoy / prefer X" and their negations ("I don't like",
    "I dislike", "I hate"). Single-valued attributes (where one lives, works,
    a name, "my X") supersede each other; likes and preferences are keyed by
    their object, so "I like tea" and "I like chess" both stay while "I don't
    like tea" supersedes "I like tea".
    """
    found: dict[tuple[str, str], ExtractedFact] = {}
    for sentence in sentences(text):
        if sentence.rstrip().endswith("?"):
            continue
        taken: list[tuple[int, int]] = []
        for pattern, attribute, template, keyed in _PATTERNS:
            for match in pattern.finditer(sentence):
                if any(s <= match.start() < e for s, e in taken):
                    continue
                value = _clean(match.group("value"))
                if not value:
                    continue
                taken.append(match.span())
                attr = f"{attribute}:{value.casefold()}" if keyed else str(attribute)
                polarity = "no" if any(n in template for n in _NEGATIVE) else "yes"
                fact = ExtractedFact(
                    subject="user",
                    attribute=attr,
                    value=polarity if keyed else value,
                    statement=template.format(value=value),
                )
                found[(fact.subject, fact.attribute)] = fact
        for match in _MY_X_IS.finditer(sentence):
            if any(s <= match.start() < e for s, e in taken):
                continue
            attr = "_".join(match.group("attr").casefold().split())
            value = _clean(match.group("value"))
            if value and attr != "name":
                fact = ExtractedFact(
                    subject="user",
                    attribute=attr,
                    value=value,
                    statement=f"User's {match.group('attr').casefold()} is {value}",
                )
                found[(fact.subject, fact.attribute)] = fact
    return list(found.values())


def _clean(value: str) -> str:
    value = value.strip().strip("\"'“”")
    value = re.sub(r"\s+(?:now|too|as well|these days|currently)$", "", value, flags=re.IGNORECASE)
    return value.strip()


_RULE_CUES = re.compile(
    r"\b(?:always|never|please|don't|do not|make sure|remember to|i prefer|i want you to)\b",
    re.IGNORECASE,
)


def extract_rules(episodes: Sequence[str], existing: Sequence[str] = ()) -> list[str]:
    """Behaviour rules from past episodes, by rule.

    A sentence of the user's that gives an instruction ("always ...", "never
    ...", "please ...", "don't ...", "make sure ...", "I prefer ...", "I want
    you to ...") becomes a rule. Rules already in ``existing`` are not
    repeated. With no rule found and none existing, the rule is ``DEFAULT_RULE``.
    """
    known = {r.casefold() for r in existing}
    rules: list[str] = []
    for episode in episodes:
        for line in episode.splitlines():
            role, sep, said = line.partition(": ")
            text = said if sep and role.casefold() in ("user", "human") else ""
            for sentence in sentences(text):
                if sentence.endswith("?") or not _RULE_CUES.search(sentence):
                    continue
                rule = _as_rule(sentence)
                if rule.casefold() not in known:
                    known.add(rule.casefold())
                    rules.append(rule)
    if not rules and not existing:
        rules.append(DEFAULT_RULE)
    return rules


def _as_rule(sentence: str) -> str:
    text = re.sub(r"^(?:please|i want you to|remember to)\s+", "", sentence.strip(), flags=re.IGNORECASE)
    text = text.rstrip(".!") + "."
    return text[0].upper() + text[1:]


def extractive_summary(messages: Sequence[BaseMessage], max_chars: int = 2000) -> str:
    """A summary of ``messages`` by extraction: each one's first sentence, with its speaker."""
    lines: list[str] = []
    for message in messages:
        if isinstance(message, (SystemMessage, ToolMessage)):
            continue
        first = next(iter(sentences(message.text)), "")
        if not first:
            continue
        if isinstance(message, HumanMessage):
            who = message.name or "user"
        elif isinstance(message, AIMessage):
            who = message.name or "assistant"
        else:
            who = message.type
        lines.append(f"{who}: {first}")
    text = "\n".join(lines)
    return text if len(text) <= max_chars else text[: max(0, max_chars - 1)].rstrip() + "…"

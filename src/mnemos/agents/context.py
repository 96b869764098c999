"""Context assembly: instructions, recalled memories and the conversation, under a token budget.

:func:`assemble_context` builds the messages an agent sends to its model::

    SystemMessage   instructions, learned rules,
                    memories ranked 1, 3, 5, ...        <- the start
                    summary of older turns (summary strategies)
    ...             earlier conversation (per strategy)
    SystemMessage   memories ..., 6, 4, 2               <- the end, next to the request
    ...             the current turn (last human message, tool calls so far)

The most relevant memories sit at the start and at the end of the prompt,
the least relevant in the middle, because models use the middle of a long
context worst ("lost in the middle", Liu et al. 2023).

Short-term strategies (what to keep of the earlier conversation), as in
LangChain's conversation memories:

- ``buffer``: every earlier message that fits, newest kept first;
- ``window``: the last ``window`` earlier messages that fit;
- ``summary``: none verbatim, a summary of all of them;
- ``summary_buffer``: the last ``window`` verbatim and a summary of the rest
  (including those that did not fit).

Each recalled memory that carries a confidence is shown with a tag the model
can cite: ``- User lives in Porto  [M1 · confidence 0.82 · source docs/home.md]``
(``M1`` is its rank). :func:`attribute` reads back which memories an answer
used (the tags it cites, else the memories whose words it repeats), with their
ids and sources.

The result never exceeds ``budget`` tokens as measured by ``count_tokens``.
What gives way first when space runs out: older conversation, then the least
relevant memories, the summary, learned rules, the instructions (truncated);
the current turn is kept (its oldest tool exchanges dropped, the request
truncated) only as a last resort.
"""

from __future__ import annotations

import enum
import functools
import re
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from mnemos.agents._extract import extractive_summary
from mnemos.agents._lexical import content_word_set
from mnemos.agents.tokens import TokenCounter, approx_tokens, system_tokens
from mnemos.exceptions import UsageError

__all__ = [
    "MIN_CONTEXT_TOKENS",
    "AssembledContext",
    "RecalledMemory",
    "ShortTermStrategy",
    "Summarizer",
    "assemble_context",
    "attribute",
    "interleave_ends",
    "memory_confidence",
    "memory_line",
]

MIN_CONTEXT_TOKENS = 32
"""The smallest budget accepted: room for a short request and its framing."""

MEMORY_HEADER = "Relevant memories:"
MORE_MEMORY_HEADER = "More relevant memories:"
RULES_HEADER = "Learned rules:"
SUMMARY_HEADER = "Summary of the earlier conversation:"


class ShortTermStrategy(enum.StrEnum):
    """What an agent keeps of the earlier conversation (see the module docs)."""

    BUFFER = "buffer"
    WINDOW = "window"
    SUMMARY = "summary"
    SUMMARY_BUFFER = "summary_buffer"

    @classmethod
    def parse(cls, value: ShortTermStrategy | str) -> ShortTermStrategy:
        """The strategy ``value`` names; an unknown name raises :class:`~mnemos.exceptions.UsageError`."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise UsageError(f"unknown short-term strategy {value!r}; use one of {names}") from None


@dataclass(kw_only=True, frozen=True)
class RecalledMemory:
    """A memory recalled for a prompt, with its score and why it was recalled."""

    id: str
    kind: str
    content: str
    score: float = 0.0
    why: str = ""
    source: str = ""
    """Where the memory came from: a document and section, a thread, a tool."""
    confidence: float | None = None
    """How well it matches the request, 0..1 (:func:`memory_confidence`); None: not shown."""

    def to_dict(self) -> dict[str, Any]:
        """The form used in stream events and in the ``memory_trace`` state key."""
        return {"id": self.id, "kind": self.kind, "content": self.content,
                "score": self.score, "why": self.why, "source": self.source,
                "confidence": self.confidence}


def memory_confidence(request: str, content: str, similarity: float | None = None) -> float:
    """How well a memory matches a request, from 0 to 1: the share of the request's content
    words it contains, blended (0.6/0.4) with the vector similarity when there is one."""
    wanted = content_word_set(request)
    coverage = len(wanted & content_word_set(content)) / len(wanted) if wanted else 0.0
    if similarity is None:
        return round(coverage, 3)
    return round(0.6 * coverage + 0.4 * min(1.0, max(0.0, similarity)), 3)


def memory_line(memory: RecalledMemory, rank: int) -> str:
    """The prompt line of a recalled memory; ``rank`` (1-based) names it ``M<rank>``."""
    if memory.confidence is None:
        return f"- {memory.content}"
    tag = f"M{rank} · confidence {memory.confidence:.2f}"
    if memory.source:
        tag += f" · source {memory.source}"
    return f"- {memory.content}  [{tag}]"


_CITED = re.compile(r"\[?\bM(\d+)\b")


def attribute(answer: str, memories: Sequence[RecalledMemory], *, threshold: float = 0.6) -> list[dict[str, Any]]:
    """The memories an answer was built on: the ``M<n>`` tags it cites, else those at least
    ``threshold`` of whose content words it repeats. Each as ``{"ref", "id", "kind",
    "source", "confidence"}``, in rank order."""
    cited = {int(n) for n in _CITED.findall(answer)}
    said = content_word_set(answer)
    used: list[dict[str, Any]] = []
    for rank, memory in enumerate(memories, start=1):
        words = content_word_set(memory.content)
        repeated = bool(words) and len(words & said) / len(words) >= threshold
        if rank in cited or (not cited and repeated):
            used.append({"ref": f"M{rank}", "id": memory.id, "kind": memory.kind,
                         "source": memory.source, "confidence": memory.confidence})
    return used


@dataclass(kw_only=True, frozen=True)
class AssembledContext:
    """The messages to send, their token count, and what made it in."""

    messages: list[BaseMessage]
    tokens: int
    budget: int
    memories: tuple[RecalledMemory, ...] = ()
    """The recalled memories that fit, best first."""
    summary: str | None = None
    dropped: int = 0
    """Earlier messages left out (summarized or dropped)."""


def interleave_ends(items: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """Split ranked items into (start, end) so rank 1 opens and rank 2 closes.

    ``start`` holds ranks 1, 3, 5... in order; ``end`` holds ..., 6, 4, 2, so
    reading start + end puts the least relevant items in the middle.
    """
    start = list(items[0::2])
    end = list(reversed(items[1::2]))
    return start, end


Summarizer = Callable[[Sequence[BaseMessage]], str]
"""Turns older messages into a summary text."""


class _Measure:
    """The token counts of one assembly.

    With :func:`~mnemos.agents.tokens.approx_tokens` (a sum over messages) each message is
    counted once and a system text from its length (:func:`~mnemos.agents.tokens.system_tokens`),
    without building the message; any other counter is called on the messages as they are.
    """

    def __init__(self, count: TokenCounter) -> None:
        self.count = count
        self.additive = count is approx_tokens
        self._counted: dict[int, tuple[BaseMessage, int]] = {}
        self._units: dict[tuple[int, ...], tuple[tuple[list[BaseMessage], ...], int]] = {}

    def messages(self, items: Sequence[BaseMessage]) -> int:
        if not self.additive:
            return self.count(items)
        total = 0
        for message in items:
            known = self._counted.get(id(message))
            if known is None or known[0] is not message:  # the message is kept, so its id is not reused
                known = (message, _message_tokens(message))
                self._counted[id(message)] = known
            total += known[1]
        return total

    def units(self, units: tuple[list[BaseMessage], ...]) -> int:
        """The tokens of the messages of ``units`` (additive counter only), counted once per
        sequence of units: an assembly's trials count the same conversation again and again.
        (The units are kept with their count, so their ids are not reused; units are not changed
        once made.)"""
        key = tuple(map(id, units))
        known = self._units.get(key)
        if known is None:
            known = self._units[key] = (units, sum(self.messages(unit) for unit in units))
        return known[1]

    def system(self, text: str) -> int:
        """The tokens of ``SystemMessage(text)``."""
        return system_tokens(text) if self.additive else self.count([SystemMessage(text)])


_TEXT_COUNTED: dict[int, tuple[weakref.ref[BaseMessage], str, str | None, int]] = {}
_TEXT_COUNTED_AT_MOST = 1024


def _message_tokens(message: BaseMessage) -> int:
    """``approx_tokens([message])``; for a human or system message of text, kept while the message
    lives and its text and name stay the same (a conversation's messages are counted again by
    every agent after them in a run, and by every turn after them in a thread)."""
    content = message.content
    if type(message) not in (HumanMessage, SystemMessage) or type(content) is not str:
        return approx_tokens([message])
    key = id(message)
    known = _TEXT_COUNTED.get(key)
    if known is not None and known[0]() is message and known[1] is content and known[2] is message.name:
        return known[3]
    count = approx_tokens([message])
    if len(_TEXT_COUNTED) >= _TEXT_COUNTED_AT_MOST:
        _TEXT_COUNTED.clear()
    _TEXT_COUNTED[key] = (weakref.ref(message, functools.partial(_forget_count, key)), content, message.name, count)
    return count


def _forget_count(key: int, _: object) -> None:
    _TEXT_COUNTED.pop(key, None)


@dataclass
class _Parts:
    instructions: str
    rules: list[str]
    memories: list[RecalledMemory]
    summary: str | None
    history: list[list[BaseMessage]]
    current: list[list[BaseMessage]]
    lines: dict[tuple[int, int], str] = field(default_factory=dict)
    """The prompt lines of memories by ``(id(memory), rank)``, shared by the trials of one assembly."""
    made: dict[tuple[Any, ...], tuple[str | None, str | None]] = field(default_factory=dict)
    """:meth:`texts` by what they are made of, shared by the trials of one assembly (which make
    the same texts several times: to count them, then to build them)."""

    def _line(self, memory: RecalledMemory, rank: int) -> str:
        key = (id(memory), rank)
        line = self.lines.get(key)
        if line is None:
            line = self.lines[key] = memory_line(memory, rank)
        return line

    def texts(self) -> tuple[str | None, str | None]:
        """The texts of the opening system message and of the closing memories (None: no such message)."""
        # the memories are the caller's, alive for the whole assembly: their ids are not reused
        key = (self.instructions, tuple(self.rules), tuple(map(id, self.memories)), self.summary)
        made = self.made.get(key)
        if made is None:
            made = self.made[key] = self._texts()
        return made

    def _texts(self) -> tuple[str | None, str | None]:
        lines = [self._line(m, rank) for rank, m in enumerate(self.memories, start=1)]
        head, tail = interleave_ends(lines)
        instructions = self.instructions.strip()
        blocks = [instructions] if instructions else []
        if self.rules:
            blocks.append(RULES_HEADER + "\n" + "\n".join(f"- {r}" for r in self.rules))
        if head:
            blocks.append(MEMORY_HEADER + "\n" + "\n".join(head))
        if self.summary:
            blocks.append(SUMMARY_HEADER + "\n" + self.summary)
        return ("\n\n".join(blocks) if blocks else None,
                MORE_MEMORY_HEADER + "\n" + "\n".join(tail) if tail else None)

    def build(self) -> list[BaseMessage]:
        opening, closing = self.texts()
        out: list[BaseMessage] = [SystemMessage(opening)] if opening is not None else []
        for unit in self.history:
            out.extend(unit)
        if closing is not None:
            out.append(SystemMessage(closing))
        for unit in self.current:
            out.extend(unit)
        return out

    def tokens(self, measure: _Measure) -> int:
        """The tokens of :meth:`build`'s messages."""
        if not measure.additive:
            return measure.count(self.build())
        opening, closing = self.texts()
        total = measure.system(opening) if opening is not None else 0
        if closing is not None:
            total += measure.system(closing)
        return total + measure.units((*self.history, *self.current))


def assemble_context(
    *,
    messages: Sequence[BaseMessage],
    budget: int,
    instructions: str = "",
    rules: Sequence[str] = (),
    memories: Sequence[RecalledMemory] = (),
    strategy: ShortTermStrategy | str = ShortTermStrategy.BUFFER,
    window: int = 12,
    summary_tokens: int = 300,
    memory_tokens: int | None = None,
    summarize: Summarizer | None = None,
    count_tokens: TokenCounter = approx_tokens,
) -> AssembledContext:
    """Assemble the prompt for one model call; never more than ``budget`` tokens.

    ``memories`` come ranked, best first. System messages found in
    ``messages`` join the instructions. ``summarize`` turns older messages
    into text (default: an extractive summary, no model call).
    """
    strategy = ShortTermStrategy.parse(strategy)
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < MIN_CONTEXT_TOKENS:
        raise UsageError(f"a context budget is an integer of at least {MIN_CONTEXT_TOKENS} tokens, got {budget!r}")
    if window < 0:
        raise UsageError(f"window is a non-negative number of messages, got {window!r}")
    summarize = summarize or extractive_summary
    system_texts = [m.text for m in messages if isinstance(m, SystemMessage) and m.text.strip()]
    conversation = [m for m in messages if not isinstance(m, SystemMessage)]
    start = _current_turn_start(conversation)
    older, current = conversation[:start], _units(conversation[start:])
    full_instructions = "\n\n".join([t for t in [instructions.strip(), *system_texts] if t])

    measure = _Measure(count_tokens)

    def cost(items: Sequence[BaseMessage]) -> int:
        return measure.messages(items) if items else 0

    parts = _Parts(instructions=full_instructions, rules=[], memories=[], summary=None,
                   history=[], current=current)

    # 1. the current turn, leaving the instructions up to a quarter of the budget
    reserve = min(measure.system(full_instructions) if full_instructions else 0, budget // 4)
    parts.current = _fit_current(current, budget - reserve, measure)

    # 2. instructions (truncated if they must be), then learned rules
    if full_instructions:
        room = budget - cost([m for u in parts.current for m in u])
        parts.instructions = _truncate_text(full_instructions, room, measure)
    for rule in rules:
        trial = [*parts.rules, rule]
        if _fits(parts, measure, budget, rules=trial):
            parts.rules = trial
    used = _cost(parts, measure)

    # 3. memories, best first, within the memory budget
    memory_cap = budget - used if memory_tokens is None else min(memory_tokens, budget - used)
    parts.memories = _fit_memories(parts, memories, memory_cap, measure, budget)
    used = _cost(parts, measure)

    # 4. earlier conversation, per strategy, and the summary of what is left out
    units = _units(older)
    wants_summary = strategy in (ShortTermStrategy.SUMMARY, ShortTermStrategy.SUMMARY_BUFFER)
    if strategy is ShortTermStrategy.SUMMARY:
        candidates: list[list[BaseMessage]] = []
    elif strategy is ShortTermStrategy.BUFFER:
        candidates = units
    else:
        candidates = _last_messages(units, window)
    summary_room = min(summary_tokens, (budget - used) // 2) if wants_summary and units else 0
    room = budget - used - summary_room
    kept: list[list[BaseMessage]] = []
    for unit in reversed(candidates):
        unit_cost = cost(unit)
        if unit_cost > room:
            break
        kept.insert(0, unit)
        room -= unit_cost
    parts.history = kept
    left_out = [m for u in units[: len(units) - len(kept)] for m in u]
    if wants_summary and left_out:
        text = summarize(left_out).strip()
        if text:
            used = _cost(parts, measure)
            parts.summary = _truncate_text(text, budget - used, measure, header=SUMMARY_HEADER) or None

    # 5. make sure, whatever the counter: drop in reverse priority until it fits
    total = _cost(parts, measure)
    while total > budget:
        if not _give_way(parts, budget, measure):
            break
        total = _cost(parts, measure)
    built = parts.build()
    dropped = len(older) - sum(len(u) for u in parts.history)
    return AssembledContext(messages=built, tokens=total, budget=budget,
                            memories=tuple(parts.memories), summary=parts.summary, dropped=dropped)



def _current_turn_start(conversation: Sequence[BaseMessage]) -> int:
    for i in range(len(conversation) - 1, -1, -1):
        if isinstance(conversation[i], HumanMessage):
            return i
    for i in range(len(conversation) - 1, -1, -1):
        if not isinstance(conversation[i], ToolMessage):
            return i
    return len(conversation)


def _units(messages: Sequence[BaseMessage]) -> list[list[BaseMessage]]:
    """Group an AI message with tool calls and its tool results; drop orphan tool results."""
    units: list[list[BaseMessage]] = []
    for message in messages:
        if isinstance(message, ToolMessage):
            if units and isinstance(units[-1][0], AIMessage) and units[-1][0].tool_calls:
                units[-1].append(message)
            continue
        units.append([message])
    return units


def _last_messages(units: list[list[BaseMessage]], n: int) -> list[list[BaseMessage]]:
    kept: list[list[BaseMessage]] = []
    count = 0
    for unit in reversed(units):
        if count + len(unit) > n:
            break
        kept.insert(0, unit)
        count += len(unit)
    return kept


def _cost(parts: _Parts, measure: _Measure) -> int:
    """The tokens of the built messages (0 when there are none)."""
    if measure.additive:
        return parts.tokens(measure)
    built = parts.build()
    return measure.count(built) if built else 0


def _fit_memories(parts: _Parts, memories: Sequence[RecalledMemory], cap: int, measure: _Measure,
                  budget: int) -> list[RecalledMemory]:
    """The memories, best first, whose lines fit in ``cap`` tokens and the prompt in ``budget``."""
    def line_cost(memory: RecalledMemory, rank: int) -> int:
        return max(1, measure.system(parts._line(memory, rank)) - per_line + 1)

    per_line = measure.system("- ")
    # Usually every memory within the cap fits the prompt too: one count of the whole prompt
    # then settles it. (Lines of a prefix are a subset of those lines: it fits as well.)
    hopeful: list[RecalledMemory] = []
    spent = 0
    for memory in memories:
        cost = line_cost(memory, len(hopeful) + 1)
        if spent + cost <= cap:
            hopeful.append(memory)
            spent += cost
    if _fits(parts, measure, budget, memories=hopeful):
        return hopeful
    kept: list[RecalledMemory] = []
    spent = 0
    for memory in memories:
        cost = line_cost(memory, len(kept) + 1)
        if spent + cost > cap:
            continue
        if _fits(parts, measure, budget, memories=[*kept, memory]):
            kept.append(memory)
            spent += cost
    return kept


def _fits(parts: _Parts, measure: _Measure, budget: int, **changes: Any) -> bool:
    trial = _Parts(**{**parts.__dict__, **changes})
    return trial.tokens(measure) <= budget


def _fit_current(units: list[list[BaseMessage]], cap: int, measure: _Measure) -> list[list[BaseMessage]]:
    count = measure.messages
    units = [list(u) for u in units]
    flat = [m for u in units for m in u]
    if not flat or count(flat) <= cap:
        return units
    while len(units) > 1 and count([m for u in units for m in u]) > cap:
        del units[1]  # the oldest tool exchange after the request
    if count([m for u in units for m in u]) <= cap:
        return units
    first = units[0][0]
    shrunk = _truncate_message(first, cap, measure)
    return [[shrunk]] if shrunk is not None else []


def _truncate_message(message: BaseMessage, cap: int, measure: _Measure) -> BaseMessage | None:
    count = measure.messages
    text = message.text
    if count([message.model_copy(update={"content": ""})]) > cap:
        return None
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        candidate = message.model_copy(update={"content": _cut(text, mid)})
        if count([candidate]) <= cap:
            lo = mid
        else:
            hi = mid - 1
    return message.model_copy(update={"content": _cut(text, lo)})


def _truncate_text(text: str, cap: int, measure: _Measure, *, header: str = "") -> str:
    """The longest prefix of ``text`` whose system message (with ``header``) fits in ``cap``."""
    def size(body: str) -> int:
        return measure.system(f"{header}\n{body}" if header else body)

    if cap <= 0 or size("") > cap:
        return ""
    if size(text) <= cap:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if size(_cut(text, mid)) <= cap:
            lo = mid
        else:
            hi = mid - 1
    return _cut(text, lo)


def _cut(text: str, n: int) -> str:
    if n >= len(text):
        return text
    return text[: max(0, n - 1)].rstrip() + "…" if n > 0 else ""


def _give_way(parts: _Parts, budget: int, measure: _Measure) -> bool:
    """Remove the least important remaining piece; False when nothing is left to remove."""
    if parts.history:
        parts.history = parts.history[1:]
    elif parts.memories:
        parts.memories = parts.memories[:-1]
    elif parts.summary:
        parts.summary = None
    elif parts.rules:
        parts.rules = parts.rules[:-1]
    elif parts.instructions:
        half = len(parts.instructions) // 2
        parts.instructions = _cut(parts.instructions, half) if half > 8 else ""
    elif parts.current and (len(parts.current) > 1 or len(parts.current[0]) > 1):
        parts.current = parts.current[:1] if len(parts.current) > 1 else [parts.current[0][:1]]
    elif parts.current:
        others = _Parts(**{**parts.__dict__, "current": []}).tokens(measure)
        shrunk = _truncate_message(parts.current[0][0], budget - others, measure)
        if shrunk is None or shrunk.text == parts.current[0][0].text:
            parts.current = []
        else:
            parts.current = [[shrunk]]
    else:
        return False
    return True

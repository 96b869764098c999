"""MemGPT's virtual context: what is in the prompt, and what happens when it fills.

The prompt is one system message (instructions, the core memory blocks and the
recursive summary of evicted messages) followed by the FIFO queue of recent
messages, with MemGPT's memory status (how much recall and archival memory
hold) just before the newest user message. The status changes on every turn,
the rest rarely: so it comes after what stays, and a server that caches the
prompt's unchanged prefix (llama.cpp) reads again only the last turns. Every user and
assistant message is also logged in recall memory as it arrives, so eviction
loses nothing: evicted messages stay searchable with ``conversation_search``.

* Past ``warning_fraction`` of the window, the agent is sent MemGPT's
  memory-pressure alert once, so it can save what matters.
* Past the window, the oldest messages are evicted until the prompt is under
  ``keep_fraction`` of it, and the summary is rewritten from the previous
  summary plus the evicted messages (a recursive summary).

The queue, the summary and the pressure flag are the context's *state*
(:meth:`VirtualContext.state`, :meth:`VirtualContext.restore`): plain JSON, so it
can be stored with the agent's memory or in an AutoGen team's saved state, and a
later process continues where this one stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import set_config_context

from mnemos.agents.structured import internal_config
from mnemos.exceptions import UsageError
from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter

__all__ = [
    "MEMORY_PRESSURE_WARNING",
    "STATE_VERSION",
    "ContextEvent",
    "Summarizer",
    "VirtualContext",
    "decode_message",
    "encode_message",
    "extractive_summarizer",
    "model_summarizer",
]

STATE_VERSION = 1
"""Version of the JSON written by :meth:`VirtualContext.state`."""

MEMORY_PRESSURE_WARNING = (
    "Warning: the conversation history will soon reach its maximum length and be trimmed. "
    "Make sure to save any important information from the conversation to your memory "
    "before it is removed."
)

Summarizer = Callable[[str | None, Sequence[BaseMessage]], str]
"""``(previous summary, evicted messages) -> new summary``."""

_SUMMARY_INSTRUCTIONS = (
    "Your job is to summarize a history of previous messages in a conversation between an "
    "AI persona and a human. The conversation you are given is a from a fixed context "
    "window and may not be complete. Keep the summary short (under 120 words), keep facts, "
    "names, numbers and dates, and include the previous summary's content."
)


@dataclass(kw_only=True, frozen=True)
class ContextEvent:
    """Something the virtual context did: ``memory_pressure`` or ``evicted``."""

    kind: str
    tokens: int
    """Prompt tokens when it happened."""
    evicted: int = 0
    summary: str | None = None


def _role(message: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant", "tool": "tool", "system": "system"}.get(
        message.type, message.type
    )


def model_summarizer(model: Any) -> Summarizer:
    """A summarizer that asks a chat model (MemGPT's own approach)."""

    def summarize(previous: str | None, evicted: Sequence[BaseMessage]) -> str:
        lines = [f"Previous summary: {previous}"] if previous else []
        lines += [f"{_role(m)}: {m.text}" for m in evicted if m.text.strip()]
        # the current run's config (see ``VirtualContext.evict``), tagged as an internal
        # call: callbacks and tracing see it, LangGraph does not stream it as an answer
        reply = model.invoke(
            [SystemMessage(content=_SUMMARY_INSTRUCTIONS), HumanMessage(content="\n".join(lines))],
            internal_config(None),
        )
        return str(getattr(reply, "text", reply)).strip() or (previous or "")

    return summarize


def extractive_summarizer(max_chars: int = 1200) -> Summarizer:
    """A deterministic summarizer: the first sentence of each evicted message,
    appended to the previous summary, oldest lines dropped past ``max_chars``."""

    def summarize(previous: str | None, evicted: Sequence[BaseMessage]) -> str:
        lines = previous.splitlines() if previous else []
        for message in evicted:
            text = " ".join(message.text.split())
            if not text or isinstance(message, ToolMessage):
                continue
            first = text.split(". ")[0][:160]
            lines.append(f"- {_role(message)}: {first}")
        while len("\n".join(lines)) > max_chars and len(lines) > 1:
            lines.pop(0)
        return "\n".join(lines)

    return summarize


class VirtualContext:
    """The in-context messages of one MemGPT agent and the rules that keep them in budget."""

    def __init__(
        self,
        memory: MemGPTMemoryAdapter,
        namespace: Sequence[str],
        *,
        instructions: str,
        context_window: int,
        summarize: Summarizer,
        warning_fraction: float = 0.7,
        keep_fraction: float = 0.5,
        keep_last: int = 3,
        reserved_tokens: int = 0,
        count_tokens: Callable[[Sequence[BaseMessage]], int] = count_tokens_approximately,
    ) -> None:
        if not 0 < keep_fraction < warning_fraction < 1:
            raise UsageError("need 0 < keep_fraction < warning_fraction < 1")
        self.memory = memory
        self.namespace = tuple(namespace)
        self.instructions = instructions
        self.context_window = context_window
        self.summarize = summarize
        self.warning_fraction = warning_fraction
        self.keep_fraction = keep_fraction
        self.keep_last = keep_last
        self.reserved_tokens = reserved_tokens
        self.count_tokens = count_tokens
        self.queue: list[BaseMessage] = []
        self.summary: str | None = None
        self.evicted_total = 0
        self.events: list[ContextEvent] = []
        self._warned = False

    # -- the prompt ---------------------------------------------------------------------

    def system_message(self) -> SystemMessage:
        """Instructions, core memory, and the summary of evicted messages."""
        blocks = self.memory.core_blocks(self.namespace).values()
        parts = [self.instructions, "### Core memory (always in context)"]
        parts += [b.render() for b in blocks]
        if self.summary:
            parts += [
                f"### Summary of {self.evicted_total} earlier messages, no longer in context "
                "(they are still in recall memory: use conversation_search)",
                self.summary,
            ]
        return SystemMessage(content="\n\n".join(parts))

    def memory_status(self) -> HumanMessage:
        """How much recall and archival memory hold, as a MemGPT system message (user role, JSON)."""
        status = (
            f"{self.memory.message_count(self.namespace)} messages in recall memory, "
            f"{self.memory.archival_count(self.namespace)} passages in archival memory."
        )
        return HumanMessage(content=json.dumps({"type": "memory_status", "message": status}), name="system")

    def messages(self) -> list[BaseMessage]:
        """The prompt: the system message, the queue, and the memory status just before the
        newest user message (after the queue if there is none).

        What changes on every turn comes after what does not, so the prompt's prefix stays the
        same from one turn to the next up to the turn before."""
        at = next((i for i in range(len(self.queue) - 1, -1, -1)
                   if isinstance(self.queue[i], HumanMessage) and not _is_alert(self.queue[i])),
                  len(self.queue))
        return [self.system_message(), *self.queue[:at], self.memory_status(), *self.queue[at:]]

    def tokens(self) -> int:
        """Prompt tokens, counting what is reserved for tool schemas."""
        return self.count_tokens(self.messages()) + self.reserved_tokens

    # -- messages -----------------------------------------------------------------------

    def append(self, message: BaseMessage, *, log: bool = True) -> None:
        """Put a message in the queue; user and assistant text also goes to recall memory."""
        self.queue.append(message)
        if log and isinstance(message, (HumanMessage, AIMessage)) and message.text.strip():
            self.memory.record_message(self.namespace, _role(message), message.text)

    def check_pressure(self, *, warn: bool = True, config: RunnableConfig | None = None) -> None:
        """Evict past the window (summarizing under ``config``, see :meth:`evict`); send the
        pressure alert past the warning mark."""
        tokens = self.tokens()
        if tokens > self.context_window:
            self.evict(config)
        elif warn and not self._warned and tokens > self.warning_fraction * self.context_window:
            alert = HumanMessage(
                content=json.dumps({"type": "system_alert", "message": MEMORY_PRESSURE_WARNING}),
                name="system",
            )
            # ahead of the message that crossed the mark, so the agent reads both this turn
            at = len(self.queue) - 1 if self.queue and isinstance(self.queue[-1], HumanMessage) else len(self.queue)
            self.queue.insert(at, alert)
            self._warned = True
            self.events.append(ContextEvent(kind="memory_pressure", tokens=tokens))

    def evict(self, config: RunnableConfig | None = None) -> int:
        """Move the oldest messages out of context under a new summary; return how many.

        The summarizer runs with ``config`` (a LangGraph node's run config, say) as the
        current run's config, so the model calls it makes reach its callbacks and tracing."""
        before = self.tokens()
        target = self.keep_fraction * self.context_window
        self.queue = [m for m in self.queue if not _is_alert(m)]
        evicted: list[BaseMessage] = []
        while len(self.queue) > self.keep_last and self.tokens() > target:
            unit = self._oldest_unit()
            evicted += self.queue[:unit]
            del self.queue[:unit]
        if evicted:
            if config is None:
                self.summary = self.summarize(self.summary, evicted)
            else:
                with set_config_context(config) as run:
                    self.summary = run.run(self.summarize, self.summary, evicted)
            self.evicted_total += len(evicted)
        self._warned = False
        self.events.append(
            ContextEvent(kind="evicted", tokens=before, evicted=len(evicted), summary=self.summary)
        )
        return len(evicted)

    # -- state ------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The in-context state as JSON: the queue, the summary, the evicted count, the pressure flag."""
        return {
            "version": STATE_VERSION,
            "queue": [encode_message(m) for m in self.queue],
            "summary": self.summary,
            "evicted_total": self.evicted_total,
            "warned": self._warned,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Put back a :meth:`state`; :class:`UsageError` if it is not one."""
        if not isinstance(state, Mapping) or state.get("version") != STATE_VERSION:
            raise UsageError(f"not a MemGPT context state (version {STATE_VERSION}): {str(state)[:120]!r}")
        try:
            queue = [decode_message(m) for m in state.get("queue", [])]
            evicted = int(state.get("evicted_total", 0))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"a MemGPT context state is malformed: {exc}") from None
        summary = state.get("summary")
        self.queue = queue
        self.summary = str(summary) if summary is not None else None
        self.evicted_total = evicted
        self._warned = bool(state.get("warned", False))

    def _oldest_unit(self) -> int:
        """How many messages from the head go together: a tool call and its results."""
        end = 1
        if isinstance(self.queue[0], AIMessage) and self.queue[0].tool_calls:
            while end < len(self.queue) and isinstance(self.queue[end], ToolMessage):
                end += 1
        while end < len(self.queue) and isinstance(self.queue[end], ToolMessage):
            end += 1  # never leave orphaned tool results at the head
        return end


def encode_message(message: BaseMessage) -> dict[str, Any]:
    """A queued message as JSON: its type, text, name, and tool calls or call id."""
    data: dict[str, Any] = {"type": message.type, "content": message.text, "name": message.name}
    if isinstance(message, AIMessage) and message.tool_calls:
        data["tool_calls"] = [{"name": c["name"], "args": c["args"], "id": c["id"]} for c in message.tool_calls]
    if isinstance(message, ToolMessage):
        data["tool_call_id"] = message.tool_call_id
    return data


def decode_message(data: Mapping[str, Any]) -> BaseMessage:
    """The message :func:`encode_message` wrote."""
    kind, content, name = data.get("type"), str(data.get("content", "")), data.get("name")
    if kind == "ai":
        return AIMessage(content=content, name=name, tool_calls=[
            {"name": c["name"], "args": c["args"], "id": c.get("id"), "type": "tool_call"}
            for c in data.get("tool_calls", [])
        ])
    if kind == "tool":
        return ToolMessage(content=content, tool_call_id=str(data.get("tool_call_id", "")), name=name)
    if kind == "system":
        return SystemMessage(content=content, name=name)
    return HumanMessage(content=content, name=name)


def _is_alert(message: BaseMessage) -> bool:
    return isinstance(message, HumanMessage) and message.name == "system" and "system_alert" in message.text

"""A MemGPT agent as an AutoGen ``BaseChatAgent`` (imported only when AutoGen is installed).

Built by :func:`mnemos.graphs.autogen.autogen_agent` when it is given a
:class:`~mnemos.agents.memgpt.MemGPTAgent`. Each turn, the team's messages since
the agent last spoke go into its virtual context as user messages that name
their speaker; the agent runs its loop (memory functions, heartbeats) and
answers with one ``TextMessage``. Its function calls stream as AutoGen's
``ToolCallRequestEvent``/``ToolCallExecutionEvent``, and what its memory
searches found as ``MemoryQueryEvent``. ``save_state``/``load_state`` carry the
agent's in-context queue, summary and heartbeats (the memory tiers are in its
memory adapter already).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import (
    BaseAgentEvent,
    BaseChatMessage,
    MemoryQueryEvent,
    TextMessage,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
)
from autogen_core import CancellationToken, FunctionCall
from autogen_core.memory import MemoryContent, MemoryMimeType
from autogen_core.models import FunctionExecutionResult
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from mnemos.agents.memgpt import MemGPTAgent
from mnemos.exceptions import UsageError
from mnemos.graphs._autogen_common import safe_name

__all__ = ["STATE_TYPE", "MemGPTChatAgent"]

STATE_TYPE = "MnemosMemGPTAgentState"
"""``save_state()["type"]`` of a MemGPT agent in an AutoGen team."""

_SEARCHES = ("archival_memory_search", "conversation_search", "conversation_search_date")


class MemGPTChatAgent(BaseChatAgent):
    """A :class:`~mnemos.agents.memgpt.MemGPTAgent` in an AutoGen team."""

    def __init__(self, agent: MemGPTAgent) -> None:
        if not agent.name.isidentifier():
            raise UsageError(f"an AutoGen agent's name is an identifier; MemGPT agent {agent.name!r} is not one")
        super().__init__(agent.name, agent.description)
        self.agent = agent

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (TextMessage,)

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        incoming = [_incoming(m) for m in messages if m.to_text().strip()]
        reply = await self.agent.astep(incoming or None)
        made = self.agent.last_messages
        text = reply.strip() or "(no reply: the agent ended its turn on a function call)"
        return Response(chat_message=TextMessage(content=text, source=self.name),
                        inner_messages=_events(self.name, made))

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        """Empty the in-context queue and summary (the memory tiers stay)."""
        self.agent.reset()

    async def save_state(self) -> Mapping[str, Any]:
        return {"type": STATE_TYPE, "version": 1, "memgpt": self.agent.save_state()}

    async def load_state(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or state.get("type") != STATE_TYPE:
            raise UsageError(f"not a saved MemGPT agent state ({STATE_TYPE}): {str(state)[:120]!r}")
        self.agent.load_state(state["memgpt"])


def _incoming(message: BaseChatMessage) -> BaseMessage:
    """A team message for the MemGPT agent: the user's as a user message, a member's
    as a user message that carries the member's name (it is not the agent's own)."""
    if message.source == "user":
        return HumanMessage(message.to_text())
    return AIMessage(message.to_text(), name=safe_name(message.source))


def _events(source: str, made: Sequence[BaseMessage]) -> list[BaseAgentEvent]:
    """The agent's function calls and results, and what its memory searches found."""
    events: list[BaseAgentEvent] = []
    calls: dict[str, str] = {}
    for message in made:
        if isinstance(message, AIMessage) and message.tool_calls:
            events.append(ToolCallRequestEvent(source=source, content=[
                FunctionCall(id=str(c.get("id") or ""), name=c["name"], arguments=json.dumps(c["args"]))
                for c in message.tool_calls]))
            calls.update({str(c.get("id") or ""): c["name"] for c in message.tool_calls})
        elif isinstance(message, ToolMessage):
            error = message.text.startswith("Error:")
            events.append(ToolCallExecutionEvent(source=source, content=[FunctionExecutionResult(
                content=message.text, name=message.name or "", call_id=message.tool_call_id, is_error=error)]))
            if calls.get(message.tool_call_id) in _SEARCHES and not error:
                found = [line[2:] for line in message.text.splitlines() if line.startswith("- ")]
                if found:
                    events.append(MemoryQueryEvent(source=source, content=[
                        MemoryContent(content=line, mime_type=MemoryMimeType.TEXT,
                                      metadata={"function": calls[message.tool_call_id]})
                        for line in found]))
    return events

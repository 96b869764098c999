"""The graph state an agent reads and the update it returns, under configurable keys."""

from __future__ import annotations

import dataclasses
import functools
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    ToolMessage,
    convert_to_messages,
)
from langgraph.types import Command
from pydantic import BaseModel

from mnemos.agents._queries import Turn, turns_of
from mnemos.exceptions import UsageError

__all__ = ["final_text", "from_the_view_of", "latest_said", "messages_of", "result_messages", "tool_state", "turn_result"]


def messages_of(state: Any, key: str = "messages") -> list[BaseMessage]:
    """The conversation in ``state``: a text, a list of messages, or a mapping/object with ``key``."""
    if isinstance(state, str):
        return [HumanMessage(state)]
    if isinstance(state, Mapping):
        messages = state.get(key)
    elif isinstance(state, Sequence):
        messages = state
    else:
        messages = getattr(state, key, None)
    if messages is None:
        raise UsageError(f"an agent's state needs a {key!r} list (the agent's messages_key)")
    out: list[BaseMessage] = []
    for m in messages:
        if isinstance(m, BaseMessage):
            out.append(m)
        elif isinstance(m, str):
            out.append(HumanMessage(m))
        else:
            out.extend(convert_to_messages([m]))
    return out


def tool_state(state: Any, key: str, messages: list[BaseMessage]) -> Any:
    """The state the agent's tools see (``InjectedState``, ``ToolRuntime.state``): ``state`` with
    ``messages`` (the turn so far) under ``key``, in the state's own shape where it has one."""
    if isinstance(state, Mapping):
        return {**state, key: messages}
    if isinstance(state, BaseModel) and key in type(state).model_fields:
        return state.model_copy(update={key: messages})
    if dataclasses.is_dataclass(state) and not isinstance(state, type) and key in {
        f.name for f in dataclasses.fields(state)
    }:
        return dataclasses.replace(state, **{key: messages})
    return {key: messages}


def turn_result(
    new: list[BaseMessage],
    *,
    key: str,
    trace_key: str | None,
    trace: list[dict[str, Any]],
    updates: Mapping[str, Any],
    leaving: tuple[list[Any], list[BaseMessage]] | None,
) -> dict[str, Any] | Command:
    """The node's update: ``{key: new, trace_key: trace, **updates}``, or, when a tool's
    ``Command`` ended the turn (``leaving`` = its gotos and outward messages), that update
    as a ``Command`` to the graph the agent runs in."""
    update: dict[str, Any] = {**updates, key: new}
    if trace_key is not None:
        update[trace_key] = trace
    if leaving is None:
        return update
    goto, outward = leaving
    ids = {m.id for m in new if m.id}
    update[key] = [*new, *(m for m in outward if not (m.id and m.id in ids))]
    if not goto:
        return Command(update=update)
    return Command(goto=goto[0] if len(goto) == 1 else goto, update=update)


def result_messages(result: Mapping[str, Any] | Command, key: str) -> list[BaseMessage]:
    """The messages of an agent's update, whether a dict or a ``Command``."""
    update = result.update if isinstance(result, Command) else result
    if not isinstance(update, Mapping):
        return []
    return list(update.get(key) or [])


def from_the_view_of(name: str, messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """Other agents' replies become named user messages (as AutoGen does), so a model sees
    only its own turns as ``assistant``; their tool exchanges are left out."""
    out: list[BaseMessage] = []
    foreign_calls: set[str] = set()
    for message in messages:
        if isinstance(message, AIMessage) and message.name and message.name != name:
            if message.tool_calls:
                foreign_calls.update(str(c["id"]) for c in message.tool_calls if c.get("id"))
            text = message.text
            if text.strip():
                out.append(_as_heard(message, message.name, text))
        elif isinstance(message, ToolMessage) and message.tool_call_id in foreign_calls:
            continue
        else:
            out.append(message)
    return out


_HEARD: dict[int, tuple[weakref.ref[AIMessage], str, str, str | None, HumanMessage]] = {}
_HEARD_AT_MOST = 512


def _as_heard(message: AIMessage, speaker: str, text: str) -> HumanMessage:
    """``HumanMessage("[speaker] text")`` of another agent's reply, made once for all the agents
    after it in a run: kept while the reply lives and its speaker, text and id stay the same."""
    key = id(message)
    known = _HEARD.get(key)
    if known is not None and known[0]() is message and known[1:4] == (speaker, text, message.id):
        return known[4]
    heard = HumanMessage(f"[{speaker}] {text}", name=speaker, id=message.id)
    if len(_HEARD) >= _HEARD_AT_MOST:
        _HEARD.clear()
    _HEARD[key] = (weakref.ref(message, functools.partial(_forget, key)), speaker, text, message.id, heard)
    return heard


def _forget(key: int, _: object) -> None:
    _HEARD.pop(key, None)


def final_text(messages: Sequence[BaseMessage]) -> str:
    """The text of the last AI message that has some."""
    for message in reversed(messages):
        if isinstance(message, AIMessage) and message.text.strip():
            return message.text
    return ""


def latest_said(messages: Sequence[BaseMessage], count: int) -> list[Turn]:
    """The last ``count`` turns of ``messages`` with text, oldest first: what a query without the
    task searches for, without making turns of the whole conversation."""
    said: list[Turn] = []
    for index in range(len(messages) - 1, -1, -1):
        if len(said) >= count:
            break
        turn = turns_of(messages[index : index + 1])
        if turn and turn[0].text.strip():
            said.append(turn[0])
    return said[::-1]

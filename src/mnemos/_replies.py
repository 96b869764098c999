"""Reading what a model wrote: JSON in a reply's text, and tool calls written as text.

Small and open models often answer a tool-calling prompt with the call written
in the message text (bare JSON, a fenced ```json block, ``<tool_call>`` tags)
instead of the provider's ``tool_calls`` field, and wrap structured output in
prose or fences. These parsers turn such replies into what was asked for, or
say clearly that they cannot (a ``ValueError``); they never guess.

This module sits beside ``config`` and ``exceptions`` at the bottom of the
package: agents and memory adapters (the MemGPT loop) both use it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection, Iterator
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.messages.tool import ToolCall

__all__ = ["find_json", "iter_json", "text_tool_calls", "with_text_tool_calls", "without_nul"]

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n?(.*?)```", re.DOTALL)
_ARG_KEYS = ("arguments", "args", "parameters", "input", "tool_input")
_NAME_KEYS = ("tool", "name", "tool_name", "function_name", "action")
_MAX_SCAN = 200_000
_DECODER = json.JSONDecoder()


def iter_json(text: str) -> Iterator[tuple[Any, int, int]]:
    """Every JSON object or array in ``text``: ``(value, start, end)``, fenced blocks first.

    Inside a fenced block the whole block is tried first; elsewhere each
    ``{`` or ``[`` starts a candidate, decoded as far as it is valid JSON.
    Values nested in an earlier value are not yielded again, nor are values
    nested in a broken one (a truncated ``{"facts": [{...}, {...`` yields
    nothing, not its first complete item).
    """
    if not isinstance(text, str):
        return
    text = text[:_MAX_SCAN]
    covered: list[tuple[int, int]] = []
    for fence in _FENCE.finditer(text):
        body = fence.group(2).strip()
        try:
            value = json.loads(body)
        except ValueError:
            continue
        if isinstance(value, (dict, list)):
            covered.append(fence.span())
            yield value, fence.start(), fence.end()
    index = 0
    while index < len(text):
        starts = [i for i in (text.find("{", index), text.find("[", index)) if i >= 0]
        if not starts:
            return
        start = min(starts)
        if any(s <= start < e for s, e in covered):
            index = next(e for s, e in covered if s <= start < e)
            continue
        try:
            value, end = _DECODER.raw_decode(text, start)
        except ValueError:
            close = _matching_close(text, start)
            if close is None:
                return  # an unclosed value runs to the end: nothing inside it counts
            index = close
            continue
        covered.append((start, end))
        yield value, start, end
        index = end


def _matching_close(text: str, start: int) -> int | None:
    """The index after the bracket closing the one at ``start`` (strings skipped), or None."""
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def find_json(text: str) -> Any:
    """The first JSON object (else array) in a reply's text; ``ValueError`` if there is none."""
    first_list = None
    for value, _, _ in iter_json(text):
        if isinstance(value, dict):
            return value
        if first_list is None:
            first_list = value
    if first_list is not None:
        return first_list
    raise ValueError("the reply holds no JSON object")


def _as_call(value: Any, names: Collection[str] | None) -> ToolCall | None:
    """One tool call from a JSON value of a known shape, else None."""
    if not isinstance(value, dict):
        return None
    function = value.get("function")
    if isinstance(function, dict) and ("name" in function or "arguments" in function):
        value = function
    name = next((value[k] for k in _NAME_KEYS if isinstance(value.get(k), str)), None)
    if not name or (names is not None and name not in names):
        return None
    present = [k for k in _ARG_KEYS if k in value]
    if names is None and not present:
        return None
    args: Any = value[present[0]] if present else {}
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            return None
    if not isinstance(args, dict):
        return None
    if not present and set(value) - set(_NAME_KEYS) - {"type", "id"}:
        return None  # other keys but no arguments: not a call we understand
    call_id = value.get("id") if isinstance(value.get("id"), str) and value.get("id") else None
    return ToolCall(name=name, args=args, id=call_id or f"call_{uuid.uuid4().hex[:24]}", type="tool_call")


def text_tool_calls(text: str, names: Collection[str] | None = None) -> tuple[list[ToolCall], str]:
    """Tool calls written as JSON in ``text``, and the text left around them.

    Recognised: ``{"tool": NAME, "arguments": {...}}`` (also ``name``/``args``/
    ``parameters``/``input``, arguments as an object or a JSON string), the
    OpenAI shape ``{"function": {"name": ..., "arguments": "..."}}``,
    ``{"tool_calls": [...]}`` and lists of these, bare, fenced or in
    ``<tool_call>`` tags. With ``names`` given, only calls of those tools count.
    """
    calls: list[ToolCall] = []
    spans: list[tuple[int, int]] = []
    for value, start, end in iter_json(text):
        items = value.get("tool_calls") if isinstance(value, dict) and isinstance(value.get("tool_calls"), list) else None
        if items is None:
            items = value if isinstance(value, list) else [value]
        found = [c for c in (_as_call(item, names) for item in items) if c is not None]
        if found and len(found) == len(items):
            calls.extend(found)
            spans.append((start, end))
    if not calls:
        return [], text
    rest = text
    for start, end in reversed(spans):
        rest = rest[:start] + rest[end:]
    rest = re.sub(r"</?tool_call>", "", rest)
    return calls, rest.strip()


def with_text_tool_calls(message: AIMessage, names: Collection[str]) -> AIMessage:
    """``message`` with the tool calls written in its text made real ``tool_calls``.

    A message that already has tool calls, or whose text calls none of the
    tools ``names``, is returned unchanged.
    """
    if message.tool_calls or not names or not isinstance(message.text, str):
        return message
    calls, rest = text_tool_calls(message.text, names)
    if not calls:
        return message
    return message.model_copy(update={"content": rest, "tool_calls": calls, "invalid_tool_calls": []})


def without_nul(message: AIMessage) -> AIMessage:
    """``message`` with NUL characters taken out of its text.

    A model that answers garbage can write them; no store keeps them (they end
    C strings), so a reply holding one could not be logged. Text blocks of a
    list content are cleaned too; anything else is returned unchanged.
    """
    content = message.content
    if isinstance(content, str):
        if "\x00" not in content:
            return message
        return message.model_copy(update={"content": content.replace("\x00", "")})
    if not any(isinstance(b, dict) and "\x00" in str(b.get("text", "")) for b in content):
        return message
    blocks = [
        {**b, "text": b["text"].replace("\x00", "")} if isinstance(b, dict) and isinstance(b.get("text"), str) else b
        for b in content
    ]
    return message.model_copy(update={"content": blocks})

"""The offline chat model: deterministic, no key, no network.

:class:`OfflineChatModel` is a real LangChain ``BaseChatModel``: it works with
``bind_tools``, ``with_structured_output``, streaming, and inside LangGraph.
It does not understand language; it follows a few documented rules, so that
tests, examples and demos run anywhere and memory effects are visible.

**The request** is the last human or AI message (AI messages count so that
agents in a group chat answer each other). What it does, in order:

1. *After tool results* — when the last message is a ``ToolMessage``, it
   answers with the results: ``"Based on the tool results: <content> ..."``.
2. *Tool calls* — with tools bound, it calls the tool that the request asks
   for. A tool scores two points per word of its name found in the request
   (``get_weather`` → "weather"; generic verbs such as *get*, *fetch*, *run*
   do not count) and one per other content word the request shares with its
   description; the best tool is called when it scores 2 or more (ties: the
   first bound). Words are compared lower-cased and crudely stemmed. ``tool_choice="any"``/``"required"``
   calls the best tool whatever its score; a tool name forces that tool;
   ``"none"`` calls nothing. Arguments come from the tool's JSON schema: a
   value written ``field: value``, ``field = value`` or ``field is value`` in
   the request (then in the context) is used, coerced to the field's type
   (arrays from a JSON list or a list split at commas and "and", integers,
   numbers, booleans from true/yes/on, enums to the option named, ``none``
   to null where null is allowed). Optional fields not written so are left
   out, so their defaults are kept — except that an enum takes an option the
   request names as a word. A required field not written so is made up: a
   string gets the whole request text, numbers take the numbers of the
   request in order, booleans are false, enums take the first value the
   request mentions (else the first), arrays take the request's sentences.
3. *Answer from context* — otherwise it answers from its context: every line
   of the system, human and tool messages before the request is scored by
   the content words it shares with the request (bulleted lines such as
   recalled memories get half a point more; a memory's citation tag ``[M1 · ...]``
   is left out); the best line (ties: the earliest,
   which is where the most relevant memory sits) forms
   ``"Based on what I remember: <line>"``. With no matching line it
   says ``"I don't know yet: nothing in my context answers that."`` to a
   question and ``"Noted."`` to a statement.

Structured output goes through ``bind_tools`` with a forced tool call, as for
any tool-calling model, so the schema's fields are filled by rule 2.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from mnemos.agents._lexical import content_word_set, content_words, sentences
from mnemos.agents._local_model import LocalChatModel

__all__ = ["OfflineChatModel"]

_TOOL_THRESHOLD = 2
_GENERIC_NAME_WORDS = frozenset({"get", "set", "fetch", "run", "do", "make", "call", "tool", "use"})
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_MEMORY_TAG = re.compile(r"\s*\[M\d+ · confidence [^\]]*\]$")
_LABEL = re.compile(r"^[\w ]+?\s*(?:[:=]|\bis\b|\bare\b)")


class OfflineChatModel(LocalChatModel):
    """A deterministic chat model that needs no key and no network (see the module docs)."""

    model_name: str = "offline"
    """A label only (``"offline:NAME"`` sets it); every offline model behaves the same."""

    @property
    def _llm_type(self) -> str:
        return "mnemos-offline"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    # -- generation -----------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = respond(messages, kwargs.get("tools") or (), kwargs.get("tool_choice"))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = respond(messages, kwargs.get("tools") or (), kwargs.get("tool_choice"))
        for chunk in _chunks(message):
            if run_manager is not None:
                run_manager.on_llm_new_token(str(chunk.message.content), chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        message = respond(messages, kwargs.get("tools") or (), kwargs.get("tool_choice"))
        for chunk in _chunks(message):
            if run_manager is not None:
                await run_manager.on_llm_new_token(str(chunk.message.content), chunk=chunk)
            yield chunk


def _chunks(message: AIMessage) -> Iterator[ChatGenerationChunk]:
    if message.tool_calls:
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
                    for i, c in enumerate(message.tool_calls)
                ],
            )
        )
        return
    for piece in re.findall(r"\S+\s*", str(message.content)) or [""]:
        yield ChatGenerationChunk(message=AIMessageChunk(content=piece))


# --- the rules --------------------------------------------------------------------


def respond(
    messages: Sequence[BaseMessage],
    tools: Sequence[dict[str, Any]] = (),
    tool_choice: str | dict[str, Any] | bool | None = None,
) -> AIMessage:
    """The offline model's reply to ``messages`` (rules 1-3 of the module docs)."""
    if messages and isinstance(messages[-1], ToolMessage) and not _forced(tool_choice):
        return AIMessage(content=_answer_from_tools(messages))
    index, request = _request(messages)
    context = [m for i, m in enumerate(messages) if i != index]
    tool = _choose_tool(request, tools, tool_choice)
    if tool is not None:
        function = tool["function"]
        args = _fill_object(function.get("parameters") or {}, request, _context_text(context))
        call = {"name": function["name"], "args": args, "id": f"call_{uuid.uuid4().hex[:24]}"}
        return AIMessage(content="", tool_calls=[call])
    return AIMessage(content=_answer_from_context(request, context))


def _request(messages: Sequence[BaseMessage]) -> tuple[int, str]:
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], (HumanMessage, AIMessage)) and messages[i].text.strip():
            return i, messages[i].text
    return -1, ""


def _answer_from_tools(messages: Sequence[BaseMessage]) -> str:
    results: list[str] = []
    for message in reversed(messages):
        if not isinstance(message, ToolMessage):
            break
        results.append(message.text.strip() or "(empty result)")
    return "Based on the tool results: " + " ".join(reversed(results))


def _context_text(context: Sequence[BaseMessage]) -> str:
    return "\n".join(m.text for m in context if not isinstance(m, AIMessage))


def _answer_from_context(request: str, context: Sequence[BaseMessage]) -> str:
    query = content_word_set(request)
    scored: list[tuple[float, int, str]] = []
    position = 0
    for message in context:
        if not isinstance(message, (SystemMessage, HumanMessage, ToolMessage)):
            continue
        for line in message.text.splitlines():
            text = _untagged(line.strip())
            position += 1
            if not text or text.endswith(":") or text.endswith("?"):
                continue
            shared = len(query & content_word_set(text))
            if shared:
                bonus = 0.5 if _BULLET.match(text) else 0.0
                scored.append((shared + bonus, position, text))
    if not scored:
        if request.rstrip().endswith("?"):
            return "I don't know yet: nothing in my context answers that."
        return "Noted."
    best = min(scored, key=lambda item: (-item[0], item[1]))  # positions differ: the first of the best
    return "Based on what I remember: " + _sentence(_BULLET.sub("", best[2]))


def _untagged(text: str) -> str:
    """``_MEMORY_TAG.sub("", text)``, searched only from the whitespace before the first ``[M``
    (where the tag has to start)."""
    start = text.find("[M")
    if start < 0:
        return text
    while start and text[start - 1].isspace():
        start -= 1
    found = _MEMORY_TAG.search(text, start)
    return text if found is None else text[: found.start()] + text[found.end() :]


def _sentence(text: str) -> str:
    return text if text[-1:] in ".!?" else text + "."


def _forced(tool_choice: str | dict[str, Any] | bool | None) -> bool:
    return tool_choice not in (None, "auto", "none", False)


def _choose_tool(
    request: str,
    tools: Sequence[dict[str, Any]],
    tool_choice: str | dict[str, Any] | bool | None,
) -> dict[str, Any] | None:
    if not tools or tool_choice in ("none", False):
        return None
    if isinstance(tool_choice, dict):
        tool_choice = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
    if isinstance(tool_choice, str) and tool_choice not in ("auto", "any", "required"):
        for tool in tools:
            if tool["function"]["name"] == tool_choice:
                return tool
        return None
    request_words = content_words(request)
    best, best_score = None, 0
    for tool in tools:
        function = tool["function"]
        name_words = content_words(function["name"].replace("_", " ")) - _GENERIC_NAME_WORDS
        described = content_words(function.get("description") or "") - name_words
        score = 2 * len(request_words & name_words) + len(request_words & described)
        if best is None or score > best_score:
            best, best_score = tool, score
    if _forced(tool_choice) or best_score >= _TOOL_THRESHOLD:
        return best
    return None


# --- arguments from a JSON schema --------------------------------------------------


def _explicit(label: str, *texts: str, listed: bool = False) -> str | None:
    """The value written ``label: value`` (or ``=``, ``is``, ``are``) in the first text that has one.

    A value ends at a comma, "and" or the end of the sentence; a ``listed``
    one (for an array) runs on over commas and "and" until the next
    ``field:`` or the end of the sentence.
    """
    spoken = re.escape(label.replace("_", " ")).replace(r"\ ", r"[\s_]+")
    end = r"[;\n]|\.\s|\.$|\?|!|$" if listed else r"[,;\n]|\.\s|\.$|\?|!|\s+and\s|$"
    pattern = re.compile(rf"\b{spoken}\s*(?:[:=]|\bis\b|\bare\b)\s*(.+?)(?={end})", re.IGNORECASE)
    for text in texts:
        match = pattern.search(text)
        if not match:
            continue
        value = match.group(1).strip()
        if listed:
            value = _json_prefix(value) or _until_next_field(value)
        value = value.strip("\"'")
        if value:
            return value
    return None


def _json_prefix(text: str) -> str | None:
    """A JSON list at the start of ``text``, as written."""
    if not text.startswith("["):
        return None
    try:
        _, end = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return None
    return text[:end]


def _until_next_field(text: str) -> str:
    parts = [p.strip() for p in re.split(r",|\band\b", text)]
    ends = next((i for i, p in enumerate(parts) if _LABEL.match(p)), len(parts))
    return ", ".join(p for p in parts[:ends] if p)


def _fill_object(schema: dict[str, Any], request: str, context: str) -> dict[str, Any]:
    """Arguments for an object schema: required fields always, optional ones only when given."""
    properties: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    numbers = [float(n) for n in _NUMBER.findall(request)]
    out: dict[str, Any] = {}
    for key, prop in properties.items():
        listed = any(_type(option) == "array" for option in _options(prop))
        found = _explicit(key, request, context, listed=listed)
        if found is not None:
            out[key] = _given(prop, found, numbers)
        elif key in required:
            out[key] = _made_up(prop, request, context, numbers)
        elif (option := _mentioned_option(prop, request)) is not None:
            out[key] = option
    return out


def _options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a schema (``anyOf``/``oneOf`` flattened), outer keys merged in."""
    for union in ("anyOf", "oneOf"):
        if union in schema:
            outer = {k: v for k, v in schema.items() if k != union}
            return [
                {**outer, **option}
                for alternative in schema[union]
                for option in _options(alternative)
            ]
    return [] if _type(schema) == "null" else [schema]


def _type(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None) if len(kind) > 1 else kind[0]
    if kind is None and "properties" in schema:
        return "object"
    if kind is None and "enum" in schema:
        return "string"
    return kind


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    options = _options(schema)
    return options[0] if options else schema


def _given(prop: dict[str, Any], text: str, numbers: list[float]) -> Any:
    """A value written in the request, coerced to the parameter's JSON schema type."""
    options = _options(prop)
    if not options or (text.casefold() in ("none", "null") and _nullable(prop)):
        return None
    kinds = [_type(o) for o in options]
    parsed = _json(text)
    if isinstance(parsed, list) and "array" in kinds:
        schema = options[kinds.index("array")]
        return [_item(_resolve(schema.get("items") or {}), p, numbers) for p in parsed]
    if isinstance(parsed, dict) and "object" in kinds:
        return parsed
    if "array" in kinds and ("," in text or "string" not in kinds):
        schema = options[kinds.index("array")]
        parts = [p.strip() for p in re.split(r",|\band\b", text) if p.strip()]
        return [_item(_resolve(schema.get("items") or {}), p, numbers) for p in parts]
    scalar = next((o for o in options if _type(o) not in ("array", "object")), options[0])
    return _item(scalar, text, numbers)


def _nullable(schema: dict[str, Any]) -> bool:
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return any(_nullable(alternative) for alternative in schema[union])
    kind = schema.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind)


def _json(text: str) -> Any:
    if text[:1] not in ("[", "{"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _item(schema: dict[str, Any], text: Any, numbers: list[float]) -> Any:
    """One value coerced to a scalar schema: an enum option, a number, a boolean or a string."""
    if not isinstance(text, str):
        return text  # from JSON already
    if "enum" in schema:
        options = list(schema["enum"])
        folded = text.casefold()
        for option in options:
            if str(option).casefold() == folded:
                return option
        for option in options:
            if str(option).casefold() in folded:
                return option
        return schema.get("default", options[0] if options else None)
    kind = _type(schema)
    if kind == "object":
        return _json(text)
    return _coerce(kind, text, numbers)


def _made_up(prop: dict[str, Any], request: str, context: str, numbers: list[float]) -> Any:
    """A value for a required parameter the request does not name (the rules of the module docs)."""
    prop = _resolve(prop)
    kind = _type(prop)
    if "enum" in prop:
        options = list(prop["enum"])
        for option in options:
            if str(option).casefold() in request.casefold():
                return option
        return prop.get("default", options[0] if options else None)
    if kind == "object":
        return _fill_object(prop, request, context)
    if kind == "array":
        items = _resolve(prop.get("items") or {})
        if _type(items) == "object":
            return [_fill_object(items, request, context)]
        return [_item(items, part, numbers) for part in sentences(request)]
    if "default" in prop:
        return prop["default"]
    if kind in ("integer", "number"):
        return _coerce(kind, None, numbers)
    if kind == "boolean":
        return False
    if kind == "string":
        return request.strip()
    return None


def _mentioned_option(prop: dict[str, Any], request: str) -> Any:
    """An optional enum's option that the request names as a word (else None: the default stays)."""
    prop = _resolve(prop)
    for option in prop.get("enum") or ():
        if isinstance(option, str) and option and re.search(rf"\b{re.escape(option)}\b", request, re.IGNORECASE):
            return option
    return None


def _coerce(kind: str | None, text: str | None, numbers: list[float]) -> Any:
    if kind in ("integer", "number"):
        match = _NUMBER.search(text or "")
        if match:
            value = float(match.group(0))
        elif numbers:
            value = numbers.pop(0)
        else:
            value = 0.0
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return (text or "").strip().casefold() in ("true", "yes", "1", "on")
    return text if text is not None else ""

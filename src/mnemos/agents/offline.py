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
   the request (then in the context) is used; otherwise a lone string
   parameter gets the whole request text, numbers take the numbers of the
   request in order, booleans are false, enums take the first value the text
   mentions (else the first), arrays of strings take the request's sentences,
   and defaults are kept.
3. *Answer from context* — otherwise it answers from its context: every line
   of the system, human and tool messages before the request is scored by
   the content words it shares with the request (bulleted lines such as
   recalled memories get half a point more); the best line (ties: the earliest,
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
from typing import Any, ClassVar

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool

from mnemos.agents._lexical import content_words, sentences
from mnemos.agents.tokens import approx_tokens, text_tokens

__all__ = ["OfflineChatModel"]

_TOOL_THRESHOLD = 2
_GENERIC_NAME_WORDS = frozenset({"get", "set", "fetch", "run", "do", "make", "call", "tool", "use"})
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class OfflineChatModel(BaseChatModel):
    """A deterministic chat model that needs no key and no network (see the module docs)."""

    model_name: str = "offline"
    """A label only (``"offline:NAME"`` sets it); every offline model behaves the same."""

    mnemos_offline_token_counter: ClassVar[bool] = True

    @property
    def _llm_type(self) -> str:
        return "mnemos-offline"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (LangChain tools, functions, pydantic models or JSON schemas)."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def get_num_tokens(self, text: str) -> int:
        return text_tokens(text)

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        return approx_tokens(messages)

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
    query = content_words(request)
    scored: list[tuple[float, int, str]] = []
    position = 0
    for message in context:
        if not isinstance(message, (SystemMessage, HumanMessage, ToolMessage)):
            continue
        for line in message.text.splitlines():
            text = line.strip()
            position += 1
            if not text or text.endswith(":") or text.endswith("?"):
                continue
            shared = len(query & content_words(text))
            if shared:
                bonus = 0.5 if _BULLET.match(text) else 0.0
                scored.append((shared + bonus, position, _BULLET.sub("", text)))
    if not scored:
        if request.rstrip().endswith("?"):
            return "I don't know yet: nothing in my context answers that."
        return "Noted."
    scored.sort(key=lambda item: (-item[0], item[1]))
    return "Based on what I remember: " + _sentence(scored[0][2])


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


def _explicit(label: str, *texts: str) -> str | None:
    spoken = re.escape(label.replace("_", " ")).replace(r"\ ", r"[\s_]+")
    pattern = re.compile(
        rf"\b{spoken}\s*(?:[:=]|\bis\b|\bare\b)\s*(.+?)(?=[,;\n]|\.\s|\.$|\?|!|\s+and\s|$)",
        re.IGNORECASE,
    )
    for text in texts:
        match = pattern.search(text)
        if match and match.group(1).strip():
            return match.group(1).strip().strip("\"'")
    return None


def _fill_object(schema: dict[str, Any], request: str, context: str) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or properties)
    strings = [k for k, v in properties.items() if _type(v) == "string"]
    numbers = [float(n) for n in _NUMBER.findall(request)]
    out: dict[str, Any] = {}
    for key, prop in properties.items():
        value = _fill_value(key, prop, request, context, numbers, lone_string=strings == [key])
        if value is not None or key in required:
            out[key] = value
    return out


def _type(schema: dict[str, Any]) -> str | None:
    if "anyOf" in schema:
        for option in schema["anyOf"]:
            if option.get("type") != "null":
                return _type(option)
        return None
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "properties" in schema:
        return "object"
    return kind


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in schema:
        for option in schema["anyOf"]:
            if option.get("type") != "null":
                return {**option, **{k: v for k, v in schema.items() if k != "anyOf"}}
    return schema


def _fill_value(
    key: str,
    prop: dict[str, Any],
    request: str,
    context: str,
    numbers: list[float],
    *,
    lone_string: bool,
) -> Any:
    prop = _resolve(prop)
    kind = _type(prop)
    found = _explicit(key, request, context)
    if "enum" in prop:
        options = list(prop["enum"])
        haystack = (found or request).casefold()
        for option in options:
            if str(option).casefold() in haystack:
                return option
        return prop.get("default", options[0] if options else None)
    if kind == "object":
        return _fill_object(prop, request, context)
    if kind == "array":
        items = _resolve(prop.get("items") or {})
        if _type(items) == "object":
            return [_fill_object(items, request, context)]
        parts = [s.strip() for s in re.split(r",|\band\b", found)] if found else sentences(request)
        return [_coerce(_type(items), p, numbers) for p in parts if p]
    if found is not None:
        return _coerce(kind, found, numbers)
    if "default" in prop:
        return prop["default"]
    if kind in ("integer", "number"):
        return _coerce(kind, None, numbers)
    if kind == "boolean":
        return False
    if kind == "string":
        return request.strip()
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

"""Structured output from any chat model, validated, with one repair attempt.

:func:`structured_call` asks a model for an instance of a pydantic model and
returns it validated, or raises :class:`~mnemos.exceptions.ModelOutputError`;
it never returns a silently wrong value. In order:

1. the model's native structured output (``with_structured_output``: a JSON
   schema grammar for the local model, tool calling or JSON mode for hosted
   ones); a model without it is asked for JSON in the prompt instead;
2. if the native parse failed, the JSON written in the reply's text (bare, in
   a fenced block, or in a tool call's arguments) is validated;
3. if that fails too, the model gets one repair turn: its reply, the
   validation error (or "it was cut off at the token limit") and the schema;
4. then :class:`~mnemos.exceptions.ModelOutputError`, carrying the raw reply
   and the finish reason.

Model calls made here for the system's own purposes should carry the
``"nostream"`` tag (see :func:`internal_config`), so that a LangGraph run
streaming ``messages`` does not show them to the user as answers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config
from pydantic import BaseModel, ValidationError

from mnemos._replies import find_json
from mnemos.exceptions import ModelOutputError, UsageError

__all__ = ["INTERNAL_TAG", "astructured_call", "finish_reason", "internal_config", "structured_call"]

T = TypeVar("T", bound=BaseModel)

INTERNAL_TAG = "nostream"
"""The tag of internal model calls (LangGraph does not stream runs tagged so)."""

_CUT_OFF = ("length", "max_tokens", "MAX_TOKENS")


def internal_config(config: RunnableConfig | None) -> RunnableConfig:
    """``config`` (default: the current run's) tagged as an internal call; callbacks and ids are kept."""
    base: dict[str, Any] = dict(config) if config else dict(ensure_config())
    tags = list(base.get("tags") or [])
    if INTERNAL_TAG not in tags:
        tags.append(INTERNAL_TAG)
    base["tags"] = tags
    return base  # type: ignore[return-value]


def finish_reason(message: BaseMessage | None) -> str | None:
    """Why a model stopped, from its reply's metadata (``"length"`` when it ran out of tokens)."""
    if message is None:
        return None
    meta = getattr(message, "response_metadata", None) or {}
    for key in ("finish_reason", "done_reason", "stop_reason"):
        value = meta.get(key)
        if isinstance(value, str) and value:
            return "length" if value in _CUT_OFF else value
    return None


def structured_call(
    model: BaseChatModel,
    schema: type[T],
    messages: Sequence[BaseMessage] | str,
    *,
    config: RunnableConfig | None = None,
    repair: bool = True,
) -> T:
    """An instance of ``schema`` from ``model`` for ``messages`` (see the module docs).

    Raises :class:`~mnemos.exceptions.ModelOutputError` when the model's reply
    is not a valid ``schema`` even after the repair turn (none with
    ``repair=False``), or when it was cut off by the token limit.
    """
    prompt, native = _setup(model, schema, messages)
    first = _attempt(lambda p: _invoke(native or model, p, config), prompt, schema, native is None)
    if isinstance(first, schema):
        return first
    if not repair:
        raise _failure(schema, first)
    again = _repair_prompt(prompt, schema, first)
    second = _attempt(lambda p: _invoke(native or model, p, config), again, schema, native is None)
    if isinstance(second, schema):
        return second
    raise _failure(schema, second, repaired=True)


async def astructured_call(
    model: BaseChatModel,
    schema: type[T],
    messages: Sequence[BaseMessage] | str,
    *,
    config: RunnableConfig | None = None,
    repair: bool = True,
) -> T:
    """Async :func:`structured_call`."""
    prompt, native = _setup(model, schema, messages)
    first = await _aattempt(native or model, prompt, schema, native is None, config)
    if isinstance(first, schema):
        return first
    if not repair:
        raise _failure(schema, first)
    again = _repair_prompt(prompt, schema, first)
    second = await _aattempt(native or model, again, schema, native is None, config)
    if isinstance(second, schema):
        return second
    raise _failure(schema, second, repaired=True)


# --- the steps ------------------------------------------------------------------------


class _Bad:
    """A failed attempt: what the model wrote, why it was refused, why it stopped."""

    def __init__(self, text: str, error: str, finish: str | None) -> None:
        self.text = text
        self.error = error
        self.finish = finish


def _setup(
    model: BaseChatModel, schema: type[BaseModel], messages: Sequence[BaseMessage] | str
) -> tuple[list[BaseMessage], Runnable[Any, Any] | None]:
    if not isinstance(model, BaseChatModel):
        raise UsageError(f"structured_call needs a LangChain chat model, not {type(model).__name__}")
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise UsageError("structured_call's schema is a pydantic model class")
    prompt: list[BaseMessage] = [HumanMessage(messages)] if isinstance(messages, str) else list(messages)
    if not prompt:
        raise UsageError("structured_call needs at least one message")
    try:
        native: Runnable[Any, Any] | None = model.with_structured_output(schema, include_raw=True)
    except (NotImplementedError, ValueError, TypeError):
        native = None
    if native is None:
        prompt = [*prompt, HumanMessage(_schema_request(schema))]
    return prompt, native


def _invoke(runnable: Runnable[Any, Any], prompt: list[BaseMessage], config: RunnableConfig | None) -> Any:
    return runnable.invoke(prompt, config=config)


def _attempt(call: Any, prompt: list[BaseMessage], schema: type[T], plain: bool) -> T | _Bad:
    try:
        out = call(prompt)
    except ModelOutputError as exc:
        return _Bad(exc.raw, str(exc), exc.finish_reason)
    except (ValueError, ValidationError) as exc:  # a parser inside the model's runnable refused it
        return _Bad(getattr(exc, "llm_output", "") or "", _short(str(exc)), None)
    return _judge(out, schema, plain)


async def _aattempt(
    runnable: Runnable[Any, Any], prompt: list[BaseMessage], schema: type[T], plain: bool,
    config: RunnableConfig | None,
) -> T | _Bad:
    try:
        out = await runnable.ainvoke(prompt, config=config)
    except ModelOutputError as exc:
        return _Bad(exc.raw, str(exc), exc.finish_reason)
    except (ValueError, ValidationError) as exc:
        return _Bad(getattr(exc, "llm_output", "") or "", _short(str(exc)), None)
    return _judge(out, schema, plain)


def _judge(out: Any, schema: type[T], plain: bool) -> T | _Bad:
    """The validated value from one model output, or why there is none."""
    raw: BaseMessage | None
    if plain:
        raw, parsed, error = out, None, None
    elif isinstance(out, dict) and "raw" in out:
        raw, parsed, error = out.get("raw"), out.get("parsed"), out.get("parsing_error")
    else:
        raw, parsed, error = None, out, None
    finish = finish_reason(raw)
    if parsed is not None and error is None:
        try:
            return parsed if isinstance(parsed, schema) else _validate(schema, parsed)
        except (ValueError, ValidationError) as exc:
            error = exc
    text = _reply_text(raw)
    if finish == "length":
        return _Bad(text, "the reply was cut off at the token limit", finish)
    try:
        return _validate(schema, find_json(text))
    except (ValueError, ValidationError) as exc:
        return _Bad(text, _short(str(error or exc)), finish)


def _validate(schema: type[T], value: Any) -> T:
    """``value`` as a ``schema``; an object that names none of its fields is refused
    (with defaults everywhere it would otherwise pass as an empty, wrong value)."""
    fields = set(schema.model_fields) | {f.alias for f in schema.model_fields.values() if f.alias}
    if isinstance(value, dict) and value and fields and not fields & set(value):
        raise ValueError(f"the JSON object has none of the fields {sorted(fields)}")
    return schema.model_validate(value)


def _reply_text(raw: BaseMessage | None) -> str:
    if raw is None:
        return ""
    text = raw.text if isinstance(raw.text, str) else str(raw.content)
    if isinstance(raw, AIMessage) and raw.tool_calls and not text.strip():
        return json.dumps(raw.tool_calls[0]["args"])
    return text


def _schema_request(schema: type[BaseModel]) -> str:
    return (
        "Reply with only a JSON object (no prose, no code fence) that matches this JSON schema:\n"
        + json.dumps(schema.model_json_schema(), separators=(",", ":"))
    )


def _repair_prompt(prompt: list[BaseMessage], schema: type[BaseModel], bad: T | _Bad) -> list[BaseMessage]:
    assert isinstance(bad, _Bad)
    reason = (
        "Your reply was cut off at the token limit: give a shorter answer."
        if bad.finish == "length" else f"Your reply was not valid: {bad.error}"
    )
    return [
        *prompt,
        AIMessage(content=bad.text[:2000] or "(empty reply)"),
        HumanMessage(f"{reason}\n{_schema_request(schema)}"),
    ]


def _failure(schema: type[BaseModel], bad: T | _Bad, *, repaired: bool = False) -> ModelOutputError:
    assert isinstance(bad, _Bad)
    after = " after one repair attempt" if repaired else ""
    return ModelOutputError(
        f"the model did not return a valid {schema.__name__}{after}: {bad.error}",
        raw=bad.text[:2000], finish_reason=bad.finish,
    )


def _short(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

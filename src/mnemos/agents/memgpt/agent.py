"""The MemGPT agent: a chat model, its memory functions, and the virtual context.

A :class:`MemGPTAgent` is a LangChain ``Runnable``, so it is a LangGraph node
(``GraphBuilder().node(agent)``, ``StateGraph.add_node("coder", agent)``) over
a messages state, and it has native sync and async paths (:meth:`~MemGPTAgent.step`
and :meth:`~MemGPTAgent.astep`, ``invoke`` and ``ainvoke``). In an AutoGen team
it is wrapped by :func:`mnemos.graphs.autogen.autogen_agent`.

Its state outside the memory tiers (the in-context queue, the summary of
evicted messages, a heartbeat still owed) is :meth:`~MemGPTAgent.save_state`;
with ``persist=True`` (the default) it is also stored with the agent's memory
after every step and read back when an agent with the same namespace starts,
so a second process continues the conversation where the first left it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Optional

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from mnemos._replies import with_text_tool_calls, without_nul
from mnemos.agents.memgpt.context import (
    ContextEvent,
    Summarizer,
    VirtualContext,
    extractive_summarizer,
    model_summarizer,
)
from mnemos.agents.models import resolve_model
from mnemos.exceptions import UsageError
from mnemos.memory_adapters.base import Capability, MemoryKind, MemoryRecord
from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter, memgpt_tools, send_message_tool

__all__ = ["DEFAULT_INSTRUCTIONS", "STATE_RECORD", "MemGPTAgent"]

DEFAULT_INSTRUCTIONS = """You are a MemGPT agent: a conversational assistant with a memory hierarchy.
Your context window is limited. Older messages are evicted from it (a summary of them stays),
but every message is kept in recall memory, which conversation_search and
conversation_search_date can read. Archival memory is your unlimited long-term store:
archival_memory_insert to save, archival_memory_search to read. Core memory blocks are always
in your context; keep the most important facts about the user and yourself there with
core_memory_append and core_memory_replace.
When you call a function whose result you need before answering, set request_heartbeat: true.
When you receive a memory pressure warning, save important information before it is evicted.
Answer the user in plain text."""

STATE_RECORD = "context_state"
"""``metadata["memgpt"]`` of the record that holds a persisted agent state."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


class MemGPTAgent(Runnable[Any, dict[str, Any]]):
    """A MemGPT agent: each step runs the model with its memory functions,
    chaining calls while it requests heartbeats, inside a virtual context.

    Args:
        model: a LangChain chat model that supports ``bind_tools``, or a model
            spec (``"local:smollm2"``, ``"offline"``; None for the configured one).
        memory: the :class:`~mnemos.memory_adapters.memgpt.MemGPTMemoryAdapter` holding its memory.
        name: the agent's name (a node name, an AutoGen agent name; letters,
            digits, ``_`` and ``-``).
        description: what the agent does, for a team's selector.
        namespace: where its blocks, messages, passages and state live
            (default ``("agents", name)``).
        persona, human: initial core blocks (created once; later edits persist).
        context_window: the prompt budget in tokens.
        warning_fraction: share of the window past which the pressure alert is sent.
        keep_fraction: share of the window the prompt is cut down to on eviction.
        summarizer: ``"model"`` (ask ``model``), ``"extractive"`` (deterministic),
            or a function ``(previous summary, evicted messages) -> summary``.
        max_chained_calls: the most model calls in one step.
        count_tokens: counts a prompt's tokens (default: LangChain's approximation).
        always_call: every reply is a function call, as in MemGPT's original
            design: the agent speaks with ``send_message`` (which ends its turn)
            and the model is bound with ``tool_choice="any"``. For small local
            models, whose replies llama.cpp then constrains to well-formed calls;
            the edit tools accept only the existing core block labels.
        persist: store the in-context state with the memory after every step and
            resume from it on start.
        messages_key: the state key of the messages when run as a graph node.
    """

    name: str
    """The agent's name (always set; LangChain's ``Runnable`` allows None)."""

    def __init__(
        self,
        model: Any,
        memory: MemGPTMemoryAdapter,
        *,
        name: str = "memgpt",
        description: str = "",
        namespace: Sequence[str] | None = None,
        persona: str = "I am a helpful assistant with a long memory.",
        human: str = "",
        instructions: str = DEFAULT_INSTRUCTIONS,
        context_window: int = 8000,
        warning_fraction: float = 0.7,
        keep_fraction: float = 0.5,
        summarizer: Literal["model", "extractive"] | Summarizer = "model",
        max_chained_calls: int = 8,
        count_tokens: Callable[[Sequence[BaseMessage]], int] = count_tokens_approximately,
        always_call: bool = False,
        persist: bool = True,
        messages_key: str = "messages",
    ) -> None:
        if model is None or isinstance(model, str):
            model = resolve_model(model)
        if not hasattr(model, "bind_tools"):
            raise UsageError("a MemGPT agent needs a chat model with tool calling (bind_tools)")
        if not isinstance(memory, MemGPTMemoryAdapter):
            raise UsageError(
                f"a MemGPT agent keeps its memory in a MemGPTMemoryAdapter, not {type(memory).__name__}"
            )
        if not isinstance(name, str) or not _NAME.match(name):
            raise UsageError(f"a MemGPT agent's name is a word (letters, digits, _ and -), not {name!r}")
        self.name = name
        self.description = description or f"a MemGPT agent with core, recall and archival memory ({name})"
        self.memory = memory
        self.namespace = tuple(namespace) if namespace is not None else ("agents", name)
        self.messages_key = messages_key
        self.persist = persist
        memory.define_block(self.namespace, "persona", persona)
        memory.define_block(self.namespace, "human", human)
        self.always_call = always_call
        if always_call and instructions == DEFAULT_INSTRUCTIONS:
            instructions = instructions.replace(
                "Answer the user in plain text.",
                "Every reply of yours is a function call: answer the user with send_message.",
            )
        self._chat = model
        if always_call:
            labels = sorted(memory.core_blocks(self.namespace))
            self.tools: list[BaseTool] = [
                *memgpt_tools(memory, self.namespace, labels=labels), send_message_tool()
            ]
            self._model = model.bind_tools(self.tools, tool_choice="any")
        else:
            self.tools = memgpt_tools(memory, self.namespace)
            self._model = model.bind_tools(self.tools)
        self._tools = {t.name: t for t in self.tools}
        schemas = json.dumps([convert_to_openai_tool(t) for t in self.tools])
        if summarizer == "model":
            summarize = model_summarizer(model)
        elif summarizer == "extractive":
            summarize = extractive_summarizer()
        elif callable(summarizer):
            summarize = summarizer
        else:
            raise UsageError(f"summarizer is 'model', 'extractive' or a function, not {summarizer!r}")
        if not 0 < keep_fraction < warning_fraction < 1:
            raise UsageError("need 0 < keep_fraction < warning_fraction < 1")
        self.context = VirtualContext(
            memory,
            self.namespace,
            instructions=instructions,
            context_window=context_window,
            summarize=summarize,
            warning_fraction=warning_fraction,
            keep_fraction=keep_fraction,
            reserved_tokens=len(schemas) // 4,
            count_tokens=count_tokens,
        )
        self.max_chained_calls = max_chained_calls
        self.heartbeat_pending = False
        """The last step stopped at ``max_chained_calls`` while the model asked for a heartbeat."""
        self.heartbeats = 0
        """Model calls made because a function call requested a heartbeat (over the agent's life)."""
        self._forced: list[str] = []
        self.last_messages: list[BaseMessage] = []
        """What the last step put in the context: the new messages, the model's answers, the results."""
        fixed = self.context.tokens()
        if fixed > keep_fraction * context_window:
            raise UsageError(
                f"context_window={context_window} is too small: the instructions, core memory "
                f"and tool schemas alone take {fixed} tokens (more than keep_fraction of it)"
            )
        if persist:
            saved = self._saved_record()
            if saved is not None:
                self.load_state(json.loads(saved.content), store=False)

    @property
    def events(self) -> list[ContextEvent]:
        """What the virtual context did so far (pressure alerts, evictions)."""
        return list(self.context.events)

    def force_calls(self, *names: str) -> None:
        """Make the next model calls call these functions, in order (``tool_choice``).

        For small models that rarely choose a memory function themselves: the
        model still writes the arguments. A forced call gets a heartbeat, so
        the agent goes on (and answers) after it.
        """
        unknown = [n for n in names if n not in self._tools]
        if unknown:
            raise UsageError(f"no function named {', '.join(map(repr, unknown))}; the functions are: "
                             f"{', '.join(self._tools)}")
        self._forced.extend(names)

    # -- one step -----------------------------------------------------------------------

    def step(
        self,
        messages: str | BaseMessage | Sequence[BaseMessage | str] | None = None,
        config: RunnableConfig | None = None,
    ) -> str:
        """Take new messages (a user text, a message, or several; None continues an owed
        heartbeat) and run the agent; return its reply ("" if it ended on a call).

        ``config`` (a LangGraph node's run config, say) goes to every model and
        function call, so their callbacks, tags and streaming work as in any
        LangChain runnable (``stream_mode="messages"`` shows the model's replies).
        """
        if not self._take(messages, config):
            return ""
        reply = ""
        for i in range(self.max_chained_calls):
            model, forced = self._next_model(last=i == self.max_chained_calls - 1)
            answer = self._answer(model.invoke(self.context.messages(), config))
            if not answer.tool_calls:
                reply, done = answer.text, True
            else:
                results = [self._run(call, config) for call in answer.tool_calls]
                reply, done = self._after_calls(answer, results, forced, config)
            if done:
                self.heartbeat_pending = False
                break
            self.heartbeats += 1
        else:
            self.heartbeat_pending = True
        self._finish(config)
        return reply

    async def astep(
        self,
        messages: str | BaseMessage | Sequence[BaseMessage | str] | None = None,
        config: RunnableConfig | None = None,
    ) -> str:
        """Async :meth:`step`: the model runs natively async, memory and functions in a thread."""
        if not await asyncio.to_thread(self._take, messages, config):
            return ""
        reply = ""
        for i in range(self.max_chained_calls):
            model, forced = self._next_model(last=i == self.max_chained_calls - 1)
            prompt = await asyncio.to_thread(self.context.messages)
            answer = await asyncio.to_thread(self._answer, await model.ainvoke(prompt, config))
            if not answer.tool_calls:
                reply, done = answer.text, True
            else:
                results = [await asyncio.to_thread(self._run, call, config) for call in answer.tool_calls]
                reply, done = await asyncio.to_thread(self._after_calls, answer, results, forced, config)
            if done:
                self.heartbeat_pending = False
                break
            self.heartbeats += 1
        else:
            self.heartbeat_pending = True
        await asyncio.to_thread(self._finish, config)
        return reply

    def _take(
        self, messages: str | BaseMessage | Sequence[BaseMessage | str] | None, config: RunnableConfig | None = None
    ) -> bool:
        """Queue the new messages; False when there is nothing to do."""
        if messages is None:
            if not self.heartbeat_pending:
                return False
            self.last_messages = []
        else:
            items = [messages] if isinstance(messages, (str, BaseMessage)) else list(messages)
            taken = [m for m in (self._incoming(x) for x in items) if m is not None]
            if not taken:
                raise UsageError("a MemGPT step needs a message with text")
            for message in taken:
                self.context.append(message)
            self.last_messages = list(taken)
            self.heartbeat_pending = False
        self.context.check_pressure(config=config)
        return True

    def _incoming(self, item: BaseMessage | str) -> BaseMessage | None:
        """A message from outside as the agent reads it: others' words are user messages
        that carry the speaker's name; tool traffic of other agents is left out."""
        if isinstance(item, str):
            return HumanMessage(content=item) if item.strip() else None
        if not isinstance(item, BaseMessage):
            raise UsageError(f"a MemGPT step takes texts and messages, not {type(item).__name__}")
        text = item.text
        if isinstance(item, ToolMessage) or not text.strip():
            return None
        if isinstance(item, HumanMessage):
            return HumanMessage(content=text, name=item.name) if item.name else HumanMessage(content=text)
        speaker = item.name or ("system" if isinstance(item, SystemMessage) else "assistant")
        return HumanMessage(content=f"{speaker}: {text}", name=speaker)

    def _next_model(self, *, last: bool) -> tuple[Any, bool]:
        if not self._forced:
            if last and self.always_call:  # the last call of a step speaks, so a step always answers
                return self._chat.bind_tools(self.tools, tool_choice="send_message"), False
            return self._model, False
        # a forced call is for a weak model: its edit functions name only real blocks
        labels = sorted(self.memory.core_blocks(self.namespace))
        tools = memgpt_tools(self.memory, self.namespace, labels=labels)
        if self.always_call:
            tools.append(send_message_tool())
        return self._chat.bind_tools(tools, tool_choice=self._forced.pop(0)), True

    def _answer(self, answer: Any) -> AIMessage:
        if not isinstance(answer, AIMessage):
            answer = AIMessage(content=str(getattr(answer, "content", answer)))
        answer = with_text_tool_calls(without_nul(answer), self._tools)  # calls written as JSON text
        self.context.append(answer)
        self.last_messages.append(answer)
        return answer

    def _after_calls(
        self, answer: AIMessage, results: list[tuple[str, bool]], forced: bool, config: RunnableConfig | None = None
    ) -> tuple[str, bool]:
        """Log the calls' results; return the reply so far and whether the turn is over."""
        heartbeat, sent = forced, None
        for call, (result, ok) in zip(answer.tool_calls, results, strict=True):
            message = ToolMessage(content=result, tool_call_id=call["id"] or "", name=call["name"])
            self.context.append(message)
            self.last_messages.append(message)
            if call["name"] == "send_message" and ok:
                sent = str(call["args"].get("message", ""))
            heartbeat = heartbeat or not ok or bool(call["args"].get("request_heartbeat"))
        self.context.check_pressure(warn=False, config=config)
        if sent is not None:
            return sent, True
        return "", not heartbeat

    def _finish(self, config: RunnableConfig | None = None) -> None:
        self.context.check_pressure(warn=False, config=config)
        if self.persist:
            self._store(self.save_state())

    def _run(self, call: Any, config: RunnableConfig | None = None) -> tuple[str, bool]:
        tool = self._tools.get(call["name"])
        if tool is None:
            return f"Error: no function named {call['name']!r}", False
        try:
            result = str(tool.invoke(call["args"], config))
        except Exception as exc:  # bad arguments from the model: tell it, as MemGPT does
            return f"Error: {exc}", False
        return result, not result.startswith("Error:")

    # -- as a graph node ----------------------------------------------------------------

    def _new_messages(self, input: Any) -> list[BaseMessage | str]:
        """The messages of a state the agent has not seen: those after its own last reply."""
        if isinstance(input, (str, BaseMessage)):
            return [input]
        if isinstance(input, Mapping):
            messages = input.get(self.messages_key)
        elif isinstance(input, Sequence):
            messages = input
        else:
            messages = getattr(input, self.messages_key, None)
        if not isinstance(messages, Sequence) or isinstance(messages, str):
            raise UsageError(f"MemGPT agent {self.name!r} reads a {self.messages_key!r} list from the state")
        items = list(messages)
        for i in range(len(items) - 1, -1, -1):
            if isinstance(items[i], AIMessage) and items[i].name == self.name:
                return items[i + 1 :]
        return items

    def _update(self, reply: str) -> dict[str, Any]:
        if not reply:
            return {self.messages_key: []}
        # the model's own answer keeps its id, so LangGraph's "messages" stream shows it once
        said = next((m for m in reversed(self.last_messages) if isinstance(m, AIMessage) and not m.tool_calls
                     and m.text == reply), None)
        return {self.messages_key: [AIMessage(content=reply, name=self.name, id=said.id if said else None)]}

    def invoke(
        self, input: Any, config: Optional[RunnableConfig] = None, **kwargs: Any  # noqa: UP045
    ) -> dict[str, Any]:
        """Run one step on the new messages of a state; return ``{messages_key: [reply]}``."""
        return self._update(self.step(self._new_messages(input), config))

    async def ainvoke(
        self, input: Any, config: Optional[RunnableConfig] = None, **kwargs: Any  # noqa: UP045
    ) -> dict[str, Any]:
        """Async :meth:`invoke`."""
        return self._update(await self.astep(self._new_messages(input), config))

    # -- state --------------------------------------------------------------------------

    def save_state(self) -> dict[str, Any]:
        """The agent's state outside the memory tiers, as JSON: the in-context queue,
        the summary, the pressure flag, and the heartbeats (owed and counted)."""
        return {
            "agent": self.name,
            "context": self.context.state(),
            "heartbeat_pending": self.heartbeat_pending,
            "heartbeats": self.heartbeats,
        }

    def load_state(self, state: Mapping[str, Any], *, store: bool = True) -> None:
        """Put back a :meth:`save_state` (and, with ``persist``, store it with the memory)."""
        if not isinstance(state, Mapping) or "context" not in state:
            raise UsageError(f"not a MemGPT agent state: {str(state)[:120]!r}")
        self.context.restore(state["context"])
        self.heartbeat_pending = bool(state.get("heartbeat_pending", False))
        self.heartbeats = int(state.get("heartbeats", 0))
        if store and self.persist:
            self._store(self.save_state())

    def reset(self) -> None:
        """Empty the in-context queue and the summary; the memory tiers are kept."""
        self.context.restore({"version": self.context.state()["version"], "queue": []})
        self.heartbeat_pending = False
        self._forced.clear()
        if self.persist:
            self._store(self.save_state())

    def _saved_record(self) -> MemoryRecord | None:
        found = self.memory.list(namespace=(*self.namespace, "context"), kinds=MemoryKind.PROCEDURAL,
                                 filter={"memgpt": STATE_RECORD}, limit=1)
        return found[0] if found else None

    def _store(self, state: Mapping[str, Any]) -> None:
        content = json.dumps(state, ensure_ascii=False)
        saved = self._saved_record()
        if saved is not None and Capability.DELETE not in self.memory.capabilities:
            self.memory.update(saved.id, content=content)
            return
        if saved is not None:
            self.memory.delete(saved.id)  # not an update: a state has no use for its history
        self.memory.add(content, namespace=(*self.namespace, "context"), kind=MemoryKind.PROCEDURAL,
                        metadata={"memgpt": STATE_RECORD}, importance=0.0, dedup=False)

    def __repr__(self) -> str:
        return f"<MemGPTAgent {self.name!r} namespace={self.namespace}>"

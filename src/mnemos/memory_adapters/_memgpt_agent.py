"""The MemGPT agent loop: a chat model, its memory tools, and the virtual context."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from mnemos._replies import with_text_tool_calls
from mnemos.exceptions import UsageError
from mnemos.memory_adapters._memgpt_context import (
    ContextEvent,
    Summarizer,
    VirtualContext,
    extractive_summarizer,
    model_summarizer,
)
from mnemos.memory_adapters._memgpt_tools import memgpt_tools

if TYPE_CHECKING:
    from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter

__all__ = ["DEFAULT_INSTRUCTIONS", "MemGPTAgent"]

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


class MemGPTAgent:
    """A MemGPT agent: each :meth:`step` runs the model with its memory tools,
    chaining calls while it requests heartbeats, inside a virtual context.

    Args:
        model: a LangChain chat model that supports ``bind_tools``.
        memory: the :class:`MemGPTMemoryAdapter` holding its memory.
        namespace: where this agent's blocks, messages and passages live.
        persona, human: initial core blocks (created once; later edits persist).
        context_window: the prompt budget in tokens.
        warning_fraction: share of the window past which the pressure alert is sent.
        keep_fraction: share of the window the prompt is cut down to on eviction.
        summarizer: ``"model"`` (ask ``model``), ``"extractive"`` (deterministic),
            or a function ``(previous summary, evicted messages) -> summary``.
        max_chained_calls: the most model calls in one step.
        count_tokens: counts a prompt's tokens (default: LangChain's approximation).
    """

    def __init__(
        self,
        model: Any,
        memory: MemGPTMemoryAdapter,
        *,
        namespace: Sequence[str] = ("agents", "memgpt"),
        persona: str = "I am a helpful assistant with a long memory.",
        human: str = "",
        instructions: str = DEFAULT_INSTRUCTIONS,
        context_window: int = 8000,
        warning_fraction: float = 0.7,
        keep_fraction: float = 0.5,
        summarizer: Literal["model", "extractive"] | Summarizer = "model",
        max_chained_calls: int = 8,
        count_tokens: Callable[[Sequence[BaseMessage]], int] = count_tokens_approximately,
    ) -> None:
        if not hasattr(model, "bind_tools"):
            raise UsageError("a MemGPT agent needs a chat model with tool calling (bind_tools)")
        self.memory = memory
        self.namespace = tuple(namespace)
        memory.define_block(self.namespace, "persona", persona)
        memory.define_block(self.namespace, "human", human)
        self.tools: list[BaseTool] = memgpt_tools(memory, self.namespace)
        self._tools = {t.name: t for t in self.tools}
        self._model = model.bind_tools(self.tools)
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
        fixed = self.context.tokens()
        if fixed > keep_fraction * context_window:
            raise UsageError(
                f"context_window={context_window} is too small: the instructions, core memory "
                f"and tool schemas alone take {fixed} tokens (more than keep_fraction of it)"
            )

    @property
    def events(self) -> list[ContextEvent]:
        """What the virtual context did so far (pressure alerts, evictions)."""
        return list(self.context.events)

    def step(self, user_message: str) -> str:
        """Handle one user message; return the agent's reply ("" if it ended on a call)."""
        context = self.context
        context.append(HumanMessage(content=user_message))
        context.check_pressure()
        reply = ""
        for _ in range(self.max_chained_calls):
            answer = self._model.invoke(context.messages())
            if not isinstance(answer, AIMessage):
                answer = AIMessage(content=str(getattr(answer, "content", answer)))
            answer = with_text_tool_calls(answer, self._tools)  # calls written as JSON text
            context.append(answer)
            if not answer.tool_calls:
                reply = answer.text
                break
            heartbeat = False
            for call in answer.tool_calls:
                result, ok = self._run(call)
                context.append(ToolMessage(content=result, tool_call_id=call["id"] or "", name=call["name"]))
                heartbeat = heartbeat or not ok or bool(call["args"].get("request_heartbeat"))
            context.check_pressure(warn=False)
            if not heartbeat:
                break
        context.check_pressure(warn=False)
        return reply

    def _run(self, call: Any) -> tuple[str, bool]:
        tool = self._tools.get(call["name"])
        if tool is None:
            return f"Error: no function named {call['name']!r}", False
        try:
            result = str(tool.invoke(call["args"]))
        except Exception as exc:  # bad arguments from the model: tell it, as MemGPT does
            return f"Error: {exc}", False
        return result, not result.startswith("Error:")

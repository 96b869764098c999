"""How an agent runs the tools its model asks for: through LangGraph's own ``ToolNode``.

The agent's tool loop hands each step's tool calls to a ``ToolNode`` (one per
agent), so a tool behaves inside an :class:`~mnemos.agents.Agent` as it does
in a LangGraph ReAct graph:

- injected arguments are injected: ``InjectedState`` (the state, or one key of
  it, with the turn's messages so far), ``InjectedStore`` (the graph's store),
  ``InjectedToolCallId`` and ``ToolRuntime``;
- LangGraph's control flow passes through: ``interrupt()`` in a tool pauses
  the graph, ``ParentCommand`` and the rest of the ``GraphBubbleUp`` family
  propagate;
- a tool may return a ``Command``, checked as ``ToolNode`` checks it; what it
  means for the agent's turn is collected in a :class:`TurnRecord`.

Other failures become error tool messages for the model
(``Error: <type>: <message>``), and :class:`~mnemos.agents.ToolLimits` apply:
the timeout around each call (a synchronous tool runs in a daemon thread, so a
hung one never blocks the process's exit) and the cap on each result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage, convert_to_messages
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.graph import Graph
from langchain_core.tools import BaseTool
from langgraph.prebuilt import ToolNode
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.runtime import Runtime
from langgraph.types import Command

from mnemos._replies import with_text_tool_calls, without_nul
from mnemos.agents._identity import _RUNTIME_KEY
from mnemos.agents.tool_limits import ToolLimits, _in_daemon_thread, _natively_async, cap_result
from mnemos.exceptions import ToolTimeoutError, UsageError

__all__ = [
    "TurnRecord",
    "arun_tools",
    "describe_error",
    "make_tool_node",
    "named_reply",
    "run_tools",
    "stopped_reply",
    "with_tools_node",
]


ToolResult = ToolMessage | Command | list[Any]


def named_reply(reply: Any, name: str, tools: Mapping[str, BaseTool]) -> AIMessage:
    """The model's reply as the agent's message: named, with an id, and with the tool calls some
    models write as JSON text made real calls."""
    if not isinstance(reply, AIMessage):
        raise UsageError(f"the model of agent {name!r} returned {type(reply).__name__}, not a message")
    reply = with_text_tool_calls(without_nul(reply), tools)
    return reply.model_copy(update={"name": name, "id": reply.id or str(uuid.uuid4())})


def stopped_reply(name: str, max_steps: int) -> AIMessage:
    """The agent's last word when its model still called tools after ``max_steps`` steps."""
    return AIMessage(content=f"I stopped after {max_steps} tool steps without a final answer.",
                     name=name, id=str(uuid.uuid4()))


def describe_error(exc: Exception) -> str:
    """A failed tool call as the model reads it: ``Error: <type>: <message>``."""
    return f"Error: {type(exc).__name__}: {exc}"


class _SyncInDaemonThread:
    """A synchronous tool awaited from async code: it runs in a daemon thread, not the loop's executor."""

    def __init__(self, tool: BaseTool) -> None:
        self.tool = tool
        self.name = tool.name

    async def ainvoke(self, payload: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await asyncio.wrap_future(_in_daemon_thread(lambda: self.tool.invoke(payload, config=config)))


def _capped(result: ToolResult, limits: ToolLimits) -> ToolResult:
    return cap_result(result, limits) if isinstance(result, ToolMessage) else result


def make_tool_node(tools: Sequence[BaseTool], limits: ToolLimits, *, messages_key: str = "messages",
                   name: str = "tools") -> ToolNode:
    """A ``ToolNode`` for ``tools`` that reports failures to the model and applies ``limits``."""

    def wrap(request: ToolCallRequest, execute: Callable[[ToolCallRequest], ToolResult]) -> ToolResult:
        if limits.timeout is None or request.tool is None:
            return _capped(execute(request), limits)
        future = _in_daemon_thread(lambda: execute(request))
        try:
            return _capped(future.result(timeout=limits.timeout), limits)
        except concurrent.futures.TimeoutError:
            raise ToolTimeoutError(request.tool.name, limits.timeout) from None

    async def awrap(request: ToolCallRequest, execute: Callable[[ToolCallRequest], Awaitable[ToolResult]]) -> ToolResult:
        tool = request.tool
        if tool is not None and not _natively_async(tool):
            request = request.override(tool=_SyncInDaemonThread(tool))  # type: ignore[arg-type]
        if limits.timeout is None or tool is None:
            return _capped(await execute(request), limits)
        try:
            return _capped(await asyncio.wait_for(execute(request), limits.timeout), limits)
        except TimeoutError:
            raise ToolTimeoutError(tool.name, limits.timeout) from None

    return ToolNode(list(tools), name=name, messages_key=messages_key, handle_tool_errors=describe_error,
                    wrap_tool_call=wrap, awrap_tool_call=awrap)  # type: ignore[arg-type]


def with_tools_node(graph: Graph, agent_name: str, node: ToolNode) -> Graph:
    """``graph`` (an agent's drawing) with a ``tools`` node holding ``node``, as a ReAct graph draws it;
    ``langgraph-swarm`` reads an agent's handoff destinations from that node."""
    me = next((n for n in graph.nodes.values() if n.name == agent_name), None)
    if me is None or not node.tools_by_name or "tools" in graph.nodes:
        return graph
    tools = graph.add_node(node, id="tools")
    graph.add_edge(me, tools, conditional=True)
    graph.add_edge(tools, me)
    return graph


def _runtime(config: RunnableConfig | None, context: Any) -> Runtime[Any] | None:
    """The graph run's runtime (store, context, stream writer); outside a graph, one with ``context``."""
    configurable = (config or {}).get("configurable") or {}
    if configurable.get(_RUNTIME_KEY) is not None:
        return None  # ToolNode reads it from the config itself
    return Runtime(context=context)


def run_tools(node: ToolNode, state: Any, config: RunnableConfig | None, context: Any = None) -> Any:
    """Run the tool calls of the latest AI message of ``state`` (a ``ToolNode`` input)."""
    runtime = _runtime(config, context)
    extra = {"runtime": runtime} if runtime is not None else {}
    return node.invoke(state, config, **extra)


async def arun_tools(node: ToolNode, state: Any, config: RunnableConfig | None, context: Any = None) -> Any:
    """Async :func:`run_tools`."""
    runtime = _runtime(config, context)
    extra = {"runtime": runtime} if runtime is not None else {}
    return await node.ainvoke(state, config, **extra)


@dataclass
class TurnRecord:
    """What an agent's turn has produced so far, tool steps included.

    ``new`` are the turn's messages (the model's replies, the tool messages,
    and the messages of a ``Command`` addressed to the current graph);
    ``updates`` the other state keys the tools' commands set; a ``goto`` or a
    ``Command.PARENT`` (its messages are ``outward``) makes the turn
    ``leaves``: the agent's node then ends it and returns a ``Command`` to the
    graph it runs in.
    """

    new: list[BaseMessage] = field(default_factory=list)
    updates: dict[str, Any] = field(default_factory=dict)
    goto: list[Any] = field(default_factory=list)
    outward: list[BaseMessage] = field(default_factory=list)
    leaves: bool = False

    def take(self, output: Any, messages_key: str) -> None:
        """Add a ``ToolNode``'s output (a state update, or a list of updates and commands)."""
        for item in output if isinstance(output, list) else [output]:
            if isinstance(item, Command):
                self._command(item, messages_key)
            elif isinstance(item, Mapping):
                self.new.extend(convert_to_messages(item.get(messages_key) or []))
            else:
                raise UsageError(f"a tool step produced {type(item).__name__}, not a state update or a Command")

    @property
    def leaving(self) -> tuple[list[Any], list[BaseMessage]] | None:
        """``(gotos, outward messages)`` when a tool's command ended the turn, else None."""
        return (self.goto, self.outward) if self.leaves else None

    def _command(self, command: Command, messages_key: str) -> None:
        outward = command.graph is not None
        update = command.update
        pairs: Sequence[tuple[str, Any]]
        if update is None:
            pairs = ()
        elif isinstance(update, Mapping):
            pairs = list(update.items())
        elif isinstance(update, (list, tuple)) and all(isinstance(p, tuple) and len(p) == 2 for p in update):
            pairs = list(update)
        else:
            raise UsageError(f"a tool's Command.update is a dict of state keys, not {type(update).__name__}")
        for key, value in pairs:
            if key == messages_key:
                found = convert_to_messages(value if isinstance(value, list) else [value])
                (self.outward if outward else self.new).extend(found)
            elif key in self.updates and isinstance(self.updates[key], list) and isinstance(value, list):
                self.updates[key] = [*self.updates[key], *value]
            else:
                self.updates[key] = value
        goto = command.goto
        if goto:
            self.goto.extend(goto if isinstance(goto, (list, tuple)) else [goto])
        self.leaves = self.leaves or outward or bool(goto)

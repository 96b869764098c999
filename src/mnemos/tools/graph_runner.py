"""Graphs by name, run on persistent threads (used by ``graph_run`` over MCP).

Any LangGraph graph can be registered: a compiled graph (what
``StateGraph.compile()`` or the mnemos builder return) or an uncompiled
``StateGraph``. Each run gets a SQLite checkpointer, so a thread id continues
the same conversation across calls and server restarts.

A run passes values to the graph through ``config["configurable"]``:
``mnemos_principal`` (who is calling), ``user_id`` (the same principal, so
mnemos agents in the graph remember per caller and the thread belongs to it)
and ``mnemos_memory`` (that principal's scoped memory view, when the caller
has one). A node that wants per-caller memory reads them from its ``config``
argument.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from langchain_core.messages import BaseMessage, convert_to_messages
from pydantic import BaseModel, ConfigDict

from mnemos.exceptions import ConfigurationError, UsageError
from mnemos.memory_adapters.base import BaseMemoryAdapter
from mnemos.tools.registry import load_object

__all__ = ["GraphRegistry", "GraphRunOut", "MessageOut", "default_checkpoint_path", "principal_thread_key"]


def principal_thread_key(principal: str, thread_id: str) -> str:
    """The checkpoint thread id of ``thread_id`` for ``principal``: ``mcp/<principal>/<thread>``.

    Both parts are percent-encoded (every character but letters, digits and
    ``_.-~``), so the encoded parts hold no ``/`` and the key names exactly
    one (principal, thread) pair: principal ``acme`` with thread ``bot:t``
    and principal ``acme:bot`` with thread ``t`` get different keys.
    """
    if not isinstance(principal, str) or not principal:
        raise UsageError("a principal is a non-empty string")
    return f"mcp/{quote(principal, safe='')}/{quote(thread_id, safe='')}"


def default_checkpoint_path() -> Path:
    """Where graph threads are checkpointed unless told otherwise: ``$MNEMOS_HOME/checkpoints.db``.

    The same file :mod:`mnemos.graphs` uses, so ``mnemos run`` and ``graph_run`` share threads.
    """
    from mnemos.graphs.checkpoint import default_checkpoint_path as graphs_default

    return graphs_default()


class MessageOut(BaseModel):
    """One message of a graph's final state."""

    model_config = ConfigDict(frozen=True)

    role: str
    content: str
    name: str | None = None
    tool_calls: list[dict[str, Any]] = []


class GraphRunOut(BaseModel):
    """The result of running a graph on a thread."""

    model_config = ConfigDict(frozen=True)

    graph: str
    thread_id: str
    messages: list[MessageOut]
    output: dict[str, Any]
    """The final state's other values (JSON-safe; other objects as text)."""
    interrupted: bool
    """True when the graph stopped at a human-in-the-loop interrupt."""
    next: list[str]
    """The nodes that run when the thread continues."""
    interrupts: list[Any] = []
    """What the graph asked at its interrupts; answer with ``resume``."""


@dataclass(kw_only=True, frozen=True)
class _Entry:
    graph: Any
    source: str | None


class GraphRegistry:
    """Named LangGraph graphs and where their threads are checkpointed.

    ``checkpoint_path`` is a SQLite file or a checkpoint location
    (``postgresql://...`` for several server processes sharing threads; see
    :mod:`mnemos.graphs.checkpoint`); default ``$MNEMOS_HOME/checkpoints.db``.
    """

    def __init__(self, *, checkpoint_path: str | Path | None = None) -> None:
        self._graphs: dict[str, _Entry] = {}
        self._location: str | None = None
        self._path: Path | None = None
        if isinstance(checkpoint_path, str) and "://" in checkpoint_path:
            self._location = checkpoint_path
        elif checkpoint_path:
            self._path = Path(checkpoint_path)

    @property
    def checkpoint_path(self) -> Path:
        """The SQLite file of the threads (for a PostgreSQL location, a ``UsageError``)."""
        if self._location is not None:
            raise UsageError(f"threads are checkpointed at {self._location.split('://')[0]}://..., not in a file")
        return self._path or default_checkpoint_path()

    @property
    def checkpoints(self) -> str:
        """The checkpoint location: a SQLite file path or a ``postgresql://`` URL."""
        return self._location if self._location is not None else str(self.checkpoint_path)

    def register(self, name: str, graph: Any, *, source: str | None = None) -> None:
        """Add a compiled graph or a ``StateGraph`` under ``name``."""
        if not isinstance(name, str) or not name.strip() or "/" in name:
            raise UsageError(f"a graph name is a non-empty string without '/', got {name!r}")
        if name in self._graphs:
            raise UsageError(f"a graph named {name!r} is already registered")
        if not (_is_compiled(graph) or hasattr(graph, "compile")):
            where = f" ({source})" if source else ""
            raise UsageError(
                f"graph {name!r}{where} is a {type(graph).__name__}, not a LangGraph graph"
            )
        self._graphs[name] = _Entry(graph=graph, source=source)

    def register_spec(self, spec: str) -> str:
        """Register ``"name=package.module:attribute"``; return the name."""
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigurationError(f"expected 'name=package.module:attribute', got {spec!r}")
        graph = load_object(path.strip())
        self.register(name.strip(), graph, source=path.strip())
        return name.strip()

    def get(self, name: str) -> Any:
        try:
            return self._graphs[name].graph
        except KeyError:
            known = ", ".join(sorted(self._graphs)) or "none"
            raise UsageError(f"no graph named {name!r}; registered graphs: {known}") from None

    def names(self) -> list[str]:
        return list(self._graphs)

    def __contains__(self, name: object) -> bool:
        return name in self._graphs

    def __iter__(self) -> Iterator[str]:
        return iter(self._graphs)

    def __len__(self) -> int:
        return len(self._graphs)

    def mermaid(self, name: str) -> str:
        """The graph's Mermaid diagram (from LangGraph's ``get_graph().draw_mermaid()``)."""
        graph = self.get(name)
        compiled = graph if _is_compiled(graph) else graph.compile()
        text: str = compiled.get_graph().draw_mermaid()
        return text

    async def run(
        self,
        name: str,
        input: str | Mapping[str, Any] | None = None,
        *,
        thread_id: str,
        resume: Any = None,
        principal: str | None = None,
        memory: BaseMemoryAdapter | None = None,
        on_step: Callable[[str], Awaitable[None]] | None = None,
    ) -> GraphRunOut:
        """Run graph ``name`` on ``thread_id`` with its checkpointer; return the final state.

        A string ``input`` is sent as one user message (``{"messages": [...]}``);
        a mapping is the graph's input state as is. ``resume`` (instead of
        ``input``) answers the interrupt a thread stopped at (LangGraph's
        ``Command(resume=...)``). Thread ids are kept apart per principal
        (:func:`principal_thread_key`): two principals using the same thread
        id never share it; the principal is also the run's ``user_id``.
        ``on_step(node)`` is awaited after each node's step (for progress).
        """
        from langgraph.types import Command

        from mnemos.graphs.checkpoint import aopen_checkpointer
        from mnemos.graphs.thread_owners import bind_threads_to_users

        graph = self.get(name)
        if not isinstance(thread_id, str) or not thread_id.strip():
            raise UsageError("thread_id is a non-empty string")
        if (input is None) == (resume is None):
            raise UsageError("give either input (a new turn) or resume (the answer to an interrupt)")
        state: Any
        if resume is not None:
            state = Command(resume=resume)
        elif isinstance(input, str):
            if not input.strip():
                raise UsageError("input is empty")
            state = {"messages": [{"role": "user", "content": input}]}
        elif isinstance(input, Mapping):
            state = dict(input)
        else:
            raise UsageError(f"input is a message text or a state object, not {type(input).__name__}")

        stored_thread = principal_thread_key(principal, thread_id) if principal is not None else thread_id
        configurable: dict[str, Any] = {"thread_id": stored_thread}
        if principal is not None:
            # the principal is the run's user: its agents remember under users/<principal>
            # and the thread belongs to it (mnemos.graphs.thread_owners)
            configurable["mnemos_principal"] = principal
            configurable["user_id"] = principal
        if memory is not None:
            configurable["mnemos_memory"] = memory
        config: Any = {"configurable": configurable}

        if self._location is None:
            self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        async with aopen_checkpointer(self.checkpoints) as saver:
            bound = bind_threads_to_users(saver)
            runnable = (
                graph.copy(update={"checkpointer": bound})
                if _is_compiled(graph)
                else graph.compile(checkpointer=bound)
            )
            if resume is not None and not (await runnable.aget_state(config)).next:
                raise UsageError(f"thread {thread_id!r} of graph {name!r} is not waiting at an interrupt")
            if on_step is None:
                await runnable.ainvoke(state, config)
            else:
                async for chunk in runnable.astream(state, config, stream_mode="updates"):
                    for node in chunk:
                        await on_step(str(node))
            snapshot = await runnable.aget_state(config)
        values = snapshot.values if isinstance(snapshot.values, Mapping) else {}
        return GraphRunOut(
            graph=name,
            thread_id=thread_id,
            messages=_messages_out(values.get("messages", [])),
            output={k: _json_safe(v) for k, v in values.items() if k != "messages"},
            interrupted=bool(snapshot.next),
            next=list(snapshot.next),
            interrupts=[_json_safe(i.value) for i in snapshot.interrupts],
        )


def _is_compiled(graph: Any) -> bool:
    from langgraph.pregel import Pregel

    return isinstance(graph, Pregel)


def _messages_out(raw: Any) -> list[MessageOut]:
    try:
        messages: list[BaseMessage] = convert_to_messages(raw or [])
    except (ValueError, TypeError, NotImplementedError):
        return []
    out = []
    for m in messages:
        content = m.content if isinstance(m.content, str) else json.dumps(m.content, default=str)
        calls = [dict(c) for c in getattr(m, "tool_calls", None) or []]
        out.append(
            MessageOut(role=m.type, content=content, name=m.name, tool_calls=_json_safe(calls))
        )
    return out


def _json_safe(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)

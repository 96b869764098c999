"""Built-in memory tools for agents: remember, recall, forget, list_namespaces.

``memory_tools(adapter)`` returns LangChain tools bound to one adapter (scope
the adapter first: an agent sees only what its adapter's scope allows)::

    tools = memory_tools(memory.scoped("agents", "planner"))
    agent = Agent("planner", ..., tools=tools)

or share one tool set between users, with the namespace filled at each call
from the run (``config["configurable"]["user_id"]`` or LangGraph's runtime
context); each user's calls are confined to that user's namespace::

    tools = memory_tools(memory, namespace=("users", "{user_id}", "notes"))

Each tool has a typed (pydantic) argument schema and returns JSON with the
memory ids, and for ``recall`` the scores and the reasons behind them.
Mistakes (an unknown id, empty content) come back to the model as the tool's
error message, so it can correct itself; pass ``handle_errors=False`` to get
the typed :mod:`mnemos.exceptions` errors instead.
"""

from __future__ import annotations

import asyncio
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mnemos.exceptions import UsageError
from mnemos.memory_adapters._namespace import validate_namespace
from mnemos.memory_adapters.base import BaseMemoryAdapter, MemoryKind
from mnemos.tools import _memory_ops as ops
from mnemos.tools.schemas import NamespaceIn

__all__ = [
    "ForgetInput",
    "ListNamespacesInput",
    "RecallInput",
    "RememberInput",
    "memory_tools",
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RememberInput(_Input):
    """Arguments of ``remember``."""

    content: str = Field(description="What to remember, as a self-contained sentence.")
    namespace: NamespaceIn | None = Field(
        default=None, description="Where to file it; defaults to the tools' default namespace."
    )
    kind: MemoryKind = Field(
        default=MemoryKind.SEMANTIC,
        description="semantic (a fact), episodic (an event) or procedural (a rule to follow).",
    )
    metadata: dict[str, Any] | None = Field(default=None, description="Optional JSON tags.")
    importance: float = Field(default=0.5, ge=0.0, le=1.0, description="0 (trivial) to 1 (vital).")


class RecallInput(_Input):
    """Arguments of ``recall``."""

    query: str = Field(description="What to look for, in words.")
    namespace: NamespaceIn | None = Field(
        default=None, description="Only search under this namespace (default: everything visible)."
    )
    kinds: list[MemoryKind] | None = Field(default=None, description="Only these kinds.")
    limit: int = Field(default=5, ge=1, le=50, description="How many memories at most.")


class ForgetInput(_Input):
    """Arguments of ``forget``."""

    id: str = Field(min_length=1, description="The id of the memory to delete.")


class ListNamespacesInput(_Input):
    """Arguments of ``list_namespaces``."""

    prefix: NamespaceIn | None = Field(default=None, description="Only namespaces under this one.")


def memory_tools(
    adapter: BaseMemoryAdapter,
    *,
    namespace: Sequence[str] = ("notes",),
    scope: Sequence[str] | None = None,
    agent: str | None = None,
    handle_errors: bool = True,
) -> list[BaseTool]:
    """LangChain tools bound to ``adapter``: remember, recall, forget, list_namespaces.

    ``namespace`` is where ``remember`` files a memory when the model gives
    none; ``agent`` is recorded as the provenance of what is remembered.

    Parts of ``namespace`` and ``scope`` may name values of the run in braces,
    ``("users", "{user_id}", "notes")``, filled at each call: from the run's
    config (``config["configurable"]``), else from LangGraph's runtime context
    (``context=`` of ``invoke``: a dataclass attribute or a dict key), and
    ``{agent}`` from ``agent``. The tools are then confined to ``scope`` (by
    default ``namespace`` up to its last placeholder): ``remember`` files under
    it, ``recall``, ``forget`` and ``list_namespaces`` see nothing outside it,
    and namespaces the model names are read inside it. So one tool set serves
    many users without mixing them. A value that cannot be filled raises
    :class:`~mnemos.exceptions.UsageError` (never a default user).
    """
    binding = _Binding(adapter, tuple(namespace), None if scope is None else tuple(scope), agent)

    def remember(
        at: _Bound,
        content: str,
        namespace: list[str] | None = None,
        kind: MemoryKind = MemoryKind.SEMANTIC,
        metadata: dict[str, Any] | None = None,
        importance: float = 0.5,
    ) -> dict[str, Any]:
        target, where = (at.view, namespace) if namespace else (at.home, at.default)
        out = ops.add(
            target,
            content=content,
            namespace=where,
            kind=kind,
            metadata=metadata,
            importance=importance,
            source="tool:remember",
            agent=agent,
        )
        shown = out.namespace if namespace else list(at.default_shown)
        return {"id": out.id, "namespace": shown, "kind": out.kind.value, "stored": True}

    def recall(
        at: _Bound,
        query: str,
        namespace: list[str] | None = None,
        kinds: list[MemoryKind] | None = None,
        limit: int = 5,
    ) -> dict[str, Any]:
        out = ops.search(at.view, query=query, namespace=namespace or (), kinds=kinds, limit=limit)
        return {
            "query": query,
            "memories": [
                {
                    "id": h.id,
                    "content": h.memory.content,
                    "kind": h.memory.kind.value,
                    "namespace": h.memory.namespace,
                    "score": round(h.score, 6),
                    "why": h.why,
                }
                for h in out.hits
            ],
        }

    def forget(at: _Bound, id: str) -> dict[str, Any]:
        return ops.delete(at.view, id=id).model_dump(mode="json")

    def list_namespaces(at: _Bound, prefix: list[str] | None = None) -> dict[str, Any]:
        return ops.list_namespaces(at.view, prefix=prefix or ()).model_dump(mode="json")

    specs: list[tuple[Callable[..., dict[str, Any]], type[BaseModel], str]] = [
        (remember, RememberInput, "Store a new memory (a fact, an event or a rule) for later; returns its id."),
        (recall, RecallInput, "Search your memories by meaning and keywords; returns the best matches with ids, scores and why each matched."),
        (forget, ForgetInput, "Delete one memory by its id."),
        (list_namespaces, ListNamespacesInput, "List the namespaces that hold memories, with counts."),
    ]
    return [_tool(fn, schema, doc, handle_errors, binding) for fn, schema, doc in specs]


@dataclass(frozen=True)
class _Bound:
    """The tools' adapters for one call: ``view`` confined to the scope, ``home`` where
    ``default`` (the default namespace) is filed from."""

    view: BaseMemoryAdapter
    home: BaseMemoryAdapter
    default: tuple[str, ...]
    default_shown: tuple[str, ...]


class _Binding:
    """The tools' namespace and scope templates, filled for each call."""

    def __init__(
        self, adapter: BaseMemoryAdapter, namespace: tuple[str, ...], scope: tuple[str, ...] | None, agent: str | None
    ) -> None:
        for part in (*namespace, *(scope or ())):
            _fields(part)  # a malformed template fails here, not at the first call
        templated = any(_fields(p) for p in namespace)
        if scope is None and templated:
            last = max(i for i, p in enumerate(namespace) if _fields(p))
            scope = namespace[: last + 1]
        if scope is None:
            validate_namespace(namespace, allow_empty=False)
        elif namespace[: len(scope)] == scope:
            namespace = namespace[len(scope) :]
        elif not templated:
            pass  # a plain namespace under a scope is relative to it
        else:
            raise UsageError(f"a templated namespace {namespace!r} must start with the scope {scope!r}")
        self.adapter, self.namespace, self.scope, self.agent = adapter, namespace, scope, agent
        if not self.scope:
            self._fixed: _Bound | None = _Bound(adapter, adapter, namespace, namespace)
        elif not any(_fields(p) for p in self.scope):
            self._fixed = self._bind(self.scope)
        else:
            self._fixed = None

    def __call__(self, config: RunnableConfig | None) -> _Bound:
        if self._fixed is not None:
            return self._fixed
        assert self.scope is not None
        values = _run_values(config, self.agent)
        return self._bind(tuple(_fill(p, values) for p in self.scope), values)

    def _bind(self, scope: tuple[str, ...], values: Mapping[str, Any] | None = None) -> _Bound:
        scope = validate_namespace(scope, allow_empty=False)
        rest = validate_namespace(tuple(_fill(p, values or {}) for p in self.namespace))
        view = self.adapter.scoped(*scope)
        if rest:
            return _Bound(view, view, rest, rest)
        # filed at the scope itself: from its parent, so the memory's namespace is the scope
        return _Bound(view, self.adapter.scoped(*scope[:-1]), scope[-1:], ())


def _fields(part: str) -> list[str]:
    if not isinstance(part, str):
        raise UsageError(f"namespace parts are strings, not {type(part).__name__}")
    try:
        names = [name for _, name, spec, conv in string.Formatter().parse(part) if name is not None]
    except ValueError as exc:
        raise UsageError(f"bad namespace template {part!r}: {exc}") from None
    for name in names:
        if not name.isidentifier():
            raise UsageError(f"a namespace placeholder is a name in braces like {{user_id}}, not {{{name}}}")
    return names


def _run_values(config: RunnableConfig | None, agent: str | None) -> dict[str, Any]:
    """Values for placeholders: the run's configurable, then LangGraph's runtime context, then the agent."""
    values: dict[str, Any] = {}
    if agent is not None:
        values["agent"] = agent
    try:
        from langgraph.runtime import get_runtime

        context = get_runtime().context
    except (RuntimeError, KeyError, AttributeError):
        context = None
    if isinstance(context, Mapping):
        values.update({k: v for k, v in context.items() if v is not None})
    elif context is not None:
        values.update({k: v for k, v in vars(context).items() if v is not None} if hasattr(context, "__dict__")
                      else {k: getattr(context, k) for k in getattr(context, "__slots__", ())})
    configurable = (config or {}).get("configurable") or {}
    values.update({k: v for k, v in configurable.items() if not k.startswith("__") and v is not None})
    return values


def _fill(part: str, values: Mapping[str, Any]) -> str:
    names = _fields(part)
    missing = [n for n in names if n not in values]
    if missing:
        raise UsageError(
            f"the memory tools' namespace needs {', '.join(missing)} for {part!r}: pass it in "
            f"config={{'configurable': {{{missing[0]!r}: ...}}}} or in the graph's context"
        )
    return part.format_map({n: str(values[n]) for n in names})


def _tool(
    fn: Callable[..., dict[str, Any]],
    schema: type[BaseModel],
    description: str,
    handle_errors: bool,
    binding: _Binding,
) -> BaseTool:
    def guarded(at: _Bound, kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            return fn(at, **kwargs)
        except UsageError as exc:
            if handle_errors:
                raise ToolException(str(exc)) from exc
            raise

    # the binding is filled outside the guard: a missing user id is the program's error, not the model's
    def run(config: RunnableConfig, **kwargs: Any) -> dict[str, Any]:
        return guarded(binding(config), kwargs)

    async def arun(config: RunnableConfig, **kwargs: Any) -> dict[str, Any]:
        return await asyncio.to_thread(guarded, binding(config), kwargs)

    run.__name__ = arun.__name__ = fn.__name__
    return StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=fn.__name__,
        description=description,
        args_schema=schema,
        handle_tool_error=handle_errors,
        handle_validation_error=_validation_message if handle_errors else False,
    )


def _validation_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()]
        return "invalid arguments: " + "; ".join(parts)
    return f"invalid arguments: {exc}"

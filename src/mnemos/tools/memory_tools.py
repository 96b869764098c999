"""Built-in memory tools for agents: remember, recall, forget, list_namespaces.

``memory_tools(adapter)`` returns LangChain tools bound to one adapter (scope
the adapter first: an agent sees only what its adapter's scope allows)::

    tools = memory_tools(memory.scoped("agents", "planner"))
    agent = Agent("planner", ..., tools=tools)

Each tool has a typed (pydantic) argument schema and returns JSON with the
memory ids, and for ``recall`` the scores and the reasons behind them.
Mistakes (an unknown id, empty content) come back to the model as the tool's
error message, so it can correct itself; pass ``handle_errors=False`` to get
the typed :mod:`mnemos.exceptions` errors instead.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from typing import Any

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
    agent: str | None = None,
    handle_errors: bool = True,
) -> list[BaseTool]:
    """LangChain tools bound to ``adapter``: remember, recall, forget, list_namespaces.

    ``namespace`` is where ``remember`` files a memory when the model gives
    none; ``agent`` is recorded as the provenance of what is remembered.
    """
    default_ns = list(validate_namespace(tuple(namespace), allow_empty=False))

    def remember(
        content: str,
        namespace: list[str] | None = None,
        kind: MemoryKind = MemoryKind.SEMANTIC,
        metadata: dict[str, Any] | None = None,
        importance: float = 0.5,
    ) -> dict[str, Any]:
        out = ops.add(
            adapter,
            content=content,
            namespace=namespace or default_ns,
            kind=kind,
            metadata=metadata,
            importance=importance,
            source="tool:remember",
            agent=agent,
        )
        return {"id": out.id, "namespace": out.namespace, "kind": out.kind.value, "stored": True}

    def recall(
        query: str,
        namespace: list[str] | None = None,
        kinds: list[MemoryKind] | None = None,
        limit: int = 5,
    ) -> dict[str, Any]:
        out = ops.search(adapter, query=query, namespace=namespace or (), kinds=kinds, limit=limit)
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

    def forget(id: str) -> dict[str, Any]:
        return ops.delete(adapter, id=id).model_dump(mode="json")

    def list_namespaces(prefix: list[str] | None = None) -> dict[str, Any]:
        return ops.list_namespaces(adapter, prefix=prefix or ()).model_dump(mode="json")

    specs: list[tuple[Callable[..., dict[str, Any]], type[BaseModel], str]] = [
        (remember, RememberInput, "Store a new memory (a fact, an event or a rule) for later; returns its id."),
        (recall, RecallInput, "Search your memories by meaning and keywords; returns the best matches with ids, scores and why each matched."),
        (forget, ForgetInput, "Delete one memory by its id."),
        (list_namespaces, ListNamespacesInput, "List the namespaces that hold memories, with counts."),
    ]
    return [_tool(fn, schema, doc, handle_errors) for fn, schema, doc in specs]


def _tool(
    fn: Callable[..., dict[str, Any]],
    schema: type[BaseModel],
    description: str,
    handle_errors: bool,
) -> BaseTool:
    @functools.wraps(fn)
    def run(**kwargs: Any) -> dict[str, Any]:
        try:
            return fn(**kwargs)
        except UsageError as exc:
            if handle_errors:
                raise ToolException(str(exc)) from exc
            raise

    async def arun(**kwargs: Any) -> dict[str, Any]:
        return await asyncio.to_thread(run, **kwargs)

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

"""Memory operations shared by the agent memory tools and the MCP server.

Each takes an adapter (already scoped to what the caller may see) and
validated arguments, and returns an output model from :mod:`mnemos.tools.schemas`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mnemos.exceptions import UsageError
from mnemos.memory_adapters.base import BaseMemoryAdapter, MemoryKind
from mnemos.tools.schemas import (
    DeletedOut,
    ErasedOut,
    MemoryOut,
    NamespacesOut,
    SearchOut,
    hit_out,
    memory_out,
    namespace_out,
)

__all__ = ["add", "delete", "erase", "get", "list_namespaces", "search", "update"]


def add(
    adapter: BaseMemoryAdapter,
    *,
    content: str,
    namespace: Sequence[str],
    kind: MemoryKind | str = MemoryKind.EPISODIC,
    metadata: dict[str, Any] | None = None,
    importance: float = 0.5,
    ttl_seconds: float | None = None,
    source: str | None = None,
    agent: str | None = None,
) -> MemoryOut:
    record = adapter.add(
        content,
        namespace=tuple(namespace),
        kind=kind,
        metadata=metadata or {},
        importance=importance,
        ttl_seconds=ttl_seconds,
        provenance={"source": source, "agent": agent},
    )
    return memory_out(record)


def search(
    adapter: BaseMemoryAdapter,
    *,
    query: str | None,
    namespace: Sequence[str] = (),
    kinds: Sequence[MemoryKind | str] | None = None,
    filter: dict[str, Any] | None = None,
    limit: int = 10,
    include_superseded: bool = False,
) -> SearchOut:
    hits = adapter.search(
        query,
        namespace=tuple(namespace),
        kinds=list(kinds) if kinds else None,
        filter=filter or None,
        limit=limit,
        include_superseded=include_superseded,
    )
    return SearchOut(query=query, hits=[hit_out(h) for h in hits])


def get(adapter: BaseMemoryAdapter, *, id: str) -> MemoryOut:
    return memory_out(adapter.get(id))


def update(
    adapter: BaseMemoryAdapter,
    *,
    id: str,
    content: str | None = None,
    metadata: dict[str, Any] | None = None,
    importance: float | None = None,
    supersede: bool = False,
) -> MemoryOut:
    if content is None and metadata is None and importance is None:
        raise UsageError("nothing to update: give content, metadata or importance")
    if supersede:
        if content is None:
            raise UsageError("supersede replaces a fact by new content: give content")
        return memory_out(
            adapter.supersede(id, content, metadata=metadata, importance=importance)
        )
    return memory_out(adapter.update(id, content=content, metadata=metadata, importance=importance))


def delete(adapter: BaseMemoryAdapter, *, id: str) -> DeletedOut:
    adapter.delete(id)
    return DeletedOut(id=id, deleted=True)


def erase(adapter: BaseMemoryAdapter, *, namespace: Sequence[str] = (), confirm: str) -> ErasedOut:
    """Erase ``namespace`` (``()``: all the adapter sees) once ``confirm`` repeats it as text (``/`` for all)."""
    from mnemos.memory_adapters._namespace import format_namespace

    namespace = tuple(namespace)
    expected = format_namespace(namespace)
    if confirm.strip() != expected:
        raise UsageError(
            f"erasing cannot be undone: to erase {expected!r} pass confirm={expected!r}"
            + (" (the whole of your memory)" if not namespace else "")
        )
    return ErasedOut(namespace=list(namespace), erased=adapter.erase(namespace))


def list_namespaces(adapter: BaseMemoryAdapter, *, prefix: Sequence[str] = ()) -> NamespacesOut:
    prefix = tuple(prefix)
    found = adapter.namespaces(prefix)
    return NamespacesOut(
        prefix=list(prefix),
        namespaces=[namespace_out(ns, adapter.count(ns)) for ns in found],
    )

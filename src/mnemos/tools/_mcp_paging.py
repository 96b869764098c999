"""Batch add and cursor paging for the MCP server.

- ``memory_add_many`` stores a list of memories in one atomic batch.
- ``memory_list`` lists memories newest first, a page at a time: each page
  carries ``next_cursor`` (absent on the last page); passing it back gives the
  next page. ``memory_search`` takes the same kind of cursor.

A cursor is opaque to clients (base64 text). It records where the next page
starts and a digest of the query it belongs to, so a cursor given with other
arguments is refused. A listing is pinned to the moment its first page was
read: memories added later do not shift later pages (they show in a new
listing); a memory deleted between pages may move one later memory onto an
earlier page than expected, which the listing then skips. Search pages
re-rank the query for each page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime
from typing import Annotated, Any

from mcp.server.fastmcp import Context, FastMCP
from mcp.types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from mnemos.exceptions import UsageError
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability, MemoryKind
from mnemos.tools._mcp_common import Caller, run_tool
from mnemos.tools._mcp_limits import content_bytes
from mnemos.tools.schemas import MemoryOut, NamespaceIn, SearchOut, hit_out, memory_out

__all__ = [
    "MAX_SEARCH_DEPTH",
    "MemoriesOut",
    "MemoryItemIn",
    "MemoryPageOut",
    "add_paging_tools",
    "decode_cursor",
    "encode_cursor",
    "list_page",
    "search_page",
]

MAX_SEARCH_DEPTH = 1000
"""How far paging may go into the ranked results of one search."""
MAX_BATCH = 500

_Kind = Annotated[MemoryKind, Field(description="episodic (an event), semantic (a fact) or procedural (a rule).")]


class MemoryItemIn(BaseModel):
    """One memory of a batch."""

    model_config = ConfigDict(extra="forbid")

    content: Annotated[str, Field(description="The memory, as self-contained text.")]
    namespace: NamespaceIn
    kind: _Kind = MemoryKind.EPISODIC
    metadata: Annotated[dict[str, Any] | None, Field(description="JSON tags to store with the memory.")] = None
    importance: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    ttl_seconds: Annotated[float | None, Field(gt=0)] = None


class MemoriesOut(BaseModel):
    """Memories stored by a batch, in the order given."""

    model_config = ConfigDict(frozen=True)

    memories: list[MemoryOut]


class MemoryPageOut(BaseModel):
    """One page of a listing, newest first."""

    model_config = ConfigDict(frozen=True)

    memories: list[MemoryOut]
    next_cursor: str | None = None
    """Pass it as ``cursor`` for the next page; absent on the last page."""


def _digest(kind: str, args: dict[str, Any]) -> str:
    text = json.dumps([kind, args], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_cursor(kind: str, args: dict[str, Any], offset: int, until: datetime | None = None) -> str:
    """An opaque cursor for the page of ``kind`` (list or search) with ``args`` starting at ``offset``."""
    body = {"k": kind, "h": _digest(kind, args), "o": offset, "u": until.isoformat() if until else None}
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, args: dict[str, Any]) -> tuple[int, datetime | None]:
    """``(offset, until)`` of a cursor made by :func:`encode_cursor`; a UsageError if it is not one
    for this query."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
        offset = body["o"]
        until = datetime.fromisoformat(body["u"]) if body.get("u") else None
        ok = body.get("k") == kind and isinstance(offset, int) and not isinstance(offset, bool) and offset > 0
    except (binascii.Error, ValueError, TypeError, KeyError, AttributeError):
        ok = False
    if not ok:
        raise UsageError("invalid cursor: pass the next_cursor of the previous page unchanged")
    if body.get("h") != _digest(kind, args):
        raise UsageError("this cursor belongs to another query: give the same arguments as for the first page")
    return offset, until


def list_page(
    adapter: BaseMemoryAdapter,
    *,
    namespace: list[str],
    kinds: list[MemoryKind] | None,
    filter: dict[str, Any] | None,
    limit: int,
    cursor: str | None,
    include_superseded: bool,
) -> MemoryPageOut:
    """One page of memories, newest first."""
    args = {"namespace": namespace, "kinds": sorted(kinds or []), "filter": filter,
            "limit": limit, "include_superseded": include_superseded}
    pinned = adapter.supports(Capability.TIME_FILTER)
    if cursor is None:
        offset, until = 0, (adapter.now() if pinned else None)
    else:
        offset, until = decode_cursor(cursor, "list", args)
    records = adapter.list(namespace=tuple(namespace), kinds=kinds or None, filter=filter or None,
                           until=until, limit=limit + 1, offset=offset, include_superseded=include_superseded)
    more = len(records) > limit
    return MemoryPageOut(
        memories=[memory_out(r) for r in records[:limit]],
        next_cursor=encode_cursor("list", args, offset + limit, until) if more else None,
    )


def search_page(
    adapter: BaseMemoryAdapter,
    *,
    query: str | None,
    namespace: list[str],
    kinds: list[MemoryKind] | None,
    filter: dict[str, Any] | None,
    limit: int,
    include_superseded: bool,
    cursor: str | None,
) -> SearchOut:
    """One page of search hits, best first, with ``next_cursor`` when more may follow."""
    args = {"query": query, "namespace": namespace, "kinds": sorted(kinds or []), "filter": filter,
            "limit": limit, "include_superseded": include_superseded}
    offset = 0 if cursor is None else decode_cursor(cursor, "search", args)[0]
    depth = min(offset + limit + 1, MAX_SEARCH_DEPTH)
    hits = adapter.search(query, namespace=tuple(namespace), kinds=kinds or None, filter=filter or None,
                          limit=depth, include_superseded=include_superseded) if offset < depth else []
    page = hits[offset:offset + limit]
    more = len(hits) > offset + limit and offset + limit < MAX_SEARCH_DEPTH
    return SearchOut(query=query, hits=[hit_out(h) for h in page],
                     next_cursor=encode_cursor("search", args, offset + limit) if more else None)


def _add_many(adapter: BaseMemoryAdapter, items: list[MemoryItemIn], agent: str, limiter: Any = None) -> MemoriesOut:
    if limiter is not None:  # the principal's limits, checked before anything is written
        for item in items:
            limiter.check_content(item.content)
        limiter.check_store(agent, adapter, sum(content_bytes(i.content, i.metadata) for i in items))
    stored = adapter.add_many(
        [{"content": i.content, "namespace": tuple(i.namespace), "kind": i.kind, "metadata": i.metadata or {},
          "importance": i.importance, "ttl_seconds": i.ttl_seconds,
          "provenance": {"source": "mcp", "agent": agent}} for i in items]
    )
    return MemoriesOut(memories=[memory_out(r) for r in stored])


def add_paging_tools(server: FastMCP, sc: Caller) -> None:
    """Register ``memory_add_many`` and ``memory_list``."""

    @server.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False))
    async def memory_add_many(
        memories: Annotated[list[MemoryItemIn], Field(min_length=1, max_length=MAX_BATCH,
                                                      description="The memories to store, all or none.")],
        ctx: Context[Any, Any, Any],
    ) -> MemoriesOut:
        """Store several memories in one atomic batch; returns the stored records in order."""
        return await run_tool(_add_many, adapter=sc.memory_for(ctx), items=memories, agent=sc.principal_of(ctx),
                              limiter=getattr(sc, "limiter", None))

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False))
    async def memory_list(
        ctx: Context[Any, Any, Any],
        namespace: Annotated[NamespaceIn | None, Field(description="Only under this namespace.")] = None,
        kinds: Annotated[list[MemoryKind] | None, Field(description="Only these kinds.")] = None,
        filter: Annotated[dict[str, Any] | None, Field(description='Metadata filter, e.g. {"topic": "db"}.')] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="Memories per page.")] = 50,
        cursor: Annotated[str | None, Field(description="The next_cursor of the previous page.")] = None,
        include_superseded: bool = False,
    ) -> MemoryPageOut:
        """List memories newest first, a page at a time; follow next_cursor to reach them all."""
        return await run_tool(list_page, adapter=sc.memory_for(ctx), namespace=list(namespace or []),
                              kinds=kinds, filter=filter, limit=limit, cursor=cursor,
                              include_superseded=include_superseded)

"""Resources of the MCP server beyond single records, and completions of their arguments.

Every resource is read for the calling principal, from its own memory:

- ``memory://recent``: the newest memories (JSON list);
- ``memory://namespaces``: the namespaces holding memories, with counts;
- ``memory://knowledge-graph``: the knowledge graph (the URI of the reference
  memory server, the same JSON shape as ``read_graph``);
- ``memory://namespace/{namespace}``: the newest memories of one namespace;
  ``namespace`` is the path with ``/`` written ``%2F`` (``projects%2Fatlas``).
  ``resources/list`` shows one such resource per namespace the caller has, so
  the list changes as namespaces come and go;
- ``graph://graphs``: the names of the registered graphs (JSON list).

``completion/complete`` completes ``memory://{id}`` ids (of the newest
memories), ``memory://namespace/{namespace}`` namespaces and
``graph://{name}/mermaid`` graph names, and the arguments of the prompts
(:mod:`mnemos.tools._mcp_prompts`). A reference or argument it does not know
gets an empty list.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote, unquote

from mcp import types
from mcp.server.fastmcp import Context, FastMCP

from mnemos.memory_adapters._namespace import format_namespace, parse_namespace
from mnemos.memory_adapters.base import BaseMemoryAdapter
from mnemos.tools import _memory_ops as ops
from mnemos.tools._mcp_common import Caller, run_tool
from mnemos.tools.knowledge_graph import KnowledgeGraph
from mnemos.tools.schemas import memory_out

__all__ = ["RECENT", "add_resources", "namespace_paths", "namespace_uri"]

RECENT = 20
"""How many memories ``memory://recent`` and a namespace resource show."""
_MAX_LISTED = 200
_MAX_COMPLETIONS = 100


def namespace_uri(path: str) -> str:
    """The resource URI of a namespace path (``a/b`` -> ``memory://namespace/a%2Fb``)."""
    return f"memory://namespace/{quote(path, safe='')}"


def namespace_paths(adapter: BaseMemoryAdapter) -> set[str]:
    """The namespace paths that hold memories in ``adapter``."""
    return {format_namespace(ns) for ns in adapter.namespaces()}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _recent(adapter: BaseMemoryAdapter, namespace: Sequence[str] = ()) -> str:
    return _json([memory_out(r).model_dump(mode="json") for r in adapter.list(namespace=tuple(namespace),
                                                                               limit=RECENT)])


def add_resources(
    server: FastMCP,
    sc: Caller,
    graph_names: Callable[[], list[str]],
    prompt_completions: Callable[[Context[Any, Any, Any], str, str, str], list[str]],
    on_listed: Callable[[Context[Any, Any, Any], set[str]], Any],
) -> None:
    """Register the resources, the dynamic resource list and the completion handler."""

    def memory() -> BaseMemoryAdapter:
        return sc.memory_for(server.get_context())

    @server.resource("memory://recent", name="recent_memories", mime_type="application/json",
                     description=f"Your {RECENT} newest memories, as JSON.")
    async def recent() -> str:
        return await run_tool(_recent, adapter=memory())

    @server.resource("memory://namespaces", name="namespaces", mime_type="application/json",
                     description="Your namespaces that hold memories, with how many each holds.")
    async def namespaces() -> str:
        out = await run_tool(ops.list_namespaces, adapter=memory())
        return _json(out.model_dump(mode="json")["namespaces"])

    @server.resource("memory://knowledge-graph", name="knowledge_graph", mime_type="application/json",
                     description="Your knowledge graph: entities with observations, and relations.")
    async def knowledge_graph() -> str:
        graph = await run_tool(KnowledgeGraph(memory()).read_graph)
        return _json(graph.model_dump(mode="json", by_alias=True))

    @server.resource("memory://namespace/{namespace}", name="namespace_memories", mime_type="application/json",
                     description=f"The {RECENT} newest memories of a namespace ('/' written %2F).")
    async def namespace_memories(namespace: str, ctx: Context[Any, Any, Any]) -> str:
        parts = parse_namespace(unquote(namespace))
        return await run_tool(_recent, adapter=sc.memory_for(ctx), namespace=parts)

    @server.resource("graph://graphs", name="graphs", mime_type="application/json",
                     description="The names of the registered graphs (see graph_run and graph://{name}/mermaid).")
    async def graphs() -> str:
        return _json(graph_names())

    lowlevel = server._mcp_server

    @lowlevel.list_resources()
    async def list_resources(request: types.ListResourcesRequest) -> types.ListResourcesResult:
        ctx = server.get_context()
        fixed = await server.list_resources()
        paths = await run_tool(namespace_paths, adapter=sc.memory_for(ctx))
        await on_listed(ctx, paths)
        per_namespace = [
            types.Resource(uri=types.AnyUrl(namespace_uri(p)), name=f"namespace {p}", mimeType="application/json",
                           description=f"The newest memories of {p}.")
            for p in sorted(paths)[:_MAX_LISTED]
        ]
        return types.ListResourcesResult(resources=[*fixed, *per_namespace])

    @server.completion()
    async def complete(
        ref: types.PromptReference | types.ResourceTemplateReference,
        argument: types.CompletionArgument,
        context: types.CompletionContext | None,
    ) -> types.Completion | None:
        ctx = server.get_context()
        prefix = argument.value or ""
        if isinstance(ref, types.PromptReference):
            values = await run_tool(prompt_completions, ctx=ctx, prompt=ref.name, argument=argument.name,
                                    prefix=prefix)
        else:
            values = await run_tool(_complete_template, sc=sc, ctx=ctx, template=ref.uri, argument=argument.name,
                                    prefix=prefix, graph_names=graph_names)
        total = len(values)
        return types.Completion(values=values[:_MAX_COMPLETIONS], total=total, hasMore=total > _MAX_COMPLETIONS)


def _complete_template(
    *, sc: Caller, ctx: Context[Any, Any, Any], template: str, argument: str, prefix: str,
    graph_names: Callable[[], list[str]],
) -> list[str]:
    if template == "memory://{id}" and argument == "id":
        ids = [r.id for r in sc.memory_for(ctx).list(limit=_MAX_COMPLETIONS)]
        return [i for i in ids if i.startswith(prefix)]
    if template == "memory://namespace/{namespace}" and argument == "namespace":
        paths = sorted(namespace_paths(sc.memory_for(ctx)))
        return [quote(p, safe="") for p in paths if p.startswith(unquote(prefix))]
    if template == "graph://{name}/mermaid" and argument == "name":
        return [n for n in graph_names() if n.startswith(prefix)]
    return []

"""The knowledge-graph tools of the MCP server (see :mod:`mnemos.tools.knowledge_graph`).

Names, arguments and result shapes are those of the reference MCP memory
server, so clients and prompts written for it work unchanged; the graph
lives in the calling principal's memory.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from mnemos.exceptions import MnemosError
from mnemos.tools._mcp_common import Caller, run_tool, tool_message
from mnemos.tools._mcp_limits import content_bytes
from mnemos.tools.knowledge_graph import (
    EntitiesOut,
    EntityIn,
    GraphOut,
    KnowledgeGraph,
    ObservationDeletionIn,
    ObservationsIn,
    ObservationsOut,
    RelationIn,
    RelationsOut,
    StatusOut,
)

__all__ = ["KG_TOOLS", "add_knowledge_graph_tools"]

KG_TOOLS = (
    "create_entities",
    "create_relations",
    "add_observations",
    "delete_entities",
    "delete_observations",
    "delete_relations",
    "read_graph",
    "search_nodes",
    "open_nodes",
)

_READ = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)
_ADD = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False)
_DROP = ToolAnnotations(readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False)


def add_knowledge_graph_tools(server: FastMCP, sc: Caller) -> None:
    """Register the nine knowledge-graph tools on ``server``."""
    def graph(ctx: Context[Any, Any, Any], *texts: str) -> KnowledgeGraph:
        """The caller's graph; ``texts`` about to be stored are first held to the principal's limits."""
        adapter, principal = sc.memory_for(ctx), sc.principal_of(ctx)
        limiter = getattr(sc, "limiter", None)
        if limiter is not None and texts:
            try:
                for text in texts:
                    limiter.check_content(text)
                limiter.check_store(principal, adapter, sum(content_bytes(t) for t in texts))
            except MnemosError as exc:
                raise ToolError(tool_message(exc)) from exc
        return KnowledgeGraph(adapter, agent=principal)

    @server.tool(title="Create Entities", annotations=_ADD)
    async def create_entities(entities: list[EntityIn], ctx: Context[Any, Any, Any]) -> EntitiesOut:
        """Create multiple new entities in the knowledge graph"""
        texts = [t for e in entities for t in (e.name, e.entityType, *e.observations)]
        return await run_tool(graph(ctx, *texts).create_entities, entities=entities)

    @server.tool(title="Create Relations", annotations=_ADD)
    async def create_relations(relations: list[RelationIn], ctx: Context[Any, Any, Any]) -> RelationsOut:
        """Create multiple new relations between entities in the knowledge graph. Relations should be in active voice"""
        texts = [t for r in relations for t in (r.from_, r.relationType, r.to)]
        return await run_tool(graph(ctx, *texts).create_relations, relations=relations)

    @server.tool(title="Add Observations", annotations=_ADD)
    async def add_observations(observations: list[ObservationsIn], ctx: Context[Any, Any, Any]) -> ObservationsOut:
        """Add new observations to existing entities in the knowledge graph"""
        texts = [t for o in observations for t in o.contents]
        return await run_tool(graph(ctx, *texts).add_observations, observations=observations)

    @server.tool(title="Delete Entities", annotations=_DROP)
    async def delete_entities(
        entityNames: Annotated[list[str], Field(description="An array of entity names to delete")],
        ctx: Context[Any, Any, Any],
    ) -> StatusOut:
        """Delete multiple entities and their associated relations from the knowledge graph"""
        return await run_tool(graph(ctx).delete_entities, names=entityNames)

    @server.tool(title="Delete Observations", annotations=_DROP)
    async def delete_observations(deletions: list[ObservationDeletionIn], ctx: Context[Any, Any, Any]) -> StatusOut:
        """Delete specific observations from entities in the knowledge graph"""
        return await run_tool(graph(ctx).delete_observations, deletions=deletions)

    @server.tool(title="Delete Relations", annotations=_DROP)
    async def delete_relations(
        relations: Annotated[list[RelationIn], Field(description="An array of relations to delete")],
        ctx: Context[Any, Any, Any],
    ) -> StatusOut:
        """Delete multiple relations from the knowledge graph"""
        return await run_tool(graph(ctx).delete_relations, relations=relations)

    @server.tool(title="Read Graph", annotations=_READ)
    async def read_graph(ctx: Context[Any, Any, Any]) -> GraphOut:
        """Read the entire knowledge graph"""
        return await run_tool(graph(ctx).read_graph)

    @server.tool(title="Search Nodes", annotations=_READ)
    async def search_nodes(
        query: Annotated[str, Field(description="The search query to match against entity names, types, and observation content")],
        ctx: Context[Any, Any, Any],
    ) -> GraphOut:
        """Search for nodes in the knowledge graph based on a query"""
        return await run_tool(graph(ctx).search_nodes, query=query)

    @server.tool(title="Open Nodes", annotations=_READ)
    async def open_nodes(
        names: Annotated[list[str], Field(description="An array of entity names to retrieve")],
        ctx: Context[Any, Any, Any],
    ) -> GraphOut:
        """Open specific nodes in the knowledge graph by their names"""
        return await run_tool(graph(ctx).open_nodes, names=names)

"""The mnemos MCP server: memory, graphs and registered tools over MCP.

:func:`build_server` returns a FastMCP server (the official ``mcp`` SDK) with

- tools ``memory_add``, ``memory_add_many``, ``memory_search``, ``memory_list``
  (both paged with a cursor), ``memory_get``, ``memory_update``,
  ``memory_delete``, ``memory_erase``, ``memory_list_namespaces``;
- the knowledge-graph tools of the reference MCP memory server
  (:mod:`mnemos.tools.knowledge_graph`);
- ``graph_run`` (run a registered graph on a thread), when graphs are registered;
- ``brainstorm_run`` (a group of persona agents brainstorms a topic and
  remembers it, in the caller's memory, with the server's model);
- every tool of the :class:`~mnemos.tools.registry.ToolRegistry`;
- resources ``memory://{id}`` (a memory record as JSON) and
  ``graph://{name}/mermaid`` (a graph's Mermaid diagram), and those of
  :mod:`mnemos.tools._mcp_resources`;
- prompts (:mod:`mnemos.tools._mcp_prompts`), and logging, subscriptions,
  completions, progress and the specification's error codes
  (:mod:`mnemos.tools._mcp_protocol`).

Every call is made for a *principal*. Each principal's memory lives under
``("principals", <principal>)`` and every memory operation goes through that
scoped view, so no namespace or id a client sends can reach another
principal's memory. Over HTTP with tokens, the principal comes from the
verified bearer token of each request; otherwise it is the one local
principal the server was built for.

Other features add tools through *extensions*: callables
``extension(server, context)`` that receive the FastMCP server and a
:class:`ServerContext` (which gives the calling principal and its memory) and
register their own tools.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.types import GetPromptResult, ToolAnnotations
from pydantic import AnyUrl, Field, ValidationError
from starlette.applications import Starlette

from mnemos.exceptions import MnemosError, UsageError
from mnemos.memory_adapters.base import BaseMemoryAdapter, MemoryKind
from mnemos.tools import _memory_ops as ops
from mnemos.tools._auth import StaticTokenVerifier, request_principal, validate_principal
from mnemos.tools._http_security import LowercaseHostHeaders, loopback_transport_security
from mnemos.tools._mcp_common import mnemos_version
from mnemos.tools._mcp_http import (
    JsonGuard,
    add_root_metadata_route,
    cache_initialization_options,
    http_options,
    oauth_settings,
    quiet_disconnect_logs,
    skip_output_revalidation,
)
from mnemos.tools._mcp_kg_tools import KG_TOOLS, add_knowledge_graph_tools
from mnemos.tools._mcp_limits import Limits, PrincipalLimiter, content_bytes
from mnemos.tools._mcp_paging import add_paging_tools, search_page
from mnemos.tools._mcp_prompts import add_prompts, prompt_completions, render_prompt
from mnemos.tools._mcp_protocol import (
    ProtocolState,
    async_progress,
    install_protocol,
    prompt_error,
    resource_error,
    step_progress,
    timed,
)
from mnemos.tools._mcp_resources import add_resources, namespace_paths
from mnemos.tools.brainstorm_runner import BrainstormRunOut, PersonasIn, run_brainstorm
from mnemos.tools.graph_runner import GraphRegistry, GraphRunOut
from mnemos.tools.registry import ToolRegistry
from mnemos.tools.schemas import (
    DeletedOut,
    ErasedOut,
    MemoryOut,
    NamespaceIn,
    NamespacesOut,
    SearchOut,
)

__all__ = [
    "BUILTIN_TOOLS",
    "PRINCIPAL_ROOT",
    "MnemosMCP",
    "ServerContext",
    "ServerExtension",
    "build_server",
]

log = logging.getLogger(__name__)

PRINCIPAL_ROOT = "principals"
"""First namespace part of every principal's memory: ``("principals", <principal>, ...)``."""

BUILTIN_TOOLS = (
    "memory_add",
    "memory_search",
    "memory_get",
    "memory_update",
    "memory_delete",
    "memory_erase",
    "memory_list_namespaces",
    "memory_add_many",
    "memory_list",
    "graph_run",
    "brainstorm_run",
    *KG_TOOLS,
)

_INSTRUCTIONS = """\
mnemos: persistent memory and agent graphs.
Store memories with memory_add (a namespace such as "projects/atlas", a kind:
episodic, semantic or procedural) and find them with memory_search, which
returns ids, scores and the reasons for each score. memory_get, memory_update
and memory_delete take a memory id; memory_erase erases a whole namespace for
good (confirm by repeating it). memory_add_many stores a batch; memory_list
lists memories a page at a time (follow next_cursor). create_entities,
create_relations, add_observations, read_graph, search_nodes and open_nodes
keep a knowledge graph of entities, relations and observations. graph_run runs a registered graph on a
thread; the same thread_id continues the conversation. brainstorm_run has a
group of persona agents brainstorm a topic; decided ideas are remembered and
later brainstorms build on them."""

T = TypeVar("T")


@dataclass(kw_only=True, frozen=True)
class ServerContext:
    """What tools need to act for the caller: its principal and its memory."""

    memory: BaseMemoryAdapter
    """The whole store; use :meth:`memory_for` in tools, never this directly."""
    graphs: GraphRegistry
    registry: ToolRegistry
    authenticated: bool
    """True when principals come from bearer tokens."""
    local_principal: str
    """The principal of every call when not :attr:`authenticated`."""
    model: Any = None
    """The chat model of brainstorms: a ``provider:model`` spec, a model, or None (the configured one)."""
    limiter: PrincipalLimiter | None = None
    """Per-principal limits (see :mod:`mnemos.tools._mcp_limits`), or None for none."""

    def principal_of(self, ctx: Context[Any, Any, Any]) -> str:
        """The calling principal; a tool error if an authenticated server sees no token."""
        if not self.authenticated:
            return self.local_principal
        principal = request_principal(ctx)
        if principal is None:
            raise ToolError("unauthenticated request: no verified bearer token")
        return principal

    def memory_for(self, ctx: Context[Any, Any, Any]) -> BaseMemoryAdapter:
        """The caller's memory: a view scoped to ``("principals", <principal>)``."""
        return self.memory.scoped(PRINCIPAL_ROOT, self.principal_of(ctx))


ServerExtension = Callable[[FastMCP, ServerContext], None]
"""Adds tools or resources to the server; see the module docstring."""


async def _run(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Run a blocking memory operation off the event loop, mnemos errors as tool errors."""
    try:
        return await asyncio.to_thread(fn, **kwargs)
    except MnemosError as exc:
        raise ToolError(_message(exc)) from exc


async def _guard(awaitable: Awaitable[T]) -> T:
    try:
        return await awaitable
    except MnemosError as exc:
        raise ToolError(_message(exc)) from exc


def _message(exc: MnemosError) -> str:
    # pydantic's prefix adds nothing for a client reading the message
    return str(exc).replace("Value error, ", "")


class MnemosMCP(FastMCP):
    """FastMCP with argument errors reported as one readable line per field, and
    ``Host``/``Origin`` compared without regard to case (see :mod:`mnemos.tools._http_security`)."""

    mnemos_context: ServerContext | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        skip_output_revalidation(self._mcp_server)

    def streamable_http_app(self) -> Starlette:
        app = super().streamable_http_app()
        app.add_middleware(
            JsonGuard, path=self.settings.streamable_http_path, max_body=self.settings.max_request_body_size
        )
        if self.settings.transport_security is not None:
            app.add_middleware(LowercaseHostHeaders)
        quiet_disconnect_logs()
        return app

    protocol: ProtocolState | None = None
    """Logging levels, subscriptions and change notifications (see :mod:`mnemos.tools._mcp_protocol`)."""

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        clock = timed()
        sc = self.mnemos_context
        if sc is not None and sc.limiter is not None:
            try:
                sc.limiter.check_rate(sc.principal_of(self.get_context()))
            except MnemosError as exc:
                raise ToolError(_message(exc)) from exc
        try:
            result = await super().call_tool(name, arguments)
        except ToolError as exc:
            cause = exc.__cause__
            error = exc
            if isinstance(cause, ValidationError):
                error = ToolError(f"invalid arguments for {name}: {_validation_text(cause)}")
            await self._after(name, ok=False, elapsed=clock(), error=str(error))
            if error is not exc:
                raise error from cause
            raise
        await self._after(name, ok=True, elapsed=clock(), error=None)
        return result

    async def _after(self, name: str, *, ok: bool, elapsed: float, error: str | None) -> None:
        if self.protocol is None:
            return
        tool = self._tool_manager.get_tool(name)
        read_only = tool is not None and tool.annotations is not None and tool.annotations.readOnlyHint
        await self.protocol.after_call(name, ok=ok, elapsed=elapsed, error=error,
                                       writes=name in BUILTIN_TOOLS and not read_only)

    async def read_resource(self, uri: AnyUrl | str) -> Iterable[ReadResourceContents]:
        try:
            return await super().read_resource(uri)
        except Exception as exc:
            raise resource_error(uri, exc) from exc

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None) -> GetPromptResult:
        try:
            return await render_prompt(self, name, arguments)
        except Exception as exc:
            raise prompt_error(name, exc) from exc


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "arguments"
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def build_server(
    memory: BaseMemoryAdapter,
    registry: ToolRegistry | None = None,
    graphs: GraphRegistry | Mapping[str, Any] | None = None,
    *,
    tokens: Mapping[str, str] | None = None,
    principal: str = "local",
    host: str = "127.0.0.1",
    port: int = 8000,
    extensions: Sequence[ServerExtension] = (),
    name: str = "mnemos",
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "WARNING",
    model: Any = None,
    limits: Limits | None = None,
    authorization_server: str | None = None,
    resource_url: str | None = None,
    stateless: bool = False,
) -> FastMCP:
    """Build the mnemos MCP server over ``memory``.

    ``tokens`` (``{token: principal}``) turns on bearer authentication for
    HTTP: every request must carry one of the tokens, and calls act for its
    principal. Without tokens every call acts for ``principal``. ``host`` and
    ``port`` are used by ``server.run("streamable-http")``; on any loopback
    ``host`` (127.0.0.0/8, ``localhost`` in any case, ``::1``) requests whose
    ``Host`` or ``Origin`` names another site are refused (DNS-rebinding
    protection). ``model`` (a ``provider:model`` spec
    or a chat model) is what ``brainstorm_run`` agents think with; by default
    the configured model, else the offline one.

    ``limits`` caps content size, call rate and stored bytes per principal
    (default: :class:`~mnemos.tools._mcp_limits.Limits` defaults;
    ``Limits.off()`` for none). ``authorization_server`` (with tokens)
    publishes OAuth protected-resource metadata naming it, for the resource
    ``resource_url`` (default ``http://host:port/mcp``). ``stateless`` serves
    HTTP without sessions, each request on its own (for several worker
    processes behind one port).
    """
    from langchain_mcp_adapters.tools import to_fastmcp

    registry = registry if registry is not None else ToolRegistry()
    if graphs is None:
        graphs = GraphRegistry()
    elif not isinstance(graphs, GraphRegistry):
        mapping = graphs
        graphs = GraphRegistry()
        for graph_name, graph in mapping.items():
            graphs.register(graph_name, graph)

    clash = [n for n in registry.names() if n in BUILTIN_TOOLS]
    if clash:
        raise UsageError(f"registered tool {clash[0]!r} has the name of a built-in mnemos tool")
    user_tools = []
    for tool in registry.tools():
        try:
            user_tools.append(to_fastmcp(tool))
        except (TypeError, NotImplementedError) as exc:
            raise UsageError(f"tool {tool.name!r} cannot be served over MCP: {exc}") from None

    auth_kwargs: dict[str, Any] = {}
    if tokens is not None:
        auth_kwargs["token_verifier"] = StaticTokenVerifier(tokens)
        auth_kwargs["auth"] = oauth_settings(host, port, authorization_server, resource_url)
    elif authorization_server is not None:
        raise UsageError("an authorization server needs bearer tokens (tokens=...)")
    server = MnemosMCP(
        name,
        instructions=_INSTRUCTIONS,
        tools=user_tools,
        host=host,
        port=port,
        log_level=log_level,
        transport_security=loopback_transport_security(host),
        stateless_http=stateless,
        **http_options(stateless),
        **auth_kwargs,
    )
    context = ServerContext(
        memory=memory,
        graphs=graphs,
        registry=registry,
        authenticated=tokens is not None,
        local_principal=validate_principal(principal),
        model=model,
        limiter=PrincipalLimiter(limits if limits is not None else Limits()),
    )
    server.mnemos_context = context
    if authorization_server is not None:
        add_root_metadata_route(server)
    _add_memory_tools(server, context)
    if len(graphs):
        _add_graph_tools(server, context)
    _add_brainstorm_tool(server, context)
    add_paging_tools(server, context)
    add_knowledge_graph_tools(server, context)
    _add_resources(server, context)
    server.protocol = install_protocol(
        server, context, version=mnemos_version(),
        namespaces=lambda ctx: namespace_paths(context.memory_for(ctx)),
    )
    add_prompts(server, context)
    add_resources(
        server, context, graphs.names,
        lambda ctx, prompt, argument, prefix: prompt_completions(context, ctx, prompt, argument, prefix),
        server.protocol.resources_listed,
    )
    for extension in extensions:
        extension(server, context)
    cache_initialization_options(server._mcp_server)
    return server


_READ = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False)
_WRITE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
_DESTROY = ToolAnnotations(readOnlyHint=False, destructiveHint=True, openWorldHint=False)

_Id = Annotated[str, Field(min_length=1, description="A memory id, as returned by memory_add or memory_search.")]
_Metadata = Annotated[dict[str, Any] | None, Field(description="JSON tags to store with the memory.")]


def _add_memory_tools(server: FastMCP, sc: ServerContext) -> None:
    @server.tool(annotations=_WRITE)
    async def memory_add(
        content: Annotated[str, Field(description="The memory, as self-contained text.")],
        namespace: NamespaceIn,
        ctx: Context[Any, Any, Any],
        kind: Annotated[MemoryKind, Field(description="episodic (an event), semantic (a fact) or procedural (a rule).")] = MemoryKind.EPISODIC,
        metadata: _Metadata = None,
        importance: Annotated[float, Field(ge=0.0, le=1.0, description="0 (trivial) to 1 (vital).")] = 0.5,
        ttl_seconds: Annotated[float | None, Field(gt=0, description="Forget it after this many seconds.")] = None,
    ) -> MemoryOut:
        """Store a memory in a namespace; returns the stored record with its id."""
        principal = sc.principal_of(ctx)
        return await _run(
            _write,
            op=ops.add,
            sc=sc,
            principal=principal,
            adapter=sc.memory_for(ctx),
            content=content,
            namespace=namespace,
            kind=kind,
            metadata=metadata,
            importance=importance,
            ttl_seconds=ttl_seconds,
            source="mcp",
            agent=principal,
        )

    @server.tool(annotations=_READ)
    async def memory_search(
        ctx: Context[Any, Any, Any],
        query: Annotated[str | None, Field(description="Words to look for; omit to list the newest memories.")] = None,
        namespace: Annotated[NamespaceIn | None, Field(description="Only under this namespace.")] = None,
        kinds: Annotated[list[MemoryKind] | None, Field(description="Only these kinds.")] = None,
        filter: Annotated[dict[str, Any] | None, Field(description='Metadata filter, e.g. {"topic": "db"} or {"n": {"$gte": 2}}.')] = None,
        limit: Annotated[int, Field(ge=1, le=100)] = 10,
        include_superseded: bool = False,
        cursor: Annotated[str | None, Field(description="The next_cursor of the previous page.")] = None,
    ) -> SearchOut:
        """Search memories, best first, with each hit's score and the reasons for it (next_cursor pages on)."""
        return await _run(
            search_page,
            adapter=sc.memory_for(ctx),
            query=query,
            namespace=list(namespace or []),
            kinds=kinds,
            filter=filter,
            limit=limit,
            include_superseded=include_superseded,
            cursor=cursor,
        )

    @server.tool(annotations=_READ)
    async def memory_get(id: _Id, ctx: Context[Any, Any, Any]) -> MemoryOut:
        """Fetch one memory by id."""
        return await _run(ops.get, adapter=sc.memory_for(ctx), id=id)

    @server.tool(annotations=_WRITE)
    async def memory_update(
        id: _Id,
        ctx: Context[Any, Any, Any],
        content: Annotated[str | None, Field(description="New text.")] = None,
        metadata: Annotated[dict[str, Any] | None, Field(description="New metadata (replaces the old).")] = None,
        importance: Annotated[float | None, Field(ge=0.0, le=1.0)] = None,
        supersede: Annotated[bool, Field(description="Keep the old version as history and store the new content as a new fact (semantic memory).")] = False,
    ) -> MemoryOut:
        """Change a memory (its previous version is kept as history), or supersede a fact."""
        return await _run(
            _write,
            op=ops.update,
            sc=sc,
            principal=sc.principal_of(ctx),
            adapter=sc.memory_for(ctx),
            id=id,
            content=content,
            metadata=metadata,
            importance=importance,
            supersede=supersede,
        )

    @server.tool(annotations=_DESTROY)
    async def memory_delete(id: _Id, ctx: Context[Any, Any, Any]) -> DeletedOut:
        """Delete a memory by id."""
        return await _run(ops.delete, adapter=sc.memory_for(ctx), id=id)

    @server.tool(annotations=_DESTROY)
    async def memory_erase(
        confirm: Annotated[str, Field(description='Repeat the namespace to erase as text ("projects/atlas"), or "/" to erase all your memory.')],
        ctx: Context[Any, Any, Any],
        namespace: Annotated[NamespaceIn | None, Field(description="What to erase (default: all your memory).")] = None,
    ) -> ErasedOut:
        """Erase a namespace of your memory for good: its memories, their history and derived data.

        Cannot be undone; ``confirm`` must repeat the namespace. Only your own
        memory can be erased.
        """
        return await _run(ops.erase, adapter=sc.memory_for(ctx), namespace=namespace or (), confirm=confirm)

    @server.tool(annotations=_READ)
    async def memory_list_namespaces(
        ctx: Context[Any, Any, Any],
        prefix: Annotated[NamespaceIn | None, Field(description="Only namespaces under this one.")] = None,
    ) -> NamespacesOut:
        """List the namespaces that hold memories, with how many each holds."""
        return await _run(ops.list_namespaces, adapter=sc.memory_for(ctx), prefix=prefix or ())


def _write(
    *,
    op: Callable[..., T],
    sc: ServerContext,
    principal: str,
    adapter: BaseMemoryAdapter,
    content: str | None,
    metadata: Any,
    **kwargs: Any,
) -> T:
    """A memory write after the principal's limits are checked (nothing is written if one fails)."""
    if sc.limiter is not None and (content is not None or metadata is not None):
        sc.limiter.check_content(content)
        sc.limiter.check_store(principal, adapter, content_bytes(content, metadata))
    return op(adapter=adapter, content=content, metadata=metadata, **kwargs)


def _add_graph_tools(server: FastMCP, sc: ServerContext) -> None:
    names = ", ".join(sc.graphs.names())

    @server.tool(
        annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=True),
        description=(
            "Run a registered graph on a thread and return its final messages. "
            "The same thread_id continues the same conversation; when a run stops at an "
            "interrupt (interrupted: true), call again with resume to answer it. "
            f"Registered graphs: {names}."
        ),
    )
    async def graph_run(
        name: Annotated[str, Field(description="The name of a registered graph.")],
        thread_id: Annotated[str, Field(min_length=1, description="The conversation thread to run on.")],
        ctx: Context[Any, Any, Any],
        input: Annotated[str | dict[str, Any] | None, Field(description="A user message, or the graph's input state as an object.")] = None,
        resume: Annotated[Any, Field(description="Instead of input: the answer to the interrupt the thread stopped at.")] = None,
    ) -> GraphRunOut:
        principal = sc.principal_of(ctx)
        return await _guard(
            sc.graphs.run(
                name,
                input,
                thread_id=thread_id,
                resume=resume,
                principal=principal,
                memory=sc.memory_for(ctx),
                on_step=async_progress(ctx),
            )
        )


def _add_brainstorm_tool(server: FastMCP, sc: ServerContext) -> None:
    @server.tool(
        annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=True),
    )
    async def brainstorm_run(
        ctx: Context[Any, Any, Any],
        topic: Annotated[str | None, Field(description="What to brainstorm (omit when resuming).")] = None,
        personas: PersonasIn = "builtin",
        rounds: Annotated[int, Field(ge=1, le=10, description="Rounds; each participant speaks once per round.")] = 3,
        thread_id: Annotated[str | None, Field(min_length=1, description="The session's thread (default: a new one).")] = None,
        resume: Annotated[bool, Field(description="Continue the unfinished session of thread_id.")] = False,
    ) -> BrainstormRunOut:
        """Brainstorm a topic with persona agents; returns the idea ledger and a summary.

        Accepted and rejected ideas are remembered in your memory, so a later
        brainstorm on a related topic builds on the accepted ones and does not
        bring back the rejected ones.
        """
        return await _run(
            run_brainstorm,
            memory=sc.memory_for(ctx),
            topic=topic,
            personas=personas,
            rounds=rounds,
            thread_id=thread_id,
            resume=resume,
            principal=sc.principal_of(ctx),
            model=sc.model,
            checkpoint_path=sc.graphs.checkpoints,
            on_update=step_progress(ctx),
        )



def _add_resources(server: FastMCP, sc: ServerContext) -> None:
    @server.resource(
        "memory://{id}",
        name="memory",
        description="A memory record by id, as JSON.",
        mime_type="application/json",
    )
    async def memory_resource(id: str, ctx: Context[Any, Any, Any]) -> str:
        record = await _run(ops.get, adapter=sc.memory_for(ctx), id=id)
        return json.dumps(record.model_dump(mode="json"), ensure_ascii=False)

    @server.resource(
        "graph://{name}/mermaid",
        name="graph_mermaid",
        description="A registered graph's diagram in Mermaid syntax.",
        mime_type="text/plain",
    )
    async def graph_mermaid(name: str) -> str:
        return await _run(sc.graphs.mermaid, name=name)

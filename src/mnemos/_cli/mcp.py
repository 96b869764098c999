"""``mnemos mcp serve``: expose memory, graphs and tools over MCP (stdio or streamable HTTP)."""

from __future__ import annotations

import enum
import os
import sys
from typing import Annotated

import typer

from mnemos._cli._common import MnemosGroup
from mnemos.exceptions import UsageError

app = typer.Typer(
    cls=MnemosGroup,
    help="Serve mnemos over the Model Context Protocol.",
    no_args_is_help=True,
)

class Transport(enum.StrEnum):
    STDIO = "stdio"
    HTTP = "http"


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@app.command()
def serve(
    transport: Annotated[
        Transport,
        typer.Option("--transport", "-t", help="stdio (a desktop client starts the server) or http (streamable HTTP)."),
    ] = Transport.STDIO,
    host: Annotated[str, typer.Option("--host", help="HTTP: address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="HTTP: port to bind.")] = 8765,
    store: Annotated[
        str | None,
        typer.Option("--store", envvar="MNEMOS_STORE", show_default=False, metavar="URL_OR_PATH", help="Memory store (default: $MNEMOS_HOME/memory.db)."),
    ] = None,
    embedder: Annotated[
        str | None,
        typer.Option("--embedder", envvar="MNEMOS_EMBEDDER", show_default=False, metavar="SPEC", help="Embedder the store was built with."),
    ] = None,
    tokens: Annotated[
        str | None,
        typer.Option("--tokens", metavar="FILE", help="HTTP: bearer tokens, JSON {token: principal} or lines 'token principal'. Also read from $MNEMOS_MCP_TOKENS."),
    ] = None,
    tool: Annotated[
        list[str] | None,
        typer.Option("--tool", metavar="MODULE:ATTR", help="Register a LangChain tool or list of tools (repeatable)."),
    ] = None,
    graph: Annotated[
        list[str] | None,
        typer.Option("--graph", metavar="NAME=MODULE:ATTR", help="Register a LangGraph graph under a name (repeatable)."),
    ] = None,
    extension: Annotated[
        list[str] | None,
        typer.Option("--extension", metavar="MODULE:ATTR", help="A server extension that adds tools (repeatable)."),
    ] = None,
    entry_points: Annotated[
        bool, typer.Option("--entry-points/--no-entry-points", help="Register tools from the 'mnemos.tools' entry points.")
    ] = True,
    checkpoints: Annotated[
        str | None,
        typer.Option("--checkpoints", envvar="MNEMOS_CHECKPOINTS", show_default=False, metavar="PATH_OR_URL",
                     help="Graph threads: a SQLite file or postgresql://... (default: $MNEMOS_HOME/checkpoints.db)."),
    ] = None,
    principal: Annotated[
        str | None,
        typer.Option("--principal", help="stdio or --no-auth: the principal served (default: local)."),
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="HTTP without tokens; only on a loopback address; one local principal.")
    ] = False,
    log_level: Annotated[
        LogLevel, typer.Option("--log-level", case_sensitive=False, help="Server log level (logs go to stderr).")
    ] = LogLevel.WARNING,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="HTTP: worker processes behind the port (more than 1: stateless HTTP).")
    ] = 1,
    max_content_bytes: Annotated[
        int | None, typer.Option("--max-content-bytes", min=0, show_default=False, help="Largest memory content in bytes (0: no limit; default 65536, or max_content_bytes in config.toml).")
    ] = None,
    rate_limit: Annotated[
        float | None, typer.Option("--rate-limit", min=0, show_default=False, help="Calls per minute per principal and worker (0: no limit; default 600).")
    ] = None,
    max_stored_bytes: Annotated[
        int | None, typer.Option("--max-stored-bytes", min=0, show_default=False, help="Stored bytes per principal (0: no limit; default 100 MiB).")
    ] = None,
    authorization_server: Annotated[
        str | None, typer.Option("--authorization-server", metavar="URL", show_default=False, help="HTTP: OAuth authorization server to advertise in /.well-known/oauth-protected-resource.")
    ] = None,
    resource_url: Annotated[
        str | None, typer.Option("--resource-url", metavar="URL", show_default=False, help="HTTP: this server's public /mcp URL in that metadata (default http://HOST:PORT/mcp).")
    ] = None,
) -> None:
    """Run the MCP server: memory tools, graph_run, and registered tools.

    Over HTTP every request needs a bearer token; each token's principal gets
    its own memory under principals/<principal>.
    """
    from mnemos.memory_adapters.registry import open_memory
    from mnemos.tools._auth import TOKENS_ENV, load_tokens
    from mnemos.tools._http_security import is_loopback
    from mnemos.tools.graph_runner import GraphRegistry
    from mnemos.tools.mcp_server import build_server
    from mnemos.tools.registry import ToolRegistry, load_object

    token_table: dict[str, str] | None = None
    if transport is Transport.HTTP:
        if no_auth:
            if tokens or os.environ.get(TOKENS_ENV):
                raise UsageError(f"--no-auth and tokens (--tokens or ${TOKENS_ENV}) exclude each other")
            if not is_loopback(host):
                raise UsageError(
                    f"--no-auth is refused on {host!r}: bind a loopback address (127.0.0.1) or use tokens"
                )
            typer.secho(
                f"WARNING: serving without authentication on http://{host}:{port}/mcp; any local "
                f"process can read and write the memory of principal {principal or 'local'!r}.",
                fg=typer.colors.RED,
                bold=True,
                err=True,
            )
        else:
            if principal:
                raise UsageError("--principal is for stdio or --no-auth; over HTTP principals come from tokens")
            token_table = load_tokens(tokens)
            if not token_table:
                raise UsageError(
                    f"HTTP serving needs bearer tokens: --tokens FILE or ${TOKENS_ENV}=token=principal,... "
                    "(or --no-auth on a loopback address)"
                )
    elif tokens or no_auth:
        raise UsageError("--tokens and --no-auth apply to --transport http only")
    elif workers > 1 or authorization_server or resource_url:
        raise UsageError("--workers, --authorization-server and --resource-url apply to --transport http only")
    if authorization_server and not token_table:
        raise UsageError("--authorization-server needs bearer tokens (not --no-auth)")

    from dataclasses import asdict

    from mnemos.tools._mcp_limits import limits_from_config
    from mnemos.tools._mcp_workers import ServeSettings, serve_http

    limits = limits_from_config().with_overrides(
        max_content_bytes=max_content_bytes, calls_per_minute=rate_limit, max_stored_bytes=max_stored_bytes
    )
    if transport is Transport.HTTP:
        settings = ServeSettings(
            store=store, embedder=embedder, tokens=token_table, principal=principal or "local",
            host=host, port=port, tools=list(tool or []), graphs=list(graph or []),
            extensions=list(extension or []), entry_points=entry_points, checkpoints=checkpoints,
            log_level=log_level.value, limits=asdict(limits),
            authorization_server=authorization_server, resource_url=resource_url,
        )
        who = f"{len(set(token_table.values()))} principal(s)" if token_table else "no auth"
        procs = f", {workers} workers" if workers > 1 else ""
        typer.echo(f"mnemos MCP server on http://{host}:{port}/mcp ({who}{procs})", err=True)
        try:
            serve_http(settings, workers=workers)
        except KeyboardInterrupt:  # pragma: no cover - interactive stop
            pass
        finally:
            sys.stderr.flush()
        return

    registry = ToolRegistry()
    if entry_points:
        registry.load_entry_points()
    for spec in tool or []:
        registry.register_path(spec)
    graphs = GraphRegistry(checkpoint_path=checkpoints)
    for spec in graph or []:
        graphs.register_spec(spec)
    extensions = [load_object(spec) for spec in extension or []]

    memory = open_memory(store, embedder=embedder)
    try:
        server = build_server(
            memory,
            registry,
            graphs,
            tokens=token_table,
            principal=principal or "local",
            host=host,
            port=port,
            extensions=extensions,
            log_level=log_level.value,  # type: ignore[arg-type]
            limits=limits,
        )
        server.run(transport="stdio")
    except KeyboardInterrupt:  # pragma: no cover - interactive stop
        pass
    finally:
        memory.close()
        sys.stderr.flush()



class ConfigTransport(enum.StrEnum):
    STDIO = "stdio"
    HTTP = "http"


class ConfigClient(enum.StrEnum):
    ANY = "any"
    DESKTOP = "desktop"
    LANGCHAIN = "langchain"


@app.command()
def config(
    transport: Annotated[
        ConfigTransport, typer.Option("--transport", "-t", help="stdio (the client starts mnemos) or http.")
    ] = ConfigTransport.STDIO,
    name: Annotated[str, typer.Option("--name", help="The server's name in mcpServers.")] = "mnemos",
    client: Annotated[
        ConfigClient,
        typer.Option("--client", help="any (works in all), desktop (no 'transport' key), langchain."),
    ] = ConfigClient.ANY,
    store: Annotated[
        str | None, typer.Option("--store", show_default=False, metavar="URL_OR_PATH", help="stdio: the store to serve.")
    ] = None,
    url: Annotated[str, typer.Option("--url", help="http: the server's endpoint.")] = "http://127.0.0.1:8765/mcp",
    token: Annotated[
        str | None, typer.Option("--token", show_default=False, help="http: the bearer token to send.")
    ] = None,
    tokens: Annotated[
        str | None,
        typer.Option("--tokens", metavar="FILE", help="http: take the token of --principal from this file (or $MNEMOS_MCP_TOKENS)."),
    ] = None,
    principal: Annotated[
        str | None, typer.Option("--principal", help="http: whose token to write (default: the only one).")
    ] = None,
) -> None:
    """Print an mcpServers block for MCP clients (Claude Desktop, Cursor, langchain-mcp-adapters).

    The block is ready to paste: absolute paths, the token written out, no
    ${VAR} expansion. Over stdio the client starts `mnemos mcp serve` with
    this MNEMOS_HOME; over http it connects to a running server.
    """
    import json

    from mnemos.tools._auth import load_tokens
    from mnemos.tools._mcp_config import mcp_client_config

    if transport is ConfigTransport.HTTP and token is None:
        table = load_tokens(tokens)
        choices = sorted(t for t, p in table.items() if principal is None or p == principal)
        if len(choices) != 1:
            who = f"principal {principal!r}" if principal else "one principal"
            raise UsageError(
                f"cannot tell which token to write ({len(choices)} found for {who}): "
                "give --token, or --tokens FILE / $MNEMOS_MCP_TOKENS with --principal"
            )
        token = choices[0]
    block = mcp_client_config(
        transport=transport.value,  # type: ignore[arg-type]
        name=name,
        client=client.value,  # type: ignore[arg-type]
        store=store,
        url=url,
        token=token,
    )
    typer.echo(json.dumps(block, indent=2, ensure_ascii=False))

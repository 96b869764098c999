"""Tools from other MCP servers, for mnemos agents and graphs.

Servers are described in the ``mcpServers`` JSON that MCP clients already use::

    {"mcpServers": {
        "counter": {"command": "python", "args": ["server.py"], "env": {"LEVEL": "1"}},
        "search":  {"url": "http://127.0.0.1:8765/mcp",
                    "headers": {"Authorization": "Bearer ${SEARCH_TOKEN}"}}
    }}

An entry with ``command`` is started as a subprocess and spoken to over
stdio; an entry with ``url`` is reached over streamable HTTP (``"type":
"sse"`` for the older SSE transport). ``${VAR}`` in ``env``, ``headers`` and
``url`` is taken from the environment; ``"disabled": true`` skips an entry;
keys other clients add are ignored.

:func:`mcp_tools` opens **one session per server** and keeps it for the life
of the ``async with`` block, so a stateful server keeps its state between
tool calls (langchain-mcp-adapters' ``get_tools()`` would open a new session,
and start a new stdio process, for every call)::

    async with mcp_tools("mcp.json") as tools:
        agent = Agent("worker", ..., tools=tools)
        await graph.ainvoke(...)
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import anyio
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mnemos.exceptions import ConfigurationError, MnemosRuntimeError

__all__ = [
    "MCPServerError",
    "MCPToolbox",
    "mcp_tools",
    "parse_mcp_servers",
]


class MCPServerError(MnemosRuntimeError):
    """An external MCP server failed: it did not start, or it went away during a run."""

    def __init__(self, server: str, reason: str) -> None:
        self.server = server
        self.reason = reason
        super().__init__(f"MCP server {server!r}: {reason}")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    disabled: bool = False


class _StdioEntry(_Entry):
    type: Literal["stdio"] | None = None
    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = None
    cwd: str | None = None


class _HttpEntry(_Entry):
    type: Literal["http", "streamable-http", "streamable_http", "sse"] | None = None
    url: str
    headers: dict[str, str] | None = None
    timeout: float | None = Field(default=None, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: str, where: str, env: Mapping[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigurationError(f"{where}: environment variable {name} is not set")
        return env[name]

    return _VAR.sub(sub, value)


def _read_config(config: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(config, Mapping):
        return config
    if isinstance(config, str) and config.lstrip().startswith("{"):
        source, text = "MCP server config", config
    else:
        path = Path(config)
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"cannot read MCP server config {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{source}: expected a JSON object with an 'mcpServers' key")
    return data


def parse_mcp_servers(
    config: str | Path | Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Validate an ``mcpServers`` config (a dict, JSON text, or a file path).

    Returns langchain-mcp-adapters connections by server name. A malformed
    entry raises :class:`ConfigurationError` naming it.
    """
    env = os.environ if env is None else env
    data = _read_config(config)
    servers = data.get("mcpServers")
    if not isinstance(servers, Mapping):
        raise ConfigurationError("MCP server config: expected an object under 'mcpServers'")
    connections: dict[str, dict[str, Any]] = {}
    for name, raw in servers.items():
        where = f"mcpServers.{name}"
        if not isinstance(raw, Mapping):
            raise ConfigurationError(f"{where}: expected an object with 'command' or 'url'")
        if ("command" in raw) == ("url" in raw):
            raise ConfigurationError(
                f"{where}: give either 'command' (a stdio server) or 'url' (an HTTP server)"
            )
        model: type[_StdioEntry] | type[_HttpEntry] = _StdioEntry if "command" in raw else _HttpEntry
        try:
            entry = model.model_validate(dict(raw))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigurationError(f"{where}: {problems}") from None
        if entry.disabled:
            continue
        connections[name] = _connection(entry, where, env)
    return connections


def _connection(entry: _StdioEntry | _HttpEntry, where: str, env: Mapping[str, str]) -> dict[str, Any]:
    if isinstance(entry, _StdioEntry):
        conn: dict[str, Any] = {
            "transport": "stdio",
            "command": entry.command,
            "args": list(entry.args),
        }
        if entry.env is not None:
            conn["env"] = {k: _expand(v, f"{where}.env.{k}", env) for k, v in entry.env.items()}
        if entry.cwd is not None:
            conn["cwd"] = entry.cwd
        return conn
    conn = {
        "transport": "sse" if entry.type == "sse" else "streamable_http",
        "url": _expand(entry.url, f"{where}.url", env),
    }
    if entry.headers:
        conn["headers"] = {k: _expand(v, f"{where}.headers.{k}", env) for k, v in entry.headers.items()}
    if entry.timeout is not None:
        conn["timeout"] = entry.timeout
    return conn


_GONE = (
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    anyio.EndOfStream,
    ConnectionError,
    BrokenPipeError,
)


class _Link:
    """One server's session, kept open by its own task for the life of the toolbox.

    The MCP SDK's transports run their I/O in task groups that cancel their
    host when a request fails (a refused connection, a dead server). Holding
    each session in a task of its own keeps such a failure away from the
    caller: the link records it, and the calls waiting on that server end
    with :class:`MCPServerError` instead of hanging or being cancelled.
    """

    def __init__(self, name: str, client: Any) -> None:
        self.name = name
        self._client = client
        self.session: Any = None
        self.error: BaseException | None = None
        self._stop = anyio.Event()
        self._gone = anyio.Event()
        self._waiting: set[anyio.CancelScope] = set()

    @property
    def gone(self) -> bool:
        return self._gone.is_set()

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        started = False
        try:
            async with self._client.session(self.name) as session:
                self.session = session
                started = True
                task_status.started()
                await self._stop.wait()
        except Exception as exc:
            if not started:
                raise
            self.error = exc
        finally:
            self._gone.set()
            for scope in list(self._waiting):
                scope.cancel()

    def close(self) -> None:
        self._stop.set()

    async def call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        """Tool-call interceptor: run the call, turning a lost server into :class:`MCPServerError`."""
        from mcp.shared.exceptions import McpError
        from mcp.types import CONNECTION_CLOSED

        if self.gone:
            raise MCPServerError(self.name, f"is gone; cannot run {request.name!r}{self._why()}")
        with anyio.CancelScope() as scope:
            self._waiting.add(scope)
            try:
                return await handler(request)
            except McpError as exc:
                if exc.error.code == CONNECTION_CLOSED:
                    raise MCPServerError(self.name, f"went away while running {request.name!r}") from exc
                raise MCPServerError(self.name, f"{request.name!r} failed: {exc.error.message}") from exc
            except _GONE as exc:
                raise MCPServerError(
                    self.name, f"went away while running {request.name!r} ({type(exc).__name__})"
                ) from exc
            finally:
                self._waiting.discard(scope)
        raise MCPServerError(self.name, f"went away while running {request.name!r}{self._why()}")

    def _why(self) -> str:
        return f" ({_describe(self.error)})" if self.error is not None else ""


class MCPToolbox:
    """Open sessions to MCP servers and their tools as LangChain tools.

    Use it as an async context manager; :func:`mcp_tools` is the short form.
    ``tool_name_prefix`` names tools ``<server>_<tool>`` so that two servers
    may offer tools of the same name.
    """

    def __init__(
        self,
        config: str | Path | Mapping[str, Any],
        *,
        servers: Sequence[str] | None = None,
        tool_name_prefix: bool = False,
        handle_tool_errors: bool = True,
    ) -> None:
        connections = parse_mcp_servers(config)
        if servers is not None:
            unknown = [s for s in servers if s not in connections]
            if unknown:
                raise ConfigurationError(
                    f"no MCP server named {unknown[0]!r} in the config; known: {', '.join(connections) or 'none'}"
                )
            connections = {s: connections[s] for s in servers}
        self._connections = connections
        self._prefix = tool_name_prefix
        self._handle_errors = handle_tool_errors
        self._group: Any = None
        self._links: list[_Link] = []
        self.tools_by_server: dict[str, list[BaseTool]] = {}

    @property
    def tools(self) -> list[BaseTool]:
        """Every server's tools, in config order."""
        return [t for tools in self.tools_by_server.values() for t in tools]

    async def __aenter__(self) -> MCPToolbox:
        from langchain_mcp_adapters.client import MultiServerMCPClient
        from langchain_mcp_adapters.tools import load_mcp_tools

        client = MultiServerMCPClient(self._connections)  # type: ignore[arg-type]
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        try:
            for name in self._connections:
                link = _Link(name, client)
                try:
                    await group.start(link.run)
                except Exception as exc:
                    raise MCPServerError(name, f"could not connect: {_describe(exc)}") from exc
                self._links.append(link)
                try:
                    tools = await load_mcp_tools(
                        link.session,
                        server_name=name,
                        tool_name_prefix=self._prefix,
                        tool_interceptors=[link.call],
                        handle_tool_errors=self._handle_errors,
                    )
                except MCPServerError:
                    raise
                except Exception as exc:
                    raise MCPServerError(name, f"could not list its tools: {_describe(exc)}") from exc
                self.tools_by_server[name] = tools
            names = [t.name for t in self.tools]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ConfigurationError(
                    f"two MCP servers offer a tool named {dupes[0]!r}; use tool_name_prefix=True"
                )
        except BaseException as exc:
            await self._shutdown(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._shutdown(*exc_info)

    async def _shutdown(self, *exc_info: Any) -> None:
        group, self._group = self._group, None
        links, self._links = self._links, []
        self.tools_by_server = {}
        if group is None:
            return
        for link in links:
            link.close()
        try:
            await group.__aexit__(*exc_info)
        except Exception:
            # A server that already went away may fail again while closing; the
            # error that matters (if any) was raised from the block itself.
            if exc_info[0] is None:
                raise


@asynccontextmanager
async def mcp_tools(
    config: str | Path | Mapping[str, Any],
    *,
    servers: Sequence[str] | None = None,
    tool_name_prefix: bool = False,
    handle_tool_errors: bool = True,
) -> AsyncIterator[list[BaseTool]]:
    """``async with mcp_tools(config) as tools:`` — one live session per server for the block."""
    async with MCPToolbox(
        config,
        servers=servers,
        tool_name_prefix=tool_name_prefix,
        handle_tool_errors=handle_tool_errors,
    ) as box:
        yield box.tools


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if str(exc) else text

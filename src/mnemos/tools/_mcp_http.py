"""The HTTP layer around the MCP SDK's streamable HTTP app: bad JSON, quiet disconnects, OAuth metadata.

- :class:`JsonGuard` answers a POST whose body is not JSON, or is nested
  deeper than :data:`MAX_JSON_DEPTH` levels, with HTTP 400 and a JSON-RPC
  parse error (``-32700``) before the SDK sees it. (The SDK's own parser
  raises ``RecursionError`` on a body nested ~1,000 deep and answers 500.)
- :func:`quiet_disconnect_logs` stops the SDK from logging a traceback
  each time a client closes its session cleanly (the SSE writers see their
  stream closed and log ``ClosedResourceError``); real errors still log.
- :func:`protected_resource_metadata` is the OAuth 2.0 Protected Resource
  Metadata document (RFC 9728) that points MCP clients at an authorization
  server after a 401.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import OrderedDict, deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.auth.settings import AuthSettings
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.types import JSONRPCMessage, Tool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mnemos.exceptions import ConfigurationError
from mnemos.tools._http_security import url_host

if TYPE_CHECKING:
    from mcp.server.fastmcp import FastMCP

__all__ = [
    "MAX_JSON_DEPTH",
    "RETRY_MS",
    "JsonGuard",
    "MemoryEventStore",
    "add_root_metadata_route",
    "cache_initialization_options",
    "http_options",
    "json_depth_exceeds",
    "oauth_settings",
    "protected_resource_metadata",
    "quiet_disconnect_logs",
    "skip_output_revalidation",
]

RETRY_MS = 2000
"""The SSE ``retry`` (milliseconds) the server suggests to clients in its priming events."""

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in a request body."""

_OPENERS = frozenset(b"[{")


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` (JSON text) nests arrays/objects more than ``limit`` deep.

    Brackets inside strings do not count. Cheap on ordinary bodies: if the
    body holds no more than ``limit`` opening brackets at all, it cannot nest
    deeper and is not scanned.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def _parse_error(message: str) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": f"Parse error: {message}"}}
    ).encode()


async def _respond(send: Send, status: int, payload: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


class JsonGuard:
    """ASGI middleware: 400 with a JSON-RPC parse error for POST bodies that are not JSON or nest too deep.

    Only POSTs to ``path`` are read; the body is handed on unchanged.
    """

    def __init__(
        self, app: ASGIApp, *, path: str = "/mcp", max_depth: int = MAX_JSON_DEPTH, max_body: int = 4 * 1024 * 1024
    ) -> None:
        self.app = app
        self.path = path.rstrip("/") or "/"
        self.max_depth = max_depth
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _respond(send, 413, json.dumps(
                    {"jsonrpc": "2.0", "id": None,
                     "error": {"code": -32600, "message": f"Request body larger than {self.max_body} bytes"}}
                ).encode())
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = None
        if json_depth_exceeds(body, self.max_depth):
            problem = f"JSON nested deeper than {self.max_depth} levels"
        else:
            try:
                json.loads(body)
            except (ValueError, RecursionError) as exc:
                problem = str(exc) or type(exc).__name__
        if problem is not None:
            await _respond(send, 400, _parse_error(problem))
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


_DISCONNECT_ERRORS = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream)
_QUIET_LOGGERS = ("mcp.server.streamable_http", "mcp.server.streamable_http_manager")


class _DisconnectFilter(logging.Filter):
    """Drops records whose exception is a stream closed by a client going away."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, _DISCONNECT_ERRORS):
                return False
            group = getattr(exc, "exceptions", None)
            if group and all(isinstance(e, _DISCONNECT_ERRORS) for e in group):
                return False
            exc = exc.__cause__ or exc.__context__ if not group else None
        return True


_FILTER = _DisconnectFilter()


def quiet_disconnect_logs() -> None:
    """Stop tracebacks for streams closed by clients that ended their session (idempotent)."""
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def protected_resource_metadata(
    resource: str, authorization_servers: list[str], *, scopes: list[str] | None = None
) -> Mapping[str, Any]:
    """The RFC 9728 document: this resource, who issues tokens for it, how to send them."""
    document: dict[str, Any] = {
        "resource": resource,
        "authorization_servers": list(authorization_servers),
        "bearer_methods_supported": ["header"],
        "resource_name": "mnemos",
    }
    if scopes:
        document["scopes_supported"] = list(scopes)
    return document


class MemoryEventStore(EventStore):
    """A bounded in-memory event store: SSE priming events and replay after a reconnect (SEP-1699).

    Keeps the last ``per_stream`` events of the last ``streams`` streams of
    this process; a client reconnecting with an older ``Last-Event-ID`` gets
    what is still kept.
    """

    def __init__(self, *, streams: int = 1024, per_stream: int = 256) -> None:
        self._streams: OrderedDict[StreamId, deque[tuple[int, JSONRPCMessage | None]]] = OrderedDict()
        self._where: dict[int, StreamId] = {}
        self._ids = itertools.count(1)
        self._max_streams = streams
        self._per_stream = per_stream

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        number = next(self._ids)
        events = self._streams.get(stream_id)
        if events is None:
            events = self._streams[stream_id] = deque()
            while len(self._streams) > self._max_streams:
                _, dropped = self._streams.popitem(last=False)
                for old, _msg in dropped:
                    self._where.pop(old, None)
        else:
            self._streams.move_to_end(stream_id)
        if len(events) >= self._per_stream:
            old, _msg = events.popleft()
            self._where.pop(old, None)
        events.append((number, message))
        self._where[number] = stream_id
        return str(number)

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        try:
            after = int(last_event_id)
        except ValueError:
            return None
        stream_id = self._where.get(after)
        if stream_id is None:
            return None
        for number, message in list(self._streams.get(stream_id, ())):
            if number > after and message is not None:
                await send_callback(EventMessage(message, str(number)))
        return stream_id


def http_options(stateless: bool) -> dict[str, Any]:
    """FastMCP options for streamable HTTP: an event store and SSE ``retry`` unless stateless."""
    if stateless:
        return {}
    return {"event_store": MemoryEventStore(), "retry_interval": RETRY_MS}


def oauth_settings(
    host: str, port: int, authorization_server: str | None, resource_url: str | None
) -> AuthSettings:
    """The SDK's auth settings: bearer tokens, and the authorization server to advertise if any."""
    if authorization_server is None:
        return AuthSettings(
            issuer_url=f"http://{url_host(host)}:{port}",  # type: ignore[arg-type]
            resource_server_url=None,
            validate_token_resource=False,
        )
    resource = resource_url or f"http://{url_host(host)}:{port}/mcp"
    for name, value in (("authorization server", authorization_server), ("resource URL", resource)):
        if not value.startswith(("https://", "http://")):
            raise ConfigurationError(f"the {name} must be an http(s) URL, got {value!r}")
    return AuthSettings(
        issuer_url=authorization_server,  # type: ignore[arg-type]
        resource_server_url=resource,  # type: ignore[arg-type]
        validate_token_resource=False,  # the token table knows no audiences
    )


def add_root_metadata_route(server: FastMCP) -> None:
    """Serve the metadata at ``/.well-known/oauth-protected-resource`` as well.

    The SDK serves it at the RFC 9728 path for the resource
    (``/.well-known/oauth-protected-resource/mcp``) and names that one in
    ``WWW-Authenticate``; clients that look at the root find it too.
    """
    auth = server.settings.auth
    if auth is None or auth.resource_server_url is None:
        return
    document = protected_resource_metadata(
        str(auth.resource_server_url), [str(auth.issuer_url)], scopes=auth.required_scopes
    )

    @server.custom_route("/.well-known/oauth-protected-resource", methods=["GET", "OPTIONS"])
    async def protected_resource(request: Request) -> Response:
        return JSONResponse(document, headers={"Access-Control-Allow-Origin": "*",
                                               "Cache-Control": "public, max-age=3600"})


def skip_output_revalidation(lowlevel: Any) -> None:
    """Stop the SDK from re-validating FastMCP tool results with ``jsonschema`` on every call.

    FastMCP builds a tool's structured result from the tool's pydantic return
    model, so it matches the tool's ``outputSchema`` by construction (and
    FastMCP validates the arguments with pydantic too). The low-level server
    then checks the result again with ``jsonschema.validate``, which first
    checks the *schema itself* against the JSON Schema meta-schema: tens of
    milliseconds per call, most of the time a call to ``memory_add`` took. The
    low-level server still sees every tool, only without ``outputSchema`` when
    it looks one up for that check; clients still get the schema in
    ``tools/list`` and the result in ``structuredContent``.
    """
    original = getattr(lowlevel, "_get_cached_tool_definition", None)
    if original is None:  # another SDK version: leave it as it is
        return
    stripped: dict[str, tuple[Tool, Tool]] = {}

    async def tool_definition(name: str) -> Tool | None:
        tool: Tool | None = await original(name)
        if tool is None or tool.outputSchema is None:
            return tool
        cached = stripped.get(name)
        if cached is None or cached[0] is not tool:
            cached = stripped[name] = (tool, tool.model_copy(update={"outputSchema": None}))
        return cached[1]

    lowlevel._get_cached_tool_definition = tool_definition


def cache_initialization_options(lowlevel: Any) -> None:
    """Build the server's initialization options once, not once per stateless request.

    A stateless server runs a fresh MCP session for every HTTP request, and
    the SDK starts each one with ``create_initialization_options()``, which
    rebuilds the capabilities (and, for a server without a version, reads
    the ``mcp`` package's metadata from disk). Install this last, over any
    other wrapper: the options are kept until the request or notification
    handlers, name, version or instructions change; calls with explicit
    arguments are built as before.
    """
    original = getattr(lowlevel, "create_initialization_options", None)
    if original is None:  # another SDK version: leave it as it is
        return
    cached: list[tuple[tuple[Any, ...], Any]] = []

    def options(notification_options: Any = None, experimental_capabilities: Any = None) -> Any:
        if notification_options is not None or experimental_capabilities:
            return original(notification_options, experimental_capabilities)
        key = (tuple(lowlevel.request_handlers), tuple(lowlevel.notification_handlers),
               lowlevel.name, lowlevel.version, lowlevel.instructions)
        if not cached or cached[0][0] != key:
            cached[:] = [(key, original())]
        return cached[0][1]

    lowlevel.create_initialization_options = options

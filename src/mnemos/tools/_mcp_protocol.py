"""Protocol behaviour of the MCP server beyond tools: errors, logging, subscriptions, progress.

- **Errors** as the specification gives them: a request for a method the
  protocol does not have gets ``-32601`` (the SDK answers ``-32602``), an
  unknown or missing resource ``-32002``, an unknown prompt or bad prompt
  arguments ``-32602``; anything else ``-32603``.
- **serverInfo** names mnemos and its version.
- **Logging** (``logging/setLevel``): once a client sets a level, every tool
  call of that session is reported as a ``notifications/message`` (``info``
  on success, ``error`` on failure, with the tool and how long it took), when
  the level lets it through. Nothing is sent before a level is set.
- **Subscriptions** (``resources/subscribe``): after a tool changes a
  principal's memory, each of that principal's sessions gets
  ``notifications/resources/updated`` for every ``memory://`` resource it
  subscribed to. Any URI may be subscribed; only memory resources ever change.
- **List changes**: the resource list holds one resource per namespace; when a
  change adds or removes a namespace, that principal's sessions that listed
  resources get ``notifications/resources/list_changed``.
- **Progress**: tools that take a while report steps with
  :func:`progress_callback` when the client sent a ``progressToken``.

Notifications go only to sessions of the principal whose memory changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import typing
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import types
from mcp.server.fastmcp import Context, FastMCP
from mcp.server.lowlevel import NotificationOptions
from mcp.server.lowlevel.server import Server
from mcp.server.session import ServerSession
from mcp.shared.exceptions import McpError
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from mnemos.exceptions import InvalidNamespaceError, MemoryNotFoundError, MnemosError, UsageError
from mnemos.tools._mcp_common import Caller

__all__ = [
    "RESOURCE_NOT_FOUND",
    "ProtocolState",
    "install_protocol",
    "progress_callback",
    "prompt_error",
    "resource_error",
    "step_progress",
]

RESOURCE_NOT_FOUND = -32002
"""The specification's code for a resource that does not exist."""

_LEVELS: tuple[types.LoggingLevel, ...] = typing.get_args(types.LoggingLevel)


def _client_methods() -> frozenset[str]:
    methods: set[str] = set()
    for request in typing.get_args(types.ClientRequestType):
        methods.update(typing.get_args(request.model_fields["method"].annotation))
    return frozenset(methods)


CLIENT_METHODS = _client_methods()


# --- errors ---------------------------------------------------------------------------------


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def resource_error(uri: object, exc: BaseException) -> McpError:
    """The JSON-RPC error for a failed ``resources/read`` of ``uri``."""
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, McpError):
            return e
    data = {"uri": str(uri)}
    if any(isinstance(e, (InvalidNamespaceError, ValidationError)) for e in chain):
        reason = next(e for e in chain if isinstance(e, (InvalidNamespaceError, ValidationError)))
        return McpError(types.ErrorData(code=types.INVALID_PARAMS, message=f"Invalid resource URI: {reason}",
                                        data=data))
    if any(isinstance(e, (MemoryNotFoundError, UsageError)) for e in chain) or str(exc).startswith(
        "Unknown resource"
    ):
        return McpError(types.ErrorData(code=RESOURCE_NOT_FOUND, message=f"Resource not found: {uri}", data=data))
    return McpError(types.ErrorData(code=types.INTERNAL_ERROR, message=f"Reading {uri} failed: {exc}", data=data))


def prompt_error(name: str, exc: BaseException) -> McpError:
    """The JSON-RPC error for a failed ``prompts/get`` of ``name``."""
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, McpError):
            return e
    text = str(exc).replace("Value error, ", "")
    if any(isinstance(e, (ValueError, MnemosError, ValidationError)) for e in chain):
        return McpError(types.ErrorData(code=types.INVALID_PARAMS, message=text, data={"prompt": name}))
    return McpError(types.ErrorData(code=types.INTERNAL_ERROR, message=text, data={"prompt": name}))


def _answer_unknown_methods(lowlevel: Server[Any, Any]) -> None:
    """Answer requests for methods MCP does not have with -32601 before the SDK's session
    (which answers -32602 for any request it cannot parse) sees them."""
    original = lowlevel.run

    async def run(read_stream: Any, write_stream: Any, *args: Any, **kwargs: Any) -> None:
        send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)

        async def pump() -> None:
            with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                await _pump()

        async def _pump() -> None:
            async with send:
                async for message in read_stream:
                    root = message.message.root if isinstance(message, SessionMessage) else None
                    if isinstance(root, types.JSONRPCRequest) and root.method not in CLIENT_METHODS:
                        error = types.JSONRPCError(
                            jsonrpc="2.0", id=root.id,
                            error=types.ErrorData(code=types.METHOD_NOT_FOUND,
                                                  message=f"Method not found: {root.method}"),
                        )
                        await write_stream.send(SessionMessage(types.JSONRPCMessage(error)))
                        continue
                    await send.send(message)

        async with anyio.create_task_group() as tg:
            tg.start_soon(pump)
            try:
                await original(receive, write_stream, *args, **kwargs)
            finally:
                tg.cancel_scope.cancel()

    lowlevel.run = run  # type: ignore[method-assign]


# --- per-session state ----------------------------------------------------------------------


@dataclass
class _Session:
    principal: str
    level: int | None = None
    subscriptions: set[str] = field(default_factory=set)
    lists_resources: bool = False


class ProtocolState:
    """Which sessions belong to which principal, their log levels and subscriptions."""

    def __init__(self, server: FastMCP, sc: Caller, namespaces: Callable[[Context[Any, Any, Any]], set[str]]) -> None:
        self.server = server
        self.sc = sc
        self._namespaces = namespaces
        self.sessions: weakref.WeakKeyDictionary[ServerSession, _Session] = weakref.WeakKeyDictionary()
        self.listed: dict[str, set[str]] = {}
        """The namespace paths each principal's sessions were last shown, for list changes."""

    def session(self, ctx: Context[Any, Any, Any] | None = None) -> tuple[ServerSession, _Session]:
        ctx = ctx or self.server.get_context()
        session = ctx.session
        state = self.sessions.get(session)
        if state is None:
            state = self.sessions[session] = _Session(self.sc.principal_of(ctx))
        return session, state

    async def resources_listed(self, ctx: Context[Any, Any, Any], paths: set[str]) -> None:
        _, state = self.session(ctx)
        state.lists_resources = True
        self.listed[state.principal] = paths

    async def after_call(self, name: str, *, ok: bool, elapsed: float, error: str | None, writes: bool) -> None:
        """Log the call to its session, and tell the principal's sessions what changed."""
        ctx = self.server.get_context()
        try:
            session, state = self.session(ctx)
        except Exception:  # an unauthenticated call already failed; nothing to report
            return
        level: types.LoggingLevel = "info" if ok else "error"
        if state.level is not None and _LEVELS.index(level) >= state.level:
            data = {"tool": name, "ok": ok, "ms": round(elapsed * 1000, 1)}
            if error:
                data["error"] = error
            await _send(session.send_log_message(level, data, logger="mnemos", related_request_id=ctx.request_id))
        if not (ok and writes):
            return
        peers = [(s, st) for s, st in list(self.sessions.items()) if st.principal == state.principal]
        for peer, st in peers:
            for uri in sorted(st.subscriptions):
                if uri.startswith("memory://"):
                    await _send(peer.send_resource_updated(types.AnyUrl(uri)))
        if state.principal in self.listed:
            paths = await asyncio.to_thread(self._namespaces, ctx)
            if paths != self.listed[state.principal]:
                self.listed[state.principal] = paths
                for peer, st in peers:
                    if st.lists_resources:
                        await _send(peer.send_resource_list_changed())


async def _send(notification: Awaitable[None]) -> None:
    """Send a notification; one a session cannot take within a second is dropped, so a stuck
    peer never holds up the call that changed the memory."""
    try:
        with anyio.move_on_after(1.0):
            await notification
    except Exception:  # a peer session that has gone away misses the notification
        return


def install_protocol(
    server: FastMCP,
    sc: Caller,
    *,
    version: str,
    namespaces: Callable[[Context[Any, Any, Any]], set[str]],
) -> ProtocolState:
    """Add logging, subscriptions, the version and the error codes to ``server``."""
    lowlevel = server._mcp_server
    lowlevel.version = version
    state = ProtocolState(server, sc, namespaces)
    _answer_unknown_methods(lowlevel)

    @lowlevel.set_logging_level()
    async def set_level(level: types.LoggingLevel) -> None:
        _, st = state.session()
        st.level = _LEVELS.index(level)

    @lowlevel.subscribe_resource()
    async def subscribe(uri: types.AnyUrl) -> None:
        state.session()[1].subscriptions.add(str(uri))

    @lowlevel.unsubscribe_resource()
    async def unsubscribe(uri: types.AnyUrl) -> None:
        state.session()[1].subscriptions.discard(str(uri))

    original = lowlevel.create_initialization_options

    def options(notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any) -> Any:
        notification_options = notification_options or NotificationOptions(resources_changed=True)
        init = original(notification_options, *args, **kwargs)
        if init.capabilities.resources is not None:
            init.capabilities.resources.subscribe = True
        return init

    lowlevel.create_initialization_options = options  # type: ignore[method-assign]
    return state


def progress_callback(ctx: Context[Any, Any, Any]) -> Callable[[str], None] | None:
    """A callback ``step(message)`` that sends the client a progress notification per step,
    callable from a worker thread; None when the client sent no ``progressToken``."""
    meta = ctx.request_context.meta
    if meta is None or meta.progressToken is None:
        return None
    loop = asyncio.get_running_loop()
    count = 0

    def step(message: str) -> None:
        nonlocal count
        count += 1
        future = asyncio.run_coroutine_threadsafe(ctx.report_progress(count, None, message), loop)
        try:
            future.result(timeout=10)
        except Exception:  # a lost notification must not stop the work
            return

    return step


def step_progress(ctx: Context[Any, Any, Any]) -> Callable[[str, dict[str, Any]], None] | None:
    """An ``on_update(node, update)`` for a brainstorm that reports each step as progress
    (``step: <node>``); None when the client sent no ``progressToken``."""
    step = progress_callback(ctx)
    if step is None:
        return None
    return lambda node, update: step(f"step: {node}")


def async_progress(ctx: Context[Any, Any, Any]) -> Callable[[str], Awaitable[None]] | None:
    """Like :func:`progress_callback`, for steps taken on the event loop."""
    meta = ctx.request_context.meta
    if meta is None or meta.progressToken is None:
        return None
    count = 0

    async def step(message: str) -> None:
        nonlocal count
        count += 1
        await _send(ctx.report_progress(count, None, message))

    return step


def timed() -> Callable[[], float]:
    """A stopwatch: call the result for the seconds elapsed."""
    start = time.perf_counter()
    return lambda: time.perf_counter() - start

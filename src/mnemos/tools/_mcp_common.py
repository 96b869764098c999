"""What the MCP server's feature modules share: the caller's context and tool errors.

The feature modules (knowledge graph, paging, prompts, resources, protocol)
depend on this module and not on :mod:`mnemos.tools.mcp_server`, which
imports them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from mcp.server.fastmcp import Context
from mcp.server.fastmcp.exceptions import ToolError

from mnemos.exceptions import MnemosError
from mnemos.memory_adapters.base import BaseMemoryAdapter

__all__ = ["Caller", "mnemos_version", "run_tool", "tool_message"]

T = TypeVar("T")


class Caller(Protocol):
    """The part of the server context a feature needs: who calls, and their memory."""

    def principal_of(self, ctx: Context[Any, Any, Any]) -> str: ...

    def memory_for(self, ctx: Context[Any, Any, Any]) -> BaseMemoryAdapter: ...


def tool_message(exc: MnemosError) -> str:
    """A mnemos error as one line for a client (without pydantic's prefix)."""
    return str(exc).replace("Value error, ", "")


async def run_tool(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Run a blocking operation off the event loop, mnemos errors as tool errors."""
    try:
        return await asyncio.to_thread(fn, **kwargs)
    except MnemosError as exc:
        raise ToolError(tool_message(exc)) from exc


def mnemos_version() -> str:
    """The installed mnemos version (what ``serverInfo.version`` says)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mnemos")
    except PackageNotFoundError:
        return "0+unknown"

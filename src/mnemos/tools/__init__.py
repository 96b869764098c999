"""Tools: the tool registry, built-in memory tools, and the MCP server and client.

The MCP pieces (:func:`build_server`, :func:`mcp_tools`, ...) are imported on
first use, so ``import mnemos.tools`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mnemos.tools.memory_tools import memory_tools
from mnemos.tools.registry import ToolRegistry, load_object

if TYPE_CHECKING:
    from mnemos.tools.graph_runner import GraphRegistry, GraphRunOut
    from mnemos.tools.mcp_client import MCPServerError, MCPToolbox, mcp_tools, parse_mcp_servers
    from mnemos.tools.mcp_server import ServerContext, ServerExtension, build_server

__all__ = [
    "GraphRegistry",
    "GraphRunOut",
    "MCPServerError",
    "MCPToolbox",
    "ServerContext",
    "ServerExtension",
    "ToolRegistry",
    "build_server",
    "load_object",
    "mcp_tools",
    "memory_tools",
    "parse_mcp_servers",
]

_LAZY = {
    "GraphRegistry": "mnemos.tools.graph_runner",
    "GraphRunOut": "mnemos.tools.graph_runner",
    "MCPServerError": "mnemos.tools.mcp_client",
    "MCPToolbox": "mnemos.tools.mcp_client",
    "mcp_tools": "mnemos.tools.mcp_client",
    "parse_mcp_servers": "mnemos.tools.mcp_client",
    "ServerContext": "mnemos.tools.mcp_server",
    "ServerExtension": "mnemos.tools.mcp_server",
    "build_server": "mnemos.tools.mcp_server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mnemos.tools' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)

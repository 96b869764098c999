"""A small stateful MCP server: a counter and a key-value store, kept in memory.

Its state lives as long as its process, so it shows whether a client keeps one
session per server (the count goes on) or starts a new one per call (the
count starts again at 1). Run it over stdio::

    python examples/mcp_external_tool/server.py
"""

from __future__ import annotations

import os

from mcp.server.fastmcp import FastMCP
from pydantic import BaseModel

server = FastMCP("counter", log_level="WARNING")

_counts: dict[str, int] = {}
_values: dict[str, str] = {}


class Count(BaseModel):
    name: str
    value: int
    pid: int


@server.tool()
def increment(name: str = "default", by: int = 1) -> Count:
    """Add ``by`` to the counter ``name`` and return its new value."""
    _counts[name] = _counts.get(name, 0) + by
    return Count(name=name, value=_counts[name], pid=os.getpid())


@server.tool()
def put(key: str, value: str) -> str:
    """Store ``value`` under ``key``."""
    _values[key] = value
    return f"stored {key}"


@server.tool()
def get(key: str) -> str:
    """The value stored under ``key``."""
    if key not in _values:
        raise ValueError(f"no value stored under {key!r}")
    return _values[key]


if __name__ == "__main__":
    server.run("stdio")

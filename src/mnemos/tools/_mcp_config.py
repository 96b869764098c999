"""``mcpServers`` blocks that MCP clients read as they are (what ``mnemos mcp config`` prints).

One block shape works in Claude Desktop, Cursor-style clients and
``langchain-mcp-adapters``:

- stdio: ``command`` (the absolute path of the ``mnemos`` script), ``args``,
  ``env`` and ``"transport": "stdio"``;
- HTTP: ``url``, ``headers`` with the bearer token written out, and
  ``"transport": "http"``.

``transport`` is the key ``langchain-mcp-adapters`` requires; desktop
clients ignore it (``client="desktop"`` leaves it out). Nothing in a block
uses ``${VAR}`` expansion, which not every client does.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any, Literal

from mnemos.exceptions import UsageError

__all__ = ["mcp_client_config", "mnemos_executable"]

Client = Literal["any", "desktop", "langchain"]


def mnemos_executable() -> list[str]:
    """The command that runs this mnemos: its ``mnemos`` script, else ``python -m mnemos.cli``."""
    beside = Path(sys.executable).with_name("mnemos")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("mnemos")
    if found:
        return [str(Path(found).resolve())]
    return [sys.executable, "-m", "mnemos.cli"]


def mcp_client_config(
    *,
    transport: Literal["stdio", "http"] = "stdio",
    name: str = "mnemos",
    client: Client = "any",
    home: str | Path | None = None,
    store: str | None = None,
    serve_args: list[str] | None = None,
    url: str = "http://127.0.0.1:8765/mcp",
    token: str | None = None,
) -> dict[str, Any]:
    """An ``{"mcpServers": {name: ...}}`` block for a client to read verbatim.

    stdio: the client starts ``mnemos mcp serve`` itself, with
    ``MNEMOS_HOME`` set to ``home`` (default: the current one, absolute).
    HTTP: the client connects to ``url`` with ``Authorization: Bearer <token>``.
    """
    if not name or any(c.isspace() for c in name):
        raise UsageError(f"a server name is a non-empty word, got {name!r}")
    entry: dict[str, Any]
    if transport == "stdio":
        if token is not None:
            raise UsageError("a token is for --transport http; over stdio the client starts the server")
        command, *prefix = mnemos_executable()
        args = [*prefix, "mcp", "serve"]
        if store:
            args += ["--store", store]
        args += list(serve_args or [])
        from mnemos.config import mnemos_home

        env = {"MNEMOS_HOME": str(Path(home).expanduser().resolve() if home else mnemos_home().resolve())}
        entry = {"command": command, "args": args, "env": env}
    elif transport == "http":
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"the server URL must start with http:// or https://, got {url!r}")
        if not token:
            raise UsageError("an HTTP client needs the server's bearer token (--token)")
        if any(c.isspace() for c in token) or "${" in token:
            raise UsageError("give the token itself: clients do not expand ${VAR} or spaces in it")
        entry = {"url": url, "headers": {"Authorization": f"Bearer {token}"}}
    else:
        raise UsageError(f"unknown transport {transport!r}; use stdio or http")
    if client != "desktop":
        entry["transport"] = transport
    return {"mcpServers": {name: entry}}

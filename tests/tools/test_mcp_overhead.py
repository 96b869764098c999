"""What a stateless HTTP server does per request: nothing it could do once at start.

A stateless server (``mnemos mcp serve --workers N``) runs a fresh MCP
session for every request. These tests drive the server's real ASGI app
in-process (no socket; what is checked is the work per request, not the
transport) and count the work that used to be repeated per request.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from mnemos import __version__
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.tools.mcp_server import build_server

TOKEN = "overhead-token-Zr8q"
HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "Mcp-Protocol-Version": "2025-06-18",
}


def _message(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("application/json"):
        return dict(response.json())
    data = [line[5:] for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()]
    return dict(json.loads(data[-1]))


async def _post_all(memory: NativeMemoryAdapter, bodies: list[dict[str, Any]], server: Any = None) -> list[dict[str, Any]]:
    server = server or build_server(memory, tokens={TOKEN: "alice"}, stateless=True)
    app = server.streamable_http_app()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as client,
    ):
        return [_message(await client.post("/mcp", json=body, headers=HEADERS)) for body in bodies]


def _call(n: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": n, "method": "tools/call",
            "params": {"name": "memory_add", "arguments": {"content": f"note {n}", "namespace": "n"}}}


def test_stateless_requests_do_not_rebuild_the_initialization_options(tmp_path: Path) -> None:
    """The SDK built the initialization options (capabilities, and the package version from disk
    when the server had none) anew for the session of every stateless request."""
    memory = NativeMemoryAdapter(tmp_path / "m.db")
    server = build_server(memory, tokens={TOKEN: "alice"}, stateless=True)
    lowlevel = server._mcp_server
    built: list[int] = []
    real = lowlevel.get_capabilities

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return real(*args, **kwargs)

    lowlevel.get_capabilities = counting
    try:
        answers = asyncio.run(_post_all(memory, [_call(n) for n in range(4)], server))
        assert [a["result"]["structuredContent"]["content"] for a in answers] == [f"note {n}" for n in range(4)]
        assert len(memory.scoped("principals", "alice").search("note", limit=10)) == 4
    finally:
        memory.close()
    assert len(built) <= 1


def test_stateless_initialize_reports_mnemos_and_its_capabilities(tmp_path: Path) -> None:
    """The options built once still describe this server: its name, mnemos's version, its tools and resources."""
    memory = NativeMemoryAdapter(tmp_path / "m.db")
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "0"}}}
    try:
        first, _, again = asyncio.run(_post_all(memory, [init, _call(2), init]))
    finally:
        memory.close()
    assert first == again
    result = first["result"]
    assert result["serverInfo"]["name"] == "mnemos" and result["serverInfo"]["version"] == __version__
    assert "tools" in result["capabilities"] and "resources" in result["capabilities"]
    assert "memory_add" in result["instructions"]


def test_uvicorn_serves_with_the_c_http_parser_and_event_loop() -> None:
    """With h11 (pure Python) and asyncio's loop, uvicorn served ~40% fewer calls/s; the project
    depends on httptools and uvloop so that its automatic choice finds them."""
    import sys

    import uvicorn

    config = uvicorn.Config(lambda scope, receive, send: None, http="auto", loop="auto")
    config.load()
    assert config.http_protocol_class.__name__ == "HttpToolsProtocol"
    if sys.platform != "win32":
        loop = config.get_loop_factory()
        assert loop is not None
        created = loop()
        try:
            assert type(created).__module__.startswith("uvloop")
        finally:
            created.close()

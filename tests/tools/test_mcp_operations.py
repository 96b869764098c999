"""Operating the HTTP MCP server: logs, bad JSON, per-principal limits, SSE priming, OAuth metadata.

Real uvicorn on 127.0.0.1 in a thread, the SDK's real client over streamable
HTTP, the native SQLite store.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mcp_testkit import http_session, serve_http

from mnemos.config import load_config_file
from mnemos.exceptions import ConfigurationError
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.tools._mcp_http import json_depth_exceeds
from mnemos.tools._mcp_limits import Limits, limits_from_config
from mnemos.tools.mcp_server import build_server

ALICE = "alice-ops-token-5c1e"
BOB = "bob-ops-token-9a7d"
TOKENS = {ALICE: "alice", BOB: "bob"}
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


@pytest.fixture
def url(memory: NativeMemoryAdapter) -> Iterator[str]:
    limits = Limits(max_content_bytes=1000, calls_per_minute=None, max_stored_bytes=3000)
    server = build_server(memory, tokens=TOKENS, limits=limits,
                          authorization_server="https://auth.example.com/")
    with serve_http(server.streamable_http_app()) as address:
        yield address


def _auth(token: str) -> dict[str, str]:
    return {**HEADERS, "Authorization": f"Bearer {token}"}


def test_clean_sessions_log_no_tracebacks(url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Each cleanly closed session used to log a ClosedResourceError traceback (SSE writer)."""
    caplog.set_level(logging.DEBUG)

    async def sessions() -> None:
        for n in range(5):
            async with http_session(url, ALICE) as session:
                result = await session.call_tool("memory_add", {"content": f"note {n}", "namespace": "ops"})
                assert not result.isError

    asyncio.run(sessions())
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith(("mcp", "mnemos"))]
    assert noisy == [], [f"{r.name}: {r.getMessage()}" for r in noisy]
    assert not any(r.exc_info for r in caplog.records if r.name.startswith("mcp"))


@pytest.mark.parametrize(
    "body",
    ["[" * 1000 + "]" * 1000, '{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": ' + "{\"a\":" * 1000 + "1" + "}" * 1001,
     "{not json", b"\xff\xfe".decode("latin-1")],
    ids=["nested-array-1000", "nested-object-1000", "malformed", "not-utf8"],
)
def test_bad_json_is_400_parse_error(url: str, memory: NativeMemoryAdapter, body: str) -> None:
    before = memory.count()
    response = httpx.post(url, content=body.encode("latin-1"), headers=_auth(ALICE), timeout=30)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == -32700
    assert memory.count() == before


def test_depth_scan_ignores_brackets_in_strings() -> None:
    assert not json_depth_exceeds(json.dumps({"content": "[" * 500}).encode(), 64)
    assert json_depth_exceeds(("[" * 65 + "]" * 65).encode(), 64)
    assert not json_depth_exceeds(("[" * 64 + "]" * 64).encode(), 64)


def test_limits_refuse_with_a_clear_error_and_keep_the_store(url: str, memory: NativeMemoryAdapter) -> None:
    async def calls() -> None:
        async with http_session(url, ALICE) as alice, http_session(url, BOB) as bob:
            big = await alice.call_tool("memory_add", {"content": "x" * 1001, "namespace": "n"})
            assert big.isError
            assert "1001 bytes; the limit is 1000 bytes" in big.content[0].text  # type: ignore[union-attr]
            for n in range(3):
                ok = await alice.call_tool("memory_add", {"content": f"{n}" + "y" * 899, "namespace": "n"})
                assert not ok.isError, ok.content
            over = await alice.call_tool("memory_add", {"content": "z" * 500, "namespace": "n"})
            assert over.isError
            assert "storage quota" in over.content[0].text  # type: ignore[union-attr]
            grow = await alice.call_tool(
                "memory_update", {"id": ok.structuredContent["id"], "content": "w" * 999})  # type: ignore[index]
            assert grow.isError
            # the quota is per principal: bob still has room
            assert not (await bob.call_tool("memory_add", {"content": "b" * 900, "namespace": "n"})).isError

    asyncio.run(calls())
    alice_rows = [r for r in memory.iter_export() if r["namespace"][:2] == ["principals", "alice"]]
    assert len(alice_rows) == 3
    assert all(len(r["content"]) == 900 for r in alice_rows)


def test_rate_limit_per_principal(memory: NativeMemoryAdapter) -> None:
    server = build_server(memory, tokens=TOKENS, limits=Limits(calls_per_minute=60, burst=3))

    async def calls() -> list[bool]:
        with serve_http(server.streamable_http_app()) as address:
            async with http_session(address, ALICE) as alice, http_session(address, BOB) as bob:
                errors = [(await alice.call_tool("memory_search", {})).isError for _ in range(5)]
                limited = await alice.call_tool("memory_add", {"content": "late", "namespace": "n"})
                assert limited.isError and "rate limit" in limited.content[0].text  # type: ignore[union-attr]
                assert not (await bob.call_tool("memory_search", {})).isError
                return errors

    assert asyncio.run(calls()) == [False, False, False, True, True]
    assert memory.count() == 0


def test_limits_from_config_toml(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[mcp.limits]\nmax_content_bytes = 10\ncalls_per_minute = 0\n")
    limits = limits_from_config(load_config_file(path))
    assert limits.max_content_bytes == 10
    assert not limits.calls_per_minute
    assert limits.max_stored_bytes == Limits().max_stored_bytes
    path.write_text("[mcp.limits]\nmax_bytes = 10\n")
    with pytest.raises(ConfigurationError, match="unknown key"):
        limits_from_config(load_config_file(path))


def test_sse_priming_event_with_retry(url: str) -> None:
    """SEP-1699: a POST answered as an SSE stream starts with an event id and a retry field."""
    with httpx.Client(timeout=30) as client:
        response = client.post(url, json=INIT, headers=_auth(ALICE))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        first = response.text.replace("\r\n", "\n").split("\n\n")[0]
        fields = dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "") for line in first.splitlines())
        assert fields.get("id")
        assert fields.get("retry") == "2000"
        assert fields.get("data", "") == ""


def test_oauth_protected_resource_metadata(url: str) -> None:
    base = url.removesuffix("/mcp")
    with httpx.Client(timeout=30) as client:
        unauthorized = client.post(url, json=INIT, headers=HEADERS)
        assert unauthorized.status_code == 401
        challenge = unauthorized.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        assert 'resource_metadata="' in challenge
        metadata_url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
        # the server was built for its default address; uvicorn here serves another port
        assert metadata_url == "http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp"
        for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
            document = client.get(base + path).json()
            assert document["resource"] == "http://127.0.0.1:8000/mcp"
            assert document["authorization_servers"] == ["https://auth.example.com/"]
            assert document["bearer_methods_supported"] == ["header"]
        # bearer tokens still work as before
        assert client.post(url, json=INIT, headers=_auth(ALICE)).status_code == 200


def test_no_metadata_without_an_authorization_server(memory: NativeMemoryAdapter) -> None:
    server = build_server(memory, tokens=TOKENS)
    with serve_http(server.streamable_http_app()) as address, httpx.Client(timeout=30) as client:
        assert client.get(address.removesuffix("/mcp") + "/.well-known/oauth-protected-resource").status_code == 404
        assert "resource_metadata" not in client.post(address, json=INIT, headers=HEADERS).headers["www-authenticate"]


def test_results_are_not_revalidated_per_call(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK re-checked every structured result (and its schema, against the meta-schema) with
    jsonschema on each call: most of a memory_add's time. FastMCP's pydantic models already did."""
    import threading

    import jsonschema

    calls = []
    real = jsonschema.validate

    def counting(*args: object, **kwargs: object) -> None:
        # the server runs in uvicorn's thread; the client (which checks results itself) in this one
        if threading.current_thread() is not threading.main_thread():
            calls.append(1)
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jsonschema, "validate", counting)

    async def run() -> None:
        async with http_session(url, ALICE) as session:
            listed = {t.name: t for t in (await session.list_tools()).tools}
            assert listed["memory_add"].outputSchema  # clients still get the schema
            result = await session.call_tool("memory_add", {"content": "schema once", "namespace": "n"})
            assert result.structuredContent and result.structuredContent["content"] == "schema once"
            found = await session.call_tool("memory_search", {"query": "schema"})
            assert found.structuredContent and found.structuredContent["hits"]

    asyncio.run(run())
    assert calls == []

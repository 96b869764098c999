"""The MCP server over streamable HTTP on 127.0.0.1: bearer tokens, principals, every tool.

uvicorn serves the FastMCP app in a thread on a free port; the client is the
SDK's real ``ClientSession`` over ``streamable_http_client``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.server.fastmcp import Context, FastMCP
from mcp.shared.exceptions import McpError
from mcp_testkit import (
    approval_graph,
    echo_graph,
    http_session,
    mnemos_command,
    serve_http,
    subprocess_env,
    user_tools,
)

from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.tools.graph_runner import GraphRegistry
from mnemos.tools.mcp_server import ServerContext, build_server
from mnemos.tools.registry import ToolRegistry

ALICE = "alice-token-7f3c9a1e52"
BOB = "bob-token-0d8e4b6a91"
TOKENS = {ALICE: "alice", BOB: "bob"}


@pytest.fixture
def url(memory: NativeMemoryAdapter, tmp_path: Path) -> Iterator[str]:
    graphs = GraphRegistry(checkpoint_path=tmp_path / "threads.db")
    graphs.register("echo", echo_graph)
    graphs.register("approval", approval_graph)
    server = build_server(memory, ToolRegistry(user_tools), graphs, tokens=TOKENS)
    with serve_http(server.streamable_http_app()) as address:
        yield address


def _snapshot(memory: NativeMemoryAdapter) -> list[dict[str, Any]]:
    return list(memory.iter_export())


_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", "Basic YWxpY2U6eA==", f"Bearer {ALICE}x"])
def test_missing_or_wrong_token_is_401(url: str, auth: str | None) -> None:
    headers = dict(_HEADERS)
    if auth:
        headers["Authorization"] = auth
    response = httpx.post(url, json=_INIT, headers=headers, timeout=10)
    assert response.status_code == 401
    assert "Bearer" in response.headers.get("www-authenticate", "")


def test_valid_token_is_accepted(url: str) -> None:
    response = httpx.post(url, json=_INIT, headers={**_HEADERS, "Authorization": f"Bearer {ALICE}"}, timeout=10)
    assert response.status_code == 200


async def test_client_session_with_wrong_token_fails(url: str) -> None:
    with pytest.RaisesGroup(httpx.HTTPStatusError, flatten_subgroups=True) as info:
        async with http_session(url, "not-a-token"):
            pass
    assert info.value.exceptions[0].response.status_code == 401


async def test_every_tool_over_http(url: str, memory: NativeMemoryAdapter) -> None:
    async with http_session(url, ALICE) as session:
        listed = {t.name: t for t in (await session.list_tools()).tools}
        assert {
            "memory_add", "memory_search", "memory_get", "memory_update", "memory_delete",
            "memory_list_namespaces", "graph_run", "brainstorm_run", "shout", "add_numbers",
        } <= set(listed)
        assert listed["memory_search"].outputSchema is not None
        assert listed["memory_search"].annotations.readOnlyHint is True

        added = await session.call_tool(
            "memory_add",
            {"content": "Atlas launches on Tuesday", "namespace": "projects/atlas", "kind": "semantic",
             "metadata": {"team": "infra"}, "importance": 0.9},
        )
        assert not added.isError
        record = added.structuredContent
        assert record["namespace"] == ["projects", "atlas"]
        assert record["provenance"]["source"] == "mcp"
        memory_id = record["id"]
        # stored under alice's root
        assert memory.get(memory_id).namespace == ("principals", "alice", "projects", "atlas")

        found = await session.call_tool("memory_search", {"query": "when does Atlas launch", "namespace": ["projects"]})
        hits = found.structuredContent["hits"]
        assert hits[0]["id"] == memory_id and hits[0]["score"] > 0 and hits[0]["reasons"]
        assert hits[0]["why"]

        got = await session.call_tool("memory_get", {"id": memory_id})
        assert got.structuredContent["content"] == "Atlas launches on Tuesday"

        updated = await session.call_tool("memory_update", {"id": memory_id, "content": "Atlas launches on Wednesday"})
        assert updated.structuredContent["version"] == 2
        superseding = await session.call_tool(
            "memory_update", {"id": memory_id, "content": "Atlas launches on Friday", "supersede": True}
        )
        new_id = superseding.structuredContent["id"]
        assert new_id != memory_id
        assert memory.get(memory_id).superseded_by == new_id

        spaces = await session.call_tool("memory_list_namespaces", {})
        assert spaces.structuredContent["namespaces"][0]["path"] == "projects/atlas"

        resource = await session.read_resource(f"memory://{new_id}")
        assert json.loads(resource.contents[0].text)["content"] == "Atlas launches on Friday"
        diagram = await session.read_resource("graph://echo/mermaid")
        assert "respond" in diagram.contents[0].text and "graph" in diagram.contents[0].text.lower()

        ran = await session.call_tool("graph_run", {"name": "echo", "input": "hello", "thread_id": "t1"})
        assert not ran.isError
        assert ran.structuredContent["messages"][-1]["content"] == "turn 1: hello"
        again = await session.call_tool("graph_run", {"name": "echo", "input": "again", "thread_id": "t1"})
        assert again.structuredContent["messages"][-1]["content"] == "turn 2: again"
        assert again.structuredContent["output"]["turns"] == 2
        # the graph wrote through the caller's memory view
        assert memory.list(namespace=("principals", "alice", "graph", "inputs"))

        shouted = await session.call_tool("shout", {"text": "quiet"})
        assert not shouted.isError and shouted.content[0].text == "QUIET"
        summed = await session.call_tool("add_numbers", {"a": 2, "b": 40})
        assert summed.content[0].text == "42"

        deleted = await session.call_tool("memory_delete", {"id": new_id})
        assert deleted.structuredContent == {"id": new_id, "deleted": True}
        gone = await session.call_tool("memory_get", {"id": new_id})
        assert gone.isError and "no memory with id" in gone.content[0].text


async def test_bad_arguments_are_tool_errors_and_change_nothing(url: str, memory: NativeMemoryAdapter) -> None:
    async with http_session(url, ALICE) as session:
        kept = (await session.call_tool("memory_add", {"content": "keep me", "namespace": "notes"})).structuredContent
        before = _snapshot(memory)
        bad_calls: list[tuple[str, dict[str, Any], str]] = [
            ("memory_add", {"content": "", "namespace": "notes"}, "content is empty"),
            ("memory_add", {"content": "x", "namespace": "a//b"}, "namespace"),
            ("memory_add", {"content": "x"}, "namespace: Field required"),
            ("memory_add", {"content": "x", "namespace": "n", "importance": 7}, "importance"),
            ("memory_add", {"content": "x", "namespace": "n", "kind": "dream"}, "kind"),
            ("memory_add", {"content": "x", "namespace": []}, "non-empty namespace"),
            ("memory_search", {"query": "keep", "limit": 0}, "limit"),
            ("memory_search", {"query": "keep", "filter": {"a": {"$regex": "x"}}}, "unknown filter operator"),
            ("memory_get", {"id": "does-not-exist"}, "no memory with id 'does-not-exist'"),
            ("memory_get", {}, "id: Field required"),
            ("memory_update", {"id": kept["id"]}, "nothing to update"),
            ("memory_update", {"id": kept["id"], "content": "   "}, "content is empty"),
            ("memory_update", {"id": kept["id"], "importance": -1}, "importance"),
            ("memory_delete", {"id": "nope"}, "no memory with id 'nope'"),
            ("memory_list_namespaces", {"prefix": "a/"}, ""),
            ("graph_run", {"name": "missing", "input": "hi", "thread_id": "t"}, "no graph named 'missing'"),
            ("graph_run", {"name": "echo", "input": "hi", "thread_id": ""}, "thread_id"),
            ("add_numbers", {"a": "two", "b": 1}, "a"),
        ]
        for name, args, expected in bad_calls:
            result = await session.call_tool(name, args)
            text = result.content[0].text
            if name == "memory_list_namespaces":  # a trailing '/' is tolerated
                continue
            assert result.isError, (name, args, text)
            assert expected in text, (name, args, text)
            assert "Traceback" not in text
        assert _snapshot(memory) == before


async def _principal_data(session: Any) -> dict[str, str]:
    ids = {}
    for ns in ("notes", "principals/alice/notes", "shared"):
        out = await session.call_tool("memory_add", {"content": f"bob secret in {ns} zebra", "namespace": ns})
        assert not out.isError
        ids[ns] = out.structuredContent["id"]
    return ids


async def test_two_principals_never_see_each_other(url: str, memory: NativeMemoryAdapter) -> None:
    async with http_session(url, ALICE) as alice, http_session(url, BOB) as bob:
        bob_ids = await _principal_data(bob)
        bob_before = list(memory.scoped("principals", "bob").iter_export())
        alice_note = (await alice.call_tool("memory_add", {"content": "alice diary zebra", "namespace": "notes"})).structuredContent

        # reads: every read tool with bob's namespaces (relative and absolute forms) and ids
        seen: list[str] = []
        for ns in ([], "notes", "shared", "principals", "principals/bob", "principals/bob/notes", ["principals", "bob"]):
            args: dict[str, Any] = {"query": "bob secret zebra", "limit": 100}
            if ns:
                args["namespace"] = ns
            hits = (await alice.call_tool("memory_search", args)).structuredContent["hits"]
            seen += [h["memory"]["content"] for h in hits]
            listing = (await alice.call_tool("memory_search", {**args, "query": None})).structuredContent["hits"]
            seen += [h["memory"]["content"] for h in listing]
            spaces = await alice.call_tool("memory_list_namespaces", {"prefix": ns} if ns else {})
            seen += [s["path"] for s in spaces.structuredContent["namespaces"] if "bob" in s["path"]]
        for bob_id in bob_ids.values():
            for name, args in (
                ("memory_get", {"id": bob_id}),
                ("memory_update", {"id": bob_id, "content": "hijacked"}),
                ("memory_update", {"id": bob_id, "content": "hijacked", "supersede": True}),
                ("memory_delete", {"id": bob_id}),
            ):
                result = await alice.call_tool(name, args)
                assert result.isError and "no memory with id" in result.content[0].text, (name, result)
            with pytest.raises(McpError):
                await alice.read_resource(f"memory://{bob_id}")
        assert not any("bob" in text for text in seen), seen

        # writes: alice writing into "bob's" namespaces lands under alice's root
        for ns in ("principals/bob/notes", ["principals", "bob"], "notes"):
            out = await alice.call_tool("memory_add", {"content": "alice was here", "namespace": ns})
            assert not out.isError
            assert memory.get(out.structuredContent["id"]).namespace[:2] == ("principals", "alice")

        # threads are per principal too: the same thread id starts fresh for bob
        await alice.call_tool("graph_run", {"name": "echo", "input": "from alice", "thread_id": "shared"})
        bob_run = await bob.call_tool("graph_run", {"name": "echo", "input": "from bob", "thread_id": "shared"})
        assert [m["content"] for m in bob_run.structuredContent["messages"]] == ["from bob", "turn 1: from bob"]

        # bob sees only his own, unchanged
        bob_after = [r for r in memory.scoped("principals", "bob").iter_export() if r["namespace"][:2] != ["graph", "inputs"]]
        assert bob_after == bob_before
        bob_view = (await bob.call_tool("memory_search", {"query": "alice diary zebra hijacked", "limit": 100})).structuredContent
        alice_texts = {"alice diary zebra", "alice was here", "hijacked", "graph input: from alice"}
        assert bob_view["hits"] and not alice_texts & {h["memory"]["content"] for h in bob_view["hits"]}
        bob_get = await bob.call_tool("memory_get", {"id": alice_note["id"]})
        assert bob_get.isError


# --- the same through `mnemos mcp serve --transport http` (a subprocess) -------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _cli_server(home: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    proc = subprocess.Popen(
        mnemos_command("mcp", "serve", "--transport", "http", "--port", str(port), *args),
        env=subprocess_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def test_cli_http_server_with_token_file(tmp_path: Path, db_path: Path, mnemos_home: Path) -> None:
    token_file = tmp_path / "tokens.txt"
    token_file.write_text(f"# token principal\n{ALICE} alice\n{BOB} bob\n")
    with _cli_server(mnemos_home, "--store", str(db_path), "--tokens", str(token_file)) as (url, _):
        assert httpx.post(url, json=_INIT, headers=_HEADERS, timeout=10).status_code == 401
        wrong = {**_HEADERS, "Authorization": "Bearer nope"}
        assert httpx.post(url, json=_INIT, headers=wrong, timeout=10).status_code == 401
        async with http_session(url, BOB) as session:
            out = await session.call_tool("memory_add", {"content": "bob via cli server", "namespace": "n"})
            assert not out.isError
            bob_id = out.structuredContent["id"]
        async with http_session(url, ALICE) as session:
            assert (await session.call_tool("memory_get", {"id": bob_id})).isError
    with NativeMemoryAdapter(db_path) as adapter:
        assert adapter.get(bob_id).namespace == ("principals", "bob", "n")


async def test_cli_http_no_auth_on_loopback_warns(db_path: Path, mnemos_home: Path) -> None:
    with _cli_server(mnemos_home, "--store", str(db_path), "--no-auth") as (url, proc):
        async with http_session(url, None) as session:
            out = await session.call_tool("memory_add", {"content": "no auth note", "namespace": "n"})
            assert not out.isError
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "WARNING: serving without authentication" in err
    with NativeMemoryAdapter(db_path) as adapter:
        assert [r.namespace for r in adapter.list()] == [("principals", "local", "n")]


# --- extensions see the caller's principal and memory ----------------------------------------


def _count_extension(server: FastMCP, context: ServerContext) -> None:
    @server.tool()
    async def memory_count(ctx: Context[Any, Any, Any]) -> dict[str, Any]:
        """How many memories the caller has."""
        return {"principal": context.principal_of(ctx), "count": context.memory_for(ctx).count()}


async def test_extensions_act_for_the_calling_principal(memory: NativeMemoryAdapter) -> None:
    server = build_server(memory, tokens=TOKENS, extensions=[_count_extension])
    with serve_http(server.streamable_http_app()) as address:
        async with http_session(address, ALICE) as alice, http_session(address, BOB) as bob:
            for text in ("one", "two"):
                await alice.call_tool("memory_add", {"content": text, "namespace": "n"})
            await bob.call_tool("memory_add", {"content": "three", "namespace": "n"})
            assert (await alice.call_tool("memory_count", {})).structuredContent == {"principal": "alice", "count": 2}
            assert (await bob.call_tool("memory_count", {})).structuredContent == {"principal": "bob", "count": 1}


def _rpc(url: str, token: str, body: dict[str, Any], session_id: str | None = None) -> httpx.Response:
    headers = {**_HEADERS, "Authorization": f"Bearer {token}", "MCP-Protocol-Version": "2025-06-18"}
    if session_id:
        headers["Mcp-Session-Id"] = session_id
    return httpx.post(url, json=body, headers=headers, timeout=10)


def _rpc_result(response: httpx.Response) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])
    return response.json()


def test_a_session_cannot_be_borrowed_with_another_token(url: str, memory: NativeMemoryAdapter) -> None:
    """Bob's token on a session alice opened is refused; alice's own calls on it work."""
    secret = memory.scoped("principals", "alice").add("alice's session secret", namespace=("notes",))
    opened = _rpc(url, ALICE, _INIT)
    session_id = opened.headers["mcp-session-id"]
    _rpc(url, ALICE, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session_id)
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "memory_get", "arguments": {"id": secret.id}}}
    borrowed = _rpc(url, BOB, call, session_id)
    assert borrowed.status_code >= 400
    assert "alice's session secret" not in borrowed.text
    as_alice = _rpc_result(_rpc(url, ALICE, {**call, "id": 3}, session_id))
    assert as_alice["result"]["structuredContent"]["content"] == "alice's session secret"


async def test_graph_run_interrupt_and_resume(url: str) -> None:
    async with http_session(url, ALICE) as alice, http_session(url, BOB) as bob:
        first = (await alice.call_tool("graph_run", {"name": "approval", "input": "ship v2", "thread_id": "r1"})).structuredContent
        assert first["interrupted"] is True and first["next"] == ["ask"]
        assert first["interrupts"] == ["approve: ship v2?"]
        # bob's thread "r1" is another thread: nothing to resume there
        other = await bob.call_tool("graph_run", {"name": "approval", "resume": "yes", "thread_id": "r1"})
        assert other.isError and "not waiting at an interrupt" in other.content[0].text
        done = (await alice.call_tool("graph_run", {"name": "approval", "resume": "yes", "thread_id": "r1"})).structuredContent
        assert done["interrupted"] is False and done["messages"][-1]["content"] == "approved"
        for args in ({"name": "approval", "thread_id": "r2"},
                     {"name": "approval", "thread_id": "r2", "input": "x", "resume": "yes"}):
            bad = await alice.call_tool("graph_run", args)
            assert bad.isError and "give either input" in bad.content[0].text

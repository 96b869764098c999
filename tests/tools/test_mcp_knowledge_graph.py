"""The knowledge-graph tools against the reference MCP memory server.

The same scripted session of entity, relation and observation calls is sent
over stdio to ``mnemos mcp serve`` and to the real reference server
(``@modelcontextprotocol/server-memory`` run with ``npx``); every step's
structured result and the final graph must be the same. Skipped, with the
reason, when ``npx`` is missing or cannot fetch the package.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, McpError
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_testkit import http_session, serve_http, stdio_session, subprocess_env

from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.tools.mcp_server import build_server

REFERENCE = "@modelcontextprotocol/server-memory@2026.8.31"

SESSION: list[tuple[str, dict[str, Any]]] = [
    ("create_entities", {"entities": [
        {"name": "Alice", "entityType": "person", "observations": ["likes tea", "works at Acme"]},
        {"name": "Acme", "entityType": "company", "observations": ["makes widgets"]},
        {"name": "Bob", "entityType": "person", "observations": []},
    ]}),
    ("create_entities", {"entities": [
        {"name": "Alice", "entityType": "robot", "observations": ["is new"]},
        {"name": "Carol", "entityType": "person", "observations": ["likes tea"]},
    ]}),
    ("create_relations", {"relations": [
        {"from": "Alice", "to": "Acme", "relationType": "works_at"},
        {"from": "Bob", "to": "Acme", "relationType": "works_at"},
        {"from": "Alice", "to": "Bob", "relationType": "knows"},
    ]}),
    ("create_relations", {"relations": [
        {"from": "Alice", "to": "Acme", "relationType": "works_at"},
        {"from": "Carol", "to": "Alice", "relationType": "knows"},
        {"from": "Carol", "to": "Dave", "relationType": "mentors"},
    ]}),
    ("add_observations", {"observations": [
        {"entityName": "Alice", "contents": ["likes tea", "plays chess"]},
        {"entityName": "Bob", "contents": ["likes coffee"]},
    ]}),
    ("add_observations", {"observations": [
        {"entityName": "Bob", "contents": ["never stored"]},
        {"entityName": "Nobody", "contents": ["is missing"]},
    ]}),
    ("search_nodes", {"query": "TEA"}),
    ("open_nodes", {"names": ["Bob", "Zed"]}),
    ("delete_observations", {"deletions": [
        {"entityName": "Alice", "observations": ["works at Acme"]},
        {"entityName": "Nobody", "observations": ["x"]},
    ]}),
    ("delete_relations", {"relations": [{"from": "Alice", "to": "Bob", "relationType": "knows"}]}),
    ("delete_entities", {"entityNames": ["Acme", "Nobody"]}),
    ("read_graph", {}),
]


async def _play(session: ClientSession) -> list[tuple[bool, Any]]:
    out = []
    for tool, args in SESSION:
        result = await session.call_tool(tool, args)
        out.append((result.isError, None if result.isError else result.structuredContent))
    return out


@contextlib.asynccontextmanager
async def _reference(tmp_path: Path) -> AsyncIterator[ClientSession]:
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx (Node.js) is not installed: cannot run the reference server")
    env = {**os.environ, "MEMORY_FILE_PATH": str(tmp_path / "reference.jsonl"), "npm_config_yes": "true"}
    try:  # fetch the package first, so that a missing network is a skip and not a hang
        subprocess.run([npx, "-y", "-p", REFERENCE, "node", "-e", "0"], env=env, check=True,
                       capture_output=True, timeout=180)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"cannot fetch {REFERENCE} with npx (no network?): {exc}")
    params = StdioServerParameters(command=npx, args=["-y", REFERENCE], env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def test_a_scripted_session_gives_the_reference_servers_results_and_graph(tmp_path: Path) -> None:
    async with stdio_session(["mcp", "serve"], subprocess_env(tmp_path / "home")) as mnemos:
        ours = await _play(mnemos)
        # over stdio too: the graph is a resource, and errors carry the specification's codes
        graph = json.loads((await mnemos.read_resource("memory://knowledge-graph")).contents[0].text)
        assert graph == ours[-1][1]
        with pytest.raises(McpError) as missing:
            await mnemos.read_resource("memory://ffffffffffffffffffffffffffffffff")
        assert missing.value.error.code == -32002
        with pytest.raises(McpError) as unknown:
            await mnemos.get_prompt("remember_everything", {})
        assert unknown.value.error.code == -32602
    async with _reference(tmp_path) as reference:
        theirs = await _play(reference)
    for (tool, args), mine, ref in zip(SESSION, ours, theirs, strict=True):
        assert mine == ref, (tool, args)
    final = ours[-1][1]
    assert [e["name"] for e in final["entities"]] == ["Alice", "Bob", "Carol"]
    assert final["entities"][0]["observations"] == ["likes tea", "plays chess"]
    assert {(r["from"], r["to"]) for r in final["relations"]} == {("Carol", "Alice"), ("Carol", "Dave")}


@pytest.fixture
def url(memory: NativeMemoryAdapter) -> Iterator[str]:
    server = build_server(memory, tokens={"alice-kg-token-7f3a": "alice", "bob-kg-token-2c9d": "bob"})
    with serve_http(server.streamable_http_app()) as address:
        yield address


async def test_each_principal_has_its_own_graph_kept_as_memories(url: str, memory: NativeMemoryAdapter) -> None:
    async with http_session(url, "alice-kg-token-7f3a") as alice, http_session(url, "bob-kg-token-2c9d") as bob:
        made = await alice.call_tool("create_entities", {"entities": [
            {"name": "Atlas", "entityType": "project", "observations": ["ships in May"]},
            {"name": "Vega", "entityType": "project", "observations": []},
        ]})
        assert not made.isError
        await alice.call_tool("create_relations", {"relations": [
            {"from": "Atlas", "to": "Vega", "relationType": "depends_on"}]})
        assert (await bob.call_tool("read_graph", {})).structuredContent == {"entities": [], "relations": []}
        assert (await bob.call_tool("open_nodes", {"names": ["Atlas"]})).structuredContent["entities"] == []
        refused = await bob.call_tool("add_observations", {"observations": [
            {"entityName": "Atlas", "contents": ["bob was here"]}]})
        assert refused.isError and "Atlas not found" in refused.content[0].text
        # observations are memories: memory_search finds them, in alice's memory only
        hits = (await alice.call_tool("memory_search", {"query": "ships May"})).structuredContent["hits"]
        assert [h["memory"]["content"] for h in hits][:1] == ["ships in May"]
        assert (await bob.call_tool("memory_search", {"query": "ships May"})).structuredContent["hits"] == []
        bad = await alice.call_tool("create_entities", {"entities": [{"name": "", "entityType": "x"}]})
        assert bad.isError
    alice_view = memory.scoped("principals", "alice")
    # the relation is an edge of the store's entity graph too, tied to its memory
    assert [(r.subject, r.predicate, r.object) for r in alice_view.relations("Atlas")] == [("Atlas", "depends_on", "Vega")]
    assert memory.scoped("principals", "bob").relations("Atlas") == []
    async with http_session(url, "alice-kg-token-7f3a") as alice:
        await alice.call_tool("delete_entities", {"entityNames": ["Vega"]})
    assert alice_view.relations("Atlas") == []
    assert alice_view.count(("kg",)) == 2  # Atlas and its observation
    # erasing the namespace kg erases the graph, edges included
    async with http_session(url, "alice-kg-token-7f3a") as alice:
        await alice.call_tool("create_relations", {"relations": [
            {"from": "Atlas", "to": "Orion", "relationType": "feeds"}]})
        assert [r.object for r in alice_view.relations("Atlas")] == ["Orion"]
        erased = await alice.call_tool("memory_erase", {"namespace": "kg", "confirm": "kg"})
        assert erased.structuredContent["erased"] == 3
        assert (await alice.call_tool("read_graph", {})).structuredContent == {"entities": [], "relations": []}
    assert alice_view.relations("Atlas") == []

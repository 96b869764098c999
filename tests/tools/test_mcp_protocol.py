"""Protocol features over streamable HTTP with the MCP client SDK (and raw JSON-RPC where the
SDK cannot send what is tested): spec error codes, serverInfo, logging, resource subscriptions
and list changes kept per principal, prompts, completions and progress notifications."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession, McpError, types
from mcp.client.streamable_http import streamable_http_client
from mcp_testkit import echo_graph, serve_http

from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.tools._mcp_common import mnemos_version
from mnemos.tools.mcp_server import build_server

ALICE, BOB = "alice-proto-token-4b1e", "bob-proto-token-8d2f"


@pytest.fixture
def url(memory: NativeMemoryAdapter, tmp_path: Any) -> Iterator[str]:
    server = build_server(memory, graphs={"echo": echo_graph}, tokens={ALICE: "alice", BOB: "bob"})
    with serve_http(server.streamable_http_app()) as address:
        yield address


class Inbox:
    """The notifications a client session received."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    async def __call__(self, message: Any) -> None:
        if isinstance(message, types.ServerNotification):
            self.items.append(message.root)

    def of(self, kind: type) -> list[Any]:
        return [n for n in self.items if isinstance(n, kind)]

    async def wait_for(self, kind: type, count: int = 1) -> list[Any]:
        with anyio.fail_after(10):
            while len(self.of(kind)) < count:
                await anyio.sleep(0.02)
        return self.of(kind)


@contextlib.asynccontextmanager
async def session(url: str, token: str) -> AsyncIterator[tuple[ClientSession, Inbox, types.InitializeResult]]:
    inbox = Inbox()
    async with (
        httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client,
        streamable_http_client(url, http_client=client) as (read, write, _),
        ClientSession(read, write, message_handler=inbox) as s,
    ):
        init = await s.initialize()
        yield s, inbox, init


def _sse_json(response: httpx.Response) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
    return json.loads([d for d in data if d][-1])


async def test_error_codes_and_server_info_follow_the_spec(url: str) -> None:
    async with session(url, ALICE) as (alice, _, init):
        assert init.serverInfo.name == "mnemos" and init.serverInfo.version == mnemos_version()
        caps = init.capabilities
        assert caps.logging is not None and caps.completions is not None and caps.prompts is not None
        assert caps.resources is not None and caps.resources.subscribe and caps.resources.listChanged

        for uri in ("memory://0000000000000000deadbeef", "nothing://here", "graph://nope/mermaid"):
            with pytest.raises(McpError) as missing:
                await alice.read_resource(uri)
            assert missing.value.error.code == -32002, uri
        with pytest.raises(McpError) as bad_ns:
            await alice.read_resource("memory://namespace/a%2F%2Fb")
        assert bad_ns.value.error.code == -32602
        with pytest.raises(McpError) as unknown_prompt:
            await alice.get_prompt("no_such_prompt", {})
        assert unknown_prompt.value.error.code == -32602
        with pytest.raises(McpError) as missing_arg:
            await alice.get_prompt("recall", {})
        assert missing_arg.value.error.code == -32602
        with pytest.raises(McpError) as bad_rounds:
            await alice.get_prompt("brainstorm", {"topic": "pricing", "rounds": "eleven"})
        assert bad_rounds.value.error.code == -32602 and "rounds" in bad_rounds.value.error.message

    # raw JSON-RPC: a method MCP does not have, and a known method with bad params
    headers = {"Authorization": f"Bearer {ALICE}", "Accept": "application/json, text/event-stream",
               "Content-Type": "application/json"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        init = await client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})
        sid = init.headers["mcp-session-id"]
        h = {"mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"}
        await client.post(url, headers=h, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        unknown = _sse_json(await client.post(url, headers=h, json={"jsonrpc": "2.0", "id": 2, "method": "memory/teleport"}))
        assert unknown["error"]["code"] == -32601 and unknown["id"] == 2
        bad = _sse_json(await client.post(url, headers=h, json={"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                                                 "params": {"arguments": {}}}))
        assert bad["error"]["code"] == -32602
        still = _sse_json(await client.post(url, headers=h, json={"jsonrpc": "2.0", "id": 4, "method": "ping"}))
        assert still == {"jsonrpc": "2.0", "id": 4, "result": {}}


async def test_logging_and_change_notifications_reach_only_the_principals_sessions(url: str) -> None:
    async with session(url, ALICE) as (a1, log1, _), session(url, ALICE) as (a2, in2, _), \
            session(url, BOB) as (bob, inb, _):
        # no level set: no log messages
        await a1.call_tool("memory_add", {"content": "first note", "namespace": "notes"})
        await a1.set_logging_level("info")
        await a1.call_tool("memory_add", {"content": "second note", "namespace": "notes"})
        logged = await log1.wait_for(types.LoggingMessageNotification)
        assert len(logged) == 1 and logged[0].params.level == "info"
        assert logged[0].params.data["tool"] == "memory_add" and logged[0].params.data["ok"] is True
        await a1.set_logging_level("error")
        await a1.call_tool("memory_search", {"query": "note"})
        await a1.call_tool("memory_get", {"id": "0" * 32})
        logged = await log1.wait_for(types.LoggingMessageNotification, 2)
        assert [m.params.level for m in logged] == ["info", "error"]
        assert logged[1].params.data["tool"] == "memory_get" and "no memory with id" in logged[1].params.data["error"]

        await a2.subscribe_resource(types.AnyUrl("memory://recent"))
        await a2.subscribe_resource(types.AnyUrl("memory://knowledge-graph"))
        await bob.subscribe_resource(types.AnyUrl("memory://recent"))
        listed = await a2.list_resources()
        assert {str(r.uri) for r in listed.resources} >= {"memory://recent", "memory://namespaces",
                                                          "memory://knowledge-graph", "graph://graphs",
                                                          "memory://namespace/notes"}
        await bob.list_resources()

        await a1.call_tool("memory_add", {"content": "third note", "namespace": "notes"})
        updated = await in2.wait_for(types.ResourceUpdatedNotification, 2)
        assert {str(n.params.uri) for n in updated} == {"memory://recent", "memory://knowledge-graph"}
        assert not in2.of(types.ResourceListChangedNotification)  # same namespaces as listed

        await a1.call_tool("create_entities", {"entities": [{"name": "Atlas", "entityType": "project",
                                                              "observations": ["ships in May"]}]})
        changed = await in2.wait_for(types.ResourceListChangedNotification)
        assert len(changed) == 1
        listed = await a2.list_resources()
        assert "memory://namespace/kg%2Fentities" in {str(r.uri) for r in listed.resources}

        await a2.unsubscribe_resource(types.AnyUrl("memory://recent"))
        await bob.call_tool("memory_add", {"content": "bob's note", "namespace": "notes"})
        await inb.wait_for(types.ResourceUpdatedNotification)
        await anyio.sleep(0.3)
        # bob's change tells bob's sessions only; alice's changes never reached bob
        assert len(inb.of(types.ResourceUpdatedNotification)) == 1
        assert len(in2.of(types.ResourceUpdatedNotification)) == 4  # 2 + 2 from create_entities
        assert len(in2.of(types.ResourceListChangedNotification)) == 1
        assert len(inb.of(types.ResourceListChangedNotification)) == 1  # bob's first namespace


async def test_prompts_resources_and_completions_read_the_callers_memory(url: str) -> None:
    async with session(url, ALICE) as (alice, _, _), session(url, BOB) as (bob, _, _):
        await alice.call_tool("memory_add_many", {"memories": [
            {"content": "Atlas moved its launch to May", "namespace": "projects/atlas", "kind": "semantic"},
            {"content": "Atlas needs a new logo", "namespace": "projects/atlas"},
        ]})
        await alice.call_tool("create_entities", {"entities": [
            {"name": "Atlas", "entityType": "project", "observations": ["led by Mira"]}]})
        await bob.call_tool("memory_add", {"content": "Atlas is bob's secret codename", "namespace": "projects/atlas"})

        prompts = {p.name: p for p in (await alice.list_prompts()).prompts}
        assert set(prompts) == {"recall", "brainstorm", "summarize_namespace"}
        assert all(p.description for p in prompts.values())
        recall = (await alice.get_prompt("recall", {"subject": "Atlas"})).messages[0].content.text
        assert "launch to May" in recall and "Atlas (project): led by Mira" in recall
        assert "secret codename" not in recall
        summary = (await alice.get_prompt("summarize_namespace", {"namespace": "projects/atlas"})).messages[0].content.text
        assert summary.index("launch to May") < summary.index("new logo")  # oldest first
        storm = (await alice.get_prompt("brainstorm", {"topic": "pricing", "personas": "business"})).messages[0]
        assert 'personas "business"' in storm.content.text

        recent = json.loads((await alice.read_resource("memory://recent")).contents[0].text)
        assert "Atlas is bob's secret codename" not in [m["content"] for m in recent]
        spaces = json.loads((await alice.read_resource("memory://namespaces")).contents[0].text)
        assert {s["path"] for s in spaces} >= {"projects/atlas", "kg/entities", "kg/observations"}
        graph = json.loads((await alice.read_resource("memory://knowledge-graph")).contents[0].text)
        assert graph == {"entities": [{"name": "Atlas", "entityType": "project", "observations": ["led by Mira"]}],
                         "relations": []}
        ns = json.loads((await alice.read_resource("memory://namespace/projects%2Fatlas")).contents[0].text)
        assert len(ns) == 2
        assert json.loads((await alice.read_resource("graph://graphs")).contents[0].text) == ["echo"]

        template = types.ResourceTemplateReference(type="ref/resource", uri="memory://{id}")
        ids = [m["id"] for m in recent]
        done = await alice.complete(template, {"name": "id", "value": ids[0][:14]})
        assert ids[0] in done.completion.values and set(done.completion.values) <= set(ids)
        spaces_done = await alice.complete(types.ResourceTemplateReference(
            type="ref/resource", uri="memory://namespace/{namespace}"), {"name": "namespace", "value": "proj"})
        assert spaces_done.completion.values == ["projects%2Fatlas"]
        graphs_done = await alice.complete(types.ResourceTemplateReference(
            type="ref/resource", uri="graph://{name}/mermaid"), {"name": "name", "value": "e"})
        assert graphs_done.completion.values == ["echo"]
        personas = await alice.complete(types.PromptReference(type="ref/prompt", name="brainstorm"),
                                        {"name": "personas", "value": "b"})
        assert personas.completion.values == ["builtin", "business"]
        subjects = await alice.complete(types.PromptReference(type="ref/prompt", name="recall"),
                                        {"name": "subject", "value": "at"})
        assert subjects.completion.values == ["Atlas"]
        assert (await bob.complete(types.PromptReference(type="ref/prompt", name="recall"),
                                   {"name": "subject", "value": "at"})).completion.values == []


async def test_long_tools_send_progress_when_asked(url: str) -> None:
    async with session(url, ALICE) as (alice, _, _):
        steps: list[tuple[float, str | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            steps.append((progress, message))

        out = await alice.call_tool("brainstorm_run", {"topic": "a loyalty card for small shops", "rounds": 1},
                                    progress_callback=on_progress)
        assert not out.isError and out.structuredContent["finished"]
        assert len(steps) >= 3 and [p for p, _ in steps] == sorted(p for p, _ in steps)
        assert all(m and m.startswith("step: ") for _, m in steps)

        steps.clear()
        ran = await alice.call_tool("graph_run", {"name": "echo", "input": "hi", "thread_id": "p1"},
                                    progress_callback=on_progress)
        assert ran.structuredContent["messages"][-1]["content"] == "turn 1: hi"
        assert steps == [(1, "respond")]
        steps.clear()
        await alice.call_tool("graph_run", {"name": "echo", "input": "again", "thread_id": "p1"})
        assert steps == []  # no progressToken, no progress

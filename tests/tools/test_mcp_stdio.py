"""``mnemos mcp serve`` over stdio: the server is a real subprocess, the client the SDK's ClientSession.

Also: memory written through MCP is found by ``mnemos memory search`` and the
other way round (both as subprocesses on the same store file).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from mcp_testkit import mnemos_command, stdio_session, subprocess_env
from typer.testing import CliRunner

from mnemos.cli import app
from mnemos.memory_adapters.native import NativeMemoryAdapter


def _serve_args(db_path: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "mcp", "serve", "--store", str(db_path),
        "--tool", "mcp_testkit:user_tools",
        "--graph", "echo=mcp_testkit:echo_graph",
        "--checkpoints", str(tmp_path / "threads.db"),
        *extra,
    ]


def _snapshot(db_path: Path) -> list[dict[str, Any]]:
    with NativeMemoryAdapter(db_path) as adapter:
        return list(adapter.iter_export())


async def test_stdio_every_tool_and_bad_arguments(db_path: Path, tmp_path: Path, mnemos_home: Path) -> None:
    async with stdio_session(_serve_args(db_path, tmp_path), subprocess_env(mnemos_home)) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert {"memory_add", "memory_search", "memory_get", "memory_update", "memory_delete",
                "memory_list_namespaces", "graph_run", "brainstorm_run", "shout", "add_numbers"} <= set(tools)
        for name in ("memory_add", "memory_search", "memory_get", "memory_update", "memory_delete",
                     "memory_list_namespaces", "graph_run", "brainstorm_run"):
            assert tools[name].outputSchema is not None, name
        assert "echo" in (tools["graph_run"].description or "")

        added = await session.call_tool(
            "memory_add", {"content": "The release train leaves every second Monday", "namespace": ["teams", "core"]}
        )
        memory_id = added.structuredContent["id"]
        hits = (await session.call_tool("memory_search", {"query": "release train Monday"})).structuredContent["hits"]
        assert hits[0]["id"] == memory_id and hits[0]["reasons"]
        assert (await session.call_tool("memory_get", {"id": memory_id})).structuredContent["namespace"] == ["teams", "core"]
        updated = await session.call_tool("memory_update", {"id": memory_id, "metadata": {"owner": "ops"}})
        assert updated.structuredContent["metadata"] == {"owner": "ops"}
        spaces = (await session.call_tool("memory_list_namespaces", {"prefix": "teams"})).structuredContent
        assert spaces["namespaces"] == [{"namespace": ["teams", "core"], "path": "teams/core", "count": 1}]
        ran = (await session.call_tool("graph_run", {"name": "echo", "input": "ping", "thread_id": "s1"})).structuredContent
        assert ran["messages"][-1]["content"] == "turn 1: ping"
        assert (await session.call_tool("shout", {"text": "abc"})).content[0].text == "ABC"
        assert (await session.call_tool("add_numbers", {"a": 1, "b": 2})).content[0].text == "3"
        session_out = (await session.call_tool(
            "brainstorm_run", {"topic": "A loyalty product for small shops", "rounds": 1, "thread_id": "b1"}
        )).structuredContent
        # the offline model rehearses: the mechanics run, nothing is stored as a decision
        assert session_out["finished"] and session_out["rehearsal"] is True
        assert any(i["status"] == "accepted" for i in session_out["ideas"])
        templates = {t.uriTemplate for t in (await session.list_resource_templates()).resourceTemplates}
        assert templates == {"memory://{id}", "memory://namespace/{namespace}", "graph://{name}/mermaid"}
        resource = await session.read_resource(f"memory://{memory_id}")
        assert json.loads(resource.contents[0].text)["metadata"] == {"owner": "ops"}
        mermaid = (await session.read_resource("graph://echo/mermaid")).contents[0].text
        assert "respond" in mermaid

        before = _snapshot(db_path)
        for name, args, expected in [
            ("memory_add", {"content": "\x00bad", "namespace": "n"}, "NUL"),
            ("memory_add", {"content": "ok", "namespace": "bad/ /part"}, "namespace"),
            ("memory_add", {"content": "ok", "namespace": "n", "metadata": "not an object"}, "metadata"),
            ("memory_update", {"id": memory_id, "importance": 2}, "importance"),
            ("memory_update", {"id": memory_id, "supersede": True, "metadata": {}}, "give content"),
            ("memory_delete", {"id": ""}, "id"),
            ("memory_search", {"kinds": ["nope"]}, "kinds"),
            ("graph_run", {"name": "echo", "input": 5, "thread_id": "t"}, "input"),
            ("brainstorm_run", {"topic": "pricing", "personas": "my_team.toml"}, "built-in persona set"),
            ("brainstorm_run", {"topic": "pricing", "thread_id": "b1"}, "already has a session"),
            ("shout", {}, "text"),
        ]:
            result = await session.call_tool(name, args)
            assert result.isError, (name, args)
            assert expected in result.content[0].text, (name, result.content[0].text)
        assert _snapshot(db_path) == before

        deleted = await session.call_tool("memory_delete", {"id": memory_id})
        assert deleted.structuredContent["deleted"] is True

    with NativeMemoryAdapter(db_path) as adapter:
        # the stdio server serves the local principal
        spaces = adapter.namespaces()
        assert ("principals", "local", "graph", "inputs") in spaces
        assert ("principals", "local", "teams", "business", "ideas") not in spaces  # a rehearsal stores no idea
        assert all(ns[:2] == ("principals", "local") for ns in spaces)


async def test_stdio_principal_option(db_path: Path, tmp_path: Path, mnemos_home: Path) -> None:
    args = _serve_args(db_path, tmp_path, "--principal", "dana")
    async with stdio_session(args, subprocess_env(mnemos_home)) as session:
        out = await session.call_tool("memory_add", {"content": "dana's note", "namespace": "notes"})
        record_id = out.structuredContent["id"]
    with NativeMemoryAdapter(db_path) as adapter:
        assert adapter.get(record_id).namespace == ("principals", "dana", "notes")


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        mnemos_command(*args), env=subprocess_env(home), capture_output=True, text=True, timeout=120
    )


async def test_memory_written_over_mcp_is_found_by_the_cli_and_back(db_path: Path, tmp_path: Path, mnemos_home: Path) -> None:
    async with stdio_session(_serve_args(db_path, tmp_path), subprocess_env(mnemos_home)) as session:
        added = await session.call_tool(
            "memory_add", {"content": "Quarterly review happens in the Blue Room", "namespace": "office"}
        )
        mcp_id = added.structuredContent["id"]

        found = _cli(mnemos_home, "memory", "search", "quarterly review room", "--store", str(db_path), "--json")
        assert found.returncode == 0, found.stderr
        hits = json.loads(found.stdout)
        assert hits[0]["record"]["id"] == mcp_id
        assert hits[0]["record"]["namespace"] == ["principals", "local", "office"]

        written = _cli(
            mnemos_home, "memory", "add", "The coffee machine is on floor three",
            "--ns", "principals/local/office", "--store", str(db_path), "--json",
        )
        assert written.returncode == 0, written.stderr
        cli_id = json.loads(written.stdout)["id"]
        seen = (await session.call_tool("memory_search", {"query": "coffee machine floor"})).structuredContent
        assert seen["hits"][0]["id"] == cli_id
        assert seen["hits"][0]["memory"]["namespace"] == ["office"]

        # outside the principal's root, the CLI's memory stays invisible to MCP
        _cli(mnemos_home, "memory", "add", "coffee machine secret", "--ns", "elsewhere", "--store", str(db_path))
        seen = (await session.call_tool("memory_search", {"query": "coffee machine secret", "limit": 50})).structuredContent
        assert all(h["memory"]["content"] != "coffee machine secret" for h in seen["hits"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--transport", "http", "--no-auth", "--host", "0.0.0.0"], "--no-auth is refused on '0.0.0.0'"),
        (["--transport", "http"], "HTTP serving needs bearer tokens"),
        (["--transport", "stdio", "--no-auth"], "apply to --transport http only"),
        (["--tool", "nowhere_module_x:tools"], "cannot import module 'nowhere_module_x'"),
        (["--graph", "echo"], "expected 'name=package.module:attribute'"),
        (["--graph", "echo=mcp_testkit:shout"], "not a LangGraph graph"),
    ],
)
def test_serve_refuses_bad_options(args: list[str], message: str, db_path: Path) -> None:
    result = CliRunner().invoke(app, ["mcp", "serve", "--store", str(db_path), *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not db_path.exists()  # refused before the store was opened

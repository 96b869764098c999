"""Tools from external MCP servers: the mcpServers config, one session per server, failures.

The external server is examples/mcp_external_tool/server.py, a stateful
counter started as a real stdio subprocess.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from mcp_testkit import EXTERNAL_SERVER, serve_http

from mnemos.agents import Agent, OfflineChatModel
from mnemos.exceptions import ConfigurationError
from mnemos.graphs import GraphBuilder
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.tools.mcp_client import MCPServerError, MCPToolbox, mcp_tools, parse_mcp_servers
from mnemos.tools.mcp_server import build_server


def _config(**extra: Any) -> dict[str, Any]:
    return {"mcpServers": {"counter": {"command": sys.executable, "args": [str(EXTERNAL_SERVER)], **extra}}}


# --- config -----------------------------------------------------------------------------


def test_parse_stdio_and_http_entries(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({
        "mcpServers": {
            "local": {"command": "python", "args": ["s.py"], "env": {"KEY": "${SECRET}"}, "alwaysAllow": []},
            "remote": {"url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer ${SECRET}"}},
            "old": {"type": "sse", "url": "https://example.org/sse"},
            "off": {"command": "nothing", "disabled": True},
        }
    }))
    connections = parse_mcp_servers(path, env={"SECRET": "s3"})
    assert connections == {
        "local": {"transport": "stdio", "command": "python", "args": ["s.py"], "env": {"KEY": "s3"}},
        "remote": {"transport": "streamable_http", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer s3"}},
        "old": {"transport": "sse", "url": "https://example.org/sse"},
    }
    assert parse_mcp_servers(path.read_text(), env={"SECRET": "s3"}) == connections


@pytest.mark.parametrize(
    ("servers", "message"),
    [
        ({"a": "python s.py"}, "mcpServers.a: expected an object"),
        ({"b": {"args": ["x"]}}, "mcpServers.b: give either 'command'"),
        ({"c": {"command": "x", "url": "http://h/mcp"}}, "mcpServers.c: give either 'command'"),
        ({"d": {"command": ""}}, "mcpServers.d: command"),
        ({"e": {"command": "x", "args": "--flag"}}, "mcpServers.e: args"),
        ({"f": {"url": "ftp://host/x"}}, "mcpServers.f: url"),
        ({"g": {"url": "http://h/mcp", "headers": {"X": "${UNSET_VAR_FOR_TEST}"}}}, "mcpServers.g.headers.X: environment variable UNSET_VAR_FOR_TEST"),
        ({"h": {"command": "x", "env": {"N": 1}}}, "mcpServers.h: env.N"),
    ],
)
def test_malformed_entries_name_the_entry(servers: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_mcp_servers({"mcpServers": servers}, env={})
    assert message in str(info.value)


def test_malformed_documents(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="expected an object under 'mcpServers'"):
        parse_mcp_servers({"servers": {}})
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        parse_mcp_servers("{not json")
    with pytest.raises(ConfigurationError, match="cannot read MCP server config"):
        parse_mcp_servers(tmp_path / "missing.json")
    with pytest.raises(ConfigurationError, match="no MCP server named 'nope'"):
        MCPToolbox(_config(), servers=["nope"])


# --- sessions ---------------------------------------------------------------------------


def _value(result: Any) -> int:
    text = result[0]["text"] if isinstance(result, list) else result
    return int(json.loads(text)["value"])


async def test_one_session_per_server_keeps_state() -> None:
    async with mcp_tools(_config()) as tools:
        by_name = {t.name: t for t in tools}
        assert set(by_name) == {"increment", "put", "get"}
        first = json.loads((await by_name["increment"].ainvoke({"name": "n"}))[0]["text"])
        second = json.loads((await by_name["increment"].ainvoke({"name": "n"}))[0]["text"])
        assert (first["value"], second["value"]) == (1, 2)
        assert first["pid"] == second["pid"]
        await by_name["put"].ainvoke({"key": "k", "value": "v"})
        assert (await by_name["get"].ainvoke({"key": "k"}))[0]["text"] == "v"
        missing = await by_name["get"].ainvoke({"key": "other"})
        assert "no value stored under 'other'" in missing[0]["text"]


async def test_prefixed_names_and_two_servers() -> None:
    config = {"mcpServers": {
        "one": {"command": sys.executable, "args": [str(EXTERNAL_SERVER)]},
        "two": {"command": sys.executable, "args": [str(EXTERNAL_SERVER)]},
    }}
    with pytest.raises(ConfigurationError, match="two MCP servers offer a tool named"):
        async with mcp_tools(config):
            pass
    async with MCPToolbox(config, tool_name_prefix=True) as box:
        names = {t.name for t in box.tools}
        assert {"one_increment", "two_increment"} <= names
        tools = {t.name: t for t in box.tools}
        await tools["one_increment"].ainvoke({"name": "x"})
        other = json.loads((await tools["two_increment"].ainvoke({"name": "x"}))[0]["text"])
        assert other["value"] == 1  # separate processes, separate state


async def test_server_that_does_not_start() -> None:
    config = {"mcpServers": {"broken": {"command": sys.executable, "args": ["-c", "import sys; sys.exit(3)"]}}}
    with pytest.raises(MCPServerError) as info:
        async with mcp_tools(config):
            pass
    assert info.value.server == "broken"


async def test_server_that_goes_away_is_a_typed_error() -> None:
    async with MCPToolbox(_config()) as box:
        increment = {t.name: t for t in box.tools}["increment"]
        pid = json.loads((await increment.ainvoke({"name": "n"}))[0]["text"])["pid"]
        os.kill(pid, 9)
        with pytest.raises(MCPServerError) as info:
            await increment.ainvoke({"name": "n"})
        assert info.value.server == "counter"
        assert "went away" in str(info.value)


# --- a graph whose agent uses an external server's tool and stores the result -----------


async def test_graph_agent_calls_external_tool_and_stores_result(memory: NativeMemoryAdapter, tmp_path: Path) -> None:
    """A mnemos Agent (offline model) in a GraphBuilder graph calls the external counter
    twice on one thread; each turn, with the tool's result, is stored in the agent's memory."""
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "threads.db")) as saver, mcp_tools(_config()) as tools:
        agent = Agent(
            name="counter",
            instructions="Keep count of visits with the counter tool.",
            model=OfflineChatModel(),
            tools=tools,
            memory=memory,
        )
        graph = GraphBuilder(name="visits").node(agent).compile(saver)
        config: Any = {"configurable": {"thread_id": "visits", "user_id": "ops"}}
        results = []
        for _ in range(2):
            out = await graph.ainvoke({"messages": [HumanMessage("increment the counter name: visits")]}, config)
            call = next(m for m in reversed(out["messages"]) if isinstance(m, AIMessage) and m.tool_calls)
            # `by` is optional and not in the request: left out, the server's default (1) applies
            assert call.tool_calls[0] == {**call.tool_calls[0], "name": "increment", "args": {"name": "visits"}}
            tool_result = next(m for m in reversed(out["messages"]) if isinstance(m, ToolMessage))
            results.append(json.loads(tool_result.content if isinstance(tool_result.content, str) else tool_result.content[0]["text"]))
        assert [r["value"] for r in results] == [1, 2]  # the server kept its count: one session
        assert results[0]["pid"] == results[1]["pid"]

    episodes = [r for r in memory.list(namespace=("users", "ops", "agents", "counter")) if r.kind.value == "episodic"]
    stored_values = sorted(json.loads(r.content[r.content.index("{"):r.content.rindex("}") + 1])["value"] for r in episodes)
    assert stored_values == [1, 2]
    hits = memory.search("visits counter value", namespace=("users", "ops"))
    assert hits and '"visits"' in hits[0].record.content


def test_the_agent_graph_example_runs(tmp_path: Path) -> None:
    example = EXTERNAL_SERVER.with_name("agent_graph.py")
    env = {**os.environ, "MNEMOS_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, str(example), "--store", str(tmp_path / "memory.db")],
        env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert '"value": 3' in done.stdout
    assert "Based on the tool results" in done.stdout


async def test_http_entry_with_token_header(memory: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch) -> None:
    """An HTTP entry (here: a mnemos server with a token) gives its tools; when the
    server stops, the next call is an MCPServerError."""
    monkeypatch.setenv("TEST_MNEMOS_TOKEN", "carol-token-5e1f")
    server = build_server(memory, tokens={"carol-token-5e1f": "carol"})
    with contextlib.ExitStack() as running:
        url = running.enter_context(serve_http(server.streamable_http_app()))
        config = {"mcpServers": {"mnemos": {"url": url, "headers": {"Authorization": "Bearer ${TEST_MNEMOS_TOKEN}"}}}}
        async with MCPToolbox(config) as box:
            by_name = {t.name: t for t in box.tools}
            await by_name["memory_add"].ainvoke({"content": "added through an MCP client", "namespace": "n"})
            assert memory.list(namespace=("principals", "carol", "n"))[0].content == "added through an MCP client"
            running.close()  # the server stops
            with pytest.raises(MCPServerError) as info:
                await by_name["memory_search"].ainvoke({"query": "added"})
            assert info.value.server == "mnemos"

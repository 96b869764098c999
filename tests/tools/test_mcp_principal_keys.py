"""MCP principals map to keys that cannot collide: principal ``acme`` never reaches the graph
threads or brainstorm sessions of principal ``acme:bot`` (the old key was ``f"{principal}:{thread}"``).
Over streamable HTTP with bearer tokens, on real SQLite checkpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp_testkit import echo_graph, http_session, serve_http

from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.tools.graph_runner import GraphRegistry, principal_thread_key
from mnemos.tools.mcp_server import build_server

ACME = "acme-token-31c9d0a7e4"
BOT = "acme-bot-token-8f2e61b05c"
TOKENS = {ACME: "acme", BOT: "acme:bot"}


@pytest.fixture
def url(memory: NativeMemoryAdapter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MNEMOS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MNEMOS_MODEL", "offline")
    graphs = GraphRegistry(checkpoint_path=tmp_path / "threads.db")
    graphs.register("echo", echo_graph)
    server = build_server(memory, graphs=graphs, tokens=TOKENS)
    with serve_http(server.streamable_http_app()) as address:
        yield address


async def _call(session: Any, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await session.call_tool(tool, args)
    assert not result.isError, result.content
    return result.structuredContent


async def test_acme_cannot_reach_acme_bots_graph_thread(url: str) -> None:
    async with http_session(url, BOT) as bot, http_session(url, ACME) as acme:
        first = await _call(bot, "graph_run", {"name": "echo", "input": "bot's secret plan", "thread_id": "t"})
        assert first["messages"][-1]["content"] == "turn 1: bot's secret plan"
        # the old key of ("acme:bot", "t") was "acme:bot:t", the same as ("acme", "bot:t")
        mine = await _call(acme, "graph_run", {"name": "echo", "input": "hello", "thread_id": "bot:t"})
        assert mine["messages"][-1]["content"] == "turn 1: hello"
        assert all("secret" not in m["content"] for m in mine["messages"])
        again = await _call(bot, "graph_run", {"name": "echo", "input": "next", "thread_id": "t"})
        assert again["messages"][-1]["content"] == "turn 2: next"
        assert all("hello" not in m["content"] for m in again["messages"])


async def test_acme_cannot_reach_acme_bots_brainstorm_session(url: str, memory: NativeMemoryAdapter) -> None:
    async with http_session(url, BOT) as bot, http_session(url, ACME) as acme:
        await _call(bot, "brainstorm_run", {"topic": "A secret loyalty product", "rounds": 1, "thread_id": "s"})
        mine = await _call(acme, "brainstorm_run", {"topic": "Office plants", "rounds": 1, "thread_id": "bot:s"})
        assert mine["topic"] == "Office plants"
        assert all("loyalty" not in idea["text"].lower() for idea in mine["ideas"])
        refused = await acme.call_tool("brainstorm_run", {"resume": True, "thread_id": "bot:s"})
        assert refused.isError  # acme's own session on "bot:s" is finished; the bot's is not reachable
    roots = {tuple(r["namespace"][:2]) for r in memory.iter_export()}
    assert roots == {("principals", "acme"), ("principals", "acme:bot")}


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("acme", "bot:t"), ("acme:bot", "t")),
        (("a", "b/c"), ("a/b", "c")),
        (("a%3Ab", "t"), ("a:b", "t")),
        (("a", "%2F"), ("a", "/")),
        (("аcme", "t"), ("acme", "t")),  # Cyrillic а: another principal, another key
        (("acme", "t"), ("ACME", "t")),
        (("acme", "t "), ("acme", "t")),
    ],
)
def test_thread_keys_are_injective(one: tuple[str, str], other: tuple[str, str]) -> None:
    assert principal_thread_key(*one) != principal_thread_key(*other)

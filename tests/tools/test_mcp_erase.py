"""``memory_erase`` over streamable HTTP with bearer tokens: it erases only the calling
principal's memory, only after a confirmation that repeats the namespace, and the erased
text is gone from the store's file and its write-ahead log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp_testkit import http_session, serve_http

from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.tools.mcp_server import build_server

ALICE = "alice-token-0e5b7c2d19"
BOB = "bob-token-6a3f9e8d42"
BOT = "alice-bot-token-4c1d2e9f07"
TOKENS = {ALICE: "alice", BOB: "bob", BOT: "alice:bot"}


@pytest.fixture
def url(memory: NativeMemoryAdapter) -> Iterator[str]:
    server = build_server(memory, tokens=TOKENS)
    with serve_http(server.streamable_http_app()) as address:
        yield address


async def _ok(session: Any, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await session.call_tool(tool, args)
    assert not result.isError, result.content
    return result.structuredContent


def _raw_bytes(db_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))


def _export(memory: NativeMemoryAdapter, *root: str) -> list[dict[str, Any]]:
    return sorted(memory.scoped(*root).iter_export(), key=lambda r: r["id"])


async def test_memory_erase_needs_confirmation_and_stays_in_the_callers_root(
    url: str, memory: NativeMemoryAdapter, db_path: Path
) -> None:
    async with http_session(url, ALICE) as alice, http_session(url, BOB) as bob, http_session(url, BOT) as bot:
        for text, ns in [("alice atlas secret-amber-42", "projects/atlas"), ("alice atlas plan", "projects/atlas"),
                         ("alice note secret-cobalt-17", "notes")]:
            await _ok(alice, "memory_add", {"content": text, "namespace": ns, "kind": "semantic"})
        fact = await _ok(alice, "memory_add", {"content": "alice prefers tea", "namespace": "notes", "kind": "semantic"})
        await _ok(alice, "memory_update", {"id": fact["id"], "content": "alice prefers green tea", "supersede": True})
        await _ok(bob, "memory_add", {"content": "bob atlas secret-denim-88", "namespace": "projects/atlas"})
        await _ok(bot, "memory_add", {"content": "bot atlas secret-ember-55", "namespace": "projects/atlas"})
        others = (_export(memory, "principals", "bob"), _export(memory, "principals", "alice:bot"))
        before = _export(memory, "principals", "alice")

        # no confirmation, a wrong one, or one for another namespace: refused, nothing changes
        for args in ({"namespace": "projects/atlas"}, {"namespace": "projects/atlas", "confirm": "yes"},
                     {"namespace": "projects/atlas", "confirm": "projects"}, {"confirm": "projects/atlas"},
                     {"namespace": "projects//atlas", "confirm": "projects//atlas"}):
            refused = await alice.call_tool("memory_erase", args)
            assert refused.isError, args
        assert _export(memory, "principals", "alice") == before

        done = await _ok(alice, "memory_erase", {"namespace": "projects/atlas", "confirm": "projects/atlas"})
        assert done == {"namespace": ["projects", "atlas"], "erased": 2}
        left = await _ok(alice, "memory_search", {"query": "atlas"})
        assert left["hits"] == []
        # another principal's path is only a path inside alice's own root
        other = await _ok(alice, "memory_erase", {"namespace": "principals/bob", "confirm": "principals/bob"})
        assert other["erased"] == 0
        assert (_export(memory, "principals", "bob"), _export(memory, "principals", "alice:bot")) == others

        everything = await _ok(alice, "memory_erase", {"confirm": "/"})
        assert everything["namespace"] == [] and everything["erased"] == 3  # two notes and a superseded fact
        assert memory.scoped("principals", "alice").count() == 0
        assert (_export(memory, "principals", "bob"), _export(memory, "principals", "alice:bot")) == others
        assert (await _ok(bob, "memory_search", {"query": "atlas"}))["hits"]

    raw = _raw_bytes(db_path)
    for secret in (b"secret-amber-42", b"secret-cobalt-17", b"prefers tea", b"prefers green tea"):
        assert secret not in raw, secret
    for kept in (b"secret-denim-88", b"secret-ember-55"):
        assert kept in raw


async def test_memory_erase_is_listed_as_destructive(url: str) -> None:
    async with http_session(url, ALICE) as alice:
        tools = {t.name: t for t in (await alice.list_tools()).tools}
    erase = tools["memory_erase"]
    assert erase.annotations.destructiveHint is True
    assert "confirm" in erase.inputSchema["required"]

"""Batch add and cursor paging over streamable HTTP: ``memory_list`` with a cursor
reaches every one of 1,000 stored memories, ``memory_search`` pages on with one,
and a cursor is refused with other arguments."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mcp_testkit import http_session, serve_http

from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.tools.mcp_server import build_server

ALICE, BOB = "alice-page-token-51c0", "bob-page-token-93ab"


@pytest.fixture
def url(memory: NativeMemoryAdapter) -> Iterator[str]:
    with serve_http(build_server(memory, tokens={ALICE: "alice", BOB: "bob"}).streamable_http_app()) as address:
        yield address


async def _ok(session: Any, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await session.call_tool(tool, args)
    assert not result.isError, result.content
    return result.structuredContent


async def test_list_with_a_cursor_reaches_every_one_of_1000_memories(url: str, memory: NativeMemoryAdapter) -> None:
    async with http_session(url, ALICE) as alice, http_session(url, BOB) as bob:
        stored: list[str] = []
        for batch in range(2):
            items = [{"content": f"note {batch * 500 + i} about paging", "namespace": "notes", "kind": "semantic",
                      "metadata": {"n": batch * 500 + i}} for i in range(500)]
            out = await _ok(alice, "memory_add_many", {"memories": items})
            assert [m["content"] for m in out["memories"]] == [i["content"] for i in items]
            stored += [m["id"] for m in out["memories"]]
        await _ok(bob, "memory_add", {"content": "bob's own note", "namespace": "notes"})

        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            args: dict[str, Any] = {"namespace": "notes", "limit": 100}
            if cursor:
                args["cursor"] = cursor
            page = await _ok(alice, "memory_list", args)
            seen += [m["id"] for m in page["memories"]]
            pages += 1
            if pages == 3:  # a memory added mid-listing does not shift the later pages
                await _ok(alice, "memory_add", {"content": "added while paging", "namespace": "notes"})
            cursor = page.get("next_cursor")
            if not cursor:
                break
        assert pages == 10 and len(seen) == len(set(seen)) == 1000
        assert set(seen) == set(stored)
        assert seen == sorted(seen, reverse=True)  # newest first

        # a cursor only fits the query it came from; garbage is refused
        first = await _ok(alice, "memory_list", {"namespace": "notes", "limit": 100})
        for args in ({"namespace": "other", "limit": 100, "cursor": first["next_cursor"]},
                     {"namespace": "notes", "limit": 100, "cursor": "not-a-cursor"}):
            refused = await alice.call_tool("memory_list", args)
            assert refused.isError and "cursor" in refused.content[0].text
        # bob pages through his own memory only
        assert [m["content"] for m in (await _ok(bob, "memory_list", {}))["memories"]] == ["bob's own note"]


async def test_search_pages_on_with_a_cursor_and_a_bad_batch_stores_nothing(url: str, memory: NativeMemoryAdapter) -> None:
    async with http_session(url, ALICE) as alice:
        items = [{"content": f"the atlas launch checklist item {i}", "namespace": "atlas"} for i in range(25)]
        await _ok(alice, "memory_add_many", {"memories": items})
        whole = await _ok(alice, "memory_search", {"query": "atlas checklist", "limit": 100})
        assert len(whole["hits"]) == 25 and whole.get("next_cursor") is None
        ids, cursor = [], None
        while True:
            args: dict[str, Any] = {"query": "atlas checklist", "limit": 10}
            if cursor:
                args["cursor"] = cursor
            page = await _ok(alice, "memory_search", args)
            ids += [h["id"] for h in page["hits"]]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        assert ids == [h["id"] for h in whole["hits"]]

        before = memory.count()
        bad = await alice.call_tool("memory_add_many", {"memories": [
            {"content": "fine", "namespace": "atlas"}, {"content": "", "namespace": "atlas"}]})
        assert bad.isError
        assert memory.count() == before

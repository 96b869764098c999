"""``brainstorm_run`` over streamable HTTP: the ledger and summary, recall across sessions, principals kept apart.

The agents think with a deterministic stand-in model (``brainstorm_standin``:
ideas made of the topic's words, votes by a fixed leaning), so every session
is exact; on the offline model a session would be a rehearsal that stores
nothing. The client is the SDK's real ``ClientSession``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession
from mcp.types import TextContent
from mcp_testkit import http_session, serve_http

from brainstorm_standin import standin
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.tools.graph_runner import GraphRegistry
from mnemos.tools.mcp_server import build_server

ALICE = "alice-token-5b1e0c7d93"
BOB = "bob-token-e84a2f6c10"
TOKENS = {ALICE: "alice", BOB: "bob"}
TOPIC = "A loyalty product for small coffee shops"
RELATED = "Loyalty rewards for small coffee shops: the next steps"


@pytest.fixture
def url(memory: NativeMemoryAdapter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MNEMOS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MNEMOS_MODEL", "offline")
    server = build_server(memory, graphs=GraphRegistry(checkpoint_path=tmp_path / "threads.db"), tokens=TOKENS,
                          model=standin("product_manager"))
    with serve_http(server.streamable_http_app()) as address:
        yield address


def _namespaces(memory: NativeMemoryAdapter) -> set[tuple[str, ...]]:
    return {tuple(r["namespace"]) for r in memory.iter_export()}


async def _brainstorm(session: ClientSession, **args: Any) -> dict[str, Any]:
    result = await session.call_tool("brainstorm_run", args)
    assert not result.isError, result.content
    assert result.structuredContent is not None
    return result.structuredContent


def _snapshot(memory: NativeMemoryAdapter) -> list[dict[str, Any]]:
    return sorted(memory.iter_export(), key=lambda r: r["id"])


async def test_brainstorm_run_returns_the_ledger_and_a_later_session_builds_on_it(
    url: str, memory: NativeMemoryAdapter
) -> None:
    async with http_session(url, ALICE) as alice:
        tools = {t.name: t for t in (await alice.list_tools()).tools}
        assert tools["brainstorm_run"].outputSchema is not None
        assert set(tools["brainstorm_run"].inputSchema["properties"]) == {
            "topic", "personas", "rounds", "thread_id", "resume"}

        out = await _brainstorm(alice, topic=TOPIC, rounds=1, thread_id="s1")
        assert out["thread_id"] == "s1" and out["team"] == "business" and out["finished"] is True
        assert out["stop_reason"] == "rounds" and out["transcript_length"] >= 4 and out["rehearsal"] is False
        accepted = [i["text"] for i in out["ideas"] if i["status"] == "accepted"]
        assert accepted and all(i["origin"] == "session" for i in out["ideas"])
        assert out["recalled_accepted"] == []
        assert accepted[0] in out["summary"] and "Accepted" in out["summary"]

        # the decided ideas are in alice's memory, under her root
        team = memory.list(namespace=("principals", "alice", "teams", "business", "ideas"))
        assert {r.metadata["idea"] for r in team if r.metadata["status"] == "accepted"} == set(accepted)
        assert all(ns[:2] == ("principals", "alice") for ns in _namespaces(memory))

        second = await _brainstorm(alice, topic=RELATED, rounds=1)
        assert second["thread_id"] != "s1"
        assert set(accepted) <= set(second["recalled_accepted"])
        earlier = [i for i in second["ideas"] if i["origin"] == "earlier session"]
        assert {i["text"] for i in earlier} >= set(accepted)
        assert all(i["status"] == "accepted" for i in earlier)


async def test_two_principals_brainstorm_memories_do_not_mix(url: str, memory: NativeMemoryAdapter) -> None:
    async with http_session(url, ALICE) as alice, http_session(url, BOB) as bob:
        first = await _brainstorm(alice, topic=TOPIC, rounds=1, thread_id="same")
        alice_accepted = {i["text"] for i in first["ideas"] if i["status"] == "accepted"}
        assert alice_accepted
        alice_records = _snapshot(memory)

        # the same topic and thread id: bob starts fresh and recalls nothing of alice's
        out = await _brainstorm(bob, topic=RELATED, rounds=1, thread_id="same")
        assert out["recalled_accepted"] == [] and out["recalled_rejected"] == []
        assert all(i["origin"] == "session" for i in out["ideas"])

        new = [r for r in _snapshot(memory) if r not in alice_records]
        assert new and all(tuple(r["namespace"])[:2] == ("principals", "bob") for r in new)
        assert [r for r in _snapshot(memory) if tuple(r["namespace"])[:2] == ("principals", "alice")] == alice_records

        # and alice's next session recalls her own ideas, none of bob's
        bob_only = {i["text"] for i in out["ideas"] if i["status"] == "accepted"} - alice_accepted
        again = await _brainstorm(alice, topic=RELATED, rounds=1)
        assert alice_accepted <= set(again["recalled_accepted"])
        assert not bob_only & set(again["recalled_accepted"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "give a topic"),
        ({"topic": "   "}, "give a topic"),
        ({"topic": TOPIC, "personas": "../personas.toml"}, "personas"),
        ({"topic": TOPIC, "personas": "builtin:nope"}, "built-in persona set"),
        ({"topic": TOPIC, "rounds": 0}, "rounds"),
        ({"topic": TOPIC, "rounds": "many"}, "rounds"),
        ({"resume": True}, "resume needs the thread_id"),
        ({"resume": True, "thread_id": "never"}, "no session to resume"),
        ({"topic": TOPIC, "thread_id": "done"}, "already has a session"),
        ({"resume": True, "thread_id": "done"}, "already finished"),
        ({"topic": TOPIC, "thread_id": ""}, "thread_id"),
    ],
)
async def test_bad_arguments_are_tool_errors_and_change_nothing(
    url: str, memory: NativeMemoryAdapter, args: dict[str, Any], message: str
) -> None:
    async with http_session(url, ALICE) as alice:
        await _brainstorm(alice, topic=TOPIC, rounds=1, thread_id="done")
        before = _snapshot(memory)
        bad = await alice.call_tool("brainstorm_run", args)
        assert bad.isError
        text = bad.content[0]
        assert isinstance(text, TextContent) and message in text.text
        assert _snapshot(memory) == before

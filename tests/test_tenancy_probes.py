"""Cross-user, cross-scope and cross-principal probes through agents, graphs, the CLI and MCP.

A victim stores secrets (a fact its agent remembers, a conversation on a thread,
memories and a graph thread over MCP); attackers then try to reach them with
other user ids and principals (case, lookalike characters, separators, empty
and wildcard names), thread id tricks and namespace tricks. A probe *leaks*
when a secret appears in anything the attacker gets back, or when the
victim's data changes. A refusal must be a typed mnemos error (or an MCP tool
error), never a raw exception. Every probe is counted; the count of leaks must
be 0.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from mcp.shared.exceptions import McpError
from typer.testing import CliRunner

from mnemos.agents import Agent
from mnemos.cli import app
from mnemos.exceptions import MnemosError
from mnemos.graphs import GraphBuilder, sqlite_checkpointer
from mnemos.graphs.checkpoint import close_checkpointer
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.tools.graph_runner import GraphRegistry
from mnemos.tools.mcp_server import build_server

_spec = importlib.util.spec_from_file_location("mcp_testkit", Path(__file__).parent / "tools" / "mcp_testkit.py")
assert _spec and _spec.loader
mcp_testkit = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("mcp_testkit", mcp_testkit)
_spec.loader.exec_module(mcp_testkit)

SECRET = "vermilion7"
CONVERSATION_SECRET = "zanzibar-launch-code-4417"

# user ids and principals an attacker may try; each is someone other than "alice"
LOOKALIKES = [
    "bob", "Alice", "ALICE", "аlice",  # Cyrillic а
    "alice\u200b", "alicé", "alice:bot", "alice%2F", "default", "*", "%", "_", "alice ", " alice",
    "users/alice", "../alice", "alice/agents", "",
]


@dataclass
class Probes:
    """Counts probes and the leaks among them."""

    secrets: tuple[str, ...]
    count: int = 0
    refused: int = 0
    leaks: list[str] = field(default_factory=list)

    def check(self, where: str, output: Any) -> None:
        self.count += 1
        text = output if isinstance(output, str) else json.dumps(output, default=str)
        for secret in self.secrets:
            if secret in text:
                self.leaks.append(f"{where}: {secret!r} in {text[:200]!r}")

    def attempt(self, where: str, action: Callable[[], Any]) -> None:
        try:
            output = action()
        except MnemosError as exc:
            self.refused += 1
            output = str(exc)
        self.check(where, output)

    def unchanged(self, where: str, before: Any, after: Any) -> None:
        self.count += 1
        if before != after:
            self.leaks.append(f"{where}: the victim's data changed")

    def report(self, title: str) -> None:
        print(f"\n{title}: {self.count} probes, {self.refused} refused with typed errors, {len(self.leaks)} leaks")
        assert self.leaks == [], "\n".join(self.leaks)


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[NativeMemoryAdapter]:
    adapter = NativeMemoryAdapter(tmp_path / "memory.db")
    yield adapter
    adapter.close()


def _snapshot(memory: NativeMemoryAdapter, *root: str) -> list[dict[str, Any]]:
    return sorted(memory.scoped(*root).iter_export(), key=lambda r: r["id"])


def _say(text: str) -> dict[str, Any]:
    return {"messages": [HumanMessage(text)]}


def _visible(result: Any) -> Any:
    """What a run gives back: its messages and its memory trace (recalls included)."""
    if isinstance(result, dict):
        return {"messages": [m.content for m in result.get("messages", [])], "trace": result.get("memory_trace")}
    return result


def test_agents_and_graphs_keep_users_and_threads_apart(memory: NativeMemoryAdapter, tmp_path: Path) -> None:
    agent = Agent(name="assistant", model="offline", memory=memory)
    saver = sqlite_checkpointer(tmp_path / "checkpoints.db")
    probes = Probes(secrets=(SECRET, CONVERSATION_SECRET))
    try:
        graph = GraphBuilder(name="chat").sequence(agent).compile(checkpointer=saver)
        alice = {"configurable": {"thread_id": "t-alice", "user_id": "alice"}}
        graph.invoke(_say(f"My favourite colour is {SECRET}"), alice)
        graph.invoke(_say(f"Keep this safe: {CONVERSATION_SECRET}"), alice)
        before = _snapshot(memory, "users", "alice")

        question = _say("What is my favourite colour? What did I ask you to keep safe?")
        for n, user in enumerate(LOOKALIKES):
            fresh = f"probe-{n}"
            # the agent alone, the user in the config and in LangGraph's context
            probes.attempt(f"agent config {user!r}", lambda u=user, t=fresh: _visible(
                agent.invoke(question, {"configurable": {"thread_id": t, "user_id": u}})))
            probes.attempt(f"agent context {user!r}", lambda u=user, t=fresh: _visible(
                agent.invoke(question, {"configurable": {"thread_id": t}}, context={"user_id": u})))
            # a graph on a thread of its own, and on alice's thread
            probes.attempt(f"graph new thread {user!r}", lambda u=user, t=fresh: _visible(
                graph.invoke(question, {"configurable": {"thread_id": t + "-g", "user_id": u}})))
            probes.attempt(f"graph alice's thread {user!r}", lambda u=user: _visible(
                graph.invoke(question, {"configurable": {"thread_id": "t-alice", "user_id": u}})))
            probes.attempt(f"graph alice's thread by context {user!r}", lambda u=user: _visible(
                graph.invoke(question, {"configurable": {"thread_id": "t-alice"}}, context={"user_id": u})))
            probes.attempt(f"get_state {user!r}", lambda u=user: graph.get_state(
                {"configurable": {"thread_id": "t-alice", "user_id": u}}).values)
            probes.attempt(f"get_state_history {user!r}", lambda u=user: [s.values for s in graph.get_state_history(
                {"configurable": {"thread_id": "t-alice", "user_id": u}})])
            probes.attempt(f"update_state {user!r}", lambda u=user: graph.update_state(
                {"configurable": {"thread_id": "t-alice", "user_id": u}}, _say("overwrite")))
        # thread ids that look like alice's are other threads
        for thread in ("T-ALICE", "t-alice ", "t‐alice", "t-alice\u200b", "t-alice/..", "t-alice:", "mcp/alice/t-alice"):
            probes.attempt(f"thread {thread!r}", lambda t=thread: _visible(graph.invoke(
                _say("What did I ask you to keep safe?"), {"configurable": {"thread_id": t, "user_id": "mallory"}})))
        # alice still has her thread and her memories, unchanged by the attempts
        probes.unchanged("alice's memories", before, _snapshot(memory, "users", "alice"))
        assert SECRET in json.dumps(_visible(graph.invoke(_say("What is my favourite colour?"), alice)))
    finally:
        close_checkpointer(saver)
    probes.report("agents and graphs")
    assert probes.count >= 150


AGENT_GRAPH = textwrap.dedent(
    '''
    import os
    from mnemos.agents import Agent
    from mnemos.graphs import GraphBuilder
    from mnemos.memory_adapters.native import NativeMemoryAdapter

    def graph():
        memory = NativeMemoryAdapter(os.environ["MNEMOS_STORE"])
        return GraphBuilder(name="assistant").sequence(Agent(name="assistant", model="offline", memory=memory))
    '''
)


def test_the_cli_keeps_users_and_threads_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, checkpoints = tmp_path / "memory.db", tmp_path / "checkpoints.db"
    (tmp_path / "agent_graph.py").write_text(AGENT_GRAPH)
    target = f"{tmp_path / 'agent_graph.py'}:graph"
    monkeypatch.setenv("MNEMOS_STORE", str(store))
    env = {"COLUMNS": "200"}
    common = ["--checkpoints", str(checkpoints), "--no-input", "--json"]
    first = CliRunner().invoke(app, ["run", target, f"My favourite colour is {SECRET}", "--user", "alice",
                                     "--thread", "t-alice", *common], env=env)
    assert first.exit_code == 0, first.output
    probes = Probes(secrets=(SECRET,))
    for user in ("bob", "Alice", "аlice", "alice:bot", "default"):
        for thread in ("t-alice", f"own-{abs(hash(user))}"):
            out = CliRunner().invoke(app, ["run", target, "What is my favourite colour?", "--user", user,
                                           "--thread", thread, *common], env=env)
            probes.check(f"mnemos run --user {user!r} --thread {thread}", out.output)
            if thread == "t-alice":
                assert out.exit_code == 2 and "belongs to another user" in out.output, out.output
                probes.refused += 1
    # a separate process, as a second user of the same machine would run it
    proc = subprocess.run(
        [sys.executable, "-m", "mnemos.cli", "run", target, "What is my favourite colour?", "--user", "bob",
         "--thread", "t-alice", *common],
        env={**os.environ, "MNEMOS_STORE": str(store)}, capture_output=True, text=True, timeout=120,
    )
    probes.check("mnemos run in another process", proc.stdout + proc.stderr)
    assert proc.returncode == 2 and "belongs to another user" in proc.stderr
    with NativeMemoryAdapter(store) as adapter:
        probes.check("bob's memories", [r.content for r in adapter.scoped("users", "bob").list(limit=100)])
    probes.report("CLI")


ALICE, BOB = "alice-token-9d0c1b7e33", "bob-token-2f6e8a4c51"
ATTACKERS = {
    "bob-token-2f6e8a4c51": "bob",
    "bot-token-71ac3e9d05": "alice:bot",
    "upper-token-3b8f0d6c27": "Alice",
    "cyrillic-token-c4e2a9b176": "аlice",
    "zwsp-token-e5d1f3a820": "alice\u200b",
    "percent-token-8a7b6c5d4e": "alice%3Abot",
}


@pytest.fixture
def mcp_url(memory: NativeMemoryAdapter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MNEMOS_MODEL", "offline")
    graphs = GraphRegistry(checkpoint_path=tmp_path / "threads.db")
    graphs.register("echo", mcp_testkit.echo_graph)
    server = build_server(memory, graphs=graphs, tokens={ALICE: "alice", **ATTACKERS})
    with mcp_testkit.serve_http(server.streamable_http_app()) as address:
        yield address


async def test_mcp_principals_stay_in_their_roots(mcp_url: str, memory: NativeMemoryAdapter) -> None:
    probes = Probes(secrets=(SECRET, CONVERSATION_SECRET))
    async with mcp_testkit.http_session(mcp_url, ALICE) as alice:
        added = await alice.call_tool("memory_add", {"content": f"alice's colour is {SECRET}", "namespace": "notes",
                                                     "kind": "semantic"})
        secret_id = added.structuredContent["id"]
        await alice.call_tool("graph_run", {"name": "echo", "input": CONVERSATION_SECRET, "thread_id": "t"})
        await alice.call_tool("graph_run", {"name": "echo", "input": "second", "thread_id": "bot:t"})
    before = _snapshot(memory, "principals", "alice")

    async def call(session: Any, tool: str, args: dict[str, Any]) -> Any:
        result = await session.call_tool(tool, args)
        if result.isError:
            probes.refused += 1
        if result.structuredContent is None:
            return [c.model_dump() for c in result.content]
        # what the server found; the query the attacker sent is echoed back and left out
        return {k: v for k, v in result.structuredContent.items() if k != "query"}

    for token, principal in ATTACKERS.items():
        async with mcp_testkit.http_session(mcp_url, token) as session:
            for query in (SECRET, "colour", None):
                for ns in (None, "notes", "principals/alice", "principals/alice/notes", "../alice", "alice"):
                    args: dict[str, Any] = {"query": query} if query else {}
                    if ns:
                        args["namespace"] = ns
                    probes.check(f"{principal!r} search {args}", await call(session, "memory_search", args))
            probes.check(f"{principal!r} get", await call(session, "memory_get", {"id": secret_id}))
            probes.check(f"{principal!r} update", await call(session, "memory_update", {"id": secret_id, "content": "x"}))
            probes.check(f"{principal!r} delete", await call(session, "memory_delete", {"id": secret_id}))
            try:
                resource: Any = [c.model_dump() for c in (await session.read_resource(f"memory://{secret_id}")).contents]
            except McpError as exc:
                probes.refused += 1
                resource = str(exc)
            probes.check(f"{principal!r} resource", resource)
            for prefix in (None, "principals", "principals/alice"):
                probes.check(f"{principal!r} namespaces {prefix}", await call(
                    session, "memory_list_namespaces", {"prefix": prefix} if prefix else {}))
            for ns in ("principals/alice", "notes"):
                probes.check(f"{principal!r} erase {ns}", await call(session, "memory_erase", {"namespace": ns, "confirm": ns}))
            for thread in ("t", "bot:t", "alice:t", "mcp/alice/t", "mcp%2Falice%2Ft", "../alice/t", "t\u200b"):
                probes.check(f"{principal!r} graph_run {thread!r}", await call(
                    session, "graph_run", {"name": "echo", "input": "what was said before?", "thread_id": thread}))
    probes.unchanged("alice's memories", before, _snapshot(memory, "principals", "alice"))
    async with mcp_testkit.http_session(mcp_url, ALICE) as alice:
        again = await alice.call_tool("graph_run", {"name": "echo", "input": "third", "thread_id": "t"})
        assert again.structuredContent["messages"][-1]["content"] == "turn 2: third"
    probes.report("MCP")
    assert probes.count >= 200

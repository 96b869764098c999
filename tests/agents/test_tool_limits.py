"""Tool limits: a tool that hangs becomes a tool error after the timeout (sync, async and
async-native tools), and a huge result is cut before it enters state and checkpoints
(the reproducer: one 10 MB result added about 240 MB to the SQLite checkpoint file)."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import StructuredTool, tool

from mnemos.agents import Agent, ToolLimits
from mnemos.exceptions import UsageError
from mnemos.graphs import GraphBuilder, sqlite_checkpointer
from mnemos.graphs.checkpoint import close_checkpointer
from mnemos.memory_adapters.native import NativeMemoryAdapter

TEN_MB = 10_000_000


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown, so the threads of hung tools end with the test."""
    event = threading.Event()
    yield event
    event.set()


def _hanging_tool(release: threading.Event) -> StructuredTool:
    def fetch_status() -> str:
        """Fetch the status."""
        release.wait()
        return "late"

    return StructuredTool.from_function(fetch_status)


def _tool_messages(result: dict) -> list[ToolMessage]:
    return [m for m in result["messages"] if isinstance(m, ToolMessage)]


def test_a_hanging_sync_tool_times_out_as_a_tool_error(release: threading.Event) -> None:
    agent = Agent(name="assistant", model="offline", tools=[_hanging_tool(release)],
                  tool_limits=ToolLimits(timeout=0.5), max_steps=2)
    started = time.monotonic()
    result = agent.invoke({"messages": [HumanMessage("Fetch the status")]})
    assert time.monotonic() - started < 10
    (first, *_) = _tool_messages(result)
    assert first.status == "error"
    assert "ToolTimeoutError" in first.content and "fetch_status" in first.content and "0.5 s" in first.content


async def test_a_hanging_sync_tool_times_out_in_async_runs(release: threading.Event) -> None:
    agent = Agent(name="assistant", model="offline", tools=[_hanging_tool(release)],
                  tool_limits=ToolLimits(timeout=0.5), max_steps=2)
    result = await asyncio.wait_for(agent.ainvoke({"messages": [HumanMessage("Fetch the status")]}), 20)
    assert "ToolTimeoutError" in _tool_messages(result)[0].content


async def test_a_hanging_async_tool_is_cancelled() -> None:
    cancelled = asyncio.Event()

    async def fetch_status() -> str:
        """Fetch the status."""
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    hung = StructuredTool.from_function(coroutine=fetch_status, name="fetch_status", description="Fetch the status.")
    agent = Agent(name="assistant", model="offline", tools=[hung], tool_limits=ToolLimits(timeout=0.3), max_steps=2)
    result = await asyncio.wait_for(agent.ainvoke({"messages": [HumanMessage("Fetch the status")]}), 20)
    assert "ToolTimeoutError" in _tool_messages(result)[0].content
    assert cancelled.is_set()


def test_a_fast_tool_is_untouched() -> None:
    @tool
    def fetch_status() -> str:
        """Fetch the status."""
        return "all green"

    agent = Agent(name="assistant", model="offline", tools=[fetch_status], tool_limits=ToolLimits(timeout=5))
    result = agent.invoke({"messages": [HumanMessage("Fetch the status")]})
    assert _tool_messages(result)[0].content == "all green"


@tool
def big_report() -> str:
    """Return the big report."""
    return "x" * TEN_MB


def _db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def test_a_10_mb_result_no_longer_fills_the_checkpoints(tmp_path: Path) -> None:
    memory = NativeMemoryAdapter(tmp_path / "memory.db")
    agent = Agent(name="assistant", model="offline", memory=memory, tools=[big_report],
                  tool_limits=ToolLimits(spill_dir=tmp_path / "results"))
    saver = sqlite_checkpointer(tmp_path / "checkpoints.db")
    try:
        graph = GraphBuilder(name="reports").sequence(agent).compile(checkpointer=saver)
        out = graph.invoke({"messages": [HumanMessage("Give me the big report")]},
                           {"configurable": {"thread_id": "t", "user_id": "alice"}})
        saver.conn.commit()
        size = _db_bytes(tmp_path / "checkpoints.db")
    finally:
        close_checkpointer(saver)
        memory.close()
    results = _tool_messages(out)
    assert results, "the model called the tool"
    assert all(len(m.content) < 9_000 for m in results)
    assert "[truncated: the tool returned 10,000,000 characters, the first 8,000 are shown" in results[0].content
    assert size < 2_000_000, f"{size:,} bytes of checkpoints for one turn"
    files = list((tmp_path / "results").iterdir())
    assert files and all(f.stat().st_size == TEN_MB for f in files)
    assert str(files[0]) in "".join(m.content for m in results)
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "results").stat().st_mode) == 0o700


def test_artifacts_are_capped_and_limits_can_be_lifted() -> None:
    def fetch_rows() -> tuple[str, list[str]]:
        """Fetch the rows."""
        return "10000 rows", ["row"] * 10_000

    rows = StructuredTool.from_function(fetch_rows, response_format="content_and_artifact")
    capped = Agent(name="assistant", model="offline", tools=[rows], max_steps=1).invoke(
        {"messages": [HumanMessage("Fetch the rows")]})
    message = _tool_messages(capped)[0]
    assert message.artifact is None and "artifact (" in message.content
    free = Agent(name="assistant", model="offline", tools=[rows, big_report], max_steps=1,
                 tool_limits=ToolLimits(timeout=None, max_result_chars=None))
    assert len(_tool_messages(free.invoke({"messages": [HumanMessage("Fetch the rows")]}))[0].artifact) == 10_000
    assert len(_tool_messages(free.invoke({"messages": [HumanMessage("Give me the big report")]}))[0].content) == TEN_MB


@pytest.mark.parametrize("bad", [
    {"timeout": 0}, {"timeout": -1}, {"timeout": float("inf")}, {"timeout": "5"}, {"timeout": True},
    {"max_result_chars": 10}, {"max_result_chars": 1.5}, {"spill_dir": 3},
])
def test_bad_limits_are_usage_errors(bad: dict) -> None:
    with pytest.raises(UsageError):
        ToolLimits(**bad)
    with pytest.raises(UsageError, match="tool_limits"):
        Agent(name="a", model="offline", tool_limits=bad)  # type: ignore[arg-type]


def test_the_spill_dir_is_not_created_until_a_result_is_cut(tmp_path: Path) -> None:
    agent = Agent(name="assistant", model="offline", tools=[big_report],
                  tool_limits=ToolLimits(spill_dir=tmp_path / "r"), max_steps=1)
    assert not (tmp_path / "r").exists()
    agent.invoke({"messages": [HumanMessage("Give me the big report")]})
    assert len(os.listdir(tmp_path / "r")) == 1

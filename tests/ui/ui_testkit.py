"""Data and helpers for the web UI tests (the fixtures in conftest.py use them)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.types import Command

from mnemos.graphs.checkpoint import open_checkpointer
from mnemos.graphs.loading import load_graph
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.ui import UIConfig
from mnemos.ui.base import canonical_spec

__all__ = ["ARTIFACTS", "REVIEW_GRAPH", "UIData", "build", "free_port", "wait_for_run"]

ROOT = Path(__file__).resolve().parents[2]
REVIEW_GRAPH = canonical_spec(str(ROOT / "examples" / "supervisor_review.py") + ":graph")
ARTIFACTS = ROOT / "tests" / "artifacts" / "ui"


@dataclass
class UIData:
    """Where the test data lives and the ids a test needs."""

    dir: Path
    store: Path
    checkpoints: Path
    ids: dict[str, str]

    def config(self, **changes: Any) -> UIConfig:
        base = UIConfig(store=str(self.store), checkpoints=str(self.checkpoints),
                        graphs=(REVIEW_GRAPH,), brainstorms_dir=self.dir / "brainstorms", poll_seconds=0.1)
        for key, value in changes.items():
            setattr(base, key, value)
        return base


def build(where: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    store, checkpoints = where / "memory.db", where / "checkpoints.db"
    ids: dict[str, str] = {}
    with NativeMemoryAdapter(store) as mem:
        ids["tea"] = mem.add("Alice prefers green tea in the morning", namespace=("users", "alice"),
                             kind="semantic", importance=0.8, metadata={"source": "chat"},
                             provenance={"agent": "assistant", "thread": "review-1", "message_ids": ["m-1"]}).id
        old = mem.add("Alice lives in Lyon", namespace=("users", "alice"), kind="semantic").id
        ids["home_old"] = old
        ids["home"] = mem.supersede(old, "Alice lives in Berlin since March").id
        ids["meeting"] = mem.add("Alice met Bob in Berlin to plan the product launch",
                                 namespace=("users", "alice"), importance=0.3).id
        ids["rule"] = mem.add("Answer Alice in short bullet points", namespace=("users", "alice"),
                              kind="procedural", importance=0.9).id
        ids["bob"] = mem.add("Bob keeps his passwords in a notebook", namespace=("users", "bob"),
                             kind="semantic").id
        ids["principal"] = mem.add("Alice's own note about green tea",
                                   namespace=("principals", "alice", "notes")).id
        for n in range(8):
            mem.add(f"Filler note {n} about the garden", namespace=("users", "alice", "notes"))
    monkeypatch.setenv("MNEMOS_STORE", str(store))  # the example graph's agents use this store
    with open_checkpointer(str(checkpoints)) as saver:
        graph = load_graph(REVIEW_GRAPH, saver)
        # review-0 runs to the end first, so the agents of review-1 have something to recall
        for thread, user, stop_after in (("review-0", "alice", None), ("review-1", "alice", None),
                                         ("review-cut", "alice", 3), ("review-bob", "bob", None)):
            config: Any = {"configurable": {"thread_id": thread, "user_id": user},
                           "metadata": {"mnemos_graph": REVIEW_GRAPH, "mnemos_user": user,
                                        "mnemos_store": ""}}  # the graph uses MNEMOS_STORE: each test's copy
            stream = graph.stream({"messages": [HumanMessage("Write a brief about heat pumps")]}, config,
                                  stream_mode="updates")
            for n, _ in enumerate(stream, start=1):
                if stop_after is not None and n >= stop_after:
                    break  # cut off mid-run: the thread is left unfinished
            if thread == "review-0":
                for _ in graph.stream(Command(resume="yes"), config, stream_mode="updates"):
                    pass
    from mnemos.graphs.brainstorm import brainstorm_chat, run_session

    with NativeMemoryAdapter(store) as mem:
        for thread, topic in (("ideas-1", "A loyalty product for small shops"),
                              ("ideas-2", "Loyalty cards for bakeries")):
            chat, _ = brainstorm_chat("builtin", model="offline", memory=mem, rounds=2)
            result = run_session(chat, topic, thread_id=thread, user_id="alice", checkpoints=str(checkpoints))
            result.write(where / "brainstorms" / thread)
    return ids


def wait_for_run(app: Any, thread: str, timeout: float = 30.0) -> Any:
    """The UI's run of ``thread`` once it has ended."""
    info = app.state.ctx.runs.join(thread, timeout)
    assert info is not None and not info.running, f"run of {thread} did not end"
    return info


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])



"""``benchmarks/orchestration.py`` times each graph without the leftovers of the one before:
the LangGraph-store graph's numpy search leaves OpenBLAS threads spinning after it returns,
so the benchmark lets them settle before it times the next graph (tiny sizes, real graphs)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "orchestration.py"


def _load_bench() -> Any:
    """The benchmark script as a module (it is not part of the package)."""
    spec = importlib.util.spec_from_file_location("orchestration_bench", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_the_next_graph_is_timed_only_after_the_langgraph_store_graph_settles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load_bench()
    events: list[tuple[str, Any]] = []
    sleep = bench.time.sleep

    def settle(seconds: float) -> None:
        events.append(("sleep", seconds))
        sleep(0)

    monkeypatch.setattr(bench.time, "sleep", settle)
    for name in ("mnemos_graph", "raw_graph", "peer_graph"):
        original = getattr(bench, name)

        def built(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            made = _original(*args, **kwargs)
            graph = made[0] if isinstance(made, tuple) else made
            invoke = graph.invoke

            def traced(*a: Any, **k: Any) -> Any:
                events.append(("run", _name))
                return invoke(*a, **k)

            graph.invoke = traced
            return made

        monkeypatch.setattr(bench, name, built)
    monkeypatch.setattr(sys, "argv", ["orchestration.py", "--agents", "2", "--memories", "30", "--runs", "1",
                                      "--store", str(tmp_path / "memory.db"), "--json"])
    bench.main()
    assert '"ratio_langgraph_store_to_mnemos"' in capsys.readouterr().out
    runs = [i for i, (what, _) in enumerate(events) if what == "run"]
    for at in runs:
        if events[at] == ("run", "peer_graph") and at + 1 < len(events):
            assert events[at + 1] == ("sleep", bench.BLAS_SETTLE_SECONDS)
    assert [e for e in events if e[0] == "run"] == [("run", n) for n in ("mnemos_graph", "raw_graph", "peer_graph")] * 2


def test_the_breakdown_separates_the_agents_bookkeeping_and_langchains_call_from_langgraph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load_bench()
    monkeypatch.setattr(sys, "argv", ["orchestration.py", "--agents", "2", "--memories", "30", "--runs", "1",
                                      "--store", str(tmp_path / "memory.db"), "--json", "--no-peer", "--breakdown"])
    bench.main()
    result = json.loads(capsys.readouterr().out)
    steps = result["mnemos_node_breakdown_cpu_ms"]
    assert steps["agent's own bookkeeping"] > 0 and steps["LangChain's model call around it"] > 0
    assert steps["recall (search)"] > 0 and steps["model call"] > 0
    # every step counted once: together they are the whole run
    per_node = result["mnemos_ms_per_run"] / result["agents"]
    wall = result["mnemos_node_breakdown_ms"]
    assert sum(wall.values()) == pytest.approx(per_node, abs=0.1)


def test_floor_times_agents_that_recall_nothing_and_agents_that_neither_recall_nor_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load_bench()
    searches: list[tuple[str, ...]] = []
    search_by_kind = bench.NativeMemoryAdapter.search_by_kind

    def counted(self: Any, query: str, limits: Any, **kwargs: Any) -> Any:
        searches.append(tuple(kwargs["namespace"]))
        return search_by_kind(self, query, limits, **kwargs)

    monkeypatch.setattr(bench.NativeMemoryAdapter, "search_by_kind", counted)
    store = tmp_path / "memory.db"
    monkeypatch.setattr(sys, "argv", ["orchestration.py", "--agents", "2", "--memories", "30", "--runs", "1",
                                      "--store", str(store), "--json", "--no-peer", "--floor"])
    bench.main()
    result = json.loads(capsys.readouterr().out)
    assert all(isinstance(result[f"{label}_overhead_ms_per_node"], float) for label in bench.FLOORS)
    # only the full graph searched: 2 rounds (warm-up and timed) of 2 agents
    assert len(searches) == 4
    memory = bench.NativeMemoryAdapter(store)
    try:
        # one episode per round and agent from the full graph and the one without recall, none from the other
        for i in range(2):
            threads = sorted(r.provenance.thread or "" for r in memory.list(
                namespace=("users", bench.USER, "agents", f"step_{i}"), limit=None) if r.provenance.thread)
            assert threads == ["mnemos-0", "mnemos-1", "mnemos_no_recall-0", "mnemos_no_recall-1"]
    finally:
        memory.close()

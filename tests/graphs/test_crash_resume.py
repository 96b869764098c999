"""A graph run killed with SIGKILL mid-step resumes from its last checkpoint in a new
process (real child processes, real SQLite file / PostgreSQL server). The full 20-trial
run is ``benchmarks/graph_crash_resume.py --trials 20``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "graph_crash_resume.py"


def _trials(backend: str, trials: int = 3) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--trials", str(trials), "--backend", backend, "--json"],
        capture_output=True, text=True, timeout=400,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    results = [line for line in lines if "summary" not in line]
    assert len(results) == trials, proc.stderr[-2000:]
    return results


def _assert_resumed(results: list[dict]) -> None:
    for r in results:
        assert "error" not in r, r
        # every node's result is in the final state exactly once, as in an uninterrupted run
        assert r["exactly_once"] and r["same_as_uninterrupted"], r
        # the resumed process did not redo what the last checkpoint already held
        assert r["no_checkpointed_step_rerun"], r
        # the kill cut the run short, while some node was working...
        assert r["in_flight_at_kill"] and len(r["checkpointed_at_kill"]) < 10, r
        # ...and whatever was in flight and not saved ran again
        assert set(r["in_flight_at_kill"]) <= set(r["rerun"]), r
        assert r["ok"], r


@pytest.mark.slow
def test_sigkill_mid_step_resumes_from_sqlite_checkpoint() -> None:
    _assert_resumed(_trials("sqlite"))


@pytest.mark.slow
@pytest.mark.postgres
def test_sigkill_mid_step_resumes_from_postgres_checkpoint() -> None:
    _assert_resumed(_trials("postgres"))


def test_a_kill_before_the_first_checkpoint_starts_the_run_again(tmp_path: Path) -> None:
    """With LangGraph's default durability the first checkpoint is written while the first node
    runs, so a kill there can leave nothing to resume: the resume runs the input again
    (before, ``invoke(None)`` failed with ``EmptyInputError``)."""
    progress = tmp_path / "progress.log"
    progress.write_text("start fetch\n")  # the killed run had started its first node
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--child", "resume", "--url", f"sqlite:///{tmp_path / 'c.db'}",
         "--thread", "never-checkpointed", "--progress", str(progress), "--work-seconds", "0"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    final = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(final["done"]) == sorted(["fetch", "parse", "plan", "branch_a", "branch_b", "branch_c",
                                            "merge", "draft", "check", "publish"])

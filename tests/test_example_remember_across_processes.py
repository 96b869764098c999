"""The main example: one process stores memories, a separate process recalls them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "remember_across_processes.py"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "MNEMOS_HOME": str(tmp_path / "home")}
    for name in ("MNEMOS_STORE", "MNEMOS_EMBEDDER"):
        env.pop(name, None)
    return env


def _run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _top_hit(output: str, question: str) -> str:
    block = output.split(f"? {question}\n", 1)[1]
    first = block.splitlines()[0]
    match = re.match(r"\s+1\. \d+\.\d{3}\s+\[(\w+), ([\w/]+)\]\s+(.*)", first)
    assert match, first
    return match.group(3)


def test_store_and_recall_run_in_two_processes(env: dict[str, str], tmp_path: Path) -> None:
    output = _run(env)
    pids = {
        phase: int(pid) for phase, pid in re.findall(r"^\[(store|recall)\s+pid (\d+)\]", output, re.M)
    }
    assert set(pids) == {"store", "recall"}
    assert pids["store"] != pids["recall"]
    assert os.getpid() not in pids.values()
    assert "stored 10 memories" in output

    assert _top_hit(output, "Where does Alice live?") == "Alice lives in Berlin since March"
    assert _top_hit(output, "birthday party plans for her daughter").startswith(
        "Alice mentioned Emma's birthday party"
    )
    assert _top_hit(output, "How should answers to Alice be written?").startswith("Keep answers short")
    assert "Alice lives in Lisbon" not in output.split("history:")[0]
    assert "history: 'Alice lives in Lisbon' was superseded" in output
    assert re.search(r"why: keyword #1 \+0\.\d\d · vector #1 \(cosine 0\.\d\d\) \+0\.\d\d", output)
    # the example used its own temporary store, never the default one
    assert not (tmp_path / "home" / "memory.db").exists()


def test_phases_can_be_run_one_at_a_time(env: dict[str, str], tmp_path: Path) -> None:
    store = tmp_path / "alice.db"
    assert "stored 10 memories" in _run(env, "store", str(store))
    assert store.exists()
    recalled = _run(env, "recall", str(store))
    assert _top_hit(recalled, "Where does Alice live?") == "Alice lives in Berlin since March"

"""examples/swap_adapters.py: one graph, three adapters, the same memory-dependent answer.

It runs in its own process, as a user would run it; the Zep run talks to the
HTTP stand-in (no Zep server runs offline).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "swap_adapters.py"


def test_the_three_adapters_give_the_same_remembered_answer(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ZEP_API_URL", "MNEMOS_STORE")}
    env["MNEMOS_HOME"] = str(tmp_path / "home")
    done = subprocess.run([sys.executable, str(EXAMPLE)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if "->" in line]
    assert [line.split(":")[0].strip() for line in lines] == ["native", "mem0", "zep"]
    answers = {line.split("->", 1)[1].strip() for line in lines}
    assert len(answers) == 1
    assert "green" in answers.pop()
    assert "same answer from every adapter" in done.stdout

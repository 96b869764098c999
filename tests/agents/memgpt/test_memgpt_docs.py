"""The example of docs/memgpt.md runs as written (offline)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[3] / "docs" / "memgpt.md"


def test_the_agent_example_runs(tmp_path: Path) -> None:
    (code,) = re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.M | re.S)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNEMOS_")}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**env, "MNEMOS_HOME": str(tmp_path / "home"), "MNEMOS_MODEL": "offline"})
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 3  # the three replies printed

"""The test session itself cleans up what it creates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_TESTS = Path(__file__).parent


def test_a_test_session_leaves_no_home_directory_behind(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
         str(_TESTS / "test_import_graph.py")],
        cwd=_TESTS.parent, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_import_graph.py" in done.stdout
    assert not list(tmp_path.glob("mnemos-tests-*"))

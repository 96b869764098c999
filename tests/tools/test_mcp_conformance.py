"""The official MCP conformance suite's server scenarios against ``mnemos mcp serve`` (HTTP).

Runs ``benchmarks/mcp_conformance.py`` (the pinned ``@modelcontextprotocol/conformance``
with ``npx``): every scenario that applies to what mnemos offers must pass, and every
scenario must be classified. Skipped, with the reason, when ``npx`` is missing or the
package cannot be fetched.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "mcp_conformance.py"


def test_every_applicable_conformance_scenario_passes(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    run = subprocess.run([sys.executable, str(SCRIPT), "--json", str(out)], capture_output=True, text=True,
                         timeout=900)
    if run.returncode == 3:
        pytest.skip(run.stderr.strip())
    assert run.returncode == 0, run.stdout + run.stderr
    rows = {r["scenario"]: r for r in json.loads(out.read_text())}
    for name in ("server-initialize", "ping", "logging-set-level", "completion-complete", "tools-list",
                 "resources-list", "resources-subscribe", "resources-unsubscribe", "prompts-list"):
        assert rows[name]["applies"] and rows[name]["passed"] and not rows[name]["failed"], rows[name]

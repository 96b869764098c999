"""The examples of the LangGraph store (docs/graphs.md) and of AutoGen interop (docs/autogen.md) run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)


def _run(code: str, tmp_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNEMOS_")}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**env, "MNEMOS_HOME": str(tmp_path / "home"), "MNEMOS_MODEL": "offline"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_store_example_runs(tmp_path: Path) -> None:
    section = (DOCS / "graphs.md").read_text(encoding="utf-8").split("## Long-term memory: a LangGraph store", 1)[1]
    code = _blocks(section.split("\n## ", 1)[0])[0]
    assert _run(code, tmp_path).strip() == "Alice is vegetarian"


AUTOGEN = _blocks((DOCS / "autogen.md").read_text(encoding="utf-8"))


@pytest.mark.parametrize("index", range(len(AUTOGEN)))
def test_autogen_examples_run(index: int, tmp_path: Path) -> None:
    out = _run(AUTOGEN[index], tmp_path)
    if "MemoryQueryEvent" in AUTOGEN[index]:
        assert out.startswith("coder recalled ['The deployment target is a Kubernetes cluster on ARM64 nodes'")
    else:
        assert out.splitlines() == ["['writer', 'editor']", "['writer', 'editor']"]


AGENT_PATTERNS = _blocks((DOCS / "graphs.md").read_text(encoding="utf-8").split(
    "## Agents in LangGraph's own patterns", 1)[1].split("\n## ", 1)[0])
AGENT_PATTERN_OUTPUT = [
    ["Deploy billing?", "Done: deployed billing."],
    ["['human', 'ai', 'tool', 'ai'] It is sunny in Oslo."],
    ["bob | Bob here: Can Bob check my invoice?", "bob | Bob here: And the receipt?"],
]


@pytest.mark.parametrize("index", range(len(AGENT_PATTERN_OUTPUT)))
def test_agent_pattern_examples_run(index: int, tmp_path: Path) -> None:
    assert len(AGENT_PATTERNS) == len(AGENT_PATTERN_OUTPUT)
    assert _run(AGENT_PATTERNS[index], tmp_path).splitlines() == AGENT_PATTERN_OUTPUT[index]

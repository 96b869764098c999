"""The LangGraph long-term memory example: LangGraph's documented pattern, two lines changed,
runs on mnemos memory and remembers across processes (the plain version forgets)."""

from __future__ import annotations

import ast
import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "langgraph_long_term_memory.py"
PLAIN = Path(__file__).with_name("plain_langgraph_long_term_memory.py")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MNEMOS_")}
    return {**base, "MNEMOS_HOME": str(tmp_path / "home")}


def _run(script: Path, *args: str, env: dict[str, str]) -> str:
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300,
                          env=env, stdin=subprocess.DEVNULL, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _code_lines(path: Path) -> list[str]:
    """The program's lines after its module docstring."""
    text = path.read_text()
    tree = ast.parse(text)
    doc = tree.body[0]
    assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
    return text.splitlines()[doc.end_lineno :]


def test_at_most_three_lines_differ_from_the_plain_langgraph_program() -> None:
    plain, ours = _code_lines(PLAIN), _code_lines(EXAMPLE)
    removed = [line for line in difflib.ndiff(plain, ours) if line.startswith("- ")]
    added = [line for line in difflib.ndiff(plain, ours) if line.startswith("+ ")]
    assert removed == ["- from langgraph.store.memory import InMemoryStore", "- store = InMemoryStore()"]
    assert added == ["+ from mnemos import open_store", "+ store = open_store()"]


def test_example_remembers_in_a_second_process(env: dict[str, str]) -> None:
    first = _run(EXAMPLE, env=env)
    assert "agent: Based on the tool results: Successfully saved user info." in first
    second = _run(EXAMPLE, "again", env=env)
    # the graph node found the memory the first process stored and answered from it
    assert "graph: Based on what I remember: my name is Bob and I live in Porto" in second
    # the agent's tool read the item the first process's tool saved
    assert "{'name': 'Bob', 'language': 'Portuguese'}" in second

    # what the LangGraph app stored is ordinary mnemos memory
    check = (
        "from mnemos import open_memory\n"
        "m = open_memory()\n"
        "hit = m.search('where does Bob live', namespace=('memories', '1'))[0]\n"
        "print(hit.record.content, '|', sorted(ns for ns in m.namespaces()))\n"
    )
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env,
                         check=True, timeout=120).stdout
    assert out.startswith("my name is Bob and I live in Porto |")
    assert "('users',)" in out


def test_plain_langgraph_program_remembers_only_within_its_process(env: dict[str, str]) -> None:
    same_process = (
        "import runpy, sys\n"
        f"ns = runpy.run_path({str(PLAIN)!r})\n"
        "ns['chat']('Hi! Remember: my name is Bob and I live in Porto')\n"
        "print(ns['chat']('What is my name?'))\n"
    )
    out = subprocess.run([sys.executable, "-c", same_process], capture_output=True, text=True, env=env,
                         check=True, timeout=120).stdout
    assert "Based on what I remember: my name is Bob" in out
    _run(PLAIN, env=env)
    forgot = _run(PLAIN, "again", env=env)
    assert "Bob" not in forgot and "Unknown user" in forgot

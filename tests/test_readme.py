"""The README tells the truth: its Python snippets run, its CLI session runs with the
exit codes and error lines shown, and CI runs the README's test command."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.M | re.S)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "MNEMOS_HOME": str(tmp_path / "home"), "COLUMNS": "100"}
    for name in ("MNEMOS_STORE", "MNEMOS_EMBEDDER", "MNEMOS_MODEL"):
        env.pop(name, None)
    env["MNEMOS_MODEL"] = "offline"  # deterministic; the local model's own tests are elsewhere
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^```bash\n(.*?)\n```", quick_start, re.M | re.S)
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    install, run_example = commands[0].rsplit(" && ", 1)
    install_too, run_tests = commands[1].rsplit(" && ", 1)
    assert install == install_too
    assert install.index("torch==2.13.0") < install.index('-e ".[dev]"')
    assert run_example == "python examples/business_brainstorm.py"
    assert (ROOT / "examples" / "business_brainstorm.py").exists()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f'{run_tests} "$@"' in ci
    assert "torch==2.13.0" in ci and '-e ".[dev]"' in ci


def test_python_snippets_run(env: dict[str, str], tmp_path: Path) -> None:
    snippets = _blocks("python")
    assert snippets
    for snippet in snippets:
        done = subprocess.run(
            [sys.executable, "-c", snippet],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip()


def test_cli_session_runs_as_shown(env: dict[str, str], tmp_path: Path) -> None:
    """Every ``$ mnemos ...`` line of the console blocks runs; a line whose shown
    output is an ``error:`` line fails with exit code 2 and exactly that message."""
    sessions = _blocks("console")
    assert sessions
    ran = 0
    for session in sessions:
        lines = session.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("$ "):
                continue
            command = line[2:]
            if command.startswith("export "):
                name, _, value = command[len("export ") :].partition("=")
                env[name] = shlex.split(value)[0]
                continue
            following = lines[i + 1] if i + 1 < len(lines) else ""
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
            )
            if following.startswith("error: "):
                assert done.returncode == 2, (command, done.stdout, done.stderr)
                assert done.stderr.strip() == following, command
            else:
                assert done.returncode == 0, (command, done.stderr)
            ran += 1
    assert ran >= 8

"""The graph examples run offline, each in its own process, as a user would run them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MNEMOS_")}
    return {**base, "MNEMOS_HOME": str(tmp_path / "home"), "COLUMNS": "200", "MNEMOS_MODEL": "offline"}


def run(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env,
                          stdin=subprocess.DEVNULL, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def example(name: str, *args: str, env: dict[str, str]) -> str:
    return run([sys.executable, str(EXAMPLES / name), *args], env)


def mnemos(*args: str, env: dict[str, str]) -> str:
    exe = shutil.which("mnemos", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "mnemos.cli"]
    return run([*cmd, *args], env)


def test_personal_assistant_remembers_a_user_across_processes(env: dict[str, str]) -> None:
    first = example("personal_assistant.py", "--user", "alice", "My favourite colour is green", env=env)
    assert "remembered [semantic] User's favourite colour is green" in first
    second = example("personal_assistant.py", "--user", "alice", "What is my favourite colour?", env=env)
    reply = re.search(r"^  assistant: (.*)", second, flags=re.MULTILINE)
    assert reply and "green" in reply.group(1)
    # the output names the memory it used and why it was recalled
    assert "recalled" in second and "[semantic] User's favourite colour is green" in second
    assert re.search(r"why: .*(keyword|vector)", second)
    bob = example("personal_assistant.py", "--user", "bob", "What is my favourite colour?", env=env)
    assert "green" not in bob and "recalled no memories" in bob


def test_personal_assistant_through_the_cli_shows_memory_and_reason(env: dict[str, str]) -> None:
    example("personal_assistant.py", "--user", "alice", "My favourite colour is green", env=env)
    out = mnemos("run", "examples/personal_assistant.py:graph", "What is my favourite colour?",
                 "--user", "alice", "--thread", "ask-1", env=env)
    assert "Based on what I remember: User's favourite colour is green" in out
    assert "[semantic] User's favourite colour is green" in out
    assert re.search(r"why: .*(keyword|vector)", out)
    lines = [json.loads(x) for x in mnemos(
        "run", "examples/personal_assistant.py:graph", "What is my favourite colour?",
        "--user", "bob", "--json", env=env).splitlines()]
    recalls = [x["data"]["memories"] for x in lines if x["type"] == "custom" and x["data"]["event"] == "recall"]
    assert recalls == [[]]
    assert "green" not in (lines[-1]["reply"] or "")


def _events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_supervisor_review_interrupts_for_approval_and_completes(env: dict[str, str]) -> None:
    events = _events(example("supervisor_review.py", "Write a brief about heat pumps",
                             "--approve", "--json", env=env))
    nodes = [e["node"] for e in events if e["type"] == "update"]
    workers = [n for n in nodes if n in ("research", "write", "review")]
    assert workers == ["research", "write", "review"]
    interrupts = [e for e in events if e["type"] == "interrupt"]
    assert len(interrupts) == 1 and interrupts[0]["data"]["value"]["question"] == "Publish this brief?"
    # the draft put up for approval is the writer's brief, made with its tool from the research
    assert "BRIEF" in interrupts[0]["data"]["value"]["draft"]
    assert "3-4 kWh" in interrupts[0]["data"]["value"]["draft"]
    approvals = [e["data"] for e in events if e["type"] == "custom" and e["data"]["event"] == "approval"]
    assert approvals == [{"event": "approval", "agent": "approval", "approved": True, "feedback": ""}]
    assert events[-1]["status"] == "done"
    # the researcher called its tool and answered from the result
    research = next(e for e in events if e["type"] == "update" and e["node"] == "research")
    calls = [c["name"] for m in research["update"]["messages"] for c in m.get("tool_calls", [])]
    assert calls == ["lookup_notes"]
    review = next(e for e in events if e["type"] == "update" and e["node"] == "review")
    assert review["update"]["messages"][-1]["content"].endswith("Review: looks good.")


def test_supervisor_review_feedback_sends_the_draft_back(env: dict[str, str]) -> None:
    events = _events(example("supervisor_review.py", "Write a brief about heat pumps",
                             "--feedback", "put the kWh figures first", "--approve", "--json", env=env))
    nodes = [e["node"] for e in events if e["type"] == "update"]
    assert nodes.count("write") == 2 and nodes.count("approval") == 2
    assert len([e for e in events if e["type"] == "interrupt"]) == 2
    assert events[-1]["status"] == "done"


def test_supervisor_review_paused_run_resumes_from_another_process(env: dict[str, str]) -> None:
    out = example("supervisor_review.py", "Write a brief about heat pumps", "--thread", "brief-1", env=env)
    assert "paused for approval" in out
    resume = re.search(r"resume with: (mnemos threads resume .*)", out)
    assert resume and "--graph" in resume.group(1)
    shown = json.loads(mnemos("threads", "show", "brief-1", "--graph",
                              "examples/supervisor_review.py:graph", "--json", env=env))
    assert shown["status"] == "interrupted" and shown["next"] == ["approval"]
    done = mnemos("threads", "resume", "brief-1", "--answer", "yes", "--graph",
                  "examples/supervisor_review.py:graph", env=env)
    assert "approved" in done and "thread brief-1 done" in done

"""``mnemos run`` / ``threads`` / ``graph`` end to end: typer's CliRunner and the installed
console script in separate processes, on real SQLite checkpoints and a real native store."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from mnemos.cli import app

APPROVAL_GRAPH = textwrap.dedent(
    '''
    import os
    from pathlib import Path
    from langchain_core.messages import AIMessage
    from mnemos.graphs import GraphBuilder

    def draft(state):
        return {"messages": [AIMessage("a first draft", name="draft")]}

    def flaky(state):
        flag = Path(os.environ["FLAKY_FLAG"])
        if flag.exists():
            flag.unlink()
            raise RuntimeError("power cut")
        return {"messages": [AIMessage("flaky step done", name="flaky")]}

    def publish(state):
        return {"messages": [AIMessage("published", name="publish")]}

    builder = GraphBuilder(name="approve_demo").node(draft).node(flaky).node(publish)
    builder.edge("draft", "flaky")
    builder.approval(after="flaky", on_approve="publish", on_reject="draft", question="Ship it?")

    def factory():
        return builder

    broken = GraphBuilder(name="broken").sequence(draft, publish).node(flaky).edge("flaky", "publish")
    '''
)

AGENT_GRAPH = textwrap.dedent(
    '''
    import os
    from mnemos.agents import Agent
    from mnemos.graphs import GraphBuilder
    from mnemos.memory_adapters.native import NativeMemoryAdapter

    def graph():
        memory = NativeMemoryAdapter(os.environ["MNEMOS_STORE"])
        assistant = Agent(name="assistant", model="offline", memory=memory,
                          instructions="You are a personal assistant.")
        return GraphBuilder(name="assistant").sequence(assistant)
    '''
)


SLOW_GRAPH = textwrap.dedent(
    '''
    import os, time
    from pathlib import Path
    from langchain_core.messages import AIMessage
    from mnemos.graphs import GraphBuilder

    def first(state):
        return {"messages": [AIMessage("first step done", name="first")]}

    def slow(state):
        hold = Path(os.environ["HOLD_FLAG"])
        deadline = time.monotonic() + 60
        while hold.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return {"messages": [AIMessage("slow step done", name="slow")]}

    builder = GraphBuilder(name="slow_demo").sequence(first, slow)
    '''
)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "MNEMOS_HOME": str(tmp_path / "home"),
        "MNEMOS_STORE": str(tmp_path / "memory.db"),
        "FLAKY_FLAG": str(tmp_path / "flaky.flag"),
        "HOLD_FLAG": str(tmp_path / "hold.flag"),
        "COLUMNS": "200",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MNEMOS_CHECKPOINTS", raising=False)
    (tmp_path / "approve_graph.py").write_text(APPROVAL_GRAPH)
    (tmp_path / "agent_graph.py").write_text(AGENT_GRAPH)
    (tmp_path / "slow_graph.py").write_text(SLOW_GRAPH)
    return values


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def ok(*args: str) -> Result:
    result = cli(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def test_run_pauses_for_approval_and_threads_resume_finishes(tmp_path: Path, env: dict[str, str]) -> None:
    target = f"{tmp_path / 'approve_graph.py'}:builder"
    out = ok("run", target, "write something", "--thread", "t1", "--no-input").stdout
    assert "▶ draft" in out and "a first draft" in out
    assert "Ship it?" in out
    assert 'mnemos threads resume t1 --answer "yes"' in out

    listing = ok("threads", "list").stdout
    assert "t1" in listing and "approve_graph.py:builder" in listing and "interrupted" in listing
    shown = ok("threads", "show", "t1").stdout
    assert "interrupted" in shown and "Ship it?" in shown and "a first draft" in shown

    done = ok("threads", "resume", "t1", "--answer", "yes").stdout
    assert "approved" in done and "published" in done and "thread t1 done" in done
    again = cli("threads", "resume", "t1")
    assert again.exit_code == 2 and "nothing left to run" in again.stderr


def test_feedback_rejects_and_loops_back(tmp_path: Path, env: dict[str, str]) -> None:
    target = f"{tmp_path / 'approve_graph.py'}:factory"
    ok("run", target, "go", "--thread", "t2", "--no-input")
    out = ok("threads", "resume", "t2", "--answer", "shorter please").stdout
    assert "rejected: shorter please" in out
    assert out.count("▶ draft") == 1 and "Ship it?" in out
    data = json.loads(ok("threads", "show", "t2", "--json").stdout)
    assert data["status"] == "interrupted" and data["next"] == ["approval"]
    assert "Rejected by the reviewer: shorter please" in [m["content"] for m in data["messages"]]


def test_answer_option_and_json_lines(tmp_path: Path, env: dict[str, str]) -> None:
    target = f"{tmp_path / 'approve_graph.py'}:builder"
    out = ok("run", target, "go", "--thread", "t3", "--answer", "yes", "--json").stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert [x["node"] for x in lines if x["type"] == "update"] == ["draft", "flaky", "approval", "publish"]
    assert any(x["type"] == "interrupt" and x["data"]["value"]["question"] == "Ship it?" for x in lines)
    assert lines[-1] == {"type": "status", "status": "done", "thread": "t3", "reply": "published"}


def test_a_failed_run_resumes_from_its_last_checkpoint(tmp_path: Path, env: dict[str, str]) -> None:
    Path(env["FLAKY_FLAG"]).touch()
    target = f"{tmp_path / 'approve_graph.py'}:builder"
    failed = cli("run", target, "go", "--thread", "t4", "--no-input")
    assert failed.exit_code == 1
    assert "power cut" in failed.stderr and "mnemos threads resume t4" in failed.stderr
    data = json.loads(ok("threads", "show", "t4", "--json").stdout)
    assert data["status"] == "unfinished" and data["next"] == ["flaky"]
    out = ok("threads", "resume", "t4", "--no-input").stdout
    assert "▶ flaky" in out and "▶ draft" not in out and "Ship it?" in out


def test_graph_show_formats_and_check(tmp_path: Path, env: dict[str, str]) -> None:
    target = f"{tmp_path / 'approve_graph.py'}:builder"
    text = ok("graph", "show", target).stdout
    assert "graph approve_demo (4 nodes)" in text and "approval ⇢ publish | draft" in text
    assert "flowchart" in ok("graph", "show", target, "--format", "mermaid").stdout or "graph TD" in ok(
        "graph", "show", target, "--format", "mermaid").stdout
    assert '"draft" -> "flaky";' in ok("graph", "show", target, "-f", "dot").stdout
    bad = cli("graph", "show", target, "-f", "png")
    assert bad.exit_code == 2 and "unknown graph format" in bad.stderr
    broken = f"{tmp_path / 'approve_graph.py'}:broken"
    shown = ok("graph", "show", broken).stdout
    assert "! error: no path from START reaches 'flaky'" in shown
    checked = cli("graph", "check", broken)
    assert checked.exit_code == 1 and "'flaky'" in checked.stdout
    assert ok("graph", "check", target).stdout.count("error") == 0


def test_bad_targets_and_threads_are_usage_errors(tmp_path: Path, env: dict[str, str]) -> None:
    for target, message in [
        ("no_colon_here", "MODULE:GRAPH"),
        (f"{tmp_path / 'missing.py'}:g", "no such file"),
        (f"{tmp_path / 'approve_graph.py'}:nothing", "no attribute 'nothing'"),
        ("json:loads", "expected a compiled graph"),
        ("json:JSONDecodeError", "expected a compiled graph"),
    ]:
        result = cli("run", target, "hi", "--no-input")
        assert result.exit_code == 2, (target, result.stdout, result.stderr)
        assert message in result.stderr
    broken = cli("run", f"{tmp_path / 'approve_graph.py'}:broken", "hi")
    assert broken.exit_code == 2 and "'flaky'" in broken.stderr
    missing = cli("threads", "show", "nope")
    assert missing.exit_code == 2 and "no saved thread 'nope'" in missing.stderr
    assert cli("run", f"{tmp_path / 'approve_graph.py'}:builder", "  ").exit_code == 2


def test_checkpoints_option_points_somewhere_else(tmp_path: Path, env: dict[str, str]) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    target = f"{tmp_path / 'approve_graph.py'}:builder"
    ok("run", target, "go", "--thread", "t5", "--no-input", "--checkpoints", url)
    assert (tmp_path / "elsewhere.db").exists()
    assert "t5" in ok("threads", "list", "--checkpoints", url).stdout
    assert "t5" not in ok("threads", "list").stdout


def _mnemos(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("mnemos", path=str(Path(sys.executable).parent))
    cmd = [exe, *args] if exe else [sys.executable, "-m", "mnemos.cli", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    return proc


def test_agent_memory_across_processes_shows_the_recalled_memory_and_why(
    tmp_path: Path, env: dict[str, str]
) -> None:
    target = f"{tmp_path / 'agent_graph.py'}:graph"
    _mnemos("run", target, "My favourite colour is green", "--user", "alice", env=env)
    second = _mnemos("run", target, "What is my favourite colour?", "--user", "alice", "--thread", "q", env=env)
    out = second.stdout
    assert "Based on what I remember: User's favourite colour is green" in out
    assert "[semantic] User's favourite colour is green" in out
    assert re.search(r"why: .*(keyword|vector).* · confidence \d\.\d\d", out)
    # the answer names the memory it was built on: its rank tag, source and id
    assert re.search(r"source M1 .*turn.* · [0-9a-f]{32} · confidence", out)
    bob = _mnemos("run", target, "What is my favourite colour?", "--user", "bob", "--json", env=env)
    lines = [json.loads(line) for line in bob.stdout.splitlines()]
    recalls = [x["data"] for x in lines if x["type"] == "custom" and x["data"]["event"] == "recall"]
    assert recalls and all(r["memories"] == [] for r in recalls)
    assert "green" not in lines[-1]["reply"]


def test_store_option_names_the_agents_memory(tmp_path: Path, env: dict[str, str]) -> None:
    other = tmp_path / "other.db"
    target = f"{tmp_path / 'agent_graph.py'}:graph"
    ok("run", target, "I live in Lisbon", "--user", "erin", "--store", str(other))
    assert other.exists() and not Path(env["MNEMOS_STORE"]).exists()


@pytest.mark.postgres
def test_threads_on_postgres_checkpoints(tmp_path: Path, env: dict[str, str]) -> None:
    import uuid

    psycopg = pytest.importorskip("psycopg")
    base = "postgresql://postgres@127.0.0.1:5432/test"
    schema = f"mnemos_cli_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            url = f"{base}?options=-csearch_path%3D{schema}"
            target = f"{tmp_path / 'approve_graph.py'}:builder"
            ok("run", target, "go", "--thread", "pg1", "--no-input", "--checkpoints", url)
            assert "interrupted" in ok("threads", "list", "--checkpoints", url).stdout
            done = ok("threads", "resume", "pg1", "--answer", "yes", "--checkpoints", url).stdout
            assert "published" in done
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_run_on_a_terminal_prompts_for_the_approval(tmp_path: Path, env: dict[str, str]) -> None:
    """A real pseudo-terminal: the run asks, the answer resumes it in the same process."""
    import pty
    import select

    exe = shutil.which("mnemos", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "mnemos.cli"]
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([*cmd, "run", f"{tmp_path / 'approve_graph.py'}:builder", "go", "--thread", "tty"],
                            stdin=secondary, stdout=secondary, stderr=secondary,
                            env={**os.environ, **env}, close_fds=True)
    os.close(secondary)
    seen, answered = b"", False
    try:
        while True:
            ready, _, _ = select.select([primary], [], [], 120)
            if not ready:
                break
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"your answer" in seen:
                os.write(primary, b"yes\n")
                answered = True
    finally:
        os.close(primary)
        proc.wait(timeout=60)
    text = seen.decode(errors="replace")
    assert proc.returncode == 0, text
    assert answered and "Ship it?" in text and "published" in text and "thread tty done" in text


def _broken_brainstorm(checkpoints: Path, memory_path: Path) -> None:
    """A brainstorm thread whose process failed at the fourth turn (its model raised)."""
    from dataclasses import replace

    from brainstorm_standin import standin_team
    from mnemos.graphs._personas import load_personas
    from mnemos.graphs.brainstorm import run_session
    from mnemos.graphs.groupchat import GroupChat, Participant
    from mnemos.memory_adapters.native import NativeMemoryAdapter

    memory = NativeMemoryAdapter(memory_path)
    members, moderator = standin_team(load_personas("builtin"), memory)
    calls = {"n": 0}

    def failing(inner: Any) -> Any:
        from mnemos.agents import ScriptedChatModel

        def reply(messages: Any) -> str:
            calls["n"] += 1
            if calls["n"] == 4:
                raise RuntimeError("power cut")
            return inner.invoke(messages).text

        return ScriptedChatModel(reply)

    members = [Participant(agent=replace(p.agent, model=failing(p.agent.chat_model)), persona=p.persona, view=p.view)
               for p in members]
    chat = GroupChat(participants=members, moderator=moderator, team_memory=memory, team="business", max_rounds=2)
    with pytest.raises(RuntimeError):
        run_session(chat, "Tea shop names", thread_id="bs", checkpoints=str(checkpoints),
                    settings={"personas": "builtin", "store": str(memory_path)})
    memory.close()


def test_threads_list_show_resume_prune_and_delete_a_brainstorm_thread(tmp_path: Path, env: dict[str, str]) -> None:
    db = tmp_path / "cp.db"
    _broken_brainstorm(db, tmp_path / "mem.db")
    rows = {r["thread"]: r for r in json.loads(ok("threads", "list", "--checkpoints", str(db), "--json").stdout)}
    assert rows["bs"]["graph"] == "brainstorm" and rows["bs"]["status"] == "unfinished"
    assert rows["bs"]["waits_for_answer"] is False
    shown = json.loads(ok("threads", "show", "bs", "--checkpoints", str(db), "--json").stdout)
    assert shown["status"] == "unfinished" and len([m for m in shown["messages"] if m.get("name") != "user"]) == 4
    text = ok("threads", "show", "bs", "--checkpoints", str(db)).stdout
    assert "Resume with: mnemos threads resume bs" in text and "Ideas" in text

    resumed = ok("threads", "resume", "bs", "--checkpoints", str(db))
    assert "engineer" in resumed.stdout
    rows = {r["thread"]: r for r in json.loads(ok("threads", "list", "--checkpoints", str(db), "--json").stdout)}
    assert rows["bs"]["status"] == "finished"
    final = json.loads(ok("threads", "show", "bs", "--checkpoints", str(db), "--json").stdout)
    turns = [m["name"] for m in final["messages"] if m.get("name") in ("product_manager", "engineer", "skeptic")]
    assert turns == ["product_manager", "engineer", "skeptic"] * 2 and final["status"] == "finished"

    before = final["checkpoints"]
    dry = ok("threads", "prune", "--keep-last", "2", "--dry-run", "--checkpoints", str(db)).stdout
    assert f"would delete 0 thread(s) and {before - 2} older checkpoint(s)" in dry
    assert json.loads(ok("threads", "show", "bs", "--checkpoints", str(db), "--json").stdout)["checkpoints"] == before
    pruned = ok("threads", "prune", "--keep-last", "2", "--checkpoints", str(db)).stdout
    assert f"deleted 0 thread(s) and {before - 2} older checkpoint(s)" in pruned
    after = json.loads(ok("threads", "show", "bs", "--checkpoints", str(db), "--json").stdout)
    assert after["checkpoints"] == 2 and after["messages"] == final["messages"]  # the state survives
    assert after["values"]["ledger"] == final["values"]["ledger"]

    assert "deleted 0 thread(s)" in ok("threads", "prune", "--older-than", "1d", "--checkpoints", str(db)).stdout
    missing = cli("threads", "delete", "nope", "--checkpoints", str(db))
    assert missing.exit_code == 2 and "no saved thread 'nope'" in missing.stderr
    ok("threads", "delete", "bs", "--checkpoints", str(db))
    assert "no saved threads" in ok("threads", "list", "--checkpoints", str(db)).stdout
    bad = cli("threads", "prune", "--older-than", "soon", "--checkpoints", str(db))
    assert bad.exit_code == 2 and "a duration is a number and a unit" in bad.stderr


def test_threads_list_tells_running_from_interrupted_unfinished_and_finished(tmp_path: Path, env: dict[str, str]) -> None:
    """A run in progress, one paused at an approval, one killed mid-step, and a finished one."""
    import signal
    import time

    def statuses() -> dict[str, tuple[str, bool]]:
        rows = json.loads(ok("threads", "list", "--json").stdout)
        return {r["thread"]: (r["status"], r["waits_for_answer"]) for r in rows}

    ok("run", f"{tmp_path / 'approve_graph.py'}:builder", "go", "--thread", "paused", "--no-input")
    ok("run", f"{tmp_path / 'approve_graph.py'}:builder", "go", "--thread", "done", "--answer", "yes")
    hold = Path(env["HOLD_FLAG"])
    hold.touch()
    exe = shutil.which("mnemos", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "mnemos.cli"]
    proc = subprocess.Popen([*cmd, "run", f"{tmp_path / 'slow_graph.py'}:builder", "go", "--thread", "live",
                             "--no-input"], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while statuses().get("live", ("",))[0] != "running" and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
        assert statuses() == {"paused": ("interrupted", True), "done": ("finished", False),
                              "live": ("running", False)}
        assert json.loads(ok("threads", "show", "live", "--json").stdout)["status"] == "running"
        table = ok("threads", "list").stdout
        assert re.search(r"live .* running", table) and re.search(r"paused .* interrupted .* --answer", table)
    finally:
        proc.send_signal(signal.SIGKILL)  # killed mid-step: its checkpoint says "slow" is still due
        proc.wait(timeout=30)
    assert statuses()["live"] == ("unfinished", False)
    assert re.search(r"live .* unfinished .* threads resume live", ok("threads", "list").stdout)
    hold.unlink()
    ok("threads", "resume", "live", "--no-input")
    assert statuses()["live"] == ("finished", False)

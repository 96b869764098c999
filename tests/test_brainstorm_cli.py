"""``mnemos brainstorm`` in real processes: two sessions that remember, exports, engines, errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mnemos.graphs._ledger import similar
from mnemos.memory_adapters.native import NativeMemoryAdapter

TOPIC = "A business proposal: a loyalty product for small shops"


def _mnemos(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MNEMOS_MODEL", "MNEMOS_STORE", "MNEMOS_CHECKPOINTS")}
    env.update(MNEMOS_HOME=str(home), COLUMNS="200", MNEMOS_MODEL="offline")
    return subprocess.run([sys.executable, "-m", "mnemos.cli", "brainstorm", *args], env=env,
                          capture_output=True, text=True, timeout=300)


STANDIN = Path(__file__).resolve().parent / "brainstorm_standin.py"


def _standin(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``mnemos brainstorm`` with the participants on the deterministic stand-in model."""
    env = {k: v for k, v in os.environ.items() if k not in ("MNEMOS_MODEL", "MNEMOS_STORE", "MNEMOS_CHECKPOINTS")}
    env.update(MNEMOS_HOME=str(home), COLUMNS="200", MNEMOS_MODEL="offline")  # the CLI's own model
    return subprocess.run([sys.executable, str(STANDIN), "brainstorm", *args], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_second_session_in_another_process_builds_on_the_first(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = _standin(home, TOPIC, "--thread", "s1", "--out", str(tmp_path / "s1"))
    assert first.returncode == 0, first.stderr
    ideas = json.loads((tmp_path / "s1" / "ideas.json").read_text())["ideas"]
    accepted = [i["text"] for i in ideas if i["status"] == "accepted"]
    rejected = [i["text"] for i in ideas if i["status"] == "rejected"]
    assert accepted and rejected

    second = _standin(home, "Loyalty product for small shops: next steps", "--thread", "s2",
                      "--out", str(tmp_path / "s2"), "--show-prompts")
    assert second.returncode == 0, second.stderr
    transcript = json.loads((tmp_path / "s2" / "transcript.json").read_text())
    prompts = ["\n".join(m["content"] for m in p["messages"]) for p in transcript["prompts"]]
    assert all(text in prompts[0] for text in accepted)            # recalled from the first session
    assert all(text in second.stdout for text in accepted)          # and shown with --show-prompts
    assert any("Do not propose again" in p for p in prompts)        # a lesson in procedural memory
    new = [i for i in json.loads((tmp_path / "s2" / "ideas.json").read_text())["ideas"] if i["origin"] == "session"]
    assert new and not any(similar(i["text"], r) for i in new for r in rejected)
    assert "<details><summary>prompt" in (tmp_path / "s2" / "transcript.md").read_text()


def test_on_the_offline_model_a_brainstorm_is_a_rehearsal_that_stores_no_decision(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = _mnemos(home, "How should a hospital reduce nurse burnout?", "--thread", "r", "--rounds", "2",
                     "--out", str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    assert "Rehearsal" in result.stdout and "nothing was written to memory" in result.stdout
    ideas = json.loads((tmp_path / "r" / "ideas.json").read_text())
    assert ideas["rehearsal"] is True and ideas["ideas"]
    assert all(i["text"].startswith("placeholder ") for i in ideas["ideas"])
    assert "remembered" not in result.stdout
    store = NativeMemoryAdapter(home / "memory.db")  # the default store
    try:
        assert [r for r in store.iter_export() if r["kind"] != "procedural"] == []
    finally:
        store.close()


@pytest.mark.slow
def test_autogen_engine_writes_the_same_exports(tmp_path: Path) -> None:
    result = _mnemos(tmp_path / "home", TOPIC, "--engine", "autogen", "--thread", "ag", "--rounds", "2",
                     "--out", str(tmp_path / "ag"))
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "ag" / "transcript.json").read_text())
    assert [t["speaker"] for t in data["transcript"] if t["round"]] == ["product_manager", "engineer", "skeptic"] * 2
    assert "# Ideas" in (tmp_path / "ag" / "ideas.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resume", "--thread", "nope"], "no session to resume"),
        (["--resume"], "--resume needs the --thread"),
        ([], "give a TOPIC"),
        (["x", "--engine", "crew"], "--engine is langgraph or autogen"),
        (["x", "--personas", "missing.toml"], "no persona file"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = _refused(monkeypatch, tmp_path / "home", *args)
    assert message in result.stderr


def _refused(monkeypatch: pytest.MonkeyPatch, home: Path, *args: str) -> Any:
    """``mnemos brainstorm ARGS`` run in this process, which must exit 2 (a usage error).

    The command's parsing and checks are the same as in a process of its own (the sessions here
    run in real processes); a Python start per refusal cost more than the check itself."""
    from typer.testing import CliRunner

    from mnemos.cli import app

    monkeypatch.setenv("MNEMOS_HOME", str(home))
    result = CliRunner().invoke(app, ["brainstorm", *args], env={"COLUMNS": "200", "MNEMOS_MODEL": "offline"})
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    return result


def test_a_thread_runs_one_session_and_resume_of_a_finished_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    assert _mnemos(home, "Tea shop names", "--thread", "t", "--rounds", "1", "--out", str(tmp_path / "o")).returncode == 0
    assert "already has a session" in _refused(monkeypatch, home, "Tea shop names", "--thread", "t").stderr
    assert "already finished" in _refused(monkeypatch, home, "--resume", "--thread", "t").stderr


def test_resume_of_a_finished_session_with_out_writes_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session stopped after its last checkpoint but before its files were written: ``--resume
    --out`` writes them from the saved state (it used to be refused as "already finished")."""
    from typer.testing import CliRunner

    from mnemos.cli import app

    home, out = tmp_path / "home", tmp_path / "o"
    assert _mnemos(home, "Tea shop names", "--thread", "t", "--rounds", "1", "--out", str(out)).returncode == 0
    first = json.loads((out / "transcript.json").read_text())
    shutil.rmtree(out)
    monkeypatch.setenv("MNEMOS_HOME", str(home))
    result = CliRunner().invoke(app, ["brainstorm", "--resume", "--thread", "t", "--out", str(out)],
                                env={"COLUMNS": "200", "MNEMOS_MODEL": "offline"})
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert "already finished" in result.stdout
    again = json.loads((out / "transcript.json").read_text())
    assert again["transcript"] == first["transcript"] and first["transcript"]
    assert (out / "ideas.json").exists()


@pytest.mark.slow
def test_business_brainstorm_example_rehearses_two_sessions_offline(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNEMOS_")}
    env["MNEMOS_HOME"] = str(tmp_path / "home")
    env["MNEMOS_MODEL"] = "offline"
    example = Path(__file__).resolve().parents[1] / "examples" / "business_brainstorm.py"
    topic = "How can a library attract teenagers?"
    out = subprocess.run([sys.executable, str(example), topic, "--rounds", "1"], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "using the offline model" not in out.stderr
    assert out.stdout.count("rehearsal on the offline model") == 2
    assert f"=== session 1: {topic} (thread" in out.stdout and f"=== session 2: {topic} The next steps" in out.stdout
    assert "recalled from earlier sessions:" not in out.stdout
    assert "session 1 was a rehearsal: it remembered nothing for session 2 to build on" in out.stdout
    assert "carried" not in out.stdout


_SLOW_MODEL_CLI = """
import sys, time
from pathlib import Path
from mnemos.agents import offline
from mnemos.cli import main

# a stand-in for a slow hosted model: the offline model, but the 5th turn hangs
marker, calls = Path(sys.argv[1]), [0]
respond = offline.respond

def slow(messages, tools=(), tool_choice=None):
    if tools and any(t["function"]["name"].endswith("Turn") for t in tools):  # a brainstorm turn
        calls[0] += 1
        if calls[0] == 5:
            marker.touch()
            time.sleep(120)
    return respond(messages, tools, tool_choice)

offline.respond = slow
sys.argv = ["mnemos", *sys.argv[2:]]
main()
"""


@pytest.mark.slow
def test_cli_session_killed_mid_round_resumes_with_the_same_thread(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNEMOS_")}
    env.update(MNEMOS_HOME=str(home), COLUMNS="200", MNEMOS_MODEL="offline")
    script = tmp_path / "slow_cli.py"
    script.write_text(_SLOW_MODEL_CLI)
    marker = tmp_path / "hang"
    proc = subprocess.Popen([sys.executable, str(script), str(marker), "brainstorm", TOPIC, "--thread", "k"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL  # killed during the engineer's turn of round 2
    resumed = _mnemos(home, "--resume", "--thread", "k", "--out", str(tmp_path / "k"))
    assert resumed.returncode == 0, resumed.stderr
    turns = json.loads((tmp_path / "k" / "transcript.json").read_text())["transcript"]
    assert [t["speaker"] for t in turns if t["round"]] == ["product_manager", "engineer", "skeptic"] * 3
    # the resumed process ran only what was left: the killed turn onwards
    assert "product_manager (round 1)" not in resumed.stdout and "engineer (round 2)" in resumed.stdout


RESUME_BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "brainstorm_resume.py"


@pytest.mark.slow
def test_sessions_killed_by_sigint_sigterm_and_sigkill_at_random_points_resume_to_the_end(tmp_path: Path) -> None:
    """Three trials of ``benchmarks/brainstorm_resume.py`` (the full run is 20): each one kills
    ``mnemos brainstorm`` mid-session, resumes it with ``--resume --thread``, and checks that every
    turn of every round is in the transcript once, in order. Before the fix a kill right after a
    turn's writes were saved left a thread that ``--resume`` called "already finished"."""
    out = subprocess.run([sys.executable, str(RESUME_BENCHMARK), "--trials", "3", "--rounds", "5", "--no-sizes",
                          "--json", "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    trials = [line for line in lines if "trial" in line]
    assert len(trials) == 3, out.stderr[-2000:]
    assert {t["signal"] for t in trials} == {"SIGINT", "SIGTERM", "SIGKILL"}
    for t in trials:
        assert t.get("ok"), t
    assert lines[-1] == {"summary": {"passed": 3, "trials": 3}}


def _business_example() -> Any:
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "business_brainstorm.py"
    spec = importlib.util.spec_from_file_location("business_brainstorm_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((), ["session 1 accepted no idea, so session 2 had none to build on."]),
        (("rejected", "proposed"), ["session 1 accepted no idea, so session 2 had none to build on."]),
        (("accepted",), ["session 2's first prompt carried the idea session 1 accepted:", "  idea 0"]),
        (("rejected", "accepted"), ["session 2's first prompt carried none of the idea session 1 accepted."]),
        (("accepted", "accepted"), ["session 2's first prompt carried 1 of the 2 ideas session 1 accepted:",
                                    "  idea 0"]),
    ],
)
def test_the_example_says_in_a_sentence_what_session_2_carried(statuses: tuple[str, ...], expected: list[str]) -> None:
    """Never a line that ends in a colon with nothing after it."""
    ideas = [{"text": f"idea {n}", "status": status} for n, status in enumerate(statuses)]
    lines = _business_example().carried_report({"ideas": ideas}, prompt="Build on: idea 0.")
    assert lines == expected
    assert not lines[-1].endswith(":")

"""Kill ``mnemos brainstorm`` at random points with SIGINT, SIGTERM or SIGKILL; resume; count finished sessions.

Each trial starts ``mnemos brainstorm TOPIC --rounds N --thread T`` in a child
process, waits until its first checkpoint is saved, sends it one of SIGINT
(Ctrl-C), SIGTERM or SIGKILL (in turn) at a random moment of the session,
then runs ``mnemos brainstorm --resume --thread T``. A trial succeeds when the
resume exits 0 and the session's transcript has every turn of every round
exactly once and in order, with one prompt per turn. The participants think
with the offline model slowed by a few milliseconds a turn (a stand-in for a
model's latency, so that kills land mid-session); a kill can land anywhere:
between turns, inside a turn, between a turn's saved writes and the next
checkpoint.

It also reports the size of the checkpoint database after a 3-round and a
30-round session (one thread each, in a fresh file).

    python benchmarks/brainstorm_resume.py [--trials 20] [--rounds 12] [--seed N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TOPIC = "How should a hospital reduce nurse burnout?"
SPEAKERS = ["product_manager", "engineer", "skeptic"]
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]

# the mnemos command, with each call of the offline model delayed (a model's latency)
SLOW_CLI = """
import sys, time
from mnemos.agents import offline
from mnemos.cli import main

respond, delay = offline.respond, float(sys.argv[1])

def slow(messages, tools=(), tool_choice=None):
    time.sleep(delay)
    return respond(messages, tools, tool_choice)

offline.respond = slow
sys.argv = ["mnemos", *sys.argv[2:]]
main()
"""


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNEMOS_")}
    env.update(MNEMOS_HOME=str(home), COLUMNS="200", PYTHONUNBUFFERED="1", MNEMOS_MODEL="offline")
    return env


def _command(work: Path, delay: float, *args: str) -> list[str]:
    script = work / "slow_cli.py"
    if not script.exists():
        script.write_text(SLOW_CLI)
    return [sys.executable, str(script), str(delay), *args]


def _has_checkpoint(db: Path, thread: str) -> bool:
    if not db.exists():
        return False
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            row = conn.execute("SELECT count(*) FROM checkpoints WHERE thread_id = ?", (thread,)).fetchone()
    except sqlite3.Error:
        return False
    return bool(row and row[0])


def size_after(rounds: int, work: Path) -> dict[str, Any]:
    """Bytes of a fresh checkpoint database after one session of ``rounds`` rounds."""
    db = work / f"size-{rounds}.db"
    start = time.monotonic()
    out = subprocess.run(_command(work, 0.0, "brainstorm", TOPIC, "--rounds", str(rounds), "--thread", "s",
                                  "--checkpoints", str(db), "--out", str(work / f"size-{rounds}")),
                         env=_env(work / "home-size"), capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        checkpoints = conn.execute("SELECT count(*), sum(length(checkpoint)) FROM checkpoints").fetchone()
        writes = conn.execute("SELECT count(*), sum(length(value)) FROM writes").fetchone()
    return {"rounds": rounds, "file_bytes": db.stat().st_size, "checkpoints": checkpoints[0],
            "checkpoint_bytes": checkpoints[1] or 0, "writes": writes[0], "write_bytes": writes[1] or 0,
            "seconds": round(time.monotonic() - start, 2)}


def trial(index: int, work: Path, *, rounds: int, delay: float, duration: float, rng: random.Random) -> dict[str, Any]:
    """One kill-and-resume trial; see the module docs."""
    sig = SIGNALS[index % len(SIGNALS)]
    thread, db, home = f"t{index}", work / "checkpoints.db", work / "home"
    out_dir = work / f"out-{index}"
    proc = subprocess.Popen(_command(work, delay, "brainstorm", TOPIC, "--rounds", str(rounds), "--thread", thread,
                                     "--checkpoints", str(db), "--out", str(out_dir)),
                            env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    result: dict[str, Any] = {"trial": index, "signal": sig.name}
    try:
        deadline = time.monotonic() + 120
        while not _has_checkpoint(db, thread):
            if proc.poll() is not None or time.monotonic() > deadline:
                result["error"] = "the session never saved a checkpoint: " + (proc.stderr.read() if proc.stderr else "")
                return result
            time.sleep(0.02)
        wait = rng.uniform(0.0, duration * 0.9)
        time.sleep(wait)
        result["killed_after_s"] = round(wait, 3)
        result["finished_before_kill"] = proc.poll() is not None
        if not result["finished_before_kill"]:
            proc.send_signal(sig)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    result["exit_code"] = proc.returncode
    resumed = subprocess.run(_command(work, 0.0, "brainstorm", "--resume", "--thread", thread,
                                      "--checkpoints", str(db), "--out", str(out_dir)),
                             env=_env(home), capture_output=True, text=True, timeout=600)
    result["resume_exit_code"] = resumed.returncode
    if resumed.returncode != 0:
        result["error"] = resumed.stderr.strip()[-500:]
        return result
    data = json.loads((out_dir / "transcript.json").read_text())
    turns = [(t["speaker"], t["round"]) for t in data["transcript"] if t["round"]]
    expected = [(s, r) for r in range(1, rounds + 1) for s in SPEAKERS]
    result["turns"] = len(turns)
    result["ok"] = turns == expected and len(data["prompts"]) == len(expected) and bool(data["summary"])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=12, help="rounds of each killed session")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds each model call takes")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--no-sizes", action="store_true", help="skip the 3- and 30-round size runs")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed if args.seed is not None else time.time_ns())
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mnemos-brainstorm-resume-"))
    work.mkdir(parents=True, exist_ok=True)

    def emit(obj: dict[str, Any], text: str) -> None:
        print(json.dumps(obj) if args.json else text, flush=True)

    if not args.no_sizes:
        for rounds in (3, 30):
            s = size_after(rounds, work)
            emit({"size": s}, f"checkpoints after {rounds:>2} rounds: {s['file_bytes'] / 1024:8.0f} KB file "
                              f"({s['checkpoints']} checkpoints, {s['checkpoint_bytes'] / 1024:.0f} KB; "
                              f"{s['writes']} writes, {s['write_bytes'] / 1024:.0f} KB)")
    # how long a session of this length runs, to spread the kills over it
    calibrate = subprocess.run(_command(work, args.delay, "brainstorm", TOPIC, "--rounds", str(args.rounds),
                                        "--thread", "calibrate", "--checkpoints", str(work / "calibrate.db"),
                                        "--out", str(work / "calibrate")),
                               env=_env(work / "home-calibrate"), capture_output=True, text=True, timeout=900)
    if calibrate.returncode != 0:
        print(calibrate.stderr[-2000:], file=sys.stderr)
        return 1
    duration = args.rounds * len(SPEAKERS) * (args.delay + 0.02)
    passed = 0
    for index in range(args.trials):
        r = trial(index, work, rounds=args.rounds, delay=args.delay, duration=duration, rng=rng)
        passed += bool(r.get("ok"))
        emit(r, f"trial {index + 1:>2} {r['signal']:<7} after {r.get('killed_after_s', '-')}s: "
                + ("ok" if r.get("ok") else f"FAILED {r.get('error') or r}"))
    emit({"summary": {"passed": passed, "trials": args.trials}},
         f"{passed}/{args.trials} sessions finished with every round after kill and resume")
    return 0 if passed == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())

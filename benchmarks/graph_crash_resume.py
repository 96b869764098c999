"""Kill a graph run with SIGKILL at a random step; resume it in a new process.

Each trial:

1. a child process runs a multi-step graph (a sequence with a parallel stage in
   the middle) on a checkpointer; every node appends ``start <node>`` to a
   progress file, works for a moment, then returns its result;
2. the parent picks a random node, waits until the child has started it, waits
   a random fraction of the node's work time, and kills the child with SIGKILL;
3. a new process resumes the same thread with ``graph.invoke(None, config)`` (or, when the
   kill came before the first checkpoint was written, runs the input again).

A trial passes when the final state holds every node's result exactly once, in
order, equal to an uninterrupted run's; and nothing that was in the last
checkpoint at the moment of the kill ran again.

    python benchmarks/graph_crash_resume.py --trials 20               # SQLite and PostgreSQL
    python benchmarks/graph_crash_resume.py --trials 3 --backend sqlite --json
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, TypedDict

from mnemos.graphs import GraphBuilder, open_checkpointer

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
SEQUENCE_BEFORE = ["fetch", "parse", "plan"]
PARALLEL = ["branch_a", "branch_b", "branch_c"]
SEQUENCE_AFTER = ["merge", "draft", "check", "publish"]
ALL_NODES = SEQUENCE_BEFORE + PARALLEL + SEQUENCE_AFTER


class CrashState(TypedDict):
    done: Annotated[list[str], operator.add]
    total: Annotated[int, operator.add]


def build(progress: Path | None, work_seconds: float) -> GraphBuilder:
    """The trial graph: three steps, a three-way fan-out, four steps."""

    def make(index: int, name: str) -> Any:
        def node(state: CrashState) -> dict[str, Any]:
            if progress is not None:
                with progress.open("a") as fh:
                    fh.write(f"start {name}\n")
            time.sleep(work_seconds)
            return {"done": [name], "total": (index + 1) ** 2}

        node.__name__ = name
        return node

    nodes = {name: make(i, name) for i, name in enumerate(ALL_NODES)}
    b = GraphBuilder(CrashState, name="crash_trial")
    b.sequence(*(nodes[n] for n in SEQUENCE_BEFORE))
    b.parallel(SEQUENCE_BEFORE[-1], [nodes[n] for n in PARALLEL], join=nodes[SEQUENCE_AFTER[0]])
    b.sequence(*(nodes[n] for n in SEQUENCE_AFTER))
    return b


def expected_final() -> dict[str, Any]:
    """The state of an uninterrupted run (in memory, no waiting)."""
    out = build(None, 0.0).compile().invoke({"done": [], "total": 0})
    return {"done": out["done"], "total": out["total"]}


def _same_as_reference(final: dict[str, Any], reference: dict[str, Any]) -> bool:
    """Equal up to the order of the parallel branches, which LangGraph may apply in any order."""
    if final.get("total") != reference["total"]:
        return False
    done, ref = final.get("done", []), reference["done"]
    head, tail = len(SEQUENCE_BEFORE), len(SEQUENCE_BEFORE) + len(PARALLEL)
    return (
        len(done) == len(ref)
        and done[:head] == ref[:head]
        and sorted(done[head:tail]) == sorted(ref[head:tail])
        and done[tail:] == ref[tail:]
    )


# --- the child -----------------------------------------------------------------------


def child(mode: str, url: str, thread: str, progress: Path, work_seconds: float) -> None:
    config = {"configurable": {"thread_id": thread}}
    with open_checkpointer(url) as saver:
        graph = build(progress, work_seconds).compile(checkpointer=saver)
        start = {"done": [], "total": 0}
        if mode == "resume" and graph.get_state(config).created_at is None:
            # LangGraph's default durability ("async") writes a step's checkpoint while the next
            # step runs: a kill in the first node can leave no checkpoint, so nothing to resume.
            out = graph.invoke(start, config)
        else:
            out = graph.invoke(start if mode == "run" else None, config)
    print(json.dumps({"done": out.get("done", []), "total": out.get("total", 0)}))


# --- the parent ----------------------------------------------------------------------


def _child_cmd(mode: str, url: str, thread: str, progress: Path, work: float) -> list[str]:
    return [sys.executable, __file__, "--child", mode, "--url", url, "--thread", thread,
            "--progress", str(progress), "--work-seconds", str(work)]


def _starts(progress: Path) -> Counter[str]:
    if not progress.exists():
        return Counter()
    return Counter(line.split(" ", 1)[1] for line in progress.read_text().splitlines()
                   if line.startswith("start "))


def _checkpointed(url: str, thread: str) -> list[str]:
    with open_checkpointer(url) as saver:
        snap = build(None, 0.0).compile(checkpointer=saver).get_state(
            {"configurable": {"thread_id": thread}}
        )
        return list(snap.values.get("done", []))


def trial(url: str, index: int, rng: random.Random, work: float, workdir: Path,
          reference: dict[str, Any]) -> dict[str, Any]:
    thread = f"crash-{index}-{uuid.uuid4().hex[:8]}"
    progress = workdir / f"{thread}.log"
    target = rng.choice(ALL_NODES)
    delay = rng.uniform(0.0, work * 0.9)
    proc = subprocess.Popen(_child_cmd("run", url, thread, progress, work),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while _starts(progress)[target] == 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            _, err = proc.communicate()
            return {"trial": index, "ok": False, "error": f"child ended before {target}: {err[-500:]}"}
        time.sleep(0.002)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    starts_at_kill = _starts(progress)
    saved = _checkpointed(url, thread)

    began = time.perf_counter()
    resumed = subprocess.run(_child_cmd("resume", url, thread, progress, work),
                             capture_output=True, text=True, timeout=300)
    resume_seconds = time.perf_counter() - began
    if resumed.returncode != 0:
        return {"trial": index, "ok": False, "error": resumed.stderr[-800:]}
    final = json.loads(resumed.stdout.strip().splitlines()[-1])
    starts = _starts(progress)

    exactly_once = sorted(final["done"]) == sorted(ALL_NODES)
    as_reference = _same_as_reference(final, reference)
    no_redo = all(starts[n] == 1 for n in saved)
    at_most_twice = all(1 <= starts[n] <= 2 for n in ALL_NODES)
    return {
        "trial": index,
        "target_node": target,
        "kill_delay_ms": round(delay * 1000, 1),
        "started_before_kill": sum(starts_at_kill.values()),
        "checkpointed_at_kill": saved,
        "in_flight_at_kill": sorted(n for n in starts_at_kill if n not in saved),
        "rerun": sorted(n for n in ALL_NODES if starts[n] > 1),
        "resume_seconds": round(resume_seconds, 2),
        "exactly_once": exactly_once,
        "same_as_uninterrupted": as_reference,
        "no_checkpointed_step_rerun": no_redo,
        "ok": exactly_once and as_reference and no_redo and at_most_twice,
    }


def _postgres_schema() -> tuple[str, Any]:
    import psycopg

    schema = f"mnemos_crash_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(PG_URL, autocommit=True)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    return f"{PG_URL}?options=-csearch_path%3D{schema}", (admin, schema)


def run_backend(backend: str, trials: int, work: float, seed: int, as_json: bool) -> dict[str, Any]:
    rng = random.Random(seed)
    reference = expected_final()
    with tempfile.TemporaryDirectory(prefix="mnemos-crash-") as tmp:
        workdir = Path(tmp)
        cleanup = None
        if backend == "sqlite":
            url = f"sqlite:///{workdir / 'checkpoints.db'}"
        else:
            url, cleanup = _postgres_schema()
        results = []
        try:
            for i in range(1, trials + 1):
                result = trial(url, i, rng, work, workdir, reference)
                result["backend"] = backend
                results.append(result)
                if as_json:
                    print(json.dumps(result), flush=True)
                else:
                    status = "ok  " if result["ok"] else "FAIL"
                    print(f"  [{backend}] trial {i:2d} {status} killed during {result.get('in_flight_at_kill', '?')} "
                          f"checkpointed {len(result.get('checkpointed_at_kill', [])):2d}/{len(ALL_NODES)} "
                          f"re-ran {result.get('rerun', [])} resume {result.get('resume_seconds', '?')}s"
                          + (f"  {result['error']}" if "error" in result else ""), flush=True)
        finally:
            if cleanup is not None:
                admin, schema = cleanup
                admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
                admin.close()
    passed = sum(r["ok"] for r in results)
    return {"backend": backend, "trials": trials, "passed": passed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--work-seconds", type=float, default=0.05, help="time each node works")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="one JSON line per trial and a summary")
    parser.add_argument("--child", choices=["run", "resume"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--thread", help=argparse.SUPPRESS)
    parser.add_argument("--progress", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.thread, Path(args.progress), args.work_seconds)
        return
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if not args.json:
        print(f"crash/resume: {args.trials} trials per backend, {len(ALL_NODES)} nodes, "
              f"{args.work_seconds * 1000:.0f} ms per node, seed {seed}")
    summaries = [run_backend(b, args.trials, args.work_seconds, seed, args.json) for b in backends]
    for s in summaries:
        if args.json:
            print(json.dumps({"summary": s}))
        else:
            print(f"{s['backend']}: {s['passed']}/{s['trials']} trials resumed correctly")
    sys.exit(0 if all(s["passed"] == s["trials"] for s in summaries) else 1)


if __name__ == "__main__":
    main()

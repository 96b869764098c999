"""SIGKILL a writer in the middle of a write loop, again and again; count lost writes.

Each trial starts a child process that adds memories to the native store one
at a time (``--writes`` single adds), printing each id after ``add`` returns.
The parent kills it with SIGKILL at a random moment, reopens the store, checks
that every write acknowledged so far (in this trial and all earlier ones) is
there with the right content, and runs ``PRAGMA integrity_check``. All trials
share one store file, so each one also starts by recovering from the last crash.

    python benchmarks/crash_sigkill.py [--trials 20] [--writes 10000] [--store-dir DIR]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from mnemos.memory_adapters.conformance import (
    ProcessOpener,
    WriterResult,
    run_sigkill_trial,
    sqlite_integrity_check,
    verify_acknowledged,
)
from mnemos.memory_adapters.native import NativeMemoryAdapter

NAMESPACE = ("bench", "crash")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--writes", type=int, default=10_000, help="writes per trial's loop")
    parser.add_argument("--store-dir", type=Path, help="where to put the store (default: a temp dir)")
    parser.add_argument("--embedder", default="hashing")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.writes < 2:
        parser.error("need at least 1 trial and 2 writes")

    with tempfile.TemporaryDirectory(prefix="mnemos-crash-") as tmp:
        store_dir = args.store_dir or Path(tmp)
        store_dir.mkdir(parents=True, exist_ok=True)
        path = store_dir / "crash.db"
        if path.exists():
            parser.error(f"{path} exists; give an empty --store-dir")
        seed = args.seed if args.seed is not None else time.time_ns() % 2**32
        rng = random.Random(seed)
        opener = ProcessOpener(
            target="mnemos.memory_adapters.native:NativeMemoryAdapter",
            options={"path": str(path), "embedder": args.embedder},
        )
        print(f"store {path.name}, {args.trials} trials x up to {args.writes} writes, seed {seed}")
        print(f"{'trial':>5} {'kill@':>6} {'acked':>6} {'killed':>6} {'stored':>7} {'lost':>5} "
              f"{'integrity':>9} {'writes/s':>9}")
        history: list[WriterResult] = []
        lost_total = integrity_ok = killed = 0
        started = time.perf_counter()
        for trial in range(1, args.trials + 1):
            t0 = time.perf_counter()
            result = run_sigkill_trial(
                opener, writes=args.writes, namespace=NAMESPACE, label=f"trial{trial}", rng=rng
            )
            elapsed = time.perf_counter() - t0
            history.append(result.writer)
            killed += result.killed
            with NativeMemoryAdapter(path, embedder=args.embedder) as store:
                problems = verify_acknowledged(store, history)
                stored = store.count(NAMESPACE)
            verdict = sqlite_integrity_check(path)
            integrity_ok += verdict == "ok"
            lost_total += len(problems)
            acked = len(result.writer.acknowledged)
            print(f"{trial:>5} {result.planned_kill_after:>6} {acked:>6} "
                  f"{'yes' if result.killed else 'no':>6} {stored:>7} {len(problems):>5} "
                  f"{verdict if len(verdict) < 10 else 'FAILED':>9} {acked / elapsed:>9.0f}")
            for problem in problems[:5]:
                print(f"      {problem}")
            if verdict != "ok":
                print(f"      integrity_check: {verdict}")
        total_acked = sum(len(r.acknowledged) for r in history)
        print()
        print(f"trials:                   {args.trials} (killed mid-loop: {killed})")
        print(f"acknowledged writes:      {total_acked}")
        print(f"lost acknowledged writes: {lost_total}")
        print(f"integrity_check ok:       {integrity_ok}/{args.trials}")
        print(f"wall time:                {time.perf_counter() - started:.1f} s")
        return 0 if lost_total == 0 and integrity_ok == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())

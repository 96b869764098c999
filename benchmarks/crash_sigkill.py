"""SIGKILL a writer in the middle of a write loop, again and again; count lost writes.

Each trial starts a child process that adds memories to the native store one
at a time (``--writes`` single adds), printing each id after ``add`` returns.
The parent kills it with SIGKILL at a random moment, reopens the store, checks
that every write acknowledged so far (in this trial and all earlier ones) is
there with the right content, and runs ``PRAGMA integrity_check``. All trials
share one store file, so each one also starts by recovering from the last crash.

Each check also finds the trial's last acknowledged writes by vector search
(the vector cache, which a reopened store maps from its vector file once the
store is large enough and adds what was committed after it): a write that is
stored but missing from search counts as a search miss.

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
    write_content,
)
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

NAMESPACE = ("bench", "crash")
VECTOR = RankingConfig(mode="vector", neighbour_weight=0.0)


def search_misses(store: NativeMemoryAdapter, result: WriterResult, last: int = 5) -> list[str]:
    """The last ``last`` acknowledged writes of a trial that vector search does not find."""
    misses = []
    for index, memory_id in result.acknowledged[-last:]:
        hits = store.search(write_content(result.label, index), namespace=NAMESPACE, limit=10, ranking=VECTOR)
        if memory_id not in {h.record.id for h in hits}:
            misses.append(f"{result.label} write {index} ({memory_id}) is not found by vector search")
    return misses


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
              f"{'missed':>6} {'integrity':>9} {'writes/s':>9}")
        history: list[WriterResult] = []
        lost_total = integrity_ok = killed = missed_total = 0
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
                missed = search_misses(store, result.writer)
            missed_total += len(missed)
            verdict = sqlite_integrity_check(path)
            integrity_ok += verdict == "ok"
            lost_total += len(problems)
            acked = len(result.writer.acknowledged)
            print(f"{trial:>5} {result.planned_kill_after:>6} {acked:>6} "
                  f"{'yes' if result.killed else 'no':>6} {stored:>7} {len(problems):>5} {len(missed):>6} "
                  f"{verdict if len(verdict) < 10 else 'FAILED':>9} {acked / elapsed:>9.0f}")
            for problem in [*problems, *missed][:5]:
                print(f"      {problem}")
            if verdict != "ok":
                print(f"      integrity_check: {verdict}")
        total_acked = sum(len(r.acknowledged) for r in history)
        print()
        print(f"trials:                   {args.trials} (killed mid-loop: {killed})")
        print(f"acknowledged writes:      {total_acked}")
        print(f"lost acknowledged writes: {lost_total}")
        print(f"missed by vector search:  {missed_total}")
        print(f"vector file:              {'present' if path.with_name(path.name + '-vectors').exists() else 'none'}")
        print(f"integrity_check ok:       {integrity_ok}/{args.trials}")
        print(f"wall time:                {time.perf_counter() - started:.1f} s")
        return 0 if lost_total == 0 and missed_total == 0 and integrity_ok == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())

"""Fuzz the public memory API of the native adapter and print what happened.

    python benchmarks/fuzz_memory.py [--calls 10000] [--seed 0]

Every call gets random arguments, sound or bad (see
``mnemos.memory_adapters.conformance.run_fuzz``). The run prints the calls that
succeeded, ended in a typed mnemos error, or raised anything else (with one
traceback per kind), the memories changed outside the fuzzed scope, the reads that
failed afterwards, and ``PRAGMA integrity_check``. It exits 1 unless all is well.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from mnemos.memory_adapters.base import BaseMemoryAdapter
from mnemos.memory_adapters.conformance import run_fuzz, sqlite_integrity_check
from mnemos.memory_adapters.native import NativeMemoryAdapter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "memory.db"
        opened: list[BaseMemoryAdapter] = []

        def open_adapter(scope: tuple[str, ...]) -> BaseMemoryAdapter:
            opened.append(NativeMemoryAdapter(path, scope=scope, embedder="hashing"))
            return opened[-1]

        start = time.perf_counter()
        report = run_fuzz(open_adapter, calls=args.calls, seed=args.seed)
        elapsed = time.perf_counter() - start
        for adapter in opened:
            adapter.close()
        integrity = sqlite_integrity_check(path)
    print(report.summary())
    print(f"typed errors by call: {dict(report.typed_kinds.most_common(12))}")
    for failure in report.poisoned:
        print(f"failed read after the run: {failure}")
    for kind, trace in report.examples.items():
        print(f"--- {kind}\n{trace}")
    print(f"integrity_check: {integrity}")
    print(f"{report.calls} calls in {elapsed:.1f} s (seed {args.seed})")
    healthy = not report.untyped and not report.changed_outside and not report.poisoned
    return 0 if healthy and integrity == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())

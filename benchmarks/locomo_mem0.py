"""LoCoMo evidence retrieval through the mem0 adapter, beside the native adapter.

The same protocol as ``locomo_retrieval.py`` (whose loader and scoring this
reuses): every dialog turn is one raw memory (mem0 ``infer=False``, embedded
Qdrant on disk in a temporary directory), every question with evidence is a
search in its conversation's namespace, and a hit is a retrieved turn whose
``dia_id`` is in the evidence. The native adapter runs on the same data with
the same embedder for comparison; query embeddings are computed in advance
and excluded from search latency, as in ``locomo_retrieval.py``.

    python benchmarks/locomo_mem0.py data/locomo/*.json
    python benchmarks/locomo_mem0.py data/locomo/*.json --embedder st:all-MiniLM-L6-v2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import PrecomputedQueries, latency_summary, parse_ints, peak_rss_mb
from locomo_retrieval import ADVERSARIAL, Conversation, Scores, load_conversation, turn_memories
from rich.console import Console
from rich.table import Table

from mnemos.memory_adapters.base import BaseMemoryAdapter
from mnemos.memory_adapters.embedders import get_embedder


def open_adapter(name: str, directory: Path, embedder: PrecomputedQueries) -> BaseMemoryAdapter:
    if name == "mem0":
        from mnemos.memory_adapters.mem0 import Mem0MemoryAdapter

        return Mem0MemoryAdapter(directory / "mem0", embedder=embedder)
    if name == "native":
        from mnemos.memory_adapters.native import NativeMemoryAdapter

        return NativeMemoryAdapter(directory / "native.db", embedder=embedder)
    raise SystemExit(f"unknown adapter {name!r}; use mem0 or native")


def ingest(adapter: BaseMemoryAdapter, conv: Conversation) -> None:
    adapter.add_many(turn_memories(conv, ("locomo", conv.id)), dedup=False)


def run(
    names: Sequence[str],
    conversations: Sequence[Conversation],
    embedder_spec: str,
    ks: Sequence[int],
    include_adversarial: bool,
) -> dict[str, Any]:
    embedder = PrecomputedQueries(get_embedder(embedder_spec))
    for conv in conversations:
        embedder.precompute(q.text for q in conv.questions)
    depth = max(ks)
    systems: dict[str, Any] = {}
    for name in names:
        scores = Scores(ks)
        ingest_seconds = 0.0
        memories = 0
        with tempfile.TemporaryDirectory(prefix=f"mnemos-locomo-{name}-") as tmp:
            adapter = open_adapter(name, Path(tmp), embedder)
            try:
                for conv in conversations:
                    start = time.perf_counter()
                    ingest(adapter, conv)
                    ingest_seconds += time.perf_counter() - start
                    memories += len(conv.turns)
                    for question in conv.questions:
                        start = time.perf_counter()
                        hits = adapter.search(question.text, namespace=("locomo", conv.id), limit=depth)
                        scores.seconds.append(time.perf_counter() - start)
                        scores.add(question, [h.record.metadata["dia_id"] for h in hits])
            finally:
                adapter.close()

        def overall(category: int) -> bool:
            return include_adversarial or category != ADVERSARIAL

        systems[name] = {
            "overall": scores.mean(overall),
            "by_category": scores.by_category(),
            "search_latency": latency_summary(scores.seconds),
            "ingest_memories_per_s": memories / ingest_seconds if ingest_seconds else 0.0,
        }
    return {
        "embedder": embedder.name,
        "ks": list(ks),
        "adversarial_in_overall": include_adversarial,
        "misses": embedder.misses,
        "peak_rss_mb": peak_rss_mb(),
        "systems": systems,
    }


def print_report(report: dict[str, Any], console: Console) -> None:
    ks = report["ks"]
    systems = report["systems"]
    n = next(iter(systems.values()))["overall"]["n"]
    table = Table(title=f"LoCoMo evidence retrieval by adapter — {report['embedder']} — {n} questions")
    table.add_column("adapter")
    for k in ks:
        table.add_column(f"R@{k}", justify="right")
    table.add_column("MRR", justify="right")
    table.add_column("search p50 ms", justify="right")
    table.add_column("p95 ms", justify="right")
    table.add_column("ingest /s", justify="right")
    for name, system in systems.items():
        o, lat = system["overall"], system["search_latency"]
        table.add_row(
            name,
            *[f"{o[f'recall@{k}']:.3f}" for k in ks],
            f"{o['mrr']:.3f}",
            f"{lat['p50_ms']:.2f}",
            f"{lat['p95_ms']:.2f}",
            f"{system['ingest_memories_per_s']:.0f}",
        )
    console.print(table)
    k_mid = 10 if 10 in ks else ks[len(ks) // 2]
    per = Table(title=f"recall@{k_mid} by category")
    per.add_column("adapter")
    categories = list(next(iter(systems.values()))["by_category"])
    for c in categories:
        per.add_column(c, justify="right")
    for name, system in systems.items():
        per.add_row(name, *[f"{system['by_category'][c][f'recall@{k_mid}']:.3f}" for c in categories])
    console.print(per)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="LoCoMo-format JSON files")
    parser.add_argument("--embedder", default="hashing", help="embedder spec (default: hashing)")
    parser.add_argument("--adapters", default="mem0,native", help="comma-separated (default: mem0,native)")
    parser.add_argument("--k", default="5,10,20", help="cut-offs (default: 5,10,20)")
    parser.add_argument("--include-adversarial", action="store_true")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the numbers as JSON")
    args = parser.parse_args(argv)
    missing = [p for p in args.paths if not p.is_file()]
    if missing:
        parser.error(f"no such file: {missing[0]}")
    console = Console(width=None if sys.stdout.isatty() else 160)
    conversations = [load_conversation(p) for p in args.paths]
    names = [n.strip() for n in args.adapters.split(",") if n.strip()]
    with console.status("ingesting and searching..."):
        report = run(names, conversations, args.embedder, parse_ints(args.k), args.include_adversarial)
    report["files"] = [p.name for p in args.paths]
    print_report(report, console)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

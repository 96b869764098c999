"""Consolidation on LoCoMo conversations with planted near-duplicates: merges, facts kept, recall.

Every turn of each conversation becomes an episodic memory (as in locomo_retrieval.py).
Then a share of the turns is said again, a little differently (lower case, other
punctuation): these planted copies carry no evidence id of their own. Evidence recall
is measured on the clean store, with the copies, and after ``consolidate``; every
memory stored is then checked to be still reachable with its content unchanged.

    python benchmarks/consolidation.py data/locomo/*.json [--plant 0.1] [--embedder hashing] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mnemos.evaluation import EvalConfig, EvalSet, locomo_eval_set, run_eval
from mnemos.memory_adapters.consolidation import consolidate
from mnemos.memory_adapters.embedders import get_embedder
from mnemos.memory_adapters.native import NativeMemoryAdapter


def _variant(text: str, rng: random.Random) -> str:
    body = text.rstrip(".!?")
    return rng.choice([body.lower(), body + "!", body + ".", body.replace(",", "")]) or text


def measure(paths: Sequence[Path], *, plant: float, embedder: str, ks: list[int], seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    sets = [locomo_eval_set(p) for p in paths]
    totals: dict[str, list[tuple[int, dict[str, float]]]] = {"clean": [], "planted": [], "consolidated": []}
    planted = merged = examined = lost = stored = 0
    seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="mnemos-consolidate-") as tmp:
        store = NativeMemoryAdapter(Path(tmp) / "m.db", embedder=get_embedder(embedder))
        try:
            for eval_set in sets:
                ns = tuple(eval_set.memories[0]["namespace"])
                store.add_many(eval_set.memories, dedup=False)
                questions = EvalSet(id=eval_set.id, questions=eval_set.questions)

                def recall(label: str, ns: tuple[str, ...] = ns, questions: EvalSet = questions) -> None:
                    report = run_eval([questions], EvalConfig(embedder=embedder), ks=ks, store=store,
                                      namespace=ns, evidence_key="dia_id")
                    totals[label].append((int(report["overall"]["n"]), report["overall"]))

                recall("clean")
                copies = [
                    {**item, "content": _variant(item["content"], rng),
                     "metadata": {**item["metadata"], "dia_id": item["metadata"]["dia_id"] + "#copy"}}
                    for item in eval_set.memories if rng.random() < plant
                ]
                store.add_many(copies, dedup=False)
                planted += len(copies)
                recall("planted")
                before = {r.id: r.content for r in store.list(namespace=ns, limit=None)}
                start = time.perf_counter()
                report = consolidate(store, ns, decay_after_days=None)
                seconds += time.perf_counter() - start
                merged += report.merged
                examined += report.examined
                stored += len(before)
                lost += sum(1 for i, text in before.items() if store.get(i).content != text)
                recall("consolidated")
        finally:
            store.close()

    def mean(label: str) -> dict[str, float]:
        rows = totals[label]
        n = sum(count for count, _ in rows)
        return {key: sum(count * row[key] for count, row in rows) / n
                for key in rows[0][1] if key != "n"} | {"n": n}

    return {
        "embedder": embedder,
        "conversations": [s.id for s in sets],
        "memories": stored,
        "planted_copies": planted,
        "examined": examined,
        "merged": merged,
        "facts_lost": lost,
        "consolidate_seconds": seconds,
        "recall": {label: mean(label) for label in totals},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--plant", type=float, default=0.1, help="share of turns said twice (default 0.1)")
    parser.add_argument("--embedder", default="hashing")
    parser.add_argument("--k", default="5,10")
    parser.add_argument("--json", type=Path, metavar="OUT")
    args = parser.parse_args(argv)
    ks = sorted({int(x) for x in args.k.split(",")})
    report = measure(args.paths, plant=args.plant, embedder=args.embedder, ks=ks)
    console = Console()
    console.print(
        f"{report['memories']} memories ({report['planted_copies']} planted copies) in "
        f"{len(report['conversations'])} conversations; consolidate merged {report['merged']} "
        f"in {report['consolidate_seconds']:.1f} s; facts lost: {report['facts_lost']}"
    )
    table = Table(title=f"evidence recall ({report['recall']['clean']['n']} questions, {report['embedder']})")
    table.add_column("store")
    for k in ks:
        table.add_column(f"R@{k}", justify="right")
    table.add_column("MRR", justify="right")
    for label, row in report["recall"].items():
        table.add_row(label, *[f"{row[f'recall@{k}']:.3f}" for k in ks], f"{row['mrr']:.3f}")
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

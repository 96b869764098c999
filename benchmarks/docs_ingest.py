"""Ingest this repository's README and docs/ as semantic memory, and measure retrieval on them.

A copy of README.md and docs/ is ingested into a fresh native store (the repository
itself is never changed); then the twenty questions of data/docs_questions.jsonl,
each naming the section that answers it, are searched (recall@k by section). One
file of the copy is then edited and everything is ingested again: only that file's
chunks may be replaced, and recall is measured again.

    python benchmarks/docs_ingest.py [--embedder hashing|st:all-MiniLM-L6-v2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mnemos.evaluation import EvalConfig, load_eval_set, run_eval
from mnemos.memory_adapters.documents import ingest_paths
from mnemos.memory_adapters.embedders import get_embedder
from mnemos.memory_adapters.native import NativeMemoryAdapter

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = Path(__file__).resolve().parent / "data" / "docs_questions.jsonl"
CHANGED = "docs/graphs.md"
EDIT = (
    "## Checkpoints\n\nCheckpoints can be pruned with a retention of thirty days, "
    "and each thread keeps its last checkpoint even past that age.\n\n"
)


def measure(embedder: str, ks: list[int]) -> dict[str, Any]:
    questions = load_eval_set(QUESTIONS)
    ns = ("documents",)
    with tempfile.TemporaryDirectory(prefix="mnemos-docs-") as tmp:
        work = Path(tmp) / "repo"
        (work / "docs").mkdir(parents=True)
        shutil.copy(ROOT / "README.md", work / "README.md")
        for page in (ROOT / "docs").glob("*.md"):
            shutil.copy(page, work / "docs" / page.name)
        old_cwd = Path.cwd()
        os.chdir(work)
        store = NativeMemoryAdapter(Path(tmp) / "docs.db", embedder=get_embedder(embedder))
        try:
            first = ingest_paths(store, ["README.md", "docs"], namespace=ns)

            def recall() -> dict[str, Any]:
                return run_eval([questions], EvalConfig(embedder=embedder), ks=ks, store=store,
                                namespace=ns, evidence_key="section")

            before = recall()
            ids_before = {r.id: r.metadata["source"] for r in store.list(namespace=ns, limit=None)}
            text = (work / CHANGED).read_text(encoding="utf-8")
            (work / CHANGED).write_text(text.replace("## Checkpoints\n\n", EDIT, 1), encoding="utf-8")
            start = time.perf_counter()
            second = ingest_paths(store, ["README.md", "docs"], namespace=ns)
            reingest_seconds = time.perf_counter() - start
            ids_after = {r.id: r.metadata["source"] for r in store.list(namespace=ns, limit=None)}
            after = recall()
        finally:
            store.close()
            os.chdir(old_cwd)
    kept = [i for i, s in ids_before.items() if s != CHANGED]
    return {
        "embedder": embedder,
        "files": len(first.files),
        "chunks": first.chunks_added,
        "ingest_seconds": first.seconds,
        "reingest": {
            "changed_file": CHANGED,
            "replaced": [f.source for f in second.files if f.status == "replaced"],
            "skipped": second.count("skipped"),
            "chunks_deleted": second.chunks_deleted,
            "chunks_added": second.chunks_added,
            "other_chunks_kept": sum(1 for i in kept if i in ids_after),
            "other_chunks": len(kept),
            "seconds": reingest_seconds,
        },
        "before": before["overall"],
        "after": after["overall"],
        "search_latency": before["search_latency"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", default="hashing")
    parser.add_argument("--k", default="1,3,5")
    parser.add_argument("--json", type=Path, metavar="OUT")
    args = parser.parse_args(argv)
    ks = sorted({int(x) for x in args.k.split(",")})
    report = measure(args.embedder, ks)
    console = Console()
    r = report["reingest"]
    console.print(
        f"{report['files']} files → {report['chunks']} chunks in {report['ingest_seconds']:.2f} s "
        f"({report['embedder']})\nre-ingest after editing {r['changed_file']}: replaced "
        f"{r['replaced']}, {r['skipped']} unchanged files skipped, {r['chunks_deleted']} chunks "
        f"deleted, {r['chunks_added']} added, {r['other_chunks_kept']}/{r['other_chunks']} other "
        f"chunks kept ({r['seconds']:.2f} s)"
    )
    table = Table(title=f"{report['before']['n']} questions on the docs (evidence: the section)")
    table.add_column("metric")
    table.add_column("before", justify="right")
    table.add_column("after re-ingest", justify="right")
    for key in [*(f"recall@{k}" for k in ks), "mrr"]:
        table.add_row(key, f"{report['before'][key]:.3f}", f"{report['after'][key]:.3f}")
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The docs evaluation set: this repository's README and docs/ ingested, twenty questions."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_docs_ingest_recall_and_reingest_of_one_changed_file() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import docs_ingest
    finally:
        sys.path.remove(str(BENCHMARKS))
    report = docs_ingest.measure("hashing", [5])
    assert report["before"]["n"] == 20
    assert report["chunks"] > 50
    reingest = report["reingest"]
    assert reingest["replaced"] == [docs_ingest.CHANGED]
    assert reingest["other_chunks_kept"] == reingest["other_chunks"] > 0
    assert reingest["chunks_deleted"] > 0 and reingest["skipped"] == report["files"] - 1
    # the docs answer their own questions (0.80 leaves room for edits to the docs)
    assert report["before"]["recall@5"] >= 0.8
    assert report["after"]["recall@5"] >= report["before"]["recall@5"] - 0.05

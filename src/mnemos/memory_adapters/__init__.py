"""Memory adapters: the contract, the native SQLite adapter, and the others."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from mnemos.memory_adapters.registry import open_memory, register_adapter

if TYPE_CHECKING:
    from mnemos.memory_adapters._ranking import RankingConfig
    from mnemos.memory_adapters.native import NativeMemoryAdapter
    from mnemos.memory_adapters.store import MnemosStore, open_store

__all__ = [
    "BaseMemoryAdapter",
    "Capability",
    "MemoryKind",
    "MemoryRecord",
    "MnemosStore",
    "Namespace",
    "NativeMemoryAdapter",
    "NewMemory",
    "Provenance",
    "RankingConfig",
    "ScoreReason",
    "ScoredMemory",
    "SearchQuery",
    "format_namespace",
    "open_memory",
    "open_store",
    "parse_namespace",
    "register_adapter",
]


def __getattr__(name: str) -> object:
    # The native adapter pulls in numpy and networkx: imported on first use.
    if name == "NativeMemoryAdapter":
        from mnemos.memory_adapters.native import NativeMemoryAdapter

        return NativeMemoryAdapter
    if name in ("MnemosStore", "open_store"):  # imports LangGraph's store base
        from mnemos.memory_adapters import store

        return getattr(store, name)
    if name == "RankingConfig":
        from mnemos.memory_adapters._ranking import RankingConfig

        return RankingConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

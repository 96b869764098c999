"""mnemos: multi-agent systems whose agents remember."""

from __future__ import annotations

from mnemos.exceptions import MnemosError, MnemosRuntimeError, UsageError
from mnemos.memory_adapters import (
    BaseMemoryAdapter,
    Capability,
    MemoryKind,
    MemoryRecord,
    Provenance,
    ScoredMemory,
)

__version__ = "0.1.0"

__all__ = [
    "BaseMemoryAdapter",
    "Capability",
    "MemoryKind",
    "MemoryRecord",
    "MnemosError",
    "MnemosRuntimeError",
    "Provenance",
    "ScoredMemory",
    "UsageError",
    "__version__",
]

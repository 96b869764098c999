"""The memory-adapter conformance suite, shipped so any adapter can run it.

A test module subclasses :class:`AdapterConformance` and says how to open the
adapter; pytest then runs every check of the memory contract against it (see
``docs/conformance.md``). The suite needs pytest; the process helpers below do
not, and are also what ``benchmarks/crash_sigkill.py`` uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mnemos.memory_adapters.conformance._fuzz import FuzzReport, run_fuzz
from mnemos.memory_adapters.conformance._process import (
    ImportKill,
    KillTrial,
    ProcessOpener,
    WriterResult,
    open_from_opener,
    run_concurrent_writers,
    run_killed_import,
    run_sigkill_trial,
    verify_acknowledged,
)
from mnemos.memory_adapters.conformance._support import (
    UNICODE_SAMPLES,
    ManualClock,
    snapshot,
    sqlite_integrity_check,
    write_content,
)

if TYPE_CHECKING:
    from mnemos.memory_adapters.conformance.suite import AdapterConformance, Stores

__all__ = [
    "UNICODE_SAMPLES",
    "AdapterConformance",
    "FuzzReport",
    "ImportKill",
    "KillTrial",
    "ManualClock",
    "ProcessOpener",
    "Stores",
    "WriterResult",
    "open_from_opener",
    "run_concurrent_writers",
    "run_fuzz",
    "run_killed_import",
    "run_sigkill_trial",
    "snapshot",
    "sqlite_integrity_check",
    "verify_acknowledged",
    "write_content",
]


def __getattr__(name: str) -> Any:
    # The test class imports pytest; writer processes and benchmarks do without it.
    if name in ("AdapterConformance", "Stores"):
        from mnemos.memory_adapters.conformance import suite

        return getattr(suite, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

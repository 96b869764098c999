"""mnemos: multi-agent systems whose agents remember.

The names most programs need, importable from ``mnemos`` directly. Agents,
graphs and tools load on first use, so ``import mnemos`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mnemos.exceptions import MnemosError, MnemosRuntimeError, UsageError
from mnemos.memory_adapters import (
    BaseMemoryAdapter,
    Capability,
    MemoryKind,
    MemoryRecord,
    Provenance,
    ScoredMemory,
)

if TYPE_CHECKING:
    from mnemos.agents import Agent, MemoryPolicy, OfflineChatModel, resolve_model
    from mnemos.agents.memgpt import MemGPTAgent
    from mnemos.graphs import GraphBuilder, sqlite_checkpointer
    from mnemos.graphs.groupchat import GroupChat
    from mnemos.memory_adapters.native import NativeMemoryAdapter
    from mnemos.memory_adapters.registry import open_memory
    from mnemos.memory_adapters.store import MnemosStore, open_store
    from mnemos.tools import mcp_tools

__version__ = "0.1.0"

_LAZY = {
    "Agent": "mnemos.agents",
    "MemoryPolicy": "mnemos.agents",
    "OfflineChatModel": "mnemos.agents",
    "resolve_model": "mnemos.agents",
    "MemGPTAgent": "mnemos.agents.memgpt",
    "GraphBuilder": "mnemos.graphs",
    "sqlite_checkpointer": "mnemos.graphs",
    "GroupChat": "mnemos.graphs.groupchat",
    "NativeMemoryAdapter": "mnemos.memory_adapters.native",
    "MnemosStore": "mnemos.memory_adapters.store",
    "open_store": "mnemos.memory_adapters.store",
    "open_memory": "mnemos.memory_adapters.registry",
    "mcp_tools": "mnemos.tools",
}

__all__ = [
    "Agent",
    "BaseMemoryAdapter",
    "Capability",
    "GraphBuilder",
    "GroupChat",
    "MemGPTAgent",
    "MemoryKind",
    "MemoryPolicy",
    "MemoryRecord",
    "MnemosError",
    "MnemosRuntimeError",
    "MnemosStore",
    "NativeMemoryAdapter",
    "OfflineChatModel",
    "Provenance",
    "ScoredMemory",
    "UsageError",
    "__version__",
    "mcp_tools",
    "open_memory",
    "open_store",
    "resolve_model",
    "sqlite_checkpointer",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mnemos' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

"""MemGPT as an agent: the loop, the virtual context, and their state.

The storage (core blocks, recall and archival memory) and the memory functions
are in the memory layer, :mod:`mnemos.memory_adapters.memgpt`; this package is
the agent that uses them, and depends on that layer, never the other way round.

- :class:`MemGPTAgent` — the MemGPT loop (memory functions, heartbeats, the
  virtual context); a LangChain ``Runnable`` and so a LangGraph node, sync and
  async, with a state that survives across processes.
- :class:`VirtualContext` — the in-context queue, the memory-pressure alert and
  eviction under a recursive summary.
"""

from __future__ import annotations

from mnemos.agents.memgpt.agent import DEFAULT_INSTRUCTIONS, STATE_RECORD, MemGPTAgent
from mnemos.agents.memgpt.context import (
    MEMORY_PRESSURE_WARNING,
    ContextEvent,
    Summarizer,
    VirtualContext,
    decode_message,
    encode_message,
    extractive_summarizer,
    model_summarizer,
)

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "MEMORY_PRESSURE_WARNING",
    "STATE_RECORD",
    "ContextEvent",
    "MemGPTAgent",
    "Summarizer",
    "VirtualContext",
    "decode_message",
    "encode_message",
    "extractive_summarizer",
    "model_summarizer",
]

"""Helpers for ranking tests over conversation turns grouped in sessions (episodes)."""

from __future__ import annotations

from typing import Any

from mnemos.memory_adapters.base import ScoredMemory


def texts(hits: list[ScoredMemory]) -> list[str]:
    """The contents of ``hits``, in rank order."""
    return [h.record.content for h in hits]


def turns(namespace: tuple[str, ...], session: int, lines: list[str], **metadata: Any) -> list[dict[str, Any]]:
    """``lines`` as the episodic turns of one session, ready for ``add_many``."""
    return [
        {"content": line, "namespace": namespace, "kind": "episodic",
         "metadata": {"session": session, "n": i, **metadata}, "provenance": {"thread": "chat"}}
        for i, line in enumerate(lines)
    ]

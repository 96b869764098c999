"""Custom stream events emitted by graph patterns (``stream_mode="custom"``)."""

from __future__ import annotations

from typing import Any

from langgraph.config import get_stream_writer

__all__ = ["emit"]


def emit(event: dict[str, Any]) -> None:
    """Send ``event`` to the run's custom stream; a no-op outside a graph run."""
    try:
        writer = get_stream_writer()
    except RuntimeError:
        return
    writer(event)

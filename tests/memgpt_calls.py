"""What a model standing in for a hosted one says to a MemGPT agent: a call of one memory function."""

from __future__ import annotations

from langchain_core.messages import AIMessage

__all__ = ["calling"]


def calling(name: str, **args: object) -> AIMessage:
    """An assistant message that calls the function ``name`` with ``args``."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{name}_{len(args)}"}])

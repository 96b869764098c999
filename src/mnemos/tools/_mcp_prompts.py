"""Prompts of the MCP server: ready-made requests built from the caller's memory.

- ``recall(subject, namespace?)``: what the caller's memory holds about a
  subject (the best memories for it and the matching knowledge-graph
  entities), with the request to say what is known and what is not;
- ``brainstorm(topic, personas?, rounds?)``: the ideas earlier brainstorms
  decided on the topic, and the request to run ``brainstorm_run`` on it;
- ``summarize_namespace(namespace)``: the memories of one namespace (a
  conversation's episodes, a project's notes) in order, to be summarised.

The memories are read when the prompt is fetched, for the calling principal
only. Unknown prompts and missing or bad arguments are JSON-RPC ``-32602``
errors (see :mod:`mnemos.tools._mcp_protocol`).
"""

from __future__ import annotations

from typing import Annotated, Any

import pydantic_core
from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.prompts.base import Message, UserMessage
from mcp.types import GetPromptResult
from pydantic import Field

from mnemos.exceptions import UsageError
from mnemos.memory_adapters._namespace import parse_namespace
from mnemos.memory_adapters.base import BaseMemoryAdapter
from mnemos.tools._mcp_common import Caller, run_tool
from mnemos.tools._mcp_resources import namespace_paths
from mnemos.tools.knowledge_graph import KnowledgeGraph

__all__ = ["PROMPTS", "add_prompts", "prompt_completions", "render_prompt"]

PROMPTS = ("recall", "brainstorm", "summarize_namespace")
_RECALL_LIMIT = 10
_SUMMARY_LIMIT = 100


def _lines(records: list[Any]) -> str:
    return "\n".join(f"- [{r.created_at:%Y-%m-%d}] {r.content}" for r in records) or "- (nothing)"


def _recall_text(adapter: BaseMemoryAdapter, subject: str, namespace: str | None) -> str:
    if not subject.strip():
        raise UsageError("subject is empty")
    ns = parse_namespace(namespace) if namespace else ()
    hits = adapter.search(subject, namespace=ns, limit=_RECALL_LIMIT)
    graph = KnowledgeGraph(adapter).search_nodes(subject)
    entities = "\n".join(
        f"- {e.name} ({e.entityType}): " + ("; ".join(e.observations) or "no observations")
        for e in graph.entities
    ) or "- (none)"
    relations = "\n".join(f"- {r.from_} {r.relationType} {r.to}" for r in graph.relations) or "- (none)"
    return (
        f"What do we know about {subject}?\n\n"
        f"Memories that match (best first):\n{_lines([h.record for h in hits])}\n\n"
        f"Knowledge-graph entities:\n{entities}\n\nRelations:\n{relations}\n\n"
        "Say what is known about the subject from these alone, note where they disagree or are old, "
        "and say what is not known. Use memory_search or open_nodes to look further."
    )


def _brainstorm_text(adapter: BaseMemoryAdapter, topic: str, personas: str, rounds: int) -> str:
    if not topic.strip():
        raise UsageError("topic is empty")
    decided = adapter.search(topic, namespace=("teams",), limit=_RECALL_LIMIT)
    return (
        f"Brainstorm this topic: {topic}\n\n"
        f"Ideas earlier brainstorms decided on related topics:\n{_lines([h.record for h in decided])}\n\n"
        f'Call brainstorm_run with topic "{topic}", personas "{personas}" and rounds {rounds}; '
        "then report the accepted ideas, the rejected ones with the critiques that sank them, and the summary."
    )


def _summary_text(adapter: BaseMemoryAdapter, namespace: str) -> str:
    ns = parse_namespace(namespace)
    records = adapter.list(namespace=ns, limit=_SUMMARY_LIMIT)
    if not records:
        raise UsageError(f"namespace {namespace!r} holds no memories")
    return (
        f"Summarise the thread of memories in {namespace} ({len(records)} shown, oldest first):\n"
        f"{_lines(list(reversed(records)))}\n\n"
        "Give the main points, the decisions taken and what is still open."
    )


def _rounds(value: str) -> int:
    try:
        rounds = int(value)
    except ValueError:
        raise UsageError(f"rounds is a whole number from 1 to 10, not {value!r}") from None
    if not 1 <= rounds <= 10:
        raise UsageError(f"rounds is a whole number from 1 to 10, not {value!r}")
    return rounds


def add_prompts(server: FastMCP, sc: Caller) -> None:
    """Register the prompts."""

    @server.prompt(title="Recall a subject")
    async def recall(
        subject: Annotated[str, Field(description="Who or what to recall, e.g. 'Atlas' or 'our database choice'.")],
        ctx: Context[Any, Any, Any],
        namespace: Annotated[str | None, Field(description="Only memories under this namespace.")] = None,
    ) -> list[Message]:
        """What your memory holds about a subject: the best memories and knowledge-graph entities."""
        text = await run_tool(_recall_text, adapter=sc.memory_for(ctx), subject=subject, namespace=namespace)
        return [UserMessage(text)]

    @server.prompt(title="Run a brainstorm")
    async def brainstorm(
        topic: Annotated[str, Field(description="What to brainstorm.")],
        ctx: Context[Any, Any, Any],
        personas: Annotated[str, Field(description="'builtin' or a built-in persona set, e.g. 'business'.")] = "builtin",
        rounds: Annotated[str, Field(description="Rounds, 1 to 10.")] = "3",
    ) -> list[Message]:
        """Brainstorm a topic with persona agents, starting from what earlier brainstorms decided."""
        text = await run_tool(_brainstorm_text, adapter=sc.memory_for(ctx), topic=topic, personas=personas,
                              rounds=_rounds(rounds))
        return [UserMessage(text)]

    @server.prompt(title="Summarise a namespace")
    async def summarize_namespace(
        namespace: Annotated[str, Field(description="The namespace of the thread, e.g. 'projects/atlas'.")],
        ctx: Context[Any, Any, Any],
    ) -> list[Message]:
        """Summarise the memories of one namespace (a conversation, a project) in order."""
        text = await run_tool(_summary_text, adapter=sc.memory_for(ctx), namespace=namespace)
        return [UserMessage(text)]


def prompt_completions(sc: Caller, ctx: Context[Any, Any, Any], prompt: str, argument: str, prefix: str) -> list[str]:
    """Completions of a prompt argument for the caller (blocking; run it in a thread)."""
    if argument == "namespace" and prompt in ("recall", "summarize_namespace"):
        return [p for p in sorted(namespace_paths(sc.memory_for(ctx))) if p.startswith(prefix)]
    if prompt == "recall" and argument == "subject":
        names = [e.name for e in KnowledgeGraph(sc.memory_for(ctx)).read_graph().entities]
        return [n for n in names if n.lower().startswith(prefix.lower())]
    if prompt == "brainstorm" and argument == "personas":
        from mnemos.graphs._personas import BUILTIN_PERSONAS

        return [p for p in ("builtin", *BUILTIN_PERSONAS) if p.startswith(prefix)]
    if prompt == "brainstorm" and argument == "rounds":
        return [str(n) for n in range(1, 11) if str(n).startswith(prefix)]
    return []


async def render_prompt(server: FastMCP, name: str, arguments: dict[str, Any] | None) -> GetPromptResult:
    """``prompts/get`` without the SDK's traceback in the log for a client's mistake: an unknown
    prompt or bad arguments raise for :func:`~mnemos.tools._mcp_protocol.prompt_error` to answer."""
    prompt = server._prompt_manager.get_prompt(name)
    if prompt is None:
        raise UsageError(f"Unknown prompt: {name}")
    messages = await prompt.render(arguments, context=server.get_context())
    return GetPromptResult(description=prompt.description, messages=pydantic_core.to_jsonable_python(messages))

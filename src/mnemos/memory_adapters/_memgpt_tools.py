"""MemGPT's memory functions as LangChain tools bound to one agent's memory.

Every tool takes ``request_heartbeat``: the agent sets it to get control back
right after the call (to read the result, chain another call, or answer);
without it, the agent's turn ends with the call. Errors come back to the agent
as the tool's text, as in MemGPT, so it can correct itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time
from typing import Any, Literal, Protocol

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field, create_model

from mnemos.exceptions import UsageError
from mnemos.memory_adapters.base import MemoryRecord, ScoredMemory

__all__ = ["HEARTBEAT_DESCRIPTION", "MemGPTStorage", "memgpt_tools", "send_message_tool"]


class _Block(Protocol):
    @property
    def value(self) -> str: ...
    @property
    def limit(self) -> int: ...


class MemGPTStorage(Protocol):
    """What the memory functions need of the storage: the memory operations of
    :class:`~mnemos.memory_adapters.memgpt.MemGPTMemoryAdapter` (a protocol, so that
    the adapter module can build the tools without this module importing it back)."""

    def core_memory_append(self, namespace: Sequence[str], label: str, content: str) -> _Block: ...
    def core_memory_replace(
        self, namespace: Sequence[str], label: str, old_content: str, new_content: str
    ) -> _Block: ...
    def archival_memory_insert(self, namespace: Sequence[str], content: str) -> MemoryRecord: ...
    def archival_memory_search(
        self, namespace: Sequence[str], query: str, *, page: int = 0, page_size: int = 5
    ) -> list[ScoredMemory]: ...
    def conversation_search(
        self, namespace: Sequence[str], query: str, *, page: int = 0, page_size: int = 5
    ) -> list[ScoredMemory]: ...
    def conversation_search_date(
        self, namespace: Sequence[str], start: datetime, end: datetime, *, page: int = 0, page_size: int = 5
    ) -> list[MemoryRecord]: ...

HEARTBEAT_DESCRIPTION = (
    "Request an immediate heartbeat after function execution. Set to true if you want "
    "to read the result, send a follow-up message or run a follow-up function."
)


def _heartbeat() -> Any:
    return Field(default=False, description=HEARTBEAT_DESCRIPTION)


class _CoreAppend(BaseModel):
    label: str = Field(description="Label of the core memory block to edit (e.g. persona or human).")
    content: str = Field(description="Text to append to the block. Unicode is fine.")
    request_heartbeat: bool = _heartbeat()


class _CoreReplace(BaseModel):
    label: str = Field(description="Label of the core memory block to edit (e.g. persona or human).")
    old_content: str = Field(description="Exact text to replace; it must be in the block.")
    new_content: str = Field(description="Text to put in its place (empty to delete it).")
    request_heartbeat: bool = _heartbeat()


class _ArchivalInsert(BaseModel):
    content: str = Field(description="Passage to store; phrase it so that it can be found later.")
    request_heartbeat: bool = _heartbeat()


class _Search(BaseModel):
    query: str = Field(description="What to search for.")
    page: int = Field(default=0, ge=0, description="Page of results, 0 for the first.")
    request_heartbeat: bool = _heartbeat()


class _SearchDate(BaseModel):
    start_date: str = Field(description="Start of the period, YYYY-MM-DD (or a full ISO time).")
    end_date: str = Field(description="End of the period, YYYY-MM-DD (or a full ISO time), inclusive.")
    page: int = Field(default=0, ge=0, description="Page of results, 0 for the first.")
    request_heartbeat: bool = _heartbeat()


class _Send(BaseModel):
    message: str = Field(description="The message to show the user.")


def send_message_tool() -> BaseTool:
    """MemGPT's ``send_message``: the agent speaks to the user through a function call.

    Used when every reply must be a function call (``MemGPTAgent(always_call=True)``, in
    :mod:`mnemos.agents.memgpt`);
    the call ends the agent's turn and its ``message`` is the reply.
    """

    def send_message(message: str) -> str:
        return "Sent."

    return StructuredTool.from_function(
        func=send_message, name="send_message", args_schema=_Send,
        description="Send a message to the user; this ends your turn.",
    )


def _with_labels(schema: type[BaseModel], labels: Sequence[str]) -> type[BaseModel]:
    """``schema`` with ``label`` limited to the existing block labels (an enum in its JSON
    schema, so a grammar-constrained model can only name a real block)."""
    if not labels:
        return schema
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in schema.model_fields.items() if name != "label"
    }
    label_field = schema.model_fields["label"]
    kind: Any = Literal[tuple(labels)]
    return create_model(schema.__name__, label=(kind, Field(description=label_field.description)), **fields)


def memgpt_tools(
    memory: MemGPTStorage, namespace: Sequence[str], *, page_size: int = 5,
    labels: Sequence[str] = (),
) -> list[BaseTool]:
    """The memory tools of a MemGPT agent whose memory lives at ``namespace``.

    ``core_memory_append``, ``core_memory_replace``, ``archival_memory_insert``,
    ``archival_memory_search``, ``conversation_search`` and
    ``conversation_search_date``, in that order. With ``labels`` (the core
    blocks' labels), the edit tools accept only those labels.
    """
    ns = tuple(namespace)

    def core_memory_append(label: str, content: str, request_heartbeat: bool = False) -> str:
        block = memory.core_memory_append(ns, label, content)
        return f"Core block {label!r} now holds {len(block.value)}/{block.limit} characters."

    def core_memory_replace(
        label: str, old_content: str, new_content: str, request_heartbeat: bool = False
    ) -> str:
        block = memory.core_memory_replace(ns, label, old_content, new_content)
        return f"Core block {label!r} now holds {len(block.value)}/{block.limit} characters."

    def archival_memory_insert(content: str, request_heartbeat: bool = False) -> str:
        memory.archival_memory_insert(ns, content)
        return "Stored in archival memory."

    def archival_memory_search(query: str, page: int = 0, request_heartbeat: bool = False) -> str:
        hits = memory.archival_memory_search(ns, query, page=page, page_size=page_size)
        return _format_hits("archival memory", hits, page)

    def conversation_search(query: str, page: int = 0, request_heartbeat: bool = False) -> str:
        hits = memory.conversation_search(ns, query, page=page, page_size=page_size)
        return _format_hits("conversation history", hits, page)

    def conversation_search_date(
        start_date: str, end_date: str, page: int = 0, request_heartbeat: bool = False
    ) -> str:
        start, end = _day(start_date, end=False), _day(end_date, end=True)
        found = memory.conversation_search_date(ns, start, end, page=page, page_size=page_size)
        return _format_records(f"messages from {start_date} to {end_date}", found, page)

    specs: list[tuple[Callable[..., str], type[BaseModel], str]] = [
        (core_memory_append, _with_labels(_CoreAppend, labels),
         "Append to the contents of a core memory block (always visible in your context)."),
        (core_memory_replace, _with_labels(_CoreReplace, labels),
         "Replace text in a core memory block. To delete text, use an empty new_content."),
        (archival_memory_insert, _ArchivalInsert,
         "Add a passage to archival memory, your unlimited long-term store."),
        (archival_memory_search, _Search, "Search archival memory by meaning."),
        (conversation_search, _Search,
         "Search prior conversation history, including messages no longer in context."),
        (conversation_search_date, _SearchDate,
         "Search prior conversation history between two dates."),
    ]
    return [
        StructuredTool.from_function(
            func=_reporting(func),
            name=func.__name__,
            description=description,
            args_schema=schema,
        )
        for func, schema, description in specs
    ]


def _reporting(func: Callable[..., str]) -> Callable[..., str]:
    """Turn mnemos usage errors into text for the agent (MemGPT shows errors to the model)."""

    def run(**kwargs: Any) -> str:
        try:
            return func(**kwargs)
        except UsageError as exc:
            return f"Error: {exc}"

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


def _day(text: str, *, end: bool) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"dates are written YYYY-MM-DD, not {text!r}") from None
    if len(text.strip()) <= 10 and end:  # a bare date means the whole day
        value = datetime.combine(value.date(), time.max)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _format_hits(where: str, hits: Sequence[ScoredMemory], page: int) -> str:
    return _format_records(where, [h.record for h in hits], page)


def _format_records(where: str, records: Sequence[MemoryRecord], page: int) -> str:
    if not records:
        return f"No results in {where} (page {page})."
    lines = [f"Results from {where} (page {page}):"]
    for r in records:
        role = r.metadata.get("role")
        stamp = r.created_at.strftime("%Y-%m-%d %H:%M")
        lines.append(f"- [{stamp}{' ' + role if role else ''}] {r.content}")
    return "\n".join(lines)

"""Typed inputs and outputs shared by the memory tools and the MCP server.

Inputs are validated here (pydantic at the boundary); outputs are pydantic
models so that MCP clients receive an ``outputSchema`` and structured content,
and agents receive JSON with ids, scores and the reasons behind each score.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mnemos.memory_adapters._namespace import format_namespace, parse_namespace, validate_namespace
from mnemos.memory_adapters.base import MemoryKind, MemoryRecord, ScoredMemory

__all__ = [
    "DeletedOut",
    "ErasedOut",
    "HitOut",
    "MemoryOut",
    "NamespaceIn",
    "NamespaceOut",
    "NamespacesOut",
    "ReasonOut",
    "SearchOut",
    "hit_out",
    "memory_out",
    "namespace_out",
]


def _to_namespace(value: list[str] | str) -> list[str]:
    if isinstance(value, str):
        return list(parse_namespace(value))
    return list(validate_namespace(value))


NamespaceIn = Annotated[
    list[str] | str,
    AfterValidator(_to_namespace),
    Field(description='A namespace: a list of parts ["projects", "atlas"] or the text "projects/atlas".'),
]
"""A namespace as clients send it: a list of parts or ``a/b/c`` text."""


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class MemoryOut(_Out):
    """One stored memory, as returned to clients."""

    id: str
    namespace: list[str]
    kind: MemoryKind
    content: str
    metadata: dict[str, Any]
    importance: float
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None
    version: int = 1
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    superseded_by: str | None = None
    provenance: dict[str, Any] = Field(default_factory=dict)


class ReasonOut(_Out):
    """One signal behind a search score."""

    signal: str
    value: float
    contribution: float
    detail: str = ""


class HitOut(_Out):
    """A search hit: the memory, its score (higher is better), and why it was recalled."""

    id: str
    score: float
    why: str
    reasons: list[ReasonOut]
    memory: MemoryOut


class SearchOut(_Out):
    """The result of a search, best first."""

    query: str | None
    hits: list[HitOut]
    next_cursor: str | None = None
    """Pass it as ``cursor`` for the next page; absent on the last page."""


class DeletedOut(_Out):
    """The result of a delete."""

    id: str
    deleted: bool


class ErasedOut(_Out):
    """The result of an erase."""

    namespace: list[str]
    """What was erased, relative to the caller's root (``[]``: everything)."""
    erased: int
    """How many memories were erased."""


class NamespaceOut(_Out):
    """A namespace holding memories, and how many live under it."""

    namespace: list[str]
    path: str
    count: int


class NamespacesOut(_Out):
    """Namespaces under a prefix."""

    prefix: list[str]
    namespaces: list[NamespaceOut]


def memory_out(record: MemoryRecord) -> MemoryOut:
    """A record as a :class:`MemoryOut`."""
    return MemoryOut(
        id=record.id,
        namespace=list(record.namespace),
        kind=record.kind,
        content=record.content,
        metadata=record.metadata,
        importance=record.importance,
        created_at=record.created_at,
        updated_at=record.updated_at,
        expires_at=record.expires_at,
        version=record.version,
        valid_from=record.valid_from,
        valid_to=record.valid_to,
        superseded_by=record.superseded_by,
        provenance=record.provenance.to_dict(),
    )


def hit_out(hit: ScoredMemory) -> HitOut:
    """A scored search hit as a :class:`HitOut`."""
    return HitOut(
        id=hit.record.id,
        score=hit.score,
        why=hit.explain(),
        reasons=[
            ReasonOut(signal=r.signal, value=r.value, contribution=r.contribution, detail=r.detail)
            for r in hit.reasons
        ],
        memory=memory_out(hit.record),
    )


def namespace_out(namespace: tuple[str, ...], count: int) -> NamespaceOut:
    return NamespaceOut(namespace=list(namespace), path=format_namespace(namespace), count=count)

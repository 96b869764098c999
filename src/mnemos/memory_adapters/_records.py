"""The memory records and queries: what an adapter stores, returns and is asked.

:class:`MemoryRecord` is one stored memory, :class:`ScoredMemory` a search hit with
its :class:`ScoreReason` list, :class:`SearchQuery` what an adapter's ``_search``
receives, and :class:`NewMemory` a memory to add, validated at the boundary. They
are re-exported by :mod:`mnemos.memory_adapters.base`, the place to import them from.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from mnemos.exceptions import InvalidRecordError
from mnemos.memory_adapters._filters import matches_filter
from mnemos.memory_adapters._ids import new_id
from mnemos.memory_adapters._namespace import Namespace, is_prefix, validate_namespace
from mnemos.memory_adapters._validate import (
    MAX_TTL_SECONDS,
    aware,
    check_content,
    check_id,
    check_json_value,
    check_metadata,
)

__all__ = [
    "Capability",
    "MemoryKind",
    "MemoryRecord",
    "NewMemory",
    "Provenance",
    "ScoreReason",
    "ScoredMemory",
    "SearchQuery",
    "as_new_memory",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class MemoryKind(enum.StrEnum):
    """The three kinds of long-term memory."""

    EPISODIC = "episodic"
    """What happened: turns, events, observations."""
    SEMANTIC = "semantic"
    """Facts and knowledge; can be superseded while keeping history."""
    PROCEDURAL = "procedural"
    """How to behave: instructions and learned rules."""


class Capability(enum.StrEnum):
    """What an adapter can do. Operations outside them raise a typed error."""

    KEYWORD_SEARCH = "keyword_search"
    VECTOR_SEARCH = "vector_search"
    HYBRID_SEARCH = "hybrid_search"
    METADATA_FILTER = "metadata_filter"
    TIME_FILTER = "time_filter"
    UPDATE = "update"
    HISTORY = "history"
    DELETE = "delete"
    TTL = "ttl"
    DEDUP = "dedup"
    SUPERSEDE = "supersede"
    GRAPH = "graph"
    EXPORT = "export"
    PRESERVE_IDS = "preserve_ids"
    """Stored records keep the ids and timestamps they were given (needed by import)."""


@dataclass(kw_only=True, frozen=True)
class Provenance:
    """Who and what produced a memory."""

    agent: str | None = None
    thread: str | None = None
    message_ids: tuple[str, ...] = ()
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "thread": self.thread,
            "message_ids": list(self.message_ids),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Provenance:
        data = data or {}
        return cls(
            agent=data.get("agent"),
            thread=data.get("thread"),
            message_ids=tuple(data.get("message_ids") or ()),
            source=data.get("source"),
        )


@dataclass(kw_only=True, frozen=True)
class MemoryRecord:
    """One stored memory.

    ``valid_from``/``valid_to`` give a semantic fact's validity; a superseded
    fact has ``valid_to`` set and ``superseded_by`` naming its successor.
    ``version`` counts updates, starting at 1.
    """

    id: str
    namespace: Namespace
    kind: MemoryKind
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    importance: float = 0.5
    expires_at: datetime | None = None
    provenance: Provenance = field(default_factory=Provenance)
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    superseded_by: str | None = None
    version: int = 1

    @property
    def superseded(self) -> bool:
        return self.valid_to is not None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict (the JSONL export line)."""
        return {
            "id": self.id,
            "namespace": list(self.namespace),
            "kind": self.kind.value,
            "content": self.content,
            "metadata": self.metadata,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "importance": self.importance,
            "expires_at": _iso(self.expires_at),
            "provenance": self.provenance.to_dict(),
            "valid_from": _iso(self.valid_from),
            "valid_to": _iso(self.valid_to),
            "superseded_by": self.superseded_by,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MemoryRecord:
        """Inverse of :meth:`to_dict`; raises :class:`InvalidRecordError`."""
        try:
            model = _RecordModel.model_validate(data)
        except ValidationError as exc:
            raise InvalidRecordError(_pydantic_message(exc)) from None
        return model.to_record()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(kw_only=True, frozen=True)
class ScoreReason:
    """One signal behind a search score, e.g. ``keyword`` rank 2 of bm25 7.1."""

    signal: str
    """``keyword``, ``vector``, ``fusion``, ``recency``, ``importance``, ``graph``..."""
    value: float
    """The signal's own value (a similarity, a bm25 score, a decay factor)."""
    contribution: float = 0.0
    """What it added to the final score."""
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.signal} {self.value:.3g}"
        if self.detail:
            text += f" ({self.detail})"
        return text


@dataclass(kw_only=True, frozen=True)
class ScoredMemory:
    """A search hit: the record, its score (higher is better), and why."""

    record: MemoryRecord
    score: float
    reasons: tuple[ScoreReason, ...] = ()

    def explain(self) -> str:
        """The reasons as one readable line."""
        return ", ".join(str(r) for r in self.reasons) or "no scoring signal"


@dataclass(kw_only=True, frozen=True)
class SearchQuery:
    """What an adapter's ``_search`` receives; namespaces here are absolute.

    With ``text`` None it is a listing: matching records, newest first,
    score 0, paged by ``limit``/``offset`` (``limit`` None means all).
    """

    text: str | None = None
    namespace_prefix: Namespace = ()
    kinds: frozenset[MemoryKind] | None = None
    filter: Mapping[str, Any] | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = 10
    offset: int = 0
    include_superseded: bool = False
    now: datetime = field(default_factory=utcnow)

    def accepts(self, record: MemoryRecord) -> bool:
        """Whether a record passes every non-text condition (for Python-side filtering)."""
        if not is_prefix(self.namespace_prefix, record.namespace):
            return False
        if self.kinds is not None and record.kind not in self.kinds:
            return False
        if record.is_expired(self.now):
            return False
        if not self.include_superseded and record.superseded:
            return False
        if self.since is not None and record.created_at < self.since:
            return False
        if self.until is not None and record.created_at > self.until:
            return False
        return matches_filter(record.metadata, self.filter)


# --- validation at the boundary -------------------------------------------------


def _pydantic_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "value"
        cause = err.get("ctx", {}).get("error")
        # our own validators raise ValueError subclasses; show their text without
        # pydantic's "Value error, " prefix
        message = str(cause) if isinstance(cause, ValueError) else err["msg"]
        parts.append(f"{loc}: {message}")
    return "; ".join(parts)


def _namespace_field(value: object) -> tuple[str, ...]:
    return validate_namespace(value, allow_empty=False)


_Content = Annotated[str, BeforeValidator(lambda v: check_content(v))]
_Id = Annotated[str, BeforeValidator(lambda v: check_id(v))]
_NamespaceField = Annotated[tuple[str, ...], BeforeValidator(_namespace_field)]
_Metadata = Annotated[dict[str, Any], BeforeValidator(lambda v: check_metadata(v))]
_When = Annotated[datetime, AfterValidator(aware)]


def _check_provenance(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    check_json_value(value, "provenance")
    for key in ("agent", "thread", "source"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise InvalidRecordError(f"provenance {key} must be a string")
    ids = value.get("message_ids")
    if ids is not None and (
        not isinstance(ids, (list, tuple)) or not all(isinstance(i, str) for i in ids)
    ):
        raise InvalidRecordError("provenance message_ids must be a list of strings")
    return value


_ProvenanceField = Annotated[dict[str, Any] | None, AfterValidator(_check_provenance)]


class NewMemory(BaseModel):
    """A memory to add, validated. Mostly built for you by :meth:`BaseMemoryAdapter.add`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    content: _Content
    namespace: _NamespaceField
    kind: MemoryKind = MemoryKind.EPISODIC
    metadata: _Metadata = Field(default_factory=dict)
    importance: float = Field(default=0.5, ge=0.0, le=1.0, allow_inf_nan=False)
    expires_at: _When | None = None
    ttl_seconds: float | None = Field(default=None, gt=0, le=MAX_TTL_SECONDS, allow_inf_nan=False)
    provenance: _ProvenanceField = None
    created_at: _When | None = None
    id: _Id | None = None

    def to_record(self, *, now: datetime, scope: Namespace) -> MemoryRecord:
        created = aware(self.created_at) or now
        expires = aware(self.expires_at)
        if self.ttl_seconds is not None:
            expires = now + timedelta(seconds=self.ttl_seconds)
        return MemoryRecord(
            id=self.id or new_id(),
            namespace=scope + self.namespace,
            kind=self.kind,
            content=self.content,
            metadata=dict(self.metadata),
            created_at=created,
            updated_at=created,
            importance=self.importance,
            expires_at=expires,
            provenance=Provenance.from_dict(self.provenance),
            valid_from=created if self.kind is MemoryKind.SEMANTIC else None,
        )


class _RecordModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: _Id
    namespace: _NamespaceField
    kind: MemoryKind
    content: _Content
    metadata: _Metadata = Field(default_factory=dict)
    created_at: _When
    updated_at: _When
    importance: float = Field(default=0.5, ge=0.0, le=1.0, allow_inf_nan=False)
    expires_at: _When | None = None
    provenance: _ProvenanceField = None
    valid_from: _When | None = None
    valid_to: _When | None = None
    superseded_by: _Id | None = None
    version: int = Field(default=1, ge=1, le=2**62)

    def to_record(self) -> MemoryRecord:
        return MemoryRecord(
            id=self.id,
            namespace=self.namespace,
            kind=self.kind,
            content=self.content,
            metadata=self.metadata,
            created_at=aware(self.created_at),  # type: ignore[arg-type]
            updated_at=aware(self.updated_at),  # type: ignore[arg-type]
            importance=self.importance,
            expires_at=aware(self.expires_at),
            provenance=Provenance.from_dict(self.provenance),
            valid_from=aware(self.valid_from),
            valid_to=aware(self.valid_to),
            superseded_by=self.superseded_by,
            version=self.version,
        )


def as_new_memory(data: Mapping[str, Any]) -> NewMemory:
    if not isinstance(data, Mapping):
        raise InvalidRecordError(f"a memory to add is a dict or a NewMemory, not {type(data).__name__}")
    try:
        return NewMemory.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidRecordError(_pydantic_message(exc)) from None

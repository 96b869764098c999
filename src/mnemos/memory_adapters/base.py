"""The memory contract: records, scored results, capabilities, and the adapter base.

An adapter implements five small abstract methods (``_add``, ``_get``,
``_update``, ``_delete``, ``_search``) over *absolute* namespaces. Everything a
caller uses (sync and async add / search / get / update / delete / list /
purge, supersession, JSONL export and import, scoping) is written once here,
the way LangGraph's ``BaseStore`` builds on ``batch``.

An adapter is opened for a *scope* (a namespace prefix). Callers pass and get
back namespaces relative to that scope; :meth:`BaseMemoryAdapter.scoped` narrows
it further. Nothing outside the scope can be read or written through it.
"""

from __future__ import annotations

import abc
import asyncio
import builtins
import copy
import enum
import io
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from mnemos._files import open_private
from mnemos.exceptions import (
    CapabilityNotSupportedError,
    ImportFormatError,
    InvalidRecordError,
    MemoryNotFoundError,
    ScopeViolationError,
    UsageError,
)
from mnemos.memory_adapters._filters import matches_filter, validate_filter
from mnemos.memory_adapters._ids import new_id
from mnemos.memory_adapters._namespace import Namespace, is_prefix, validate_namespace
from mnemos.memory_adapters._validate import (
    MAX_CONTENT_BYTES,
    MAX_ID_LENGTH,
    MAX_QUERY_CHARS,
    MAX_TTL_SECONDS,
    aware,
    check_content,
    check_count,
    check_id,
    check_json_value,
    check_metadata,
    check_when,
)

if TYPE_CHECKING:
    from mnemos.memory_adapters.privacy import AuditLog
    from mnemos.memory_adapters.retention import RetentionPolicy

__all__ = [
    "MAX_CONTENT_BYTES",
    "MAX_ID_LENGTH",
    "BaseMemoryAdapter",
    "Capability",
    "MemoryKind",
    "MemoryRecord",
    "NewMemory",
    "Provenance",
    "ScoreReason",
    "ScoredMemory",
    "SearchQuery",
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


def _as_new_memory(data: Mapping[str, Any]) -> NewMemory:
    if not isinstance(data, Mapping):
        raise InvalidRecordError(f"a memory to add is a dict or a NewMemory, not {type(data).__name__}")
    try:
        return NewMemory.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidRecordError(_pydantic_message(exc)) from None


_UNSET: Any = object()


# --- the adapter base -------------------------------------------------------------


class BaseMemoryAdapter(abc.ABC):
    """Base of every memory adapter.

    Subclasses implement the five abstract ``_``-methods over absolute
    namespaces and declare :attr:`capabilities`. They may override the
    optional ones (``_history``, ``_purge``, ``_namespaces``, ``_count``,
    ``_close``) where the backend does better than the generic versions here.
    """

    name: ClassVar[str] = "base"
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __init__(
        self,
        *,
        scope: Sequence[str] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._scope: Namespace = validate_namespace(scope)
        self._clock = clock
        self._rmw_lock = threading.RLock()
        self._is_view = False
        self._retention: tuple[RetentionPolicy, ...] = ()
        self._retention_interval = 60.0
        self._retention_due = 0.0
        self._redactor: Callable[[str], str] | None = None
        self._audit: AuditLog | None = None
        self._actor: str | None = None

    # -- abstract core ------------------------------------------------------------

    @abc.abstractmethod
    def _add(self, records: Sequence[MemoryRecord], *, dedup: bool) -> list[MemoryRecord]:
        """Store records atomically (all or none) and return what is stored.

        With ``dedup`` and the DEDUP capability, a record whose content equals
        a live record's in the same namespace returns that record instead. A
        record whose id already exists replaces it (import relies on this).
        """

    @abc.abstractmethod
    def _get(self, ids: Sequence[str]) -> list[MemoryRecord | None]:
        """Records by id, ``None`` where missing; expired ones count as missing."""

    @abc.abstractmethod
    def _update(self, record: MemoryRecord) -> MemoryRecord:
        """Replace the stored record with the same id (keeping history if declared)."""

    @abc.abstractmethod
    def _delete(self, ids: Sequence[str]) -> int:
        """Delete records by id; return how many existed."""

    @abc.abstractmethod
    def _search(self, query: SearchQuery) -> list[ScoredMemory]:
        """Records passing ``query.accepts``, ranked for ``query.text``."""

    # -- optional, with generic versions -------------------------------------------

    def _history(self, memory_id: str) -> list[MemoryRecord]:
        raise CapabilityNotSupportedError(Capability.HISTORY, self.name)

    def _purge(self, now: datetime, namespace_prefix: Namespace) -> int:
        """Physically remove expired records under a prefix; return the count."""
        raise CapabilityNotSupportedError(Capability.TTL, self.name)

    def _erase(self, namespace_prefix: Namespace) -> int:
        """Remove every record at or under a prefix, expired ones and history included,
        with whatever the backend keeps about them; return how many records. This default
        deletes what a listing finds, then purges the expired ones."""
        listing = self._search(
            SearchQuery(namespace_prefix=namespace_prefix, limit=None, include_superseded=True, now=self.now())
        )
        count = self._delete([hit.record.id for hit in listing]) if listing else 0
        if self.supports(Capability.TTL):
            count += self._purge(self.now(), namespace_prefix)
        return count

    def _owners(self, ids: Sequence[str]) -> dict[str, Namespace]:
        """The absolute namespace of each stored record among ``ids`` (absent ids are left
        out). This default sees live records only; a backend that keeps expired records
        until a purge overrides it so that those count too."""
        return {r.id: r.namespace for r in self._get(list(ids)) if r is not None}

    def _namespaces(self, prefix: Namespace) -> list[Namespace]:
        listing = self._search(
            SearchQuery(namespace_prefix=prefix, limit=None, include_superseded=True, now=self.now())
        )
        return sorted({hit.record.namespace for hit in listing})

    def _count(self, prefix: Namespace) -> int:
        query = SearchQuery(namespace_prefix=prefix, limit=None, include_superseded=True, now=self.now())
        return len(self._search(query))

    def _exclusive(self) -> AbstractContextManager[object]:
        """Held around read-modify-write operations (update, supersede). This default
        serializes the threads using this adapter and its views; a backend with
        transactions overrides it to exclude other handles and processes too."""
        return self._rmw_lock

    def _close(self) -> None:
        """Release resources (connections, files)."""
        return None

    # -- helpers --------------------------------------------------------------------

    @property
    def scope(self) -> Namespace:
        """The namespace prefix this adapter was opened for."""
        return self._scope

    def now(self) -> datetime:
        return self._clock()

    def supports(self, capability: Capability | str) -> bool:
        return Capability(capability) in self.capabilities

    def require(self, capability: Capability | str) -> None:
        """Raise :class:`CapabilityNotSupportedError` unless the capability is declared."""
        if not self.supports(capability):
            raise CapabilityNotSupportedError(str(Capability(capability)), self.name)

    def scoped(self, *parts: str) -> BaseMemoryAdapter:
        """A view of this adapter narrowed to ``scope + parts``; it shares the backend."""
        extra = validate_namespace(parts)
        view = copy.copy(self)
        view._scope = self._scope + extra
        view._is_view = True
        return view

    def _abs(self, namespace: Sequence[str], *, allow_empty: bool = True) -> Namespace:
        return self._scope + validate_namespace(namespace, allow_empty=allow_empty)

    def _rel(self, record: MemoryRecord) -> MemoryRecord:
        return replace(record, namespace=record.namespace[len(self._scope) :])

    def _visible(self, record: MemoryRecord | None) -> MemoryRecord | None:
        if record is None or not is_prefix(self._scope, record.namespace):
            return None
        if record.is_expired(self.now()):
            return None
        return record

    def _check_ids_in_scope(self, ids: Iterable[str]) -> None:
        """Refuse ids that name a stored memory outside this adapter's scope."""
        wanted = sorted(set(ids))
        if not wanted:
            return
        for memory_id, namespace in self._owners(wanted).items():
            if not is_prefix(self._scope, namespace):
                raise ScopeViolationError(
                    f"memory id {memory_id!r} is taken by a memory outside this adapter's scope; "
                    "leave the id out to get a fresh one"
                )

    def _get_abs(self, memory_id: str) -> MemoryRecord:
        check_id(memory_id)
        found = self._visible(self._get([memory_id])[0])
        if found is None:
            raise MemoryNotFoundError(memory_id)
        return found

    # -- public sync API --------------------------------------------------------------

    def add(
        self,
        content: str,
        *,
        namespace: Sequence[str],
        kind: MemoryKind | str = MemoryKind.EPISODIC,
        metadata: Mapping[str, Any] | None = None,
        importance: float = 0.5,
        expires_at: datetime | None = None,
        ttl_seconds: float | None = None,
        provenance: Provenance | Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
        dedup: bool = True,
    ) -> MemoryRecord:
        """Store one memory and return it (or the identical one already stored)."""
        item = {
            "content": content,
            "namespace": namespace,
            "kind": kind,
            "metadata": metadata if metadata is not None else {},
            "importance": importance,
            "expires_at": expires_at,
            "ttl_seconds": ttl_seconds,
            "provenance": provenance.to_dict() if isinstance(provenance, Provenance) else provenance,
            "created_at": created_at,
        }
        return self.add_many([item], dedup=dedup)[0]

    def add_many(
        self,
        items: Iterable[NewMemory | Mapping[str, Any]],
        *,
        dedup: bool = True,
    ) -> list[MemoryRecord]:
        """Store many memories in one atomic batch (each validated first)."""
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise InvalidRecordError(f"add_many takes a list of memories, not {type(items).__name__}")
        new = [i if isinstance(i, NewMemory) else _as_new_memory(i) for i in items]
        if self._redactor is not None:
            new = [self._redact_new(n) for n in new]
        if (any(n.expires_at or n.ttl_seconds for n in new)) and not self.supports(Capability.TTL):
            self.require(Capability.TTL)
        now = self.now()
        records = [n.to_record(now=now, scope=self._scope) for n in new]
        if not records:
            return []
        given = [r.id for n, r in zip(new, records, strict=True) if n.id is not None]
        if not given:
            stored = self._add(records, dedup=dedup and self.supports(Capability.DEDUP))
        else:
            with self._exclusive():  # no other writer may take the ids between check and write
                self._check_ids_in_scope(given)
                stored = self._add(records, dedup=dedup and self.supports(Capability.DEDUP))
        if self._audit is not None:
            self._audited("add", stored, ids=[r.id for r in stored],
                          namespaces=sorted({"/".join(self._rel(r).namespace) for r in stored}))
        if self._retention and time.monotonic() >= self._retention_due:
            self.apply_retention()
        return [self._rel(r) for r in stored]

    def get(self, memory_id: str) -> MemoryRecord:
        """The memory with this id; :class:`MemoryNotFoundError` if absent or out of scope."""
        return self._rel(self._get_abs(memory_id))

    def get_many(self, ids: Sequence[str]) -> list[MemoryRecord | None]:
        """The memories with these ids, ``None`` where absent or out of scope."""
        if isinstance(ids, str) or not isinstance(ids, Sequence):
            raise UsageError(f"get_many takes a list of ids, not {type(ids).__name__}")
        for memory_id in ids:
            check_id(memory_id)
        return [
            self._rel(r) if r is not None else None
            for r in (self._visible(x) for x in self._get(list(ids)))
        ]

    def update(
        self,
        memory_id: str,
        *,
        content: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        importance: float | None = None,
        expires_at: datetime | None = _UNSET,
    ) -> MemoryRecord:
        """Change a memory in place; the previous version goes to its history."""
        self.require(Capability.UPDATE)
        changes: dict[str, Any] = {}
        if content is not None:
            changes["content"] = self._clean_content(check_content(content))
        if metadata is not None:
            changes["metadata"] = self._clean_metadata(check_metadata(metadata))
        if importance is not None:
            if isinstance(importance, bool) or not isinstance(importance, (int, float)) or not 0 <= importance <= 1:
                raise InvalidRecordError("importance is a number between 0 and 1")
            changes["importance"] = float(importance)
        if expires_at is not _UNSET:
            if expires_at is not None:
                self.require(Capability.TTL)
            changes["expires_at"] = check_when(expires_at, "expires_at")
        with self._exclusive():  # read-modify-write: concurrent updates must not lose versions
            current = self._get_abs(memory_id)
            if not changes:
                return self._rel(current)
            new = replace(current, **changes, updated_at=self.now(), version=current.version + 1)
            stored = self._update(new)
        self._audited("update", [stored], ids=[memory_id], fields=sorted(changes))
        return self._rel(stored)

    def supersede(
        self,
        memory_id: str,
        content: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        importance: float | None = None,
        provenance: Provenance | Mapping[str, Any] | None = None,
    ) -> MemoryRecord:
        """Replace a semantic fact by a new one; the old stays, marked invalid from now."""
        self.require(Capability.SUPERSEDE)
        with self._exclusive():  # only one successor per fact
            old = self._get_abs(memory_id)
            if old.superseded:
                raise UsageError(f"memory {memory_id!r} is already superseded by {old.superseded_by!r}")
            new = self.add(
                content,
                namespace=old.namespace[len(self._scope) :],
                kind=old.kind,
                metadata=old.metadata if metadata is None else metadata,
                importance=old.importance if importance is None else importance,
                provenance=provenance if provenance is not None else old.provenance,
                dedup=False,
            )
            now = self.now()
            self._update(
                replace(old, valid_to=now, superseded_by=new.id, updated_at=now, version=old.version + 1)
            )
        self._audited("supersede", [old], ids=[memory_id], successor=new.id)
        return new

    def history(self, memory_id: str) -> list[MemoryRecord]:
        """Earlier versions of a memory, oldest first, then the current one."""
        self.require(Capability.HISTORY)
        current = self._get_abs(memory_id)
        earlier = [r for r in self._history(memory_id) if is_prefix(self._scope, r.namespace)]
        return [self._rel(r) for r in earlier] + [self._rel(current)]

    def delete(self, memory_id: str, *, with_history: bool = False) -> None:
        """Delete a memory; :class:`MemoryNotFoundError` if absent or out of scope.

        Its version history always goes with it. ``with_history=True`` also deletes
        the facts it superseded, directly or through a chain of supersessions.
        """
        self.require(Capability.DELETE)
        with self._exclusive():
            record = self._get_abs(memory_id)
            doomed = [memory_id]
            if with_history:
                doomed += self._predecessors(record)
            self._delete(doomed)
        self._audited("delete", [record], ids=doomed)

    def _predecessors(self, record: MemoryRecord) -> builtins.list[str]:
        """Ids of the records ``record`` superseded, directly or not (same namespace)."""
        query = SearchQuery(
            namespace_prefix=record.namespace, limit=None, include_superseded=True, now=self.now()
        )
        by_successor: dict[str, builtins.list[str]] = {}
        for hit in self._search(query):
            old = hit.record
            if old.namespace == record.namespace and old.superseded_by:
                by_successor.setdefault(old.superseded_by, []).append(old.id)
        found: builtins.list[str] = []
        todo = [record.id]
        while todo:
            for older in by_successor.pop(todo.pop(), []):
                found.append(older)
                todo.append(older)
        return found

    def set_redactor(self, redactor: Callable[[str], str] | None) -> None:
        """Pass the content and metadata strings of every memory written from now on
        (add, update, supersede, import) through ``redactor``, e.g. a
        :class:`~mnemos.memory_adapters.privacy.PiiRedactor`; None stops it. Views
        made with :meth:`scoped` afterwards share it."""
        if redactor is not None and not callable(redactor):
            raise UsageError("a redactor is a callable taking and returning text")
        self._redactor = redactor

    def set_audit(self, log: AuditLog | None, *, actor: str | None = None) -> None:
        """Record every write and erasure in ``log`` (an
        :class:`~mnemos.memory_adapters.privacy.AuditLog`), as ``actor`` (else the
        memory's provenance agent); None stops it."""
        from mnemos.memory_adapters.privacy import AuditLog

        if log is not None and not isinstance(log, AuditLog):
            raise UsageError("set_audit takes an AuditLog")
        if actor is not None and not isinstance(actor, str):
            raise UsageError("an audit actor is a string")
        self._audit = log
        self._actor = actor

    def _audited(self, action: str, records: Sequence[MemoryRecord] | None, **details: Any) -> None:
        if self._audit is None:
            return
        who = self._actor or next((r.provenance.agent for r in records or () if r.provenance.agent), None)
        self._audit.record(action, who=who, scope=self._scope, **details)

    def _clean_content(self, content: str) -> str:
        if self._redactor is None:
            return content
        return check_content(self._redactor(content))

    def _clean_metadata(self, metadata: dict[str, Any]) -> dict[str, Any]:
        if self._redactor is None:
            return metadata
        from mnemos.memory_adapters.privacy import redact_json

        return check_metadata(redact_json(metadata, self._redactor))

    def _redact_new(self, item: NewMemory) -> NewMemory:
        return item.model_copy(update={
            "content": self._clean_content(item.content), "metadata": self._clean_metadata(item.metadata),
        })

    def erase(self, namespace: Sequence[str]) -> int:
        """Erase everything at or under ``namespace`` (relative to the scope; ``()`` is the
        whole scope): memories live, superseded and expired, their history, and what the
        backend derived from them (entities, relations, index entries). Return how many
        memories were erased. Unlike :meth:`delete`, the native store also scrubs the
        freed bytes from its file, its full-text index and its write-ahead log.
        """
        self.require(Capability.DELETE)
        target = self._abs(namespace)
        count = self._erase(target)
        self._audited("erase", None, namespace="/".join(target[len(self._scope):]) or "/", count=count)
        return count

    def erase_user(self, user_id: str) -> int:
        """Erase the user's root, ``("users", user_id)`` under this adapter's scope
        (the namespace agents write a user's memories in); return how many memories."""
        if not isinstance(user_id, str):
            raise UsageError(f"a user id is a string, not {type(user_id).__name__}")
        return self.erase(("users", user_id))

    def search(
        self,
        query: str | None = None,
        *,
        namespace: Sequence[str] = (),
        kinds: Iterable[MemoryKind | str] | MemoryKind | str | None = None,
        filter: Mapping[str, Any] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 10,
        include_superseded: bool = False,
    ) -> list[ScoredMemory]:
        """Memories under ``namespace`` (a prefix) ranked for ``query``, with reasons."""
        if query is not None and not isinstance(query, str):
            raise UsageError(f"a search query is a string, not {type(query).__name__}")
        if query is not None and len(query) > MAX_QUERY_CHARS:
            raise UsageError(f"a search query has at most {MAX_QUERY_CHARS} characters")
        if query is not None:
            check_json_value(query, "a search query", error=UsageError)
        check_count(limit, "limit", minimum=1)
        q = self._query(query if query and query.strip() else None, namespace, kinds, filter,
                        since, until, limit, 0, include_superseded)
        return [replace(hit, record=self._rel(hit.record)) for hit in self._search(q)]

    def list(
        self,
        *,
        namespace: Sequence[str] = (),
        kinds: Iterable[MemoryKind | str] | MemoryKind | str | None = None,
        filter: Mapping[str, Any] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 100,
        offset: int = 0,
        include_superseded: bool = False,
    ) -> builtins.list[MemoryRecord]:
        """Memories under ``namespace``, newest first."""
        check_count(limit, "limit", minimum=1, allow_none=True)
        check_count(offset, "offset", minimum=0)
        q = self._query(None, namespace, kinds, filter, since, until, limit, offset, include_superseded)
        return [self._rel(hit.record) for hit in self._search(q)]

    def namespaces(self, prefix: Sequence[str] = ()) -> builtins.list[Namespace]:
        """Namespaces holding at least one memory, under ``prefix``, relative to the scope."""
        n = len(self._scope)
        return [ns[n:] for ns in self._namespaces(self._abs(prefix))]

    def count(self, namespace: Sequence[str] = ()) -> int:
        return self._count(self._abs(namespace))

    def purge(self, namespace: Sequence[str] = ()) -> int:
        """Remove expired memories for good, and what the retention policies no longer
        keep; return how many."""
        if not self._retention:
            self.require(Capability.TTL)
        count = self._purge(self.now(), self._abs(namespace)) if self.supports(Capability.TTL) else 0
        count += self.apply_retention(namespace)
        if count:
            self._audited("purge", None, namespace="/".join(validate_namespace(namespace)) or "/", count=count)
        return count

    def set_retention(
        self, policies: Iterable[RetentionPolicy], *, interval: float = 60.0, apply: bool = True
    ) -> int:
        """Keep memories only as ``policies`` allow (see :mod:`~mnemos.memory_adapters.retention`).

        They are applied now (unless ``apply=False``), after writes at most once per
        ``interval`` seconds, and by :meth:`purge`; views made with :meth:`scoped`
        afterwards share them. Return how many memories were removed now.
        """
        from mnemos.memory_adapters.retention import RetentionPolicy

        chosen = tuple(policies)
        if not all(isinstance(p, RetentionPolicy) for p in chosen):
            raise UsageError("set_retention takes RetentionPolicy objects")
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 <= interval < math.inf:
            raise UsageError(f"interval is a number of seconds, not {interval!r}")
        if chosen:
            self.require(Capability.DELETE)
        self._retention = chosen
        self._retention_interval = float(interval)
        return self.apply_retention() if apply else 0

    def apply_retention(self, namespace: Sequence[str] = ()) -> int:
        """Delete what the retention policies no longer keep under ``namespace``; return how many."""
        from mnemos.memory_adapters.retention import policies_for

        within = self._abs(namespace)
        self._retention_due = time.monotonic() + self._retention_interval
        count = 0
        now = self.now()
        for policy, where in policies_for(self._retention, within):
            kinds = frozenset({MemoryKind(policy.kind)}) if policy.kind else None
            if policy.max_age is not None:
                old = SearchQuery(namespace_prefix=where, kinds=kinds, until=now - policy.max_age,
                                  limit=None, include_superseded=True, now=now)
                doomed = [hit.record.id for hit in self._search(old)]
                count += self._delete(doomed) if doomed else 0
            if policy.max_count is not None:
                every = SearchQuery(namespace_prefix=where, kinds=kinds, limit=None,
                                    include_superseded=True, now=now)
                by_namespace: dict[Namespace, builtins.list[MemoryRecord]] = {}
                for hit in self._search(every):
                    by_namespace.setdefault(hit.record.namespace, []).append(hit.record)
                doomed = []
                for group in by_namespace.values():
                    group.sort(key=lambda r: (r.created_at, r.id), reverse=True)
                    doomed += [r.id for r in group[policy.max_count :]]
                count += self._delete(doomed) if doomed else 0
        return count

    def close(self) -> None:
        """Close the adapter (a scoped view leaves its parent open)."""
        if not self._is_view:
            self._close()

    def __enter__(self) -> BaseMemoryAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(
        self,
        text: str | None,
        namespace: Sequence[str],
        kinds: Iterable[MemoryKind | str] | MemoryKind | str | None,
        flt: Mapping[str, Any] | None,
        since: datetime | None,
        until: datetime | None,
        limit: int | None,
        offset: int,
        include_superseded: bool,
    ) -> SearchQuery:
        if flt:
            self.require(Capability.METADATA_FILTER)
        if since is not None or until is not None:
            self.require(Capability.TIME_FILTER)
        if text is not None and not (
            self.supports(Capability.KEYWORD_SEARCH) or self.supports(Capability.VECTOR_SEARCH)
        ):
            self.require(Capability.KEYWORD_SEARCH)
        kind_set: frozenset[MemoryKind] | None
        if kinds is None:
            kind_set = None
        else:
            try:
                raw = [kinds] if isinstance(kinds, str) else list(kinds)
                kind_set = frozenset(MemoryKind(k) for k in raw)
            except (TypeError, ValueError):
                raise UsageError(
                    f"unknown memory kind in {kinds!r}; use episodic, semantic or procedural"
                ) from None
        return SearchQuery(
            text=text,
            namespace_prefix=self._abs(namespace),
            kinds=kind_set,
            filter=validate_filter(flt) or None,
            since=check_when(since, "since"),
            until=check_when(until, "until"),
            limit=limit,
            offset=offset,
            include_superseded=include_superseded,
            now=self.now(),
        )

    # -- JSONL export / import ----------------------------------------------------------

    def iter_export(self, namespace: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        """Every live record under ``namespace`` (superseded ones included), as dicts."""
        q = self._query(None, namespace, None, None, None, None, None, 0, True)
        for hit in sorted(self._search(q), key=lambda h: h.record.id):
            yield self._rel(hit.record).to_dict()

    def export_jsonl(self, dest: str | Path | IO[str], namespace: Sequence[str] = ()) -> int:
        """Write one JSON object per line; return the number of records."""
        self.require(Capability.EXPORT)
        count = 0
        with _open_text(dest, "w") as fh:
            for row in self.iter_export(namespace):
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
        return count

    def import_jsonl(
        self,
        src: str | Path | IO[str],
        *,
        on_progress: Callable[[int, int], None] | None = None,
        batch_size: int = 1000,
    ) -> int:
        """Import an export; all lines are checked first, so a broken file imports nothing.

        Records keep their ids, timestamps and versions; an existing id is replaced.
        ``on_progress(done, total)`` is called after each batch.
        """
        self.require(Capability.PRESERVE_IDS)
        records: list[MemoryRecord] = []
        with _open_text(src, "r") as fh:
            for lineno, line in _numbered_lines(fh):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ImportFormatError(lineno, f"not JSON ({exc.msg})") from None
                except RecursionError:
                    raise ImportFormatError(lineno, "JSON nested too deeply") from None
                if not isinstance(data, dict):
                    raise ImportFormatError(lineno, "a line must be a JSON object")
                try:
                    record = MemoryRecord.from_dict(data)
                except UsageError as exc:
                    raise ImportFormatError(lineno, str(exc)) from None
                if record.expires_at is not None and not self.supports(Capability.TTL):
                    raise ImportFormatError(lineno, f"expires_at set but {self.name!r} has no TTL")
                records.append(replace(record, namespace=self._scope + record.namespace))
        if self._redactor is not None:
            records = [replace(r, content=self._clean_content(r.content), metadata=self._clean_metadata(r.metadata))
                       for r in records]
        with self._exclusive():  # no other writer may take the ids between check and write
            self._check_ids_in_scope(r.id for r in records)
            self._import_records(records, on_progress=on_progress, batch_size=batch_size)
        self._audited("import", records, count=len(records),
                      namespaces=sorted({"/".join(self._rel(r).namespace) for r in records}))
        return len(records)

    def _import_records(
        self,
        records: Sequence[MemoryRecord],
        *,
        on_progress: Callable[[int, int], None] | None,
        batch_size: int,
    ) -> None:
        """Store validated records atomically. Adapters with transactions may override
        to report progress per batch inside one transaction; this default stores all in
        one ``_add`` call and reports once."""
        if records:
            self._add(records, dedup=False)
        if on_progress is not None:
            on_progress(len(records), len(records))

    # -- async twins (thread offload; native-async adapters override) ---------------------

    async def aadd(self, content: str, **kwargs: Any) -> MemoryRecord:
        return await asyncio.to_thread(self.add, content, **kwargs)

    async def aadd_many(self, items: Iterable[NewMemory | Mapping[str, Any]], **kwargs: Any) -> builtins.list[MemoryRecord]:
        return await asyncio.to_thread(self.add_many, list(items), **kwargs)

    async def aget(self, memory_id: str) -> MemoryRecord:
        return await asyncio.to_thread(self.get, memory_id)

    async def aupdate(self, memory_id: str, **kwargs: Any) -> MemoryRecord:
        return await asyncio.to_thread(self.update, memory_id, **kwargs)

    async def asupersede(self, memory_id: str, content: str, **kwargs: Any) -> MemoryRecord:
        return await asyncio.to_thread(self.supersede, memory_id, content, **kwargs)

    async def adelete(self, memory_id: str, *, with_history: bool = False) -> None:
        await asyncio.to_thread(self.delete, memory_id, with_history=with_history)

    async def aerase(self, namespace: Sequence[str]) -> int:
        return await asyncio.to_thread(self.erase, namespace)

    async def aerase_user(self, user_id: str) -> int:
        return await asyncio.to_thread(self.erase_user, user_id)

    async def asearch(self, query: str | None = None, **kwargs: Any) -> builtins.list[ScoredMemory]:
        return await asyncio.to_thread(self.search, query, **kwargs)

    async def alist(self, **kwargs: Any) -> builtins.list[MemoryRecord]:
        return await asyncio.to_thread(self.list, **kwargs)

    async def ahistory(self, memory_id: str) -> builtins.list[MemoryRecord]:
        return await asyncio.to_thread(self.history, memory_id)

    async def anamespaces(self, prefix: Sequence[str] = ()) -> builtins.list[Namespace]:
        return await asyncio.to_thread(self.namespaces, prefix)

    async def apurge(self, namespace: Sequence[str] = ()) -> int:
        return await asyncio.to_thread(self.purge, namespace)

    async def aapply_retention(self, namespace: Sequence[str] = ()) -> int:
        return await asyncio.to_thread(self.apply_retention, namespace)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} scope={'/'.join(self._scope) or '/'}>"


def _numbered_lines(fh: IO[str]) -> Iterator[tuple[int, str]]:
    """The lines of a text (or UTF-8 byte) stream with their numbers; a line that is not
    UTF-8 raises :class:`ImportFormatError`."""
    lines = iter(fh)
    lineno = 0
    while True:
        lineno += 1
        try:
            line: str | bytes = next(lines)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise ImportFormatError(lineno, "not UTF-8 text (is it a binary file?)") from None
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError:
                raise ImportFormatError(lineno, "not UTF-8 text (is it a binary file?)") from None
        yield lineno, line


class _open_text:
    """Open a path, or pass through an open text stream without closing it."""

    def __init__(self, target: str | Path | IO[str], mode: str) -> None:
        self._target = target
        self._mode = mode
        self._fh: IO[str] | None = None

    def __enter__(self) -> IO[str]:
        if isinstance(self._target, (str, Path)):
            try:
                if self._mode == "w":  # an export holds memories: readable by its owner only
                    self._fh = os.fdopen(open_private(Path(self._target)), "w", encoding="utf-8")
                else:
                    self._fh = open(self._target, self._mode, encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot open {self._target}: {exc.strerror or exc}") from None
            return self._fh
        if not isinstance(self._target, io.TextIOBase) and not hasattr(self._target, "read"):
            raise UsageError("expected a path or a text stream")
        return self._target

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()


def recency_decay(age_seconds: float, half_life_days: float = 30.0) -> float:
    """Exponential decay in [0, 1]: 1 for now, 0.5 after ``half_life_days``."""
    if age_seconds <= 0:
        return 1.0
    return math.exp(-math.log(2) * age_seconds / (half_life_days * 86400.0))


def scope_guard(scope: Namespace, namespace: Namespace) -> None:
    """Raise :class:`ScopeViolationError` if ``namespace`` is outside ``scope``."""
    if not is_prefix(scope, namespace):
        raise ScopeViolationError(
            f"namespace {'/'.join(namespace)!r} is outside this adapter's scope "
            f"{'/'.join(scope) or '/'!r}"
        )

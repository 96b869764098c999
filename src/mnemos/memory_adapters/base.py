"""The memory contract: records, scored results, capabilities, and the adapter base.

An adapter implements five small abstract methods (``_add``, ``_get``,
``_update``, ``_delete``, ``_search``) over *absolute* namespaces. Everything a
caller uses (sync and async add / search / get / update / delete / list /
purge, supersession, JSONL export and import, scoping) is written once, here
and in the modules named below, the way LangGraph's ``BaseStore`` builds on
``batch``.

An adapter is opened for a *scope* (a namespace prefix). Callers pass and get
back namespaces relative to that scope; :meth:`BaseMemoryAdapter.scoped` narrows
it further. Nothing outside the scope can be read or written through it.

The record and query types live in :mod:`~mnemos.memory_adapters._records`, the
scope, backend hooks, privacy and retention in :mod:`~mnemos.memory_adapters._core`,
JSONL export and import in :mod:`~mnemos.memory_adapters._jsonl`; this module
re-exports the public names and is the place to import them from.
"""

from __future__ import annotations

import asyncio
import builtins
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from mnemos.exceptions import (
    InvalidRecordError,
    ScopeViolationError,
    UsageError,
)
from mnemos.memory_adapters._jsonl import JsonlTransfer
from mnemos.memory_adapters._namespace import Namespace, is_prefix
from mnemos.memory_adapters._records import (
    Capability,
    MemoryKind,
    MemoryRecord,
    NewMemory,
    Provenance,
    ScoredMemory,
    ScoreReason,
    SearchQuery,
    as_new_memory,
    utcnow,
)
from mnemos.memory_adapters._validate import (
    MAX_CONTENT_BYTES,
    MAX_ID_LENGTH,
    MAX_QUERY_CHARS,
    check_content,
    check_count,
    check_id,
    check_json_value,
    check_metadata,
    check_when,
)

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

_UNSET: Any = object()


class BaseMemoryAdapter(JsonlTransfer):
    """Base of every memory adapter.

    Subclasses implement the five abstract ``_``-methods over absolute
    namespaces and declare :attr:`capabilities`. They may override the
    optional ones (``_history``, ``_purge``, ``_namespaces``, ``_count``,
    ``_close``) where the backend does better than the generic versions here.
    """

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
        new = [i if isinstance(i, NewMemory) else as_new_memory(i) for i in items]
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
        hits = self._search(q)
        return list(hits) if not self._scope else [replace(hit, record=self._rel(hit.record)) for hit in hits]

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

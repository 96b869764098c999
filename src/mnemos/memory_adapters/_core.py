"""The adapter core: scoping, the backend hooks, privacy and retention.

:class:`AdapterCore` holds what every adapter has beneath its public read and write
API: the scope and clock, the abstract ``_``-methods a backend implements and the
optional ones with generic versions, the scope checks, the redactor and audit log,
erasure, retention and purging. :class:`~mnemos.memory_adapters.base.BaseMemoryAdapter`
builds the public API on it; adapters subclass that, not this.
"""

from __future__ import annotations

import abc
import builtins
import copy
import math
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self

from mnemos.exceptions import (
    CapabilityNotSupportedError,
    MemoryNotFoundError,
    ScopeViolationError,
    UsageError,
)
from mnemos.memory_adapters._filters import validate_filter
from mnemos.memory_adapters._namespace import Namespace, is_prefix, validate_namespace
from mnemos.memory_adapters._records import (
    Capability,
    MemoryKind,
    MemoryRecord,
    NewMemory,
    ScoredMemory,
    SearchQuery,
    utcnow,
)
from mnemos.memory_adapters._validate import check_content, check_id, check_metadata, check_when

if TYPE_CHECKING:
    from mnemos.memory_adapters.privacy import AuditLog
    from mnemos.memory_adapters.retention import RetentionPolicy

__all__ = ["AdapterCore"]


class AdapterCore(abc.ABC):
    """Scope, backend hooks, privacy and retention of a memory adapter (see the module)."""

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

    def change_stamp(self, kind: MemoryKind | str, namespace: Sequence[str] = ()) -> Hashable | None:
        """A value that two calls return equal only if no memory of ``kind`` at or under
        ``namespace`` (relative to this adapter's scope; ``()``: the whole scope) was added,
        changed, removed or reached its expiry in between, by this or any other process or
        handle; so a reader may keep what it read while the stamp stays the same. Memories
        outside that namespace never move it: another tenant's writes are not observable
        through it. None, the default, promises nothing (read again every time).

        Compare stamps of one adapter object only (they are not meaningful across adapters
        or processes). Inside an open write batch the native store returns None.
        """
        try:
            chosen = MemoryKind(kind)
        except ValueError:
            raise UsageError(f"unknown memory kind {kind!r}; use episodic, semantic or procedural") from None
        return self._change_stamp(chosen, self._abs(namespace))

    def _change_stamp(self, kind: MemoryKind, prefix: Namespace) -> Hashable | None:
        """The backend's :meth:`change_stamp` for the absolute namespace ``prefix``."""
        return None

    def require(self, capability: Capability | str) -> None:
        """Raise :class:`CapabilityNotSupportedError` unless the capability is declared."""
        if not self.supports(capability):
            raise CapabilityNotSupportedError(str(Capability(capability)), self.name)

    def scoped(self, *parts: str) -> Self:
        """A view of this adapter narrowed to ``scope + parts``; it shares the backend."""
        extra = validate_namespace(parts)
        view = copy.copy(self)
        view._scope = self._scope + extra
        view._is_view = True
        return view

    def _abs(self, namespace: Sequence[str], *, allow_empty: bool = True) -> Namespace:
        return self._scope + validate_namespace(namespace, allow_empty=allow_empty)

    def _rel(self, record: MemoryRecord) -> MemoryRecord:
        if not self._scope:  # already relative (records are frozen: the same one will do)
            return record
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

    def __enter__(self) -> Self:
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

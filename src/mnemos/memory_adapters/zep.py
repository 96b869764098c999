"""The Zep adapter: memory kept by a Zep server (v2 API) through ``zep-python``.

Mapping
    A namespace is one Zep *session*; its user is the value after ``users`` in
    the namespace (``("users", "alice", "notes")`` → user ``alice``), or
    ``default_user``. Session ids are readable and stable
    (``users.alice.notes-<hash>``), and the session's metadata keeps the exact
    namespace. Every memory is one session *message* (``role_type`` from the
    record's ``metadata["role"]`` when it is a Zep role, else ``user``; ``role``
    names the producing agent). The record's own fields ride in the message
    metadata under ``mnemos_*`` keys, so a record reads back exactly.

    Semantic memory is also what Zep derives itself: :meth:`ZepMemoryAdapter.facts`
    returns the *facts* Zep extracted from a namespace's messages, searched by
    Zep (``search_scope="facts"``).

What it can do
    Zep searches messages by meaning (``search_sessions``), so
    ``vector_search`` is declared; metadata and time filters and listings are
    applied on the client over Zep's message pages. Zep's v2 API cannot edit a
    message's text or delete one message, so ``update``, ``delete``, ``ttl``
    and ``history`` are not declared and raise
    :class:`~mnemos.exceptions.CapabilityNotSupportedError`. Supersession only
    changes message metadata, which Zep allows, so it is declared. A batch is
    stored with one request per namespace.

The server is given as ``zep://host:port`` (plain HTTP), ``zep+https://host``
or ``base_url=``; the key comes from ``api_key=`` or ``ZEP_API_KEY``.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlparse

from mnemos.exceptions import (
    CapabilityNotSupportedError,
    ConfigurationError,
    MissingExtraError,
    StorageError,
)
from mnemos.memory_adapters._namespace import Namespace, is_prefix
from mnemos.memory_adapters._url import query_params
from mnemos.memory_adapters.base import (
    BaseMemoryAdapter,
    Capability,
    MemoryKind,
    MemoryRecord,
    ScoredMemory,
    ScoreReason,
    SearchQuery,
    utcnow,
)

__all__ = ["ZepMemoryAdapter", "session_id_for"]

_SERVER_LOCKS: dict[str, threading.RLock] = {}
_SERVER_LOCKS_GUARD = threading.Lock()

_ROLE_TYPES = frozenset({"user", "assistant", "system", "function", "tool", "norole"})
_PAGE = 100
_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


def session_id_for(namespace: Sequence[str]) -> str:
    """The Zep session id of a namespace: readable, URL-safe, and unique."""
    slug = ".".join(_SLUG.sub("_", part) for part in namespace)[:80]
    digest = hashlib.sha256("/".join(namespace).encode()).hexdigest()[:12]
    return f"{slug}-{digest}"


def _import_zep() -> Any:
    # zep_python.client.Zep lets $ZEP_API_URL override an explicit base_url; its
    # base class takes the full URL as given, so an explicit server always wins.
    try:
        from zep_python.base_client import BaseClient
    except ImportError:
        raise MissingExtraError("zep", "zep-python", "The Zep memory adapter") from None
    return BaseClient


class ZepMemoryAdapter(BaseMemoryAdapter):
    """Memory in a Zep server: namespaces are sessions, memories are messages.

    Args:
        base_url: the server, e.g. ``http://localhost:8000`` (without ``/api/v2``).
        api_key: the project key (default ``$ZEP_API_KEY``).
        scope: namespace prefix this adapter is confined to.
        default_user: Zep user for namespaces that name no ``users/<id>``.
        timeout: seconds per request.
    """

    name: ClassVar[str] = "zep"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.VECTOR_SEARCH,
            Capability.METADATA_FILTER,
            Capability.TIME_FILTER,
            Capability.SUPERSEDE,
            Capability.EXPORT,
        }
    )

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        scope: Sequence[str] = (),
        default_user: str = "mnemos",
        timeout: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(scope=scope, clock=clock)
        base_url = base_url or os.environ.get("ZEP_API_URL")
        if not base_url:
            raise ConfigurationError("the Zep adapter needs a server: base_url= or ZEP_API_URL")
        key = api_key or os.environ.get("ZEP_API_KEY")
        if not key:
            raise ConfigurationError("the Zep adapter needs an API key: api_key= or ZEP_API_KEY")
        zep_class = _import_zep()
        self.base_url = base_url.rstrip("/")
        self.default_user = default_user
        self._client = zep_class(base_url=f"{self.base_url}/api/v2", api_key=key, timeout=timeout)
        with _SERVER_LOCKS_GUARD:  # every adapter on one server in this process shares it
            self._lock = _SERVER_LOCKS.setdefault(self.base_url, threading.RLock())
        self._known_sessions: dict[str, Namespace] = {}
        self._known_users: set[str] = set()
        self._uuids: dict[str, str] = {}  # record id -> Zep message uuid

    @classmethod
    def from_url(
        cls, url: str, *, scope: Sequence[str] = (), embedder: object = None
    ) -> ZepMemoryAdapter:
        """Open ``zep://host:port`` (HTTP) or ``zep+https://host[:port]``; ``?user=`` sets
        the default user. The embedder is Zep's own: ``embedder`` is ignored."""
        parsed = urlparse(url)
        schemes = {"zep": "http", "zep+http": "http", "zep+https": "https"}
        if parsed.scheme not in schemes:
            raise ConfigurationError(f"not a Zep URL: {url!r}")
        if not parsed.netloc:
            raise ConfigurationError(f"a Zep URL names its server: zep://host:port, not {url!r}")
        params = query_params(url)
        unknown = set(params) - {"user"}
        if unknown:
            raise ConfigurationError(
                f"unknown Zep URL parameter(s) {sorted(unknown)}; the key goes in ZEP_API_KEY"
            )
        base = f"{schemes[parsed.scheme]}://{parsed.netloc}{parsed.path.rstrip('/')}"
        return cls(base, scope=scope, default_user=params.get("user", "mnemos"))

    @property
    def client(self) -> Any:
        """The zep-python client (``memory`` and ``user`` sub-clients)."""
        return self._client

    # -- Zep calls ----------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from zep_python.core.api_error import ApiError

        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            if exc.status_code == 404:
                raise
            raise StorageError(f"Zep refused to {what}: HTTP {exc.status_code} {exc.body}") from None
        except OSError as exc:  # httpx transport errors derive from it
            raise StorageError(f"cannot reach the Zep server at {self.base_url}: {exc}") from None
        except Exception as exc:
            if type(exc).__module__.startswith("httpx"):
                raise StorageError(f"cannot reach the Zep server at {self.base_url}: {exc}") from None
            raise

    def _user_for(self, namespace: Namespace) -> str:
        for key, value in itertools.pairwise(namespace):
            if key == "users":
                return value
        return self.default_user

    def _ensure_session(self, namespace: Namespace) -> str:
        from zep_python.core.api_error import ApiError

        session_id = session_id_for(namespace)
        if session_id in self._known_sessions:
            return session_id
        user_id = self._user_for(namespace)
        if user_id not in self._known_users:
            try:
                self._call("read a user", self._client.user.get, user_id)
            except ApiError:
                self._call("create a user", self._client.user.add, user_id=user_id,
                           metadata={"created_by": "mnemos"})
            self._known_users.add(user_id)
        try:
            self._call("read a session", self._client.memory.get_session, session_id)
        except ApiError:
            self._call(
                "create a session",
                self._client.memory.add_session,
                session_id=session_id,
                user_id=user_id,
                metadata={"mnemos_namespace": list(namespace)},
            )
        self._known_sessions[session_id] = namespace
        return session_id

    def _sessions(self, prefix: Namespace) -> dict[str, Namespace]:
        """Every mnemos session under ``prefix``: session id -> namespace."""
        found: dict[str, Namespace] = {}
        page = 1
        while True:
            listing = self._call("list sessions", self._client.memory.list_sessions,
                                 page_number=page, page_size=_PAGE)
            sessions = listing.sessions or []
            for session in sessions:
                ns = (session.metadata or {}).get("mnemos_namespace")
                if isinstance(ns, list) and session.session_id:
                    namespace = tuple(str(p) for p in ns)
                    self._known_sessions[session.session_id] = namespace
                    if is_prefix(prefix, namespace):
                        found[session.session_id] = namespace
            if len(sessions) < _PAGE:
                return found
            page += 1

    def _messages(self, session_id: str) -> Iterator[Any]:
        cursor = 1
        while True:
            page = self._call("list messages", self._client.memory.get_session_messages,
                              session_id, limit=_PAGE, cursor=cursor)
            messages = page.messages or []
            yield from messages
            if len(messages) < _PAGE:
                return
            cursor += 1

    # -- records <-> messages -----------------------------------------------------------

    def _message_for(self, record: MemoryRecord) -> Any:
        from zep_python.types import Message

        role = record.metadata.get("role")
        role_type = role if role in _ROLE_TYPES else "user"
        return Message(
            role=record.provenance.agent or role_type,
            role_type=role_type,
            content=record.content,
            metadata=_payload(record),
        )

    def _record(self, session_id: str, message: Any) -> MemoryRecord | None:
        meta = message.metadata or {}
        local = meta.get("mnemos_id")
        if not local:
            return None  # a message mnemos did not write
        record_id = f"{session_id}:{local}"
        if message.uuid_:
            self._uuids[record_id] = message.uuid_
        return MemoryRecord.from_dict(
            {
                "id": record_id,
                "namespace": meta["mnemos_namespace"],
                "kind": meta.get("mnemos_kind", MemoryKind.EPISODIC.value),
                "content": message.content or "",
                "metadata": meta.get("mnemos_metadata") or {},
                "created_at": meta["mnemos_created_at"],
                "updated_at": meta.get("mnemos_updated_at") or meta["mnemos_created_at"],
                "importance": meta.get("mnemos_importance", 0.5),
                "provenance": meta.get("mnemos_provenance"),
                "valid_from": meta.get("mnemos_valid_from"),
                "valid_to": meta.get("mnemos_valid_to"),
                "superseded_by": meta.get("mnemos_superseded_by"),
                "version": meta.get("mnemos_version", 1),
            }
        )

    def _find(self, record_id: str) -> tuple[str, Any] | None:
        from zep_python.core.api_error import ApiError

        session_id, _, local = record_id.rpartition(":")
        if not session_id or not local:
            return None
        uuid = self._uuids.get(record_id)
        try:
            if uuid is not None:
                return session_id, self._call("read a message", self._client.memory.get_session_message,
                                              session_id, uuid)
            for message in self._messages(session_id):
                if (message.metadata or {}).get("mnemos_id") == local:
                    return session_id, message
        except ApiError:  # 404: no such session or message
            return None
        return None

    # -- the contract ---------------------------------------------------------------------

    def _exclusive(self) -> AbstractContextManager[object]:
        # Zep has no transactions: adapters in this process take turns (one successor per
        # superseded fact), but two processes can both supersede the same fact.
        return self._lock

    def _add(self, records: Sequence[MemoryRecord], *, dedup: bool) -> list[MemoryRecord]:
        stored: list[tuple[int, MemoryRecord]] = []
        with self._lock:
            by_session: dict[str, list[tuple[int, MemoryRecord]]] = {}
            for i, record in enumerate(records):
                by_session.setdefault(self._ensure_session(record.namespace), []).append((i, record))
            for session_id, batch in by_session.items():
                self._call("store messages", self._client.memory.add, session_id,
                           messages=[self._message_for(r) for _, r in batch])
                stored += [(i, replace(r, id=f"{session_id}:{r.id}")) for i, r in batch]
        stored.sort(key=lambda pair: pair[0])
        return [record for _, record in stored]

    def _get(self, ids: Sequence[str]) -> list[MemoryRecord | None]:
        out: list[MemoryRecord | None] = []
        for record_id in ids:
            found = self._find(record_id)
            out.append(self._record(*found) if found else None)
        return out

    def _update(self, record: MemoryRecord) -> MemoryRecord:
        found = self._find(record.id)
        if found is None:
            raise StorageError(f"memory {record.id!r} vanished from Zep during an update")
        session_id, message = found
        if message.content != record.content:
            raise CapabilityNotSupportedError(str(Capability.UPDATE), self.name)
        payload = _payload(record)
        self._call("update message metadata", self._client.memory.update_message_metadata,
                   session_id, message.uuid_, metadata=payload)
        return record

    def _delete(self, ids: Sequence[str]) -> int:
        raise CapabilityNotSupportedError(str(Capability.DELETE), self.name)

    def _search(self, query: SearchQuery) -> list[ScoredMemory]:
        sessions = self._sessions(query.namespace_prefix)
        if not sessions:
            return []
        if query.text is None:
            records = [
                r
                for session_id in sessions
                for r in (self._record(session_id, m) for m in self._messages(session_id))
                if r is not None and query.accepts(r)
            ]
            records.sort(key=lambda r: (r.created_at, r.id), reverse=True)
            end = None if query.limit is None else query.offset + query.limit
            return [ScoredMemory(record=r, score=0.0) for r in records[query.offset : end]]
        wanted = query.offset + (query.limit if query.limit is not None else 10_000)
        fetch = max(wanted, 10)
        users = {self._user_for(ns) for ns in sessions.values()}
        while True:
            response = self._call(
                "search",
                self._client.memory.search_sessions,
                text=query.text,
                session_ids=sorted(sessions),
                user_id=next(iter(users)) if len(users) == 1 else None,
                search_scope="messages",
                search_type="similarity",
                limit=fetch,
            )
            results = response.results or []
            hits = []
            for result in results:
                if result.message is None or result.session_id not in sessions:
                    continue
                record = self._record(result.session_id, result.message)
                if record is not None and query.accepts(record):
                    score = float(result.score or 0.0)
                    reason = ScoreReason(signal="vector", value=score, contribution=score,
                                         detail="Zep message search")
                    hits.append(ScoredMemory(record=record, score=score, reasons=(reason,)))
            if len(hits) >= wanted or len(results) < fetch:
                return hits[query.offset : wanted]
            fetch *= 4

    # -- Zep's own facts ------------------------------------------------------------------

    def facts(self, query: str | None = None, *, namespace: Sequence[str] = (),
              limit: int = 10) -> list[ScoredMemory]:
        """The facts Zep derived from the messages under ``namespace``, read-only.

        With ``query``, Zep ranks them (``search_scope="facts"``); without, every
        session's facts are listed. Each comes back as a semantic record whose
        id is ``fact:<uuid>`` and whose metadata says ``{"zep": "fact"}``.
        """
        sessions = self._sessions(self._abs(namespace))
        if not sessions:
            return []
        hits: list[ScoredMemory] = []
        if query:
            response = self._call("search facts", self._client.memory.search_sessions, text=query,
                                  session_ids=sorted(sessions), search_scope="facts", limit=limit)
            for result in response.results or []:
                if result.fact is not None and result.session_id in sessions:
                    hits.append(self._fact(sessions[result.session_id], result.fact, result.score))
        else:
            for session_id, ns in sessions.items():
                memory = self._call("read memory", self._client.memory.get, session_id)
                hits += [self._fact(ns, fact, None) for fact in memory.relevant_facts or []]
        return [ScoredMemory(record=self._rel(h.record), score=h.score, reasons=h.reasons)
                for h in hits[:limit]]

    def _fact(self, namespace: Namespace, fact: Any, score: float | None) -> ScoredMemory:
        created = fact.created_at or self.now().isoformat()
        record = MemoryRecord.from_dict(
            {
                "id": f"fact:{fact.uuid_}",
                "namespace": list(namespace),
                "kind": MemoryKind.SEMANTIC.value,
                "content": fact.fact or "",
                "metadata": {"zep": "fact", "rating": fact.rating},
                "created_at": created,
                "updated_at": created,
                "valid_from": created,
            }
        )
        value = float(score or 0.0)
        reasons = (ScoreReason(signal="vector", value=value, contribution=value, detail="Zep fact search"),)
        return ScoredMemory(record=record, score=value, reasons=reasons if score is not None else ())


def _payload(record: MemoryRecord) -> dict[str, Any]:
    data = record.to_dict()
    payload: dict[str, Any] = {
        "mnemos_id": record.id.rpartition(":")[2],
        "mnemos_namespace": data["namespace"],
        "mnemos_kind": data["kind"],
        "mnemos_metadata": data["metadata"],
        "mnemos_created_at": data["created_at"],
        "mnemos_updated_at": data["updated_at"],
        "mnemos_importance": data["importance"],
        "mnemos_provenance": data["provenance"],
        "mnemos_valid_from": data["valid_from"],
        "mnemos_valid_to": data["valid_to"],
        "mnemos_superseded_by": data["superseded_by"],
        "mnemos_version": data["version"],
    }
    return payload
